package hubapi

import (
	"encoding/json"
	"time"
)

// Policies a store may run. PolicyMirror: the store shows available less
// its buffer. PolicyAllocate: the store shows the units granted to it.
const (
	PolicyMirror   = "mirror"
	PolicyAllocate = "allocate"
)

// Store statuses.
const (
	StoreActive  = "active"
	StoreRevoked = "revoked"
)

// Order stock states: no stock effect, counted in committed, shipped
// (on_hand and committed dropped), or released (committed returned).
const (
	OrderStateNone      = "none"
	OrderStateCommitted = "committed"
	OrderStateFulfilled = "fulfilled"
	OrderStateReleased  = "released"
)

// SKUStock is the hub's view of one SKU (GET /api/v1/skus/{sku}).
// Available = OnHand − Committed − SafetyStock. Targets maps store ID (a
// decimal string) to what that store should show; Allocated maps allocate
// store ID to the units granted to it and not yet sold there. Pool is what
// no store holds; Exposure is how far allocations and committed orders
// exceed on hand less safety stock until reclaims settle it.
type SKUStock struct {
	SKU         string           `json:"sku"`
	OnHand      int64            `json:"on_hand"`
	Committed   int64            `json:"committed"`
	SafetyStock int64            `json:"safety_stock"`
	Available   int64            `json:"available"`
	Locations   map[string]int64 `json:"locations"`
	Targets     map[string]int64 `json:"targets"`
	Allocated   map[string]int64 `json:"allocated"`
	Pool        int64            `json:"pool"`
	Exposure    int64            `json:"exposure"`
}

// SKUList is a page of SKUs; Next is the cursor of the next page, empty at
// the end.
type SKUList struct {
	SKUs []SKUStock `json:"skus"`
	Next string     `json:"next"`
}

// LedgerEntry is one row of the append-only ledger. Quantity is which
// figure changed: "on_hand", "committed" or "safety_stock".
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

// LedgerList is a page of ledger entries; Next is the cursor of the next
// page, empty at the end.
type LedgerList struct {
	Entries []LedgerEntry `json:"entries"`
	Next    string        `json:"next"`
}

// ImportResult answers a successful CSV import.
type ImportResult struct {
	Imported int `json:"imported"`
}

// Store is one WooCommerce store served by one agent, with what the hub
// last heard from that agent.
type Store struct {
	ID        int64     `json:"id"`
	Name      string    `json:"name"`
	URL       string    `json:"url"`
	Policy    string    `json:"policy"`
	Buffer    int64     `json:"buffer"`
	Status    string    `json:"status"`
	CreatedAt time.Time `json:"created_at"`
	// EditLocation is where the hub counts hand edits its agent accepts
	// in the store (agent --store-edits=accept).
	EditLocation string           `json:"edit_location"`
	Agent        AgentState       `json:"agent"`
	Allocation   AllocationParams `json:"allocation"`
}

// AgentState is what the hub last heard from a store's agent. SeqLag is
// HeadSeq − AppliedSeq; Replica names the hub process holding the session.
// AppliedSeq, OutboxDepth, DeadLetters, WebhookHealth and EditsReverted
// are the agent's figures as it last reported them (every few seconds),
// not live ones.
type AgentState struct {
	Connected   bool       `json:"connected"`
	LastSeen    *time.Time `json:"last_seen"`
	AppliedSeq  int64      `json:"applied_seq"`
	HeadSeq     int64      `json:"head_seq"`
	SeqLag      int64      `json:"seq_lag"`
	OutboxDepth int        `json:"outbox_depth"`
	// DeadLetters counts the order reports the hub refused, parked in the
	// agent's outbox until an operator replays them.
	DeadLetters int `json:"dead_letters"`
	// WebhookHealth is one of the WebhookHealth… values, or empty when the
	// agent has not reported it.
	WebhookHealth string `json:"webhook_health,omitempty"`
	// EditsReverted counts the hand edits in the store the agent set back
	// to the hub's figure since it started: the store's drift.
	EditsReverted int64  `json:"edits_reverted"`
	Replica       string `json:"replica,omitempty"`
}

// What a store's agent knows of its store's webhooks
// (AgentState.WebhookHealth).
const (
	// WebhookHealthUnknown: nothing has shown yet whether deliveries arrive.
	WebhookHealthUnknown = "unknown"
	// WebhookHealthOK: signed deliveries arrive.
	WebhookHealthOK = "ok"
	// WebhookHealthFailing: deliveries that should have come did not; the
	// agent's order poll alone reports the store's orders, late.
	WebhookHealthFailing = "failing"
	// WebhookHealthOff: the agent runs without webhooks (poll only).
	WebhookHealthOff = "off"
)

// AllocationParams tune the allocate policy of one store, for every SKU: a
// store holding fewer than LowWater units gets a grant of its recent sales
// over CoverSeconds, within [MinGrant, MaxGrant]; a store idle for
// IdleSeconds gives units back when another store needs them.
type AllocationParams struct {
	LowWater     int64 `json:"low_water"`
	MinGrant     int64 `json:"min_grant"`
	MaxGrant     int64 `json:"max_grant"`
	CoverSeconds int64 `json:"cover_seconds"`
	IdleSeconds  int64 `json:"idle_seconds"`
}

// StoreList is every store with its agent state.
type StoreList struct {
	Stores []Store `json:"stores"`
}

// CreatedStore answers a store creation or enrolment: the store and its
// agent credential, shown this once.
type CreatedStore struct {
	Store
	Token string `json:"token"`
}

// Problem is one thing that needs a person (GET /api/v1/problems). Kind is
// parked_line (an order line whose SKU the hub does not know: it counts in
// no stock until the SKU exists, by a count or a store alias),
// command_failed (the store refused one of the ERP's answers),
// dead_letters (the store's agent holds reports the hub refused: agent
// dead-letters list|replay) or webhooks_failing (orders arrive by polling
// only).
type Problem struct {
	Kind       string     `json:"kind"`
	StoreID    int64      `json:"store_id"`
	OrderID    int64      `json:"order_id,omitempty"`
	WooOrderID int64      `json:"woo_order_id,omitempty"`
	SKU        string     `json:"sku,omitempty"`
	Quantity   int64      `json:"quantity,omitempty"`
	Detail     string     `json:"detail"`
	At         *time.Time `json:"at"`
}

// ProblemList lists problems, newest first.
type ProblemList struct {
	Problems []Problem `json:"problems"`
}

// SKUAlias is a store's own name for one of the hub's SKUs: stock changes
// reach the store under StoreSKU, and its orders of StoreSKU count against
// SKU.
type SKUAlias struct {
	StoreSKU string `json:"store_sku"`
	SKU      string `json:"sku"`
}

// SKUAliasList is a store's aliases (PUT and GET
// /api/v1/stores/{id}/sku-aliases; PUT also takes text/csv lines of
// store_sku,sku). A PUT replaces them all, and the store's agent starts
// over with a snapshot under the new names.
type SKUAliasList struct {
	Aliases []SKUAlias `json:"aliases"`
}

// EnrolmentToken is a one-use join token.
type EnrolmentToken struct {
	Token     string    `json:"token"`
	ExpiresAt time.Time `json:"expires_at"`
}

// OrderLine is one line of an order. Error is set when the line is parked
// (its SKU is unknown to the hub): kept and visible, with no effect on
// stock.
type OrderLine struct {
	SKU         string `json:"sku"`
	Quantity    int64  `json:"quantity"`
	ProductID   int64  `json:"product_id,omitempty"`
	VariationID int64  `json:"variation_id,omitempty"`
	Error       string `json:"error,omitempty"`
}

// Order is an order as the hub keeps it: ID is the hub's own id,
// WooOrderID the store's, StockState one of the OrderState constants.
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
	// Document is the whole order as the store last reported it; null
	// until the hub has had the order's JSON.
	Document *OrderDocument `json:"document"`
	// PersonalDataErasedAt is when the hub erased the order's personal
	// data (hub serve --retain-personal-data); null until then.
	PersonalDataErasedAt *time.Time `json:"personal_data_erased_at"`
}

// OrderDocument is the whole WooCommerce order (issue 13). Money is a
// decimal string exactly as WooCommerce sent it, never a number; dates are
// UTC, null when unset. Customer, Billing, Shipping and CustomerNote are
// personal data: only the admin token reads them, and the retention job
// blanks them (keeping Customer.ID and the countries). Fields are only ever
// added.
type OrderDocument struct {
	Number           string         `json:"number"`
	Status           string         `json:"status"`
	Currency         string         `json:"currency"`
	PricesIncludeTax bool           `json:"prices_include_tax"`
	CreatedVia       string         `json:"created_via"`
	DateCreated      *time.Time     `json:"date_created"`
	DateModified     *time.Time     `json:"date_modified"`
	DatePaid         *time.Time     `json:"date_paid"`
	DateCompleted    *time.Time     `json:"date_completed"`
	Customer         Customer       `json:"customer"`
	Billing          Address        `json:"billing"`
	Shipping         Address        `json:"shipping"`
	Payment          Payment        `json:"payment"`
	CustomerNote     string         `json:"customer_note"`
	Lines            []DocumentLine `json:"lines"`
	ShippingLines    []ShippingLine `json:"shipping_lines"`
	Fees             []Fee          `json:"fees"`
	Coupons          []Coupon       `json:"coupons"`
	TaxLines         []TaxLine      `json:"tax_lines"`
	Refunds          []Refund       `json:"refunds"`
	Totals           OrderTotals    `json:"totals"`
	MetaData         []Meta         `json:"meta_data"`
}

// Customer is who ordered: the WooCommerce customer id (0 for a guest) and
// the billing name, email and phone.
type Customer struct {
	ID        int64  `json:"id"`
	FirstName string `json:"first_name"`
	LastName  string `json:"last_name"`
	Email     string `json:"email"`
	Phone     string `json:"phone"`
}

// Address is a billing or shipping address (a shipping email is always "").
type Address struct {
	FirstName string `json:"first_name"`
	LastName  string `json:"last_name"`
	Company   string `json:"company"`
	Address1  string `json:"address_1"`
	Address2  string `json:"address_2"`
	City      string `json:"city"`
	State     string `json:"state"`
	Postcode  string `json:"postcode"`
	Country   string `json:"country"`
	Email     string `json:"email"`
	Phone     string `json:"phone"`
}

// Payment is the payment method (WooCommerce's gateway id and title) and
// the gateway's transaction id.
type Payment struct {
	Method        string `json:"method"`
	MethodTitle   string `json:"method_title"`
	TransactionID string `json:"transaction_id"`
}

// DocumentLine is one order line. Subtotal (before discounts) and Total
// (after) exclude tax; Discount is Subtotal − Total; Price is
// WooCommerce's unit price (total / quantity). Attributes are the visible
// line meta (a variation's size); MetaData is all of it.
type DocumentLine struct {
	ID          int64       `json:"id"`
	Name        string      `json:"name"`
	SKU         string      `json:"sku"`
	ProductID   int64       `json:"product_id"`
	VariationID int64       `json:"variation_id"`
	Quantity    int64       `json:"quantity"`
	Price       string      `json:"price"`
	Subtotal    string      `json:"subtotal"`
	SubtotalTax string      `json:"subtotal_tax"`
	Total       string      `json:"total"`
	TotalTax    string      `json:"total_tax"`
	Discount    string      `json:"discount"`
	TaxClass    string      `json:"tax_class"`
	Taxes       []LineTax   `json:"taxes"`
	Attributes  []Attribute `json:"attributes"`
	MetaData    []Meta      `json:"meta_data"`
}

// LineTax is one tax rate's share of a line, shipping line or fee.
type LineTax struct {
	RateID   int64  `json:"rate_id"`
	Total    string `json:"total"`
	Subtotal string `json:"subtotal"`
}

// Attribute is one visible attribute of a line.
type Attribute struct {
	Key   string `json:"key"`
	Name  string `json:"name"`
	Value string `json:"value"`
}

// Meta is one meta_data entry; Value is the JSON WooCommerce sent.
type Meta struct {
	Key          string          `json:"key"`
	Value        json.RawMessage `json:"value"`
	DisplayKey   string          `json:"display_key,omitempty"`
	DisplayValue json.RawMessage `json:"display_value,omitempty"`
}

// ShippingLine is one shipping method charged.
type ShippingLine struct {
	ID          int64     `json:"id"`
	MethodID    string    `json:"method_id"`
	MethodTitle string    `json:"method_title"`
	InstanceID  string    `json:"instance_id"`
	Total       string    `json:"total"`
	TotalTax    string    `json:"total_tax"`
	Taxes       []LineTax `json:"taxes"`
}

// Fee is one fee charged.
type Fee struct {
	ID        int64     `json:"id"`
	Name      string    `json:"name"`
	TaxClass  string    `json:"tax_class"`
	TaxStatus string    `json:"tax_status"`
	Total     string    `json:"total"`
	TotalTax  string    `json:"total_tax"`
	Taxes     []LineTax `json:"taxes"`
}

// Coupon is one coupon applied.
type Coupon struct {
	ID          int64  `json:"id"`
	Code        string `json:"code"`
	Discount    string `json:"discount"`
	DiscountTax string `json:"discount_tax"`
}

// TaxLine is one tax rate's total on the order.
type TaxLine struct {
	ID               int64  `json:"id"`
	RateID           int64  `json:"rate_id"`
	RateCode         string `json:"rate_code"`
	Label            string `json:"label"`
	Compound         bool   `json:"compound"`
	RatePercent      string `json:"rate_percent"`
	TaxTotal         string `json:"tax_total"`
	ShippingTaxTotal string `json:"shipping_tax_total"`
}

// Refund is one refund; Total is negative.
type Refund struct {
	ID     int64  `json:"id"`
	Reason string `json:"reason"`
	Total  string `json:"total"`
}

// OrderTotals are the order's totals; Subtotal is the lines' subtotals
// summed.
type OrderTotals struct {
	Subtotal    string `json:"subtotal"`
	Discount    string `json:"discount"`
	DiscountTax string `json:"discount_tax"`
	Shipping    string `json:"shipping"`
	ShippingTax string `json:"shipping_tax"`
	CartTax     string `json:"cart_tax"`
	Tax         string `json:"tax"`
	Total       string `json:"total"`
}

// ERPReference names an order in the merchant's ERP (POST
// /api/v1/orders/{id}/erp-reference): the store's order gets the meta
// _stockwire_erp_reference and a private note.
type ERPReference struct {
	System    string `json:"system"`
	Reference string `json:"reference"`
}

// ShipmentRequest is the optional body of POST
// /api/v1/orders/{id}/fulfilment: the store's order gets the tracking
// (order meta _wc_shipment_tracking_items, as WooCommerce Shipment
// Tracking reads it) and a note to the customer, and becomes completed
// once every line has shipped. Lines is left out for a shipment of the
// whole order; ShippedAt defaults to now.
type ShipmentRequest struct {
	Carrier        string         `json:"carrier"`
	TrackingNumber string         `json:"tracking_number"`
	TrackingURL    string         `json:"tracking_url,omitempty"`
	ShippedAt      *time.Time     `json:"shipped_at,omitempty"`
	Lines          []ShipmentLine `json:"lines,omitempty"`
}

// ShipmentLine is a SKU's quantity in a partial shipment.
type ShipmentLine struct {
	SKU      string `json:"sku"`
	Quantity int64  `json:"quantity"`
}

// Shipment is a shipment as the hub recorded it; Complete says every line
// of the order has shipped.
type Shipment struct {
	Carrier        string         `json:"carrier"`
	TrackingNumber string         `json:"tracking_number"`
	TrackingURL    string         `json:"tracking_url,omitempty"`
	ShippedAt      time.Time      `json:"shipped_at"`
	Lines          []ShipmentLine `json:"lines,omitempty"`
	Complete       bool           `json:"complete"`
}

// CancellationRequest cancels an order in its store (POST
// /api/v1/orders/{id}/cancellation).
type CancellationRequest struct {
	Reason string `json:"reason"`
}

// OrderCommand is one of the ERP's answers on its way into the store's
// order: Kind is erp_reference, fulfilment or cancellation; State is
// pending until the store's agent has applied it (applied), or failed with
// the store's Error.
type OrderCommand struct {
	ID         int64         `json:"id"`
	OrderID    int64         `json:"order_id"`
	StoreID    int64         `json:"store_id"`
	WooOrderID int64         `json:"woo_order_id"`
	Kind       string        `json:"kind"`
	State      string        `json:"state"`
	Error      string        `json:"error,omitempty"`
	ERP        *ERPReference `json:"erp,omitempty"`
	Shipment   *Shipment     `json:"shipment,omitempty"`
	Reason     string        `json:"reason,omitempty"`
	CreatedAt  time.Time     `json:"created_at"`
	SettledAt  *time.Time    `json:"settled_at"`
}

// OrderCommandList lists an order's commands, oldest first (GET
// /api/v1/orders/{id}/commands).
type OrderCommandList struct {
	Commands []OrderCommand `json:"commands"`
}

// OrderList is a page of the order feed. Poll with the last Next as after:
// an empty page returns the same cursor.
type OrderList struct {
	Orders []Order `json:"orders"`
	Next   string  `json:"next"`
}

// CountRequest records a physical count (PUT
// /api/v1/skus/{sku}/locations/{location}). OnHand is required.
type CountRequest struct {
	OnHand *int64 `json:"on_hand"`
	Reason string `json:"reason,omitempty"`
}

// SafetyStockRequest sets the units held back from every store (PUT
// /api/v1/skus/{sku}/safety-stock). SafetyStock is required.
type SafetyStockRequest struct {
	SafetyStock *int64 `json:"safety_stock"`
}

// AdjustmentRequest is a relative change of on_hand (POST
// /api/v1/adjustments). Delta is required and not zero; the same
// IdempotencyKey twice changes stock once.
type AdjustmentRequest struct {
	SKU            string `json:"sku"`
	Location       string `json:"location"`
	Delta          *int64 `json:"delta"`
	Reason         string `json:"reason,omitempty"`
	IdempotencyKey string `json:"idempotency_key,omitempty"`
}

// NewStoreRequest adds a store (POST /api/v1/stores). Policy defaults to
// PolicyMirror and Buffer to 0.
type NewStoreRequest struct {
	Name   string `json:"name"`
	URL    string `json:"url"`
	Policy string `json:"policy,omitempty"`
	Buffer *int64 `json:"buffer,omitempty"`
}

// StoreUpdateRequest changes a store (PATCH /api/v1/stores/{id}): only the
// fields given change.
type StoreUpdateRequest struct {
	Policy       *string           `json:"policy,omitempty"`
	Buffer       *int64            `json:"buffer,omitempty"`
	EditLocation *string           `json:"edit_location,omitempty"`
	Allocation   *AllocationUpdate `json:"allocation,omitempty"`
}

// AllocationUpdate changes the allocate parameters given, keeping the
// others.
type AllocationUpdate struct {
	LowWater     *int64 `json:"low_water,omitempty"`
	MinGrant     *int64 `json:"min_grant,omitempty"`
	MaxGrant     *int64 `json:"max_grant,omitempty"`
	CoverSeconds *int64 `json:"cover_seconds,omitempty"`
	IdleSeconds  *int64 `json:"idle_seconds,omitempty"`
}

// EnrolmentTokenRequest asks for a join token (POST
// /api/v1/enrolment-tokens). TTLSeconds defaults to 3600.
type EnrolmentTokenRequest struct {
	TTLSeconds *int64 `json:"ttl_seconds,omitempty"`
}

// EnrolRequest is an agent enrolling its store with a join token (POST
// /api/v1/enrol).
type EnrolRequest struct {
	Name string `json:"name"`
	URL  string `json:"url"`
}
