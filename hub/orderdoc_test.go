package hub_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stockwire/stockwire/hub"
	"github.com/stockwire/stockwire/shared/systest"
)

// sampleBody is the body of a captured answer: {"body": …}.
func sampleBody(t *testing.T, name string) json.RawMessage {
	t.Helper()
	var c struct {
		Body json.RawMessage `json:"body"`
	}
	if err := json.Unmarshal(systest.Fixture(t, name), &c); err != nil {
		t.Fatal(err)
	}
	return c.Body
}

func TestParseOrderDocument_RealSample(t *testing.T) {
	t.Parallel()
	d, err := hub.ParseOrderDocument(34, sampleBody(t, "order-get.json"))
	if err != nil {
		t.Fatal(err)
	}
	paid := time.Date(2026, 11, 22, 8, 55, 28, 0, time.UTC)
	if d.DatePaid == nil || !d.DatePaid.Equal(paid) || d.DateCreated == nil || d.DateModified == nil || d.DateCompleted != nil {
		t.Fatalf("dates: %+v %+v %+v %+v", d.DateCreated, d.DateModified, d.DatePaid, d.DateCompleted)
	}
	if got, want := d.Customer, (hub.Customer{FirstName: "Ada", LastName: "Lovelace", Email: "ada@example.com"}); got != want {
		t.Fatalf("Customer=%+v, want %+v", got, want)
	}
	if d.Number != "34" || d.Status != "processing" || d.Currency != "USD" || d.CreatedVia != "rest-api" {
		t.Fatalf("head: %+v", d)
	}
	if got, want := d.Totals, (hub.Totals{Subtotal: "51.00", Discount: "0.00", DiscountTax: "0.00", Shipping: "0.00",
		ShippingTax: "0.00", CartTax: "0.00", Tax: "0.00", Total: "51.00"}); got != want {
		t.Fatalf("Totals=%+v, want %+v", got, want)
	}
	if len(d.Lines) != 2 {
		t.Fatalf("lines=%+v", d.Lines)
	}
	tee := d.Lines[1]
	if tee.SKU != "SAMPLE-TEE-S" || tee.Quantity != 2 || tee.Price != "20" || tee.Subtotal != "40.00" || tee.Total != "40.00" ||
		tee.Discount != "0.00" || tee.ProductID != 31 || tee.VariationID != 32 || tee.Name != "Sample Tee - S" {
		t.Fatalf("line=%+v", tee)
	}
	if got, want := tee.Attributes, []hub.Attr{{Key: "size", Name: "Size", Value: "S"}}; len(got) != 1 || got[0] != want[0] {
		t.Fatalf("Attributes=%+v, want %+v", got, want)
	}
	if len(tee.MetaData) != 2 || tee.MetaData[1].Key != "_reduced_stock" || string(tee.MetaData[1].Value) != `"2"` {
		t.Fatalf("MetaData=%+v", tee.MetaData)
	}
}

// fullOrder has every kind of line, in the shapes of WooCommerce's REST
// reference (the captured sample has no shipping, fees or coupons).
const fullOrder = `{"id":7,"number":"A-7","status":"processing","currency":"EUR","created_via":"checkout",
"date_created_gmt":"2026-11-22T08:00:00","date_modified_gmt":"2026-11-22T08:01:00","date_paid_gmt":"2026-11-22T08:00:30","date_completed_gmt":null,
"customer_id":12,"billing":{"first_name":"Ada","last_name":"Lovelace","company":"","address_1":"1 Analytical St","address_2":"","city":"London","state":"","postcode":"N1","country":"GB","email":"ada@example.com","phone":"+44 20 1"},
"shipping":{"first_name":"Ada","last_name":"Lovelace","company":"","address_1":"1 Analytical St","address_2":"","city":"London","state":"","postcode":"N1","country":"GB","phone":""},
"payment_method":"stripe","payment_method_title":"Credit card","transaction_id":"ch_1","customer_note":"Leave at the door",
"discount_total":"2.50","discount_tax":"0.50","shipping_total":"4.90","shipping_tax":"0.98","cart_tax":"3.50","total":"26.88","total_tax":"4.48",
"meta_data":[{"id":1,"key":"gift","value":"yes"}],
"line_items":[{"id":3,"name":"Mug","product_id":5,"variation_id":0,"quantity":3,"tax_class":"","subtotal":"20.00","subtotal_tax":"4.00","total":"17.50","total_tax":"3.50","taxes":[{"id":1,"total":"3.5","subtotal":"4"}],"meta_data":[],"sku":"MUG","price":5.833333333333333}],
"tax_lines":[{"id":9,"rate_code":"GB-VAT-1","rate_id":1,"label":"VAT","compound":false,"tax_total":"3.50","shipping_tax_total":"0.98","rate_percent":20}],
"shipping_lines":[{"id":4,"method_title":"Flat rate","method_id":"flat_rate","instance_id":"1","total":"4.90","total_tax":"0.98","taxes":[{"id":1,"total":"0.98","subtotal":""}]}],
"fee_lines":[{"id":5,"name":"Gift wrap","tax_class":"","tax_status":"none","amount":"1","total":"1.00","total_tax":"0.00","taxes":[]}],
"coupon_lines":[{"id":6,"code":"save10","discount":"2.50","discount_tax":"0.50"}],
"refunds":[{"id":8,"reason":"","total":"-1.00"}]}`

func TestParseOrderDocument_AllLines(t *testing.T) {
	t.Parallel()
	d, err := hub.ParseOrderDocument(7, json.RawMessage(fullOrder))
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`"customer":{"id":12,"first_name":"Ada","last_name":"Lovelace","email":"ada@example.com","phone":"+44 20 1"}`,
		`"payment":{"method":"stripe","method_title":"Credit card","transaction_id":"ch_1"}`,
		`"customer_note":"Leave at the door"`,
		`"price":"5.833333333333333","subtotal":"20.00","subtotal_tax":"4.00","total":"17.50","total_tax":"3.50","discount":"2.50"`,
		`"taxes":[{"rate_id":1,"total":"3.5","subtotal":"4"}]`,
		`"shipping_lines":[{"id":4,"method_id":"flat_rate","method_title":"Flat rate","instance_id":"1","total":"4.90","total_tax":"0.98"`,
		`"fees":[{"id":5,"name":"Gift wrap","tax_class":"","tax_status":"none","total":"1.00","total_tax":"0.00","taxes":[]}]`,
		`"coupons":[{"id":6,"code":"save10","discount":"2.50","discount_tax":"0.50"}]`,
		`"tax_lines":[{"id":9,"rate_id":1,"rate_code":"GB-VAT-1","label":"VAT","compound":false,"rate_percent":"20","tax_total":"3.50","shipping_tax_total":"0.98"}]`,
		`"refunds":[{"id":8,"reason":"","total":"-1.00"}]`,
		`"totals":{"subtotal":"20.00","discount":"2.50","discount_tax":"0.50","shipping":"4.90","shipping_tax":"0.98","cart_tax":"3.50","tax":"4.48","total":"26.88"}`,
		`"meta_data":[{"key":"gift","value":"yes"}]`,
		`"date_paid":"2026-11-22T08:00:30Z","date_completed":null`,
	} {
		if !strings.Contains(string(b), want) {
			t.Errorf("document lacks %s\n%s", want, b)
		}
	}
}

func TestParseOrderDocument_Refused(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name, raw, field string
	}{
		{"NotJSON", `{"id":7,`, "raw"},
		{"NotAnObject", `[1,2]`, "raw"},
		{"OtherOrder", `{"id":8}`, "raw.id"},
		{"FloatMoney", `{"id":7,"total":12.5}`, "raw"},
		{"BadMoney", `{"id":7,"total":"12,50"}`, "raw.total"},
		{"BadLineMoney", `{"id":7,"line_items":[{"id":1,"subtotal":"1e3"}]}`, "raw.line_items[0].subtotal"},
		{"BadDate", `{"id":7,"date_paid_gmt":"yesterday"}`, "raw.date_paid_gmt"},
		{"TooLarge", `{"id":7,"customer_note":"` + strings.Repeat("x", hub.MaxRawOrderBytes) + `"}`, "raw"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := hub.ParseOrderDocument(7, json.RawMessage(tt.raw))
			var he *hub.Error
			if !errors.As(err, &he) || he.Code != hub.EINVALID || he.Field != tt.field {
				t.Fatalf("err=%#v, want EINVALID on %s", err, tt.field)
			}
		})
	}
}
