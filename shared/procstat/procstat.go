// Package procstat reads what the figure commands report about the
// processes they start, from Linux's /proc: resident memory (now and at
// its peak) and CPU time, of one process, of a process and its children
// (PostgreSQL's postmaster and backends), and of the whole machine.
package procstat

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Memory is a process's resident set: now and at its peak.
type Memory struct {
	RSS, HWM int64 // bytes
}

// ReadMemory reads VmRSS and VmHWM from /proc/<pid>/status.
func ReadMemory(pid int) (Memory, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return Memory{}, fmt.Errorf("read memory of process %d: %w", pid, err)
	}
	var m Memory
	for line := range strings.SplitSeq(string(data), "\n") {
		name, value, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(value), " kB"), 10, 64)
		if err != nil {
			continue
		}
		switch name {
		case "VmRSS":
			m.RSS = kb << 10
		case "VmHWM":
			m.HWM = kb << 10
		}
	}
	return m, nil
}

// clockTicks is USER_HZ, the unit of /proc/<pid>/stat times; 100 on every
// Linux architecture Go supports.
const clockTicks = 100

// ReadCPU returns the CPU time (user + system) process pid has used.
func ReadCPU(pid int) (time.Duration, error) {
	st, err := readStat(pid)
	if err != nil {
		return 0, err
	}
	return st.cpu, nil
}

// ReadSwitches returns the context switches (voluntary and not) of every
// live thread of process pid: how often it went to sleep and woke, or was
// preempted. A Go process wakes a thread for each network event, timer or
// goroutine handed to an idle P, so this counts its wake-ups. Threads that
// have exited are not counted (the Go runtime keeps its threads).
func ReadSwitches(pid int) (int64, error) {
	dir := fmt.Sprintf("/proc/%d/task", pid)
	tasks, err := os.ReadDir(dir)
	if err != nil {
		return 0, fmt.Errorf("read threads of process %d: %w", pid, err)
	}
	var total int64
	for _, t := range tasks {
		data, err := os.ReadFile(filepath.Join(dir, t.Name(), "status"))
		if err != nil {
			continue // the thread has just exited
		}
		for line := range strings.SplitSeq(string(data), "\n") {
			name, value, ok := strings.Cut(line, ":")
			if !ok || name != "voluntary_ctxt_switches" && name != "nonvoluntary_ctxt_switches" {
				continue
			}
			n, err := strconv.ParseInt(strings.TrimSpace(value), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("read context switches of process %d: %w", pid, err)
			}
			total += n
		}
	}
	return total, nil
}

// ReadTreeCPU returns the CPU time used by process pid, its live children
// and the children it has reaped: PostgreSQL's postmaster and backends.
func ReadTreeCPU(pid int) (time.Duration, error) {
	root, err := readStat(pid)
	if err != nil {
		return 0, err
	}
	total := root.cpu + root.children
	for _, child := range ChildPIDs(pid) {
		if st, err := readStat(child); err == nil {
			total += st.cpu
		}
	}
	return total, nil
}

// ChildPIDs lists the live children of process pid.
func ChildPIDs(pid int) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var out []int
	for _, e := range entries {
		child, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if st, err := readStat(child); err == nil && st.ppid == pid {
			out = append(out, child)
		}
	}
	return out
}

// PostmasterPID reads the process id of the PostgreSQL server whose data
// directory is dir.
func PostmasterPID(dir string) (int, error) {
	data, err := os.ReadFile(filepath.Join(dir, "postmaster.pid"))
	if err != nil {
		return 0, fmt.Errorf("read postmaster.pid: %w", err)
	}
	line, _, _ := strings.Cut(string(data), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil {
		return 0, fmt.Errorf("read postmaster.pid: %w", err)
	}
	return pid, nil
}

// stat is what the package reads from /proc/<pid>/stat.
type stat struct {
	ppid int
	// cpu is the process's own user + system time; children that of its
	// children it has waited for.
	cpu, children time.Duration
}

func readStat(pid int) (stat, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return stat{}, fmt.Errorf("read stat of process %d: %w", pid, err)
	}
	// The command name (field 2) may hold spaces; the fields after it are
	// plain: ppid is field 4, utime, stime, cutime and cstime 14 to 17.
	fields := strings.Fields(string(data[bytes.LastIndexByte(data, ')')+1:]))
	if len(fields) < 15 {
		return stat{}, fmt.Errorf("read stat of process %d: short line", pid)
	}
	var n [5]int64
	for i, f := range []int{1, 11, 12, 13, 14} {
		if n[i], err = strconv.ParseInt(fields[f], 10, 64); err != nil {
			return stat{}, fmt.Errorf("read stat of process %d: %w", pid, err)
		}
	}
	tick := func(t int64) time.Duration { return time.Duration(t) * time.Second / clockTicks }
	return stat{ppid: int(n[0]), cpu: tick(n[1] + n[2]), children: tick(n[3] + n[4])}, nil
}

// MachineTicks are the machine's cumulative CPU times from /proc/stat:
// busy (neither idle nor waiting for I/O) and in total, all cores.
type MachineTicks struct {
	Busy, Total int64
}

// ReadMachineCPU reads the machine's cumulative CPU times.
func ReadMachineCPU() (MachineTicks, error) {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return MachineTicks{}, err
	}
	line, _, _ := strings.Cut(string(data), "\n")
	fields := strings.Fields(line) // cpu user nice system idle iowait irq softirq steal ...
	if len(fields) < 9 || fields[0] != "cpu" {
		return MachineTicks{}, errors.New("read /proc/stat: unexpected first line")
	}
	var t MachineTicks
	for i, f := range fields[1:9] {
		n, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			return MachineTicks{}, fmt.Errorf("read /proc/stat: %w", err)
		}
		t.Total += n
		if i != 3 && i != 4 { // idle, iowait
			t.Busy += n
		}
	}
	return t, nil
}

// Busy is the share of the machine's CPU time that was busy from t0 to t1.
func Busy(t0, t1 MachineTicks) float64 {
	if total := t1.Total - t0.Total; total > 0 {
		return float64(t1.Busy-t0.Busy) / float64(total)
	}
	return 0
}
