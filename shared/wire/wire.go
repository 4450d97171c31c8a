// Package wire defines the stockwire link protocol between the hub and its
// agents: the envelope, every message type and payload, the protocol version
// and the WebSocket subprotocol name. Both ends import it; it imports only the
// standard library.
//
// Every message is a JSON envelope {"type","id","payload"}. The version lives
// in the subprotocol ("stockwire.v1"); within a version changes are additive
// only, and receivers skip (and count) types they do not know.
package wire

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Subprotocol is the WebSocket subprotocol both ends negotiate. A peer that
// does not offer it is closed with StatusPolicyViolation.
const Subprotocol = "stockwire.v1"

// Version is the protocol version carried in the subprotocol.
const Version = 1

// AgentPath is the hub's WebSocket endpoint, relative to its base URL.
const AgentPath = "/v1/agent"

// MaxMessageBytes bounds one message on the link in either direction.
const MaxMessageBytes = 4 << 20

// CloseRevoked is the WebSocket close code (in the 4000–4999 range kept for
// applications) with which the hub ends a session whose store credential
// it no longer accepts: revoked, or its store deleted. The agent stops on
// it instead of reconnecting: a human must act. The close reason is for
// people only; no end reads it. The other close codes on the link are
// WebSocket's own: 1001 (going away) when either end shuts down, 1008
// (policy violation) for a missing subprotocol, a protocol error or a
// session replaced by a newer one of the same store, 1011 for an internal
// error, and 1013 (try again later) when the agent must reconnect and
// start over.
const CloseRevoked = 4401

// Message types. Hub→agent: Welcome, Changes, Snapshot, Ack, Reclaim,
// OrderCommand. Agent→hub: Hello, Order, StoreEdit, Applied, Status,
// Released, CommandDone.
const (
	TypeHello    = "hello"
	TypeWelcome  = "welcome"
	TypeChanges  = "stock.changes"
	TypeSnapshot = "stock.snapshot"
	TypeOrder    = "order.report"
	TypeEdit     = "stock.store_edit"
	TypeAck      = "ack"
	TypeApplied  = "stock.applied"
	TypeStatus   = "agent.status"
	TypeError    = "error"
	TypeReclaim  = "stock.reclaim"
	TypeReleased = "stock.released"
	TypeCommand  = "order.command"
	TypeDone     = "order.command_done"
)

// Envelope is the frame of every message. ID identifies a message that needs
// an answer (an order report is acknowledged by its ID); it is empty
// otherwise.
type Envelope struct {
	Type    string          `json:"type"`
	ID      string          `json:"id,omitempty"`
	Payload json.RawMessage `json:"payload,omitempty"`
}

// Hello is the agent's first message. LastSeq is the highest change sequence
// the agent has applied to its store (0 for a new store), in Epoch.
type Hello struct {
	LastSeq int64 `json:"last_seq"`
	// Epoch is the store epoch (Welcome.Epoch) LastSeq counts in; empty
	// for an agent that has none yet (a new one, or one that predates
	// epochs). The hub resumes only an agent in the store's current epoch;
	// any other gets a snapshot.
	Epoch        string `json:"epoch,omitempty"`
	AgentVersion string `json:"agent_version"`
	StoreURL     string `json:"store_url,omitempty"`
	OutboxDepth  int    `json:"outbox_depth"`
	// SnapshotChunks says the agent gathers a snapshot sent in several
	// messages (Snapshot.Chunks). The hub sends an agent that does not say
	// so (one that predates chunks) every snapshot whole, in one message.
	SnapshotChunks bool `json:"snapshot_chunks,omitempty"`
}

// Welcome is the hub's answer to Hello. It is followed by either the changes
// after the agent's LastSeq or a snapshot.
type Welcome struct {
	StoreID   int64  `json:"store_id"`
	StoreName string `json:"store_name"`
	Policy    string `json:"policy"`
	// HeadSeq is the store's newest change sequence when the session began.
	HeadSeq int64 `json:"head_seq"`
	// Epoch names the store's sequence: the hub draws a new one when the
	// store is created and when its sequence goes back (an agent ahead of
	// the hub: its database was restored from a backup). A sequence number
	// means something only within its epoch, so the agent writes the
	// epoch into every stockwire_seq marker (Marker) and a marker of
	// another epoch never stands for a change of this one.
	Epoch string `json:"epoch"`
}

// Marker is the value of the stockwire_seq product meta: the epoch and
// the highest sequence of it written to the product, as "<epoch>:<seq>".
func Marker(epoch string, seq int64) string { return epoch + ":" + strconv.FormatInt(seq, 10) }

// ParseMarker reads a stockwire_seq value. ok is false for a value that is
// not a marker of an epoch (a bare number written before epochs, say): it
// stands for no change of any epoch.
func ParseMarker(v string) (epoch string, seq int64, ok bool) {
	epoch, num, found := strings.Cut(v, ":")
	if !found || epoch == "" {
		return "", 0, false
	}
	seq, err := strconv.ParseInt(num, 10, 64)
	if err != nil || seq < 0 {
		return "", 0, false
	}
	return epoch, seq, true
}

// Change is one change to what a store should show for a SKU. Delta is the
// amount to add to the store's stock (relative, so a checkout racing the
// write is not overwritten); Target is the hub's figure for the store after
// this change, for the agent's safety net. Seq is the store's sequence number.
type Change struct {
	Seq    int64  `json:"seq"`
	SKU    string `json:"sku"`
	Delta  int64  `json:"delta"`
	Target int64  `json:"target"`
}

// Changes carries changes in sequence order.
type Changes struct {
	Changes []Change `json:"changes"`
}

// Snapshot carries the absolute target of every SKU for the store as of Seq.
// The agent makes its store match and then continues after Seq.
//
// A large snapshot is sent in Chunks messages, all at the same Seq, each
// holding a part of the targets (no SKU in two), Chunk counting from 0;
// the agent applies the snapshot only once the last chunk has arrived, and
// drops a partial one when the link drops. A snapshot sent whole omits both
// fields.
type Snapshot struct {
	Seq     int64            `json:"seq"`
	Targets map[string]int64 `json:"targets"`
	// Chunk is this message's index in a chunked snapshot, from 0.
	Chunk int `json:"chunk,omitempty"`
	// Chunks is the number of messages of a chunked snapshot; 0 for one
	// sent whole.
	Chunks int `json:"chunks,omitempty"`
}

// Whole reports whether s is a snapshot sent in one message.
func (s Snapshot) Whole() bool { return s.Chunks <= 1 && s.Chunk == 0 }

// Last reports whether s is the last message of its snapshot.
func (s Snapshot) Last() bool { return s.Whole() || s.Chunk == s.Chunks-1 }

// Snapshot chunk bounds: SplitSnapshot cuts a chunk once it holds
// SnapshotChunkSKUs targets or about SnapshotChunkBytes of JSON, whichever
// comes first, far below MaxMessageBytes whatever the SKUs look like.
const (
	SnapshotChunkSKUs  = 5000
	SnapshotChunkBytes = 512 << 10
)

// SplitSnapshot cuts the snapshot of targets as of seq into chunks of at
// most maxSKUs targets and about maxBytes of JSON each (at least one
// target per chunk), in SKU order. Targets that fit in one chunk give one
// snapshot sent whole. The chunks share targets' values but not its map.
func SplitSnapshot(seq int64, targets map[string]int64, maxSKUs, maxBytes int) []Snapshot {
	skus := make([]string, 0, len(targets))
	for sku := range targets {
		skus = append(skus, sku)
	}
	slices.Sort(skus)
	var chunks []Snapshot
	cur := Snapshot{Seq: seq, Targets: map[string]int64{}}
	size := 0
	for _, sku := range skus {
		n := targetJSONBytes(sku, targets[sku])
		if len(cur.Targets) > 0 && (len(cur.Targets) >= maxSKUs || size+n > maxBytes) {
			chunks = append(chunks, cur)
			cur = Snapshot{Seq: seq, Targets: map[string]int64{}}
			size = 0
		}
		cur.Targets[sku] = targets[sku]
		size += n
	}
	chunks = append(chunks, cur)
	if len(chunks) > 1 {
		for i := range chunks {
			chunks[i].Chunk, chunks[i].Chunks = i, len(chunks)
		}
	}
	return chunks
}

// targetJSONBytes is the size of one target in a snapshot's JSON:
// "sku":n, with the SKU escaped as encoding/json escapes it.
func targetJSONBytes(sku string, target int64) int {
	key, err := json.Marshal(sku)
	if err != nil {
		panic(err) // a string always encodes
	}
	return len(key) + len(strconv.FormatInt(target, 10)) + 2
}

// OrderLine is one line of an order report.
type OrderLine struct {
	SKU         string `json:"sku"`
	Quantity    int64  `json:"quantity"`
	ProductID   int64  `json:"product_id"`
	VariationID int64  `json:"variation_id,omitempty"`
}

// Order reports one WooCommerce order's current state. The envelope ID is the
// agent's outbox event ID; the hub acknowledges it once the report is
// committed. Resending is harmless: the hub applies each status once.
type Order struct {
	WooOrderID   int64       `json:"woo_order_id"`
	Number       string      `json:"number"`
	Status       string      `json:"status"`
	DateModified time.Time   `json:"date_modified"`
	Lines        []OrderLine `json:"lines"`
	Source       string      `json:"source"` // "webhook" or "poll"
	// StockReduced is whether WooCommerce holds the order's stock reduced
	// (its line items' _reduced_stock, shared/woo.StockReduced); nil when
	// the agent could not tell, as for a deleted order. It decides the
	// store's own stock move where the status does not (shared/woo.StockEffect).
	StockReduced *bool `json:"stock_reduced,omitempty"`
	// Raw is the whole WooCommerce order as JSON (the fields of
	// shared/woo.Order), from which the hub keeps the order's document;
	// empty when the agent could read only part of it. At most 1 MiB.
	Raw json.RawMessage `json:"raw,omitempty"`
}

// StoreEdit reports a hand edit of a SKU's stock in the store's back office
// that the agent accepted (its --store-edits=accept): the store showed To
// where it should have shown From. The hub counts To−From into its stock
// (a ledger entry with reason store_edit, at the store's edit location)
// and passes the result to every other store. The envelope ID is the
// agent's outbox event ID, acknowledged like an order report; ID is the
// edit's own, drawn once by the agent, and makes a resent report count
// once.
type StoreEdit struct {
	ID       string    `json:"id"`
	SKU      string    `json:"sku"`
	From     int64     `json:"from"`
	To       int64     `json:"to"`
	EditedAt time.Time `json:"edited_at"`
}

// Ack acknowledges the message whose envelope ID it carries. Error is set
// when the hub refused the message for good (it will never accept it as it
// is); the agent takes it out of its outbox and parks it in its dead letters
// with the error, for an operator to replay.
type Ack struct {
	Error string `json:"error,omitempty"`
}

// Applied tells the hub the highest sequence the agent has applied to its
// store.
type Applied struct {
	Seq int64 `json:"seq"`
}

// Status is the agent's periodic health report.
type Status struct {
	OutboxDepth   int     `json:"outbox_depth"`
	OutboxOldestS float64 `json:"outbox_oldest_seconds"`
	// WebhooksOK is true only when WebhookHealth is WebhookHealthOK.
	WebhooksOK    bool `json:"webhooks_ok"`
	UnknownSKUs   int  `json:"unknown_skus"`
	DuplicateSKUs int  `json:"duplicate_skus"`
	CatalogSKUs   int  `json:"catalog_skus"`
	// DeadLetters counts the order reports the hub refused, parked in the
	// agent's outbox until an operator replays them.
	DeadLetters int `json:"dead_letters"`
	// WebhookHealth is one of the WebhookHealth… values; empty from an
	// agent that predates it.
	WebhookHealth string `json:"webhook_health,omitempty"`
	// EditsReverted counts the hand edits in the store the agent set back
	// to the hub's figure since it started: the store's drift. 0 from an
	// agent that predates it.
	EditsReverted int64 `json:"edits_reverted,omitempty"`
}

// What an agent knows of its store's webhooks (Status.WebhookHealth).
const (
	// WebhookHealthUnknown: nothing has shown yet whether deliveries
	// arrive (just started, no order since).
	WebhookHealthUnknown = "unknown"
	// WebhookHealthOK: a signed delivery arrived, and none has been
	// missed since.
	WebhookHealthOK = "ok"
	// WebhookHealthFailing: the store's ping never came after the
	// webhooks were registered, or the poll found an order whose webhook
	// never came.
	WebhookHealthFailing = "failing"
	// WebhookHealthOff: the agent registers no webhooks (polling only).
	WebhookHealthOff = "off"
)

// Reclaim asks an allocate store's agent to give back up to Units of SKU.
// The agent lowers the store's stock by at most what the store still has
// and answers with Released; only what it reports returns to the hub's
// pool. The hub sends a reclaim again until it is answered (after a
// reconnect, say), so the agent releases at most once per ID.
type Reclaim struct {
	ID    int64  `json:"id"`
	SKU   string `json:"sku"`
	Units int64  `json:"units"`
}

// Released answers a Reclaim: the units the agent took out of its store,
// between 0 and the reclaim's Units. Resending it is harmless.
type Released struct {
	ReclaimID int64  `json:"reclaim_id"`
	SKU       string `json:"sku"`
	Released  int64  `json:"released"`
}

// Order command kinds: the ERP's answers for a store's order.
const (
	// CommandERPReference records the ERP's own reference for the order:
	// the order meta _stockwire_erp_reference and a private note.
	CommandERPReference = "erp_reference"
	// CommandFulfilment records a shipment: the tracking in the order meta
	// _wc_shipment_tracking_items (as WooCommerce Shipment Tracking reads
	// it) and a note to the customer; the order becomes completed when
	// the shipment completes it.
	CommandFulfilment = "fulfilment"
	// CommandCancellation cancels the order (WooCommerce puts its stock
	// back, and the agent reports the cancelled order as any other).
	CommandCancellation = "cancellation"
)

// OrderCommand asks the agent to apply one of the ERP's answers to a store
// order. The hub sends every command not yet done again on each new
// session, so the agent applies a command at most once per ID (it records
// the ID in the order's meta, in the same write as the change) and answers
// a repeat with CommandDone at once.
type OrderCommand struct {
	ID         int64  `json:"id"`
	WooOrderID int64  `json:"woo_order_id"`
	Kind       string `json:"kind"`
	// ERP is set for CommandERPReference.
	ERP *ERPReference `json:"erp,omitempty"`
	// Shipment is set for CommandFulfilment.
	Shipment *Shipment `json:"shipment,omitempty"`
	// Reason is the cancellation's, for the order's note.
	Reason string `json:"reason,omitempty"`
}

// ERPReference names the order in the merchant's ERP.
type ERPReference struct {
	System    string `json:"system"`
	Reference string `json:"reference"`
}

// Shipment is one shipment of an order. Lines is empty for a shipment of
// the whole order; Complete says every line of the order has shipped.
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

// CommandDone answers an OrderCommand once it is applied to the store, or
// with Error when the store refused it for good (the order is gone, say).
// Resending it is harmless.
type CommandDone struct {
	ID    int64  `json:"id"`
	Error string `json:"error,omitempty"`
}

// Error is sent before the hub closes a session for a reason the agent must
// show to a human (revoked credential, protocol error).
type Error struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Encode builds an envelope for payload v.
func Encode(typ, id string, v any) ([]byte, error) {
	var raw json.RawMessage
	if v != nil {
		b, err := json.Marshal(v)
		if err != nil {
			return nil, fmt.Errorf("encode %s payload: %w", typ, err)
		}
		raw = b
	}
	return json.Marshal(Envelope{Type: typ, ID: id, Payload: raw})
}

// Decode parses an envelope. The payload is decoded later with DecodePayload
// once the type is known.
func Decode(data []byte) (Envelope, error) {
	var env Envelope
	if err := json.Unmarshal(data, &env); err != nil {
		return Envelope{}, fmt.Errorf("decode envelope: %w", err)
	}
	if env.Type == "" {
		return Envelope{}, fmt.Errorf("decode envelope: missing type")
	}
	return env, nil
}

// DecodePayload decodes the envelope's payload into v.
func DecodePayload(env Envelope, v any) error {
	if len(env.Payload) == 0 {
		return fmt.Errorf("decode %s: empty payload", env.Type)
	}
	if err := json.Unmarshal(env.Payload, v); err != nil {
		return fmt.Errorf("decode %s: %w", env.Type, err)
	}
	return nil
}
