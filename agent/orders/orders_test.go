package orders_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stockwire/stockwire/agent/orders"
	"github.com/stockwire/stockwire/shared/systest"
	"github.com/stockwire/stockwire/shared/wire"
	"github.com/stockwire/stockwire/shared/woo"
)

func loadBody(t *testing.T, name string) woo.Order {
	t.Helper()
	b := systest.Fixture(t, name)
	var cap struct {
		Body woo.Order `json:"body"`
	}
	if err := json.Unmarshal(b, &cap); err != nil {
		t.Fatal(err)
	}
	return cap.Body
}

func TestFromWoo_OrderGet(t *testing.T) {
	t.Parallel()
	got, err := orders.FromWoo(loadBody(t, "order-get.json"), orders.SourcePoll)
	if err != nil {
		t.Fatal(err)
	}
	want := wire.Order{
		WooOrderID: 34, Number: "34", Status: "processing",
		DateModified: time.Date(2026, 11, 22, 8, 55, 28, 0, time.UTC),
		Source:       "poll",
		Lines: []wire.OrderLine{
			{SKU: "RW-SKU-001", Quantity: 1, ProductID: 11},
			{SKU: "SAMPLE-TEE-S", Quantity: 2, ProductID: 31, VariationID: 32},
		},
		// Its line items carry _reduced_stock "1" and "2".
		StockReduced: new(true),
	}
	gb, _ := json.Marshal(got)
	wb, _ := json.Marshal(want)
	if string(gb) != string(wb) {
		t.Fatalf("FromWoo=\n%s\nwant\n%s", gb, wb)
	}
	if got.DateModified.Location() != time.UTC {
		t.Fatalf("date not UTC: %v", got.DateModified)
	}
}

func TestFromWoo_WebhookDeliveries(t *testing.T) {
	t.Parallel()
	b := systest.Fixture(t, "webhook-deliveries.json")
	var file struct {
		Deliveries []struct {
			Headers [][2]string `json:"headers"`
			Body    string      `json:"body"`
		} `json:"deliveries"`
	}
	if err := json.Unmarshal(b, &file); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, d := range file.Deliveries {
		topic := ""
		for _, h := range d.Headers {
			if h[0] == woo.HeaderWebhookTopic {
				topic = h[1]
			}
		}
		if topic != woo.TopicOrderCreated && topic != woo.TopicOrderUpdated {
			continue
		}
		var o woo.Order
		if err := json.Unmarshal([]byte(d.Body), &o); err != nil {
			t.Fatal(err)
		}
		got, err := orders.FromWoo(o, orders.SourceWebhook)
		if err != nil {
			t.Fatal(err)
		}
		n++
		// Payloads are built at delivery time: both carry the final state.
		if got.WooOrderID != 34 || got.Status != "trash" || got.Source != "webhook" {
			t.Fatalf("%s: %+v", topic, got)
		}
		if want := time.Date(2026, 11, 22, 8, 55, 29, 0, time.UTC); !got.DateModified.Equal(want) {
			t.Fatalf("DateModified=%v, want %v", got.DateModified, want)
		}
		if len(got.Lines) != 2 || got.Lines[1].VariationID != 32 || got.Lines[1].Quantity != 2 {
			t.Fatalf("lines=%+v", got.Lines)
		}
		// Cancelled before it was trashed: WooCommerce put the stock
		// back and deleted _reduced_stock.
		if got.StockReduced == nil || *got.StockReduced {
			t.Fatalf("StockReduced=%v, want false", got.StockReduced)
		}
	}
	if n != 2 {
		t.Fatalf("converted %d order deliveries, want 2", n)
	}
}

func ptr(s string) *string { return &s }

func TestFromWoo_Lines(t *testing.T) {
	t.Parallel()
	o := woo.Order{ID: 9, Number: "A-9", Status: "on-hold", DateModifiedGMT: ptr("2026-01-02T03:04:05"),
		LineItems: []woo.LineItem{
			{ProductID: 5, VariationID: 6, Quantity: 1, SKU: ptr("V")},
			{ProductID: 5, VariationID: 6, Quantity: 2, SKU: ptr("V")},
			{ProductID: 5, VariationID: 7, Quantity: 1, SKU: ptr("W")},
			{ProductID: 8, Quantity: 3, SKU: nil},
		}}
	got, err := orders.FromWoo(o, orders.SourceWebhook)
	if err != nil {
		t.Fatal(err)
	}
	want := []wire.OrderLine{
		{SKU: "V", Quantity: 3, ProductID: 5, VariationID: 6},
		{SKU: "W", Quantity: 1, ProductID: 5, VariationID: 7},
		{SKU: "", Quantity: 3, ProductID: 8},
	}
	if len(got.Lines) != len(want) {
		t.Fatalf("lines=%+v", got.Lines)
	}
	for i := range want {
		if got.Lines[i] != want[i] {
			t.Fatalf("line %d=%+v, want %+v", i, got.Lines[i], want[i])
		}
	}
	if got.Number != "A-9" {
		t.Fatalf("Number=%q", got.Number)
	}
}

func TestFromWoo_Errors(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name    string
		o       woo.Order
		ignored bool
	}{
		{"CheckoutDraft", woo.Order{ID: 1, Status: "checkout-draft", DateModifiedGMT: ptr("2026-01-02T03:04:05")}, true},
		{"NoID", woo.Order{Status: "processing", DateModifiedGMT: ptr("2026-01-02T03:04:05")}, false},
		{"NoDate", woo.Order{ID: 1, Status: "processing"}, false},
		{"BadDate", woo.Order{ID: 1, Status: "processing", DateModifiedGMT: ptr("2026-01-02 03:04")}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := orders.FromWoo(tt.o, orders.SourcePoll)
			if err == nil {
				t.Fatal("no error")
			}
			if got := errors.Is(err, orders.ErrIgnored); got != tt.ignored {
				t.Fatalf("errors.Is(ErrIgnored)=%v for %v", got, err)
			}
		})
	}
	t.Run("CreatedDateFallback", func(t *testing.T) {
		got, err := orders.FromWoo(woo.Order{ID: 1, Status: "pending", DateCreatedGMT: ptr("2026-01-02T03:04:05")}, "poll")
		if err != nil || got.DateModified.IsZero() {
			t.Fatalf("got %+v %v", got, err)
		}
	})
}

func TestFromWooFull(t *testing.T) {
	t.Parallel()
	o := loadBody(t, "order-get.json")
	t.Run("OK", func(t *testing.T) {
		got, err := orders.FromWooFull(o, orders.SourceWebhook)
		if err != nil {
			t.Fatal(err)
		}
		var back woo.Order
		if err := json.Unmarshal(got.Raw, &back); err != nil {
			t.Fatal(err)
		}
		if back.Billing == nil || back.Billing.Email != "ada@example.com" || back.Total != "51.00" || len(got.Lines) != 2 {
			t.Fatalf("report=%+v raw=%s", got, got.Raw)
		}
	})
	t.Run("OversizedWithoutJSON", func(t *testing.T) {
		big := o
		big.CustomerNote = strings.Repeat("x", orders.MaxRawBytes)
		got, err := orders.FromWooFull(big, orders.SourceWebhook)
		if err != nil {
			t.Fatal(err)
		}
		if len(got.Raw) != 0 || got.WooOrderID != 34 || len(got.Lines) != 2 {
			t.Fatalf("report=%+v with %d bytes of JSON, want the stock facts only", got.Lines, len(got.Raw))
		}
	})
}
