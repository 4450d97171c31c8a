package main_test

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stockwire/stockwire/shared/systest"
)

// The demo is the README's first command: it must bring every part up, say
// where the console and the status page are, show every store's link up, show every store in
// sync once the traffic stops, and leave nothing running after Ctrl-C.
func TestDemo_RunsAndStopsCleanly(t *testing.T) {
	bin := systest.Binaries(t)
	data := systest.PostgresDir(t)
	hubAddr := systest.FreeAddr(t)
	var out systest.SyncBuffer
	cmd := exec.Command(filepath.Join(bin, "stockwire-demo"), "--data-dir", data,
		"--hub-listen", hubAddr, "--stores", "3", "--skus", "4", "--traffic-for", "15s")
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		if t.Failed() {
			_ = cmd.Process.Kill()
			t.Logf("demo output:\n%s", out.String())
		}
	}()

	// Each summary block lists every store (3 mirror, 1 allocate); wait for one where all four
	// links are up and at least one store has sold something.
	systest.WaitFor(t, 2*time.Minute, "a summary with every link up and sales flowing", func() error {
		select {
		case err := <-exited:
			t.Fatalf("demo exited early: %v", err)
		default:
		}
		if !summaryHealthy(out.String(), 4) {
			return errors.New("no such summary yet")
		}
		return nil
	})

	for _, line := range []string{"console      http://" + hubAddr + "/ ", "status page  http://" + hubAddr + "/status"} {
		if !strings.Contains(out.String(), line) {
			t.Fatalf("no line %q in the banner", line)
		}
	}

	// Once the traffic stops, nothing is in flight for long: every store
	// must read in sync, every SKU.
	systest.WaitFor(t, 90*time.Second, "a summary after the traffic with every store in sync", func() error {
		select {
		case err := <-exited:
			t.Fatalf("demo exited early: %v", err)
		default:
		}
		_, after, stopped := strings.Cut(out.String(), "traffic stopped")
		if !stopped {
			return errors.New("traffic still running")
		}
		return summaryInSync(after, 4)
	})

	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("demo exit after Ctrl-C: %v", err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("demo still running 60s after Ctrl-C")
	}
	if left := processesUnder(data); len(left) > 0 {
		t.Fatalf("processes left running after Ctrl-C: %v", left)
	}
}

// summaryHealthy reports whether the last complete summary block shows n
// stores with their link up and some sales.
func summaryHealthy(out string, n int) bool {
	blocks := strings.Split(out, "\n\n")
	for i := len(blocks) - 1; i >= 0; i-- {
		lines := strings.Split(strings.TrimSpace(blocks[i]), "\n")
		var stores []string
		for _, l := range lines {
			if strings.Contains(l, " link ") {
				stores = append(stores, l)
			}
		}
		if len(stores) != n {
			continue
		}
		sold := false
		for _, l := range stores {
			if !strings.Contains(l, "link up") {
				return false
			}
			if !strings.Contains(l, "sold 0 ") {
				sold = true
			}
		}
		return sold
	}
	return false
}

// inSyncAll matches a store line's verdict with every SKU in sync and
// nothing settling or off.
var inSyncAll = regexp.MustCompile(`in sync (\d+)/(\d+) SKUs$`)

// summaryInSync reports why the last complete summary block in out does not
// show n stores with every SKU in sync, or nil when it does.
func summaryInSync(out string, n int) error {
	blocks := strings.Split(out, "\n\n")
	for i := len(blocks) - 1; i >= 0; i-- {
		var stores []string
		for _, l := range strings.Split(strings.TrimSpace(blocks[i]), "\n") {
			if strings.Contains(l, " link ") {
				stores = append(stores, l)
			}
		}
		if len(stores) != n {
			continue
		}
		for _, l := range stores {
			m := inSyncAll.FindStringSubmatch(l)
			if m == nil || m[1] != m[2] {
				return fmt.Errorf("store not in sync: %s", l)
			}
		}
		return nil
	}
	return errors.New("no complete summary yet")
}

// processesUnder lists the command lines of processes that mention dir
// (the hub, its PostgreSQL and the agents all take paths under it).
func processesUnder(dir string) []string {
	entries, _ := os.ReadDir("/proc")
	var found []string
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		cmdline := strings.ReplaceAll(string(b), "\x00", " ")
		if strings.Contains(cmdline, dir) {
			found = append(found, e.Name()+": "+cmdline)
		}
	}
	return found
}
