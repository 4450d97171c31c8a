package catalog_test

import (
	"io"
	"log/slog"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/stockwire/stockwire/agent/catalog"
	"github.com/stockwire/stockwire/agent/wooclient/wooclienttest"
	"github.com/stockwire/stockwire/shared/woosim"
	"github.com/stockwire/stockwire/shared/woosim/woosimtest"
)

func mustSimCatalog(tb testing.TB, simple, variable int) (*catalog.Catalog, *woosim.Server) {
	tb.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	srv := woosimtest.Start(tb, woosim.Options{ConsumerKey: "ck_a", ConsumerSecret: "cs_b", Logger: log},
		woosim.SeedOptions{Products: simple, Variable: variable, VariationsPer: 3, Stock: 5})
	cl := wooclienttest.New(tb, srv)
	c, err := catalog.New(catalog.Config{API: cl, Logger: log, Registerer: prometheus.NewRegistry(), Workers: 4})
	if err != nil {
		tb.Fatal(err)
	}
	return c, srv
}

// TestCatalog_Woosim maps a woosim catalog with variations, including a
// variation without its own SKU and a product without SKU.
func TestCatalog_Woosim(t *testing.T) {
	t.Parallel()
	c, srv := mustSimCatalog(t, 2000, 200)
	if _, _, err := srv.Store.CreateProduct(woosim.ProductSpec{Name: "Tee", SKU: "TEE", Variations: []woosim.VariationSpec{{Option: "S", SKU: "TEE-S", Stock: 5}, {Option: "M", Stock: 4}}}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := srv.Store.CreateProduct(woosim.ProductSpec{Name: "No SKU", ManageStock: true, Stock: 1}); err != nil {
		t.Fatal(err)
	}
	rep, err := c.Scan(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if got, want := rep.Mapped, 2000+200+600+2; got != want {
		t.Fatalf("Mapped=%d, want %d", got, want)
	}
	kinds := map[catalog.IssueKind]int{}
	for _, is := range rep.Issues {
		kinds[is.Kind]++
	}
	if kinds[catalog.IssueInheritedSKU] != 1 || kinds[catalog.IssueEmptySKU] != 1 {
		t.Fatalf("issues=%+v", rep.Issues)
	}
	e, ok := c.Lookup("TEE-S")
	if !ok || e.VariationID == 0 || e.ParentID == 0 {
		t.Fatalf("TEE-S=%+v %v", e, ok)
	}
}

// BenchmarkCatalog_Scan50k maps 50,000 products (45,000 simple, 5,000
// variable with 3 variations each) served by woosim.
func BenchmarkCatalog_Scan50k(b *testing.B) {
	c, _ := mustSimCatalog(b, 45000, 5000)
	for b.Loop() {
		rep, err := c.Scan(b.Context())
		if err != nil {
			b.Fatal(err)
		}
		if rep.Mapped != 65000 {
			b.Fatalf("Mapped=%d, want 65000", rep.Mapped)
		}
	}
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	b.ReportMetric(float64(ms.HeapInuse)/(1<<20), "heap-MB(incl-sim)")
}

// BenchmarkCatalog_RescanHeap100k reports the heap a rescan of a store of
// 100,000 products holds besides the full map in use (rescan-MB), measured
// as the store is asked for the last page: a scan that built a second map
// held nearly all of it by then.
func BenchmarkCatalog_RescanHeap100k(b *testing.B) {
	const products = 100_000
	c, srv := mustSimCatalog(b, products, 0)
	if _, err := c.Scan(b.Context()); err != nil {
		b.Fatal(err)
	}
	lastPage := strconv.Itoa(products / 100)
	for b.Loop() {
		var extra float64
		before := heapAlloc()
		srv.Store.SetOnRequest(func(r *http.Request) {
			if strings.HasSuffix(r.URL.Path, "/products") && r.URL.Query().Get("page") == lastPage {
				extra = float64(heapAlloc()) - float64(before)
			}
		})
		rep, err := c.Scan(b.Context())
		srv.Store.SetOnRequest(nil)
		if err != nil {
			b.Fatal(err)
		}
		if rep.Mapped != products {
			b.Fatalf("Mapped=%d, want %d", rep.Mapped, products)
		}
		b.ReportMetric(extra/(1<<20), "rescan-MB")
	}
}
