package hub

import (
	"context"
	"time"
)

// ConsoleSessionService keeps the operator console's logins. A session is
// named by a random id the browser holds; the service keeps only its hash.
// Times come from the caller, so that one clock decides expiry.
type ConsoleSessionService interface {
	// StartConsoleSession records a new session begun at now.
	StartConsoleSession(ctx context.Context, id string, now time.Time) error
	// TouchConsoleSession marks the session seen at now, if it began after
	// startedAfter, was last seen after seenAfter and the admin token has
	// not changed since it began. Returns EUNAUTHORIZED for an unknown,
	// ended or expired session.
	TouchConsoleSession(ctx context.Context, id string, now, startedAfter, seenAfter time.Time) error
	// EndConsoleSession ends the session (logout); an unknown one is no
	// error. It also forgets sessions last seen before seenBefore.
	EndConsoleSession(ctx context.Context, id string, seenBefore time.Time) error
}

// StoreActivity is what the console shows of a store beyond its agent state.
type StoreActivity struct {
	// OldestUnapplied is when the oldest change the store's agent has not
	// applied was made; nil when it is up to date.
	OldestUnapplied *time.Time
	// LastSale is when the store's newest order reached the hub.
	LastSale *time.Time
	// LastError is the store's newest refused order command, if any.
	LastError string
	// DriftCorrections counts the hand edits in the store that its agent
	// accepted into the hub's stock.
	DriftCorrections int64
}

// OrderStatusChange is one status an order was reported in. Applied is
// false for a report older than one already applied.
type OrderStatusChange struct {
	Status       string
	DateModified time.Time
	Applied      bool
	At           time.Time
}

// ConsoleQueries answers what the console shows that the other services
// have no call for.
type ConsoleQueries interface {
	// SalesSince returns how many orders reached the hub since t and the
	// units their lines hold (parked lines excluded).
	SalesSince(ctx context.Context, t time.Time) (orders, units int64, err error)
	// StoreActivity returns each store's activity by store id.
	StoreActivity(ctx context.Context) (map[int64]StoreActivity, error)
	// SearchSKUs returns up to limit SKUs containing q (any case), by name.
	SearchSKUs(ctx context.Context, q string, limit int) ([]string, error)
	// LedgerSince returns the SKU's ledger entries made after t, oldest
	// first.
	LedgerSince(ctx context.Context, sku string, t time.Time) ([]LedgerEntry, error)
	// RecentOrderIDs returns the ids of the newest orders, newest first.
	RecentOrderIDs(ctx context.Context, limit int) ([]int64, error)
	// StatusHistory returns the statuses reported for an order, oldest
	// first.
	StatusHistory(ctx context.Context, orderID int64) ([]OrderStatusChange, error)
	// ChangeMark returns a value that changes whenever stock, orders,
	// order commands or stores' settings and links change.
	ChangeMark(ctx context.Context) (string, error)
}
