// Package agent holds the agent's domain: the interfaces its parts implement
// (the durable outbox, the store's stock writer) and the Relay that joins the
// hub link to them. It imports no network or storage package; only
// agent/cmd/agent knows every implementation.
package agent

import (
	"context"
	"errors"
	"time"

	"github.com/stockwire/stockwire/shared/wire"
)

// OutboxEvent is one report waiting for the hub's acknowledgement: an
// order report, or a hand edit the agent accepted in the store when Edit
// is set. ID is the outbox's own, increasing.
type OutboxEvent struct {
	ID         uint64          `json:"id"`
	Order      wire.Order      `json:"order"`
	Edit       *wire.StoreEdit `json:"edit,omitempty"`
	AppendedAt time.Time       `json:"appended_at"`
}

// Reported is the newest state of an order the agent reported.
type Reported struct {
	Status   string
	Modified time.Time
	// StockReduced is whether WooCommerce holds the order's stock
	// reduced, as the reports so far tell (shared/woo.StockEffect): the
	// hub's record of the order says the same.
	StockReduced bool
}

// Outbox is a durable FIFO of order reports. An event leaves it only when the
// hub has acknowledged it; everything appended survives kill -9.
type Outbox interface {
	// Append stores o durably (fsync) and returns its ID. Returns
	// ErrOutboxFull when the bound is reached.
	Append(ctx context.Context, o wire.Order) (uint64, error)
	// After returns up to n events with ID > after, oldest first.
	After(after uint64, n int) ([]OutboxEvent, error)
	// Ack removes the event; acking an unknown ID is not an error.
	Ack(id uint64) error
	// Park moves the event out of the queue into durable dead letters,
	// with the reason the hub refused it; an unknown ID is not an error.
	Park(id uint64, reason string) error
	// Len returns the number of events held.
	Len() int
	// DeadLetterCount returns the number of parked events.
	DeadLetterCount() int
	// OldestAge returns the age of the oldest event, 0 when empty.
	OldestAge() time.Duration
}

// StockWriter applies the hub's changes to the store exactly once.
type StockWriter interface {
	// Apply queues changes (in sequence order) for the store; bursts to one
	// SKU coalesce. It does not wait for the writes.
	Apply(changes []wire.Change)
	// ApplySnapshot makes the store match targets as of seq.
	ApplySnapshot(seq int64, targets map[string]int64)
	// AppliedSeq returns the highest sequence durably applied to the store;
	// it survives restarts.
	AppliedSeq() int64
	// Epoch returns the store epoch AppliedSeq counts in ("" for none).
	Epoch() string
	// Welcome takes the hub's welcome of a session: the store's epoch and
	// head sequence. It comes before the session's changes or snapshot.
	Welcome(epoch string, head int64)
}

// ErrCommandRefused is matched (errors.Is) by an OrderCommander's error
// when the store refused the command for good: the order is not in the
// store (or is in its trash), the command's kind is unknown to this agent,
// its payload is missing, or the store rejected the request itself. The
// relay answers the hub with CommandDone carrying the error instead of
// retrying.
var ErrCommandRefused = errors.New("order command refused by the store")

// OrderCommander applies the ERP's answers (wire.OrderCommand: an ERP
// reference, a fulfilment, a cancellation) to the store's orders.
type OrderCommander interface {
	// ApplyCommand applies c to its order once: a command already applied
	// (it is recorded on the order) returns nil without changing anything,
	// so the hub's resends after a crash or reconnect are harmless.
	// Returns an error matching ErrCommandRefused when the store refuses
	// it for good; any other error (store unreachable, 5xx, timeout) is
	// transient and the command should be applied again later.
	ApplyCommand(ctx context.Context, c wire.OrderCommand) error
}
