package webhook_test

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/stockwire/stockwire/agent/outbox"
	"github.com/stockwire/stockwire/agent/webhook"
	"github.com/stockwire/stockwire/shared/systest"
	"github.com/stockwire/stockwire/shared/woo"
)

// BenchmarkHandler_OrderDelivery measures a signed order.created delivery
// (real sample body) through verify, decode and fsynced append.
func BenchmarkHandler_OrderDelivery(b *testing.B) {
	body := bytes.TrimSpace(systest.Fixture(b, "webhook-order-created.raw"))
	logger := slog.New(slog.DiscardHandler)
	box, err := outbox.Open(filepath.Join(b.TempDir(), "o.db"), outbox.Options{MaxEvents: 1 << 30, Logger: logger})
	if err != nil {
		b.Fatal(err)
	}
	defer box.Close()
	h, err := webhook.NewHandler(secret, box, logger, nil)
	if err != nil {
		b.Fatal(err)
	}
	sig := woo.WebhookSignature(secret, body)
	start := time.Now()
	n := 0
	for b.Loop() {
		req := httptest.NewRequest(http.MethodPost, "/webhooks/woocommerce", bytes.NewReader(body))
		req.Header.Set(woo.HeaderWebhookTopic, woo.TopicOrderCreated)
		req.Header.Set(woo.HeaderWebhookSignature, sig)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			b.Fatalf("status %d", w.Code)
		}
		n++
	}
	b.ReportMetric(float64(n)/time.Since(start).Seconds(), "deliveries/s")
}

// BenchmarkHandler_ProductEcho measures a signed product.updated delivery
// of a real product (the samples' product 11 with the agent's marker)
// that is the echo of the agent's own write: verify, read, recognise.
func BenchmarkHandler_ProductEcho(b *testing.B) {
	body := echoBody(b)
	logger := slog.New(slog.DiscardHandler)
	box, err := outbox.Open(filepath.Join(b.TempDir(), "o.db"), outbox.Options{Logger: logger})
	if err != nil {
		b.Fatal(err)
	}
	defer box.Close()
	h, err := webhook.NewHandler(secret, box, logger, nil)
	if err != nil {
		b.Fatal(err)
	}
	h.IsEcho = func(p woo.Product) bool { return p.ID == 11 && len(p.MetaData) == 2 }
	h.OnProduct = func(context.Context, string, woo.Product) { b.Fatal("not recognised as an echo") }
	sig := woo.WebhookSignature(secret, body)
	for b.Loop() {
		req := httptest.NewRequest(http.MethodPost, "/webhooks/woocommerce", bytes.NewReader(body))
		req.Header.Set(woo.HeaderWebhookTopic, woo.TopicProductUpdated)
		req.Header.Set(woo.HeaderWebhookSignature, sig)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			b.Fatalf("status %d", w.Code)
		}
	}
}
