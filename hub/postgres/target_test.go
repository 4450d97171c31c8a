package postgres_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/stockwire/stockwire/hub"
)

// MustNoNegativeTargets fails if any event of st carries a negative target,
// or if the deltas alone (the store's figure without sales of its own) ever
// go below 0.
func MustNoNegativeTargets(tb testing.TB, e *env, st hub.Store) {
	tb.Helper()
	shelf := map[string]int64{}
	for _, ev := range e.MustEvents(tb, st.ID) {
		shelf[ev.SKU] += ev.Delta
		if ev.Target < 0 || shelf[ev.SKU] < 0 {
			tb.Fatalf("store %s: event %+v leaves the store at %d", st.Name, ev, shelf[ev.SKU])
		}
	}
}

func lastEvent(tb testing.TB, e *env, st hub.Store) hub.Event {
	tb.Helper()
	ev := e.MustEvents(tb, st.ID)
	if len(ev) == 0 {
		tb.Fatalf("store %s has no events", st.Name)
	}
	return ev[len(ev)-1]
}

func TestMirrorTarget_NeverNegative(t *testing.T) {
	t.Parallel()

	t.Run("BufferAboveAvailable", func(t *testing.T) {
		t.Parallel()
		e := MustEnv(t)
		st := e.MustStore(t, "eu", 3)
		e.MustCount(t, "TEE", "main", 1)
		if got, want := e.MustStock(t, "TEE").Targets[fmt.Sprint(st.ID)], int64(0); got != want {
			t.Fatalf("target=%d, want %d", got, want)
		}
		MustNoNegativeTargets(t, e, st)
	})

	// Another store oversold: available goes −3, then a receipt makes it
	// +2. The store went to 0, not −3, and from 0 to 2.
	t.Run("AvailableFromNegativeToPositive", func(t *testing.T) {
		t.Parallel()
		e := MustEnv(t)
		seller := e.MustStore(t, "seller", 0)
		other := e.MustStore(t, "other", 0)
		e.MustCount(t, "TEE", "main", 2)
		e.MustReport(t, seller.ID, 1, "processing", t0, hub.OrderLine{SKU: "TEE", Quantity: 5})
		if got, want := e.MustStock(t, "TEE").Available, int64(-3); got != want {
			t.Fatalf("Available=%d, want %d", got, want)
		}
		if ev := lastEvent(t, e, other); ev.Target != 0 || ev.Delta != -2 {
			t.Fatalf("other store after the oversell: event %+v, want delta -2 target 0", ev)
		}
		e.MustCount(t, "TEE", "main", 7)
		if ev := lastEvent(t, e, other); ev.Target != 2 || ev.Delta != 2 {
			t.Fatalf("other store after the receipt: event %+v, want delta 2 target 2", ev)
		}
		MustNoNegativeTargets(t, e, other)
		MustEventsSumToTargets(t, e, []hub.Store{seller, other}, nil)
	})

	// The store sells its last unit while the hub had already lowered its
	// target to 0 (another store's sale raced it): WooCommerce shows −1,
	// and the hub's event brings it back to 0.
	t.Run("OwnSaleAtZero", func(t *testing.T) {
		t.Parallel()
		e := MustEnv(t)
		a := e.MustStore(t, "a", 0)
		b := e.MustStore(t, "b", 0)
		e.MustCount(t, "TEE", "main", 1)
		e.MustReport(t, b.ID, 1, "processing", t0, hub.OrderLine{SKU: "TEE", Quantity: 1})
		if ev := lastEvent(t, e, a); ev.Target != 0 || ev.Delta != -1 {
			t.Fatalf("store a after b's sale: event %+v, want delta -1 target 0", ev)
		}
		e.MustReport(t, a.ID, 2, "processing", t0.Add(time.Second), hub.OrderLine{SKU: "TEE", Quantity: 1})
		if ev := lastEvent(t, e, a); ev.Target != 0 || ev.Delta != 1 {
			t.Fatalf("store a after its own sale: event %+v, want delta 1 target 0", ev)
		}
		MustNoNegativeTargets(t, e, a)
		MustNoNegativeTargets(t, e, b)
		MustEventsSumToTargets(t, e, []hub.Store{a, b}, nil)
	})

	// A target left negative by the old function is raised to 0 by the
	// migration, and the store is told the difference.
	t.Run("MigrationRaisesStoredTargets", func(t *testing.T) {
		t.Parallel()
		e := MustEnv(t)
		st := e.MustStore(t, "eu", 0)
		e.MustCount(t, "TEE", "main", 0)
		head := lastEvent(t, e, st).Seq
		e.MustSQL(t, `UPDATE store_targets SET target = -2 WHERE store_id = $1`, st.ID)
		e.MustSQL(t, `DELETE FROM schema_migrations WHERE version = '005_target_never_negative'`)
		if err := e.db.Migrate(t.Context()); err != nil {
			t.Fatal(err)
		}
		ev := lastEvent(t, e, st)
		if ev.Seq != head+1 || ev.Delta != 2 || ev.Target != 0 {
			t.Fatalf("event after migration %+v, want seq %d delta 2 target 0", ev, head+1)
		}
		if got := e.MustStock(t, "TEE").Targets[fmt.Sprint(st.ID)]; got != 0 {
			t.Fatalf("target after migration=%d, want 0", got)
		}
	})
}
