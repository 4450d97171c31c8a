package postgres

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/stockwire/stockwire/hub"
)

type skuRow struct {
	SKU         string `db:"sku"`
	OnHand      int64  `db:"on_hand"`
	Committed   int64  `db:"committed"`
	SafetyStock int64  `db:"safety_stock"`
}

func (r *skuRow) available() int64 { return r.OnHand - r.Committed - r.SafetyStock }

type ledgerRow struct {
	sku, location, quantity string
	before, after           int64
	reason, reference, key  string
	actor                   string
}

// stockTx is one stock-changing transaction: it locks SKU rows in sorted
// order, buffers the changes and the ledger rows, then (finish) writes them,
// recomputes the targets of the changed SKUs for every active store and
// writes the events.
type stockTx struct {
	ctx context.Context
	tx  preparedTx

	skus    map[string]*skuRow // locked rows with their current values
	changed map[string]bool    // SKUs whose row changed
	ledger  []ledgerRow

	// local is what WooCommerce already did to a store's own stock (its
	// orders, its release of a reclaim), per store and SKU, so it is not
	// echoed back to it.
	local map[localKey]int64

	// alloc is the allocate policy's state (alloc.go); releasing marks the
	// local effects as a reclaim's release rather than sales.
	alloc     allocState
	releasing bool
	// rebalanceAlso are SKUs to rebalance and publish besides the changed
	// ones (the periodic rebalance, a release of nothing).
	rebalanceAlso []string

	// tail, when set, adds the caller's own writes to the last statement.
	tail func(b *stmt)
	// recent, when set, takes the events publish writes, for the
	// sessions of this process once the transaction commits (recent.go).
	recent *recentEvents
	// now is the transaction's timestamp, set by publish.
	now time.Time
}

// newStockTx begins a stock transaction in tx. With db, the events it
// writes reach db's sessions at its commit, without a read (recent.go).
func newStockTx(ctx context.Context, db *DB, tx *sqlx.Tx) (*stockTx, error) {
	// Shared: many stock transactions run at once; store creation and
	// updates take it exclusively so they see every committed change.
	if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock_shared($1)`, lockStores); err != nil {
		return nil, fmt.Errorf("lock stores shared: %w", err)
	}
	return newStockTxLocked(ctx, db, tx), nil
}

// newStockTxLocked is newStockTx for a caller that takes the shared stores
// lock itself, before its first read of stores.
func newStockTxLocked(ctx context.Context, db *DB, tx *sqlx.Tx) *stockTx {
	st := &stockTx{ctx: ctx, tx: preparedTx{Tx: tx}, skus: map[string]*skuRow{}, changed: map[string]bool{}, local: map[localKey]int64{}}
	if db != nil {
		st.recent = &db.recent
	}
	return st
}

// localKey names a store's own shelf of one SKU.
type localKey struct {
	store int64
	sku   string
}

// lock locks the SKU rows (creating missing ones when create is set) in
// sorted order, to avoid deadlocks between transactions.
func (s *stockTx) lock(skus []string, create bool) error {
	var want []string
	seen := make(map[string]bool, len(skus))
	for _, k := range skus {
		if _, ok := s.skus[k]; !ok && !seen[k] {
			seen[k] = true
			want = append(want, k)
		}
	}
	if len(want) == 0 {
		return nil
	}
	sort.Strings(want)
	if create {
		var created []skuRow
		if err := s.tx.SelectContext(s.ctx, &created, `INSERT INTO skus (sku) SELECT k FROM unnest($1::text[]) k ORDER BY k ON CONFLICT DO NOTHING
			RETURNING sku, on_hand, committed, safety_stock`, pq.Array(want)); err != nil {
			return fmt.Errorf("create skus: %w", err)
		}
		// A row this transaction inserted is its own until it commits:
		// locking it again would write every new row a second time.
		for i := range created {
			s.skus[created[i].SKU] = &created[i]
		}
		want = slices.DeleteFunc(want, func(k string) bool { return s.skus[k] != nil })
		if len(want) == 0 {
			return nil
		}
	}
	var rows []skuRow
	if err := s.tx.selectInto(s.ctx, &rows, `SELECT sku, on_hand, committed, safety_stock FROM skus WHERE sku = ANY($1) ORDER BY sku FOR UPDATE`, pq.Array(want)); err != nil {
		return fmt.Errorf("lock skus: %w", err)
	}
	for i := range rows {
		s.skus[rows[i].SKU] = &rows[i]
	}
	return nil
}

func (s *stockTx) row(sku string) *skuRow {
	r := s.skus[sku]
	if r == nil {
		panic("postgres: sku " + sku + " used without lock")
	}
	return r
}

// setOnHands sets the on_hand of many (sku, location) pairs (absolute; the
// SKUs locked), in one statement whatever their number: it reads the
// current figures and writes the new locations and figures. Of a pair given twice the
// last count stands.
func (s *stockTx) setOnHands(counts []hub.Count, reference string) error {
	type key struct{ sku, location string }
	last := make(map[key]int, len(counts))
	for i, c := range counts {
		last[key{c.SKU, c.Location}] = i
	}
	kept := make([]hub.Count, 0, len(last))
	for i, c := range counts {
		if last[key{c.SKU, c.Location}] == i {
			kept = append(kept, c)
		}
	}
	skus := make([]string, len(kept))
	locs := make([]string, len(kept))
	qty := make([]int64, len(kept))
	for i, c := range kept {
		skus[i], locs[i], qty[i] = c.SKU, c.Location, c.OnHand
	}
	// One statement: old reads the figures from before the writes (every
	// part of a statement sees the same snapshot).
	var before []int64
	if err := s.tx.SelectContext(s.ctx, &before, `WITH k AS (
			SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[]) WITH ORDINALITY AS k(sku, location, on_hand, ord)),
		old AS (SELECT k.ord, COALESCE(st.on_hand, 0) AS on_hand FROM k LEFT JOIN stock st ON st.sku = k.sku AND st.location = k.location),
		loc AS (INSERT INTO locations (name) SELECT DISTINCT location FROM k ON CONFLICT DO NOTHING),
		up AS (INSERT INTO stock (sku, location, on_hand) SELECT sku, location, on_hand FROM k
			ON CONFLICT (sku, location) DO UPDATE SET on_hand = EXCLUDED.on_hand)
		SELECT on_hand FROM old ORDER BY ord`, pq.Array(skus), pq.Array(locs), pq.Array(qty)); err != nil {
		return fmt.Errorf("write stock: %w", err)
	}
	for i, c := range kept {
		r := s.row(c.SKU)
		r.OnHand += c.OnHand - before[i]
		s.changed[c.SKU] = true
		s.ledger = append(s.ledger, ledgerRow{sku: c.SKU, location: c.Location, quantity: "on_hand", before: before[i], after: c.OnHand,
			reason: countReason(c), reference: reference, actor: c.Actor})
	}
	return nil
}

func (s *stockTx) onHandAt(sku, location string) (int64, error) {
	var n int64
	err := s.tx.GetContext(s.ctx, &n, `SELECT COALESCE((SELECT on_hand FROM stock WHERE sku = $1 AND location = $2), 0)`, sku, location)
	if err != nil {
		return 0, fmt.Errorf("read stock %s@%s: %w", sku, location, err)
	}
	return n, nil
}

func (s *stockTx) writeOnHand(sku, location string, before, after int64, l ledgerRow) error {
	r := s.row(sku)
	if _, err := s.tx.ExecContext(s.ctx, `
		WITH loc AS (INSERT INTO locations (name) VALUES ($2) ON CONFLICT DO NOTHING)
		INSERT INTO stock (sku, location, on_hand) VALUES ($1, $2, $3)
		ON CONFLICT (sku, location) DO UPDATE SET on_hand = EXCLUDED.on_hand`, sku, location, after); err != nil {
		return fmt.Errorf("write stock %s@%s: %w", sku, location, err)
	}
	r.OnHand += after - before
	s.changed[sku] = true
	l.sku, l.location, l.quantity, l.before, l.after = sku, location, "on_hand", before, after
	s.ledger = append(s.ledger, l)
	return nil
}

// fulfilLocation returns the location holding most of sku.
func (s *stockTx) fulfilLocation(sku string) (string, int64, error) {
	var loc struct {
		Location string `db:"location"`
		OnHand   int64  `db:"on_hand"`
	}
	err := s.tx.GetContext(s.ctx, &loc, `SELECT location, on_hand FROM stock WHERE sku = $1 ORDER BY on_hand DESC, location LIMIT 1`, sku)
	if isNoRows(err) {
		return "default", 0, nil
	} else if err != nil {
		return "", 0, fmt.Errorf("pick location for %s: %w", sku, err)
	}
	return loc.Location, loc.OnHand, nil
}

func (s *stockTx) addCommitted(sku string, delta int64, l ledgerRow) {
	r := s.row(sku)
	before := r.Committed
	r.Committed += delta
	s.changed[sku] = true
	l.sku, l.quantity, l.before, l.after = sku, "committed", before, r.Committed
	s.ledger = append(s.ledger, l)
}

func (s *stockTx) setSafety(sku string, n int64, l ledgerRow) {
	r := s.row(sku)
	before := r.SafetyStock
	r.SafetyStock = n
	s.changed[sku] = true
	l.sku, l.quantity, l.before, l.after = sku, "safety_stock", before, n
	s.ledger = append(s.ledger, l)
}

// stmt builds one statement out of common table expressions, numbering
// its arguments.
type stmt struct {
	ctes []string
	args []any
}

func (b *stmt) arg(v any) string {
	b.args = append(b.args, v)
	return "$" + strconv.Itoa(len(b.args))
}

func (b *stmt) with(name, body string) { b.ctes = append(b.ctes, name+" AS ("+body+")") }

func (b *stmt) sql(main string) string {
	if len(b.ctes) == 0 {
		return main
	}
	return "WITH " + strings.Join(b.ctes, ",\n") + "\n" + main
}

// finish writes the buffered changes and the ledger, moves the stores'
// local effects into their allocations, rebalances the allocations of the
// changed SKUs, recomputes their targets and writes the events, in two
// statements so that the locks taken here are held briefly.
func (s *stockTx) finish() error {
	var changed []string
	for k := range s.changed {
		changed = append(changed, k)
	}
	// A local effect matters even when available did not move (e.g.
	// completed straight from pending).
	for k, v := range s.local {
		if v != 0 && !s.changed[k.sku] && !slices.Contains(changed, k.sku) {
			changed = append(changed, k.sku)
		}
	}
	for _, k := range s.rebalanceAlso {
		if !slices.Contains(changed, k) {
			changed = append(changed, k)
		}
	}
	sort.Strings(changed)
	if err := s.loadAlloc(changed); err != nil {
		return err
	}
	now := time.Now()
	s.applyLocal(now)
	s.rebalance(changed, now)
	return s.publish(changed, 0, true)
}

// writeChanges adds the buffered SKU updates and ledger rows to b.
func (s *stockTx) writeChanges(b *stmt) {
	var changed []string
	for k := range s.changed {
		changed = append(changed, k)
	}
	sort.Strings(changed)
	if len(changed) > 0 {
		onHand := make([]int64, len(changed))
		committed := make([]int64, len(changed))
		safety := make([]int64, len(changed))
		for i, k := range changed {
			r := s.skus[k]
			onHand[i], committed[i], safety[i] = r.OnHand, r.Committed, r.SafetyStock
		}
		b.with("upd_skus", `UPDATE skus SET on_hand = v.on_hand, committed = v.committed, safety_stock = v.safety
			FROM unnest(`+b.arg(pq.Array(changed))+`::text[], `+b.arg(pq.Array(onHand))+`::bigint[], `+b.arg(pq.Array(committed))+`::bigint[], `+b.arg(pq.Array(safety))+`::bigint[]) AS v(sku, on_hand, committed, safety)
			WHERE skus.sku = v.sku`)
		writeStockWebhooks(b, changed, onHand, committed, safety)
	}
	if len(s.ledger) > 0 {
		n := len(s.ledger)
		cols := make([][]string, 7)
		for i := range cols {
			cols[i] = make([]string, n)
		}
		before := make([]int64, n)
		after := make([]int64, n)
		for i, l := range s.ledger {
			cols[0][i], cols[1][i], cols[2][i], cols[3][i] = l.sku, l.location, l.quantity, l.reason
			cols[4][i], cols[5][i], cols[6][i] = l.reference, l.key, l.actor
			before[i], after[i] = l.before, l.after
		}
		args := make([]string, 0, 9)
		for _, c := range cols {
			args = append(args, b.arg(pq.Array(c))+"::text[]")
		}
		args = append(args, b.arg(pq.Array(before))+"::bigint[]", b.arg(pq.Array(after))+"::bigint[]")
		b.with("ins_ledger", `INSERT INTO ledger (sku, location, quantity, reason, reference, idempotency_key, actor, before, after)
			SELECT sku, location, quantity, reason, reference, NULLIF(key, ''), actor, before, after
			FROM unnest(`+strings.Join(args, ", ")+`)
				WITH ORDINALITY AS v(sku, location, quantity, reason, reference, key, actor, before, after, ord)
			ORDER BY ord`)
	}
	s.ledger = nil
	clear(s.changed)
}

// publish writes the buffered changes, recomputes the targets of skus (all
// locked, or read under the exclusive stores lock) for the active stores
// (only storeID when non-zero) and, when withEvents, writes an event
// wherever a target changed or a store's local effect must be compensated. s.tail, if set, adds its own writes.
//
// It is one statement, so that the SKU locks taken before it are held for
// one round trip and the commit. Its snapshot is taken after those locks
// were granted, so the targets it reads are those the previous holder
// committed. The stores' counter rows, which every transaction with events
// touches, are locked under lockSeq (no deadlocks) and held until the
// commit.
func (s *stockTx) publish(skus []string, storeID int64, withEvents bool) error {
	var known []string
	var pool []int64
	for _, k := range skus {
		if s.skus[k] != nil {
			known = append(known, k)
		}
	}
	if err := s.loadAlloc(known); err != nil {
		return err
	}
	for _, k := range known {
		pool = append(pool, s.skus[k].available()-s.alloc.held(k))
	}
	var localStores []int64
	var localSKUs []string
	var local []int64
	for k, v := range s.local {
		if v != 0 && s.skus[k.sku] != nil {
			localStores, localSKUs, local = append(localStores, k.store), append(localSKUs, k.sku), append(local, v)
		}
	}
	b := &stmt{}
	s.writeChanges(b)
	reclaimed := s.writeAlloc(b)
	main := `SELECT now(), 0::bigint, NULL::bigint, NULL::bigint, NULL::text, NULL::bigint, NULL::bigint`
	if len(known) > 0 {
		aStores, aSKUs, aAllocated := s.allocArrays(known)
		b.with("k", `SELECT * FROM unnest(`+b.arg(pq.Array(known))+`::text[], `+b.arg(pq.Array(pool))+`::bigint[]) AS k(sku, pool)`)
		b.with("loc", `SELECT * FROM unnest(`+b.arg(pq.Array(localStores))+`::bigint[], `+b.arg(pq.Array(localSKUs))+`::text[], `+b.arg(pq.Array(local))+`::bigint[]) AS loc(store_id, sku, local)`)
		b.with("al", `SELECT * FROM unnest(`+b.arg(pq.Array(aStores))+`::bigint[], `+b.arg(pq.Array(aSKUs))+`::text[], `+b.arg(pq.Array(aAllocated))+`::bigint[]) AS al(store_id, sku, allocated)`)
		b.with("st", `SELECT id, policy, buffer FROM stores WHERE status = 'active' AND (`+b.arg(storeID)+`::bigint = 0 OR id = `+b.arg(storeID)+`::bigint)`)
		b.with("calc", `SELECT st.id AS store_id, k.sku, stockwire_target(st.policy, k.pool, st.buffer, COALESCE(al.allocated, 0)) AS target, t.target AS old,
				COALESCE(loc.local, 0) AS local
			FROM st CROSS JOIN k LEFT JOIN al ON al.store_id = st.id AND al.sku = k.sku
			LEFT JOIN loc ON loc.store_id = st.id AND loc.sku = k.sku
			LEFT JOIN store_targets t ON t.store_id = st.id AND t.sku = k.sku`)
		b.with("chg", `SELECT * FROM calc WHERE old IS NULL OR old <> target OR local <> 0`)
		b.with("upd_targets", `INSERT INTO store_targets (store_id, sku, target)
			SELECT store_id, sku, target FROM chg WHERE old IS NULL OR old <> target
			ON CONFLICT (store_id, sku) DO UPDATE SET target = EXCLUDED.target`)
		b.with("ev", `SELECT store_id, sku, target - COALESCE(old, 0) - local AS delta, target,
				row_number() OVER (PARTITION BY store_id ORDER BY sku) AS ord
			FROM chg WHERE `+b.arg(withEvents)+`::boolean`)
		// cnt takes lockSeq: the UPDATE locks a sequence row only once
		// cnt's rows are joined to it. One UPDATE both locks and bumps each
		// row: an ordered SELECT … FOR UPDATE first would cost a second WAL
		// record per store (BenchmarkCountFanout shows it).
		b.with("cnt", `SELECT store_id, count(*) AS n FROM ev, (SELECT pg_advisory_xact_lock(`+b.arg(lockSeq)+`)) AS l GROUP BY store_id`)
		b.with("seq", `UPDATE store_seq SET head = store_seq.head + cnt.n FROM cnt
			WHERE store_seq.store_id = cnt.store_id
			RETURNING store_seq.store_id, store_seq.head - cnt.n AS head`)
		// A small change's events come back, for this process's sessions
		// (recent.go); a big one's (an import) are not even kept.
		returnEvents := withEvents && s.recent != nil && len(known) <= maxReturnedSKUs && s.recent.enabled()
		returning := ""
		if returnEvents {
			returning = ` RETURNING store_id, seq, sku, delta, target`
		}
		b.with("ins_events", `INSERT INTO store_events (store_id, seq, sku, delta, target)
			SELECT ev.store_id, seq.head + ev.ord, ev.sku, ev.delta, ev.target FROM ev JOIN seq USING (store_id)`+returning)
		// The notification names each store with events and its newest
		// sequence ("7:1042"), a store woken for a reclaim alone without
		// one (recent.go).
		b.with("wake", `SELECT store_id, max(head) AS head FROM (
				SELECT seq.store_id, seq.head + cnt.n AS head FROM seq JOIN cnt USING (store_id)
				UNION ALL SELECT unnest(`+b.arg(pq.Array(reclaimed))+`::bigint[]), NULL) AS w GROUP BY store_id`)
		// A NOTIFY payload must stay under 8000 bytes: beyond ~700
		// stores the list is replaced by an empty one, "wake every store".
		notify := `(SELECT count(*) FROM (SELECT pg_notify(` + b.arg(NotifyChannel) + `, CASE WHEN length(ids) < 7900 THEN ids ELSE '' END)
			FROM (SELECT string_agg(store_id::text || COALESCE(':' || head::text, ''), ',' ORDER BY store_id) AS ids FROM wake HAVING count(*) > 0) AS w) AS n)`
		main = `SELECT now(), ` + notify + `, NULL::bigint, NULL::bigint, NULL::text, NULL::bigint, NULL::bigint`
		if returnEvents {
			// The events come back, but for a change to too many stores.
			main = `SELECT now(), ` + notify + `, e.store_id, e.seq, e.sku, e.delta, e.target
				FROM (SELECT 1) AS one LEFT JOIN ins_events e ON (SELECT count(*) FROM ins_events) <= ` + b.arg(maxReturned) + `
				ORDER BY e.store_id, e.seq`
		}
	}
	if s.tail != nil {
		s.tail(b)
		s.tail = nil
	}
	if len(b.ctes) == 0 {
		return nil
	}
	if err := s.run(b.sql(main), b.args); err != nil {
		return fmt.Errorf("write stock, targets and events: %w", err)
	}
	return nil
}

// run runs publish's statement: its first row has the transaction's time,
// and the rows carry the events it wrote when it returns them, which are
// staged for recent.
func (s *stockTx) run(query string, args []any) error {
	rows, err := s.tx.query(s.ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	var events []hub.Event
	for first := true; rows.Next(); first = false {
		var now time.Time
		var notified int64
		var store, seq, delta, target sql.NullInt64
		var sku sql.NullString
		if err := rows.Scan(&now, &notified, &store, &seq, &sku, &delta, &target); err != nil {
			return err
		}
		if first {
			s.now = now
		}
		if seq.Valid {
			events = append(events, hub.Event{StoreID: store.Int64, Seq: seq.Int64, SKU: sku.String, Delta: delta.Int64, Target: target.Int64})
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	if len(events) > 0 && s.recent != nil {
		s.recent.stage(s.tx.Tx, events)
	}
	return nil
}
