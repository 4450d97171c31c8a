package woosim_test

import (
	"testing"

	"github.com/stockwire/stockwire/shared/woo"
	"github.com/stockwire/stockwire/shared/woosim"
)

// TestOrderDetails checks that orders carry what an ERP reads (customer,
// addresses, payment, shipping, fees, note, meta) in WooCommerce's shapes.
func TestOrderDetails(t *testing.T) {
	srv := start(t, woosim.Options{})
	if _, _, err := srv.Store.CreateProduct(woosim.ProductSpec{Name: "Widget", SKU: "W", Price: "2.50", ManageStock: true, Stock: 10}); err != nil {
		t.Fatal(err)
	}
	c := newClient(t, srv)

	t.Run("Checkout", func(t *testing.T) {
		oid, err := srv.Store.Checkout([]woosim.CheckoutLine{{SKU: "W", Quantity: 2}})
		if err != nil {
			t.Fatal(err)
		}
		var o woo.Order
		c.must(200, "GET", p("/orders/%d", oid), nil, nil).json(t, &o)
		if o.Billing == nil || o.Billing.Email == "" || o.Billing.FirstName == "" || o.Billing.Address1 == "" || o.Billing.Phone == "" {
			t.Fatalf("billing=%+v", o.Billing)
		}
		if o.Shipping == nil || o.Shipping.City == "" || o.Shipping.Email != "" {
			t.Fatalf("shipping=%+v", o.Shipping)
		}
		if o.PaymentMethod != "stripe" || o.TransactionID == "" || o.DatePaidGMT == nil {
			t.Fatalf("payment=%q %q %v", o.PaymentMethod, o.TransactionID, o.DatePaidGMT)
		}
		if len(o.ShippingLines) != 1 || o.ShippingLines[0].Total != "4.90" || o.ShippingTotal != "4.90" || o.Total != "9.90" {
			t.Fatalf("shipping lines=%+v shipping_total=%q total=%q", o.ShippingLines, o.ShippingTotal, o.Total)
		}
		if len(o.LineItems) != 1 || o.LineItems[0].Subtotal != "5.00" || o.LineItems[0].Price != "2.5" {
			t.Fatalf("lines=%+v", o.LineItems)
		}
	})

	t.Run("RESTCreateAndUpdate", func(t *testing.T) {
		wid, _ := srv.Store.ProductIDBySKU("W")
		r := c.must(201, "POST", "/orders", nil, map[string]any{
			"customer_id": 7, "payment_method": "bacs", "payment_method_title": "Bank transfer", "customer_note": "Ring twice",
			"billing":        map[string]string{"first_name": "Ada", "email": "ada@example.com"},
			"shipping":       map[string]string{"first_name": "Ada", "city": "London", "country": "GB"},
			"meta_data":      []map[string]any{{"key": "gift", "value": "yes"}},
			"shipping_lines": []map[string]any{{"method_id": "flat_rate", "method_title": "Flat rate", "total": "3.00"}},
			"fee_lines":      []map[string]any{{"name": "Gift wrap", "total": "1.50"}},
			"line_items":     []map[string]any{{"product_id": wid, "quantity": 1}},
		})
		var o woo.Order
		r.json(t, &o)
		if o.CustomerID != 7 || o.PaymentMethodTitle != "Bank transfer" || o.CustomerNote != "Ring twice" || o.Shipping.City != "London" {
			t.Fatalf("order=%+v", o)
		}
		if len(o.FeeLines) != 1 || o.FeeLines[0].Total != "1.50" || o.Total != "7.00" || len(o.MetaData) != 1 {
			t.Fatalf("fees=%+v total=%q meta=%+v", o.FeeLines, o.Total, o.MetaData)
		}
		c.must(200, "PUT", p("/orders/%d", o.ID), nil, map[string]any{"customer_note": "Leave at the door",
			"meta_data": []map[string]any{{"key": "gift", "value": "no"}}}).json(t, &o)
		if o.CustomerNote != "Leave at the door" || len(o.MetaData) != 1 || string(o.MetaData[0].Value) != `"no"` {
			t.Fatalf("updated order=%+v", o)
		}
	})

	t.Run("BadInputChangesNothing", func(t *testing.T) {
		before := len(srv.Store.Orders())
		for _, body := range []map[string]any{
			{"shipping_lines": []map[string]any{{"method_id": "x", "total": "lots"}}},
			{"fee_lines": []map[string]any{{"name": "x", "total": "1,50"}}},
			{"customer_id": -1},
		} {
			if r := c.do("POST", "/orders", nil, body); r.status != 400 {
				t.Fatalf("status=%d for %v: %s", r.status, body, r.body)
			}
		}
		if got := len(srv.Store.Orders()); got != before {
			t.Fatalf("%d orders, want %d", got, before)
		}
	})
}
