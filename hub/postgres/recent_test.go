package postgres_test

import (
	"database/sql"
	"slices"
	"testing"
	"time"

	"github.com/stockwire/stockwire/hub"
	"github.com/stockwire/stockwire/hub/postgres"
)

// TestDB_FastFanout: a change this process commits wakes its stores'
// sessions at the commit and is read back from memory, and the
// notification of it is dropped; a change another replica commits comes
// by notification and is read from PostgreSQL.
func TestDB_FastFanout(t *testing.T) {
	t.Parallel()
	e := MustEnv(t)
	w := e.MustStore(t, "w", 0)
	replica := e.MustReplica(t)
	replicaInv := postgres.NewInventoryService(replica)
	_, woken := MustListen(t, e.db, replicaInv, "WARM")
	// next returns the next wake-up but those of the warm-up, which name
	// store w alone.
	next := func() []int64 {
		t.Helper()
		for {
			select {
			case ids := <-woken:
				if !slices.Equal(ids, []int64{w.ID}) {
					return ids
				}
			case <-time.After(10 * time.Second):
				t.Fatal("no wake-up")
				return nil
			}
		}
	}
	ctx := t.Context()

	// This process's own change: its stores are woken, and it is read
	// from memory (its rows are deleted from PostgreSQL behind its back).
	a := e.MustStore(t, "a", 0)
	e.MustCount(t, "FAST", "main", 7)
	if got := next(); !slices.Equal(got, []int64{w.ID, a.ID}) {
		t.Fatalf("woken %v, want [%d %d]", got, w.ID, a.ID)
	}
	raw, err := sql.Open("postgres", e.dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if _, err := raw.ExecContext(ctx, `DELETE FROM store_events WHERE store_id = $1`, a.ID); err != nil {
		t.Fatal(err)
	}
	got, err := e.events.EventsAfter(ctx, a.ID, 0, 100)
	if err != nil || len(got) != 1 || got[0] != (hub.Event{StoreID: a.ID, Seq: 1, SKU: "FAST", Delta: 7, Target: 7}) {
		t.Fatalf("store a's events: %+v %v, want FAST +7", got, err)
	}

	// Another replica's change, seen by a new store b too: its
	// notification wakes the three stores, and comes after that of the
	// change above, which was dropped (it would have named w and a).
	b := e.MustStore(t, "b", 0)
	if _, err := replicaInv.SetCount(ctx, hub.Count{SKU: "FAST", Location: "main", OnHand: 9}); err != nil {
		t.Fatal(err)
	}
	if got := next(); !slices.Equal(got, []int64{w.ID, a.ID, b.ID}) {
		t.Fatalf("woken %v by the replica's change, want [%d %d %d]", got, w.ID, a.ID, b.ID)
	}
	got, err = e.events.EventsAfter(ctx, b.ID, 0, 100)
	if err != nil || len(got) != 1 || got[0] != (hub.Event{StoreID: b.ID, Seq: 1, SKU: "FAST", Delta: 2, Target: 9}) {
		t.Fatalf("store b's events: %+v %v, want FAST +2", got, err)
	}
}
