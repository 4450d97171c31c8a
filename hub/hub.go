// Package hub holds the hub's domain: stock, stores, orders, the per-store
// change events the link pushes, the service interfaces the outside
// packages implement (hub/postgres) or consume (hub/web, hub/agentws), the
// allocate policy's decisions (PlanAllocation) and the rules every input
// must meet (ValidateName, NewStore.Validate).
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
	// PolicyMirror: every store shows max(0, available − buffer).
	PolicyMirror Policy = "mirror"
	// PolicyAllocate: the store shows the units granted to it.
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
	ID        int64
	Name      string
	URL       string
	Policy    Policy
	Buffer    int64
	Status    StoreStatus
	CreatedAt time.Time
	// Epoch names the store's change sequence (wire.Welcome.Epoch).
	Epoch string
	// EditLocation is where hand edits accepted in the store are counted.
	EditLocation string
	Agent        AgentState
	// Allocation tunes the allocate policy; kept for mirror stores too, so
	// that a later policy change uses it.
	Allocation AllocationParams
}

// AgentState is what the hub last heard from a store's agent. It lives in
// PostgreSQL so that every replica reports the same.
type AgentState struct {
	Connected   bool
	LastSeen    *time.Time
	AppliedSeq  int64
	HeadSeq     int64
	SeqLag      int64
	OutboxDepth int
	// DeadLetters counts the agent's order reports the hub refused, parked
	// in its outbox until an operator replays them: orders the hub's stock
	// does not count.
	DeadLetters int
	// WebhookHealth is what the agent knows of its store's webhooks: one of
	// the WebhookHealth… values, or empty until an agent that reports it
	// has connected.
	WebhookHealth WebhookHealth
	// EditsReverted counts the hand edits in the store its agent set back
	// to the hub's figure since the agent started (its drift).
	EditsReverted int64
	Replica       string
}

// WebhookHealth is what an agent knows of its store's webhook deliveries.
type WebhookHealth string

// The webhook health an agent reports.
const (
	// WebhookHealthUnknown: nothing has shown yet whether deliveries arrive.
	WebhookHealthUnknown WebhookHealth = "unknown"
	// WebhookHealthOK: signed deliveries arrive.
	WebhookHealthOK WebhookHealth = "ok"
	// WebhookHealthFailing: deliveries that should have come did not; the
	// agent's order poll alone reports the store's orders, late.
	WebhookHealthFailing WebhookHealth = "failing"
	// WebhookHealthOff: the agent runs without webhooks (poll only).
	WebhookHealthOff WebhookHealth = "off"
)

// NewStore is the input to StoreService.Create and Enrol.
type NewStore struct {
	Name   string
	URL    string
	Policy Policy
	Buffer int64
	// Allocation tunes the allocate policy; nil means
	// DefaultAllocationParams.
	Allocation *AllocationParams
}

// SKUStock is the hub's view of one SKU. Available = OnHand − Committed −
// SafetyStock; Targets maps store ID (as a decimal string, for JSON) to what
// that store should show. The API answers hubapi.SKUStock.
type SKUStock struct {
	SKU         string
	OnHand      int64
	Committed   int64
	SafetyStock int64
	Available   int64
	Locations   map[string]int64
	Targets     map[string]int64
	// Allocated maps allocate store ID to the units granted to it and not
	// yet sold there. Pool is what no store holds: Available − Σ Allocated.
	// Exposure is how far Σ Allocated + Committed exceeds OnHand −
	// SafetyStock (a count lowered stock below what stores hold), until
	// reclaims settle it.
	Allocated map[string]int64
	Pool      int64
	Exposure  int64
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
	SKU            string
	Location       string
	Delta          int64
	Reason         string
	IdempotencyKey string
	Actor          string
}

// LedgerEntry is one row of the append-only ledger. Quantity is which figure
// changed: "on_hand", "committed" or "safety_stock".
type LedgerEntry struct {
	ID             int64
	SKU            string
	Location       string
	Quantity       string
	Before         int64
	After          int64
	Reason         string
	Reference      string
	IdempotencyKey string
	Actor          string
	CreatedAt      time.Time
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
	SKU         string
	Quantity    int64
	ProductID   int64
	VariationID int64
	Error       string
}

// OrderReport is a store's report of one WooCommerce order's current state,
// as the agent saw it (webhook or poll).
type OrderReport struct {
	WooOrderID   int64
	Number       string
	Status       string // WooCommerce status without "wc-"
	DateModified time.Time
	Lines        []OrderLine
	// StockReduced is whether WooCommerce holds the order's stock reduced,
	// nil when not known (see wire.Order).
	StockReduced *bool
	// Raw is the WooCommerce order JSON (see ParseOrderDocument); empty
	// when the agent had only the _fields subset.
	Raw json.RawMessage
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
	ID         int64
	StoreID    int64
	WooOrderID int64
	Number     string
	Status     string
	StockState string
	Lines      []OrderLine
	ModifiedAt time.Time
	UpdatedAt  time.Time
	// Document is the whole order as the store last reported it; nil
	// until a report carried the order's JSON.
	Document *OrderDocument
	// PersonalDataErasedAt is when the retention job erased the order's
	// personal data (nil: not erased).
	PersonalDataErasedAt *time.Time
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
	// Order returns one order by the hub's id. Returns ENOTFOUND.
	Order(ctx context.Context, orderID int64) (Order, error)
	// ErasePersonalData erases the personal data (names, addresses,
	// emails, phones, customer note) of the orders created before before,
	// keeping their lines, status and totals, and returns how many it
	// erased. Orders being written at that moment wait for the next call.
	ErasePersonalData(ctx context.Context, before time.Time) (int64, error)
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
	// NewEpoch draws a new epoch for the store's sequence and returns it.
	// It repairs a history the hub lost (a database restored from a
	// backup, say): an agent, or its store's stockwire_seq markers, that
	// saw numbers the hub hands out again would take the new changes for
	// ones already written. Returns ENOTFOUND for an unknown store.
	NewEpoch(ctx context.Context, storeID int64) (string, error)
}

// AllocationParams tune the allocate policy of one store (for every SKU).
type AllocationParams struct {
	// LowWater: a store holding fewer units of a SKU asks for a grant.
	LowWater int64
	// MinGrant and MaxGrant bound one grant (floor and ceiling).
	MinGrant int64
	MaxGrant int64
	// CoverSeconds sizes a grant: the store's recent sales rate times this.
	CoverSeconds int64
	// IdleSeconds: a store that neither sold nor received a grant of a SKU
	// for this long gives its units back when another store needs them.
	IdleSeconds int64
}

// DefaultAllocationParams are the parameters of a new store.
func DefaultAllocationParams() AllocationParams {
	return AllocationParams{LowWater: 2, MinGrant: 5, MaxGrant: 50, CoverSeconds: 60, IdleSeconds: 300}
}

// Validate returns EINVALID naming the first bad field.
func (p AllocationParams) Validate() error {
	const max = 1 << 40
	switch {
	case p.LowWater < 0 || p.LowWater > max:
		return FieldErrorf("allocation.low_water", EINVALID, "low_water must be between 0 and %d.", int64(max))
	case p.MinGrant < 1 || p.MinGrant > max:
		return FieldErrorf("allocation.min_grant", EINVALID, "min_grant must be between 1 and %d.", int64(max))
	case p.MaxGrant < p.MinGrant || p.MaxGrant > max:
		return FieldErrorf("allocation.max_grant", EINVALID, "max_grant must be at least min_grant and at most %d.", int64(max))
	case p.CoverSeconds < 1 || p.CoverSeconds > 86400*30:
		return FieldErrorf("allocation.cover_seconds", EINVALID, "cover_seconds must be between 1 and 2592000.")
	case p.IdleSeconds < 1 || p.IdleSeconds > 86400*30:
		return FieldErrorf("allocation.idle_seconds", EINVALID, "idle_seconds must be between 1 and 2592000.")
	}
	return nil
}

// StoreSettings is what an admin may change about a store.
type StoreSettings struct {
	Policy     Policy
	Buffer     int64
	Allocation AllocationParams
	// EditLocation is where hand edits accepted in the store are counted.
	EditLocation string
}

// Reclaim is the hub asking an allocate store to give back up to Units of
// a SKU. Only what the agent reports released returns to the pool.
type Reclaim struct {
	ID      int64
	StoreID int64
	SKU     string
	Units   int64
}

// Release is an agent's report of a reclaim: the units it took out of its
// store (at most what the store still had).
type Release struct {
	ReclaimID int64
	SKU       string
	Released  int64
}

// AllocationService runs the allocate policy: grants, reclaims and policy
// changes that move units between stores and the pool.
type AllocationService interface {
	// Configure sets a store's policy, buffer and allocate parameters in
	// one transaction; a policy change moves the store's units (to the
	// pool when it leaves allocate). Returns EINVALID, ENOTFOUND.
	Configure(ctx context.Context, storeID int64, s StoreSettings) (Store, error)
	// Rebalance grants to stores below their low-water mark and asks idle
	// stores for units others need, for SKUs whose state calls for it. It
	// returns the number of SKUs examined.
	Rebalance(ctx context.Context) (int, error)
}

// ReclaimService is the link's part of the allocate policy: the reclaims
// an agent must run and its reports of what it released. The order service
// implements it (a release, like an order, is a store's report of stock
// leaving its shelf); the link finds it with a type assertion, so a hub
// without it simply sends no reclaims.
type ReclaimService interface {
	// PendingReclaims returns the store's reclaims not yet settled, oldest
	// first.
	PendingReclaims(ctx context.Context, storeID int64) ([]Reclaim, error)
	// ConfirmRelease settles a reclaim with what the agent released, once:
	// a repeated or unknown confirmation changes nothing. Returns EINVALID
	// for a figure below 0.
	ConfirmRelease(ctx context.Context, storeID int64, r Release) error
}

// StoreEdit is a hand edit of a SKU's stock in a store's back office that
// the store's agent accepted (agent --store-edits=accept): the store showed
// To where it should have shown From.
type StoreEdit struct {
	// ID is the agent's own for the edit, drawn once: a resent report
	// counts once.
	ID       string
	SKU      string
	From, To int64
	EditedAt time.Time
}

// StoreEditService counts the hand edits stores accepted. The PostgreSQL
// order service implements it (an accepted edit, like an order, is a
// store's report of what happened to its shelf); the link finds it with a
// type assertion.
type StoreEditService interface {
	// ApplyStoreEdit adds To−From to the SKU's on hand at the store's edit
	// location (never below 0 there), as a ledger entry with reason
	// store_edit, once per edit ID, and passes the result to every other
	// store; the editing store's own figure already shows it. It returns
	// the ledger entry (the first one for a repeated ID). Returns
	// EINVALID for a malformed edit and ENOTFOUND for a SKU the hub does
	// not know: errors the agent must not resend.
	ApplyStoreEdit(ctx context.Context, storeID int64, e StoreEdit) (LedgerEntry, error)
}

// Order command kinds and states.
const (
	CommandERPReference = "erp_reference"
	CommandFulfilment   = "fulfilment"
	CommandCancellation = "cancellation"

	CommandPending = "pending"
	CommandApplied = "applied"
	CommandFailed  = "failed"
)

// OrderCommand is one of the ERP's answers for a store order, for the
// store's agent to apply to the WooCommerce order: its reference, a
// shipment or a cancellation. State is pending until the agent says it is
// applied, or failed with the store's Error.
type OrderCommand struct {
	ID         int64
	OrderID    int64
	StoreID    int64
	WooOrderID int64
	Kind       string
	ERP        *ERPReference
	Shipment   *Shipment
	Reason     string
	State      string
	Error      string
	Actor      string
	CreatedAt  time.Time
	SettledAt  *time.Time
}

// ERPReference names an order in the merchant's ERP.
type ERPReference struct {
	System    string `json:"system"`
	Reference string `json:"reference"`
}

// Shipment is one shipment of an order; Lines is empty for the whole
// order. Complete says every line of the order has shipped with it or an
// earlier shipment.
type Shipment struct {
	Carrier        string         `json:"carrier"`
	TrackingNumber string         `json:"tracking_number"`
	TrackingURL    string         `json:"tracking_url,omitempty"`
	ShippedAt      time.Time      `json:"shipped_at"`
	Lines          []ShipmentLine `json:"lines,omitempty"`
	Complete       bool           `json:"complete"`
}

// ShipmentLine is a SKU's quantity in a partial shipment.
type ShipmentLine struct {
	SKU      string `json:"sku"`
	Quantity int64  `json:"quantity"`
}

// OrderCommandService keeps the ERP's answers for store orders until the
// stores' agents have applied them. The PostgreSQL order service
// implements it; the link and the API find it with a type assertion.
type OrderCommandService interface {
	// SetERPReference queues the order's ERP reference for its store.
	// Returns ENOTFOUND, EINVALID.
	SetERPReference(ctx context.Context, orderID int64, ref ERPReference, actor string) (OrderCommand, error)
	// Ship records a shipment and queues it for the store; the shipment
	// that completes the order also fulfils it in the hub's stock, as
	// Fulfil does. Returns ENOTFOUND, EINVALID (a line the order does not
	// have, more than it holds), ECONFLICT (a cancelled order).
	Ship(ctx context.Context, orderID int64, s Shipment, actor string) (Order, OrderCommand, error)
	// Cancel queues the order's cancellation for its store; the hub
	// releases its units when the store reports the cancelled order.
	// Returns ENOTFOUND, ECONFLICT (the order has shipped).
	Cancel(ctx context.Context, orderID int64, reason, actor string) (OrderCommand, error)
	// Commands lists the order's commands, oldest first.
	Commands(ctx context.Context, orderID int64) ([]OrderCommand, error)
	// PendingCommands lists the store's pending commands, oldest first.
	PendingCommands(ctx context.Context, storeID int64) ([]OrderCommand, error)
	// SettleCommand records the agent's answer once: applied, or failed
	// with errMsg. settled is false when the command was settled before
	// (a repeated answer) or is not the store's.
	SettleCommand(ctx context.Context, storeID, id int64, errMsg string) (c OrderCommand, settled bool, err error)
}

// Problem kinds: what needs a person.
const (
	// ProblemParkedLine: an order line whose SKU the hub does not know;
	// it counts in no stock until the SKU exists (an alias, a count).
	ProblemParkedLine = "parked_line"
	// ProblemCommandFailed: the store refused one of the ERP's answers.
	ProblemCommandFailed = "command_failed"
	// ProblemDeadLetters: the store's agent holds reports the hub refused
	// (agent dead-letters list|replay).
	ProblemDeadLetters = "dead_letters"
	// ProblemWebhooksFailing: the store's webhooks do not reach its agent;
	// orders arrive by polling only.
	ProblemWebhooksFailing = "webhooks_failing"
)

// Problem is one thing that needs a person, newest first in a list.
type Problem struct {
	Kind       string
	StoreID    int64
	OrderID    int64
	WooOrderID int64
	SKU        string
	Quantity   int64
	Detail     string
	At         *time.Time
}

// ProblemService lists what needs a person. The PostgreSQL order service
// implements it; the API finds it with a type assertion.
type ProblemService interface {
	Problems(ctx context.Context, limit int) ([]Problem, error)
}

// SKUAlias is a store's own name for one of the hub's SKUs.
type SKUAlias struct {
	StoreSKU string
	SKU      string
}

// SKUAliasService keeps each store's names for the hub's SKUs. The
// PostgreSQL store service implements it; the link and the API find it
// with a type assertion.
type SKUAliasService interface {
	// SetAliases replaces the store's aliases, all or nothing, and starts
	// the store's sequence over in a new epoch: its agent gets a snapshot
	// under the new names. Returns ENOTFOUND, EINVALID (a bad name, a name
	// twice on either side).
	SetAliases(ctx context.Context, storeID int64, aliases []SKUAlias) error
	// Aliases lists the store's aliases by store SKU.
	Aliases(ctx context.Context, storeID int64) ([]SKUAlias, error)
}

// SessionService keeps one live agent session per store across hub
// replicas. Each new session claims its store; the newest claim is the live
// session, every replica hears of it and closes its older session of that
// store, and only the live session records the store's agent state, so a
// replica that lost its agent never overwrites what the live one reports.
type SessionService interface {
	// ClaimSession makes a new session on replica its store's live one and
	// returns its claim, greater than every earlier claim. Returns
	// EUNAUTHORIZED when the store is revoked or unknown.
	ClaimSession(ctx context.Context, storeID int64, replica string) (int64, error)
	// LiveClaim returns the store's live claim, 0 when it has none.
	LiveClaim(ctx context.Context, storeID int64) (int64, error)
	// RecordSessionState stores the agent state if claim is still the
	// store's live session, and reports whether it was.
	RecordSessionState(ctx context.Context, storeID, claim int64, st AgentState) (bool, error)
	// AnnounceRevoked tells every replica to end the store's session (its
	// credential was revoked).
	AnnounceRevoked(ctx context.Context, storeID int64) error
}

// SessionNotice is what a replica hears about another replica's sessions:
// a new claim on a store, a revocation, a policy change or new order
// commands for it. A zero notice means notices may have been lost: check
// every session.
type SessionNotice struct {
	StoreID       int64
	Claim         int64
	Revoked       bool
	PolicyChanged bool
	Commands      bool
	// Restart: the store's SKU aliases changed; its session starts over.
	Restart bool
}

// AdminAuth checks the admin token.
type AdminAuth interface {
	// CheckAdminToken returns EUNAUTHORIZED unless token is the admin token.
	CheckAdminToken(ctx context.Context, token string) error
}
