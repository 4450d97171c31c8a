// Package webhook receives WooCommerce webhook deliveries for the agent. It
// answers the unsigned ping, checks the HMAC-SHA256 signature over the raw
// body in constant time, bounds the body size, and for order topics writes
// the report durably to the outbox before answering 200, so a delivery
// WooCommerce saw succeed survives kill -9. Product deliveries go to a
// callback (not durable: the catalog rescan covers losses), read by a scan
// of the few fields the agent uses (wooclient.ScanProduct), and the echo
// of the agent's own stock write stops there. Registering the
// webhooks is agent/hooks' job; polling for missed ones is agent/orders'.
package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/stockwire/stockwire/agent/orders"
	"github.com/stockwire/stockwire/agent/wooclient"
	"github.com/stockwire/stockwire/shared/wire"
	"github.com/stockwire/stockwire/shared/woo"
)

// DefaultMaxBody is the default bound on a delivery's body (2 MiB).
const DefaultMaxBody = 2 << 20

// Outbox is what the receiver needs of the durable outbox.
type Outbox interface {
	// Append stores o durably and returns its ID.
	Append(ctx context.Context, o wire.Order) (uint64, error)
}

// Results recorded in stockwire_agent_webhooks_received_total.
const (
	ResultOK           = "ok"
	ResultEcho         = "echo"
	ResultPing         = "ping"
	ResultIgnored      = "ignored"
	ResultBadSignature = "bad_signature"
	ResultTooLarge     = "too_large"
	ResultMalformed    = "malformed"
	ResultOutboxFull   = "outbox_full"
	ResultError        = "error"
)

// Handler is the http.Handler mounted at /webhooks/woocommerce. Create it
// with NewHandler; set the optional fields before the first request, never
// afterwards.
type Handler struct {
	// Secret is the webhooks' secret.
	Secret string
	// Outbox receives order reports.
	Outbox Outbox
	// FullErr is the outbox's "full" sentinel; matching appends answer 503.
	FullErr error
	// OnProduct is called for product.* deliveries (product.deleted carries
	// only the ID) that are not echoes. p holds only id, parent_id, sku,
	// type, status, manage_stock, stock_quantity, variations and the meta
	// whose key starts with "stockwire_". Optional; it must not block for
	// long.
	OnProduct func(ctx context.Context, topic string, p woo.Product)
	// IsEcho tells whether a product.updated delivery, read as for
	// OnProduct, shows the agent's own last write and nothing else: then
	// OnProduct is not called. Optional.
	IsEcho func(p woo.Product) bool
	// OnPing is called with the webhook ID of each ping. The ping is
	// unsigned, so it proves nothing of who sent it. Optional.
	OnPing func(webhookID int64)
	// OnDelivery is called after each signed delivery handled with 200, with
	// its topic and X-WC-Webhook-ID. Optional (agent/hooks judges webhook
	// health from these alone).
	OnDelivery func(topic string, webhookID int64)
	// OnOrder is called with each order report a signed delivery brought,
	// once it is durable in the outbox. Optional (agent/orders stops
	// waiting for that order's webhook).
	OnOrder func(o wire.Order)
	// OnOrderLag is called with the date_modified of each order a signed
	// delivery brought, and when it arrived. Optional (agent/hooks judges
	// the store's delivery mode from these).
	OnOrderLag func(modified, received time.Time)
	// MaxBody bounds a body in bytes. Defaults to DefaultMaxBody.
	MaxBody int64
	Logger  *slog.Logger

	now     func() time.Time
	metrics *metrics
}

// NewHandler returns a receiver of deliveries signed with secret, which
// appends order reports to ob, with its metrics on reg (nil: none). A nil
// logger is slog.Default().
func NewHandler(secret string, ob Outbox, logger *slog.Logger, reg prometheus.Registerer) (*Handler, error) {
	if secret == "" || ob == nil {
		return nil, errors.New("webhook receiver: secret and outbox are required")
	}
	if logger == nil {
		logger = slog.Default()
	}
	m, err := newMetrics(reg)
	if err != nil {
		return nil, err
	}
	return &Handler{Secret: secret, Outbox: ob, MaxBody: DefaultMaxBody, Logger: logger, now: time.Now, metrics: m}, nil
}

// ServeHTTP handles one delivery or ping.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	topic := r.Header.Get(woo.HeaderWebhookTopic)
	tl := topicLabel(topic)
	if r.ContentLength > h.MaxBody {
		h.fail(w, tl, ResultTooLarge, http.StatusRequestEntityTooLarge, "body too large")
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.MaxBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			h.fail(w, tl, ResultTooLarge, http.StatusRequestEntityTooLarge, "body too large")
			return
		}
		h.Logger.Warn("read webhook body", "error", err)
		h.fail(w, tl, ResultError, http.StatusBadRequest, "cannot read body")
		return
	}
	sig := r.Header.Get(woo.HeaderWebhookSignature)
	if sig == "" {
		if id, ok := parsePing(body); ok {
			h.metrics.received.WithLabelValues("ping", ResultPing).Inc()
			h.Logger.Info("webhook ping received", "webhook_id", id)
			if h.OnPing != nil {
				h.OnPing(id)
			}
			w.WriteHeader(http.StatusOK)
			return
		}
	}
	if !hmac.Equal([]byte(sig), []byte(woo.WebhookSignature(h.Secret, body))) {
		h.metrics.sigFailures.Inc()
		h.Logger.Warn("webhook signature mismatch", "topic", tl, "remote_addr", r.RemoteAddr)
		h.fail(w, tl, ResultBadSignature, http.StatusUnauthorized, "invalid signature")
		return
	}
	webhookID, _ := strconv.ParseInt(r.Header.Get(woo.HeaderWebhookID), 10, 64)
	status, result := h.handle(r.Context(), topic, body)
	h.metrics.received.WithLabelValues(tl, result).Inc()
	if status == http.StatusOK {
		if h.OnDelivery != nil {
			h.OnDelivery(topic, webhookID)
		}
		w.WriteHeader(http.StatusOK)
		return
	}
	http.Error(w, result, status)
}

func (h *Handler) fail(w http.ResponseWriter, topic, result string, status int, msg string) {
	h.metrics.received.WithLabelValues(topic, result).Inc()
	http.Error(w, msg, status)
}

// handle decodes a signed delivery and acts on it; it returns the HTTP
// status and the result label.
func (h *Handler) handle(ctx context.Context, topic string, body []byte) (int, string) {
	resource, _, _ := strings.Cut(topic, ".")
	switch {
	case topic == woo.TopicOrderDeleted:
		var p struct {
			ID int64 `json:"id"`
		}
		if err := json.Unmarshal(body, &p); err != nil || p.ID <= 0 {
			h.Logger.Warn("malformed webhook body", "topic", topic, "error", err)
			return http.StatusBadRequest, ResultMalformed
		}
		return h.appendOrder(ctx, orders.Deleted(p.ID, h.now(), orders.SourceWebhook))
	case resource == "order":
		var o woo.Order
		if err := json.Unmarshal(body, &o); err != nil {
			h.Logger.Warn("malformed webhook body", "topic", topic, "error", err)
			return http.StatusBadRequest, ResultMalformed
		}
		if o.ID == 0 && isAPIError(body) {
			// The payload is built at delivery time; when WooCommerce could
			// not read the order it sends its REST error. The poller covers.
			h.Logger.Warn("webhook carried an error instead of the order", "topic", topic)
			return http.StatusOK, ResultIgnored
		}
		rep, err := orders.FromWooFull(o, orders.SourceWebhook)
		if errors.Is(err, orders.ErrIgnored) {
			return http.StatusOK, ResultIgnored
		}
		if err != nil {
			h.Logger.Warn("malformed webhook order", "topic", topic, "error", err)
			return http.StatusBadRequest, ResultMalformed
		}
		received := h.now()
		if lag := received.Sub(rep.DateModified); lag >= 0 {
			h.metrics.lag.Observe(lag.Seconds())
		}
		if h.OnOrderLag != nil {
			h.OnOrderLag(rep.DateModified, received)
		}
		return h.appendOrder(ctx, rep)
	case resource == "product":
		p, err := wooclient.ScanProduct(body)
		if err != nil || p.ID <= 0 {
			if err == nil && isAPIError(body) {
				return http.StatusOK, ResultIgnored
			}
			h.Logger.Warn("malformed webhook body", "topic", topic, "error", err)
			return http.StatusBadRequest, ResultMalformed
		}
		if topic == woo.TopicProductUpdated && h.IsEcho != nil && h.IsEcho(p) {
			return http.StatusOK, ResultEcho
		}
		if h.OnProduct != nil {
			h.OnProduct(ctx, topic, p)
		}
		return http.StatusOK, ResultOK
	default:
		if !json.Valid(body) {
			return http.StatusBadRequest, ResultMalformed
		}
		return http.StatusOK, ResultIgnored
	}
}

func (h *Handler) appendOrder(ctx context.Context, rep wire.Order) (int, string) {
	id, err := h.Outbox.Append(ctx, rep)
	if err != nil {
		if h.FullErr != nil && errors.Is(err, h.FullErr) {
			return http.StatusServiceUnavailable, ResultOutboxFull
		}
		h.Logger.Error("append webhook order", "order_id", rep.WooOrderID, "error", err)
		return http.StatusServiceUnavailable, ResultError
	}
	h.Logger.Debug("webhook order stored", "order_id", rep.WooOrderID, "msg_id", id, "status", rep.Status)
	if h.OnOrder != nil {
		h.OnOrder(rep)
	}
	return http.StatusOK, ResultOK
}

// parsePing recognizes WooCommerce's ping: a form body webhook_id=N.
func parsePing(body []byte) (int64, bool) {
	if !bytes.HasPrefix(body, []byte("webhook_id=")) {
		return 0, false
	}
	v, err := url.ParseQuery(string(body))
	if err != nil || len(v) != 1 {
		return 0, false
	}
	id, err := strconv.ParseInt(v.Get("webhook_id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, false
	}
	return id, true
}

func isAPIError(body []byte) bool {
	var e woo.APIError
	return json.Unmarshal(body, &e) == nil && e.Code != ""
}

// topicLabel bounds the topic label to the topics WooCommerce defines.
func topicLabel(topic string) string {
	switch topic {
	case woo.TopicOrderCreated, woo.TopicOrderUpdated, woo.TopicOrderDeleted, woo.TopicOrderRestored,
		woo.TopicProductCreated, woo.TopicProductUpdated, woo.TopicProductDeleted, "product.restored":
		return topic
	case "":
		return "none"
	}
	return "other"
}
