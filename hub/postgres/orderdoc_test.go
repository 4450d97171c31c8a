package postgres_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stockwire/stockwire/hub"
	"github.com/stockwire/stockwire/hub/postgres"
)

// rawOrder is a WooCommerce order JSON with personal data, created at
// created, holding qty of MUG.
func rawOrder(id int64, status string, created time.Time, qty int64) json.RawMessage {
	c := created.UTC().Format("2006-01-02T15:04:05")
	return json.RawMessage(fmt.Sprintf(`{"id":%d,"number":"%d","status":%q,"currency":"EUR","date_created_gmt":%q,"date_modified_gmt":%q,
"date_paid_gmt":%q,"customer_id":5,"customer_note":"ring twice","payment_method":"stripe","payment_method_title":"Card","transaction_id":"ch_9",
"billing":{"first_name":"Ada","last_name":"Lovelace","company":"AE","address_1":"1 Road","address_2":"","city":"London","state":"","postcode":"N1","country":"GB","email":"ada@example.com","phone":"+44 1"},
"shipping":{"first_name":"Ada","last_name":"Lovelace","company":"","address_1":"1 Road","address_2":"","city":"London","state":"","postcode":"N1","country":"GB","phone":"+44 1"},
"total":"12.40","total_tax":"0.00","shipping_total":"4.90","discount_total":"0.00",
"line_items":[{"id":1,"name":"Mug","product_id":3,"variation_id":0,"quantity":%d,"subtotal":"7.50","total":"7.50","total_tax":"0.00","sku":"MUG","price":2.5,"meta_data":[]}],
"shipping_lines":[{"id":2,"method_id":"flat_rate","method_title":"Flat rate","total":"4.90","total_tax":"0.00"}],
"meta_data":[{"id":1,"key":"gift","value":"no"}]}`, id, id, status, c, c, c, qty))
}

func (e *env) MustOrder(tb testing.TB, id int64) hub.Order {
	tb.Helper()
	o, err := e.orders.Order(tb.Context(), id)
	if err != nil {
		tb.Fatal(err)
	}
	return o
}

func TestOrderService_Document(t *testing.T) {
	t.Parallel()
	e := MustEnv(t)
	a := e.MustStore(t, "a", 0)
	e.MustCount(t, "MUG", "main", 10)
	created := t0.Add(-time.Hour)
	o, err := e.orders.ApplyOrderReport(t.Context(), a.ID, hub.OrderReport{WooOrderID: 41, Number: "41", Status: "processing",
		DateModified: t0, Lines: []hub.OrderLine{{SKU: "MUG", Quantity: 3}}, Raw: rawOrder(41, "processing", created, 3)})
	if err != nil {
		t.Fatal(err)
	}

	t.Run("OK", func(t *testing.T) {
		got := e.MustOrder(t, o.ID)
		d := got.Document
		if d == nil {
			t.Fatal("no document")
		}
		if d.Customer.Email != "ada@example.com" || d.Billing.Address1 != "1 Road" || d.Shipping.Phone != "+44 1" ||
			d.CustomerNote != "ring twice" || d.Payment.TransactionID != "ch_9" || d.Customer.ID != 5 {
			t.Fatalf("personal part=%+v %+v %+v", d.Customer, d.Billing, d.Payment)
		}
		if d.DateCreated == nil || !d.DateCreated.Equal(created) || d.Totals.Total != "12.40" || d.Totals.Subtotal != "7.50" {
			t.Fatalf("document=%+v", d)
		}
		if len(d.ShippingLines) != 1 || d.ShippingLines[0].Total != "4.90" || len(d.Lines) != 1 || d.Lines[0].Quantity != 3 {
			t.Fatalf("lines=%+v shipping=%+v", d.Lines, d.ShippingLines)
		}
		if got.PersonalDataErasedAt != nil || len(got.Lines) != 1 {
			t.Fatalf("order=%+v", got)
		}
		var cols struct {
			Currency   string    `db:"currency"`
			Total      string    `db:"total"`
			CustomerID int64     `db:"customer_id"`
			Created    time.Time `db:"date_created"`
		}
		e.MustSelect(t, &cols, `SELECT currency, total::text AS total, customer_id, date_created FROM orders WHERE id = $1`, o.ID)
		if cols.Currency != "EUR" || cols.Total != "12.40" || cols.CustomerID != 5 || !cols.Created.Equal(created) {
			t.Fatalf("columns=%+v", cols)
		}
	})

	t.Run("FeedCarriesIt", func(t *testing.T) {
		feed, _, err := e.orders.Orders(t.Context(), hub.Page{})
		if err != nil {
			t.Fatal(err)
		}
		if len(feed) != 1 || feed[0].Document == nil || feed[0].Document.Payment.Method != "stripe" {
			t.Fatalf("feed=%+v", feed)
		}
	})

	t.Run("FulfilAnswersIt", func(t *testing.T) {
		got, err := e.orders.Fulfil(t.Context(), o.ID, "erp")
		if err != nil {
			t.Fatal(err)
		}
		if got.StockState != hub.OrderStateFulfilled || got.Document == nil || got.Document.Payment.TransactionID != "ch_9" {
			t.Fatalf("fulfilled order=%+v", got)
		}
	})

	t.Run("ReportWithoutJSONKeepsIt", func(t *testing.T) {
		e.MustReport(t, a.ID, 41, "completed", t0.Add(time.Minute), hub.OrderLine{SKU: "MUG", Quantity: 3})
		got := e.MustOrder(t, o.ID)
		if got.Status != "completed" || got.Document == nil || got.Document.Customer.Email != "ada@example.com" {
			t.Fatalf("order=%+v", got)
		}
	})

	t.Run("ErrNotFound", func(t *testing.T) {
		if _, err := e.orders.Order(t.Context(), o.ID+1000); hub.ErrorCode(err) != hub.ENOTFOUND {
			t.Fatalf("err=%v, want ENOTFOUND", err)
		}
	})
}

func TestOrderService_DocumentRefused(t *testing.T) {
	t.Parallel()
	e := MustEnv(t)
	a := e.MustStore(t, "a", 0)
	e.MustCount(t, "MUG", "main", 10)
	for _, tt := range []struct {
		name string
		raw  json.RawMessage
	}{
		{"FloatMoney", json.RawMessage(`{"id":42,"total":12.4}`)},
		{"OtherOrder", rawOrder(43, "processing", t0, 1)},
		{"Oversized", json.RawMessage(`{"id":42,"customer_note":"` + string(make([]byte, hub.MaxRawOrderBytes)) + `"}`)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := e.orders.ApplyOrderReport(t.Context(), a.ID, hub.OrderReport{WooOrderID: 42, Status: "processing",
				DateModified: t0, Lines: []hub.OrderLine{{SKU: "MUG", Quantity: 1}}, Raw: tt.raw})
			if hub.ErrorCode(err) != hub.EINVALID {
				t.Fatalf("err=%v, want EINVALID", err)
			}
		})
	}
	// Nothing changed: no order, nothing committed.
	if s := e.MustStock(t, "MUG"); s.Committed != 0 {
		t.Fatalf("stock=%+v", s)
	}
	var n int
	e.MustSelect(t, &n, `SELECT count(*) FROM orders`)
	if n != 0 {
		t.Fatalf("%d orders stored", n)
	}
}

func TestOrderService_ErasePersonalData(t *testing.T) {
	t.Parallel()
	e := MustEnv(t)
	a := e.MustStore(t, "a", 0)
	e.MustCount(t, "MUG", "main", 10)
	report := func(id int64, status string, created, mod time.Time) hub.Order {
		t.Helper()
		o, err := e.orders.ApplyOrderReport(t.Context(), a.ID, hub.OrderReport{WooOrderID: id, Number: fmt.Sprint(id), Status: status,
			DateModified: mod, Lines: []hub.OrderLine{{SKU: "MUG", Quantity: 2}}, Raw: rawOrder(id, status, created, 2)})
		if err != nil {
			t.Fatal(err)
		}
		return o
	}
	// A subscription, so that the orders' snapshots wait in webhook events.
	if _, _, err := postgres.NewWebhookService(e.db).CreateWebhook(t.Context(), hub.NewWebhook{URL: "https://erp.example/in",
		Events: []string{hub.EventOrderCreated}, Enabled: true}); err != nil {
		t.Fatal(err)
	}
	cutoff := t0.Add(-90 * 24 * time.Hour)
	old := report(1, "processing", cutoff.Add(-time.Hour), t0)
	young := report(2, "processing", cutoff.Add(time.Hour), t0)

	n, err := e.orders.ErasePersonalData(t.Context(), cutoff)
	if err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Fatalf("erased %d orders, want 1", n)
	}

	t.Run("PersonalDataGone", func(t *testing.T) {
		got := e.MustOrder(t, old.ID)
		d := got.Document
		if got.PersonalDataErasedAt == nil || d == nil {
			t.Fatalf("order=%+v", got)
		}
		if want := (hub.Customer{ID: 5}); d.Customer != want {
			t.Fatalf("Customer=%+v, want %+v", d.Customer, want)
		}
		if want := (hub.Address{Country: "GB"}); d.Billing != want || d.Shipping != want {
			t.Fatalf("addresses=%+v %+v, want only the country", d.Billing, d.Shipping)
		}
		if d.CustomerNote != "" {
			t.Fatalf("CustomerNote=%q", d.CustomerNote)
		}
		var raw *string
		e.MustSelect(t, &raw, `SELECT raw::text FROM orders WHERE id = $1`, old.ID)
		if raw != nil {
			t.Fatalf("raw kept: %s", *raw)
		}
	})

	t.Run("WebhookSnapshotsToo", func(t *testing.T) {
		var snaps []string
		e.MustSelect(t, &snaps, `SELECT data::text FROM webhook_events ORDER BY id`)
		if len(snaps) != 2 {
			t.Fatalf("%d webhook events, want 2", len(snaps))
		}
		if strings.Contains(snaps[0], "Lovelace") || !strings.Contains(snaps[0], "PersonalDataErasedAt") || !strings.Contains(snaps[0], "MUG") {
			t.Fatalf("old order's webhook snapshot still holds personal data, or lost its lines: %s", snaps[0])
		}
		if !strings.Contains(snaps[1], "Lovelace") {
			t.Fatalf("young order's snapshot erased too: %s", snaps[1])
		}
	})

	t.Run("StockFactsKept", func(t *testing.T) {
		got := e.MustOrder(t, old.ID)
		d := got.Document
		if got.Status != "processing" || got.StockState != hub.OrderStateCommitted || len(got.Lines) != 1 || got.Lines[0].Quantity != 2 {
			t.Fatalf("order=%+v", got)
		}
		if len(d.Lines) != 1 || d.Lines[0].SKU != "MUG" || d.Lines[0].Quantity != 2 || d.Totals.Total != "12.40" ||
			d.Payment.Method != "stripe" || len(d.ShippingLines) != 1 || len(d.MetaData) != 1 {
			t.Fatalf("document=%+v", d)
		}
		if s := e.MustStock(t, "MUG"); s.Committed != 4 {
			t.Fatalf("stock=%+v", s)
		}
	})

	t.Run("YoungerOrderKept", func(t *testing.T) {
		got := e.MustOrder(t, young.ID)
		if got.PersonalDataErasedAt != nil || got.Document.Customer.Email != "ada@example.com" {
			t.Fatalf("order=%+v", got)
		}
	})

	t.Run("LaterReportStaysErased", func(t *testing.T) {
		report(1, "completed", cutoff.Add(-time.Hour), t0.Add(time.Minute))
		got := e.MustOrder(t, old.ID)
		if got.Status != "completed" || got.Document.Status != "completed" || got.Document.Customer.Email != "" ||
			got.Document.Billing.Address1 != "" || got.Document.CustomerNote != "" {
			t.Fatalf("order=%+v doc=%+v", got, got.Document)
		}
		var raw *string
		e.MustSelect(t, &raw, `SELECT raw::text FROM orders WHERE id = $1`, old.ID)
		if raw != nil {
			t.Fatalf("raw stored again: %s", *raw)
		}
	})

	t.Run("Idempotent", func(t *testing.T) {
		if n, err := e.orders.ErasePersonalData(t.Context(), cutoff); err != nil || n != 0 {
			t.Fatalf("second run erased %d, %v", n, err)
		}
	})
}

// A report without the order JSON (a _fields poll that could not read the
// order) may win the race against the same state with it: the duplicate
// still brings the document.
func TestOrderService_DuplicateBringsDocument(t *testing.T) {
	t.Parallel()
	e := MustEnv(t)
	a := e.MustStore(t, "a", 0)
	e.MustCount(t, "MUG", "main", 10)
	o := e.MustReport(t, a.ID, 50, "processing", t0, hub.OrderLine{SKU: "MUG", Quantity: 1})
	if got := e.MustOrder(t, o.ID); got.Document != nil {
		t.Fatalf("document before any JSON: %+v", got.Document)
	}
	if _, err := e.orders.ApplyOrderReport(t.Context(), a.ID, hub.OrderReport{WooOrderID: 50, Status: "processing", DateModified: t0,
		Lines: []hub.OrderLine{{SKU: "MUG", Quantity: 1}}, Raw: rawOrder(50, "processing", t0, 1)}); err != nil {
		t.Fatal(err)
	}
	got := e.MustOrder(t, o.ID)
	if got.Document == nil || got.Document.Customer.Email != "ada@example.com" {
		t.Fatalf("document=%+v", got.Document)
	}
	if s := e.MustStock(t, "MUG"); s.Committed != 1 {
		t.Fatalf("stock=%+v, want the order committed once", s)
	}
}
