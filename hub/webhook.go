package hub

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/url"
	"slices"
	"strings"
	"time"
)

// Outbound webhooks (issue 13, item 2): the merchant's ERP subscribes to
// events; the hub writes each event and its deliveries in the transaction
// that causes it (an outbox) and hub/webhooks delivers them, signed per the
// Standard Webhooks specification.

// The webhook event types.
const (
	EventOrderCreated   = "order.created"
	EventOrderUpdated   = "order.updated"
	EventOrderCancelled = "order.cancelled"
	// EventStockChanged: a SKU's available figure changed; coalesced, at
	// most one per SKU per second, carrying the latest figure.
	EventStockChanged = "stock.changed"
	// EventStockLow: a SKU's available fell below its reorder point.
	EventStockLow = "stock.low"
	// EventAgentDown: a store's agent has been disconnected from every
	// hub replica for a while; one event per outage.
	EventAgentDown = "store.agent_down"
)

// WebhookEventTypes are the event types a subscription may name.
var WebhookEventTypes = []string{EventOrderCreated, EventOrderUpdated, EventOrderCancelled, EventStockChanged, EventStockLow, EventAgentDown}

// StockChange is the snapshot of a stock.changed event: the SKU's
// available figure now and in the previous stock.changed event (nil for
// the first).
type StockChange struct {
	SKU               string
	Available         int64
	PreviousAvailable *int64
}

// Webhook delivery states.
const (
	// DeliveryPending: not delivered yet; retried on its schedule.
	DeliveryPending = "pending"
	// DeliveryDelivered: the endpoint answered 2xx.
	DeliveryDelivered = "delivered"
	// DeliveryDead: every attempt failed, or the endpoint refused it for
	// good (a 4xx other than 408 and 429). It stays until replayed.
	DeliveryDead = "dead"
)

// WebhookSecretPrefix starts every webhook signing secret, as the Standard
// Webhooks specification has it.
const WebhookSecretPrefix = "whsec_"

// NewWebhookSecret returns a new signing secret: whsec_ and 32 random bytes
// in standard base64, the form every Standard Webhooks library reads.
func NewWebhookSecret() string {
	b := make([]byte, 32)
	rand.Read(b)
	return WebhookSecretPrefix + base64.StdEncoding.EncodeToString(b)
}

// Webhook is one subscription: where to deliver which events. Its secret
// is never part of it; it is returned once, at creation.
type Webhook struct {
	ID          int64
	URL         string
	Events      []string
	Description string
	Enabled     bool
	// DisabledReason says why the hub disabled it ("" when an admin did,
	// or when enabled).
	DisabledReason string
	// FailingSince is when its current run of failed attempts began; nil
	// when the last attempt succeeded.
	FailingSince *time.Time
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

// NewWebhook is the input to WebhookService.CreateWebhook.
type NewWebhook struct {
	URL         string
	Events      []string
	Description string
	Enabled     bool
}

// Validate returns EINVALID naming the first bad field.
func (w NewWebhook) Validate() error {
	if err := ValidateWebhookURL(w.URL); err != nil {
		return err
	}
	if err := ValidateWebhookEvents(w.Events); err != nil {
		return err
	}
	return ValidateWebhookDescription(w.Description)
}

// WebhookUpdate changes a subscription; nil fields stay as they are.
// Enabling a subscription clears its failure record.
type WebhookUpdate struct {
	URL         *string
	Events      []string // nil keeps them; empty is invalid
	Description *string
	Enabled     *bool
}

// Validate returns EINVALID naming the first bad field.
func (u WebhookUpdate) Validate() error {
	if u.URL != nil {
		if err := ValidateWebhookURL(*u.URL); err != nil {
			return err
		}
	}
	if u.Events != nil {
		if err := ValidateWebhookEvents(u.Events); err != nil {
			return err
		}
	}
	if u.Description != nil {
		return ValidateWebhookDescription(*u.Description)
	}
	return nil
}

// ValidateWebhookURL accepts an absolute http or https URL with a host, of
// at most 2,000 bytes and without credentials (they would be shown by GET).
func ValidateWebhookURL(s string) error {
	if s == "" {
		return FieldErrorf("url", EINVALID, "url is required.")
	}
	if len(s) > 2000 {
		return FieldErrorf("url", EINVALID, "url must be at most 2000 bytes.")
	}
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || u.Opaque != "" {
		return FieldErrorf("url", EINVALID, "url must be an absolute http or https URL.")
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return FieldErrorf("url", EINVALID, "url must use http or https, not %q.", u.Scheme)
	}
	if u.User != nil {
		return FieldErrorf("url", EINVALID, "url must not hold credentials; deliveries are signed instead.")
	}
	if u.Fragment != "" {
		return FieldErrorf("url", EINVALID, "url must not have a fragment.")
	}
	return nil
}

// ValidateWebhookEvents accepts a non-empty list of known event types
// without repeats.
func ValidateWebhookEvents(events []string) error {
	if len(events) == 0 {
		return FieldErrorf("events", EINVALID, "events must name at least one of %s.", strings.Join(WebhookEventTypes, ", "))
	}
	for i, e := range events {
		if !slices.Contains(WebhookEventTypes, e) {
			return FieldErrorf("events", EINVALID, "Unknown event %q; known events are %s.", e, strings.Join(WebhookEventTypes, ", "))
		}
		if slices.Contains(events[:i], e) {
			return FieldErrorf("events", EINVALID, "Event %q is listed twice.", e)
		}
	}
	return nil
}

// ValidateWebhookDescription accepts up to 500 bytes of text.
func ValidateWebhookDescription(s string) error {
	if len(s) > 500 {
		return FieldErrorf("description", EINVALID, "description must be at most 500 bytes.")
	}
	return nil
}

// StockLow is the snapshot of a stock.low event: the SKU's available
// figure, just fallen below its reorder point.
type StockLow struct {
	SKU          string
	Available    int64
	ReorderPoint int64
}

// AgentDown is the snapshot of a store.agent_down event.
type AgentDown struct {
	StoreID   int64
	StoreName string
	LastSeen  *time.Time
}

// WebhookEvent is one event as committed: Data is the domain snapshot of
// what it is about (a hub.Order, JSON-encoded, for order.*, a StockChange
// for stock.changed), taken in the transaction that caused it.
type WebhookEvent struct {
	ID        int64
	Type      string
	CreatedAt time.Time
	Data      json.RawMessage
}

// WebhookDelivery is one event to one subscription. MessageID is the
// webhook-id header: the same on every attempt, the consumer's
// idempotency key.
type WebhookDelivery struct {
	ID             int64
	MessageID      string
	SubscriptionID int64
	Event          WebhookEvent
	State          string
	Attempts       int
	NextAttemptAt  time.Time
	// LastStatus is the HTTP status of the last attempt, 0 when it got
	// none (timeout, connection error).
	LastStatus  int
	LastError   string
	CreatedAt   time.Time
	DeliveredAt *time.Time
}

// DeliveryFilter selects deliveries to list. Zero fields select all.
type DeliveryFilter struct {
	State          string
	SubscriptionID int64
}

// WebhookService owns subscriptions and the deliveries an admin sees.
type WebhookService interface {
	// CreateWebhook adds a subscription and returns it with its signing
	// secret, the only time the secret is returned. Returns EINVALID.
	CreateWebhook(ctx context.Context, w NewWebhook) (Webhook, string, error)
	// Webhooks lists every subscription by id.
	Webhooks(ctx context.Context) ([]Webhook, error)
	// Webhook returns one subscription. Returns ENOTFOUND.
	Webhook(ctx context.Context, id int64) (Webhook, error)
	// UpdateWebhook changes a subscription. Returns EINVALID, ENOTFOUND.
	UpdateWebhook(ctx context.Context, id int64, u WebhookUpdate) (Webhook, error)
	// DeleteWebhook removes a subscription and its deliveries. Returns
	// ENOTFOUND.
	DeleteWebhook(ctx context.Context, id int64) error
	// Deliveries pages deliveries by id; the cursor is the last id.
	// Returns EINVALID for an unknown state or cursor.
	Deliveries(ctx context.Context, f DeliveryFilter, p Page) ([]WebhookDelivery, error)
	// ReplayDelivery makes a dead delivery pending again, with a fresh
	// schedule and the same message id. Returns ENOTFOUND, ECONFLICT when
	// it is not dead.
	ReplayDelivery(ctx context.Context, id int64) (WebhookDelivery, error)
	// ReplayDead replays every dead delivery (of one subscription when
	// subscriptionID is not 0) and returns how many.
	ReplayDead(ctx context.Context, subscriptionID int64) (int, error)
	// SetReorderPoint sets the SKU's reorder point (nil: none); a
	// stock.low event is made whenever available falls below it. Returns
	// EINVALID for a negative point, ENOTFOUND for an unknown SKU.
	SetReorderPoint(ctx context.Context, sku string, point *int64) error
}

// WebhookAttempt is a delivery to make: the delivery, where to and the
// secret to sign with.
type WebhookAttempt struct {
	Delivery WebhookDelivery
	URL      string
	Secret   string
}

// WebhookResult is the outcome of one attempt.
type WebhookResult struct {
	DeliveryID int64
	// State is the delivery's new state; when DeliveryPending, NextAttempt
	// is when to try again.
	State       string
	NextAttempt time.Time
	Status      int
	Error       string
}

// WebhookQueueStats is what the delivery queue holds now.
type WebhookQueueStats struct {
	Pending int64
	Dead    int64
	// OldestPendingAge is the age of the oldest pending delivery's event.
	OldestPendingAge time.Duration
	// Disabled counts subscriptions the hub disabled for failing.
	Disabled int64
}

// WebhookQueue is the delivery workers' side of the outbox. Several
// workers, in several hub replicas, may share one queue.
type WebhookQueue interface {
	// ClaimDeliveries leases up to n due deliveries of enabled
	// subscriptions for lease: no other worker gets them until the lease
	// ends (a worker that dies loses its claims then). A delivery is not
	// due while an earlier one of the same order and subscription is
	// pending.
	ClaimDeliveries(ctx context.Context, n int, lease time.Duration) ([]WebhookAttempt, error)
	// FinishDeliveries records attempts' outcomes. A subscription failing
	// for longer than disableAfter (and none succeeding) is disabled; it
	// returns the ids of the subscriptions it disabled.
	FinishDeliveries(ctx context.Context, results []WebhookResult, disableAfter time.Duration) ([]int64, error)
	// QueueStats counts the queue.
	QueueStats(ctx context.Context) (WebhookQueueStats, error)
	// QueueStockChanges turns the SKUs whose available changed since
	// their last stock.changed event, and whose last one is older than
	// interval, into one event each (with its deliveries). It returns
	// how many events it queued.
	QueueStockChanges(ctx context.Context, interval time.Duration) (int, error)
	// QueueAgentDown makes a store.agent_down event for each active store
	// whose agent has been disconnected for longer than after, once per
	// outage. It returns how many events it queued.
	QueueAgentDown(ctx context.Context, after time.Duration) (int, error)
	// PruneDelivered deletes the deliveries delivered longer ago than
	// keep, and the events none of whose deliveries is left (dead and
	// pending ones stay, with their events). It returns how many
	// deliveries it deleted.
	PruneDelivered(ctx context.Context, keep time.Duration) (int64, error)
}
