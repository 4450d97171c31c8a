package hubapi

import (
	"encoding/json"
	"time"
)

// Webhook event types an ERP may subscribe to.
const (
	EventOrderCreated   = "order.created"
	EventOrderUpdated   = "order.updated"
	EventOrderCancelled = "order.cancelled"
	EventStockChanged   = "stock.changed"
	EventStockLow       = "stock.low"
	EventAgentDown      = "store.agent_down"
)

// AgentDown is the data of a store.agent_down delivery: the store whose
// agent has been disconnected from every hub replica for a while, and when
// the hub last heard from it (null if never).
type AgentDown struct {
	StoreID   int64      `json:"store_id"`
	StoreName string     `json:"store_name"`
	LastSeen  *time.Time `json:"last_seen"`
}

// StockLow is the data of a stock.low delivery: the SKU's available
// figure, just fallen below its reorder point.
type StockLow struct {
	SKU          string `json:"sku"`
	Available    int64  `json:"available"`
	ReorderPoint int64  `json:"reorder_point"`
}

// ReorderPointRequest sets a SKU's reorder point (PUT
// /api/v1/skus/{sku}/reorder-point); null removes it. The answer is the
// same shape.
type ReorderPointRequest struct {
	SKU          string `json:"sku,omitempty"`
	ReorderPoint *int64 `json:"reorder_point"`
}

// StockChange is the data of a stock.changed delivery: the SKU's available
// figure now, and in its previous stock.changed (null for the first).
// Changes are coalesced: at most one event per SKU per second, carrying
// the latest figure.
type StockChange struct {
	SKU               string `json:"sku"`
	Available         int64  `json:"available"`
	PreviousAvailable *int64 `json:"previous_available"`
}

// Webhook delivery states.
const (
	DeliveryPending   = "pending"
	DeliveryDelivered = "delivered"
	DeliveryDead      = "dead"
)

// Webhook is a subscription (GET /api/v1/webhooks/{id}). Its secret is
// only ever in WebhookCreated.
type Webhook struct {
	ID          int64    `json:"id"`
	URL         string   `json:"url"`
	Events      []string `json:"events"`
	Description string   `json:"description"`
	Enabled     bool     `json:"enabled"`
	// DisabledReason says why the hub disabled it (an endpoint failing
	// for 24 hours); empty otherwise.
	DisabledReason string     `json:"disabled_reason,omitempty"`
	FailingSince   *time.Time `json:"failing_since"`
	CreatedAt      time.Time  `json:"created_at"`
	UpdatedAt      time.Time  `json:"updated_at"`
}

// WebhookCreated answers POST /api/v1/webhooks: the subscription and its
// signing secret (whsec_…), shown this once.
type WebhookCreated struct {
	Webhook
	Secret string `json:"secret"`
}

// WebhookList answers GET /api/v1/webhooks.
type WebhookList struct {
	Webhooks []Webhook `json:"webhooks"`
}

// NewWebhookRequest subscribes an endpoint (POST /api/v1/webhooks). URL
// and Events are required; Enabled defaults to true.
type NewWebhookRequest struct {
	URL         string   `json:"url"`
	Events      []string `json:"events"`
	Description string   `json:"description,omitempty"`
	Enabled     *bool    `json:"enabled,omitempty"`
}

// WebhookUpdateRequest changes a subscription (PATCH
// /api/v1/webhooks/{id}): only the fields given change. Enabling one the
// hub disabled starts its failure count again.
type WebhookUpdateRequest struct {
	URL         *string  `json:"url,omitempty"`
	Events      []string `json:"events,omitempty"`
	Description *string  `json:"description,omitempty"`
	Enabled     *bool    `json:"enabled,omitempty"`
}

// WebhookDelivery is one event to one subscription (GET
// /api/v1/webhook-deliveries). MessageID is the webhook-id header the
// endpoint receives on every attempt.
type WebhookDelivery struct {
	ID             int64      `json:"id"`
	MessageID      string     `json:"message_id"`
	WebhookID      int64      `json:"webhook_id"`
	EventType      string     `json:"event_type"`
	State          string     `json:"state"`
	Attempts       int        `json:"attempts"`
	NextAttemptAt  *time.Time `json:"next_attempt_at"` // nil unless pending
	LastStatus     int        `json:"last_status"`
	LastError      string     `json:"last_error"`
	CreatedAt      time.Time  `json:"created_at"`
	DeliveredAt    *time.Time `json:"delivered_at"`
	EventCreatedAt time.Time  `json:"event_created_at"`
}

// WebhookDeliveryList is a page of deliveries; pass Next as after for the
// next page (empty at the end).
type WebhookDeliveryList struct {
	Deliveries []WebhookDelivery `json:"deliveries"`
	Next       string            `json:"next"`
}

// ReplayResult answers POST /api/v1/webhook-deliveries/replay.
type ReplayResult struct {
	Replayed int `json:"replayed"`
}

// WebhookPayload is the body of every delivery, the Standard Webhooks
// shape: Type is the event type, Timestamp when the change committed (for
// stock.changed, when the coalesced event was made), and Data what it is
// about (an Order for order.*, a StockChange for stock.changed, a
// StockLow for stock.low, an AgentDown for store.agent_down).
type WebhookPayload struct {
	Type      string          `json:"type"`
	Timestamp time.Time       `json:"timestamp"`
	Data      json.RawMessage `json:"data"`
}
