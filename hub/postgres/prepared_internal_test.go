package postgres

import (
	"fmt"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/stockwire/stockwire/hub"
	"github.com/stockwire/stockwire/shared/pgtest"
	"github.com/stockwire/stockwire/shared/systest"
)

// TestStmtCache: statements are kept by text, at most maxPrepared of them;
// a text past that still runs, unprepared, and gives the same answer.
func TestStmtCache(t *testing.T) {
	t.Parallel()
	db, err := sqlx.Open("postgres", pgtest.NewDB(t))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	c := &stmtCache{db: db}
	defer c.close()
	run := func(k int) {
		t.Helper()
		tx, err := db.BeginTxx(t.Context(), nil)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback()
		var got []int
		if err := (preparedTx{Tx: tx, cache: c}).selectInto(t.Context(), &got, fmt.Sprintf("SELECT $1::int + %d", k), 1); err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 || got[0] != k+1 {
			t.Fatalf("SELECT 1 + %d = %v", k, got)
		}
	}
	for k := range maxPrepared + 2 {
		run(k)
	}
	run(0)
	if len(c.stmts) != maxPrepared {
		t.Fatalf("%d statements kept, want %d", len(c.stmts), maxPrepared)
	}
	if c.stmts["SELECT $1::int + 0"] == nil || c.stmts[fmt.Sprintf("SELECT $1::int + %d", maxPrepared)] != nil {
		t.Fatal("kept the wrong statements")
	}
}

// TestLockOrders_GenericPlans: a small batch's transaction runs its later
// statements on generic plans, set by lockOrders' first statement for that
// transaction only; a large batch's keeps the server's setting.
func TestLockOrders_GenericPlans(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db, st := dbWithStore(t)
	setting := func(tx *sqlx.Tx) string {
		t.Helper()
		var mode string
		if err := tx.GetContext(ctx, &mode, `SELECT current_setting('plan_cache_mode')`); err != nil {
			t.Fatal(err)
		}
		return mode
	}
	for _, generic := range []bool{true, false} {
		tx, err := db.db.BeginTxx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		before := setting(tx)
		batch := []*reportReq{{storeID: st.ID, r: hub.OrderReport{WooOrderID: 7, Status: "processing", DateModified: time.Now()}}}
		plans, err := lockOrders(ctx, preparedTx{Tx: tx, cache: &db.prepared}, batch, generic)
		if err != nil {
			t.Fatal(err)
		}
		if plans[0] == nil {
			t.Fatal("the order was not created")
		}
		want := before
		if generic {
			want = "force_generic_plan"
		}
		if got := setting(tx); got != want {
			t.Errorf("generic=%v: plan_cache_mode %q in the transaction, want %q", generic, got, want)
		}
		if err := tx.Rollback(); err != nil {
			t.Fatal(err)
		}
	}
	var after string
	if err := db.db.GetContext(ctx, &after, `SELECT current_setting('plan_cache_mode')`); err != nil {
		t.Fatal(err)
	}
	if after == "force_generic_plan" {
		t.Error("the setting outlived its transaction")
	}
}

// An order another transaction creates while this one waits to insert it
// is found and locked all the same (the combined statement's snapshot
// cannot see it; the second look does).
func TestLockOrders_CreatedMeanwhile(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db, st := dbWithStore(t)
	batch := func() []*reportReq {
		return []*reportReq{{storeID: st.ID, r: hub.OrderReport{WooOrderID: 9, Status: "processing", DateModified: time.Now()}}}
	}
	first, err := db.db.BeginTxx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer first.Rollback()
	created, err := lockOrders(ctx, preparedTx{Tx: first}, batch(), false)
	if err != nil || created[0] == nil {
		t.Fatalf("first transaction: plans %v, err %v", created, err)
	}

	type result struct {
		plans []*orderPlan
		err   error
	}
	second := make(chan result, 1)
	go func() {
		tx, err := db.db.BeginTxx(ctx, nil)
		if err != nil {
			second <- result{err: err}
			return
		}
		defer tx.Rollback()
		plans, err := lockOrders(ctx, preparedTx{Tx: tx}, batch(), false)
		second <- result{plans, err}
	}()
	// The second insert waits for the first transaction's row.
	systest.WaitFor(t, 10*time.Second, "the second transaction waiting on the first", func() error {
		var waiting int
		if err := db.db.GetContext(ctx, &waiting, `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND wait_event_type = 'Lock'`); err != nil {
			return err
		}
		if waiting == 0 {
			return fmt.Errorf("nobody waits")
		}
		return nil
	})
	if err := first.Commit(); err != nil {
		t.Fatal(err)
	}
	r := <-second
	if r.err != nil {
		t.Fatal(r.err)
	}
	if r.plans[0] == nil || r.plans[0].o.ID != created[0].o.ID {
		t.Fatalf("second transaction's plan %+v, want the order the first created (id %d)", r.plans[0], created[0].o.ID)
	}
}

// dbWithStore opens a fresh database with one mirror store.
func dbWithStore(t *testing.T) (*DB, hub.Store) {
	t.Helper()
	db, err := Open(t.Context(), pgtest.NewDB(t), pgtest.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	st, _, err := NewStoreService(db).Create(t.Context(), hub.NewStore{Name: "s", URL: "https://s.example", Policy: hub.PolicyMirror})
	if err != nil {
		t.Fatal(err)
	}
	return db, st
}
