// Package pgtest gives tests a real, throwaway PostgreSQL: one cluster per
// test binary (fsync off, socket only) with a template database prepared
// once (the hub's tests migrate it: hub/postgres/postgrestest), and a fresh
// database per test cloned from it. It is used only from _test.go files. A
// missing PostgreSQL fails the tests; it never skips.
//
// Use it from TestMain:
//
//	func TestMain(m *testing.M) { pgtest.Main(m, prepare) }
//
// then pgtest.NewDB(t) in each test.
package pgtest

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lib/pq"

	"github.com/stockwire/stockwire/shared/pgcluster"
)

const templateDB = "stockwire_template"

// Prepare fills the template database at dsn once per cluster, before any
// test clones it: a schema migration, say. Nil leaves it empty.
type Prepare func(ctx context.Context, dsn string) error

var (
	prepare  Prepare
	cluster  atomic.Pointer[pgcluster.Cluster]
	startErr error
	counter  atomic.Int64

	fsyncMu      sync.Mutex
	fsyncCluster *pgcluster.Cluster // guarded by fsyncMu
	fsyncRoot    string             // guarded by fsyncMu
)

// TestingM runs a test binary's tests: a *testing.M, or a wrapper that
// checks something after them (goroutine leaks, say).
type TestingM interface {
	Run() int
}

// Main starts the cluster, prepares the template with p (nil: empty), runs
// the tests, stops the cluster and exits.
func Main(m TestingM, p Prepare) {
	prepare = p
	os.Exit(run(m))
}

func run(m TestingM) int {
	root, err := os.MkdirTemp("/tmp", "swpgtest")
	if err != nil {
		fmt.Fprintln(os.Stderr, "pgtest:", err)
		return 1
	}
	defer os.RemoveAll(root)
	os.Chmod(root, 0o755)
	c, err := Start(context.Background(), filepath.Join(root, "data"), false)
	if err != nil {
		// Tests calling NewDB fail with this error; tests not needing a
		// database still run.
		startErr = err
		fmt.Fprintln(os.Stderr, "pgtest:", err)
	} else {
		cluster.Store(c)
		defer c.Kill()
	}
	defer stopFsyncCluster()
	return m.Run()
}

// FsyncCluster returns a second cluster of this binary with fsync on,
// started on first use and stopped by Main: for benchmarks whose figures
// must include durable commits.
func FsyncCluster(tb testing.TB) *pgcluster.Cluster {
	tb.Helper()
	fsyncMu.Lock()
	defer fsyncMu.Unlock()
	if fsyncCluster != nil {
		return fsyncCluster
	}
	root, err := os.MkdirTemp("/tmp", "swpgfsync")
	if err != nil {
		tb.Fatal(err)
	}
	os.Chmod(root, 0o755)
	c, err := Start(context.Background(), filepath.Join(root, "data"), true)
	if err != nil {
		os.RemoveAll(root)
		tb.Fatalf("pgtest: start fsync cluster: %v", err)
	}
	fsyncCluster, fsyncRoot = c, root
	return c
}

func stopFsyncCluster() {
	fsyncMu.Lock()
	defer fsyncMu.Unlock()
	if fsyncCluster != nil {
		fsyncCluster.Kill()
		os.RemoveAll(fsyncRoot)
		fsyncCluster = nil
	}
}

// Start starts a cluster in dir with fsync on or off and prepares the
// template database with Main's Prepare. For benchmarks that need their own
// cluster (fsync on); the caller stops it.
func Start(ctx context.Context, dir string, fsync bool) (*pgcluster.Cluster, error) {
	c, err := pgcluster.Start(ctx, dir, nil, pgcluster.WithFsync(fsync), pgcluster.WithMaxConnections(300))
	if err != nil {
		return nil, err
	}
	// A test binary killed by -timeout runs no defers: stop the server then.
	if err := c.StopWhenExits(os.Getpid()); err != nil {
		c.Kill()
		return nil, err
	}
	if err := c.CreateDatabase(ctx, templateDB); err != nil {
		c.Kill()
		return nil, err
	}
	if prepare != nil {
		if err := prepare(ctx, c.DSN(templateDB)); err != nil {
			c.Kill()
			return nil, fmt.Errorf("prepare template: %w", err)
		}
	}
	return c, nil
}

// Cluster returns the binary's cluster, failing tb when it did not start
// (or pgtest.Main was not called).
func Cluster(tb testing.TB) *pgcluster.Cluster {
	tb.Helper()
	c := cluster.Load()
	if c == nil {
		if startErr != nil {
			tb.Fatalf("pgtest: no PostgreSQL: %v", startErr)
		}
		tb.Fatal("pgtest: cluster not started: call pgtest.Main(m) from TestMain")
	}
	return c
}

// NewDB returns the DSN of a fresh database cloned from the prepared
// template, dropped when tb ends.
func NewDB(tb testing.TB) string {
	tb.Helper()
	return NewDBIn(tb, Cluster(tb), true)
}

// NewEmptyDB returns the DSN of a fresh database, not cloned from the
// template.
func NewEmptyDB(tb testing.TB) string {
	tb.Helper()
	return NewDBIn(tb, Cluster(tb), false)
}

// NewDBIn creates a database in c, cloned from the template or empty,
// dropped when tb ends.
func NewDBIn(tb testing.TB, c *pgcluster.Cluster, fromTemplate bool) string {
	tb.Helper()
	name := fmt.Sprintf("test_%d_%d", os.Getpid(), counter.Add(1))
	q := "CREATE DATABASE " + pq.QuoteIdentifier(name)
	if fromTemplate {
		q += " TEMPLATE " + templateDB
	}
	admin, err := sql.Open("postgres", c.DSN("postgres"))
	if err != nil {
		tb.Fatal(err)
	}
	defer admin.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := admin.ExecContext(ctx, q); err != nil {
		tb.Fatalf("pgtest: create database: %v", err)
	}
	tb.Cleanup(func() {
		admin, err := sql.Open("postgres", c.DSN("postgres"))
		if err != nil {
			return
		}
		defer admin.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := admin.ExecContext(ctx, "DROP DATABASE IF EXISTS "+pq.QuoteIdentifier(name)+" WITH (FORCE)"); err != nil {
			tb.Logf("pgtest: drop database %s: %v", name, err)
		}
	})
	return c.DSN(name)
}

// Logger returns a logger writing to tb's output.
func Logger(tb testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tb.Output(), nil))
}
