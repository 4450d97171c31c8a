package webhook_test

import (
	"bytes"
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
