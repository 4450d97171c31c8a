package postgres_test

import (
	"database/sql"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/stockwire/stockwire/hub"
	"github.com/stockwire/stockwire/hub/postgres"
)

// allocParams are small, so tests see grants and reclaims with few units.
var allocParams = hub.AllocationParams{LowWater: 2, MinGrant: 5, MaxGrant: 20, CoverSeconds: 10, IdleSeconds: 60}

// MustAllocateStore creates an allocate store whose agent counts as
// connected (only connected stores get grants).
func (e *env) MustAllocateStore(tb testing.TB, name string) hub.Store {
	tb.Helper()
	p := allocParams
	st, _, err := e.stores.Create(tb.Context(), hub.NewStore{Name: name, URL: "https://" + name + ".example", Policy: hub.PolicyAllocate, Allocation: &p})
	if err != nil {
		tb.Fatal(err)
	}
	e.MustAgentState(tb, st.ID, hub.AgentState{Connected: true})
	return st
}

func (e *env) MustRebalance(tb testing.TB) {
	tb.Helper()
	if _, err := postgres.NewAllocationService(e.db).Rebalance(tb.Context()); err != nil {
		tb.Fatal(err)
	}
}

func (e *env) MustSQL(tb testing.TB, query string, args ...any) {
	tb.Helper()
	db, err := sql.Open("postgres", e.dsn)
	if err != nil {
		tb.Fatal(err)
	}
	defer db.Close()
	if _, err := db.ExecContext(tb.Context(), query, args...); err != nil {
		tb.Fatal(err)
	}
}

// MustSelect runs query on its own connection and scans the rows into dest
// (a slice, or one value for a single row).
func (e *env) MustSelect(tb testing.TB, dest any, query string, args ...any) {
	tb.Helper()
	db, err := sqlx.Open("postgres", e.dsn)
	if err != nil {
		tb.Fatal(err)
	}
	defer db.Close()
	if reflect.TypeOf(dest).Elem().Kind() == reflect.Slice {
		err = db.SelectContext(tb.Context(), dest, query, args...)
	} else {
		err = db.GetContext(tb.Context(), dest, query, args...)
	}
	if err != nil {
		tb.Fatal(err)
	}
}

// checkEscrow checks the hub's figures of sku against the invariant and
// against each store's target and event stream.
func (e *env) checkEscrow(tb testing.TB, sku string, stores ...hub.Store) hub.SKUStock {
	tb.Helper()
	s := e.MustStock(tb, sku)
	var held int64
	for _, n := range s.Allocated {
		held += n
	}
	if held+s.Committed > s.OnHand-s.SafetyStock+s.Exposure {
		tb.Fatalf("%s: Σallocated %d + committed %d > on hand %d − safety %d (exposure %d)", sku, held, s.Committed, s.OnHand, s.SafetyStock, s.Exposure)
	}
	for _, st := range stores {
		id := fmt.Sprint(st.ID)
		want := s.Allocated[id]
		if st.Policy == hub.PolicyMirror {
			want = s.Pool - st.Buffer
		}
		if got := s.Targets[id]; got != want {
			tb.Fatalf("%s: store %s target %d, want %d (stock %+v)", sku, st.Name, got, want, s)
		}
	}
	return s
}

func (e *env) pending(tb testing.TB, st hub.Store) []hub.Reclaim {
	tb.Helper()
	rc, err := e.orders.PendingReclaims(tb.Context(), st.ID)
	if err != nil {
		tb.Fatal(err)
	}
	return rc
}

func TestAllocation_GrantsSalesAndMirrorPool(t *testing.T) {
	t.Parallel()
	e := MustEnv(t)
	ctx := t.Context()
	e.MustCount(t, "TEE", "main", 100)
	a := e.MustAllocateStore(t, "a")
	b := e.MustAllocateStore(t, "b")
	m := e.MustStore(t, "m", 1)

	e.MustRebalance(t)
	s := e.checkEscrow(t, "TEE", a, b, m)
	if s.Allocated[fmt.Sprint(a.ID)] != 5 || s.Allocated[fmt.Sprint(b.ID)] != 5 || s.Pool != 90 {
		t.Fatalf("first grants: %+v", s)
	}
	if ev := e.MustEvents(t, a.ID); ev[len(ev)-1].Delta != 5 || ev[len(ev)-1].Target != 5 {
		t.Fatalf("grant event %+v, want +5", ev[len(ev)-1])
	}

	t.Run("SaleBelowLowWaterGrantsInTheSameTransaction", func(t *testing.T) {
		e.MustReport(t, a.ID, 1, "processing", t0, hub.OrderLine{SKU: "TEE", Quantity: 4})
		s := e.checkEscrow(t, "TEE", a, b, m)
		got := s.Allocated[fmt.Sprint(a.ID)]
		if got <= 1 || s.Committed != 4 {
			t.Fatalf("after a sale of 4 of 5: allocated %d committed %d, want a grant on top of 1", got, s.Committed)
		}
		// The store's own sale is not echoed; the grant is.
		ev := e.MustEvents(t, a.ID)
		if last := ev[len(ev)-1]; last.Delta != got-1 || last.Target != got {
			t.Fatalf("event %+v, want delta %d target %d", last, got-1, got)
		}
	})

	t.Run("CancelRestocksTheStore", func(t *testing.T) {
		before := e.MustStock(t, "TEE").Allocated[fmt.Sprint(a.ID)]
		e.MustReport(t, a.ID, 1, "cancelled", t0.Add(time.Minute))
		s := e.checkEscrow(t, "TEE", a, b, m)
		if got := s.Allocated[fmt.Sprint(a.ID)]; got != before+4 || s.Committed != 0 {
			t.Fatalf("after cancel: allocated %d (was %d), committed %d", got, before, s.Committed)
		}
	})

	t.Run("GrantBeyondStockFailsTheTransaction", func(t *testing.T) {
		db, err := sql.Open("postgres", e.dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback()
		if _, err := tx.ExecContext(ctx, `UPDATE store_allocations SET allocated = allocated + 1000, granted = granted + 1000 WHERE store_id = $1`, b.ID); err != nil {
			t.Fatal(err)
		}
		err = tx.Commit()
		if err == nil || !strings.Contains(err.Error(), "exceeds stock") {
			t.Fatalf("commit of an over-grant: %v, want the escrow check to refuse it", err)
		}
		e.checkEscrow(t, "TEE", a, b, m)
	})

	t.Run("LeavingAllocateReturnsUnitsToThePool", func(t *testing.T) {
		before := e.MustStock(t, "TEE")
		held := before.Allocated[fmt.Sprint(b.ID)]
		b2, err := postgres.NewAllocationService(e.db).Configure(ctx, b.ID, hub.StoreSettings{Policy: hub.PolicyMirror, Allocation: b.Allocation})
		if err != nil {
			t.Fatal(err)
		}
		s := e.checkEscrow(t, "TEE", a, b2, m)
		if s.Allocated[fmt.Sprint(b.ID)] != 0 || s.Pool != before.Pool+held {
			t.Fatalf("after b left allocate: %+v (held %d, pool was %d)", s, held, before.Pool)
		}
		if b2.Allocation != allocParams {
			t.Fatalf("allocation params %+v, want kept %+v", b2.Allocation, allocParams)
		}
	})

	t.Run("EnteringAllocateTakesTheShelfDownThenGrants", func(t *testing.T) {
		b3, err := postgres.NewAllocationService(e.db).Configure(ctx, b.ID, hub.StoreSettings{Policy: hub.PolicyAllocate, Allocation: allocParams})
		if err != nil {
			t.Fatal(err)
		}
		ev := e.MustEvents(t, b.ID)
		if last := ev[len(ev)-1]; last.Target != 0 || last.Delta >= 0 {
			t.Fatalf("event %+v, want the mirror figure taken off the shelf (target 0)", last)
		}
		e.checkEscrow(t, "TEE", a, b3, m)
		e.MustRebalance(t)
		s := e.checkEscrow(t, "TEE", a, b3, m)
		if s.Allocated[fmt.Sprint(b.ID)] != allocParams.MinGrant {
			t.Fatalf("after a rebalance b holds %d, want a first grant of %d", s.Allocated[fmt.Sprint(b.ID)], allocParams.MinGrant)
		}
	})
}

func TestAllocation_IdleStoreReclaimTwoPhase(t *testing.T) {
	t.Parallel()
	e := MustEnv(t)
	ctx := t.Context()
	e.MustCount(t, "MUG", "main", 10)
	a := e.MustAllocateStore(t, "a")
	b := e.MustAllocateStore(t, "b")
	e.MustRebalance(t)

	// a sells out; the pool is empty and b is not idle yet: no reclaim.
	e.MustReport(t, a.ID, 1, "processing", t0, hub.OrderLine{SKU: "MUG", Quantity: 5})
	if rc := e.pending(t, b); len(rc) != 0 {
		t.Fatalf("reclaims from a busy store: %+v", rc)
	}
	// b has been idle long enough.
	e.MustSQL(t, `UPDATE store_allocations SET granted_at = now() - interval '1 hour' WHERE store_id = $1`, b.ID)
	e.MustRebalance(t)
	rc := e.pending(t, b)
	if len(rc) != 1 || rc[0].Units != 5 || rc[0].SKU != "MUG" {
		t.Fatalf("reclaims of b: %+v, want one of 5 MUG", rc)
	}
	// Asked, not confirmed: the units are still b's.
	s := e.checkEscrow(t, "MUG", a, b)
	if s.Allocated[fmt.Sprint(b.ID)] != 5 || s.Pool != 0 {
		t.Fatalf("before confirmation: %+v", s)
	}
	e.MustRebalance(t)
	if rc := e.pending(t, b); len(rc) != 1 {
		t.Fatalf("a second rebalance asked again: %+v", rc)
	}

	// b sold 2 meanwhile and released the 3 it had left.
	if err := e.orders.ConfirmRelease(ctx, b.ID, hub.Release{ReclaimID: rc[0].ID, SKU: "MUG", Released: 3}); err != nil {
		t.Fatal(err)
	}
	s = e.checkEscrow(t, "MUG", a, b)
	if s.Allocated[fmt.Sprint(b.ID)] != 2 || s.Allocated[fmt.Sprint(a.ID)] != 3 || s.Pool != 0 {
		t.Fatalf("after release of 3: %+v, want b 2, a granted the 3", s)
	}
	evB := e.MustEvents(t, b.ID)
	if last := evB[len(evB)-1]; last.Delta != 0 || last.Target != 2 {
		t.Fatalf("b's event after its release %+v, want no echo (delta 0, target 2)", last)
	}
	// Confirming twice, or another store's reclaim, changes nothing.
	if err := e.orders.ConfirmRelease(ctx, b.ID, hub.Release{ReclaimID: rc[0].ID, SKU: "MUG", Released: 3}); err != nil {
		t.Fatal(err)
	}
	if err := e.orders.ConfirmRelease(ctx, a.ID, hub.Release{ReclaimID: rc[0].ID, SKU: "MUG", Released: 3}); err != nil {
		t.Fatal(err)
	}
	wantCode(t, e.orders.ConfirmRelease(ctx, b.ID, hub.Release{ReclaimID: rc[0].ID, Released: -1}), hub.EINVALID)
	if s2 := e.checkEscrow(t, "MUG", a, b); s2.Pool != 0 || s2.Allocated[fmt.Sprint(b.ID)] != 2 {
		t.Fatalf("repeated confirmation moved stock: %+v", s2)
	}
	// b's two sales arrive: its allocation is spent, never below zero.
	e.MustReport(t, b.ID, 7, "processing", t0, hub.OrderLine{SKU: "MUG", Quantity: 2})
	s = e.checkEscrow(t, "MUG", a, b)
	if s.Allocated[fmt.Sprint(b.ID)] != 0 || s.Committed != 7 {
		t.Fatalf("after b's sales: %+v", s)
	}
}

func TestAllocation_CountBelowHeldIsExposure(t *testing.T) {
	t.Parallel()
	e := MustEnv(t)
	e.MustCount(t, "CAP", "main", 10)
	a := e.MustAllocateStore(t, "a")
	b := e.MustAllocateStore(t, "b")
	e.MustRebalance(t)

	// The ERP finds 6: the stores hold 10.
	s := e.MustCount(t, "CAP", "main", 6)
	s = e.checkEscrow(t, "CAP", a, b)
	if s.Exposure != 4 {
		t.Fatalf("exposure %d, want 4 (%+v)", s.Exposure, s)
	}
	var asked int64
	for _, st := range []hub.Store{a, b} {
		for _, rc := range e.pending(t, st) {
			asked += rc.Units
		}
	}
	if asked != 4 {
		t.Fatalf("reclaims ask for %d units, want 4", asked)
	}
	// The same exposure is not asked twice.
	e.MustRebalance(t)
	var again int64
	for _, st := range []hub.Store{a, b} {
		for _, rc := range e.pending(t, st) {
			again += rc.Units
			if err := e.orders.ConfirmRelease(t.Context(), st.ID, hub.Release{ReclaimID: rc.ID, SKU: "CAP", Released: rc.Units}); err != nil {
				t.Fatal(err)
			}
		}
	}
	if again != 4 {
		t.Fatalf("after a rebalance reclaims ask for %d units, want still 4", again)
	}
	s = e.checkEscrow(t, "CAP", a, b)
	if s.Exposure != 0 || s.Pool != 0 {
		t.Fatalf("after releases: %+v, want no exposure", s)
	}
}

func TestAllocation_ConfigureValidates(t *testing.T) {
	t.Parallel()
	e := MustEnv(t)
	a := e.MustAllocateStore(t, "a")
	svc := postgres.NewAllocationService(e.db)
	for _, c := range []struct {
		name  string
		set   hub.StoreSettings
		field string
	}{
		{"Policy", hub.StoreSettings{Policy: "escrow", Allocation: allocParams}, "policy"},
		{"Buffer", hub.StoreSettings{Policy: hub.PolicyAllocate, Buffer: -1, Allocation: allocParams}, "buffer"},
		{"MinAboveMax", hub.StoreSettings{Policy: hub.PolicyAllocate, Allocation: hub.AllocationParams{LowWater: 1, MinGrant: 9, MaxGrant: 3, CoverSeconds: 1, IdleSeconds: 1}}, "allocation.max_grant"},
		{"NoCover", hub.StoreSettings{Policy: hub.PolicyAllocate, Allocation: hub.AllocationParams{LowWater: 1, MinGrant: 1, MaxGrant: 3, IdleSeconds: 1}}, "allocation.cover_seconds"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := svc.Configure(t.Context(), a.ID, c.set)
			wantCode(t, err, hub.EINVALID)
			if he, _ := err.(*hub.Error); he == nil || he.Field != c.field {
				t.Fatalf("err=%v, want field %q", err, c.field)
			}
			if got, _ := e.stores.Store(t.Context(), a.ID); got.Allocation != allocParams || got.Policy != hub.PolicyAllocate {
				t.Fatalf("store changed: %+v", got)
			}
		})
	}
	_, err := svc.Configure(t.Context(), 999, hub.StoreSettings{Policy: hub.PolicyMirror, Allocation: allocParams})
	wantCode(t, err, hub.ENOTFOUND)
}

// A store left with a few units below its low-water mark that stopped
// selling gives them back when another store needs them; before, it
// counted as needy itself and kept them for ever.
func TestAllocation_IdleStoreBelowLowWaterGivesBack(t *testing.T) {
	t.Parallel()
	e := MustEnv(t)
	e.MustCount(t, "PEN", "main", 10)
	a := e.MustAllocateStore(t, "a")
	b := e.MustAllocateStore(t, "b")
	e.MustRebalance(t)
	e.MustReport(t, a.ID, 1, "processing", t0, hub.OrderLine{SKU: "PEN", Quantity: 4})
	e.MustReport(t, b.ID, 2, "processing", t0, hub.OrderLine{SKU: "PEN", Quantity: 5})
	if rc := e.pending(t, a); len(rc) != 0 {
		t.Fatalf("reclaims from a store that just sold: %+v", rc)
	}
	e.MustSQL(t, `UPDATE store_allocations SET granted_at = now() - interval '1 hour', last_sale_at = now() - interval '1 hour' WHERE store_id = $1`, a.ID)
	e.MustRebalance(t)
	rc := e.pending(t, a)
	if len(rc) != 1 || rc[0].Units != 1 {
		t.Fatalf("reclaims of the idle store holding 1: %+v, want one of 1", rc)
	}
	if err := e.orders.ConfirmRelease(t.Context(), a.ID, hub.Release{ReclaimID: rc[0].ID, SKU: "PEN", Released: 1}); err != nil {
		t.Fatal(err)
	}
	s := e.checkEscrow(t, "PEN", a, b)
	if s.Allocated[fmt.Sprint(b.ID)] != 1 || s.Allocated[fmt.Sprint(a.ID)] != 0 {
		t.Fatalf("after the release: %+v, want the unit granted to b", s)
	}
}

// TestAllocation_RevokedStoreKeepsUnitsUntilMirror: a revoked allocate
// store's shop may still sell what it holds, so revoking keeps its units
// out of the pool; switching it to mirror (what the README tells the
// operator) gives them back.
func TestAllocation_RevokedStoreKeepsUnitsUntilMirror(t *testing.T) {
	t.Parallel()
	e := MustEnv(t)
	a, m := e.MustAllocateStore(t, "a"), e.MustStore(t, "m", 0)
	e.MustCount(t, "MUG", "main", 40)
	e.MustRebalance(t)
	held := e.MustStock(t, "MUG").Allocated[fmt.Sprint(a.ID)]
	if held == 0 {
		t.Fatal("no grant to the allocate store")
	}
	if err := e.stores.Revoke(t.Context(), a.ID); err != nil {
		t.Fatal(err)
	}
	e.MustRebalance(t)
	if s := e.MustStock(t, "MUG"); s.Targets[fmt.Sprint(m.ID)] != 40-held {
		t.Fatalf("after revoke, mirror store shows %d, want %d (the revoked store's %d still held)", s.Targets[fmt.Sprint(m.ID)], 40-held, held)
	}
	if _, err := postgres.NewAllocationService(e.db).Configure(t.Context(), a.ID, hub.StoreSettings{Policy: hub.PolicyMirror, Allocation: allocParams}); err != nil {
		t.Fatal(err)
	}
	if s := e.MustStock(t, "MUG"); s.Targets[fmt.Sprint(m.ID)] != 40 {
		t.Fatalf("after switching the revoked store to mirror, mirror store shows %d, want 40", s.Targets[fmt.Sprint(m.ID)])
	}
}
