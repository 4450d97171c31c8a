package postgres

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/stockwire/stockwire/hub"
)

var _ hub.OrderService = (*OrderService)(nil)

// LineErrorUnknownSKU marks an order line whose SKU the hub does not know.
const LineErrorUnknownSKU = "unknown sku"

// OrderService implements hub.OrderService.
//
// Order reports are group-committed (orderbatch.go): reports that arrive
// while a commit is running are applied together in the next transaction.
//
// Order feed cursor: every transaction that writes an order takes the next
// position from the single order_feed counter row (UPDATE … RETURNING) just
// before it commits and stores it in orders.feed_pos. The row lock is held
// until commit, so positions become visible strictly in order: when a reader
// sees position N, every position below N is already committed. A cursor
// "feed_pos > N" therefore never skips an order that commits later with a
// lower position, which a bigserial id would. The cost is that order writers
// serialise on that row for the last moment of their transaction.
type OrderService struct {
	db      *DB
	reports group[*reportReq]
}

type orderRow struct {
	ID           int64      `db:"id"`
	StoreID      int64      `db:"store_id"`
	WooOrderID   int64      `db:"woo_order_id"`
	Number       string     `db:"number"`
	Status       string     `db:"status"`
	StockState   string     `db:"stock_state"`
	WooReduced   bool       `db:"woo_reduced"`
	DateModified *time.Time `db:"date_modified"`
	FeedPos      int64      `db:"feed_pos"`
	UpdatedAt    time.Time  `db:"updated_at"`
	// Read by lockOrders only.
	NoDocument bool `db:"no_document"`
	// Read by orderReadCols only.
	Document         []byte     `db:"document"`
	PersonalErasedAt *time.Time `db:"personal_erased_at"`
}

// orderCols are what committing a report needs; orderReadCols add what
// the API shows.
const (
	orderCols     = `id, store_id, woo_order_id, number, status, stock_state, woo_reduced, date_modified, feed_pos, updated_at`
	orderReadCols = orderCols + `, document, personal_erased_at`
)

func (o orderRow) order(lines []hub.OrderLine) hub.Order {
	out := hub.Order{
		ID: o.ID, StoreID: o.StoreID, WooOrderID: o.WooOrderID, Number: o.Number, Status: o.Status,
		StockState: o.StockState, Lines: lines, UpdatedAt: o.UpdatedAt,
	}
	if out.Lines == nil {
		out.Lines = []hub.OrderLine{}
	}
	if o.DateModified != nil {
		out.ModifiedAt = *o.DateModified
	}
	return out
}

// fullOrder is o with its document, which the hub wrote itself: one that
// does not decode is a broken invariant, reported as an internal error.
func (o orderRow) fullOrder(lines []hub.OrderLine) (hub.Order, error) {
	out := o.order(lines)
	out.PersonalDataErasedAt = o.PersonalErasedAt
	if len(o.Document) == 0 {
		return out, nil
	}
	out.Document = new(hub.OrderDocument)
	if err := json.Unmarshal(o.Document, out.Document); err != nil {
		return hub.Order{}, fmt.Errorf("decode order %d document: %w", o.ID, err)
	}
	return out, nil
}

func checkReport(r *hub.OrderReport) error {
	if r.WooOrderID <= 0 {
		return hub.FieldErrorf("woo_order_id", hub.EINVALID, "An order id is required.")
	}
	r.Status = strings.TrimPrefix(r.Status, "wc-")
	if r.Status == "" || len(r.Status) > 50 {
		return hub.FieldErrorf("status", hub.EINVALID, "A status is required.")
	}
	if r.DateModified.IsZero() {
		return hub.FieldErrorf("date_modified", hub.EINVALID, "date_modified is required.")
	}
	if len(r.Lines) > 1000 {
		return hub.FieldErrorf("lines", hub.EINVALID, "Too many lines.")
	}
	for i, l := range r.Lines {
		if l.Quantity < 0 {
			return hub.FieldErrorf("lines["+strconv.Itoa(i)+"].quantity", hub.EINVALID, "A quantity must not be negative.")
		}
		if l.Quantity > maxLineQuantity {
			return hub.FieldErrorf("lines["+strconv.Itoa(i)+"].quantity", hub.EINVALID, "A quantity must not exceed %d.", maxLineQuantity)
		}
		if len(l.SKU) > hub.MaxNameBytes {
			return hub.FieldErrorf("lines["+strconv.Itoa(i)+"].sku", hub.EINVALID, "A SKU must be at most %d bytes.", hub.MaxNameBytes)
		}
	}
	if len(r.Raw) > hub.MaxRawOrderBytes {
		return hub.FieldErrorf("raw", hub.EINVALID, "The order JSON must be at most %d bytes.", hub.MaxRawOrderBytes)
	}
	if len(r.Raw) > 0 && !json.Valid(r.Raw) {
		return hub.FieldErrorf("raw", hub.EINVALID, "raw must be JSON.")
	}
	// jsonb cannot hold U+0000, which a customer's note may carry: the
	// order must not be refused for it, so the copy kept gets U+FFFD.
	r.Raw = bytes.ReplaceAll(r.Raw, []byte(`\u0000`), []byte(`\ufffd`))
	return nil
}

// reportDocument is the order document of a checked report, as JSON; nil
// when the report carries no order JSON.
func reportDocument(r hub.OrderReport) ([]byte, error) {
	if len(r.Raw) == 0 {
		return nil, nil
	}
	d, err := hub.ParseOrderDocument(r.WooOrderID, r.Raw)
	if err != nil {
		return nil, err
	}
	b, err := json.Marshal(d)
	if err != nil {
		return nil, fmt.Errorf("encode order document: %w", err)
	}
	return b, nil
}

// maxLineQuantity bounds a line's quantity, far above any real order and
// far below where sums of quantities could overflow.
const maxLineQuantity = 1_000_000_000

// nextState is the hub stock state an order in state cur moves to when its
// WooCommerce status becomes status.
func nextState(cur, status string) string {
	switch status {
	case "processing", "on-hold":
		if cur == hub.OrderStateNone || cur == hub.OrderStateReleased {
			return hub.OrderStateCommitted
		}
	case "completed":
		return hub.OrderStateFulfilled
	case "cancelled", "failed", "refunded", "pending":
		if cur == hub.OrderStateCommitted {
			return hub.OrderStateReleased
		}
	}
	return cur
}

// applyTransition buffers the stock changes of moving an order with the
// given per-SKU quantities from state cur to next.
func applyTransition(st *stockTx, cur, next string, skus []string, qty map[string]int64, ref, actor string) error {
	if cur == next {
		return nil
	}
	for _, k := range skus {
		q := qty[k]
		switch {
		case next == hub.OrderStateCommitted:
			st.addCommitted(k, q, ledgerRow{reason: "order.committed", reference: ref, actor: actor})
		case next == hub.OrderStateReleased && cur == hub.OrderStateCommitted:
			st.addCommitted(k, -q, ledgerRow{reason: "order.released", reference: ref, actor: actor})
		case next == hub.OrderStateFulfilled:
			loc, before, err := st.fulfilLocation(k)
			if err != nil {
				return err
			}
			if err := st.writeOnHand(k, loc, before, before-q, ledgerRow{reason: "order.fulfilled", reference: ref, actor: actor}); err != nil {
				return err
			}
			if cur == hub.OrderStateCommitted {
				st.addCommitted(k, -q, ledgerRow{reason: "order.fulfilled", reference: ref, actor: actor})
			}
		}
	}
	return nil
}

func loadLines(ctx context.Context, q sqlx.QueryerContext, ids []int64) (map[int64][]hub.OrderLine, error) {
	var rows []struct {
		OrderID     int64  `db:"order_id"`
		SKU         string `db:"sku"`
		Quantity    int64  `db:"quantity"`
		ProductID   int64  `db:"product_id"`
		VariationID int64  `db:"variation_id"`
		Error       string `db:"error"`
	}
	if err := sqlx.SelectContext(ctx, q, &rows, `SELECT order_id, sku, quantity, product_id, variation_id, error
		FROM order_lines WHERE order_id = ANY($1) ORDER BY order_id, line_no`, pq.Array(ids)); err != nil {
		return nil, fmt.Errorf("load order lines: %w", err)
	}
	out := map[int64][]hub.OrderLine{}
	for _, r := range rows {
		out[r.OrderID] = append(out[r.OrderID], hub.OrderLine{SKU: r.SKU, Quantity: r.Quantity, ProductID: r.ProductID, VariationID: r.VariationID, Error: r.Error})
	}
	return out, nil
}

// Orders pages the order feed by feed position; see OrderService.
func (s *OrderService) Orders(ctx context.Context, p hub.Page) ([]hub.Order, string, error) {
	defer s.db.observe("orders", time.Now())
	var after int64
	if p.After != "" {
		v, err := strconv.ParseInt(p.After, 10, 64)
		if err != nil || v < 0 {
			return nil, "", hub.FieldErrorf("after", hub.EINVALID, "Bad cursor.")
		}
		after = v
	}
	var rows []orderRow
	if err := s.db.db.SelectContext(ctx, &rows, `SELECT `+orderReadCols+` FROM orders WHERE feed_pos > $1 ORDER BY feed_pos LIMIT $2`, after, pageLimit(p.Limit)); err != nil {
		return nil, "", fmt.Errorf("list orders: %w", err)
	}
	out := make([]hub.Order, len(rows))
	if len(rows) == 0 {
		return out, strconv.FormatInt(after, 10), nil
	}
	ids := make([]int64, len(rows))
	for i, r := range rows {
		ids[i] = r.ID
	}
	lines, err := loadLines(ctx, s.db.db, ids)
	if err != nil {
		return nil, "", fmt.Errorf("list orders: %w", err)
	}
	for i, r := range rows {
		if out[i], err = r.fullOrder(lines[r.ID]); err != nil {
			return nil, "", fmt.Errorf("list orders: %w", err)
		}
	}
	return out, strconv.FormatInt(rows[len(rows)-1].FeedPos, 10), nil
}

// Order returns one order with its document; see OrderService.
func (s *OrderService) Order(ctx context.Context, orderID int64) (hub.Order, error) {
	defer s.db.observe("order", time.Now())
	var r orderRow
	if err := s.db.db.GetContext(ctx, &r, `SELECT `+orderReadCols+` FROM orders WHERE id = $1`, orderID); err != nil {
		if isNoRows(err) {
			return hub.Order{}, hub.Errorf(hub.ENOTFOUND, "Order %d not found.", orderID)
		}
		return hub.Order{}, fmt.Errorf("get order %d: %w", orderID, err)
	}
	lines, err := loadLines(ctx, s.db.db, []int64{r.ID})
	if err != nil {
		return hub.Order{}, fmt.Errorf("get order %d: %w", orderID, err)
	}
	o, err := r.fullOrder(lines[r.ID])
	if err != nil {
		return hub.Order{}, fmt.Errorf("get order %d: %w", orderID, err)
	}
	return o, nil
}

// eraseBatch bounds the orders one retention statement erases, so that it
// holds its row locks briefly.
const eraseBatch = 1000

// ErasePersonalData erases, eraseBatch orders per transaction, the
// personal data of the orders created before before (by the store's
// date_created, else when the hub first heard of them); see OrderService.
// Rows that an order report holds are skipped, not waited for: the next
// run takes them.
func (s *OrderService) ErasePersonalData(ctx context.Context, before time.Time) (int64, error) {
	defer s.db.observe("erase_personal_data", time.Now())
	var total int64
	for {
		res, err := s.db.db.ExecContext(ctx, `WITH due AS (
				SELECT id FROM orders WHERE personal_erased_at IS NULL AND COALESCE(date_created, created_at) < $1
				ORDER BY COALESCE(date_created, created_at) LIMIT $2 FOR UPDATE SKIP LOCKED)
			UPDATE orders o SET document = stockwire_erase_personal(o.document), raw = NULL, personal_erased_at = now()
			FROM due WHERE o.id = due.id`, before, eraseBatch)
		if err != nil {
			return total, fmt.Errorf("erase personal data: %w", err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return total, fmt.Errorf("erase personal data: %w", err)
		}
		total += n
		if n < eraseBatch {
			break
		}
	}
	// The webhook events' snapshots of those orders go the same way.
	for {
		res, err := s.db.db.ExecContext(ctx, `WITH due AS (
				SELECT e.id FROM webhook_events e JOIN orders o ON e.order_key = 'order:' || o.id
				WHERE o.personal_erased_at IS NOT NULL AND e.data ->> 'PersonalDataErasedAt' IS NULL
				LIMIT $1 FOR UPDATE OF e SKIP LOCKED)
			UPDATE webhook_events e SET data = jsonb_set(
				CASE WHEN jsonb_typeof(e.data -> 'Document') = 'object'
					THEN jsonb_set(e.data, '{Document}', stockwire_erase_personal(e.data -> 'Document')) ELSE e.data END,
				'{PersonalDataErasedAt}', to_jsonb(now()))
			FROM due WHERE e.id = due.id`, eraseBatch)
		if err != nil {
			return total, fmt.Errorf("erase personal data of webhook events: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil || n < eraseBatch {
			return total, err
		}
	}
}

// Fulfil marks a committed order shipped: on_hand and committed drop.
func (s *OrderService) Fulfil(ctx context.Context, orderID int64, actor string) (hub.Order, error) {
	var out hub.Order
	err := s.db.tx(ctx, "fulfil", nil, func(tx *sqlx.Tx) error {
		st, err := newStockTx(ctx, s.db, tx) // the stores lock before the order's, as order reports take them
		if err != nil {
			return err
		}
		o, err := lockOrder(ctx, tx, orderID)
		if err != nil {
			return err
		}
		if o.StockState != hub.OrderStateCommitted {
			return hub.Errorf(hub.ECONFLICT, "Order %d is %s, not committed.", orderID, o.StockState)
		}
		m, err := loadLines(ctx, tx, []int64{o.ID})
		if err != nil {
			return err
		}
		if err := fulfil(st, &o, m[o.ID], actor); err != nil {
			return err
		}
		out, err = o.fullOrder(m[o.ID])
		return err
	})
	if err != nil {
		return hub.Order{}, fmt.Errorf("fulfil order %d: %w", orderID, translate(err))
	}
	return out, nil
}

// lockOrder reads the order and locks its row until the transaction ends.
func lockOrder(ctx context.Context, tx *sqlx.Tx, orderID int64) (orderRow, error) {
	var o orderRow
	if err := tx.GetContext(ctx, &o, `SELECT `+orderReadCols+` FROM orders WHERE id = $1 FOR UPDATE`, orderID); err != nil {
		if isNoRows(err) {
			return orderRow{}, hub.Errorf(hub.ENOTFOUND, "Order %d not found.", orderID)
		}
		return orderRow{}, fmt.Errorf("lock order: %w", err)
	}
	return o, nil
}

// fulfil moves the committed order o (locked) with its lines to
// fulfilled in st: on_hand and committed drop.
func fulfil(st *stockTx, o *orderRow, lines []hub.OrderLine, actor string) error {
	qty := map[string]int64{}
	var skus []string
	for _, l := range lines {
		if l.Error == "" && l.Quantity > 0 {
			if _, ok := qty[l.SKU]; !ok {
				skus = append(skus, l.SKU)
			}
			qty[l.SKU] += l.Quantity
		}
	}
	sort.Strings(skus)
	if err := st.lock(skus, false); err != nil {
		return err
	}
	ref := fmt.Sprintf("store:%d/order:%d", o.StoreID, o.WooOrderID)
	if err := applyTransition(st, o.StockState, hub.OrderStateFulfilled, skus, qty, ref, actor); err != nil {
		return err
	}
	o.StockState = hub.OrderStateFulfilled
	st.tail = func(b *stmt) {
		b.with("feed", `UPDATE order_feed SET pos = pos + 1 WHERE id = 1 RETURNING pos`)
		b.with("upd_order", `UPDATE orders SET stock_state = `+b.arg(o.StockState)+`, updated_at = now(),
			feed_pos = (SELECT pos FROM feed) WHERE id = `+b.arg(o.ID))
	}
	if err := st.finish(); err != nil {
		return err
	}
	o.UpdatedAt = st.now
	return nil
}
