package web_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stockwire/stockwire/hub"
	"github.com/stockwire/stockwire/hub/mock"
	"github.com/stockwire/stockwire/shared/hubapi"
)

// TestServer_AnswersGolden pins the JSON of every answer shape, byte for
// byte, from fully populated domain values: a change of the API's wire
// format shows in review as a change of testdata/answers/*.json.
func TestServer_AnswersGolden(t *testing.T) {
	t.Parallel()
	f := newFakes(t)
	at := time.Date(2026, 11, 23, 9, 30, 0, 123456789, time.UTC)
	seen := at.Add(-time.Minute)
	stock := hub.SKUStock{
		SKU: "TEE-M", OnHand: 45, Committed: 3, SafetyStock: 2, Available: 40,
		Locations: map[string]int64{"main": 40, "back": 5}, Targets: map[string]int64{"1": 38, "2": 10},
		Allocated: map[string]int64{"2": 10}, Pool: 30, Exposure: 1,
	}
	bare := hub.SKUStock{SKU: "BARE"}
	entry := hub.LedgerEntry{ID: 7, SKU: "TEE-M", Location: "main", Quantity: "on_hand", Before: 40, After: 45,
		Reason: "receipt", Reference: "po-9", IdempotencyKey: "po-9-1", Actor: "admin", CreatedAt: at}
	plain := hub.LedgerEntry{ID: 8, SKU: "TEE-M", Quantity: "committed", Before: 0, After: 3, Reason: "order.committed", Actor: "store:1", CreatedAt: at}
	store := hub.Store{ID: 2, Name: "eu", URL: "https://eu.example", Policy: hub.PolicyAllocate, Buffer: 1, Status: hub.StoreActive, CreatedAt: at,
		Agent: hub.AgentState{Connected: true, LastSeen: &seen, AppliedSeq: 40, HeadSeq: 42, SeqLag: 2, OutboxDepth: 3,
			DeadLetters: 1, WebhookHealth: hub.WebhookHealthFailing, Replica: "hub-a"},
		Allocation: hub.AllocationParams{LowWater: 2, MinGrant: 5, MaxGrant: 50, CoverSeconds: 60, IdleSeconds: 300}}
	offline := hub.Store{ID: 3, Name: "us", URL: "https://us.example", Policy: hub.PolicyMirror, Status: hub.StoreRevoked, CreatedAt: at}
	order := hub.Order{ID: 11, StoreID: 2, WooOrderID: 101, Number: "101", Status: "processing", StockState: hub.OrderStateCommitted,
		Lines:      []hub.OrderLine{{SKU: "TEE-M", Quantity: 3, ProductID: 5, VariationID: 6}, {SKU: "NOPE", Quantity: 1, Error: "unknown sku"}},
		ModifiedAt: at, UpdatedAt: at.Add(time.Second), Document: answerDocument(at)}

	f.inv.StockFn = func(ctx context.Context, sku string) (hub.SKUStock, error) {
		if sku == "BARE" {
			return bare, nil
		}
		return stock, nil
	}
	f.inv.ListStockFn = func(ctx context.Context, p hub.Page) ([]hub.SKUStock, error) { return []hub.SKUStock{bare, stock}, nil }
	f.inv.LedgerFn = func(ctx context.Context, sku string, p hub.Page) ([]hub.LedgerEntry, error) {
		return []hub.LedgerEntry{entry, plain}, nil
	}
	f.inv.AdjustFn = func(ctx context.Context, a hub.Adjustment) (hub.LedgerEntry, error) { return entry, nil }
	f.stores.StoresFn = func(ctx context.Context) ([]hub.Store, error) { return []hub.Store{store, offline}, nil }
	f.stores.StoreFn = func(ctx context.Context, id int64) (hub.Store, error) { return store, nil }
	f.stores.CreateFn = func(ctx context.Context, s hub.NewStore) (hub.Store, string, error) {
		return offline, "swa_secret", nil
	}
	f.stores.CreateEnrolmentTokenFn = func(ctx context.Context, ttl time.Duration) (string, time.Time, error) {
		return "swj_join", at.In(time.FixedZone("CET", 3600)), nil
	}
	f.orders.OrdersFn = func(ctx context.Context, p hub.Page) ([]hub.Order, string, error) {
		return []hub.Order{order, {ID: 12, StockState: hub.OrderStateNone}}, "99", nil
	}
	f.orders.FulfilFn = func(ctx context.Context, id int64, actor string) (hub.Order, error) { return order, nil }
	f.orders.OrderFn = func(ctx context.Context, id int64) (hub.Order, error) { return order, nil }
	failing := at.Add(-time.Hour)
	webhook := hub.Webhook{ID: 4, URL: "https://erp.example/in", Events: []string{hub.EventOrderCreated, hub.EventOrderCancelled},
		Description: "NetSuite", Enabled: true, CreatedAt: at, UpdatedAt: at.Add(time.Minute)}
	disabled := hub.Webhook{ID: 5, URL: "http://wms.example/hook", Events: []string{hub.EventOrderUpdated}, DisabledReason: "failing since 2026-11-22T09:30:00Z",
		FailingSince: &failing, CreatedAt: at, UpdatedAt: at}
	delivered := hub.WebhookDelivery{ID: 70, MessageID: "msg_70", SubscriptionID: 4, State: hub.DeliveryDelivered, Attempts: 1, LastStatus: 204,
		CreatedAt: at, DeliveredAt: &seen, Event: hub.WebhookEvent{ID: 9, Type: hub.EventOrderCreated, CreatedAt: at}}
	pending := hub.WebhookDelivery{ID: 71, MessageID: "msg_71", SubscriptionID: 5, State: hub.DeliveryPending, Attempts: 2, NextAttemptAt: at.Add(30 * time.Second),
		LastStatus: 503, LastError: "Service Unavailable", CreatedAt: at, Event: hub.WebhookEvent{ID: 10, Type: hub.EventOrderUpdated, CreatedAt: at}}
	f.srv.Webhooks = &mock.WebhookService{
		CreateWebhookFn: func(ctx context.Context, w hub.NewWebhook) (hub.Webhook, string, error) {
			return webhook, "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", nil
		},
		WebhooksFn: func(ctx context.Context) ([]hub.Webhook, error) { return []hub.Webhook{webhook, disabled}, nil },
		WebhookFn:  func(ctx context.Context, id int64) (hub.Webhook, error) { return disabled, nil },
		DeliveriesFn: func(ctx context.Context, f hub.DeliveryFilter, p hub.Page) ([]hub.WebhookDelivery, error) {
			return []hub.WebhookDelivery{delivered, pending}, nil
		},
		ReplayDeliveryFn: func(ctx context.Context, id int64) (hub.WebhookDelivery, error) { return pending, nil },
		ReplayDeadFn:     func(ctx context.Context, id int64) (int, error) { return 3, nil },
	}

	for _, tt := range []struct {
		name, method, path, body string
		status                   int
	}{
		{"sku", "GET", "/api/v1/skus/TEE-M", "", 200},
		{"sku_bare", "GET", "/api/v1/skus/BARE", "", 200},
		{"sku_list", "GET", "/api/v1/skus?limit=2", "", 200},
		{"ledger_list", "GET", "/api/v1/ledger?limit=2", "", 200},
		{"adjustment", "POST", "/api/v1/adjustments", `{"sku":"TEE-M","location":"main","delta":5}`, 200},
		{"store", "GET", "/api/v1/stores/2", "", 200},
		{"store_list", "GET", "/api/v1/stores", "", 200},
		{"created_store", "POST", "/api/v1/stores", `{"name":"us","url":"https://us.example"}`, 201},
		{"enrolment_token", "POST", "/api/v1/enrolment-tokens", `{}`, 201},
		{"order_list", "GET", "/api/v1/orders", "", 200},
		{"fulfilment", "POST", "/api/v1/orders/11/fulfilment", "", 200},
		{"order", "GET", "/api/v1/orders/11", "", 200},
		{"import", "POST", "/api/v1/stock/import", "A,main,1\n", 200},
		{"created_webhook", "POST", "/api/v1/webhooks", `{"url":"https://erp.example/in","events":["order.created","order.cancelled"]}`, 201},
		{"webhook_list", "GET", "/api/v1/webhooks", "", 200},
		{"webhook", "GET", "/api/v1/webhooks/5", "", 200},
		{"webhook_delivery_list", "GET", "/api/v1/webhook-deliveries?limit=2", "", 200},
		{"replayed_delivery", "POST", "/api/v1/webhook-deliveries/71/replay", "", 200},
		{"replayed_dead", "POST", "/api/v1/webhook-deliveries/replay", "", 200},
		{"error_lines", "POST", "/api/v1/stock/import", "A,main,x\n", 422},
		{"error_field", "GET", "/api/v1/skus?limit=0", "", 400},
	} {
		t.Run(tt.name, func(t *testing.T) {
			resp, b := f.do(t, tt.method, tt.path, adminToken, tt.body)
			if resp.StatusCode != tt.status {
				t.Fatalf("status=%d, want %d: %s", resp.StatusCode, tt.status, b)
			}
			golden := filepath.Join("testdata", "answers", tt.name+".json")
			if *update {
				if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(golden, b, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if string(b) != string(want) {
				t.Fatalf("answer differs from %s (run with -update):\n got %s\nwant %s", golden, b, want)
			}
		})
	}
}

// TestErrorCodes_MatchTheContract checks every hub error code the server
// writes is the hubapi code of the same meaning.
func TestErrorCodes_MatchTheContract(t *testing.T) {
	t.Parallel()
	for hubCode, apiCode := range map[string]string{
		hub.EINVALID:       hubapi.CodeInvalid,
		hub.EUNAUTHORIZED:  hubapi.CodeUnauthorized,
		hub.EFORBIDDEN:     hubapi.CodeForbidden,
		hub.ENOTFOUND:      hubapi.CodeNotFound,
		hub.ECONFLICT:      hubapi.CodeConflict,
		hub.ETOOLARGE:      hubapi.CodeTooLarge,
		hub.EUNPROCESSABLE: hubapi.CodeUnprocessable,
		hub.EINTERNAL:      hubapi.CodeInternal,
	} {
		if hubCode != apiCode {
			t.Errorf("hub code %q is answered as %q, want hubapi's %q", hubCode, hubCode, apiCode)
		}
	}
}

// answerDocument is an order document with one of each part.
func answerDocument(at time.Time) *hub.OrderDocument {
	paid := at.Add(-time.Minute)
	return &hub.OrderDocument{Number: "101", Status: "processing", Currency: "EUR", CreatedVia: "checkout",
		DateCreated: &paid, DateModified: &at, DatePaid: &paid,
		Customer: hub.Customer{ID: 9, FirstName: "Ada", LastName: "Lovelace", Email: "ada@example.com", Phone: "+44 1"},
		Billing: hub.Address{FirstName: "Ada", LastName: "Lovelace", Address1: "1 Road", City: "London", Postcode: "N1",
			Country: "GB", Email: "ada@example.com", Phone: "+44 1"},
		Shipping: hub.Address{FirstName: "Ada", LastName: "Lovelace", Address1: "1 Road", City: "London", Postcode: "N1", Country: "GB"},
		Payment:  hub.Payment{Method: "stripe", MethodTitle: "Card", TransactionID: "ch_1"}, CustomerNote: "Ring twice",
		Lines: []hub.DocLine{{ID: 1, Name: "Tee - M", SKU: "TEE-M", ProductID: 5, VariationID: 6, Quantity: 3, Price: "9",
			Subtotal: "30.00", SubtotalTax: "6.00", Total: "27.00", TotalTax: "5.40", Discount: "3.00",
			Taxes:      []hub.LineTax{{RateID: 1, Total: "5.4", Subtotal: "6"}},
			Attributes: []hub.Attr{{Key: "size", Name: "Size", Value: "M"}},
			MetaData:   []hub.Meta{{Key: "size", Value: json.RawMessage(`"M"`), DisplayKey: "Size", DisplayValue: json.RawMessage(`"M"`)}}}},
		ShippingLines: []hub.DocShip{{ID: 2, MethodID: "flat_rate", MethodTitle: "Flat rate", Total: "4.90", TotalTax: "0.98", Taxes: []hub.LineTax{}}},
		Fees:          []hub.DocFee{{ID: 3, Name: "Gift wrap", TaxStatus: "none", Total: "1.00", TotalTax: "0.00", Taxes: []hub.LineTax{}}},
		Coupons:       []hub.Coupon{{ID: 4, Code: "save10", Discount: "3.00", DiscountTax: "0.60"}},
		TaxLines:      []hub.DocTax{{ID: 5, RateID: 1, RateCode: "GB-VAT-1", Label: "VAT", RatePercent: "20", TaxTotal: "5.40", ShippingTaxTotal: "0.98"}},
		Refunds:       []hub.Refund{},
		Totals: hub.Totals{Subtotal: "30.00", Discount: "3.00", DiscountTax: "0.60", Shipping: "4.90", ShippingTax: "0.98",
			CartTax: "5.40", Tax: "6.38", Total: "39.28"},
		MetaData: []hub.Meta{{Key: "gift", Value: json.RawMessage(`"yes"`)}},
	}
}
