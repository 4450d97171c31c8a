package postgres

import (
	"fmt"
	"testing"

	"github.com/jmoiron/sqlx"

	"github.com/stockwire/stockwire/shared/pgtest"
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
		var got int
		if err := (preparedTx{Tx: tx, cache: c}).queryRow(t.Context(), fmt.Sprintf("SELECT $1::int + %d", k), 1).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != k+1 {
			t.Fatalf("SELECT 1 + %d = %d", k, got)
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
