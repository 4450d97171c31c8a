package pgcluster_test

import (
	"database/sql"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	_ "github.com/lib/pq"

	"github.com/stockwire/stockwire/shared/pgcluster"
	"github.com/stockwire/stockwire/shared/systest"
)

func TestCluster_RestartKeepsData(t *testing.T) {
	ctx := t.Context()
	logger := slog.New(slog.NewTextHandler(t.Output(), nil))
	dir := filepath.Join(systest.PostgresDir(t), "data")

	c, err := pgcluster.Start(ctx, dir, logger, pgcluster.WithFsync(false))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Kill() })
	if err := c.CreateDatabase(ctx, "app"); err != nil {
		t.Fatal(err)
	}
	if err := c.CreateDatabase(ctx, "app"); err != nil {
		t.Fatalf("second CreateDatabase: %v", err)
	}
	db, err := sql.Open("postgres", c.DSN("app"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, `CREATE TABLE t (v text); INSERT INTO t VALUES ('kept')`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if err := c.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := c.Stop(); err != nil {
		t.Fatalf("second Stop: %v", err)
	}

	c2, err := pgcluster.Start(ctx, dir, logger, pgcluster.WithFsync(false))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c2.Kill() })
	mustRead(t, c2, "kept")

	// A crash and a start: the same DSN reaches the same data, and a
	// connection pool opened before it works again after it.
	pool, err := sql.Open("postgres", c2.DSN("app"))
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	// This test cluster commits asynchronously (no fsync); this commit
	// must be written before the crash.
	if _, err := pool.ExecContext(ctx, `BEGIN; SET LOCAL synchronous_commit = on; INSERT INTO t VALUES ('before the crash'); COMMIT`); err != nil {
		t.Fatal(err)
	}
	if err := c2.Crash(ctx, 100*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := pool.QueryRowContext(ctx, `SELECT count(*) FROM t`).Scan(&n); err != nil {
		// The pool's old connection is cut; the next one reconnects.
		if err := pool.QueryRowContext(ctx, `SELECT count(*) FROM t`).Scan(&n); err != nil {
			t.Fatalf("after the crash: %v", err)
		}
	}
	if n != 2 {
		t.Fatalf("%d rows after the crash, want 2", n)
	}
	if _, err := pool.ExecContext(ctx, `DELETE FROM t WHERE v = 'before the crash'`); err != nil {
		t.Fatal(err)
	}

	// A killed run leaves postmaster.pid behind; simulate a pid file whose
	// process is gone and check the next start is not blocked.
	if err := c2.Kill(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "postmaster.pid"), []byte("999999\n"+dir+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c3, err := pgcluster.Start(ctx, dir, logger, pgcluster.WithFsync(false))
	if err != nil {
		t.Fatalf("start with stale postmaster.pid: %v", err)
	}
	t.Cleanup(func() { c3.Kill() })
	mustRead(t, c3, "kept")

	// An orphaned server still running on the dir (the previous hub was
	// killed, postgres was not): Start takes over.
	c4, err := pgcluster.Start(ctx, dir, logger, pgcluster.WithFsync(false))
	if err != nil {
		t.Fatalf("start over orphaned server: %v", err)
	}
	t.Cleanup(func() { c4.Kill() })
	mustRead(t, c4, "kept")
}

func mustRead(t *testing.T, c *pgcluster.Cluster, want string) {
	t.Helper()
	db, err := sql.Open("postgres", c.DSN("app"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var got string
	if err := db.QueryRowContext(t.Context(), `SELECT v FROM t`).Scan(&got); err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Fatalf("v=%q, want %q", got, want)
	}
}
