package web_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stockwire/stockwire/hub"
	"github.com/stockwire/stockwire/hub/web"
	"github.com/stockwire/stockwire/shared/hubapi"
)

func TestServer_Webhooks(t *testing.T) {
	t.Parallel()
	p := MustPGServer(t)
	p.srv.MaxJSONBytes = 1 << 20 // the webhook routes' own 16 KiB limit applies

	var created hubapi.WebhookCreated
	t.Run("Create", func(t *testing.T) {
		resp, b := p.do(t, "POST", "/api/v1/webhooks", adminToken, `{"url":"https://erp.example/in","events":["order.created","order.cancelled"],"description":"NetSuite"}`)
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("status=%d: %s", resp.StatusCode, b)
		}
		if err := json.Unmarshal(b, &created); err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(created.Secret, "whsec_") || !created.Enabled || len(created.Events) != 2 {
			t.Fatalf("created=%s", b)
		}
	})
	t.Run("SecretOnlyOnce", func(t *testing.T) {
		for _, path := range []string{"/api/v1/webhooks", "/api/v1/webhooks/" + itoa(created.ID)} {
			resp, b := p.do(t, "GET", path, adminToken, "")
			if resp.StatusCode != 200 || strings.Contains(string(b), "whsec_") || strings.Contains(string(b), `"secret"`) {
				t.Fatalf("GET %s: status=%d: %s", path, resp.StatusCode, b)
			}
		}
	})
	t.Run("ErrBadInput", func(t *testing.T) {
		for _, tc := range []struct{ method, path, body, field string }{
			{"POST", "/api/v1/webhooks", `{"url":"gopher://erp.example/","events":["order.created"]}`, "url"},
			{"POST", "/api/v1/webhooks", `{"url":"https://erp.example/","events":["order.shipped"]}`, "events"},
			{"POST", "/api/v1/webhooks", `{"url":"https://erp.example/","events":[]}`, "events"},
			{"POST", "/api/v1/webhooks", `{"url":"https://erp.example/","events":["order.created"],"secret":"whsec_mine"}`, "secret"},
			{"PATCH", "/api/v1/webhooks/" + itoa(created.ID), `{"url":"ftp://x/"}`, "url"},
		} {
			resp, b := p.do(t, tc.method, tc.path, adminToken, tc.body)
			var e hubapi.ErrorBody
			json.Unmarshal(b, &e)
			if resp.StatusCode != 400 || e.Error.Field != tc.field {
				t.Fatalf("%s %s: status=%d, want 400 on %s: %s", tc.method, tc.path, resp.StatusCode, tc.field, b)
			}
		}
		big := `{"url":"https://erp.example/","events":["order.created"],"description":"` + strings.Repeat("x", 20<<10) + `"}`
		if resp, b := p.do(t, "POST", "/api/v1/webhooks", adminToken, big); resp.StatusCode != http.StatusRequestEntityTooLarge {
			t.Fatalf("big body: status=%d: %s", resp.StatusCode, b)
		}
		if resp, _ := p.do(t, "GET", "/api/v1/webhooks", "", ""); resp.StatusCode != 401 {
			t.Fatalf("no token: status=%d", resp.StatusCode)
		}
		list, err := p.hooks.Webhooks(t.Context())
		if err != nil || len(list) != 1 || list[0].URL != "https://erp.example/in" {
			t.Fatalf("after bad input: %+v, err %v", list, err)
		}
	})
	t.Run("UpdateAndDelete", func(t *testing.T) {
		resp, b := p.do(t, "PATCH", "/api/v1/webhooks/"+itoa(created.ID), adminToken, `{"enabled":false,"description":"off"}`)
		var w hubapi.Webhook
		json.Unmarshal(b, &w)
		if resp.StatusCode != 200 || w.Enabled || w.Description != "off" || w.URL != created.URL {
			t.Fatalf("status=%d: %s", resp.StatusCode, b)
		}
		if resp, b := p.do(t, "DELETE", "/api/v1/webhooks/"+itoa(created.ID), adminToken, ""); resp.StatusCode != 204 {
			t.Fatalf("delete: status=%d: %s", resp.StatusCode, b)
		}
		if resp, _ := p.do(t, "GET", "/api/v1/webhooks/"+itoa(created.ID), adminToken, ""); resp.StatusCode != 404 {
			t.Fatalf("after delete: status=%d", resp.StatusCode)
		}
	})
	t.Run("ReorderPoint", func(t *testing.T) {
		p.must(t, 200, "PUT", "/api/v1/skus/MUG/locations/main", `{"on_hand":10}`, nil)
		resp, b := p.do(t, "PUT", "/api/v1/skus/MUG/reorder-point", adminToken, `{"reorder_point":3}`)
		if resp.StatusCode != 200 || string(b) != `{"sku":"MUG","reorder_point":3}`+"\n" {
			t.Fatalf("status=%d: %s", resp.StatusCode, b)
		}
		for _, tc := range []struct {
			path, body string
			status     int
		}{
			{"/api/v1/skus/MUG/reorder-point", `{"reorder_point":-1}`, 400},
			{"/api/v1/skus/MUG/reorder-point", `{"reorder_point":"3"}`, 400},
			{"/api/v1/skus/OTHER/reorder-point", `{"sku":"MUG","reorder_point":1}`, 400},
			{"/api/v1/skus/NOPE/reorder-point", `{"reorder_point":1}`, 404},
		} {
			if resp, b := p.do(t, "PUT", tc.path, adminToken, tc.body); resp.StatusCode != tc.status {
				t.Fatalf("PUT %s %s: status=%d, want %d: %s", tc.path, tc.body, resp.StatusCode, tc.status, b)
			}
		}
	})
	t.Run("Deliveries", func(t *testing.T) {
		if resp, b := p.do(t, "GET", "/api/v1/webhook-deliveries?state=lost", adminToken, ""); resp.StatusCode != 400 {
			t.Fatalf("bad state: status=%d: %s", resp.StatusCode, b)
		}
		resp, b := p.do(t, "GET", "/api/v1/webhook-deliveries?state=dead", adminToken, "")
		if resp.StatusCode != 200 || string(b) != `{"deliveries":[],"next":""}`+"\n" {
			t.Fatalf("status=%d: %q", resp.StatusCode, b)
		}
		if resp, b := p.do(t, "POST", "/api/v1/webhook-deliveries/9/replay", adminToken, ""); resp.StatusCode != 404 {
			t.Fatalf("replay unknown: status=%d: %s", resp.StatusCode, b)
		}
		if resp, b := p.do(t, "POST", "/api/v1/webhook-deliveries/replay", adminToken, ""); resp.StatusCode != 200 || !strings.Contains(string(b), `"replayed":0`) {
			t.Fatalf("replay all: status=%d: %s", resp.StatusCode, b)
		}
	})
}

// TestWebhookPayload: an order event's body carries the order exactly as
// GET /api/v1/orders shows it.
func TestWebhookPayload(t *testing.T) {
	t.Parallel()
	p := MustPGServer(t)
	var cs hubapi.CreatedStore
	p.must(t, 201, "POST", "/api/v1/stores", `{"name":"eu","url":"https://eu.example"}`, &cs)
	p.must(t, 200, "PUT", "/api/v1/skus/TEE-M/locations/main", `{"on_hand":10}`, nil)
	p.must(t, 201, "POST", "/api/v1/webhooks", `{"url":"https://erp.example/in","events":["order.created"]}`, nil)
	if _, err := p.orders.ApplyOrderReport(t.Context(), cs.ID, hub.OrderReport{
		WooOrderID: 101, Number: "101", Status: "processing", DateModified: time.Now(),
		Lines: []hub.OrderLine{{SKU: "TEE-M", Quantity: 3}},
	}); err != nil {
		t.Fatal(err)
	}
	var feed struct{ Orders []json.RawMessage }
	p.must(t, 200, "GET", "/api/v1/orders", "", &feed)
	list, err := p.hooks.Deliveries(t.Context(), hub.DeliveryFilter{}, hub.Page{Limit: 10})
	if err != nil || len(list) != 1 {
		t.Fatalf("deliveries %+v, err %v", list, err)
	}
	b, err := web.WebhookPayload(list[0].Event)
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Type      string          `json:"type"`
		Timestamp time.Time       `json:"timestamp"`
		Data      json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if got.Type != hub.EventOrderCreated || !got.Timestamp.Equal(list[0].Event.CreatedAt) || string(got.Data) != string(feed.Orders[0]) {
		t.Fatalf("payload %s\nwant data %s", b, feed.Orders[0])
	}
	if _, err := web.WebhookPayload(hub.WebhookEvent{ID: 2, Type: "order.exploded", Data: got.Data}); err == nil {
		t.Fatal("unknown type encoded")
	}
}
