package postgres

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/stockwire/stockwire/hub"
)

// target is what a store with the given policy and buffer should show for a
// SKU with the given available figure. It is not clamped at 0: a negative
// target means oversold (WooCommerce shows out of stock) and keeps relative
// deltas adding up exactly. Allocate is treated like mirror until escrow
// lands.
func target(policy hub.Policy, available, buffer int64) int64 {
	switch policy {
	case hub.PolicyAllocate, hub.PolicyMirror:
		return available - buffer
	default:
		return available - buffer
	}
}

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
	tx  *sqlx.Tx

	skus    map[string]*skuRow // locked rows with their current values
	changed map[string]bool    // SKUs whose row changed
	ledger  []ledgerRow

	// origin is the store whose own order caused the change (0: none);
	// local is what WooCommerce already did to that store's stock, per SKU,
	// so it is not echoed.
	origin int64
	local  map[string]int64

	// notified lists the stores that got events, for the caller.
	notified []int64
}

func newStockTx(ctx context.Context, tx *sqlx.Tx) (*stockTx, error) {
	// Shared: many stock transactions run at once; store creation and
	// updates take it exclusively so they see every committed change.
	if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock_shared($1)`, lockStores); err != nil {
		return nil, fmt.Errorf("lock stores shared: %w", err)
	}
	return &stockTx{ctx: ctx, tx: tx, skus: map[string]*skuRow{}, changed: map[string]bool{}, local: map[string]int64{}}, nil
}

// lock locks the SKU rows (creating missing ones when create is set) in
// sorted order, to avoid deadlocks between transactions.
func (s *stockTx) lock(skus []string, create bool) error {
	var want []string
	for _, k := range skus {
		if _, ok := s.skus[k]; !ok && !slices.Contains(want, k) {
			want = append(want, k)
		}
	}
	if len(want) == 0 {
		return nil
	}
	sort.Strings(want)
	if create {
		if _, err := s.tx.ExecContext(s.ctx, `INSERT INTO skus (sku) SELECT k FROM unnest($1::text[]) k ORDER BY k ON CONFLICT DO NOTHING`, pq.Array(want)); err != nil {
			return fmt.Errorf("create skus: %w", err)
		}
	}
	var rows []skuRow
	if err := s.tx.SelectContext(s.ctx, &rows, `SELECT sku, on_hand, committed, safety_stock FROM skus WHERE sku = ANY($1) ORDER BY sku FOR UPDATE`, pq.Array(want)); err != nil {
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

// setOnHand sets on_hand of sku at location (absolute).
func (s *stockTx) setOnHand(sku, location string, n int64, l ledgerRow) error {
	before, err := s.onHandAt(sku, location)
	if err != nil {
		return err
	}
	return s.writeOnHand(sku, location, before, n, l)
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

// finish writes the buffered changes, the ledger (returning the ledger ids
// in order) and the events.
func (s *stockTx) finish() ([]int64, error) {
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
		if _, err := s.tx.ExecContext(s.ctx, `UPDATE skus SET on_hand = v.on_hand, committed = v.committed, safety_stock = v.safety
			FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::bigint[]) AS v(sku, on_hand, committed, safety)
			WHERE skus.sku = v.sku`, pq.Array(changed), pq.Array(onHand), pq.Array(committed), pq.Array(safety)); err != nil {
			return nil, fmt.Errorf("update skus: %w", err)
		}
	}
	var ids []int64
	if len(s.ledger) > 0 {
		n := len(s.ledger)
		cols := make([][]string, 8)
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
		if err := s.tx.SelectContext(s.ctx, &ids, `INSERT INTO ledger (sku, location, quantity, reason, reference, idempotency_key, actor, before, after)
			SELECT sku, location, quantity, reason, reference, NULLIF(key, ''), actor, before, after
			FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::bigint[], $9::bigint[])
				WITH ORDINALITY AS v(sku, location, quantity, reason, reference, key, actor, before, after, ord)
			ORDER BY ord
			RETURNING id`,
			pq.Array(cols[0]), pq.Array(cols[1]), pq.Array(cols[2]), pq.Array(cols[3]), pq.Array(cols[4]),
			pq.Array(cols[5]), pq.Array(cols[6]), pq.Array(before), pq.Array(after)); err != nil {
			return nil, fmt.Errorf("write ledger: %w", err)
		}
		sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	}
	// The origin's local effect matters even when available did not move
	// (e.g. completed straight from pending).
	for k, v := range s.local {
		if v != 0 && !s.changed[k] {
			changed = append(changed, k)
		}
	}
	sort.Strings(changed)
	if err := s.publish(changed, 0, true); err != nil {
		return nil, err
	}
	return ids, nil
}

type activeStore struct {
	ID     int64      `db:"id"`
	Policy hub.Policy `db:"policy"`
	Buffer int64      `db:"buffer"`
}

// publish recomputes the targets of skus (all locked or read under the
// stores lock) for the active stores (only storeID when non-zero) and,
// when withEvents, writes an event wherever a target changed or the origin
// store's local effect must be compensated.
func (s *stockTx) publish(skus []string, storeID int64, withEvents bool) error {
	if len(skus) == 0 {
		return nil
	}
	var stores []activeStore
	if err := s.tx.SelectContext(s.ctx, &stores, `SELECT id, policy, buffer FROM stores WHERE status = 'active' AND ($1 = 0 OR id = $1) ORDER BY id`, storeID); err != nil {
		return fmt.Errorf("load active stores: %w", err)
	}
	if len(stores) == 0 {
		return nil
	}
	type key struct {
		store int64
		sku   string
	}
	var old []struct {
		StoreID int64  `db:"store_id"`
		SKU     string `db:"sku"`
		Target  int64  `db:"target"`
	}
	if err := s.tx.SelectContext(s.ctx, &old, `SELECT store_id, sku, target FROM store_targets WHERE sku = ANY($1) AND ($2 = 0 OR store_id = $2)`, pq.Array(skus), storeID); err != nil {
		return fmt.Errorf("load targets: %w", err)
	}
	cur := make(map[key]int64, len(old))
	for _, o := range old {
		cur[key{o.StoreID, o.SKU}] = o.Target
	}

	var tStore []int64
	var tSKU []string
	var tVal []int64
	var eStore []int64
	var eSKU []string
	var eDelta, eTarget []int64
	perStore := map[int64]int64{}
	for _, k := range skus {
		r := s.skus[k]
		if r == nil {
			continue // not a known SKU (parked order line)
		}
		avail := r.available()
		for _, st := range stores {
			nt := target(st.Policy, avail, st.Buffer)
			ot, had := cur[key{st.ID, k}]
			var local int64
			if st.ID == s.origin {
				local = s.local[k]
			}
			if had && nt == ot && local == 0 {
				continue
			}
			if !had || nt != ot {
				tStore, tSKU, tVal = append(tStore, st.ID), append(tSKU, k), append(tVal, nt)
			}
			if withEvents {
				eStore, eSKU = append(eStore, st.ID), append(eSKU, k)
				eDelta, eTarget = append(eDelta, nt-ot-local), append(eTarget, nt)
				perStore[st.ID]++
			}
		}
	}
	if len(tStore) > 0 {
		if _, err := s.tx.ExecContext(s.ctx, `INSERT INTO store_targets (store_id, sku, target)
			SELECT * FROM unnest($1::bigint[], $2::text[], $3::bigint[])
			ON CONFLICT (store_id, sku) DO UPDATE SET target = EXCLUDED.target`,
			pq.Array(tStore), pq.Array(tSKU), pq.Array(tVal)); err != nil {
			return fmt.Errorf("write targets: %w", err)
		}
	}
	if len(eStore) == 0 {
		return nil
	}
	// Sequence numbers: lock the stores' counters in id order (no
	// deadlocks), number the events, bump the heads. Done last so the
	// counter rows, which every transaction touches, are held briefly.
	ids := make([]int64, 0, len(perStore))
	for id := range perStore {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	var heads []struct {
		StoreID int64 `db:"store_id"`
		Head    int64 `db:"head"`
	}
	if err := s.tx.SelectContext(s.ctx, &heads, `SELECT store_id, head FROM store_seq WHERE store_id = ANY($1) ORDER BY store_id FOR UPDATE`, pq.Array(ids)); err != nil {
		return fmt.Errorf("lock store sequences: %w", err)
	}
	next := map[int64]int64{}
	newHead := make([]int64, len(heads))
	headIDs := make([]int64, len(heads))
	for i, h := range heads {
		next[h.StoreID] = h.Head
		headIDs[i] = h.StoreID
		newHead[i] = h.Head + perStore[h.StoreID]
	}
	eSeq := make([]int64, len(eStore))
	for i, id := range eStore {
		next[id]++
		eSeq[i] = next[id]
	}
	strIDs := make([]string, len(ids))
	for i, id := range ids {
		strIDs[i] = strconv.FormatInt(id, 10)
	}
	if _, err := s.tx.ExecContext(s.ctx, `
		WITH heads AS (
			UPDATE store_seq SET head = v.head
			FROM unnest($1::bigint[], $2::bigint[]) AS v(store_id, head)
			WHERE store_seq.store_id = v.store_id
		), ev AS (
			INSERT INTO store_events (store_id, seq, sku, delta, target)
			SELECT * FROM unnest($3::bigint[], $4::bigint[], $5::text[], $6::bigint[], $7::bigint[])
		)
		SELECT pg_notify($8, $9)`,
		pq.Array(headIDs), pq.Array(newHead),
		pq.Array(eStore), pq.Array(eSeq), pq.Array(eSKU), pq.Array(eDelta), pq.Array(eTarget),
		NotifyChannel, strings.Join(strIDs, ",")); err != nil {
		return fmt.Errorf("write events: %w", err)
	}
	s.notified = ids
	return nil
}
