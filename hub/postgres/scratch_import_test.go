package postgres_test

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/stockwire/stockwire/hub"
	"github.com/stockwire/stockwire/hub/postgres"
	"github.com/stockwire/stockwire/shared/pgtest"
)

func TestScratchImport(t *testing.T) {
	ctx := context.Background()
	c := pgtest.FsyncCluster(t)
	dsn := pgtest.NewDBIn(t, c, true)
	{
		r := sqlx.MustOpen("postgres", dsn)
		r.SetMaxOpenConns(1)
		r.MustExec(`LOAD 'auto_explain'`)
		r.MustExec(`ALTER SYSTEM SET session_preload_libraries = 'auto_explain'`)
		r.MustExec(`ALTER SYSTEM SET auto_explain.log_min_duration = 1000`)
		r.MustExec(`ALTER SYSTEM SET auto_explain.log_analyze = on`)
		r.MustExec(`SELECT pg_reload_conf()`)
		r.Close()
	}
	db, err := postgres.Open(ctx, dsn, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	inv, stores := postgres.NewInventoryService(db), postgres.NewStoreService(db)
	for i := range 3 {
		stores.Create(ctx, hub.NewStore{Name: fmt.Sprint("s", i), URL: "https://s.example", Policy: hub.PolicyMirror})
	}
	raw := sqlx.MustOpen("postgres", dsn)
	defer raw.Close()
	raw.MustExec(`ALTER SYSTEM SET log_min_duration_statement = 0`)
	raw.MustExec(`ALTER SYSTEM SET log_line_prefix = '%m [%p] '`)
	raw.MustExec(`SELECT pg_reload_conf()`)
	time.Sleep(200 * time.Millisecond)
	counts := make([]hub.Count, 100_000)
	for n := range 3 {
		for i := range counts {
			counts[i] = hub.Count{SKU: fmt.Sprintf("SKU-%06d", i), Location: "main", OnHand: int64(100 + n + i%7)}
		}
		start := time.Now()
		if _, err := inv.Import(ctx, counts); err != nil {
			t.Fatal(err)
		}
		t.Logf("import %d: %v", n, time.Since(start))
	}
	raw.MustExec(`ALTER SYSTEM RESET log_min_duration_statement`)
	raw.MustExec(`SELECT pg_reload_conf()`)
	time.Sleep(300 * time.Millisecond)
	b, _ := os.ReadFile(c.Dir + "/postgresql.log")
	os.WriteFile("/tmp/pgimport.log", b, 0o644)
}
