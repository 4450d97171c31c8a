package woosim_test

import (
	"encoding/json"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stockwire/stockwire/shared/systest"
	"github.com/stockwire/stockwire/shared/woosim"
)

func jsonType(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case float64:
		return "number"
	case string:
		return "string"
	case []any:
		return "array"
	default:
		return "object"
	}
}

// compareShape reports every field whose name or JSON type differs between
// want (the real store) and got (woosim), recursively. Nulls in either side
// match any type (unset dates, images); empty arrays match any array.
func compareShape(path string, want, got any, diffs *[]string) {
	wt, gt := jsonType(want), jsonType(got)
	if wt == "null" || gt == "null" {
		return
	}
	if wt != gt {
		*diffs = append(*diffs, fmt.Sprintf("%s: type %s, real store %s", path, gt, wt))
		return
	}
	switch w := want.(type) {
	case map[string]any:
		g := got.(map[string]any)
		for k, wv := range w {
			gv, ok := g[k]
			if !ok {
				*diffs = append(*diffs, path+"."+k+": missing")
				continue
			}
			compareShape(path+"."+k, wv, gv, diffs)
		}
		for k := range g {
			if _, ok := w[k]; !ok {
				*diffs = append(*diffs, path+"."+k+": not in real store")
			}
		}
	case []any:
		ga := got.([]any)
		if len(w) > 0 && len(ga) > 0 {
			compareShape(path+"[0]", w[0], ga[0], diffs)
		}
	}
}

func checkShape(t *testing.T, name string, r resp) {
	t.Helper()
	s := systest.LoadSample(t, name)
	if r.status != s.Status {
		t.Errorf("%s: status %d, real store %d: %s", name, r.status, s.Status, r.body)
	}
	var want, got any
	if err := json.Unmarshal(s.Body, &want); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(r.body, &got); err != nil {
		t.Fatalf("%s: %v: %s", name, err, r.body)
	}
	var diffs []string
	compareShape("$", want, got, &diffs)
	sort.Strings(diffs)
	if len(diffs) > 0 {
		t.Errorf("%s differs from the real store:\n  %s", name, strings.Join(diffs, "\n  "))
	}
}

// TestFixtureShapes replays the captured requests against woosim and
// compares every answer with the real WooCommerce 11.0.1 one, field names
// and JSON types (not values).
func TestFixtureShapes(t *testing.T) {
	srv := start(t, woosim.Options{WebhookDelay: time.Hour})
	rc := newReceiver(t)
	c := newClient(t, srv)
	checkShape(t, "webhook-create-response.json", c.do("POST", "/webhooks", nil, map[string]any{"name": "sample order.created",
		"topic": "order.created", "delivery_url": rc.srv.URL, "secret": "sample-webhook-secret"}))

	simple := c.must(201, "POST", "/products", nil, map[string]any{"name": "Test Widget 1", "sku": "RW-SKU-001", "regular_price": "11.00",
		"manage_stock": true, "stock_quantity": 10}).obj(t)
	checkShape(t, "product-simple.json", c.do("GET", p("/products/%d", id(t, simple)), nil, nil))
	checkShape(t, "product-variable-create.json", c.do("POST", "/products", nil, map[string]any{"name": "Sample Tee", "type": "variable", "sku": "SAMPLE-TEE",
		"attributes": []map[string]any{{"name": "Size", "options": []string{"S", "M"}, "variation": true}}}))
	tee, _ := srv.Store.ProductIDBySKU("SAMPLE-TEE")
	checkShape(t, "variation-create.json", c.do("POST", p("/products/%d/variations", tee), nil, map[string]any{"sku": "SAMPLE-TEE-S", "regular_price": "20",
		"manage_stock": true, "stock_quantity": 7, "attributes": []map[string]any{{"name": "Size", "option": "S"}}}))
	checkShape(t, "variation-create-no-sku.json", c.do("POST", p("/products/%d/variations", tee), nil, map[string]any{"regular_price": "20",
		"manage_stock": true, "stock_quantity": 4, "attributes": []map[string]any{{"name": "Size", "option": "M"}}}))
	checkShape(t, "variations-list.json", c.do("GET", p("/products/%d/variations", tee), nil, nil))
	checkShape(t, "products-by-variation-sku.json", c.do("GET", "/products", url.Values{"sku": {"SAMPLE-TEE-S"}}, nil))
	checkShape(t, "products-list-page1-fields.json", c.do("GET", "/products", url.Values{"per_page": {"2"}, "_fields": {"id,sku,stock_quantity,date_modified_gmt"}}, nil))
	checkShape(t, "products-batch-per-item-error.json", c.do("POST", "/products/batch", nil, map[string]any{"update": []map[string]any{
		{"id": id(t, simple), "stock_quantity": 10}, {"id": 999999, "stock_quantity": 1}}}))
	checkShape(t, "error-duplicate-sku.json", c.do("POST", "/products", nil, map[string]any{"name": "dup", "sku": "RW-SKU-001"}))
	checkShape(t, "error-per-page.json", c.do("GET", "/products", url.Values{"per_page": {"101"}}, nil))
	checkShape(t, "error-product-not-found.json", c.do("GET", "/products/999999", nil, nil))
	checkShape(t, "error-product-put-unknown-id.json", c.do("PUT", "/products/999999", nil, map[string]any{"stock_quantity": 1}))
	var many []int
	for i := range 101 {
		many = append(many, 100000+i)
	}
	checkShape(t, "error-batch-too-large.json", c.do("POST", "/products/batch", nil, map[string]any{"delete": many}))
	bad := newClient(t, srv)
	bad.cs = "cs_wrong"
	checkShape(t, "error-bad-signature.json", bad.do("GET", "/products", nil, nil))
	old := newClient(t, srv)
	old.timestamp = func() int64 { return time.Now().Add(-time.Hour).Unix() }
	checkShape(t, "error-old-timestamp.json", old.do("GET", "/products", nil, nil))
	checkShape(t, "error-no-auth.json", c.send(mustReq(t, "GET", srv.URL+"/wp-json/wc/v3/products")))

	vs, _ := srv.Store.ProductIDBySKU("SAMPLE-TEE-S")
	r := c.do("POST", "/orders", nil, map[string]any{"set_paid": true, "billing": map[string]string{"first_name": "Ada", "last_name": "Lovelace", "email": "ada@example.com"},
		"line_items": []map[string]any{{"product_id": id(t, simple), "quantity": 1}, {"product_id": tee, "variation_id": vs, "quantity": 2}}})
	checkShape(t, "order-create-set-paid.json", r)
	oid := id(t, r.obj(t))
	checkShape(t, "order-get.json", c.do("GET", p("/orders/%d", oid), nil, nil))
	checkShape(t, "order-cancel.json", c.do("PUT", p("/orders/%d", oid), nil, map[string]any{"status": "cancelled"}))
	checkShape(t, "variation-after-cancel.json", c.do("GET", p("/products/%d/variations/%d", tee, vs), nil, nil))
	checkShape(t, "order-trash.json", c.do("DELETE", p("/orders/%d", oid), nil, nil))
}
