package woosim_test

import (
	"net/http"
	"runtime"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stockwire/stockwire/shared/woosim"
)

// BenchmarkRESTRequests measures simple OAuth-signed GET /products/{id}
// requests over real loopback HTTP, from parallel clients.
func BenchmarkRESTRequests(b *testing.B) {
	srv, err := woosim.Start(woosim.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Close()
	if err := srv.Store.Seed(woosim.SeedOptions{Products: 1000, Stock: 100}); err != nil {
		b.Fatal(err)
	}
	var ids []int64
	for _, sku := range srv.Store.SKUs() {
		id, _ := srv.Store.ProductIDBySKU(sku)
		ids = append(ids, id)
	}
	tr := &http.Transport{MaxIdleConnsPerHost: 64}
	defer tr.CloseIdleConnections()
	var n atomic.Int64
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		c := newClient(b, srv)
		c.hc = &http.Client{Transport: tr}
		i := 0
		for pb.Next() {
			i++
			r := c.do("GET", "/products/"+strconv.FormatInt(ids[i%len(ids)], 10), nil, nil)
			if r.status != 200 {
				b.Errorf("status %d: %s", r.status, r.body)
				return
			}
			n.Add(1)
		}
	})
	elapsed := time.Since(start)
	b.ReportMetric(float64(n.Load())/elapsed.Seconds(), "req/s")
}

// BenchmarkManyStores holds 100 stores of 1,000 products each in one
// process and reports the heap they take.
func BenchmarkManyStores(b *testing.B) {
	for range b.N {
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		var stores []*woosim.Server
		for i := range 100 {
			srv, err := woosim.Start(woosim.Options{})
			if err != nil {
				b.Fatal(err)
			}
			stores = append(stores, srv)
			if err := srv.Store.Seed(woosim.SeedOptions{Products: 1000, Stock: i}); err != nil {
				b.Fatal(err)
			}
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/(1<<20), "heap-MiB")
		if q, ok := stores[99].Store.StockBySKU("SKU-001000"); !ok || q != 99 {
			b.Fatalf("store 100 stock %d %v", q, ok)
		}
		for _, s := range stores {
			s.Close()
		}
	}
}
