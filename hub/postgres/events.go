package postgres

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/stockwire/stockwire/hub"
)

var _ hub.EventService = (*EventService)(nil)

// EventService implements hub.EventService: the per-store change streams
// written by the stock transactions.
type EventService struct {
	db *DB

	// eventsAfter is prepared once: every woken session runs it, and with
	// a thousand sessions parsing and planning it each time was most of
	// PostgreSQL's work in a fan-out.
	prepareOnce sync.Once
	eventsAfter *sql.Stmt
	prepareErr  error
}

// NewEventService returns the event service on db.
func NewEventService(db *DB) *EventService { return &EventService{db: db} }

const eventsAfterSQL = `SELECT s.pruned_through, e.seq, e.sku, e.delta, e.target
	FROM store_seq s LEFT JOIN LATERAL (
		SELECT seq, sku, delta, target FROM store_events
		WHERE store_id = s.store_id AND seq > $2 ORDER BY seq LIMIT $3) e ON true
	WHERE s.store_id = $1`

// HeadSeq returns the store's newest sequence (0 if none). Returns ENOTFOUND
// for an unknown store.
func (s *EventService) HeadSeq(ctx context.Context, storeID int64) (int64, error) {
	defer s.db.observe("head_seq", time.Now())
	var head int64
	if err := s.db.db.GetContext(ctx, &head, `SELECT head FROM store_seq WHERE store_id = $1`, storeID); err != nil {
		if isNoRows(err) {
			return 0, fmt.Errorf("head seq of store %d: %w", storeID, hub.Errorf(hub.ENOTFOUND, "Store %d not found.", storeID))
		}
		return 0, fmt.Errorf("head seq of store %d: %w", storeID, err)
	}
	return head, nil
}

// EventsAfter returns up to limit events with Seq > after, in order. Returns
// ECONFLICT when some of them were pruned.
func (s *EventService) EventsAfter(ctx context.Context, storeID, after int64, limit int) ([]hub.Event, error) {
	defer s.db.observe("events_after", time.Now())
	if limit <= 0 || limit > 10000 {
		limit = 1000
	}
	// One statement, one snapshot, one round trip: with a thousand
	// sessions woken by one change, round trips through the pool are what
	// the fan-out waits on.
	s.prepareOnce.Do(func() { s.eventsAfter, s.prepareErr = s.db.db.PrepareContext(context.Background(), eventsAfterSQL) })
	if s.prepareErr != nil {
		return nil, fmt.Errorf("prepare events query: %w", s.prepareErr)
	}
	rows, err := s.eventsAfter.QueryContext(ctx, storeID, after, limit)
	if err != nil {
		return nil, fmt.Errorf("events of store %d after %d: %w", storeID, after, translate(err))
	}
	defer rows.Close()
	out := []hub.Event{}
	found := false
	for rows.Next() {
		found = true
		var pruned int64
		var seq, delta, target sql.NullInt64
		var sku sql.NullString
		if err := rows.Scan(&pruned, &seq, &sku, &delta, &target); err != nil {
			return nil, fmt.Errorf("events of store %d after %d: %w", storeID, after, err)
		}
		if after < pruned {
			return nil, hub.Errorf(hub.ECONFLICT, "Events after %d were pruned; take a snapshot.", after)
		}
		if seq.Valid {
			out = append(out, hub.Event{StoreID: storeID, Seq: seq.Int64, SKU: sku.String, Delta: delta.Int64, Target: target.Int64})
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("events of store %d after %d: %w", storeID, after, translate(err))
	}
	if !found {
		return nil, fmt.Errorf("events of store %d after %d: %w", storeID, after, translate(sql.ErrNoRows))
	}
	return out, nil
}

// Snapshot returns the store's head sequence and every target, read in one
// repeatable-read transaction so that the targets are exactly those after
// the head's event.
func (s *EventService) Snapshot(ctx context.Context, storeID int64) (int64, map[string]int64, error) {
	defer s.db.observe("snapshot", time.Now())
	var head int64
	targets := map[string]int64{}
	err := s.db.tryTx(ctx, &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true}, func(tx *sqlx.Tx) error {
		if err := tx.GetContext(ctx, &head, `SELECT head FROM store_seq WHERE store_id = $1`, storeID); err != nil {
			return err
		}
		rows, err := tx.QueryContext(ctx, `SELECT sku, target FROM store_targets WHERE store_id = $1`, storeID)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var sku string
			var t int64
			if err := rows.Scan(&sku, &t); err != nil {
				return err
			}
			targets[sku] = t
		}
		return rows.Err()
	})
	if err != nil {
		return 0, nil, fmt.Errorf("snapshot of store %d: %w", storeID, translate(err))
	}
	return head, targets, nil
}

// Prune deletes all but the newest keep events of every store. Readers
// asking for pruned events get ECONFLICT and take a snapshot.
func (s *EventService) Prune(ctx context.Context, keep int) (int64, error) {
	if keep < 0 {
		return 0, hub.FieldErrorf("keep", hub.EINVALID, "keep must not be negative.")
	}
	var n int64
	err := s.db.tx(ctx, "prune_events", nil, func(tx *sqlx.Tx) error {
		// Raise the watermark first: a reader that sees the rows gone also
		// sees the watermark (same transaction).
		if _, err := tx.ExecContext(ctx, `UPDATE store_seq SET pruned_through = head - $1 WHERE head - $1 > pruned_through`, keep); err != nil {
			return fmt.Errorf("raise watermarks: %w", err)
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM store_events e USING store_seq q
			WHERE q.store_id = e.store_id AND e.seq <= q.pruned_through`)
		if err != nil {
			return fmt.Errorf("delete events: %w", err)
		}
		n, _ = res.RowsAffected()
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("prune events keeping %d: %w", keep, err)
	}
	return n, nil
}
