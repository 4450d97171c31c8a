package woosim_test

import (
	"encoding/json"
	"net/url"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/stockwire/stockwire/shared/woosim"
)

// TestOrderNotes checks the notes route in the shape of the captured
// order-notes.json, WooCommerce's own notes on payment, stock moves and
// status changes, and notes added through the API.
func TestOrderNotes(t *testing.T) {
	t.Parallel()
	// One second for every note: their order is then the store's, not
	// the clock's.
	now := time.Now()
	srv := start(t, woosim.Options{Now: func() time.Time { return now }})
	s := srv.Store
	if _, _, err := s.CreateProduct(woosim.ProductSpec{Name: "Test Widget 1", SKU: "W", ManageStock: true, Stock: 10}); err != nil {
		t.Fatal(err)
	}
	c := newClient(t, srv)
	oid := id(t, c.must(201, "POST", "/orders", nil, map[string]any{"set_paid": true,
		"line_items": []map[string]any{{"sku": "W", "quantity": 1}}}).obj(t))
	c.must(200, "PUT", p("/orders/%d", oid), nil, map[string]any{"status": "cancelled"})

	t.Run("Shape", func(t *testing.T) {
		var notes []map[string]any
		c.must(200, "GET", p("/orders/%d/notes", oid), nil, nil).json(t, &notes)
		if len(notes) == 0 {
			t.Fatal("no notes")
		}
		var keys []string
		for k := range notes[0] {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		if want := []string{"_links", "author", "customer_note", "date_created", "date_created_gmt", "id", "note"}; !reflect.DeepEqual(keys, want) {
			t.Fatalf("keys=%v, want %v", keys, want)
		}
		if got, want := notes[0]["author"], "WooCommerce"; got != want {
			t.Fatalf("author=%v, want %v", got, want)
		}
	})

	t.Run("WooCommerceNotes", func(t *testing.T) {
		var notes []struct {
			ID   int64  `json:"id"`
			Note string `json:"note"`
		}
		c.must(200, "GET", p("/orders/%d/notes", oid), nil, nil).json(t, &notes)
		var texts []string
		for _, n := range notes {
			texts = append(texts, n.Note)
		}
		// Same second: oldest first within it, as the capture shows.
		want := []string{"Payment complete.", "Stock levels reduced: Test Widget 1 (10&rarr;9)",
			"Stock levels increased: Test Widget 1 (9&rarr;10)", "Order status changed from Processing to Cancelled."}
		if !reflect.DeepEqual(texts, want) {
			t.Fatalf("notes=%q, want %q", texts, want)
		}
	})

	t.Run("Create", func(t *testing.T) {
		r := c.must(201, "POST", p("/orders/%d/notes", oid), nil, map[string]any{"note": "Shipped with DHL.", "customer_note": true})
		var n struct {
			ID           int64  `json:"id"`
			Note         string `json:"note"`
			CustomerNote bool   `json:"customer_note"`
		}
		r.json(t, &n)
		if n.ID == 0 || n.Note != "Shipped with DHL." || !n.CustomerNote {
			t.Fatalf("note=%+v", n)
		}
		if r.header.Get("Location") == "" {
			t.Fatal("no Location header")
		}
		all, ok := s.OrderNotes(oid)
		if !ok || len(all) != 5 || all[4].Note != "Shipped with DHL." || !all[4].CustomerNote {
			t.Fatalf("Store.OrderNotes=%+v, %v", all, ok)
		}
		var customer []map[string]any
		c.must(200, "GET", p("/orders/%d/notes", oid), url.Values{"type": {"customer"}}, nil).json(t, &customer)
		if len(customer) != 1 || customer[0]["note"] != "Shipped with DHL." {
			t.Fatalf("customer notes=%v", customer)
		}
	})

	t.Run("Errors", func(t *testing.T) {
		if r := c.do("GET", "/orders/999999/notes", nil, nil); r.status != 404 || r.obj(t)["code"] != "woocommerce_rest_order_invalid_id" {
			t.Fatalf("unknown order: %d %s", r.status, r.body)
		}
		if r := c.do("POST", "/orders/999999/notes", nil, map[string]any{"note": "x"}); r.status != 404 {
			t.Fatalf("unknown order: %d %s", r.status, r.body)
		}
		if r := c.do("POST", p("/orders/%d/notes", oid), nil, map[string]any{"customer_note": true}); r.status != 400 || r.obj(t)["code"] != "rest_missing_callback_param" {
			t.Fatalf("missing note: %d %s", r.status, r.body)
		}
	})
}

// TestOrderMetaData checks PUT /orders/{id} meta_data: added or replaced
// by key, any JSON value, deleted by null; and customer_note.
func TestOrderMetaData(t *testing.T) {
	t.Parallel()
	srv := start(t, woosim.Options{})
	c := newClient(t, srv)
	oid := id(t, c.must(201, "POST", "/orders", nil, map[string]any{}).obj(t))
	type meta struct {
		ID    int64           `json:"id"`
		Key   string          `json:"key"`
		Value json.RawMessage `json:"value"`
	}
	var o struct {
		MetaData     []meta `json:"meta_data"`
		CustomerNote string `json:"customer_note"`
	}
	c.must(200, "PUT", p("/orders/%d", oid), nil, map[string]any{"customer_note": "Leave at the door", "meta_data": []map[string]any{
		{"key": "_ref", "value": "SO-1"}, {"key": "_items", "value": []map[string]any{{"tracking_number": "1Z"}}}, {"key": "gone", "value": 1}}}).json(t, &o)
	if len(o.MetaData) != 3 || o.CustomerNote != "Leave at the door" {
		t.Fatalf("order=%+v", o)
	}
	c.must(200, "PUT", p("/orders/%d", oid), nil, map[string]any{"meta_data": []map[string]any{
		{"key": "_ref", "value": "SO-2"}, {"key": "gone", "value": nil}}})
	o.MetaData = nil
	c.must(200, "GET", p("/orders/%d", oid), nil, nil).json(t, &o)
	got := map[string]string{}
	for _, m := range o.MetaData {
		got[m.Key] = string(m.Value)
	}
	if want := map[string]string{"_ref": `"SO-2"`, "_items": `[{"tracking_number":"1Z"}]`}; !reflect.DeepEqual(got, want) {
		t.Fatalf("meta=%v, want %v", got, want)
	}
	if wo, _ := srv.Store.Order(oid); len(wo.MetaData) != 2 {
		t.Fatalf("Store.Order meta=%v", wo.MetaData)
	}
}
