// What the store should show, under continuous sales: hand edits are
// undone while the store keeps selling, and no sale is lost or counted
// twice.

package stock_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stockwire/stockwire/agent"
	"github.com/stockwire/stockwire/agent/orders"
	"github.com/stockwire/stockwire/agent/stock"
	"github.com/stockwire/stockwire/shared/systest"
	"github.com/stockwire/stockwire/shared/wire"
	"github.com/stockwire/stockwire/shared/woo"
	"github.com/stockwire/stockwire/shared/woosim"
)

// fakeHub stands for the hub and the link of one store: it counts each
// order the store reports after a random delay and then sends the store
// what the hub sends for its own sale, its lower target without a delta
// to write.
type fakeHub struct {
	w       *stock.Writer
	orders  chan wire.Order
	pending atomic.Int64 // reported, not counted yet

	mu     sync.Mutex
	seq    int64
	target map[string]int64
}

func newFakeHub(w *stock.Writer, seq int64, targets map[string]int64) *fakeHub {
	return &fakeHub{w: w, orders: make(chan wire.Order, 1024), seq: seq, target: targets}
}

// report is the outbox append of o: the writer takes it, the hub counts it
// later.
func (h *fakeHub) report(o wire.Order) {
	h.pending.Add(1)
	h.w.OrderReported(o, agent.Reported{})
	h.orders <- o
}

// run counts reported orders until ctx ends.
func (h *fakeHub) run(ctx context.Context) {
	for {
		var o wire.Order
		select {
		case <-ctx.Done():
			return
		case o = <-h.orders:
		}
		// The link and the hub's commit take a while.
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Duration(rand.IntN(300)) * time.Millisecond):
		}
		var changes []wire.Change
		h.mu.Lock()
		for _, l := range o.Lines {
			h.seq++
			h.target[l.SKU] -= l.Quantity
			changes = append(changes, wire.Change{Seq: h.seq, SKU: l.SKU, Delta: 0, Target: h.target[l.SKU]})
		}
		h.mu.Unlock()
		h.w.Apply(changes)
		h.pending.Add(-1)
	}
}

func (h *fakeHub) targetOf(sku string) int64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.target[sku]
}

// TestWriter_EditsUndoneWhileSelling: the store takes about 10 checkouts a
// second, the hub counts each some time later, and hand edits up and down
// are reverted within seconds without any product webhook. Once the sales
// stop and the hub has counted them, the store shows the hub's figure: the
// edits are gone, every sale is still there, once.
func TestWriter_EditsUndoneWhileSelling(t *testing.T) {
	t.Parallel()
	srv := mustSim(t, 2)
	r := mustWriter(t, srv.URL, t.TempDir(), func(c *stock.Config) {
		c.CheckInterval, c.ConfirmDelay, c.ConfirmLowDelay = 200*time.Millisecond, 400*time.Millisecond, 1500*time.Millisecond
	})
	r.w.Apply([]wire.Change{{Seq: 1, SKU: sku(1), Delta: 0, Target: 1000}})
	waitApplied(t, r.w, 1)
	hub := newFakeHub(r.w, 1, map[string]int64{sku(1): 1000})
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	wg.Add(2)
	go func() { defer wg.Done(); hub.run(ctx) }()
	var sold atomic.Int64
	shoppers, stopShoppers := context.WithCancel(ctx)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(100 * time.Millisecond) // 10 checkouts a second
		defer tick.Stop()
		for {
			select {
			case <-shoppers.Done():
				return
			case <-tick.C:
			}
			id, err := srv.Store.Checkout([]woosim.CheckoutLine{{SKU: sku(1), Quantity: 1}})
			if err != nil {
				t.Error(err)
				return
			}
			sold.Add(1)
			hub.report(wire.Order{WooOrderID: id, Status: "processing", Lines: []wire.OrderLine{{SKU: sku(1), Quantity: 1}}})
		}
	}()
	waitSold := func(n int64) {
		t.Helper()
		systest.WaitFor(t, waitTimeout, fmt.Sprintf("%d checkouts", n), func() error {
			if got := sold.Load(); got < n {
				return fmt.Errorf("%d checkouts", got)
			}
			return nil
		})
	}
	waitSold(10)

	for i, edit := range []int64{+25, -25} {
		if err := srv.Store.AdminEdit(sku(1), stockOf(t, srv, sku(1))+edit); err != nil {
			t.Fatal(err)
		}
		// Generous: the figure is about 1 s for +25 and 2 s for −25.
		systest.WaitFor(t, 10*time.Second, fmt.Sprintf("edit %+d reverted", edit), func() error {
			if got := counter(t, r.reg, "stockwire_agent_stock_manual_edits_total", "action", "reverted"); got < float64(i+1) {
				return fmt.Errorf("reverted=%v, want %d", got, i+1)
			}
			return nil
		})
		waitSold(sold.Load() + 15) // still selling, and the revert is history
	}

	stopShoppers()
	systest.WaitFor(t, waitTimeout, "the hub counted every order", func() error {
		if n := hub.pending.Load(); n != 0 {
			return fmt.Errorf("%d orders not counted", n)
		}
		return nil
	})
	want := 1000 - sold.Load()
	if got := hub.targetOf(sku(1)); got != want {
		t.Fatalf("hub target=%d, want %d", got, want)
	}
	waitStock(t, srv, sku(1), want)
	n := r.w.Checks()
	waitChecks(t, r.w, n+5)
	if got := stockOf(t, srv, sku(1)); got != want {
		t.Fatalf("store=%d after more rounds, want %d", got, want)
	}
	if got := counter(t, r.reg, "stockwire_agent_stock_repairs_total"); got != 0 {
		t.Fatalf("repairs=%v, want 0 (a sale taken for a lost write)", got)
	}
	// A correction may come in two steps: the first one is sized
	// conservatively when a sale lands between the reads that size it.
	if got := counter(t, r.reg, "stockwire_agent_stock_manual_edits_total"); got < 2 || got > 4 {
		t.Fatalf("manual edits=%v, want 2 (4 at most)", got)
	}
}

// soldAtTen returns a writer (its Config changed by mod, when set) whose
// store shows the hub's target of 10 for sku(1), and the id of a checkout
// of qty units there that nobody has reported yet.
func soldAtTen(t *testing.T, qty int64, mod func(*stock.Config)) (*woosim.Server, *running, int64) {
	t.Helper()
	srv := mustSim(t, 1)
	r := mustWriter(t, srv.URL, t.TempDir(), mod)
	r.w.Apply([]wire.Change{{Seq: 1, SKU: sku(1), Delta: -990, Target: 10}})
	waitApplied(t, r.w, 1)
	id, err := srv.Store.Checkout([]woosim.CheckoutLine{{SKU: sku(1), Quantity: qty}})
	if err != nil {
		t.Fatal(err)
	}
	return srv, r, id
}

// noCorrections fails t if the writer's safety net corrected anything.
func noCorrections(t *testing.T, r *running) {
	t.Helper()
	if got := counter(t, r.reg, "stockwire_agent_stock_repairs_total") + counter(t, r.reg, "stockwire_agent_stock_manual_edits_total"); got != 0 {
		t.Fatalf("corrections=%v, want 0", got)
	}
}

// TestWriter_OrderReportedTwice: a webhook and the order poll report one
// order at once, each with no previous status; the sale counts once.
func TestWriter_OrderReportedTwice(t *testing.T) {
	t.Parallel()
	srv, r, id := soldAtTen(t, 1, nil)
	o := wire.Order{WooOrderID: id, Status: "processing", Lines: []wire.OrderLine{{SKU: sku(1), Quantity: 1}}}
	r.w.OrderReported(o, agent.Reported{})
	r.w.OrderReported(o, agent.Reported{})
	waitChecks(t, r.w, r.w.Checks()+10)
	r.w.Apply([]wire.Change{{Seq: 2, SKU: sku(1), Delta: 0, Target: 9}})
	waitApplied(t, r.w, 2)
	waitChecks(t, r.w, r.w.Checks()+10)
	if got := stockOf(t, srv, sku(1)); got != 9 {
		t.Fatalf("store=%d, want 9", got)
	}
	noCorrections(t, r)
}

// TestWriter_UnreportedSaleNotRaised: a sale whose report has not reached
// the writer (webhook lost, poll not round yet) shows as a figure too low
// for as long as it likes; the safety net finds the order in the store and
// does not put the sold unit back on sale.
func TestWriter_UnreportedSaleNotRaised(t *testing.T) {
	t.Parallel()
	srv, r, id := soldAtTen(t, 2, func(c *stock.Config) { c.ConfirmLowDelay = 200 * time.Millisecond })
	waitChecks(t, r.w, r.w.Checks()+20)
	if got := stockOf(t, srv, sku(1)); got != 8 {
		t.Fatalf("store with a sale not reported yet=%d, want 8", got)
	}
	r.w.OrderReported(wire.Order{WooOrderID: id, Status: "processing", Lines: []wire.OrderLine{{SKU: sku(1), Quantity: 2}}}, agent.Reported{})
	r.w.Apply([]wire.Change{{Seq: 2, SKU: sku(1), Delta: 0, Target: 8}})
	waitApplied(t, r.w, 2)
	waitChecks(t, r.w, r.w.Checks()+10)
	if got := stockOf(t, srv, sku(1)); got != 8 {
		t.Fatalf("store=%d, want 8", got)
	}
	noCorrections(t, r)
}

// TestWriter_UnreportedCancellationNotLowered: the other side of
// TestWriter_UnreportedSaleNotRaised. A reported sale is cancelled in the
// store, which restocks it, and the cancellation's report is late (its
// webhook lost, the poll not round yet). The figure is then too high for a
// while; the safety net finds the cancelled order in the store and does
// not take the restocked units off sale as a hand edit. (Found by the chaos
// soak: at 30% lost webhooks every cancellation was "reverted".)
func TestWriter_UnreportedCancellationNotLowered(t *testing.T) {
	t.Parallel()
	srv, r, id := soldAtTen(t, 2, nil)
	sale := wire.Order{WooOrderID: id, Status: "processing", Lines: []wire.OrderLine{{SKU: sku(1), Quantity: 2}}}
	r.w.OrderReported(sale, agent.Reported{})
	r.w.Apply([]wire.Change{{Seq: 2, SKU: sku(1), Delta: 0, Target: 8}})
	waitApplied(t, r.w, 2)
	if err := srv.Store.SetOrderStatus(id, "cancelled"); err != nil {
		t.Fatal(err)
	}
	waitChecks(t, r.w, r.w.Checks()+20)
	if got := stockOf(t, srv, sku(1)); got != 10 {
		t.Fatalf("store with a cancellation not reported yet=%d, want 10 (restocked)", got)
	}
	cancelled := sale
	cancelled.Status = "cancelled"
	r.w.OrderReported(cancelled, agent.Reported{Status: "processing", StockReduced: true})
	r.w.Apply([]wire.Change{{Seq: 3, SKU: sku(1), Delta: 0, Target: 10}})
	waitApplied(t, r.w, 3)
	waitChecks(t, r.w, r.w.Checks()+10)
	if got := stockOf(t, srv, sku(1)); got != 10 {
		t.Fatalf("store=%d, want 10", got)
	}
	noCorrections(t, r)
}

// TestWriter_FailedAndPaidAgain: an order fails after its stock was taken
// and is then paid. WooCommerce puts nothing back on failed and takes
// nothing on the second processing (its order flag is still set); the hub
// counts the order's lines twice, releases them once, and writes what
// WooCommerce did not do. The writer goes by the same rule, so it expects
// no second sale and makes no correction. Each report is built from the
// store's order, as the agent reports it.
func TestWriter_FailedAndPaidAgain(t *testing.T) {
	t.Parallel()
	srv, r, id := soldAtTen(t, 2, nil)
	var prev agent.Reported
	report := func(status string) {
		t.Helper()
		if status != "processing" || prev.Status != "" {
			if err := srv.Store.SetOrderStatus(id, status); err != nil {
				t.Fatal(err)
			}
		}
		o, _ := srv.Store.Order(id)
		rep, err := orders.FromWoo(o, orders.SourceWebhook)
		if err != nil {
			t.Fatal(err)
		}
		r.w.OrderReported(rep, prev)
		_, reduced := woo.StockEffect(prev.StockReduced, rep.Status, rep.StockReduced)
		prev = agent.Reported{Status: rep.Status, Modified: rep.DateModified, StockReduced: reduced}
	}
	// The hub's changes for the seller: the sale counted without a
	// write, the release written, the second count written.
	steps := []struct {
		status string
		change wire.Change
		store  int64
	}{
		{"processing", wire.Change{Seq: 2, SKU: sku(1), Delta: 0, Target: 8}, 8},
		{"failed", wire.Change{Seq: 3, SKU: sku(1), Delta: +2, Target: 10}, 10},
		{"processing", wire.Change{Seq: 4, SKU: sku(1), Delta: -2, Target: 8}, 8},
	}
	for _, st := range steps {
		report(st.status)
		r.w.Apply([]wire.Change{st.change})
		waitApplied(t, r.w, st.change.Seq)
		waitChecks(t, r.w, r.w.Checks()+10)
		if got := stockOf(t, srv, sku(1)); got != st.store {
			t.Fatalf("after %s: store=%d, want %d", st.status, got, st.store)
		}
	}
	noCorrections(t, r)
}

// TestWriter_LowWaitsForTheHubsCount: an agent restarted after the hub
// acknowledged a sale of its store but before the change counting it
// arrived has no memory of that sale; the outbox says it was reported.
// The store then looks 3 low against the saved figure, but the units are
// sold: they are not put back on sale before the changes the hub had made
// when it welcomed the agent are applied, and after them nothing is
// wrong. (Found by the chaos soak: allocate stores sold units never
// granted after agent kills.)
func TestWriter_LowWaitsForTheHubsCount(t *testing.T) {
	t.Parallel()
	srv := mustSim(t, 1)
	r := mustWriter(t, srv.URL, t.TempDir(), func(c *stock.Config) {
		c.ConfirmLowDelay = 200 * time.Millisecond
		c.Reported = func(int64) (agent.Reported, bool) {
			return agent.Reported{Status: "processing", StockReduced: true}, true
		}
		c.LowSettle = 300 * time.Millisecond
	})
	r.w.Apply([]wire.Change{{Seq: 1, SKU: sku(1), Delta: -990, Target: 10}})
	waitApplied(t, r.w, 1)
	if _, err := srv.Store.Checkout([]woosim.CheckoutLine{{SKU: sku(1), Quantity: 3}}); err != nil {
		t.Fatal(err)
	}
	r.w.Welcome(testEpoch, 2) // the change counting the sale is seq 2
	waitChecks(t, r.w, r.w.Checks()+20)
	if got := stockOf(t, srv, sku(1)); got != 7 {
		t.Fatalf("store=%d before the hub's count is applied, want 7 (the sold units stay sold)", got)
	}
	r.w.Apply([]wire.Change{{Seq: 2, SKU: sku(1), Delta: 0, Target: 7}})
	waitApplied(t, r.w, 2)
	waitChecks(t, r.w, r.w.Checks()+10)
	if got := stockOf(t, srv, sku(1)); got != 7 {
		t.Fatalf("store=%d, want 7", got)
	}
	noCorrections(t, r)
}

// TestWriter_LowAfterStart: after a start, the safety net raises a figure
// that looks low once the writer is ready, not before. A mirror store is
// ready once the orders it cannot know of have reached the hub (CaughtUp),
// even while new orders keep the outbox from ever being empty (Quiet), as
// under steady traffic. An allocate store, where a figure raised in error
// sells units never granted, waits for the outbox to empty, caught up or
// not.
func TestWriter_LowAfterStart(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		allocate bool
	}{{"MirrorOnceCaughtUp", false}, {"AllocateOnceQuiet", true}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := mustSim(t, 1)
			// ready is the condition the store waits for. The mirror
			// store's outbox is never empty; the allocate store's writer
			// is caught up from the start.
			var ready atomic.Bool
			r := mustWriter(t, srv.URL, t.TempDir(), func(c *stock.Config) {
				c.ConfirmLowDelay = 200 * time.Millisecond
				c.Quiet, c.CaughtUp = func() bool { return false }, ready.Load
				if tc.allocate {
					c.Quiet, c.CaughtUp = ready.Load, func() bool { return true }
				}
				c.LowSettle = 100 * time.Millisecond
			})
			r.w.SetAllocate(tc.allocate)
			r.w.Apply([]wire.Change{{Seq: 1, SKU: sku(1), Delta: -990, Target: 10}})
			waitApplied(t, r.w, 1)
			if err := srv.Store.AdminEdit(sku(1), 4); err != nil { // by hand, below the hub's figure
				t.Fatal(err)
			}
			waitChecks(t, r.w, r.w.Checks()+20)
			if got := stockOf(t, srv, sku(1)); got != 4 {
				t.Fatalf("store=%d raised before the writer was ready, want 4", got)
			}
			ready.Store(true)
			waitStock(t, srv, sku(1), 10)
		})
	}
}
