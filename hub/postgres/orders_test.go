package postgres_test

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	_ "github.com/lib/pq"
	"golang.org/x/sync/errgroup"

	"github.com/stockwire/stockwire/hub"
	"github.com/stockwire/stockwire/hub/postgres"
)

func TestOrderService_DuplicateDeliveries(t *testing.T) {
	t.Parallel()
	e := MustEnv(t)
	a := e.MustStore(t, "a", 0)
	b := e.MustStore(t, "b", 0)
	e.MustCount(t, "MUG", "main", 100)

	var g errgroup.Group
	for range 50 {
		g.Go(func() error {
			_, err := e.orders.ApplyOrderReport(t.Context(), a.ID, hub.OrderReport{
				WooOrderID: 7, Status: "processing", DateModified: t0, Lines: []hub.OrderLine{{SKU: "MUG", Quantity: 4}},
			})
			return err
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	if s := e.MustStock(t, "MUG"); s.Committed != 4 || s.Available != 96 {
		t.Fatalf("stock=%+v, want committed 4", s)
	}
	// One event per store for the sale, after the one for the new SKU.
	if ev := e.MustEvents(t, b.ID); len(ev) != 2 || ev[1].Delta != -4 {
		t.Fatalf("other store events=%+v", ev)
	}
	if ev := e.MustEvents(t, a.ID); len(ev) != 2 || ev[1].Delta != 0 {
		t.Fatalf("selling store events=%+v", ev)
	}
	orders, _, err := e.orders.Orders(t.Context(), hub.Page{})
	if err != nil {
		t.Fatal(err)
	}
	if len(orders) != 1 {
		t.Fatalf("feed has %d orders, want 1", len(orders))
	}
}

func TestOrderService_ConcurrentOrdersOneSKU(t *testing.T) {
	t.Parallel()
	e := MustEnv(t)
	stores := []hub.Store{e.MustStore(t, "a", 0), e.MustStore(t, "b", 1), e.MustStore(t, "c", 0)}
	e.MustCount(t, "HOT", "main", 1000)

	var g errgroup.Group
	for i := range 100 {
		g.Go(func() error {
			st := stores[i%len(stores)]
			_, err := e.orders.ApplyOrderReport(t.Context(), st.ID, hub.OrderReport{
				WooOrderID: int64(1000 + i), Status: "processing", DateModified: t0, Lines: []hub.OrderLine{{SKU: "HOT", Quantity: 2}},
			})
			return err
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	s := e.MustStock(t, "HOT")
	if got, want := s.Committed, int64(200); got != want {
		t.Fatalf("Committed=%d, want %d", got, want)
	}
	MustLedgerReplay(t, e)
	MustEventsSumToTargets(t, e, stores, map[int64]int64{})
}

func TestOrderService_OutOfOrderReports(t *testing.T) {
	t.Parallel()
	e := MustEnv(t)
	a := e.MustStore(t, "a", 0)
	e.MustCount(t, "CAP", "main", 10)
	line := hub.OrderLine{SKU: "CAP", Quantity: 1}

	// Newest first: cancelled at t0+2, then the older processing and
	// pending reports arrive late.
	e.MustReport(t, a.ID, 1, "cancelled", t0.Add(2*time.Minute), line)
	o := e.MustReport(t, a.ID, 1, "processing", t0.Add(time.Minute), line)
	e.MustReport(t, a.ID, 1, "pending", t0, line)
	if o.Status != "cancelled" || o.StockState != hub.OrderStateNone {
		t.Fatalf("order=%+v, want cancelled/none", o)
	}
	if s := e.MustStock(t, "CAP"); s.Committed != 0 {
		t.Fatalf("stock=%+v", s)
	}

	// In order: processing, completed, then a stale processing.
	e.MustReport(t, a.ID, 2, "processing", t0, line)
	e.MustReport(t, a.ID, 2, "completed", t0.Add(time.Minute), line)
	o = e.MustReport(t, a.ID, 2, "processing", t0.Add(30*time.Second), line)
	if o.Status != "completed" || o.StockState != hub.OrderStateFulfilled {
		t.Fatalf("order=%+v, want completed/fulfilled", o)
	}
	if s := e.MustStock(t, "CAP"); s.Committed != 0 || s.OnHand != 9 {
		t.Fatalf("stock=%+v, want on_hand 9 committed 0", s)
	}

	// Released orders come back: processing → cancelled → processing.
	e.MustReport(t, a.ID, 3, "processing", t0, line)
	e.MustReport(t, a.ID, 3, "cancelled", t0.Add(time.Minute), line)
	o = e.MustReport(t, a.ID, 3, "processing", t0.Add(2*time.Minute), line)
	if o.StockState != hub.OrderStateCommitted {
		t.Fatalf("order=%+v, want committed", o)
	}
	if s := e.MustStock(t, "CAP"); s.Committed != 1 {
		t.Fatalf("stock=%+v, want committed 1", s)
	}
	MustLedgerReplay(t, e)
	MustEventsSumToTargets(t, e, []hub.Store{a}, map[int64]int64{})
}

func TestOrderService_UnknownSKUParked(t *testing.T) {
	t.Parallel()
	e := MustEnv(t)
	a := e.MustStore(t, "a", 0)
	e.MustCount(t, "KNOWN", "main", 5)
	o := e.MustReport(t, a.ID, 9, "processing", t0,
		hub.OrderLine{SKU: "KNOWN", Quantity: 1}, hub.OrderLine{SKU: "GHOST", Quantity: 3}, hub.OrderLine{SKU: "KNOWN", Quantity: 2})
	if len(o.Lines) != 3 || o.Lines[1].Error != "unknown sku" || o.Lines[0].Error != "" {
		t.Fatalf("lines=%+v", o.Lines)
	}
	if s := e.MustStock(t, "KNOWN"); s.Committed != 3 {
		t.Fatalf("stock=%+v, want committed 3 (two lines summed)", s)
	}
	if _, err := e.inv.Stock(t.Context(), "GHOST"); hub.ErrorCode(err) != hub.ENOTFOUND {
		t.Fatalf("GHOST: %v", err)
	}
	// The SKU appearing later does not make the parked line count on release.
	e.MustCount(t, "GHOST", "main", 5)
	e.MustReport(t, a.ID, 9, "cancelled", t0.Add(time.Minute))
	if s := e.MustStock(t, "GHOST"); s.Committed != 0 {
		t.Fatalf("GHOST stock=%+v", s)
	}
	if s := e.MustStock(t, "KNOWN"); s.Committed != 0 {
		t.Fatalf("KNOWN stock=%+v", s)
	}
}

func TestOrderService_Invalid(t *testing.T) {
	t.Parallel()
	e := MustEnv(t)
	a := e.MustStore(t, "a", 0)
	e.MustCount(t, "X", "main", 5)
	for name, r := range map[string]hub.OrderReport{
		"NoID":        {Status: "processing", DateModified: t0},
		"NoStatus":    {WooOrderID: 1, DateModified: t0},
		"NegativeQty": {WooOrderID: 1, Status: "processing", DateModified: t0, Lines: []hub.OrderLine{{SKU: "X", Quantity: -1}}},
	} {
		_, err := e.orders.ApplyOrderReport(t.Context(), a.ID, r)
		if hub.ErrorCode(err) != hub.EINVALID {
			t.Fatalf("%s: err=%v, want EINVALID", name, err)
		}
	}
	_, err := e.orders.ApplyOrderReport(t.Context(), 999, hub.OrderReport{WooOrderID: 1, Status: "processing", DateModified: t0})
	wantCode(t, err, hub.ENOTFOUND)
	if s := e.MustStock(t, "X"); s.Committed != 0 {
		t.Fatalf("stock changed: %+v", s)
	}
}

func TestOrderService_Fulfil(t *testing.T) {
	t.Parallel()
	e := MustEnv(t)
	a := e.MustStore(t, "a", 0)
	e.MustCount(t, "BOX", "small", 2)
	e.MustCount(t, "BOX", "big", 8)
	o := e.MustReport(t, a.ID, 5, "on-hold", t0, hub.OrderLine{SKU: "BOX", Quantity: 3})
	f, err := e.orders.Fulfil(t.Context(), o.ID, "erp")
	if err != nil {
		t.Fatal(err)
	}
	if f.StockState != hub.OrderStateFulfilled {
		t.Fatalf("state=%v", f.StockState)
	}
	s := e.MustStock(t, "BOX")
	if s.Locations["big"] != 5 || s.Locations["small"] != 2 || s.Committed != 0 || s.Available != 7 {
		t.Fatalf("stock=%+v", s)
	}
	_, err = e.orders.Fulfil(t.Context(), o.ID, "erp")
	wantCode(t, err, hub.ECONFLICT)
	_, err = e.orders.Fulfil(t.Context(), 12345, "erp")
	wantCode(t, err, hub.ENOTFOUND)
	// The store later reports completed: nothing more changes.
	e.MustReport(t, a.ID, 5, "completed", t0.Add(time.Minute))
	if s2 := e.MustStock(t, "BOX"); s2.OnHand != 7 || s2.Committed != 0 {
		t.Fatalf("stock=%+v", s2)
	}
	MustLedgerReplay(t, e)
	MustEventsSumToTargets(t, e, []hub.Store{a}, map[int64]int64{})
}

// TestOrderService_FeedCursor runs inserters against a reader following the
// cursor: every order is seen exactly once.
func TestOrderService_FeedCursor(t *testing.T) {
	t.Parallel()
	e := MustEnv(t)
	a := e.MustStore(t, "a", 0)
	const writers, perWriter = 8, 40
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()

	done := make(chan struct{})
	var g errgroup.Group
	for w := range writers {
		g.Go(func() error {
			for i := range perWriter {
				if _, err := e.orders.ApplyOrderReport(ctx, a.ID, hub.OrderReport{
					WooOrderID: int64(w*1000 + i + 1), Status: "pending", DateModified: t0,
				}); err != nil {
					return err
				}
			}
			return nil
		})
	}
	go func() { g.Wait(); close(done) }()

	seen := map[int64]int{}
	cursor := ""
	finished := false
	for {
		select {
		case <-done:
			finished = true
		default:
		}
		page, next, err := e.orders.Orders(ctx, hub.Page{After: cursor, Limit: 7})
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range page {
			seen[o.WooOrderID]++
		}
		cursor = next
		if finished && len(page) == 0 {
			break
		}
		if ctx.Err() != nil {
			t.Fatal(ctx.Err())
		}
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	if got, want := len(seen), writers*perWriter; got != want {
		t.Fatalf("saw %d orders, want %d", got, want)
	}
	for id, n := range seen {
		if n != 1 {
			t.Fatalf("order %d seen %d times", id, n)
		}
	}
}

// TestLedgerReplay runs a long random sequence of operations and checks the
// ledger replayed equals the current state, and every store's deltas add up
// to its targets (once WooCommerce's own moves are accounted for).
func TestLedgerReplay(t *testing.T) {
	t.Parallel()
	e := MustEnv(t)
	stores := []hub.Store{e.MustStore(t, "a", 0), e.MustStore(t, "b", 3), e.MustStore(t, "c", 1)}
	rng := rand.New(rand.NewPCG(1, 2))
	skus := []string{"S1", "S2", "S3", "S4"}
	locs := []string{"north", "south"}
	for _, k := range skus {
		e.MustCount(t, k, "north", 50)
	}
	ctx := t.Context()
	type ord struct {
		store int64
		id    int64
		mod   time.Time
	}
	var orders []ord
	statuses := []string{"pending", "processing", "on-hold", "completed", "cancelled", "failed", "refunded", "trash", "checkout-draft"}
	// local[store] is the sum of WooCommerce's own stock moves per SKU.
	local := map[int64]map[string]int64{}
	for _, st := range stores {
		local[st.ID] = map[string]int64{}
	}
	reduced := map[[2]int64]bool{}
	lineOf := map[[2]int64][]hub.OrderLine{}
	lastMod := map[[2]int64]time.Time{}
	for i := range 400 {
		switch op := rng.IntN(10); {
		case op == 0:
			e.MustCount(t, skus[rng.IntN(len(skus))], locs[rng.IntN(2)], int64(rng.IntN(60)))
		case op == 1:
			key := fmt.Sprintf("k%d", rng.IntN(20))
			_, err := e.inv.Adjust(ctx, hub.Adjustment{SKU: "S1", Location: "north", Delta: 5, IdempotencyKey: key, Reason: "receipt"})
			if err != nil && hub.ErrorCode(err) != hub.EINVALID {
				t.Fatal(err)
			}
		case op == 2:
			if _, err := e.inv.SetSafetyStock(ctx, skus[rng.IntN(len(skus))], int64(rng.IntN(4)), "admin"); err != nil {
				t.Fatal(err)
			}
		case op < 6 || len(orders) == 0:
			st := stores[rng.IntN(len(stores))]
			o := ord{store: st.ID, id: int64(i + 1), mod: t0.Add(time.Duration(i) * time.Second)}
			lines := []hub.OrderLine{{SKU: skus[rng.IntN(len(skus))], Quantity: int64(1 + rng.IntN(3))}, {SKU: skus[rng.IntN(len(skus))], Quantity: 1}}
			status := statuses[rng.IntN(3)]
			e.MustReport(t, o.store, o.id, status, o.mod, lines...)
			k := [2]int64{o.store, o.id}
			lineOf[k], lastMod[k] = lines, o.mod
			applyLocal(local[o.store], reduced, k, status, lines)
			orders = append(orders, o)
		default:
			o := orders[rng.IntN(len(orders))]
			k := [2]int64{o.store, o.id}
			// Mostly newer reports; sometimes a stale one.
			mod := lastMod[k].Add(time.Duration(rng.IntN(100)-20) * time.Second)
			status := statuses[rng.IntN(len(statuses))]
			e.MustReport(t, o.store, o.id, status, mod, lineOf[k]...)
			if !mod.Before(lastMod[k]) {
				lastMod[k] = mod
				applyLocal(local[o.store], reduced, k, status, lineOf[k])
			}
		}
	}
	MustLedgerReplay(t, e)
	for _, st := range stores {
		MustEventsSumToTargetsLocal(t, e, st, local[st.ID])
	}
}

// TestOrderService_StockReducedDecides: where the status alone does not
// say what WooCommerce did to the selling store's stock, the report's
// StockReduced (its line items' _reduced_stock) does, and the events
// compensate exactly that. Each order's reports are WooCommerce's
// transitions in order, with the store's stock move they made.
func TestOrderService_StockReducedDecides(t *testing.T) {
	t.Parallel()
	e := MustEnv(t)
	seller, other := e.MustStore(t, "seller", 0), e.MustStore(t, "other", 0)
	e.MustCount(t, "S1", "main", 50)
	type report struct {
		status  string
		reduced *bool
		local   int64 // what WooCommerce did to the seller's shelf
	}
	yes, no := new(true), new(false)
	local := map[string]int64{}
	for i, tc := range []struct {
		name    string
		reports []report
	}{
		// Sold and refunded while the agent was away: the first report
		// is the refund, and the units stayed off the seller's shelf.
		{"refunded before its first report", []report{{"refunded", yes, -3}}},
		// Failed does not put stock back; back to processing takes none.
		{"failed and paid again", []report{{"processing", yes, -3}, {"failed", yes, 0}, {"processing", yes, 0}}},
		// A refund that restocked every unit leaves _reduced_stock 0.
		{"refund restocked", []report{{"processing", yes, -3}, {"refunded", no, +3}}},
		// Without a restock the units stay off the shelf, and a later
		// cancellation puts them back (the order flag is still set).
		{"refunded then cancelled", []report{{"processing", yes, -3}, {"refunded", yes, 0}, {"cancelled", no, +3}}},
		// An agent that cannot tell: the status decides, as before.
		{"not known", []report{{"processing", nil, -3}, {"refunded", nil, 0}}},
	} {
		if !t.Run(tc.name, func(t *testing.T) {
			for j, r := range tc.reports {
				if _, err := e.orders.ApplyOrderReport(t.Context(), seller.ID, hub.OrderReport{
					WooOrderID: int64(i + 1), Number: fmt.Sprint(i + 1), Status: r.status, StockReduced: r.reduced,
					DateModified: t0.Add(time.Duration(i*10+j) * time.Second), Lines: []hub.OrderLine{{SKU: "S1", Quantity: 3}},
				}); err != nil {
					t.Fatal(err)
				}
				local["S1"] += r.local
			}
			MustEventsSumToTargetsLocal(t, e, seller, local)
			MustEventsSumToTargetsLocal(t, e, other, nil)
		}) {
			return
		}
	}
	MustLedgerReplay(t, e)
}

// applyLocal mirrors WooCommerce's own stock handling for the test's books.
func applyLocal(local map[string]int64, reduced map[[2]int64]bool, k [2]int64, status string, lines []hub.OrderLine) {
	sign := int64(0)
	switch status {
	case "processing", "on-hold", "completed":
		if !reduced[k] {
			sign, reduced[k] = -1, true
		}
	case "cancelled", "pending":
		if reduced[k] {
			sign, reduced[k] = 1, false
		}
	}
	for _, l := range lines {
		local[l.SKU] += sign * l.Quantity
	}
}

// MustLedgerReplay replays the ledger and compares with the current state.
func MustLedgerReplay(tb testing.TB, e *env) {
	tb.Helper()
	db, err := sql.Open("postgres", e.dsn)
	if err != nil {
		tb.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT sku, location, quantity, before, after FROM ledger ORDER BY id`)
	if err != nil {
		tb.Fatal(err)
	}
	defer rows.Close()
	onHand := map[[2]string]int64{}
	committed := map[string]int64{}
	safety := map[string]int64{}
	n := 0
	for rows.Next() {
		var sku, loc, q string
		var before, after int64
		if err := rows.Scan(&sku, &loc, &q, &before, &after); err != nil {
			tb.Fatal(err)
		}
		n++
		switch q {
		case "on_hand":
			v := onHand[[2]string{sku, loc}]
			if v != before {
				tb.Fatalf("ledger row %d: %s@%s before=%d, replay has %d", n, sku, loc, before, v)
			}
			onHand[[2]string{sku, loc}] = after
		case "committed":
			if committed[sku] != before {
				tb.Fatalf("ledger row %d: committed %s before=%d, replay has %d", n, sku, before, committed[sku])
			}
			committed[sku] = after
		case "safety_stock":
			if safety[sku] != before {
				tb.Fatalf("ledger row %d: safety %s before=%d, replay has %d", n, sku, before, safety[sku])
			}
			safety[sku] = after
		}
	}
	if err := rows.Err(); err != nil {
		tb.Fatal(err)
	}
	srows, err := db.Query(`SELECT sku, location, on_hand FROM stock`)
	if err != nil {
		tb.Fatal(err)
	}
	defer srows.Close()
	total := map[string]int64{}
	for srows.Next() {
		var sku, loc string
		var v int64
		if err := srows.Scan(&sku, &loc, &v); err != nil {
			tb.Fatal(err)
		}
		if onHand[[2]string{sku, loc}] != v {
			tb.Fatalf("stock %s@%s=%d, ledger replay %d", sku, loc, v, onHand[[2]string{sku, loc}])
		}
		total[sku] += v
	}
	krows, err := db.Query(`SELECT sku, on_hand, committed, safety_stock FROM skus`)
	if err != nil {
		tb.Fatal(err)
	}
	defer krows.Close()
	for krows.Next() {
		var sku string
		var oh, c, s int64
		if err := krows.Scan(&sku, &oh, &c, &s); err != nil {
			tb.Fatal(err)
		}
		if oh != total[sku] || c != committed[sku] || s != safety[sku] {
			tb.Fatalf("sku %s on_hand=%d committed=%d safety=%d; replay on_hand=%d committed=%d safety=%d",
				sku, oh, c, s, total[sku], committed[sku], safety[sku])
		}
	}
}

// MustEventsSumToTargets checks that for every store and SKU the deltas sent
// plus WooCommerce's own moves (local) equal the target.
func MustEventsSumToTargets(tb testing.TB, e *env, stores []hub.Store, _ map[int64]int64) {
	tb.Helper()
	for _, st := range stores {
		// Reconstruct WooCommerce's own moves from the orders.
		local := map[string]int64{}
		db, err := sql.Open("postgres", e.dsn)
		if err != nil {
			tb.Fatal(err)
		}
		rows, err := db.Query(`SELECT l.sku, sum(l.quantity) FROM orders o JOIN order_lines l ON l.order_id = o.id
			WHERE o.store_id = $1 AND o.woo_reduced AND l.error = '' GROUP BY l.sku`, st.ID)
		if err != nil {
			tb.Fatal(err)
		}
		for rows.Next() {
			var sku string
			var q int64
			rows.Scan(&sku, &q)
			local[sku] = -q
		}
		rows.Close()
		db.Close()
		MustEventsSumToTargetsLocal(tb, e, st, local)
	}
}

func MustEventsSumToTargetsLocal(tb testing.TB, e *env, st hub.Store, local map[string]int64) {
	tb.Helper()
	sum := map[string]int64{}
	var last int64
	for _, ev := range e.MustEvents(tb, st.ID) {
		if ev.Seq != last+1 {
			tb.Fatalf("store %d: seq %d after %d", st.ID, ev.Seq, last)
		}
		last = ev.Seq
		sum[ev.SKU] += ev.Delta
	}
	head, targets, err := e.events.Snapshot(context.Background(), st.ID)
	if err != nil {
		tb.Fatal(err)
	}
	if head != last {
		tb.Fatalf("store %d: head=%d, last event %d", st.ID, head, last)
	}
	for sku, target := range targets {
		if got := sum[sku] + local[sku]; got != target {
			tb.Fatalf("store %d sku %s: Σdelta %d + local %d = %d, target %d", st.ID, sku, sum[sku], local[sku], got, target)
		}
	}
}

// TestOrderService_GroupCommitKeepsEachOutcome: reports from many stores
// arrive at once and are committed in shared transactions; each still
// gets its own outcome. A revoked store's reports are refused without
// spoiling the others', a second delivery of an order counts once, an
// unknown SKU is parked, a raw payload jsonb cannot hold is kept cleaned,
// and every applied order gets its own feed position.
func TestOrderService_GroupCommitKeepsEachOutcome(t *testing.T) {
	t.Parallel()
	e := MustEnv(t)
	a, b, gone := e.MustStore(t, "a", 0), e.MustStore(t, "b", 0), e.MustStore(t, "gone", 0)
	if err := e.stores.Revoke(t.Context(), gone.ID); err != nil {
		t.Fatal(err)
	}
	e.MustCount(t, "HOT", "main", 1000)

	type outcome struct {
		store int64
		err   error
	}
	results := make(chan outcome, 200)
	var g errgroup.Group
	for i := range 60 {
		for _, st := range []hub.Store{a, b, gone} {
			g.Go(func() error {
				r := hub.OrderReport{WooOrderID: int64(1 + i%40), Status: "processing", DateModified: t0,
					Lines: []hub.OrderLine{{SKU: "HOT", Quantity: 1}, {SKU: "NOPE", Quantity: 5}}}
				if i == 7 {
					r.Raw = []byte(`{"id":8,"customer_note":"\u0000 leave at the door"}`)
				}
				_, err := e.orders.ApplyOrderReport(t.Context(), st.ID, r)
				results <- outcome{st.ID, err}
				return nil
			})
		}
	}
	g.Wait()
	close(results)
	for res := range results {
		switch {
		case res.store == gone.ID && hub.ErrorCode(res.err) != hub.EUNAUTHORIZED:
			t.Errorf("revoked store's report: err=%v, want EUNAUTHORIZED", res.err)
		case res.store != gone.ID && res.err != nil:
			t.Errorf("store %d's report: %v", res.store, res.err)
		}
	}
	// Orders 1–40 of a and of b, each once (20 of each were delivered twice).
	if s := e.MustStock(t, "HOT"); s.Committed != 80 {
		t.Fatalf("committed=%d, want 80", s.Committed)
	}
	feed, _, err := e.orders.Orders(t.Context(), hub.Page{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if len(feed) != 80 {
		t.Fatalf("feed has %d orders, want 80", len(feed))
	}
	for _, o := range feed {
		if o.StoreID == gone.ID {
			t.Fatalf("revoked store's order in the feed: %+v", o)
		}
		if len(o.Lines) != 2 || o.Lines[1].Error != postgres.LineErrorUnknownSKU {
			t.Fatalf("order %d lines=%+v, want NOPE parked", o.WooOrderID, o.Lines)
		}
	}
	var positions []int64
	e.MustSelect(t, &positions, `SELECT feed_pos FROM orders ORDER BY feed_pos`)
	for i, p := range positions {
		if p != int64(i+1) {
			t.Fatalf("feed positions %v, want 1..80 each once", positions)
		}
	}
	// The reports did share transactions (the last writer of a row is its
	// xmin), or this test would not exercise group commit.
	var txs int
	e.MustSelect(t, &txs, `SELECT count(DISTINCT xmin::text) FROM orders`)
	if txs >= 80 {
		t.Fatalf("80 orders written by %d transactions: no report shared one", txs)
	}
	t.Logf("80 orders committed by %d transactions", txs)
	var raw string
	e.MustSelect(t, &raw, `SELECT raw->>'customer_note' FROM orders WHERE store_id = $1 AND woo_order_id = 8`, a.ID)
	if raw != "\ufffd leave at the door" {
		t.Fatalf("raw note=%q", raw)
	}
	MustLedgerReplay(t, e)
	MustEventsSumToTargets(t, e, []hub.Store{a, b}, map[int64]int64{})
}

// TestOrderService_ReportsAfterConnectionsDropped: the order path runs
// prepared statements, which live in their connections. When every
// connection is dropped (a PostgreSQL restart, a failover), reports
// prepare them again on new connections and count as before.
func TestOrderService_ReportsAfterConnectionsDropped(t *testing.T) {
	t.Parallel()
	e := MustEnv(t)
	a := e.MustStore(t, "a", 0)
	e.MustStore(t, "b", 0)
	e.MustCount(t, "MUG", "main", 100)
	report := func(id int64) error {
		_, err := e.orders.ApplyOrderReport(t.Context(), a.ID, hub.OrderReport{
			WooOrderID: id, Status: "processing", DateModified: t0, Lines: []hub.OrderLine{{SKU: "MUG", Quantity: 1}},
		})
		return err
	}
	for id := range int64(3) {
		if err := report(id + 1); err != nil {
			t.Fatal(err)
		}
	}
	admin, err := sql.Open("postgres", e.dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	if _, err := admin.ExecContext(t.Context(), `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
		WHERE datname = current_database() AND pid <> pg_backend_pid()`); err != nil {
		t.Fatal(err)
	}
	// A report may meet a dropped connection, once per connection the
	// pool held (at most 32); the agent sends it again until it is
	// acknowledged, as here.
	for id := int64(4); id <= 6; id++ {
		err := report(id)
		for try := 0; err != nil && try < 33; try++ {
			err = report(id)
		}
		if err != nil {
			t.Fatalf("order %d after the connections were dropped: %v", id, err)
		}
	}
	if s := e.MustStock(t, "MUG"); s.Committed != 6 || s.Available != 94 {
		t.Fatalf("stock=%+v, want committed 6", s)
	}
}
