// The safety net: a checkout clobbered by WooCommerce's read-modify-write
// is repaired, and hand edits are reverted or accepted.

package stock_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/time/rate"

	"github.com/stockwire/stockwire/agent"
	"github.com/stockwire/stockwire/agent/stock"
	"github.com/stockwire/stockwire/agent/wooclient"
	"github.com/stockwire/stockwire/shared/systest"
	"github.com/stockwire/stockwire/shared/wire"
	"github.com/stockwire/stockwire/shared/woo"
	"github.com/stockwire/stockwire/shared/woosim"
	"github.com/stockwire/stockwire/shared/woosim/woosimtest"
)

// clobberingProxy forwards to the store, but runs the first stock write to
// product id the way WooCommerce runs inventory_delta when a checkout lands
// inside its read-modify-write: it reads the figure, lets inWindow (the
// checkout) run, and writes read + delta as an absolute figure, undoing the
// checkout's reduction.
type clobberingProxy struct {
	store    *woosim.Server
	id       int64
	sku      string
	inWindow func()
	done     atomic.Bool
}

func (p *clobberingProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasSuffix(r.URL.Path, "/products/batch") && !p.done.Load() {
		var body struct {
			Update []map[string]json.RawMessage `json:"update"`
		}
		b, err := io.ReadAll(r.Body)
		if err != nil || json.Unmarshal(b, &body) != nil {
			http.Error(w, "bad batch", http.StatusBadRequest)
			return
		}
		for _, it := range body.Update {
			var id, delta int64
			if json.Unmarshal(it["id"], &id) != nil || id != p.id || json.Unmarshal(it["inventory_delta"], &delta) != nil {
				continue
			}
			read, _ := p.store.Store.StockBySKU(p.sku)
			p.inWindow()
			it["stock_quantity"] = json.RawMessage(strconv.FormatInt(read+delta, 10))
			delete(it, "inventory_delta")
			p.done.Store(true)
		}
		b, _ = json.Marshal(body)
		r.Body, r.ContentLength = io.NopCloser(bytes.NewReader(b)), int64(len(b))
	}
	p.store.Store.ServeHTTP(w, r)
}

func TestWriter_RepairsClobberedCheckout(t *testing.T) {
	t.Parallel()
	srv := mustSim(t, 2)
	id, _ := srv.Store.ProductIDBySKU(sku(1))
	proxy := &clobberingProxy{store: srv, id: id, sku: sku(1)}
	proxy.done.Store(true) // not yet
	front := httptest.NewServer(proxy)
	t.Cleanup(front.Close)
	srv.Store.SetHomeURL(front.URL)
	r := mustWriter(t, front.URL, t.TempDir(), nil)
	r.w.Apply([]wire.Change{{Seq: 1, SKU: sku(1), Delta: -100, Target: 900}})
	waitApplied(t, r.w, 1)

	// WooCommerce's inventory_delta is read-modify-write; a checkout lands
	// inside the window and the write clobbers it.
	var sold atomic.Bool
	proxy.inWindow = func() {
		id, err := srv.Store.Checkout([]woosim.CheckoutLine{{SKU: sku(1), Quantity: 2}})
		if err != nil {
			t.Error(err)
		}
		r.w.OrderReported(wire.Order{WooOrderID: id, Status: "processing", Lines: []wire.OrderLine{{SKU: sku(1), Quantity: 2}}}, agent.Reported{})
		sold.Store(true)
		// The hub commits the reported order and sends this store its new
		// target, with nothing to write.
		r.w.Apply([]wire.Change{{Seq: 3, SKU: sku(1), Delta: 0, Target: 908}})
	}
	proxy.done.Store(false)
	r.w.Apply([]wire.Change{{Seq: 2, SKU: sku(1), Delta: 10, Target: 910}})
	waitApplied(t, r.w, 3)
	if !sold.Load() {
		t.Fatal("the write to clobber never reached the store")
	}
	// 900 + 10 − 2 sold = 908; the clobbered write left 910.
	waitStock(t, srv, sku(1), 908)
	if got := counter(t, r.reg, "stockwire_agent_stock_repairs_total"); got != 1 {
		t.Fatalf("repairs=%v, want 1", got)
	}
	if got := counter(t, r.reg, "stockwire_agent_stock_manual_edits_total"); got != 0 {
		t.Fatalf("manual edits=%v, want 0", got)
	}
}

func TestWriter_ManualEdit(t *testing.T) {
	t.Parallel()
	for _, mode := range []string{stock.EditsRevert, stock.EditsAccept} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			srv := mustSim(t, 2)
			var reported editLog
			r := mustWriter(t, srv.URL, t.TempDir(), func(c *stock.Config) {
				c.StoreEdits = mode
				if mode == stock.EditsAccept {
					c.ReportEdit = reported.report
				}
			})
			cl, err := wooclient.New(wooclient.Config{BaseURL: srv.URL, ConsumerKey: key, ConsumerSecret: secret, RateLimit: rate.Inf})
			if err != nil {
				t.Fatal(err)
			}
			r.w.Apply([]wire.Change{{Seq: 1, SKU: sku(1), Delta: -50, Target: 950}, {Seq: 2, SKU: sku(2), Delta: 5, Target: 1005}})
			waitApplied(t, r.w, 2)

			// Own write's webhook: not an edit.
			id1, _ := srv.Store.ProductIDBySKU(sku(1))
			p, err := cl.GetProduct(t.Context(), id1)
			if err != nil {
				t.Fatal(err)
			}
			if !r.w.Echo(p) {
				t.Fatalf("own write's webhook (stock %v, meta %+v) not taken for its echo", *p.StockQuantity, p.MetaData)
			}
			if err := r.w.ProductChanged(t.Context(), p); err != nil {
				t.Fatal(err)
			}
			// Hand edit of SKU 2.
			if err := srv.Store.AdminEdit(sku(2), 3); err != nil {
				t.Fatal(err)
			}
			id2, _ := srv.Store.ProductIDBySKU(sku(2))
			p2, err := cl.GetProduct(t.Context(), id2)
			if err != nil {
				t.Fatal(err)
			}
			if r.w.Echo(p2) {
				t.Fatal("a hand edit after the writer's own write (its marker still there) taken for an echo")
			}
			if err := r.w.ProductChanged(t.Context(), p2); err != nil {
				t.Fatal(err)
			}
			action := "reverted"
			if mode == stock.EditsAccept {
				action = "accepted"
			}
			systest.WaitFor(t, waitTimeout, "edit handled", func() error {
				if got := counter(t, r.reg, "stockwire_agent_stock_manual_edits_total", "action", action); got != 1 {
					return fmt.Errorf("manual edits %s=%v, want 1", action, got)
				}
				return nil
			})
			want := int64(1005)
			if mode == stock.EditsAccept {
				want = 3
			}
			waitStock(t, srv, sku(2), want)
			// Let a few more safety-net rounds pass: nothing else moves.
			n := r.w.Checks()
			waitChecks(t, r.w, n+5)
			if got := stockOf(t, srv, sku(1)); got != 950 {
				t.Fatalf("own write's SKU=%d, want 950", got)
			}
			if got := stockOf(t, srv, sku(2)); got != want {
				t.Fatalf("edited SKU=%d, want %d", got, want)
			}
			if got := counter(t, r.reg, "stockwire_agent_stock_manual_edits_total"); got != 1 {
				t.Fatalf("manual edits=%v, want 1", got)
			}
			// What the agent's status tells the hub: the edits set back.
			if got, want := r.w.EditsReverted(), int64(1); mode == stock.EditsAccept && got != 0 || mode != stock.EditsAccept && got != want {
				t.Fatalf("EditsReverted()=%d under %s", got, mode)
			}
			if got := counter(t, r.reg, "stockwire_agent_stock_repairs_total"); got != 0 {
				t.Fatalf("repairs=%v, want 0", got)
			}
			if mode != stock.EditsAccept {
				return
			}
			// The edit went to the hub once, from what the store should
			// have shown to what it showed.
			edits := reported.all()
			if len(edits) != 1 || edits[0].SKU != sku(2) || edits[0].From != 1005 || edits[0].To != 3 || edits[0].ID == "" {
				t.Fatalf("reported %+v, want one edit of %s from 1005 to 3", edits, sku(2))
			}
			// The hub counts it: the store's target moves with nothing
			// to write, and the store stays as it is.
			r.w.Apply([]wire.Change{{Seq: 3, SKU: sku(2), Delta: 0, Target: 3}})
			waitApplied(t, r.w, 3)
			n = r.w.Checks()
			waitChecks(t, r.w, n+5)
			if got := stockOf(t, srv, sku(2)); got != 3 {
				t.Fatalf("edited SKU=%d after the hub counted it, want 3", got)
			}
			if edits := reported.all(); len(edits) != 1 {
				t.Fatalf("reported %+v after the hub counted it, want the one edit", edits)
			}
		})
	}
}

// TestWriter_ModifiedReadFollowsStoreClock: once the store's clock has
// moved past the last change, the safety net's look at modified products
// no longer reads that change again, and still finds a hand edit whose
// webhook never came.
func TestWriter_ModifiedReadFollowsStoreClock(t *testing.T) {
	t.Parallel()
	var clock atomic.Int64 // the store's, in Unix nanoseconds
	t0 := time.Now().Truncate(time.Second)
	clock.Store(t0.UnixNano())
	srv := woosimtest.Start(t, woosim.Options{ConsumerKey: key, ConsumerSecret: secret, Logger: slog.New(slog.DiscardHandler),
		Now: func() time.Time { return time.Unix(0, clock.Load()) }}, woosim.SeedOptions{Products: 2, Stock: 1000})
	var lastAfter atomic.Pointer[string] // modified_after of the newest look
	srv.Store.SetOnRequest(func(r *http.Request) {
		if v := r.URL.Query().Get("modified_after"); v != "" && strings.HasSuffix(r.URL.Path, "/products") {
			lastAfter.Store(&v)
		}
	})
	r := mustWriter(t, srv.URL, t.TempDir(), nil)
	r.w.Apply([]wire.Change{{Seq: 1, SKU: sku(1), Delta: -50, Target: 950}, {Seq: 2, SKU: sku(2), Delta: 5, Target: 1005}})
	waitApplied(t, r.w, 2)

	clock.Add(int64(10 * time.Second))
	systest.WaitFor(t, waitTimeout, "a look that starts after the write", func() error {
		v := lastAfter.Load()
		if v == nil {
			return errors.New("no look yet")
		}
		after, err := time.Parse(woo.DateLayout, *v)
		if err != nil {
			return err
		}
		if !after.After(t0) {
			return fmt.Errorf("modified_after=%s still reads the write made at %s", *v, t0.UTC().Format(woo.DateLayout))
		}
		return nil
	})

	// A hand edit now, its webhook lost (the writer gets none here).
	if err := srv.Store.AdminEdit(sku(2), 3); err != nil {
		t.Fatal(err)
	}
	waitStock(t, srv, sku(2), 1005)
	// Set back once: as a hand edit, or as a repair when the look found
	// it within two rounds of the writer's own write to the SKU.
	edits := counter(t, r.reg, "stockwire_agent_stock_manual_edits_total", "action", "reverted")
	if repairs := counter(t, r.reg, "stockwire_agent_stock_repairs_total"); edits+repairs != 1 {
		t.Fatalf("manual edits reverted=%v, repairs=%v, want one correction", edits, repairs)
	}
}

// TestWriter_AcceptedEditNotStored: an accepted edit the outbox cannot
// take is not adopted; the safety net finds it again and reports it once
// the outbox takes it.
func TestWriter_AcceptedEditNotStored(t *testing.T) {
	t.Parallel()
	srv := mustSim(t, 1)
	var reported editLog
	reported.failures = 2
	r := mustWriter(t, srv.URL, t.TempDir(), func(c *stock.Config) {
		c.StoreEdits = stock.EditsAccept
		c.ReportEdit = reported.report
	})
	r.w.Apply([]wire.Change{{Seq: 1, SKU: sku(1), Delta: -900, Target: 100}})
	waitApplied(t, r.w, 1)
	// Rounds that read the store agreeing with the write: a difference
	// after them is an edit, not a write of ours gone wrong (no webhook
	// says so here).
	waitChecks(t, r.w, r.w.Checks()+3)
	if err := srv.Store.AdminEdit(sku(1), 120); err != nil {
		t.Fatal(err)
	}
	systest.WaitFor(t, waitTimeout, "the edit reported", func() error {
		if edits := reported.all(); len(edits) != 1 {
			return fmt.Errorf("reported %+v", edits)
		}
		return nil
	})
	if e := reported.all()[0]; e.From != 100 || e.To != 120 {
		t.Fatalf("reported %+v, want 100 → 120", e)
	}
	if got := counter(t, r.reg, "stockwire_agent_stock_manual_edits_total", "action", "accepted"); got != 3 {
		t.Fatalf("accepted %v times, want 3 (two the outbox refused)", got)
	}
	if got := stockOf(t, srv, sku(1)); got != 120 {
		t.Fatalf("store=%d, want the edit kept (120)", got)
	}
}

// editLog records the edits a writer reports, refusing the first failures.
type editLog struct {
	mu       sync.Mutex
	failures int
	edits    []wire.StoreEdit
}

func (l *editLog) report(_ context.Context, e wire.StoreEdit) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.failures > 0 {
		l.failures--
		return errors.New("outbox full")
	}
	l.edits = append(l.edits, e)
	return nil
}

func (l *editLog) all() []wire.StoreEdit {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.edits)
}

// TestWriter_ComparesFromRestart: an agent restarted with nothing pending
// gets no change from the hub (the resume has nothing new), yet it knows
// every SKU's target from its state file and corrects a figure that drifted
// while it was down.
func TestWriter_ComparesFromRestart(t *testing.T) {
	t.Parallel()
	srv := mustSim(t, 2)
	dir := t.TempDir()
	first := mustWriter(t, srv.URL, dir, nil)
	first.w.Apply([]wire.Change{{Seq: 1, SKU: sku(1), Delta: -950, Target: 50}})
	waitApplied(t, first.w, 1)
	waitStock(t, srv, sku(1), 50)
	first.stop()

	if err := srv.Store.AdminEdit(sku(1), 57); err != nil {
		t.Fatal(err)
	}
	second := mustWriter(t, srv.URL, dir, nil)
	if got := second.w.AppliedSeq(); got != 1 {
		t.Fatalf("AppliedSeq after restart=%d, want 1", got)
	}
	waitStock(t, srv, sku(1), 50)
	if got := stockOf(t, srv, sku(2)); got != 1000 {
		t.Fatalf("SKU without a target=%d, want 1000 untouched", got)
	}
}

// adminOrder creates a processing order through the store's REST API, as
// wp-admin does: WooCommerce reduces stock without checking it.
func adminOrder(tb testing.TB, srv *woosim.Server, s string, qty int64) int64 {
	tb.Helper()
	id, ok := srv.Store.ProductIDBySKU(s)
	if !ok {
		tb.Fatalf("no product %s", s)
	}
	body := fmt.Sprintf(`{"status":"processing","line_items":[{"product_id":%d,"quantity":%d}]}`, id, qty)
	req := httptest.NewRequest("POST", "https://store.test/wp-json/wc/v3/orders", strings.NewReader(body))
	req.SetBasicAuth(key, secret)
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	srv.Store.ServeHTTP(rec, req)
	if rec.Code != http.StatusCreated {
		tb.Fatalf("create order: %d %s", rec.Code, rec.Body)
	}
	var o struct {
		ID int64 `json:"id"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &o); err != nil {
		tb.Fatal(err)
	}
	return o.ID
}

// TestWriter_AllocateRepairsNegativeStock: under allocate, orders created
// through the REST API skip WooCommerce's stock check and take the store
// below zero. The hub counts only what it had granted (the rest is
// oversold), and a later grant adds to the negative figure. Once the hub
// has counted the orders, the store is set to the hub's figure.
func TestWriter_AllocateRepairsNegativeStock(t *testing.T) {
	t.Parallel()
	srv := mustSim(t, 2)
	r := mustWriter(t, srv.URL, t.TempDir(), func(c *stock.Config) { c.ConfirmLowDelay = 300 * time.Millisecond })
	r.w.SetAllocate(true)
	r.w.Apply([]wire.Change{{Seq: 1, SKU: sku(1), Delta: -995, Target: 5}})
	waitApplied(t, r.w, 1)

	for _, qty := range []int64{4, 8} {
		id := adminOrder(t, srv, sku(1), qty)
		r.w.OrderReported(wire.Order{WooOrderID: id, Status: "processing", Lines: []wire.OrderLine{{SKU: sku(1), Quantity: qty}}}, agent.Reported{})
	}
	if got := stockOf(t, srv, sku(1)); got != -7 {
		t.Fatalf("store after the admin orders=%d, want -7", got)
	}
	// The hub counts the 5 units it granted (the other 7 are oversold, not
	// compensated), then grants 5 more.
	r.w.Apply([]wire.Change{{Seq: 2, SKU: sku(1), Delta: 0, Target: 0}, {Seq: 3, SKU: sku(1), Delta: 5, Target: 5}})
	waitApplied(t, r.w, 3)
	waitStock(t, srv, sku(1), 5)
	n := r.w.Checks()
	waitChecks(t, r.w, n+5)
	if got := stockOf(t, srv, sku(1)); got != 5 {
		t.Fatalf("store=%d after more rounds, want 5", got)
	}
}
