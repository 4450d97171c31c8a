// Package hub holds the hub's domain: stock, stores, orders, the per-store
// change events the link pushes, and the service interfaces the outside
// packages implement (hub/postgres) or consume (hub/web, hub/agentws).
//
// It imports no database, HTTP or WebSocket package; only hub/cmd/hub knows
// every implementation.
package hub

import (
	"context"
	"encoding/json"
	"time"
)

// Policy decides what a store shows for a SKU.
type Policy string

const (
	// PolicyMirror: every store shows available − buffer.
	PolicyMirror Policy = "mirror"
	// PolicyAllocate: the store shows the units granted to it (issue 6).
	PolicyAllocate Policy = "allocate"
)

// Valid reports whether p is a known policy.
func (p Policy) Valid() bool { return p == PolicyMirror || p == PolicyAllocate }

// StoreStatus is the lifecycle state of a store.
type StoreStatus string

const (
	StoreActive  StoreStatus = "active"
	StoreRevoked StoreStatus = "revoked"
)

// Store is one WooCommerce store served by one agent.
type Store struct {
	ID        int64       `json:"id"`
	Name      string      `json:"name"`
	URL       string      `json:"url"`
	Policy    Policy      `json:"policy"`
	Buffer    int64       `json:"buffer"`
	Status    StoreStatus `json:"status"`
	CreatedAt time.Time   `json:"created_at"`
	Agent     AgentState  `json:"agent"`
}

// AgentState is what the hub last heard from a store's agent. It lives in
// PostgreSQL so that every replica reports the same.
type AgentState struct {
	Connected   bool       `json:"connected"`
	LastSeen    *time.Time `json:"last_seen"`
	AppliedSeq  int64      `json:"applied_seq"`
	HeadSeq     int64      `json:"head_seq"`
	SeqLag      int64      `json:"seq_lag"`
	OutboxDepth int        `json:"outbox_depth"`
	Replica     string     `json:"replica,omitempty"`
}

// NewStore is the input to StoreService.Create and Enrol.
type NewStore struct {
	Name   string `json:"name"`
	URL    string `json:"url"`
	Policy Policy `json:"policy"`
	Buffer int64  `json:"buffer"`
}

// SKUStock is the hub's view of one SKU. Available = OnHand − Committed −
// SafetyStock; Targets maps store ID (as a decimal string, for JSON) to what
// that store should show.
type SKUStock struct {
	SKU         string           `json:"sku"`
	OnHand      int64            `json:"on_hand"`
	Committed   int64            `json:"committed"`
	SafetyStock int64            `json:"safety_stock"`
	Available   int64            `json:"available"`
	Locations   map[string]int64 `json:"locations"`
	Targets     map[string]int64 `json:"targets"`
}

// Count is a physical count of one SKU at one location (absolute).
type Count struct {
	SKU      string
	Location string
	OnHand   int64
	Actor    string
	Reason   string
}

// Adjustment is a relative change of on_hand (receipt, correction). The same
// IdempotencyKey twice changes stock once; the second call returns the first
// call's ledger entry.
type Adjustment struct {
	SKU            string `json:"sku"`
	Location       string `json:"location"`
	Delta          int64  `json:"delta"`
	Reason         string `json:"reason"`
	IdempotencyKey string `json:"idempotency_key"`
	Actor          string `json:"-"`
}

// LedgerEntry is one row of the append-only ledger. Quantity is which figure
// changed: "on_hand", "committed" or "safety_stock".
type LedgerEntry struct {
	ID             int64     `json:"id"`
	SKU            string    `json:"sku"`
	Location       string    `json:"location,omitempty"`
	Quantity       string    `json:"quantity"`
	Before         int64     `json:"before"`
	After          int64     `json:"after"`
	Reason         string    `json:"reason"`
	Reference      string    `json:"reference,omitempty"`
	IdempotencyKey string    `json:"idempotency_key,omitempty"`
	Actor          string    `json:"actor"`
	CreatedAt      time.Time `json:"created_at"`
}

// Page bounds a list: entries strictly after the cursor After, at most Limit.
type Page struct {
	After string
	Limit int
}

// OrderLine is one line of an order. Error is set when the line is parked
// (its SKU is unknown to the hub): kept and visible, never dropped, with no
// effect on stock.
type OrderLine struct {
	SKU         string `json:"sku"`
	Quantity    int64  `json:"quantity"`
	ProductID   int64  `json:"product_id,omitempty"`
	VariationID int64  `json:"variation_id,omitempty"`
	Error       string `json:"error,omitempty"`
}

// OrderReport is a store's report of one WooCommerce order's current state,
// as the agent saw it (webhook or poll).
type OrderReport struct {
	WooOrderID   int64
	Number       string
	Status       string // WooCommerce status without "wc-"
	DateModified time.Time
	Lines        []OrderLine
	Raw          json.RawMessage
}

// Order stock states in the hub.
const (
	OrderStateNone      = "none"      // no stock effect (pending, draft, …)
	OrderStateCommitted = "committed" // counted in committed
	OrderStateFulfilled = "fulfilled" // shipped: on_hand and committed dropped
	OrderStateReleased  = "released"  // cancelled/failed/refunded: committed returned
)

// Order is an order as the hub keeps it. ID is the hub's own id; the feed
// cursor is opaque.
type Order struct {
	ID         int64       `json:"id"`
	StoreID    int64       `json:"store_id"`
	WooOrderID int64       `json:"woo_order_id"`
	Number     string      `json:"number"`
	Status     string      `json:"status"`
	StockState string      `json:"stock_state"`
	Lines      []OrderLine `json:"lines"`
	ModifiedAt time.Time   `json:"date_modified"`
	UpdatedAt  time.Time   `json:"updated_at"`
}

// Event is one change to what a store should show, numbered per store. Delta
// is what the store must add (the store's own sales are already in its
// stock, so they are never echoed back); Target is the hub's figure after it.
type Event struct {
	StoreID int64
	Seq     int64
	SKU     string
	Delta   int64
	Target  int64
}

// InventoryService owns stock and the ledger.
type InventoryService interface {
	// SetCount records a physical count, creating the SKU and location when
	// new. Returns EINVALID for a negative count or empty names.
	SetCount(ctx context.Context, c Count) (SKUStock, error)
	// Adjust applies a relative change idempotently. Returns EINVALID when the
	// result would be negative, ECONFLICT when the key was used for a
	// different change.
	Adjust(ctx context.Context, a Adjustment) (LedgerEntry, error)
	// SetSafetyStock sets the units held back from every store.
	SetSafetyStock(ctx context.Context, sku string, n int64, actor string) (SKUStock, error)
	// Import applies counts all or nothing. Returns EINVALID naming the first
	// bad line.
	Import(ctx context.Context, counts []Count) (int, error)
	// Stock returns one SKU. Returns ENOTFOUND for an unknown SKU.
	Stock(ctx context.Context, sku string) (SKUStock, error)
	// ListStock pages SKUs ordered by name; the cursor is the last SKU.
	ListStock(ctx context.Context, p Page) ([]SKUStock, error)
	// Ledger pages ledger entries by id, optionally for one SKU.
	Ledger(ctx context.Context, sku string, p Page) ([]LedgerEntry, error)
}

// StoreService owns stores, their credentials and enrolment tokens. Tokens
// are returned in clear once and stored hashed.
type StoreService interface {
	// Create adds a store and returns its agent credential. Returns
	// EINVALID for a bad name, URL or policy, ECONFLICT for a taken name.
	Create(ctx context.Context, s NewStore) (Store, string, error)
	// Stores lists every store with its agent state.
	Stores(ctx context.Context) ([]Store, error)
	// Store returns one store. Returns ENOTFOUND.
	Store(ctx context.Context, id int64) (Store, error)
	// Update changes a store's policy and buffer; targets move with it.
	Update(ctx context.Context, id int64, policy Policy, buffer int64) (Store, error)
	// Revoke disables a store and its credential at once. Returns ENOTFOUND.
	Revoke(ctx context.Context, id int64) error
	// CreateEnrolmentToken returns a join token valid until ttl passes, for
	// one use.
	CreateEnrolmentToken(ctx context.Context, ttl time.Duration) (string, time.Time, error)
	// Enrol spends a join token and creates the store. Returns
	// EUNAUTHORIZED for an unknown, used or expired token.
	Enrol(ctx context.Context, joinToken string, s NewStore) (Store, string, error)
	// AuthenticateAgent returns the active store owning the credential.
	// Returns EUNAUTHORIZED otherwise.
	AuthenticateAgent(ctx context.Context, token string) (Store, error)
	// RecordAgentState stores what the hub last heard from an agent.
	RecordAgentState(ctx context.Context, storeID int64, st AgentState) error
}

// OrderService owns orders and their effect on stock.
type OrderService interface {
	// ApplyOrderReport records a report idempotently: each status transition
	// changes stock once, older reports (by DateModified) never undo newer
	// ones, lines with unknown SKUs are parked. Returns EINVALID for a
	// malformed report (negative quantity, no order id).
	ApplyOrderReport(ctx context.Context, storeID int64, r OrderReport) (Order, error)
	// Orders pages the order feed: a stable cursor, nothing skipped or
	// repeated under concurrent inserts. Returns the next cursor.
	Orders(ctx context.Context, p Page) ([]Order, string, error)
	// Fulfil marks an order shipped (ERP). Returns ENOTFOUND, ECONFLICT when
	// the order is not committed.
	Fulfil(ctx context.Context, orderID int64, actor string) (Order, error)
}

// EventService serves the per-store change stream to the link.
type EventService interface {
	// HeadSeq returns the store's newest sequence (0 if none).
	HeadSeq(ctx context.Context, storeID int64) (int64, error)
	// EventsAfter returns up to limit events with Seq > after, in order.
	// Returns ECONFLICT when events after `after` were pruned (send a
	// snapshot instead).
	EventsAfter(ctx context.Context, storeID, after int64, limit int) ([]Event, error)
	// Snapshot returns every target of the store as of seq.
	Snapshot(ctx context.Context, storeID int64) (seq int64, targets map[string]int64, err error)
}

// AdminAuth checks the admin token.
type AdminAuth interface {
	// CheckAdminToken returns EUNAUTHORIZED unless token is the admin token.
	CheckAdminToken(ctx context.Context, token string) error
}
