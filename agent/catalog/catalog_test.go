package catalog_test

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"golang.org/x/time/rate"

	"github.com/stockwire/stockwire/agent/catalog"
	"github.com/stockwire/stockwire/agent/wooclient"
	"github.com/stockwire/stockwire/shared/woo"
)

// fakeStore serves products and variations from memory, paged like
// WooCommerce (X-WP-Total, X-WP-TotalPages, per_page ≤ 100). Auth is
// checked by agent/wooclient's own tests.
type fakeStore struct {
	mu       sync.Mutex
	products map[int64]woo.Product
}

func (f *fakeStore) add(p woo.Product) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if p.ManageStock == nil {
		p.ManageStock = json.RawMessage("true")
	}
	f.products[p.ID] = p
	if p.ParentID != 0 {
		par := f.products[p.ParentID]
		par.Variations = append(par.Variations, p.ID)
		f.products[p.ParentID] = par
	}
}

// shown is p as the API shows it: a variation without a SKU shows its
// parent's.
func (f *fakeStore) shown(p woo.Product) woo.Product {
	if p.ParentID != 0 && p.SKU == "" {
		p.SKU = f.products[p.ParentID].SKU
	}
	return p
}

func (f *fakeStore) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path := strings.TrimPrefix(r.URL.Path, woo.APIPrefix)
	parts := strings.Split(strings.Trim(path, "/"), "/")
	q := r.URL.Query()
	f.mu.Lock()
	defer f.mu.Unlock()
	var list []woo.Product
	switch {
	case len(parts) == 1 && parts[0] == "products":
		for _, p := range f.products {
			if p.ParentID == 0 {
				list = append(list, p)
			}
		}
	case len(parts) == 2 && parts[0] == "products":
		id, _ := strconv.ParseInt(parts[1], 10, 64)
		p, ok := f.products[id]
		if !ok {
			w.WriteHeader(404)
			w.Write([]byte(`{"code":"woocommerce_rest_product_invalid_id","message":"Invalid ID.","data":{"status":404}}`))
			return
		}
		json.NewEncoder(w).Encode(f.shown(p))
		return
	case len(parts) == 3 && parts[2] == "variations":
		id, _ := strconv.ParseInt(parts[1], 10, 64)
		for _, p := range f.products {
			if p.ParentID == id {
				list = append(list, f.shown(p))
			}
		}
	default:
		w.WriteHeader(404)
		return
	}
	sort.Slice(list, func(i, j int) bool { return list[i].ID < list[j].ID })
	page, _ := strconv.Atoi(q.Get("page"))
	per, _ := strconv.Atoi(q.Get("per_page"))
	if per > 100 {
		w.WriteHeader(400)
		return
	}
	lo, hi := min((page-1)*per, len(list)), min(page*per, len(list))
	w.Header().Set("X-WP-Total", strconv.Itoa(len(list)))
	w.Header().Set("X-WP-TotalPages", strconv.Itoa((len(list)+per-1)/per))
	json.NewEncoder(w).Encode(list[lo:hi])
}

func qty(n int64) *int64 { return &n }

func mustCatalog(tb testing.TB, f http.Handler, logw io.Writer) (*catalog.Catalog, *prometheus.Registry) {
	tb.Helper()
	srv := httptest.NewServer(f)
	tb.Cleanup(srv.Close)
	if logw == nil {
		logw = io.Discard
	}
	log := slog.New(slog.NewTextHandler(logw, nil))
	cl, err := wooclient.New(wooclient.Config{BaseURL: srv.URL, ConsumerKey: "ck_x", ConsumerSecret: "cs_x", RateLimit: rate.Inf, Logger: log})
	if err != nil {
		tb.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	c, err := catalog.New(catalog.Config{API: cl, Logger: log, Registerer: reg, ProgressEvery: 2})
	if err != nil {
		tb.Fatal(err)
	}
	return c, reg
}

type syncBuf struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestCatalog_Scan(t *testing.T) {
	t.Parallel()
	f := &fakeStore{products: map[int64]woo.Product{}}
	f.add(woo.Product{ID: 1, SKU: "A", Type: "simple", StockQuantity: qty(5)})
	f.add(woo.Product{ID: 2, SKU: "", Type: "simple", StockQuantity: qty(1)})    // empty
	f.add(woo.Product{ID: 3, SKU: "DUP", Type: "simple", StockQuantity: qty(1)}) // duplicate
	f.add(woo.Product{ID: 4, SKU: "DUP", Type: "simple", StockQuantity: qty(1)})
	f.add(woo.Product{ID: 5, SKU: "TEE", Type: "variable", ManageStock: json.RawMessage("false")})
	f.add(woo.Product{ID: 6, ParentID: 5, SKU: "TEE-S", Type: "variation", StockQuantity: qty(7)})
	f.add(woo.Product{ID: 7, ParentID: 5, SKU: "", Type: "variation", StockQuantity: qty(4)}) // inherited
	f.add(woo.Product{ID: 8, ParentID: 5, SKU: "TEE-L", Type: "variation", ManageStock: json.RawMessage(`"parent"`)})
	f.add(woo.Product{ID: 9, SKU: "", Type: "variable"}) // container without SKU: fine
	for i := int64(100); i < 450; i++ {
		f.add(woo.Product{ID: i, SKU: "BULK-" + strconv.FormatInt(i, 10), Type: "simple", StockQuantity: qty(i)})
	}
	logs := &syncBuf{}
	c, reg := mustCatalog(t, f, logs)
	rep, err := c.Scan(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if got, want := rep.Products, 356; got != want {
		t.Fatalf("Products=%d, want %d", got, want)
	}
	if got, want := rep.Variations, 3; got != want {
		t.Fatalf("Variations=%d, want %d", got, want)
	}
	// A, TEE, TEE-S, TEE-L, 350 bulk.
	if got, want := rep.Mapped, 354; got != want {
		t.Fatalf("Mapped=%d, want %d", got, want)
	}
	want := []catalog.Issue{
		{Kind: catalog.IssueDuplicateSKU, SKU: "DUP", ID: 3},
		{Kind: catalog.IssueDuplicateSKU, SKU: "DUP", ID: 4},
		{Kind: catalog.IssueEmptySKU, ID: 2},
		{Kind: catalog.IssueInheritedSKU, SKU: "TEE", ID: 7, ParentID: 5},
	}
	if got := rep.Issues; !equalIssues(got, want) {
		t.Fatalf("Issues=%+v, want %+v", got, want)
	}
	if _, ok := c.Lookup("DUP"); ok {
		t.Fatal("duplicate SKU mapped")
	}
	if e, ok := c.Lookup("TEE"); !ok || e.ProductID != 5 || e.VariationID != 0 {
		t.Fatalf("TEE=%+v %v, want the parent product", e, ok)
	}
	if e, ok := c.Lookup("TEE-S"); !ok || e != (catalog.Entry{SKU: "TEE-S", ProductID: 5, VariationID: 6, ParentID: 5, ManageStock: true, Qty: 7}) || e.ID() != 6 {
		t.Fatalf("TEE-S=%+v %v", e, ok)
	}
	if e, ok := c.Lookup("TEE-L"); !ok || e.ManageStock {
		t.Fatalf("TEE-L=%+v %v, want mapped, stock managed by parent", e, ok)
	}
	if e, ok := c.Lookup("A"); !ok || e != (catalog.Entry{SKU: "A", ProductID: 1, ManageStock: true, Qty: 5}) {
		t.Fatalf("A=%+v %v", e, ok)
	}
	if !strings.Contains(logs.String(), "catalog scan progress") {
		t.Fatal("no progress log for a multi-page catalog")
	}
	if probs, err := testutil.GatherAndLint(reg); err != nil || len(probs) > 0 {
		t.Fatalf("lint: %v %v", probs, err)
	}
	if err := testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP stockwire_agent_catalog_issues Catalog items left unmapped, by kind (empty, duplicate or inherited SKU).
# TYPE stockwire_agent_catalog_issues gauge
stockwire_agent_catalog_issues{kind="duplicate_sku"} 2
stockwire_agent_catalog_issues{kind="empty_sku"} 1
stockwire_agent_catalog_issues{kind="inherited_sku"} 1
# HELP stockwire_agent_catalog_skus SKUs mapped to a product or variation.
# TYPE stockwire_agent_catalog_skus gauge
stockwire_agent_catalog_skus 354
`), "stockwire_agent_catalog_issues", "stockwire_agent_catalog_skus"); err != nil {
		t.Fatal(err)
	}

	t.Run("UpdateFromWebhook", func(t *testing.T) {
		// Product 4 renamed: DUP is now unique, D2 new.
		if err := c.Update(t.Context(), woo.Product{ID: 4, SKU: "D2", Type: "simple", ManageStock: json.RawMessage("true"), StockQuantity: qty(9)}); err != nil {
			t.Fatal(err)
		}
		if e, ok := c.Lookup("DUP"); !ok || e.ProductID != 3 {
			t.Fatalf("DUP=%+v %v, want product 3 once unique", e, ok)
		}
		if e, ok := c.Lookup("D2"); !ok || e.Qty != 9 {
			t.Fatalf("D2=%+v %v", e, ok)
		}
		// Variation 7 gets its own SKU (the store now says so).
		f.mu.Lock()
		p := f.products[7]
		p.SKU = "TEE-M"
		f.products[7] = p
		f.mu.Unlock()
		if err := c.Refresh(t.Context(), 7); err != nil {
			t.Fatal(err)
		}
		if e, ok := c.Lookup("TEE-M"); !ok || e.VariationID != 7 {
			t.Fatalf("TEE-M=%+v %v", e, ok)
		}
		for _, is := range c.Issues() {
			if is.Kind == catalog.IssueInheritedSKU || is.Kind == catalog.IssueDuplicateSKU {
				t.Fatalf("stale issue %+v", is)
			}
		}
		// New variation on the parent: the parent's webhook brings it.
		f.add(woo.Product{ID: 10, ParentID: 5, SKU: "TEE-XL", Type: "variation", StockQuantity: qty(2)})
		if err := c.Refresh(t.Context(), 5); err != nil {
			t.Fatal(err)
		}
		if e, ok := c.Lookup("TEE-XL"); !ok || e.ParentID != 5 {
			t.Fatalf("TEE-XL=%+v %v", e, ok)
		}
		// Deleted product and gone product.
		c.Remove(5)
		if _, ok := c.Lookup("TEE-S"); ok {
			t.Fatal("variation of removed product still mapped")
		}
		f.mu.Lock()
		delete(f.products, 1)
		f.mu.Unlock()
		if err := c.Refresh(t.Context(), 1); err != nil {
			t.Fatal(err)
		}
		if _, ok := c.Lookup("A"); ok {
			t.Fatal("product gone from the store still mapped")
		}
	})
}

func equalIssues(a, b []catalog.Issue) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
