package stock_test

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/stockwire/stockwire/agent/stock"
	"github.com/stockwire/stockwire/agent/wooclient"
	"github.com/stockwire/stockwire/shared/wire"
)

// BenchmarkWriter_Burst reports WooCommerce requests per stock change for a
// burst of 10,000 changes over 100 SKUs, and the heap held by a writer that
// knows a 10,000-SKU store.
func BenchmarkWriter_Burst(b *testing.B) {
	for b.Loop() {
		b.StopTimer()
		srv := mustSim(b, 10000)
		r := mustWriter(b, srv.URL, b.TempDir(), nil)
		b.StartTimer()
		burst(r.w, 10000, 100, 1)
		waitApplied(b, r.w, 10000)
		b.StopTimer()
		var reqs int64
		for _, n := range srv.Store.Stats().Requests {
			reqs += n
		}
		b.ReportMetric(float64(reqs)/10000, "requests/change")
		// Touch all 10,000 SKUs so the writer holds state for each.
		burst(r.w, 10000, 10000, 10001)
		waitApplied(b, r.w, 20000)
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		b.ReportMetric(float64(ms.HeapInuse)/(1<<20), "heap-MB(incl-sim)")
		r.stop()
		srv.Close()
		b.StartTimer()
	}
}

// BenchmarkWriter_Change measures the writer's hot path for one hub change
// at a time, as a fleet sees it: queued, written to the store (one batch
// request with inventory_delta and stockwire_seq) and confirmed. The store
// is woosim in this process, so ns/op and allocs/op include its side too:
// compare runs of this benchmark, not absolute figures. The writer first
// learns the whole catalog (a change to each SKU): what a change costs
// must not grow with it.
func BenchmarkWriter_Change(b *testing.B) {
	for _, catalog := range []int{100, 10_000} {
		b.Run(fmt.Sprintf("catalog=%d", catalog), func(b *testing.B) {
			srv := mustSim(b, catalog)
			r := mustWriter(b, srv.URL, b.TempDir(), func(c *stock.Config) { c.CheckInterval = time.Hour })
			target := burst(r.w, catalog, catalog, 1)
			seq := int64(catalog)
			waitApplied(b, r.w, seq)
			b.ReportAllocs()
			for b.Loop() {
				seq++
				s := sku(int(seq%100) + 1)
				target[s]--
				r.w.Apply([]wire.Change{{Seq: seq, SKU: s, Delta: -1, Target: target[s]}})
				for r.w.AppliedSeq() < seq {
					<-r.w.AppliedChanged()
				}
			}
		})
	}
}

// BenchmarkWriter_Heap100k reports the heap a writer holds for a store of
// 100,000 SKUs once their snapshot has come (a state per SKU).
func BenchmarkWriter_Heap100k(b *testing.B) {
	targets := make(map[string]int64, 100_000)
	for i := range 100_000 {
		targets[sku(i)] = int64(i)
	}
	for b.Loop() {
		before := heapAlloc()
		w, err := stock.New(stock.Config{API: &wooclient.Client{}, DataDir: b.TempDir()})
		if err != nil {
			b.Fatal(err)
		}
		w.ApplySnapshot(5, targets)
		b.ReportMetric(float64(heapAlloc()-before)/(1<<20), "heap-MB")
		runtime.KeepAlive(w)
	}
}

// BenchmarkWriter_Save100k saves the state file of a store of 100,000 SKUs
// with targets, as Run does every SaveEvery during a first sync; B/op is
// the garbage each save leaves for a small agent's collector.
func BenchmarkWriter_Save100k(b *testing.B) {
	targets := make(map[string]int64, 100_000)
	for i := range 100_000 {
		targets[sku(i)] = int64(i)
	}
	w, err := stock.New(stock.Config{API: &wooclient.Client{}, DataDir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	w.ApplySnapshot(5, targets)
	b.ReportAllocs()
	for b.Loop() {
		w.MarkUnsaved()
		if err := w.SaveState(); err != nil {
			b.Fatal(err)
		}
	}
}

// heapAlloc returns the live heap after a full collection.
func heapAlloc() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}
