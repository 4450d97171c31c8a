// The store's epoch: stockwire_seq markers of another epoch, or ahead of
// the hub's sequence, never make the writer skip a change.

package stock_test

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"

	"github.com/stockwire/stockwire/agent/stock"
	"github.com/stockwire/stockwire/agent/wooclient"
	"github.com/stockwire/stockwire/agent/wooclient/wooclienttest"
	"github.com/stockwire/stockwire/shared/wire"
	"github.com/stockwire/stockwire/shared/woo"
	"github.com/stockwire/stockwire/shared/woosim"
)

// setMarker writes value into sku's stockwire_seq, as an earlier writer
// left it.
func setMarker(t *testing.T, srv *woosim.Server, sku, value string) {
	t.Helper()
	id, ok := srv.Store.ProductIDBySKU(sku)
	if !ok {
		t.Fatalf("no product %s", sku)
	}
	res, err := storeClient(t, srv).BatchUpdateProducts(t.Context(), []wooclient.ProductUpdate{{ID: id,
		MetaData: []woo.MetaData{{Key: stock.MetaKey, Value: json.RawMessage(strconv.Quote(value))}}}})
	if err != nil || len(res) != 1 || res[0].Err != nil {
		t.Fatalf("set %s marker: %v %+v", sku, err, res)
	}
}

func storeClient(t *testing.T, srv *woosim.Server) *wooclient.Client {
	t.Helper()
	cl, err := wooclient.New(wooclienttest.Config(t, srv.URL, key, secret))
	if err != nil {
		t.Fatal(err)
	}
	return cl
}

func markerOf(t *testing.T, srv *woosim.Server, sku string) string {
	t.Helper()
	v, _ := srv.Store.MetaBySKU(sku, stock.MetaKey)
	return strings.Trim(string(v), `"`)
}

func TestWriter_MarkersOfAnotherEpochDoNotCount(t *testing.T) {
	t.Parallel()
	// The store was registered before (its products carry that
	// registration's markers, up to 50) and is now a new store at the
	// hub, whose sequence starts again.
	srv := mustSim(t, 3)
	setMarker(t, srv, sku(1), "0bd0bd0bd0bd0bd0:50")
	setMarker(t, srv, sku(2), "50") // written before epochs
	r := mustWriter(t, srv.URL, t.TempDir(), nil)
	r.w.Apply([]wire.Change{{Seq: 3, SKU: sku(1), Delta: -2, Target: 998}, {Seq: 4, SKU: sku(2), Delta: -3, Target: 997}})
	waitApplied(t, r.w, 4)
	if got := stockOf(t, srv, sku(1)); got != 998 {
		t.Fatalf("%s stock=%d, want 998: a marker of another epoch suppressed the change", sku(1), got)
	}
	if got := stockOf(t, srv, sku(2)); got != 997 {
		t.Fatalf("%s stock=%d, want 997: a marker without epoch suppressed the change", sku(2), got)
	}
	if got := markerOf(t, srv, sku(1)); got != wire.Marker(testEpoch, 3) {
		t.Fatalf("%s marker %q, want %q", sku(1), got, wire.Marker(testEpoch, 3))
	}
}

func TestWriter_MarkerAheadOfTheHubDoesNotCount(t *testing.T) {
	t.Parallel()
	// The hub was restored from a backup taken at sequence 10 while this
	// agent's saved sequence lagged: the store holds markers up to 50 of
	// the same epoch, and the hub now hands out 11 again for a new change.
	srv := mustSim(t, 3)
	setMarker(t, srv, sku(3), wire.Marker(testEpoch, 50))
	r := mustWriter(t, srv.URL, t.TempDir(), nil)
	r.w.Welcome(testEpoch, 10)
	r.w.Apply([]wire.Change{{Seq: 11, SKU: sku(3), Delta: -1, Target: 999}})
	waitApplied(t, r.w, 11)
	if got := stockOf(t, srv, sku(3)); got != 999 {
		t.Fatalf("stock=%d, want 999: a marker ahead of the hub suppressed the change", got)
	}
	if got := counter(t, r.reg, "stockwire_agent_stock_stale_markers_total"); got != 1 {
		t.Fatalf("stale markers counted %v, want 1", got)
	}
}

func TestWriter_NewEpochStartsOver(t *testing.T) {
	t.Parallel()
	srv := mustSim(t, 3)
	dir := t.TempDir()
	r := mustWriter(t, srv.URL, dir, nil)
	r.w.Apply([]wire.Change{{Seq: 1, SKU: sku(1), Delta: 5, Target: 1005}, {Seq: 2, SKU: sku(1), Delta: 1, Target: 1006}})
	waitApplied(t, r.w, 2)
	r.w.Welcome("f00df00df00df00d", 1)
	if got, epoch := r.w.AppliedSeq(), r.w.Epoch(); got != 0 || epoch != "f00df00df00df00d" {
		t.Fatalf("after a new epoch: AppliedSeq=%d epoch=%q, want 0 in the new epoch", got, epoch)
	}
	// The new epoch's snapshot at 1 sets the figure whole and marks it in
	// the new epoch, though the product's marker of the old one says 2.
	r.w.ApplySnapshot(1, map[string]int64{sku(1): 990})
	waitApplied(t, r.w, 1)
	waitStock(t, srv, sku(1), 990)
	if got := markerOf(t, srv, sku(1)); got != "f00df00df00df00d:1" {
		t.Fatalf("marker %q after the snapshot, want f00df00df00df00d:1", got)
	}
	r.stop()
	// The state file keeps the epoch with AppliedSeq.
	w, err := stock.New(stock.Config{API: storeClient(t, srv), DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if got, epoch := w.AppliedSeq(), w.Epoch(); got != 1 || epoch != "f00df00df00df00d" {
		t.Fatalf("after restart: AppliedSeq=%d epoch=%q, want 1 in f00df00df00df00d", got, epoch)
	}
}
