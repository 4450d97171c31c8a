package catalog_test

import (
	"fmt"
	"runtime"
	"testing"

	"github.com/stockwire/stockwire/agent/catalog"
	"github.com/stockwire/stockwire/shared/woo"
)

// BenchmarkMap_Heap100k reports the heap the SKU map holds for a store of
// 100,000 products.
func BenchmarkMap_Heap100k(b *testing.B) {
	ps := make([]woo.Product, 100_000)
	for i := range ps {
		q := int64(5)
		ps[i] = woo.Product{ID: int64(i + 1), SKU: fmt.Sprintf("SKU-%06d", i+1), Type: "simple", ManageStock: []byte("true"), StockQuantity: &q}
	}
	for b.Loop() {
		before := heapAlloc()
		m := catalog.NewMap()
		for _, p := range ps {
			m.Found(p.SKU, []woo.Product{p})
		}
		b.ReportMetric(float64(heapAlloc()-before)/(1<<20), "heap-MB")
		runtime.KeepAlive(m)
	}
}

// heapAlloc returns the live heap after a full collection.
func heapAlloc() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}
