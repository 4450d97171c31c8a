package stock_test

import (
	"testing"

	"github.com/stockwire/stockwire/agent/stock"
	"github.com/stockwire/stockwire/agent/wooclient"
)

// TestWriter_StateFile: the targets and the applied sequence saved in
// stock-writer.json come back in a writer started on the same data dir,
// SKUs that need escaping in JSON included.
func TestWriter_StateFile(t *testing.T) {
	dir := t.TempDir()
	w, err := stock.New(stock.Config{API: &wooclient.Client{}, DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	targets := map[string]int64{"TEE-M": 4, `q"uo\te`: 0, "ü,x\n": 12}
	w.Welcome("e1", 7)
	w.ApplySnapshot(7, targets)
	if err := w.SaveState(); err != nil {
		t.Fatal(err)
	}

	again, err := stock.New(stock.Config{API: &wooclient.Client{}, DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := again.Epoch(), "e1"; got != want {
		t.Errorf("Epoch=%q, want %q", got, want)
	}
	for sku, want := range targets {
		got, seq, ok := again.Target(sku)
		if !ok || got != want || seq != 7 {
			t.Errorf("Target(%q)=%d seq %d (%v), want %d seq 7", sku, got, seq, ok, want)
		}
	}
	if _, _, ok := again.Target("OTHER"); ok {
		t.Error("a SKU never sent has a target")
	}
}
