package woosim_test

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stockwire/stockwire/shared/woosim"
)

func stock(t *testing.T, s *woosim.Store, sku string) int64 {
	t.Helper()
	q, ok := s.StockBySKU(sku)
	if !ok {
		t.Fatalf("no stock for %s", sku)
	}
	return q
}

func TestProductsWriteAndSKU(t *testing.T) {
	srv := start(t, woosim.Options{})
	c := newClient(t, srv)
	a := c.must(201, "POST", "/products", nil, map[string]any{"name": "A", "sku": "A-1", "manage_stock": true, "stock_quantity": 5}).obj(t)
	// Duplicate SKU.
	r := c.must(400, "POST", "/products", nil, map[string]any{"name": "B", "sku": "A-1"})
	e := r.obj(t)
	if e["code"] != "product_invalid_sku" || e["data"].(map[string]any)["resource_id"].(float64) != float64(id(t, a)) {
		t.Fatalf("dup sku: %s", r.body)
	}
	// stock_status sent is recomputed; stock ignored without manage_stock.
	pr := c.must(200, "PUT", p("/products/%d", id(t, a)), nil, map[string]any{"stock_quantity": 0, "stock_status": "instock"}).obj(t)
	if pr["stock_status"] != "outofstock" {
		t.Fatalf("stock_status %v", pr["stock_status"])
	}
	b := c.must(201, "POST", "/products", nil, map[string]any{"name": "B", "sku": "B-1"}).obj(t)
	br := c.must(200, "PUT", p("/products/%d", id(t, b)), nil, map[string]any{"stock_quantity": 7}).obj(t)
	if br["stock_quantity"] != nil || br["manage_stock"] != false {
		t.Fatalf("unmanaged got stock: %v %v", br["stock_quantity"], br["manage_stock"])
	}
	// inventory_delta and meta_data in one request; meta updates by key.
	for i, want := range []int64{3, 1} {
		d := []int{3, -2}[i]
		out := c.must(200, "PUT", p("/products/%d", id(t, a)), nil, map[string]any{"inventory_delta": d,
			"meta_data": []map[string]any{{"key": "stockwire_seq", "value": fmt.Sprint(i + 1)}}}).obj(t)
		if out["stock_quantity"].(float64) != float64(want) {
			t.Fatalf("after delta %d: %v", d, out["stock_quantity"])
		}
		meta := out["meta_data"].([]any)
		if len(meta) != 1 || meta[0].(map[string]any)["value"] != fmt.Sprint(i+1) {
			t.Fatalf("meta %v", meta)
		}
	}
	if v, _ := srv.Store.MetaBySKU("A-1", "stockwire_seq"); string(v) != `"2"` {
		t.Fatalf("meta %s", v)
	}
	// Unknown id: GET 404, PUT 400.
	c.must(404, "GET", "/products/999999", nil, nil)
	c.must(400, "PUT", "/products/999999", nil, map[string]any{"stock_quantity": 1})
	// Bad input changes nothing.
	c.must(400, "PUT", p("/products/%d", id(t, a)), nil, map[string]any{"stock_quantity": "lots"})
	if q := stock(t, srv.Store, "A-1"); q != 1 {
		t.Fatalf("stock %d after bad input", q)
	}

	// Variations: own SKU and inherited SKU; ?sku= returns variations too.
	v := c.must(201, "POST", "/products", nil, map[string]any{"name": "Tee", "type": "variable", "sku": "TEE"}).obj(t)
	vs := c.must(201, "POST", p("/products/%d/variations", id(t, v)), nil, map[string]any{"sku": "TEE-S", "manage_stock": true, "stock_quantity": 7,
		"attributes": []map[string]any{{"name": "Size", "option": "S"}}}).obj(t)
	vm := c.must(201, "POST", p("/products/%d/variations", id(t, v)), nil, map[string]any{"manage_stock": true, "stock_quantity": 4}).obj(t)
	if vm["sku"] != "TEE" || vs["sku"] != "TEE-S" {
		t.Fatalf("variation skus %v %v", vm["sku"], vs["sku"])
	}
	var list []map[string]any
	c.must(200, "GET", "/products", url.Values{"sku": {"TEE-S,A-1"}}, nil).json(t, &list)
	if len(list) != 2 {
		t.Fatalf("sku list: %d", len(list))
	}
	for _, it := range list {
		if it["sku"] == "TEE-S" && it["type"] != "variation" {
			t.Fatalf("variation via ?sku= has type %v", it["type"])
		}
	}
	var all []map[string]any
	c.must(200, "GET", "/variations", nil, nil).json(t, &all)
	if len(all) != 2 || all[0]["parent_id"].(float64) != float64(id(t, v)) {
		t.Fatalf("GET /variations: %v", all)
	}
	c.must(404, "PUT", p("/products/%d", id(t, vs)), nil, map[string]any{"stock_quantity": 1})
	c.must(200, "PUT", p("/products/%d/variations/%d", id(t, v), id(t, vs)), nil, map[string]any{"inventory_delta": -2})
	if q := stock(t, srv.Store, "TEE-S"); q != 5 {
		t.Fatalf("variation stock %d", q)
	}
	pv := c.must(200, "GET", p("/products/%d", id(t, v)), nil, nil).obj(t)
	if pv["stock_status"] != "instock" || len(pv["variations"].([]any)) != 2 {
		t.Fatalf("parent %v %v", pv["stock_status"], pv["variations"])
	}
}

func TestBatch(t *testing.T) {
	srv := start(t, woosim.Options{})
	if err := srv.Store.Seed(woosim.SeedOptions{Products: 3, Stock: 10}); err != nil {
		t.Fatal(err)
	}
	c := newClient(t, srv)
	var seen []string
	var mu sync.Mutex
	srv.Store.SetOnStockWrite(func(skus []string, _ time.Time) { mu.Lock(); seen = append(seen, skus...); mu.Unlock() })
	id1, _ := srv.Store.ProductIDBySKU("SKU-000001")
	id2, _ := srv.Store.ProductIDBySKU("SKU-000002")
	r := c.must(200, "POST", "/products/batch", nil, map[string]any{"update": []map[string]any{
		{"id": id1, "inventory_delta": -3, "meta_data": []map[string]any{{"key": "stockwire_seq", "value": "7"}}},
		{"id": 999999, "stock_quantity": 1},
		{"id": id2, "stock_quantity": 4},
	}})
	var out map[string][]map[string]any
	r.json(t, &out)
	if _, ok := out["create"]; ok {
		t.Error("create key present though not requested")
	}
	u := out["update"]
	if len(u) != 3 || u[0]["stock_quantity"].(float64) != 7 || u[2]["stock_quantity"].(float64) != 4 {
		t.Fatalf("batch update: %s", r.body)
	}
	if e := u[1]["error"].(map[string]any); e["code"] != "woocommerce_rest_product_invalid_id" || u[1]["id"].(float64) != 999999 {
		t.Fatalf("per-item error: %v", u[1])
	}
	mu.Lock()
	if strings.Join(seen, ",") != "SKU-000001,,SKU-000002" {
		t.Errorf("OnStockWrite saw %q", seen)
	}
	mu.Unlock()
	// 101 items → 413 and nothing changes.
	var items []map[string]any
	for range 101 {
		items = append(items, map[string]any{"id": id1, "stock_quantity": 0})
	}
	r = c.must(413, "POST", "/products/batch", nil, map[string]any{"update": items})
	if r.obj(t)["code"] != "woocommerce_rest_request_entity_too_large" {
		t.Fatalf("413 body %s", r.body)
	}
	if q := stock(t, srv.Store, "SKU-000001"); q != 7 {
		t.Fatalf("stock %d after refused batch", q)
	}
	c.must(200, "POST", "/products/batch", nil, map[string]any{"update": items[:100]})
}

func TestPaginationHeaders(t *testing.T) {
	srv := start(t, woosim.Options{})
	if err := srv.Store.Seed(woosim.SeedOptions{Products: 25, Stock: 1}); err != nil {
		t.Fatal(err)
	}
	c := newClient(t, srv)
	r := c.must(200, "GET", "/products", url.Values{"per_page": {"10"}, "page": {"2"}}, nil)
	if r.header.Get("X-WP-Total") != "25" || r.header.Get("X-WP-TotalPages") != "3" {
		t.Fatalf("headers %v", r.header)
	}
	links := strings.Join(r.header.Values("Link"), ", ")
	if !strings.Contains(links, `page=1`) || !strings.Contains(links, `rel="prev"`) || !strings.Contains(links, `page=3`) || !strings.Contains(links, `rel="next"`) {
		t.Fatalf("links %s", links)
	}
	if strings.Contains(links, `rel="first"`) || strings.Contains(links, `rel="last"`) {
		t.Fatalf("first/last present: %s", links)
	}
	r = c.must(200, "GET", "/products", url.Values{"per_page": {"10"}, "page": {"3"}, "_fields": {"id,sku"}}, nil)
	var list []map[string]any
	r.json(t, &list)
	if len(list) != 5 || len(list[0]) != 2 || strings.Contains(strings.Join(r.header.Values("Link"), ","), `rel="next"`) {
		t.Fatalf("last page: %d items, %v, %v", len(list), list[0], r.header.Values("Link"))
	}
	if e := c.must(400, "GET", "/products", url.Values{"per_page": {"101"}}, nil).obj(t); e["code"] != "rest_invalid_param" {
		t.Fatalf("per_page 101: %v", e)
	}
}

// TestLargeCatalogPages pages through 50,000 products and sees each once.
func TestLargeCatalogPages(t *testing.T) {
	srv := start(t, woosim.Options{})
	if err := srv.Store.Seed(woosim.SeedOptions{Products: 50000, Stock: 1}); err != nil {
		t.Fatal(err)
	}
	c := newClient(t, srv)
	seen := make(map[string]bool, 50000)
	for page := 1; ; page++ {
		r := c.must(200, "GET", "/products", url.Values{"per_page": {"100"}, "page": {fmt.Sprint(page)}, "_fields": {"id,sku,stock_quantity"}}, nil)
		if r.header.Get("X-WP-Total") != "50000" || r.header.Get("X-WP-TotalPages") != "500" {
			t.Fatalf("page %d headers %v", page, r.header)
		}
		var list []struct {
			SKU string `json:"sku"`
		}
		r.json(t, &list)
		for _, it := range list {
			if seen[it.SKU] {
				t.Fatalf("duplicate %s on page %d", it.SKU, page)
			}
			seen[it.SKU] = true
		}
		if !strings.Contains(strings.Join(r.header.Values("Link"), ","), `rel="next"`) {
			break
		}
	}
	if len(seen) != 50000 {
		t.Fatalf("saw %d products", len(seen))
	}
}

func TestCheckoutAtomic(t *testing.T) {
	srv := start(t, woosim.Options{})
	if err := srv.Store.Seed(woosim.SeedOptions{Products: 2, Stock: 50}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	accepted := 0
	for range 8 {
		wg.Go(func() {
			for range 20 {
				_, err := srv.Store.Checkout([]woosim.CheckoutLine{{SKU: "SKU-000001", Quantity: 1}, {SKU: "SKU-000002", Quantity: 1}})
				if err == nil {
					mu.Lock()
					accepted++
					mu.Unlock()
				} else if !errors.Is(err, woosim.ErrOutOfStock) {
					t.Error(err)
				}
			}
		})
	}
	// Concurrent relative updates from an "agent".
	c := newClient(t, srv)
	id2, _ := srv.Store.ProductIDBySKU("SKU-000002")
	for range 10 {
		c.must(200, "PUT", p("/products/%d", id2), nil, map[string]any{"inventory_delta": 1})
	}
	wg.Wait()
	if accepted != 50 {
		t.Fatalf("accepted %d checkouts of 50 units", accepted)
	}
	if q := stock(t, srv.Store, "SKU-000001"); q != 0 {
		t.Fatalf("SKU-000001 stock %d", q)
	}
	if q := stock(t, srv.Store, "SKU-000002"); q != 10 {
		t.Fatalf("SKU-000002 stock %d, want 10", q)
	}
	st := srv.Store.Stats()
	if st.CheckoutsAccepted != 50 || st.CheckoutsRefused != 110 {
		t.Fatalf("stats %+v", st)
	}
	// Over HTTP: 409 out_of_stock.
	r := c.send(jsonReq(t, "POST", srv.URL+"/sim/checkout", `{"line_items":[{"sku":"SKU-000001","quantity":1}]}`))
	if r.status != 409 || r.obj(t)["code"] != "out_of_stock" {
		t.Fatalf("checkout: %d %s", r.status, r.body)
	}
}

func jsonReq(t *testing.T, method, u, body string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, u, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	return req
}
