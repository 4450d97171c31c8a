package postgres

import (
	"context"
	"database/sql"
	"fmt"
	"sort"
	"strconv"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/stockwire/stockwire/hub"
	"github.com/stockwire/stockwire/shared/woo"
)

// Group commit. Every store's agent reports its orders one at a time, so
// under load many reports wait for the same few SKU rows, and each paid for
// its own transaction: round trips under the SKU lock, the big publish
// statement and an fsync. Reports now queue (a group, group.go), and one
// committer goroutine takes what is queued (up to maxBatch, one report per
// order) and applies it in one transaction, so a busy SKU is locked,
// recomputed and published once per batch. A report arriving alone is
// committed at once; right after a burst a batch may linger up to
// reportLinger for the callers of the previous one.
//
// One committer, not several: every order transaction bumps the order_feed
// row and the stores' sequence rows, so concurrent batches only queue on
// each other, and more committers are slower than one
// (BenchmarkOrderCommit).
const (
	maxBatch = 100
	// commitTimeout bounds one batch's transaction; the callers' contexts
	// do not, since their reports share it.
	commitTimeout = time.Minute
	// reportLinger is how long a batch waits for the callers of the
	// previous one to come back (see group.linger): a small share of a
	// commit, which costs milliseconds.
	reportLinger = 500 * time.Microsecond
	// genericPlanBatch: a batch of at most this many reports runs its
	// prepared statements (prepared.go) on their generic plans. With 100
	// stores PostgreSQL never chooses the generic plan of the publish
	// statement on its own and plans it anew for every order (1.4–5 ms of
	// a lone report's 9–17 ms); the generic plan runs as fast. Larger
	// batches, where throughput counts and planning is shared, keep
	// PostgreSQL's choice: a generic plan made for unknown array sizes
	// was slower there (BenchmarkOrderCommit spread, 32 reporters).
	genericPlanBatch = 4
)

// reportReq is one order report waiting for its commit.
type reportReq struct {
	storeID int64
	r       hub.OrderReport
	doc     []byte                // the order document's JSON; nil without r.Raw
	done    chan reply[hub.Order] // buffered: the committer never blocks
}

func (q *reportReq) key() orderKey { return orderKey{q.storeID, q.r.WooOrderID} }

type orderKey struct{ store, woo int64 }

// NewOrderService returns the order service on db.
func NewOrderService(db *DB) *OrderService {
	s := &OrderService{db: db}
	s.reports = group[*reportReq]{life: db.life, take: onePerKey(maxBatch, (*reportReq).key), run: s.commit, linger: reportLinger,
		fail: func(q *reportReq, err error) { q.done <- reply[hub.Order]{err: err} }}
	return s
}

// ApplyOrderReport records a report idempotently (see hub.OrderService).
// If ctx ends while the report is queued or committing, it returns ctx's
// error; the report may still be committed (reports are safe to resend).
func (s *OrderService) ApplyOrderReport(ctx context.Context, storeID int64, r hub.OrderReport) (hub.Order, error) {
	if err := checkReport(&r); err != nil {
		return hub.Order{}, fmt.Errorf("apply order report store %d order %d: %w", storeID, r.WooOrderID, err)
	}
	doc, err := reportDocument(r)
	if err != nil {
		return hub.Order{}, fmt.Errorf("apply order report store %d order %d: %w", storeID, r.WooOrderID, err)
	}
	q := &reportReq{storeID: storeID, r: r, doc: doc, done: make(chan reply[hub.Order], 1)}
	s.reports.submit(q)
	o, err := await(ctx, q.done)
	if err != nil {
		return hub.Order{}, fmt.Errorf("apply order report store %d order %d: %w", storeID, r.WooOrderID, translate(err))
	}
	return o, nil
}

// commit applies batch in one transaction. If that fails, one report may
// have spoiled it: each is then applied alone and gets its own answer.
// Each transaction has its own commitTimeout; ctx ends them all.
func (s *OrderService) commit(ctx context.Context, batch []*reportReq) {
	tctx, cancel := context.WithTimeout(ctx, commitTimeout)
	defer cancel()
	res, err := s.applyBatch(tctx, batch)
	switch {
	case err == nil:
		for i, q := range batch {
			q.done <- res[i]
		}
	case len(batch) == 1:
		batch[0].done <- reply[hub.Order]{err: err}
	default:
		for _, q := range batch {
			s.commit(ctx, []*reportReq{q})
		}
	}
}

// orderPlan is what applying one report does to its order.
type orderPlan struct {
	o    orderRow
	skip bool // stale or duplicate: history only
	// fillDoc is set on a duplicate that brings the order JSON the stored
	// order lacks (a report without it won the race): only the document
	// is written.
	fillDoc bool
	replace bool // the report's lines replace the stored ones
	lines   []hub.OrderLine
	event   string // the webhook event type if applied (webhooks.go)
}

// applyBatch applies the reports (distinct orders) in one transaction. A
// report for a missing or revoked store gets its error in its result and
// does not fail the others.
func (s *OrderService) applyBatch(ctx context.Context, batch []*reportReq) ([]reply[hub.Order], error) {
	res := make([]reply[hub.Order], len(batch))
	err := s.db.tx(ctx, "apply_order_report", nil, func(tx *sqlx.Tx) error {
		clear(res)
		// The shared stores lock (see newStockTx) is taken by lockOrders'
		// first statement; the stores are read by later statements only.
		st := newStockTxLocked(ctx, s.db, tx)
		st.tx.cache = &s.db.prepared
		plans, err := lockOrders(ctx, st.tx, batch, len(batch) <= genericPlanBatch)
		if err != nil {
			return err
		}
		if err := planLines(st, batch, plans); err != nil {
			return err
		}
		var applied []int
		for i, q := range batch {
			p := plans[i]
			switch {
			case p == nil:
				res[i].err = storeRefusal(ctx, tx, q.storeID)
			case p.skip:
				res[i].val = p.o.order(p.lines)
			default:
				if err := applyReport(st, q, p); err != nil {
					return err
				}
				applied = append(applied, i)
			}
		}
		st.tail = func(b *stmt) {
			writeOrders(b, batch, plans, applied)
			writeOrderWebhooks(b, batch, plans, applied)
		}
		if err := st.finish(); err != nil {
			return err
		}
		for _, i := range applied {
			plans[i].o.UpdatedAt = st.now
			res[i].val = plans[i].o.order(plans[i].lines)
		}
		return nil
	})
	return res, err
}

// orderOfKey joins each (store_id, woo) key of v to its order row o, as
// lockOrders reads it.
const orderOfKey = `CROSS JOIN LATERAL (SELECT ` + orderCols + `, document IS NULL AS no_document
	FROM orders WHERE store_id = v.store_id AND woo_order_id = v.woo) AS o`

// lockOrders creates the batch's new orders and locks every order row.
// plans[i] is nil when report i's store is missing or revoked and its
// order is not known. With genericPlans, the statements after its first
// run on their generic plans (see genericPlanBatch): the setting rides on
// the first statement rather than costing a round trip.
//
// One statement both creates the new orders and locks the known ones (in
// id order), which saves a round trip on every report. Its snapshot
// predates its inserts, so it cannot see an order another transaction
// created while the insert waited for it: such orders (and those of a
// missing or revoked store) are looked up again by a second statement.
func lockOrders(ctx context.Context, tx preparedTx, batch []*reportReq, genericPlans bool) ([]*orderPlan, error) {
	stores, woo := make([]int64, len(batch)), make([]int64, len(batch))
	for i, q := range batch {
		stores[i], woo[i] = q.storeID, q.r.WooOrderID
	}
	var rows []orderRow
	if err := tx.selectInto(ctx, &rows, `WITH l AS (SELECT pg_advisory_xact_lock_shared($3),
			CASE WHEN $4 THEN set_config('plan_cache_mode', 'force_generic_plan', true) END),
		v AS (SELECT * FROM unnest($1::bigint[], $2::bigint[]) AS v(store_id, woo)),
		ins AS (INSERT INTO orders (store_id, woo_order_id)
			SELECT s.id, v.woo FROM l, v JOIN stores s ON s.id = v.store_id AND s.status = 'active'
			ORDER BY 1, 2
			ON CONFLICT DO NOTHING
			RETURNING `+orderCols+`, true AS no_document),
		known AS (SELECT o.* FROM l, v
			`+orderOfKey+`
			ORDER BY o.id FOR UPDATE OF o)
		SELECT * FROM ins UNION ALL SELECT * FROM known`, pq.Array(stores), pq.Array(woo), lockStores, genericPlans); err != nil {
		return nil, fmt.Errorf("create and lock orders: %w", err)
	}
	byKey := make(map[orderKey]orderRow, len(rows))
	for _, o := range rows {
		byKey[orderKey{o.StoreID, o.WooOrderID}] = o
	}
	var missStores, missWoo []int64
	for i, q := range batch {
		if _, ok := byKey[q.key()]; !ok {
			missStores, missWoo = append(missStores, stores[i]), append(missWoo, woo[i])
		}
	}
	if len(missStores) > 0 {
		rows = rows[:0]
		if err := tx.selectInto(ctx, &rows, `SELECT o.* FROM unnest($1::bigint[], $2::bigint[]) AS v(store_id, woo)
			`+orderOfKey+`
			ORDER BY o.id FOR UPDATE OF o`, pq.Array(missStores), pq.Array(missWoo)); err != nil {
			return nil, fmt.Errorf("lock orders: %w", err)
		}
		for _, o := range rows {
			byKey[orderKey{o.StoreID, o.WooOrderID}] = o
		}
	}
	plans := make([]*orderPlan, len(batch))
	for i, q := range batch {
		o, ok := byKey[q.key()]
		if !ok {
			continue
		}
		isNew := o.DateModified == nil
		p := &orderPlan{o: o, event: orderEvent(isNew, o.Status, q.r.Status)}
		p.skip = !isNew && (q.r.DateModified.Before(*o.DateModified) ||
			q.r.DateModified.Equal(*o.DateModified) && q.r.Status == o.Status)
		p.fillDoc = p.skip && o.NoDocument && q.doc != nil && q.r.DateModified.Equal(*o.DateModified)
		// Lines: take the report's while the order has no stock effect
		// anywhere (hub or store); afterwards keep the stored ones, so
		// that what is released is exactly what was committed.
		p.replace = !p.skip && (isNew || (o.StockState == hub.OrderStateNone || o.StockState == hub.OrderStateReleased) && !o.WooReduced && len(q.r.Lines) > 0)
		plans[i] = p
	}
	return plans, nil
}

// storeRefusal says why a report's order could not be created.
func storeRefusal(ctx context.Context, tx *sqlx.Tx, storeID int64) error {
	var status string
	if err := tx.GetContext(ctx, &status, `SELECT status FROM stores WHERE id = $1`, storeID); isNoRows(err) {
		return hub.Errorf(hub.ENOTFOUND, "Store %d not found.", storeID)
	} else if err != nil {
		return fmt.Errorf("read store: %w", err)
	}
	return hub.Errorf(hub.EUNAUTHORIZED, "Store %d is revoked.", storeID)
}

// planLines gives every plan its lines (the report's, or the stored ones)
// and locks, in one sorted pass, every SKU the batch may change.
func planLines(st *stockTx, batch []*reportReq, plans []*orderPlan) error {
	var stored []int64
	for _, p := range plans {
		if p != nil && !p.replace {
			stored = append(stored, p.o.ID)
		}
	}
	var lines map[int64][]hub.OrderLine
	if len(stored) > 0 {
		var err error
		if lines, err = loadLines(st.ctx, st.tx, stored); err != nil {
			return err
		}
	}
	var skus []string
	for i, p := range plans {
		switch {
		case p == nil:
		case p.replace:
			for _, l := range batch[i].r.Lines {
				if l.SKU != "" {
					skus = append(skus, l.SKU)
				}
			}
		default:
			p.lines = lines[p.o.ID]
			if !p.skip {
				for _, l := range p.lines {
					if l.Error == "" && l.Quantity > 0 {
						skus = append(skus, l.SKU)
					}
				}
			}
		}
	}
	if err := st.lock(skus, false); err != nil {
		return err
	}
	for i, p := range plans {
		if p == nil || !p.replace {
			continue
		}
		p.lines = make([]hub.OrderLine, len(batch[i].r.Lines))
		for j, l := range batch[i].r.Lines {
			l.Error = ""
			if st.skus[l.SKU] == nil {
				l.Error = LineErrorUnknownSKU
			}
			p.lines[j] = l
		}
	}
	return nil
}

// applyReport buffers the stock effect of one report on its order.
func applyReport(st *stockTx, q *reportReq, p *orderPlan) error {
	qty := map[string]int64{} // per known SKU, lines summed
	var skus []string
	for _, l := range p.lines {
		if l.Error == "" && l.Quantity > 0 {
			if _, ok := qty[l.SKU]; !ok {
				skus = append(skus, l.SKU)
			}
			qty[l.SKU] += l.Quantity
		}
	}
	sort.Strings(skus)
	o, r := &p.o, q.r
	newState := nextState(o.StockState, r.Status)
	sign, reduced := woo.StockEffect(o.WooReduced, r.Status, r.StockReduced)
	if (newState != o.StockState || sign != 0) && len(skus) > 0 {
		ref := fmt.Sprintf("store:%d/order:%d", q.storeID, r.WooOrderID)
		if err := applyTransition(st, o.StockState, newState, skus, qty, ref, "store:"+strconv.FormatInt(q.storeID, 10)); err != nil {
			return err
		}
		for _, k := range skus {
			st.local[localKey{q.storeID, k}] += sign * qty[k]
		}
	}
	o.Status, o.StockState, o.WooReduced, o.Number = r.Status, newState, reduced, r.Number
	o.DateModified = &r.DateModified
	return nil
}

// writeOrders adds to b the batch's writes to its orders: the applied
// ones' rows, feed positions (in batch order) and lines, and every
// report's history row.
func writeOrders(b *stmt, batch []*reportReq, plans []*orderPlan, applied []int) {
	var hIDs []int64
	var hStatus, hMod []string
	var hApplied []bool
	for i, p := range plans {
		if p != nil {
			hIDs, hStatus = append(hIDs, p.o.ID), append(hStatus, batch[i].r.Status)
			hMod, hApplied = append(hMod, batch[i].r.DateModified.Format(time.RFC3339Nano)), append(hApplied, !p.skip)
		}
	}
	writeDocuments(b, batch, plans)
	if len(hIDs) > 0 {
		b.with("hist", `INSERT INTO order_status_history (order_id, status, date_modified, applied)
			SELECT id, status, modified, applied FROM unnest(`+b.arg(pq.Array(hIDs))+`::bigint[], `+b.arg(pq.Array(hStatus))+`::text[],
				`+b.arg(pq.Array(hMod))+`::timestamptz[], `+b.arg(pq.Array(hApplied))+`::boolean[]) WITH ORDINALITY AS v(id, status, modified, applied, ord)
			ORDER BY ord`)
	}
	if len(applied) == 0 {
		return
	}
	n := len(applied)
	ids, number, status, state := make([]int64, n), make([]string, n), make([]string, n), make([]string, n)
	reduced, mod, raw, doc := make([]bool, n), make([]string, n), make([]sql.NullString, n), make([]sql.NullString, n)
	var lOrder, lQty, lPID, lVID []int64
	var lNo []int64
	var lSKU, lErr []string
	var replaced []int64
	var counts []int64
	for j, i := range applied {
		o, r := plans[i].o, batch[i].r
		ids[j], number[j], status[j], state[j] = o.ID, o.Number, o.Status, o.StockState
		reduced[j], mod[j] = o.WooReduced, r.DateModified.Format(time.RFC3339Nano)
		raw[j] = sql.NullString{String: string(r.Raw), Valid: len(r.Raw) > 0}
		doc[j] = sql.NullString{String: string(batch[i].doc), Valid: len(batch[i].doc) > 0}
		if plans[i].replace {
			replaced, counts = append(replaced, o.ID), append(counts, int64(len(plans[i].lines)))
			for k, l := range plans[i].lines {
				lOrder, lNo, lSKU, lQty = append(lOrder, o.ID), append(lNo, int64(k+1)), append(lSKU, l.SKU), append(lQty, l.Quantity)
				lPID, lVID, lErr = append(lPID, l.ProductID), append(lVID, l.VariationID), append(lErr, l.Error)
			}
		}
	}
	b.with("feed", `UPDATE order_feed SET pos = pos + `+b.arg(n)+` WHERE id = 1 RETURNING pos`)
	b.with("upd_orders", `UPDATE orders SET number = v.number, status = v.status, stock_state = v.state, woo_reduced = v.reduced,
			date_modified = v.modified, updated_at = now(), `+setDocument+`,
			feed_pos = (SELECT pos FROM feed) - `+b.arg(n)+` + v.ord
		FROM unnest(`+b.arg(pq.Array(ids))+`::bigint[], `+b.arg(pq.Array(number))+`::text[], `+b.arg(pq.Array(status))+`::text[],
			`+b.arg(pq.Array(state))+`::text[], `+b.arg(pq.Array(reduced))+`::boolean[], `+b.arg(pq.Array(mod))+`::timestamptz[],
			`+b.arg(pq.Array(raw))+`::jsonb[], `+b.arg(pq.Array(doc))+`::jsonb[])
			WITH ORDINALITY AS v(id, number, status, state, reduced, modified, raw, doc, ord)
		WHERE orders.id = v.id`)
	if len(replaced) == 0 {
		return
	}
	b.with("del_lines", `DELETE FROM order_lines USING unnest(`+b.arg(pq.Array(replaced))+`::bigint[], `+b.arg(pq.Array(counts))+`::integer[]) AS v(id, n)
		WHERE order_lines.order_id = v.id AND order_lines.line_no > v.n`)
	if len(lOrder) == 0 {
		return
	}
	b.with("ins_lines", `INSERT INTO order_lines (order_id, line_no, sku, quantity, product_id, variation_id, error)
		SELECT * FROM unnest(`+b.arg(pq.Array(lOrder))+`::bigint[], `+b.arg(pq.Array(lNo))+`::integer[], `+b.arg(pq.Array(lSKU))+`::text[],
			`+b.arg(pq.Array(lQty))+`::bigint[], `+b.arg(pq.Array(lPID))+`::bigint[], `+b.arg(pq.Array(lVID))+`::bigint[], `+b.arg(pq.Array(lErr))+`::text[])
		ON CONFLICT (order_id, line_no) DO UPDATE SET sku = EXCLUDED.sku, quantity = EXCLUDED.quantity,
			product_id = EXCLUDED.product_id, variation_id = EXCLUDED.variation_id, error = EXCLUDED.error`)
}

// setDocument sets an order's raw JSON, document and the columns copied
// from it, from v.raw and v.doc (jsonb, each parsed once, as the array
// parameter is read). A report without the order JSON keeps the stored
// document. Once the retention job erased an order's personal data,
// reports keep it erased (migration 009).
const setDocument = `raw = CASE WHEN orders.personal_erased_at IS NULL THEN COALESCE(v.raw, orders.raw) END,
	document = CASE WHEN v.doc IS NULL THEN orders.document
		WHEN orders.personal_erased_at IS NULL THEN v.doc
		ELSE stockwire_erase_personal(v.doc) END,
	date_created = COALESCE((v.doc ->> 'date_created')::timestamptz, orders.date_created),
	currency = COALESCE(v.doc ->> 'currency', orders.currency),
	total = COALESCE(NULLIF(v.doc -> 'totals' ->> 'total', '')::numeric, orders.total),
	customer_id = COALESCE((v.doc -> 'customer' ->> 'id')::bigint, orders.customer_id)`

// writeDocuments adds to b the documents of the duplicates that bring
// one their order lacks.
func writeDocuments(b *stmt, batch []*reportReq, plans []*orderPlan) {
	var ids []int64
	var raw, doc []string
	for i, p := range plans {
		if p != nil && p.fillDoc {
			ids, raw, doc = append(ids, p.o.ID), append(raw, string(batch[i].r.Raw)), append(doc, string(batch[i].doc))
		}
	}
	if len(ids) == 0 {
		return
	}
	b.with("fill_docs", `UPDATE orders SET `+setDocument+`
		FROM unnest(`+b.arg(pq.Array(ids))+`::bigint[], `+b.arg(pq.Array(raw))+`::jsonb[], `+b.arg(pq.Array(doc))+`::jsonb[]) AS v(id, raw, doc)
		WHERE orders.id = v.id`)
}
