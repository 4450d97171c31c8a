package procstat

import (
	"os"
	"os/exec"
	"slices"
	"testing"
	"time"
)

func TestReadMemory_ThisProcess(t *testing.T) {
	m, err := ReadMemory(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if m.RSS <= 0 || m.HWM < m.RSS {
		t.Fatalf("memory = %+v, want 0 < RSS <= HWM", m)
	}
}

func TestReadCPU_GrowsWithWork(t *testing.T) {
	before, err := ReadCPU(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	// Spin until the kernel has accounted at least two ticks more.
	deadline := time.Now().Add(10 * time.Second)
	for x := 0; time.Now().Before(deadline); x++ {
		if x%1_000_000 == 0 {
			if now, _ := ReadCPU(os.Getpid()); now >= before+20*time.Millisecond {
				return
			}
		}
	}
	t.Fatal("CPU time did not grow while spinning for 10s")
}

func TestReadSwitches_GrowWithSleeps(t *testing.T) {
	before, err := ReadSwitches(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	// Each blocking wait for a child puts a thread to sleep at least once.
	for range 5 {
		if err := exec.Command("true").Run(); err != nil {
			t.Fatal(err)
		}
	}
	after, err := ReadSwitches(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if after < before+5 {
		t.Fatalf("context switches %d → %d over 5 child waits, want at least 5 more", before, after)
	}
	if _, err := ReadSwitches(1 << 30); err == nil {
		t.Fatal("no such process: want an error")
	}
}

func TestChildPIDs_FindsAStartedChild(t *testing.T) {
	cmd := exec.Command("sleep", "30")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	if kids := ChildPIDs(os.Getpid()); !slices.Contains(kids, cmd.Process.Pid) {
		t.Fatalf("children %v do not include %d", kids, cmd.Process.Pid)
	}
	if _, err := ReadTreeCPU(os.Getpid()); err != nil {
		t.Fatal(err)
	}
}

func TestPostmasterPID(t *testing.T) {
	dir := t.TempDir()
	if _, err := PostmasterPID(dir); err == nil {
		t.Fatal("no postmaster.pid: want an error")
	}
	if err := os.WriteFile(dir+"/postmaster.pid", []byte("4242\n/data\n1700000000\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if pid, err := PostmasterPID(dir); err != nil || pid != 4242 {
		t.Fatalf("PostmasterPID = %d, %v; want 4242", pid, err)
	}
}

func TestReadMachineCPU(t *testing.T) {
	t0, err := ReadMachineCPU()
	if err != nil {
		t.Fatal(err)
	}
	if t0.Total <= 0 || t0.Busy > t0.Total {
		t.Fatalf("machine ticks = %+v", t0)
	}
	if b := Busy(t0, t0); b != 0 {
		t.Fatalf("Busy over no time = %v, want 0", b)
	}
}
