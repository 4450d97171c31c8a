package stock_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"golang.org/x/time/rate"

	"github.com/stockwire/stockwire/agent/catalog"
	"github.com/stockwire/stockwire/agent/stock"
	"github.com/stockwire/stockwire/agent/wooclient"
	"github.com/stockwire/stockwire/shared/systest"
	"github.com/stockwire/stockwire/shared/wire"
	"github.com/stockwire/stockwire/shared/woo"
	"github.com/stockwire/stockwire/shared/woosim"
)

const (
	key    = "ck_1111111111111111111111111111111111111111"
	secret = "cs_2222222222222222222222222222222222222222"
)

func mustSim(tb testing.TB, products int) *woosim.Server {
	tb.Helper()
	srv, err := woosim.Start(woosim.Options{ConsumerKey: key, ConsumerSecret: secret, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(srv.Close)
	if err := srv.Store.Seed(woosim.SeedOptions{Products: products, Stock: 1000}); err != nil {
		tb.Fatal(err)
	}
	return srv
}

func sku(i int) string { return fmt.Sprintf("SKU-%06d", i) }

type running struct {
	w    *stock.Writer
	reg  *prometheus.Registry
	stop func()
}

// mustWriter starts a writer against baseURL; stop cancels it and waits.
func mustWriter(tb testing.TB, baseURL, dir string, mod func(*stock.Config)) *running {
	tb.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(tb.Output(), nil))
	}
	cl, err := wooclient.New(wooclient.Config{BaseURL: baseURL, ConsumerKey: key, ConsumerSecret: secret, RateLimit: rate.Inf,
		MinBackoff: time.Millisecond, MaxBackoff: 10 * time.Millisecond, Timeout: 5 * time.Second, Logger: log})
	if err != nil {
		tb.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	cfg := stock.Config{API: cl, DataDir: dir, Logger: log, Registerer: reg,
		CheckInterval: 50 * time.Millisecond, ConfirmDelay: 150 * time.Millisecond, VerifyDelay: 10 * time.Millisecond}
	if mod != nil {
		mod(&cfg)
	}
	w, err := stock.New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		w.Run(ctx)
	}()
	var once sync.Once
	stop := func() { once.Do(func() { cancel(); <-done }) }
	tb.Cleanup(stop)
	return &running{w: w, reg: reg, stop: stop}
}

// waitTimeout bounds every wait of these tests.
const waitTimeout = 20 * time.Second

// waitApplied waits until w's AppliedSeq reaches seq.
func waitApplied(tb testing.TB, w *stock.Writer, seq int64) {
	tb.Helper()
	systest.WaitFor(tb, waitTimeout, fmt.Sprintf("applied %d", seq), func() error {
		if got := w.AppliedSeq(); got != seq {
			return fmt.Errorf("AppliedSeq=%d, want %d", got, seq)
		}
		return nil
	})
}

// waitStock waits until the store shows want for sku.
func waitStock(tb testing.TB, srv *woosim.Server, sku string, want int64) {
	tb.Helper()
	systest.WaitFor(tb, waitTimeout, fmt.Sprintf("%s at %d in the store", sku, want), func() error {
		if got := stockOf(tb, srv, sku); got != want {
			return fmt.Errorf("%s stock=%d, want %d", sku, got, want)
		}
		return nil
	})
}

// waitChecks waits until more than n safety-net rounds ran.
func waitChecks(tb testing.TB, w *stock.Writer, n int64) {
	tb.Helper()
	systest.WaitFor(tb, waitTimeout, fmt.Sprintf("more than %d safety-net rounds", n), func() error {
		if got := w.Checks(); got <= n {
			return fmt.Errorf("%d rounds", got)
		}
		return nil
	})
}

func stockOf(tb testing.TB, srv *woosim.Server, s string) int64 {
	tb.Helper()
	q, ok := srv.Store.StockBySKU(s)
	if !ok {
		tb.Fatalf("no stock for %s", s)
	}
	return q
}

func counter(tb testing.TB, reg *prometheus.Registry, name string, labels ...string) float64 {
	tb.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		tb.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			for i := 0; i+1 < len(labels); i += 2 {
				for _, lp := range m.GetLabel() {
					if lp.GetName() == labels[i] && lp.GetValue() != labels[i+1] {
						continue next
					}
				}
			}
			sum += m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
	}
	return sum
}

// burst makes n changes over skus SKUs, in hub messages of 100, and
// returns the final targets.
func burst(w *stock.Writer, n, skus int, firstSeq int64) map[string]int64 {
	targets := map[string]int64{}
	var msg []wire.Change
	for i := 0; i < n; i++ {
		s := sku(i%skus + 1)
		if _, ok := targets[s]; !ok {
			targets[s] = 1000
		}
		d := int64(rand.IntN(7) - 3)
		targets[s] += d
		msg = append(msg, wire.Change{Seq: firstSeq + int64(i), SKU: s, Delta: d, Target: targets[s]})
		if len(msg) == 100 {
			w.Apply(msg)
			msg = nil
		}
	}
	w.Apply(msg)
	return targets
}

func TestWriter_Burst(t *testing.T) {
	t.Parallel()
	srv := mustSim(t, 100)
	r := mustWriter(t, srv.URL, t.TempDir(), nil)
	targets := burst(r.w, 10000, 100, 1)
	waitApplied(t, r.w, 10000)
	for s, want := range targets {
		if got := stockOf(t, srv, s); got != want {
			t.Fatalf("%s stock=%d, want %d", s, got, want)
		}
		meta, _ := srv.Store.MetaBySKU(s, stock.MetaKey)
		if n, err := strconv.Atoi(strings.Trim(string(meta), `"`)); err != nil || n <= 9900 {
			t.Fatalf("%s %s=%s, want its last seq (>9900)", s, stock.MetaKey, meta)
		}
	}
	st := srv.Store.Stats()
	batches := st.Requests["POST /wp-json/wc/v3/products/batch 200"]
	if batches == 0 || batches > 100 {
		t.Fatalf("batch requests=%d, want 1..100 (stats %v)", batches, st.Requests)
	}
	if got := counter(t, r.reg, "stockwire_agent_stock_batches_total"); got != float64(batches) {
		t.Fatalf("batches metric=%v, want %d", got, batches)
	}
	if got := counter(t, r.reg, "stockwire_agent_stock_writes_coalesced_total"); got < 9000 {
		t.Fatalf("coalesced=%v, want most of 10000", got)
	}
	if probs, err := testutil.GatherAndLint(r.reg); err != nil || len(probs) > 0 {
		t.Fatalf("lint: %v %v", probs, err)
	}
	t.Logf("requests for 10000 changes: %v", st.Requests)
}

func TestWriter_UnknownSKUAndSnapshot(t *testing.T) {
	t.Parallel()
	srv := mustSim(t, 3)
	if _, _, err := srv.Store.CreateProduct(woosim.ProductSpec{Name: "Tee", SKU: "TEE", Variations: []woosim.VariationSpec{{Option: "S", SKU: "TEE-S", Stock: 5}, {Option: "M", Stock: 4}}}); err != nil {
		t.Fatal(err)
	}
	r := mustWriter(t, srv.URL, t.TempDir(), nil)
	r.w.Apply([]wire.Change{
		{Seq: 1, SKU: "NOPE", Delta: 5, Target: 5},
		{Seq: 2, SKU: sku(1), Delta: -10, Target: 990},
		{Seq: 3, SKU: "TEE-S", Delta: 2, Target: 7},
	})
	waitApplied(t, r.w, 3)
	if got := stockOf(t, srv, sku(1)); got != 990 {
		t.Fatalf("stock=%d, want 990", got)
	}
	if got := stockOf(t, srv, "TEE-S"); got != 7 {
		t.Fatalf("variation stock=%d, want 7", got)
	}
	if got := r.w.UnknownSKUs(); len(got) != 1 || got[0] != "NOPE" {
		t.Fatalf("unknown=%v", got)
	}
	if got := counter(t, r.reg, "stockwire_agent_stock_skipped_changes_total", "reason", "unknown_sku"); got != 1 {
		t.Fatalf("skipped unknown=%v", got)
	}

	r.w.ApplySnapshot(10, map[string]int64{sku(1): 42, sku(2): 7, "TEE-S": 1, "NOPE": 3})
	waitApplied(t, r.w, 10)
	for s, want := range map[string]int64{sku(1): 42, sku(2): 7, sku(3): 1000, "TEE-S": 1} {
		if got := stockOf(t, srv, s); got != want {
			t.Fatalf("%s=%d, want %d", s, got, want)
		}
	}
	// A replay of old changes changes nothing.
	r.w.Apply([]wire.Change{{Seq: 2, SKU: sku(1), Delta: -10, Target: 990}})
	r.w.Apply([]wire.Change{{Seq: 11, SKU: sku(1), Delta: 1, Target: 43}})
	waitApplied(t, r.w, 11)
	if got := stockOf(t, srv, sku(1)); got != 43 {
		t.Fatalf("stock=%d, want 43", got)
	}
}

// lossyProxy forwards to the store; when dropAfter is set the next batch is
// applied by the store but answered 502, when dropBefore it is answered
// 502 without reaching the store.
type lossyProxy struct {
	store      http.Handler
	dropAfter  atomic.Bool
	dropBefore atomic.Bool
}

func (p *lossyProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasSuffix(r.URL.Path, "/batch") {
		if p.dropBefore.CompareAndSwap(true, false) {
			http.Error(w, "bad gateway", 502)
			return
		}
		if p.dropAfter.CompareAndSwap(true, false) {
			p.store.ServeHTTP(httptest.NewRecorder(), r)
			http.Error(w, "bad gateway", 502)
			return
		}
	}
	p.store.ServeHTTP(w, r)
}

func TestWriter_UnknownOutcome(t *testing.T) {
	t.Parallel()
	srv := mustSim(t, 3)
	proxy := &lossyProxy{store: srv.Store}
	front := httptest.NewServer(proxy)
	t.Cleanup(front.Close)
	srv.Store.SetHomeURL(front.URL)
	dir := t.TempDir()

	t.Run("VerifiedApplied", func(t *testing.T) {
		r := mustWriter(t, front.URL, dir, nil)
		proxy.dropAfter.Store(true)
		r.w.Apply([]wire.Change{{Seq: 1, SKU: sku(1), Delta: -5, Target: 995}})
		waitApplied(t, r.w, 1)
		if got := stockOf(t, srv, sku(1)); got != 995 {
			t.Fatalf("stock=%d, want 995 (applied once)", got)
		}
		proxy.dropBefore.Store(true)
		r.w.Apply([]wire.Change{{Seq: 2, SKU: sku(1), Delta: -5, Target: 990}})
		waitApplied(t, r.w, 2)
		if got := stockOf(t, srv, sku(1)); got != 990 {
			t.Fatalf("stock=%d, want 990 (resent once)", got)
		}
		if got := counter(t, r.reg, "stockwire_agent_stock_writes_total", "result", "unknown_outcome"); got != 2 {
			t.Fatalf("unknown outcomes=%v, want 2", got)
		}
		r.stop()
	})
	t.Run("CrashRestart", func(t *testing.T) {
		// The writer dies after the store applied seq 3 but before it
		// learnt so: AppliedSeq stays 2.
		r := mustWriter(t, front.URL, dir, func(c *stock.Config) { c.VerifyDelay = time.Hour })
		if got := r.w.AppliedSeq(); got != 2 {
			t.Fatalf("AppliedSeq after restart=%d, want 2", got)
		}
		proxy.dropAfter.Store(true)
		r.w.Apply([]wire.Change{{Seq: 3, SKU: sku(1), Delta: -7, Target: 983}, {Seq: 4, SKU: sku(2), Delta: 1, Target: 1001}})
		waitStock(t, srv, sku(1), 983)
		waitStock(t, srv, sku(2), 1001)
		r.stop()
		if got := r.w.AppliedSeq(); got != 2 {
			t.Fatalf("AppliedSeq=%d, want 2 (outcome never confirmed)", got)
		}
		// The hub resends from AppliedSeq; the new writer reads
		// stockwire_seq and writes only what is missing.
		r2 := mustWriter(t, front.URL, dir, nil)
		if got := r2.w.AppliedSeq(); got != 2 {
			t.Fatalf("AppliedSeq after restart=%d, want 2", got)
		}
		r2.w.Apply([]wire.Change{{Seq: 3, SKU: sku(1), Delta: -7, Target: 983}, {Seq: 4, SKU: sku(2), Delta: 1, Target: 1001}, {Seq: 5, SKU: sku(1), Delta: 3, Target: 986}})
		waitApplied(t, r2.w, 5)
		if got := stockOf(t, srv, sku(1)); got != 986 {
			t.Fatalf("stock=%d, want 986 (seq 3 not applied twice)", got)
		}
		if got := stockOf(t, srv, sku(2)); got != 1001 {
			t.Fatalf("stock=%d, want 1001", got)
		}
	})
}

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
		if _, err := srv.Store.Checkout([]woosim.CheckoutLine{{SKU: sku(1), Quantity: 2}}); err != nil {
			t.Error(err)
		}
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
			r := mustWriter(t, srv.URL, t.TempDir(), func(c *stock.Config) { c.StoreEdits = mode })
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
			if got := counter(t, r.reg, "stockwire_agent_stock_repairs_total"); got != 0 {
				t.Fatalf("repairs=%v, want 0", got)
			}
		})
	}
}

func TestNew_Invalid(t *testing.T) {
	t.Parallel()
	if _, err := stock.New(stock.Config{DataDir: t.TempDir()}); err == nil {
		t.Fatal("want error without API")
	}
	cl, _ := wooclient.New(wooclient.Config{BaseURL: "http://127.0.0.1:1", ConsumerKey: "k", ConsumerSecret: "s"})
	if _, err := stock.New(stock.Config{API: cl, DataDir: t.TempDir(), StoreEdits: "ignore"}); err == nil {
		t.Fatal("want error for bad StoreEdits")
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "stock-writer.json"), []byte("{bad"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := stock.New(stock.Config{API: cl, DataDir: dir}); err == nil {
		t.Fatal("want error for corrupt state")
	}
}

// A snapshot that arrives while a local order is still waiting to be
// reported must not be written: the hub's figure does not count that sale
// yet, and writing it would put the sold unit back on sale.
func TestWriter_SnapshotWaitsForUnreportedOrders(t *testing.T) {
	t.Parallel()
	srv := mustSim(t, 2)
	var unreported atomic.Bool
	r := mustWriter(t, srv.URL, t.TempDir(), func(c *stock.Config) {
		c.Quiet = func() bool { return !unreported.Load() }
	})
	r.w.Apply([]wire.Change{{Seq: 1, SKU: sku(1), Delta: -990, Target: 10}})
	waitApplied(t, r.w, 1)

	// A checkout in the store; its report sits in the outbox when the
	// link comes back and the hub sends a snapshot that predates it.
	if _, err := srv.Store.Checkout([]woosim.CheckoutLine{{SKU: sku(1), Quantity: 1}}); err != nil {
		t.Fatal(err)
	}
	unreported.Store(true)
	r.w.ApplySnapshot(5, map[string]int64{sku(1): 10, sku(2): 1000})
	// The writer takes the snapshot up, holds it back, and keeps holding it
	// through safety-net rounds while the order is unreported.
	systest.WaitFor(t, waitTimeout, "the snapshot held back", func() error {
		if !r.w.Deferred() {
			return errors.New("no write deferred yet")
		}
		return nil
	})
	waitChecks(t, r.w, r.w.Checks()+3)
	if got := stockOf(t, srv, sku(1)); got != 9 || !r.w.Deferred() {
		t.Fatalf("snapshot written over an unreported sale: stock %d (want 9), still deferred %v", got, r.w.Deferred())
	}

	// The order is reported; the hub's next event carries the new target.
	r.w.Apply([]wire.Change{{Seq: 6, SKU: sku(1), Delta: 0, Target: 9}})
	unreported.Store(false)
	waitApplied(t, r.w, 6)
	if got := stockOf(t, srv, sku(1)); got != 9 {
		t.Fatalf("stock %d after the report, want 9", got)
	}
}

// The writer and the catalog scan share one SKU map: the writer resolves
// on demand what it must write and records it there, and a SKU it found
// unknown is written as soon as the map learns of it (from the scan or a
// webhook), not a ResolveTTL later.
func TestWriter_SharesTheSKUMap(t *testing.T) {
	t.Parallel()
	srv := mustSim(t, 2)
	skus := catalog.NewMap()
	r := mustWriter(t, srv.URL, t.TempDir(), func(c *stock.Config) { c.SKUs, c.ResolveTTL = skus, time.Hour })

	r.w.Apply([]wire.Change{{Seq: 1, SKU: sku(1), Delta: -1, Target: 999}, {Seq: 2, SKU: "LATE", Delta: 5, Target: 5}})
	waitApplied(t, r.w, 2)
	id1, _ := srv.Store.ProductIDBySKU(sku(1))
	if e, ok := skus.Lookup(sku(1)); !ok || e.ID() != id1 || !e.ManageStock {
		t.Fatalf("map entry of %s=%+v %v, want product %d as the writer read it", sku(1), e, ok, id1)
	}
	if got := r.w.UnknownSKUs(); len(got) != 1 || got[0] != "LATE" {
		t.Fatalf("unknown=%v, want LATE", got)
	}

	// The product is created in the store; the scan (or its webhook) puts
	// it in the map.
	id, _, err := srv.Store.CreateProduct(woosim.ProductSpec{Name: "Late", SKU: "LATE", ManageStock: true, Stock: 0})
	if err != nil {
		t.Fatal(err)
	}
	skus.Found("LATE", []woo.Product{{ID: id, SKU: "LATE", Type: "simple", ManageStock: json.RawMessage("true")}})
	r.w.Apply([]wire.Change{{Seq: 3, SKU: "LATE", Delta: 7, Target: 7}})
	waitApplied(t, r.w, 3)
	waitStock(t, srv, "LATE", 7)
	if got := r.w.UnknownSKUs(); len(got) != 0 {
		t.Fatalf("unknown=%v after the map learnt of LATE, want none", got)
	}
}

// A SKU that leaves the map (a product.deleted webhook, a scan that no
// longer finds it) is read afresh before the next write; one the map still
// places where the writer last read it is written without a read.
func TestWriter_FollowsTheSKUMap(t *testing.T) {
	t.Parallel()
	srv := mustSim(t, 2)
	skus := catalog.NewMap()
	// No safety net: every read counted here is one a write needed.
	r := mustWriter(t, srv.URL, t.TempDir(), func(c *stock.Config) { c.SKUs, c.CheckInterval = skus, time.Hour })
	reads := func() int64 { return srv.Store.Stats().Requests["GET /wp-json/wc/v3/products 200"] }
	r.w.Apply([]wire.Change{{Seq: 1, SKU: sku(1), Delta: -10, Target: 990}})
	waitApplied(t, r.w, 1)

	before := reads()
	r.w.Apply([]wire.Change{{Seq: 2, SKU: sku(1), Delta: -1, Target: 989}})
	waitApplied(t, r.w, 2)
	if got := reads() - before; got != 0 {
		t.Fatalf("%d reads before a write to a SKU the map and the writer agree on, want 0", got)
	}

	e, _ := skus.Lookup(sku(1))
	skus.Remove(e.ID())
	r.w.Apply([]wire.Change{{Seq: 3, SKU: sku(1), Delta: -1, Target: 988}})
	waitApplied(t, r.w, 3)
	if got := reads() - before; got != 1 {
		t.Fatalf("%d reads before a write to a SKU that left the map, want 1", got)
	}
	if got := stockOf(t, srv, sku(1)); got != 988 {
		t.Fatalf("stock=%d, want 988", got)
	}
	if e2, ok := skus.Lookup(sku(1)); !ok || e2.ID() != e.ID() {
		t.Fatalf("map entry %+v %v after the read, want product %d back", e2, ok, e.ID())
	}
}
