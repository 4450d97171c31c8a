// The writer as a whole: construction, bursts, unknown SKUs, snapshots
// and the SKU map it shares with the catalog.

package stock_test

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/stockwire/stockwire/agent/catalog"
	"github.com/stockwire/stockwire/agent/stock"
	"github.com/stockwire/stockwire/agent/wooclient"
	"github.com/stockwire/stockwire/shared/systest"
	"github.com/stockwire/stockwire/shared/wire"
	"github.com/stockwire/stockwire/shared/woo"
	"github.com/stockwire/stockwire/shared/woosim"
)

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
		epoch, n, ok := wire.ParseMarker(strings.Trim(string(meta), `"`))
		if !ok || epoch != testEpoch || n <= 9900 {
			t.Fatalf("%s %s=%s, want its last seq (>9900) in epoch %s", s, stock.MetaKey, meta, testEpoch)
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
