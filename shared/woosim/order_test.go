package woosim_test

import (
	"sync"
	"testing"
	"time"

	"github.com/stockwire/stockwire/shared/woosim"
)

// TestStockOnStatusTransitions walks an order through every transition
// and checks stock moves exactly as wc_maybe_reduce/increase_stock_levels.
func TestStockOnStatusTransitions(t *testing.T) {
	srv := start(t, woosim.Options{})
	s := srv.Store
	if _, _, err := s.CreateProduct(woosim.ProductSpec{Name: "Widget", SKU: "W", ManageStock: true, Stock: 10}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.CreateProduct(woosim.ProductSpec{Name: "Tee", SKU: "TEE", Variations: []woosim.VariationSpec{{Option: "S", SKU: "TEE-S", Stock: 7}}}); err != nil {
		t.Fatal(err)
	}
	c := newClient(t, srv)
	vid, _ := s.ProductIDBySKU("TEE-S")
	// REST create, pending: no stock change.
	o := c.must(201, "POST", "/orders", nil, map[string]any{"line_items": []map[string]any{
		{"sku": "W", "quantity": 1}, {"variation_id": vid, "quantity": 2}}}).obj(t)
	oid := id(t, o)
	if o["status"] != "pending" || o["created_via"] != "rest-api" {
		t.Fatalf("order %v %v", o["status"], o["created_via"])
	}
	line := o["line_items"].([]any)[1].(map[string]any)
	if line["sku"] != "TEE-S" || line["variation_id"].(float64) != float64(vid) || line["product_id"].(float64) == float64(vid) {
		t.Fatalf("variation line %v", line)
	}
	steps := []struct {
		status string
		w, v   int64
	}{
		{"pending", 10, 7},
		{"on-hold", 9, 5},    // reduce
		{"processing", 9, 5}, // already reduced: once per order
		{"completed", 9, 5},
		{"failed", 9, 5}, // never restores
		{"refunded", 9, 5},
		{"cancelled", 10, 7}, // restore
		{"processing", 9, 5}, // reduce again
		{"pending", 10, 7},   // restore
		{"completed", 9, 5},
	}
	for _, st := range steps {
		c.must(200, "PUT", p("/orders/%d", oid), nil, map[string]any{"status": st.status})
		if w, v := stock(t, s, "W"), stock(t, s, "TEE-S"); w != st.w || v != st.v {
			t.Fatalf("after %s: W=%d TEE-S=%d, want %d %d", st.status, w, v, st.w, st.v)
		}
	}
	// Trash does not restore.
	c.must(200, "DELETE", p("/orders/%d", oid), nil, nil)
	if w := stock(t, s, "W"); w != 9 {
		t.Fatalf("after trash W=%d", w)
	}

	// Created processing, or with set_paid: reduced at once.
	o2 := c.must(201, "POST", "/orders", nil, map[string]any{"status": "processing", "line_items": []map[string]any{{"sku": "W", "quantity": 2}}}).obj(t)
	o3 := c.must(201, "POST", "/orders", nil, map[string]any{"set_paid": true, "line_items": []map[string]any{{"sku": "W", "quantity": 1}}}).obj(t)
	if o3["status"] != "processing" || o3["date_paid"] == nil {
		t.Fatalf("set_paid order %v %v", o3["status"], o3["date_paid"])
	}
	if w := stock(t, s, "W"); w != 6 {
		t.Fatalf("after processing+set_paid W=%d", w)
	}
	// Refund with restock of items sent with a quantity (api_refund false).
	item := o2["line_items"].([]any)[0].(map[string]any)
	c.must(500, "POST", p("/orders/%d/refunds", id(t, o2)), nil, map[string]any{"amount": "10.00",
		"line_items": []map[string]any{{"id": item["id"], "quantity": 1, "refund_total": "10.00"}}})
	if w := stock(t, s, "W"); w != 6 {
		t.Fatalf("failed refund changed stock: %d", w)
	}
	c.must(201, "POST", p("/orders/%d/refunds", id(t, o2)), nil, map[string]any{"amount": "10.00", "api_refund": false,
		"line_items": []map[string]any{{"id": item["id"], "quantity": 1, "refund_total": "10.00"}}})
	if w := stock(t, s, "W"); w != 7 {
		t.Fatalf("after restock refund W=%d", w)
	}
	// Cancel restores only what is still reduced (1 of 2).
	if err := s.SetOrderStatus(id(t, o2), "cancelled"); err != nil {
		t.Fatal(err)
	}
	if w := stock(t, s, "W"); w != 8 {
		t.Fatalf("after cancel W=%d", w)
	}
	// Unknown order: GET 404, PUT 400; bad status 400 changes nothing.
	c.must(404, "GET", "/orders/999999", nil, nil)
	c.must(400, "PUT", "/orders/999999", nil, map[string]any{"status": "completed"})
	c.must(400, "PUT", p("/orders/%d", id(t, o3)), nil, map[string]any{"status": "shipped"})
	if w := stock(t, s, "W"); w != 8 {
		t.Fatalf("after bad input W=%d", w)
	}
	// Listing by status and modified_after.
	var list []map[string]any
	c.must(200, "GET", "/orders", map[string][]string{"status": {"processing"}}, nil).json(t, &list)
	if len(list) != 1 || id(t, list[0]) != id(t, o3) {
		t.Fatalf("processing orders: %v", len(list))
	}
	// Orders batch: per-item errors inside a 200.
	var b map[string][]map[string]any
	c.must(200, "POST", "/orders/batch", nil, map[string]any{"update": []map[string]any{
		{"id": id(t, o3), "status": "completed"}, {"id": 999999, "status": "completed"}}}).json(t, &b)
	if b["update"][0]["status"] != "completed" || b["update"][1]["error"] == nil {
		t.Fatalf("orders batch %v", b)
	}
	if w := stock(t, s, "W"); w != 8 {
		t.Fatalf("after batch completed W=%d", w)
	}
	if n := len(s.Orders()); n != 3 {
		t.Fatalf("Orders() %d", n)
	}
}

// TestModifiedAfterIsStrict: modified_after compares at 1 s resolution with
// a strict >, so a poller must overlap its cursor.
func TestModifiedAfterIsStrict(t *testing.T) {
	var mu sync.Mutex
	now := time.Date(2026, 11, 22, 8, 0, 0, 500_000_000, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	srv := start(t, woosim.Options{Now: clock})
	c := newClient(t, srv)
	c.timestamp = func() int64 { return clock().Unix() }
	if _, _, err := srv.Store.CreateProduct(woosim.ProductSpec{Name: "W", SKU: "W", ManageStock: true, Stock: 10}); err != nil {
		t.Fatal(err)
	}
	oid, err := srv.Store.Checkout([]woosim.CheckoutLine{{SKU: "W", Quantity: 1}})
	if err != nil {
		t.Fatal(err)
	}
	count := func(after string) int {
		var list []map[string]any
		c.must(200, "GET", "/orders", map[string][]string{"modified_after": {after}, "dates_are_gmt": {"true"}}, nil).json(t, &list)
		return len(list)
	}
	if n := count("2026-11-22T08:00:00"); n != 0 {
		t.Fatalf("same second: %d orders", n)
	}
	if n := count("2026-11-22T07:59:59"); n != 1 {
		t.Fatalf("a second before: %d orders", n)
	}
	mu.Lock()
	now = now.Add(2 * time.Second)
	mu.Unlock()
	if err := srv.Store.SetOrderStatus(oid, "completed"); err != nil {
		t.Fatal(err)
	}
	if n := count("2026-11-22T08:00:01"); n != 1 {
		t.Fatalf("after status change: %d orders", n)
	}
	c.must(400, "GET", "/orders", map[string][]string{"modified_after": {"yesterday"}}, nil)
}
