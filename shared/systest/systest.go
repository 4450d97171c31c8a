// Package systest is the one rig of stockwire's tests. For the whole
// system it builds every command once per source tree (Binaries, with the
// race detector) and runs the parts as real processes on loopback: the hub
// (StartHub) on a database of shared/pgtest, agents (StartAgent), woosim
// stores (StartWoosim), or any command (Start); each process's output is
// logged when its test fails and checked for race reports when it ends.
// For every package's tests it holds the captured WooCommerce fixtures,
// waiting on a condition, a free loopback address, a buffer a process
// writes while the test reads it, and a data dir PostgreSQL can reach.
//
// It imports neither the hub nor the agent (it runs their binaries) nor
// shared/woosim, so that every package's tests, woosim's included, can use
// it.
package systest

import (
	"bytes"
	"embed"
	"encoding/json"
	"os"
	"path"
	"sync"
	"testing"
	"time"

	"github.com/stockwire/stockwire/shared/launch"
)

// fixtures are answers and webhook deliveries captured from a real
// WooCommerce 11.0.1 store (see shared/reference/samples), held once for
// every package's tests.
//
//go:embed testdata
var fixtures embed.FS

// Fixture returns the fixture file name (as in testdata/), failing tb when
// it does not exist.
func Fixture(tb testing.TB, name string) []byte {
	tb.Helper()
	b, err := fixtures.ReadFile(path.Join("testdata", name))
	if err != nil {
		tb.Fatalf("systest: fixture %s: %v", name, err)
	}
	return b
}

// WaitFor polls cond every 20 ms until it returns nil, failing tb with the
// last error when timeout passes or the test's context ends.
func WaitFor(tb testing.TB, timeout time.Duration, what string, cond func() error) {
	tb.Helper()
	if err := launch.PollEvery(tb.Context(), timeout, 20*time.Millisecond, what, cond); err != nil {
		tb.Fatal(err)
	}
}

// FreeAddr returns a free 127.0.0.1 address never handed out before in
// this process (launch.FreeAddr), failing tb when there is none.
func FreeAddr(tb testing.TB) string {
	tb.Helper()
	addr, err := launch.FreeAddr()
	if err != nil {
		tb.Fatal(err)
	}
	return addr
}

// SyncBuffer collects output written by one goroutine (a child process, a
// logger) while the test reads it from another.
type SyncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *SyncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns everything written so far.
func (b *SyncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Sample is one captured WooCommerce answer: its status, headers and body.
type Sample struct {
	Status  int               `json:"status"`
	Headers map[string]string `json:"headers"`
	Body    json.RawMessage   `json:"body"`
}

// LoadSample decodes the captured answer in fixture name.
func LoadSample(tb testing.TB, name string) Sample {
	tb.Helper()
	var s Sample
	if err := json.Unmarshal(Fixture(tb, name), &s); err != nil {
		tb.Fatalf("systest: fixture %s: %v", name, err)
	}
	return s
}

// PostgresDir returns a fresh directory for a PostgreSQL data dir, removed
// when tb ends. Run as root, PostgreSQL runs as the postgres user, which
// must be able to walk down to its data: the directory lies directly under
// /tmp and others may enter it (t.TempDir's parent is private).
func PostgresDir(tb testing.TB) string {
	tb.Helper()
	dir, err := os.MkdirTemp("/tmp", "swpgdata")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := os.RemoveAll(dir); err != nil {
			tb.Errorf("systest: remove %s: %v", dir, err)
		}
	})
	if err := os.Chmod(dir, 0o755); err != nil {
		tb.Fatal(err)
	}
	return dir
}
