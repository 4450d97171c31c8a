package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/stockwire/stockwire/shared/hubapi"
	"github.com/stockwire/stockwire/shared/launch"
)

// adminToken is the admin API token of every hub the benchmark starts.
const adminToken = "linkbench-admin-token-0123456789"

// hubProc is one running hub process and a client of its admin API.
type hubProc struct {
	proc *launch.Proc
	base string // http://127.0.0.1:port
	http *http.Client
}

// startHub starts `hub serve` on a fresh database of the cluster and waits
// until it is ready.
func (b *bench) startHub(ctx context.Context, name string) (*hubProc, error) {
	b.hubs++
	dbname := fmt.Sprintf("linkbench_%d_%s", b.hubs, name)
	if err := b.env.Cluster.CreateDatabase(ctx, dbname); err != nil {
		return nil, err
	}
	addr, err := launch.FreeAddr()
	if err != nil {
		return nil, err
	}
	p, err := launch.Start("hub-"+name, b.binary("hub"), []string{"serve",
		"--listen", addr, "--database-url", b.env.Cluster.DSN(dbname), "--admin-token", adminToken,
		"--data-dir", b.path("hub-" + name), "--log-format", "text"}, nil,
		b.path("logs", "hub-"+name+".log"), nil)
	if err != nil {
		return nil, err
	}
	h := &hubProc{proc: p, base: "http://" + addr, http: &http.Client{
		Timeout:   30 * time.Second,
		Transport: &http.Transport{MaxIdleConnsPerHost: 64},
	}}
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := p.WaitHTTP(wctx, h.base+"/readyz"); err != nil {
		h.stop()
		return nil, err
	}
	return h, nil
}

func (h *hubProc) stop() {
	h.proc.Stop(15 * time.Second)
	h.http.CloseIdleConnections()
}

func (h *hubProc) pid() int { return h.proc.Cmd.Process.Pid }

// api calls the admin API and decodes a JSON answer into out (when not nil).
func (h *hubProc) api(ctx context.Context, method, path string, body, out any) error {
	c := hubapi.Client{BaseURL: h.base, AdminToken: adminToken, HTTP: h.http}
	return c.DoJSON(ctx, method, path, body, out)
}

// setOnHand sets the count of sku at the benchmark's one location.
func (h *hubProc) setOnHand(ctx context.Context, sku string, n int64) error {
	return h.api(ctx, http.MethodPut, "/api/v1/skus/"+url.PathEscape(sku)+"/locations/main",
		map[string]any{"on_hand": n, "reason": "linkbench"}, nil)
}

// createStore adds a mirror store and returns its id and agent credential.
func (h *hubProc) createStore(ctx context.Context, name, storeURL string) (int64, string, error) {
	var out struct {
		ID    int64  `json:"id"`
		Token string `json:"token"`
	}
	err := h.api(ctx, http.MethodPost, "/api/v1/stores",
		map[string]any{"name": name, "url": storeURL, "policy": "mirror", "buffer": 0}, &out)
	return out.ID, out.Token, err
}

// skuStock is the hub's figure for one SKU (GET /api/v1/skus).
type skuStock struct {
	SKU       string           `json:"sku"`
	OnHand    int64            `json:"on_hand"`
	Committed int64            `json:"committed"`
	Available int64            `json:"available"`
	Targets   map[string]int64 `json:"targets"` // by store id
}

// target is what the hub wants store id to show.
func (s skuStock) target(storeID int64) (int64, bool) {
	t, ok := s.Targets[strconv.FormatInt(storeID, 10)]
	return t, ok
}

// stock lists every SKU's figures, page by page.
func (h *hubProc) stock(ctx context.Context) ([]skuStock, error) {
	var all []skuStock
	after := ""
	for {
		var page struct {
			SKUs []skuStock `json:"skus"`
			Next string     `json:"next"`
		}
		if err := h.api(ctx, http.MethodGet, "/api/v1/skus?limit=1000&after="+url.QueryEscape(after), nil, &page); err != nil {
			return nil, err
		}
		all = append(all, page.SKUs...)
		if page.Next == "" {
			return all, nil
		}
		after = page.Next
	}
}

// agentStates returns whether each store's agent is connected, by store id.
func (h *hubProc) agentStates(ctx context.Context) (map[int64]bool, error) {
	var out struct {
		Stores []struct {
			ID    int64 `json:"id"`
			Agent struct {
				Connected bool `json:"connected"`
			} `json:"agent"`
		} `json:"stores"`
	}
	if err := h.api(ctx, http.MethodGet, "/api/v1/stores", nil, &out); err != nil {
		return nil, err
	}
	connected := make(map[int64]bool, len(out.Stores))
	for _, s := range out.Stores {
		connected[s.ID] = s.Agent.Connected
	}
	return connected, nil
}

// metrics scrapes the hub's /metrics and returns every sample by its full
// name with labels, e.g. `stockwire_hub_db_query_duration_seconds_sum{op="events_after"}`.
func (h *hubProc) metrics(ctx context.Context) (map[string]float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, h.base+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	resp, err := h.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("scrape hub metrics: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("scrape hub metrics: %s", resp.Status)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		if v, err := strconv.ParseFloat(line[i+1:], 64); err == nil {
			out[line[:i]] = v
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("scrape hub metrics: %w", err)
	}
	return out, nil
}

// memory is a process's resident set: now and at its peak.
type memory struct {
	RSS, HWM int64 // bytes
}

// readMemory reads VmRSS and VmHWM from /proc/<pid>/status.
func readMemory(pid int) (memory, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return memory{}, fmt.Errorf("read memory of process %d: %w", pid, err)
	}
	var m memory
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

// readCPU returns the CPU time (user + system) process pid has used.
func readCPU(pid int) (time.Duration, error) {
	st, err := readStat(pid)
	if err != nil {
		return 0, err
	}
	return st.cpu, nil
}

// procStat is what the benchmark reads from /proc/<pid>/stat.
type procStat struct {
	ppid int
	// cpu is the process's own user + system time; children that of its
	// children it has waited for.
	cpu, children time.Duration
}

func readStat(pid int) (procStat, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return procStat{}, fmt.Errorf("read stat of process %d: %w", pid, err)
	}
	// The command name (field 2) may hold spaces; the fields after it are
	// plain: ppid is field 4, utime, stime, cutime and cstime 14 to 17.
	fields := strings.Fields(string(data[bytes.LastIndexByte(data, ')')+1:]))
	if len(fields) < 15 {
		return procStat{}, fmt.Errorf("read stat of process %d: short line", pid)
	}
	var n [5]int64
	for i, f := range []int{1, 11, 12, 13, 14} {
		if n[i], err = strconv.ParseInt(fields[f], 10, 64); err != nil {
			return procStat{}, fmt.Errorf("read stat of process %d: %w", pid, err)
		}
	}
	tick := func(t int64) time.Duration { return time.Duration(t) * time.Second / clockTicks }
	return procStat{ppid: int(n[0]), cpu: tick(n[1] + n[2]), children: tick(n[3] + n[4])}, nil
}

// readTreeCPU returns the CPU time used by process pid, its live children
// and the children it has reaped: PostgreSQL's postmaster and backends.
func readTreeCPU(pid int) (time.Duration, error) {
	root, err := readStat(pid)
	if err != nil {
		return 0, err
	}
	total := root.cpu + root.children
	for _, child := range childPIDs(pid) {
		if st, err := readStat(child); err == nil {
			total += st.cpu
		}
	}
	return total, nil
}

// machineTicks are the machine's cumulative CPU times from /proc/stat:
// busy (neither idle nor waiting for I/O) and in total, all cores.
type machineTicks struct {
	busy, total int64
}

func readMachineCPU() (machineTicks, error) {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return machineTicks{}, err
	}
	line, _, _ := strings.Cut(string(data), "\n")
	fields := strings.Fields(line) // cpu user nice system idle iowait irq softirq steal ...
	if len(fields) < 9 || fields[0] != "cpu" {
		return machineTicks{}, errors.New("read /proc/stat: unexpected first line")
	}
	var t machineTicks
	for i, f := range fields[1:9] {
		n, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			return machineTicks{}, fmt.Errorf("read /proc/stat: %w", err)
		}
		t.total += n
		if i != 3 && i != 4 { // idle, iowait
			t.busy += n
		}
	}
	return t, nil
}

// loadAverage returns the 1-minute load average as /proc/loadavg shows it.
func loadAverage() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	first, _, _ := strings.Cut(string(data), " ")
	return first
}
