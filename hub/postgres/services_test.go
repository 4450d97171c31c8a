package postgres_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stockwire/stockwire/hub"
	"github.com/stockwire/stockwire/hub/postgres"
)

// env is one fresh database with every service.
type env struct {
	dsn    string
	db     *postgres.DB
	inv    *postgres.InventoryService
	stores *postgres.StoreService
	orders *postgres.OrderService
	events *postgres.EventService
	admin  *postgres.AdminAuth
}

func MustEnv(tb testing.TB) *env {
	tb.Helper()
	db, dsn := MustOpenDSN(tb)
	events, err := postgres.NewEventService(tb.Context(), db)
	if err != nil {
		tb.Fatal(err)
	}
	return &env{
		dsn: dsn, db: db, inv: postgres.NewInventoryService(db), stores: postgres.NewStoreService(db),
		orders: postgres.NewOrderService(db), events: events, admin: postgres.NewAdminAuth(db),
	}
}

func (e *env) MustStore(tb testing.TB, name string, buffer int64) hub.Store {
	tb.Helper()
	st, cred, err := e.stores.Create(context.Background(), hub.NewStore{Name: name, URL: "https://" + name + ".example", Policy: hub.PolicyMirror, Buffer: buffer})
	if err != nil {
		tb.Fatal(err)
	}
	if cred == "" {
		tb.Fatal("no credential")
	}
	return st
}

// MustAgentState records st as the store's agent state, as the live
// session of an agent does.
func (e *env) MustAgentState(tb testing.TB, storeID int64, st hub.AgentState) {
	tb.Helper()
	sessions := postgres.NewSessionService(e.db)
	claim, err := sessions.ClaimSession(tb.Context(), storeID, "test-replica")
	if err != nil {
		tb.Fatal(err)
	}
	if live, err := sessions.RecordSessionState(tb.Context(), storeID, claim, st); err != nil || !live {
		tb.Fatalf("record agent state of store %d: live=%v err=%v", storeID, live, err)
	}
}

func (e *env) MustCount(tb testing.TB, sku, loc string, n int64) hub.SKUStock {
	tb.Helper()
	s, err := e.inv.SetCount(context.Background(), hub.Count{SKU: sku, Location: loc, OnHand: n, Actor: "test"})
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

func (e *env) MustReport(tb testing.TB, storeID, wooID int64, status string, mod time.Time, lines ...hub.OrderLine) hub.Order {
	tb.Helper()
	o, err := e.orders.ApplyOrderReport(context.Background(), storeID, hub.OrderReport{
		WooOrderID: wooID, Number: fmt.Sprint(wooID), Status: status, DateModified: mod, Lines: lines,
	})
	if err != nil {
		tb.Fatal(err)
	}
	return o
}

func (e *env) MustStock(tb testing.TB, sku string) hub.SKUStock {
	tb.Helper()
	s, err := e.inv.Stock(context.Background(), sku)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// events returns all events of a store.
func (e *env) MustEvents(tb testing.TB, storeID int64) []hub.Event {
	tb.Helper()
	ev, err := e.events.EventsAfter(context.Background(), storeID, 0, 10000)
	if err != nil {
		tb.Fatal(err)
	}
	return ev
}

func wantCode(tb testing.TB, err error, code string) {
	tb.Helper()
	if got := hub.ErrorCode(err); got != code {
		tb.Fatalf("error code=%q (%v), want %q", got, err, code)
	}
}

var t0 = time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)

func TestOrderService_OwnSaleNotEchoed(t *testing.T) {
	t.Parallel()
	e := MustEnv(t)
	a := e.MustStore(t, "a", 0)
	b := e.MustStore(t, "b", 2)
	e.MustCount(t, "TEE", "main", 10)

	// New SKU: an event for every active store with delta = target.
	for _, c := range []struct {
		store       hub.Store
		delta, targ int64
	}{{a, 10, 10}, {b, 8, 8}} {
		ev := e.MustEvents(t, c.store.ID)
		if len(ev) != 1 || ev[0].Delta != c.delta || ev[0].Target != c.targ || ev[0].Seq != 1 {
			t.Fatalf("store %s events=%+v", c.store.Name, ev)
		}
	}

	o := e.MustReport(t, a.ID, 100, "processing", t0, hub.OrderLine{SKU: "TEE", Quantity: 3})
	if got, want := o.StockState, hub.OrderStateCommitted; got != want {
		t.Fatalf("StockState=%v, want %v", got, want)
	}
	s := e.MustStock(t, "TEE")
	if s.Committed != 3 || s.Available != 7 || s.Targets[fmt.Sprint(a.ID)] != 7 || s.Targets[fmt.Sprint(b.ID)] != 5 {
		t.Fatalf("stock=%+v", s)
	}
	evA, evB := e.MustEvents(t, a.ID), e.MustEvents(t, b.ID)
	if last := evA[len(evA)-1]; last.Delta != 0 || last.Target != 7 {
		t.Fatalf("selling store event=%+v, want delta 0 target 7", last)
	}
	if last := evB[len(evB)-1]; last.Delta != -3 || last.Target != 5 {
		t.Fatalf("other store event=%+v, want delta -3 target 5", last)
	}

	// Cancel: WooCommerce restocks store a itself; b gets +3.
	e.MustReport(t, a.ID, 100, "cancelled", t0.Add(time.Minute))
	s = e.MustStock(t, "TEE")
	if s.Committed != 0 || s.Available != 10 {
		t.Fatalf("after cancel stock=%+v", s)
	}
	evA, evB = e.MustEvents(t, a.ID), e.MustEvents(t, b.ID)
	if last := evA[len(evA)-1]; last.Delta != 0 || last.Target != 10 {
		t.Fatalf("selling store event=%+v", last)
	}
	if last := evB[len(evB)-1]; last.Delta != 3 || last.Target != 8 {
		t.Fatalf("other store event=%+v", last)
	}
	// Deltas add up to the targets for every store.
	for _, st := range []hub.Store{a, b} {
		var sum int64
		for _, ev := range e.MustEvents(t, st.ID) {
			sum += ev.Delta
		}
		_, targets, err := e.events.Snapshot(t.Context(), st.ID)
		if err != nil {
			t.Fatal(err)
		}
		// Store a's own sale (−3) and WooCommerce's restock (+3) cancel out.
		if sum != targets["TEE"] {
			t.Fatalf("store %s: Σdelta=%d, target=%d", st.Name, sum, targets["TEE"])
		}
	}
}

// MustListen runs listener.Listen until the test ends, and counts sku
// through inv every 50 ms until a notification arrives (those sent before
// LISTEN is active are lost). It returns that first wake-up and the
// channel of the later ones.
func MustListen(t *testing.T, listener *postgres.DB, inv *postgres.InventoryService, sku string) (first []int64, woken <-chan []int64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	got := make(chan []int64, 64)
	done := make(chan error, 1)
	go func() { done <- listener.Listen(ctx, func(ids []int64) { got <- ids }) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for n := int64(1); ; {
		select {
		case ids := <-got:
			return ids, got
		case <-tick.C:
			if _, err := inv.SetCount(ctx, hub.Count{SKU: sku, Location: "main", OnHand: n}); err != nil {
				t.Fatal(err)
			}
			n++
		case <-ctx.Done():
			t.Fatal("no notification")
		}
	}
}

// MustReplica opens a second pool on e's database, as another hub
// replica would.
func (e *env) MustReplica(t *testing.T) *postgres.DB {
	t.Helper()
	replica, err := postgres.Open(t.Context(), e.dsn, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { replica.Close() })
	return replica
}
