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

// get returns product or variation id as the API shows it, as a webhook
// would bring it.
func (f *fakeStore) get(id int64) woo.Product {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.shown(f.products[id])
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
	if err := testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP stockwire_agent_catalog_scan_complete 1 once a full catalog scan has filled the SKU map, 0 while the first one runs.
# TYPE stockwire_agent_catalog_scan_complete gauge
stockwire_agent_catalog_scan_complete 0
`), "stockwire_agent_catalog_scan_complete"); err != nil {
		t.Fatal(err)
	}
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
	if e, ok := c.Lookup("TEE-S"); !ok || e != (catalog.Entry{SKU: "TEE-S", ProductID: 5, VariationID: 6, ParentID: 5, ManageStock: true}) || e.ID() != 6 {
		t.Fatalf("TEE-S=%+v %v", e, ok)
	}
	if e, ok := c.Lookup("TEE-L"); !ok || e.ManageStock {
		t.Fatalf("TEE-L=%+v %v, want mapped, stock managed by parent", e, ok)
	}
	if e, ok := c.Lookup("A"); !ok || e != (catalog.Entry{SKU: "A", ProductID: 1, ManageStock: true}) {
		t.Fatalf("A=%+v %v", e, ok)
	}
	if out := logs.String(); !strings.Contains(out, "catalog scan progress") || !strings.Contains(out, "catalog scanned") || !strings.Contains(out, "skus=354") {
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
# HELP stockwire_agent_catalog_scan_complete 1 once a full catalog scan has filled the SKU map, 0 while the first one runs.
# TYPE stockwire_agent_catalog_scan_complete gauge
stockwire_agent_catalog_scan_complete 1
# HELP stockwire_agent_catalog_scan_read_items Products and variations read by the catalog scan in progress, or by the last one.
# TYPE stockwire_agent_catalog_scan_read_items gauge
stockwire_agent_catalog_scan_read_items 359
# HELP stockwire_agent_catalog_skus SKUs mapped to a product or variation.
# TYPE stockwire_agent_catalog_skus gauge
stockwire_agent_catalog_skus 354
`), "stockwire_agent_catalog_issues", "stockwire_agent_catalog_scan_complete", "stockwire_agent_catalog_scan_read_items", "stockwire_agent_catalog_skus"); err != nil {
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
		if e, ok := c.Lookup("D2"); !ok || e.ProductID != 4 || !e.ManageStock {
			t.Fatalf("D2=%+v %v", e, ok)
		}
		// Variation 7 gets its own SKU (the store now says so).
		f.mu.Lock()
		p := f.products[7]
		p.SKU = "TEE-M"
		f.products[7] = p
		f.mu.Unlock()
		if err := c.Update(t.Context(), f.get(7)); err != nil {
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
		if err := c.Update(t.Context(), f.get(5)); err != nil {
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
		// A product.deleted webhook.
		c.Remove(1)
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

func TestMap_Found(t *testing.T) {
	t.Parallel()
	m := catalog.NewMap()
	m.Found("A", []woo.Product{{ID: 1, SKU: "A", Type: "simple", ManageStock: json.RawMessage("true"), StockQuantity: qty(3)}})
	if e, ok := m.Lookup("A"); !ok || e != (catalog.Entry{SKU: "A", ProductID: 1, ManageStock: true}) {
		t.Fatalf("A=%+v %v after a read found it", e, ok)
	}
	m.Found("V", []woo.Product{{ID: 7, ParentID: 5, SKU: "V", Type: "variation", ManageStock: json.RawMessage("true")}})
	if e, ok := m.Lookup("V"); !ok || e.ID() != 7 || e.ParentID != 5 {
		t.Fatalf("V=%+v %v, want variation 7 of 5", e, ok)
	}
	// The SKU moved to another product: the old holder is forgotten.
	m.Found("A", []woo.Product{{ID: 2, SKU: "A", Type: "simple"}})
	if e, ok := m.Lookup("A"); !ok || e.ProductID != 2 {
		t.Fatalf("A=%+v %v, want product 2", e, ok)
	}
	// Held twice: not mapped, and reported.
	m.Found("A", []woo.Product{{ID: 2, SKU: "A"}, {ID: 3, SKU: "A"}})
	if _, ok := m.Lookup("A"); ok {
		t.Fatal("duplicate SKU mapped")
	}
	if got := len(m.Issues()); got != 2 {
		t.Fatalf("issues %+v, want the two holders of A", m.Issues())
	}
	// Gone from the store.
	m.Found("A", nil)
	if _, ok := m.Lookup("A"); ok || m.Len() != 1 {
		t.Fatalf("A still mapped after a read found none (Len %d)", m.Len())
	}
	if m.Complete() {
		t.Fatal("Complete without a scan")
	}
}

func TestMap_Holds(t *testing.T) {
	t.Parallel()
	m := catalog.NewMap()
	a := woo.Product{ID: 1, SKU: "A", Type: "simple", ManageStock: json.RawMessage("true"), StockQuantity: qty(3)}
	v := woo.Product{ID: 7, ParentID: 5, SKU: "V", Type: "variation", ManageStock: json.RawMessage("true")}
	m.Found("A", []woo.Product{a})
	m.Found("V", []woo.Product{v})
	a.StockQuantity = qty(9) // the map keeps no figure
	if !m.Holds(a) || !m.Holds(v) {
		t.Fatal("the map does not hold the products it was given")
	}
	for name, p := range map[string]woo.Product{
		"Unknown":      {ID: 2, SKU: "B", Type: "simple"},
		"SKUChanged":   {ID: 1, SKU: "A2", Type: "simple", ManageStock: json.RawMessage("true")},
		"NotManaged":   {ID: 1, SKU: "A", Type: "simple", ManageStock: json.RawMessage("false")},
		"MadeVariable": {ID: 1, SKU: "A", Type: "variable", Variations: []int64{8}},
	} {
		if m.Holds(p) {
			t.Errorf("%s: Holds(%+v) = true", name, p)
		}
	}
}

// scanHook runs once, after the store answered the products page the
// scan is on, so a test can change the map while a scan runs.
type scanHook struct {
	http.Handler
	page string
	do   func()
	once sync.Once
}

func (h *scanHook) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.Handler.ServeHTTP(w, r)
	if strings.HasSuffix(r.URL.Path, "/products") && r.URL.Query().Get("page") == h.page {
		h.once.Do(h.do)
	}
}

// TestCatalog_ScanKeepsWhatChangedMeanwhile: what a webhook or a read by
// SKU brings while a scan runs is newer than what the scan read.
func TestCatalog_ScanKeepsWhatChangedMeanwhile(t *testing.T) {
	t.Parallel()
	f := &fakeStore{products: map[int64]woo.Product{}}
	for i := int64(100); i < 350; i++ {
		f.add(woo.Product{ID: i, SKU: "BULK-" + strconv.FormatInt(i, 10), Type: "simple", StockQuantity: qty(i)})
	}
	hook := &scanHook{Handler: f, page: "2"}
	c, _ := mustCatalog(t, hook, nil)
	hook.do = func() {
		// Read on page 1 by the scan, deleted since.
		c.Remove(100)
		// Created after page 3 was read: a read by SKU found it.
		c.Found("NEW", []woo.Product{{ID: 999, SKU: "NEW", Type: "simple", ManageStock: json.RawMessage("true"), StockQuantity: qty(1)}})
	}
	if _, err := c.Scan(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, ok := c.Lookup("BULK-100"); ok {
		t.Fatal("a product removed during the scan is mapped again")
	}
	if e, ok := c.Lookup("NEW"); !ok || e.ProductID != 999 {
		t.Fatalf("NEW=%+v %v: what a read found during the scan was lost", e, ok)
	}
	if _, ok := c.Lookup("BULK-349"); !ok || !c.Complete() {
		t.Fatal("the scan did not fill the map")
	}
}
