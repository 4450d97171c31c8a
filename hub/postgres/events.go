package postgres

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/stockwire/stockwire/hub"
)

var _ hub.EventService = (*EventService)(nil)

// EventService implements hub.EventService: the per-store change streams
// written by the stock transactions.
//
// One change wakes every store's session at once, and each asks for its
// events: the reads are grouped (group.go), so a thousand woken sessions
// cost a few statements rather than a thousand round trips through the
// pool.
type EventService struct {
	db    *DB
	reads group[*eventsReq]

	// eventsAfter is prepared once: every woken session runs it, and with
	// a thousand sessions parsing and planning it each time was most of
	// PostgreSQL's work in a fan-out. database/sql prepares it again on
	// each new connection (after a connection is lost, too); a statement
	// PostgreSQL no longer takes (the schema changed under it, or it was
	// deallocated) is replaced (see queryEvents). Owned by the read
	// group's batches, which run one at a time.
	eventsAfter *sql.Stmt
}

// maxEventReads bounds the sessions served by one events statement.
const maxEventReads = 500

// eventReadTimeout bounds one grouped events statement, and the prepare
// it may need; the callers' contexts do not, since they share it.
const eventReadTimeout = 30 * time.Second

// NewEventService returns the event service on db, its events query
// prepared. The prepare is bounded by eventReadTimeout as well as ctx.
func NewEventService(ctx context.Context, db *DB) (*EventService, error) {
	ctx, cancel := context.WithTimeout(ctx, eventReadTimeout)
	defer cancel()
	stmt, err := db.db.PrepareContext(ctx, eventsAfterSQL)
	if err != nil {
		return nil, fmt.Errorf("prepare events query: %w", err)
	}
	s := &EventService{db: db, eventsAfter: stmt}
	s.reads = group[*eventsReq]{life: db.life, take: firstN[*eventsReq](maxEventReads), run: s.readEvents,
		fail: func(q *eventsReq, err error) { q.done <- reply[[]hub.Event]{err: err} }}
	return s, nil
}

// eventsAfterSQL reads, for each (store, after, limit), the store's pruning
// mark and its first events after `after`; a store without events yields
// one row with NULL event columns, an unknown store none.
const eventsAfterSQL = `SELECT v.i, s.pruned_through, e.seq, e.sku, e.delta, e.target
	FROM unnest($1::bigint[], $2::bigint[], $3::integer[]) WITH ORDINALITY AS v(store_id, after, lim, i)
	JOIN store_seq s ON s.store_id = v.store_id
	LEFT JOIN LATERAL (
		SELECT seq, sku, delta, target FROM store_events
		WHERE store_id = v.store_id AND seq > v.after ORDER BY seq LIMIT v.lim) e ON true
	ORDER BY v.i, e.seq`

// eventsReq is one session's read, waiting for its group.
type eventsReq struct {
	storeID, after int64
	limit          int
	done           chan reply[[]hub.Event] // buffered
}

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

// EventsAfter returns up to limit events with Seq > after, in order: from
// memory when this process committed them last (recent.go), else from
// PostgreSQL. Returns ECONFLICT when some of them were pruned, ENOTFOUND
// for an unknown store.
func (s *EventService) EventsAfter(ctx context.Context, storeID, after int64, limit int) ([]hub.Event, error) {
	if limit <= 0 || limit > 10000 {
		limit = 1000
	}
	if events, ok := s.db.recent.after(storeID, after, limit); ok {
		return events, nil
	}
	q := &eventsReq{storeID: storeID, after: after, limit: limit, done: make(chan reply[[]hub.Event], 1)}
	s.reads.submit(q)
	events, err := await(ctx, q.done)
	if err != nil {
		return nil, fmt.Errorf("events of store %d after %d: %w", storeID, after, err)
	}
	return events, nil
}

// readEvents answers a group of reads with one statement.
func (s *EventService) readEvents(ctx context.Context, batch []*eventsReq) {
	defer s.db.observe("events_after", time.Now())
	ctx, cancel := context.WithTimeout(ctx, eventReadTimeout)
	defer cancel()
	res, err := s.queryEvents(ctx, batch)
	for i, q := range batch {
		if err != nil {
			q.done <- reply[[]hub.Event]{err: err}
		} else {
			q.done <- res[i]
		}
	}
}

func (s *EventService) queryEvents(ctx context.Context, batch []*eventsReq) ([]reply[[]hub.Event], error) {
	n := len(batch)
	stores, after, limits := make([]int64, n), make([]int64, n), make([]int64, n)
	for i, q := range batch {
		stores[i], after[i], limits[i] = q.storeID, q.after, int64(q.limit)
	}
	// One statement, one snapshot: with a thousand sessions woken by one
	// change, round trips through the pool are what the fan-out waits on.
	args := []any{pq.Array(stores), pq.Array(after), pq.Array(limits)}
	rows, err := s.eventsAfter.QueryContext(ctx, args...)
	if isStalePrepared(err) {
		if err := s.reprepare(ctx); err != nil {
			return nil, err
		}
		rows, err = s.eventsAfter.QueryContext(ctx, args...)
	}
	if err != nil {
		return nil, translate(err)
	}
	defer rows.Close()
	res := make([]reply[[]hub.Event], n)
	found := make([]bool, n)
	for rows.Next() {
		var i, pruned int64
		var seq, delta, target sql.NullInt64
		var sku sql.NullString
		if err := rows.Scan(&i, &pruned, &seq, &sku, &delta, &target); err != nil {
			return nil, err
		}
		i-- // ordinality counts from 1
		q := batch[i]
		if !found[i] {
			found[i] = true
			res[i].val = []hub.Event{}
			if q.after < pruned {
				res[i].err = hub.Errorf(hub.ECONFLICT, "Events after %d were pruned; take a snapshot.", q.after)
			}
		}
		if seq.Valid && res[i].err == nil {
			res[i].val = append(res[i].val, hub.Event{StoreID: q.storeID, Seq: seq.Int64, SKU: sku.String, Delta: delta.Int64, Target: target.Int64})
		}
	}
	if err := rows.Err(); err != nil {
		return nil, translate(err)
	}
	for i, q := range batch {
		if !found[i] {
			res[i].err = hub.Errorf(hub.ENOTFOUND, "Store %d not found.", q.storeID)
		}
	}
	return res, nil
}

// isStalePrepared reports whether err is PostgreSQL refusing a prepared
// statement it holds no longer as it was prepared: the schema changed under
// it ("cached plan must not change result type"), or it is gone (a pooler
// or DISCARD dropped it). Every later run on those connections would fail
// the same way.
func isStalePrepared(err error) bool {
	var pe *pq.Error
	if !errors.As(err, &pe) {
		return false
	}
	return pe.Code.Name() == "invalid_sql_statement_name" ||
		pe.Code.Name() == "feature_not_supported" && strings.Contains(pe.Message, "cached plan")
}

// reprepare replaces the events statement with a newly prepared one.
func (s *EventService) reprepare(ctx context.Context) error {
	stmt, err := s.db.db.PrepareContext(ctx, eventsAfterSQL)
	if err != nil {
		return fmt.Errorf("prepare events query again: %w", err)
	}
	s.db.logger.Warn("events query prepared again; PostgreSQL refused the old one (schema changed?)")
	old := s.eventsAfter
	s.eventsAfter = stmt
	if err := old.Close(); err != nil {
		s.db.logger.Warn("close the old events statement", "error", err)
	}
	return nil
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

// NewEpoch draws a new epoch for the store's sequence and returns it.
// Returns ENOTFOUND for an unknown store.
func (s *EventService) NewEpoch(ctx context.Context, storeID int64) (string, error) {
	epoch, err := drawEpoch(ctx, s.db.db, storeID)
	if err != nil {
		return "", fmt.Errorf("new epoch of store %d: %w", storeID, translate(err))
	}
	return epoch, nil
}

// drawEpoch gives the store a new random epoch and returns it. Returns
// ENOTFOUND for an unknown store.
func drawEpoch(ctx context.Context, q sqlx.QueryerContext, storeID int64) (string, error) {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	var epoch string
	err := sqlx.GetContext(ctx, q, &epoch, `UPDATE stores SET epoch = $2 WHERE id = $1 RETURNING epoch`, storeID, hex.EncodeToString(b[:]))
	if isNoRows(err) {
		return "", hub.Errorf(hub.ENOTFOUND, "Store %d not found.", storeID)
	}
	return epoch, err
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
		// sees the watermark (same transaction). Sequence rows are written
		// under lockSeq (see publish).
		if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, lockSeq); err != nil {
			return fmt.Errorf("lock sequences: %w", err)
		}
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
	s.db.recent.forget()
	return n, nil
}
