package postgres

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/stockwire/stockwire/hub"
)

var (
	_ hub.ConsoleSessionService = (*ConsoleService)(nil)
	_ hub.ConsoleQueries        = (*ConsoleService)(nil)
)

// ConsoleService keeps the operator console's sessions and answers its
// queries.
type ConsoleService struct {
	db *DB
}

// NewConsoleService returns the console's service on db.
func NewConsoleService(db *DB) *ConsoleService { return &ConsoleService{db: db} }

// StartConsoleSession records the session under the hash of its id, with
// the admin token's hash of the moment.
func (s *ConsoleService) StartConsoleSession(ctx context.Context, id string, now time.Time) error {
	defer s.db.observe("start_console_session", time.Now())
	res, err := s.db.db.ExecContext(ctx, `INSERT INTO console_sessions (id_hash, admin_hash, created_at, last_seen_at)
		SELECT $1, token_hash, $2, $2 FROM admin_token WHERE id = 1`, hashToken(id), now)
	if err != nil {
		return fmt.Errorf("start console session: %w", translate(err))
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return hub.Errorf(hub.EUNAUTHORIZED, "No admin token is set.")
	}
	return nil
}

// TouchConsoleSession marks a live session seen at now. A session begun
// under another admin token is not live.
func (s *ConsoleService) TouchConsoleSession(ctx context.Context, id string, now, startedAfter, seenAfter time.Time) error {
	defer s.db.observe("touch_console_session", time.Now())
	res, err := s.db.db.ExecContext(ctx, `UPDATE console_sessions SET last_seen_at = greatest(last_seen_at, $2)
		WHERE id_hash = $1 AND created_at > $3 AND last_seen_at > $4
			AND admin_hash = (SELECT token_hash FROM admin_token WHERE id = 1)`, hashToken(id), now, startedAfter, seenAfter)
	if err != nil {
		return fmt.Errorf("touch console session: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return hub.Errorf(hub.EUNAUTHORIZED, "Your session has ended; log in again.")
	}
	return nil
}

// EndConsoleSession deletes the session and those idle since seenBefore.
func (s *ConsoleService) EndConsoleSession(ctx context.Context, id string, seenBefore time.Time) error {
	defer s.db.observe("end_console_session", time.Now())
	if _, err := s.db.db.ExecContext(ctx, `DELETE FROM console_sessions WHERE id_hash = $1 OR last_seen_at < $2`,
		hashToken(id), seenBefore); err != nil {
		return fmt.Errorf("end console session: %w", err)
	}
	return nil
}

// SalesSince counts the orders created since t and their units.
func (s *ConsoleService) SalesSince(ctx context.Context, t time.Time) (orders, units int64, err error) {
	defer s.db.observe("console_sales_since", time.Now())
	err = s.db.db.QueryRowxContext(ctx, `SELECT
		(SELECT count(*) FROM orders WHERE created_at >= $1),
		(SELECT COALESCE(sum(l.quantity), 0) FROM order_lines l JOIN orders o ON o.id = l.order_id
			WHERE o.created_at >= $1 AND l.error = '')`, t).Scan(&orders, &units)
	if err != nil {
		return 0, 0, fmt.Errorf("count sales since %s: %w", t.Format(time.RFC3339), err)
	}
	return orders, units, nil
}

// StoreActivity gathers each store's oldest unapplied change, last sale
// (its newest WooCommerce order: ids grow), last refused command and
// accepted hand edits.
func (s *ConsoleService) StoreActivity(ctx context.Context) (map[int64]hub.StoreActivity, error) {
	defer s.db.observe("console_store_activity", time.Now())
	type row struct {
		ID       int64      `db:"id"`
		Oldest   *time.Time `db:"oldest"`
		LastSale *time.Time `db:"last_sale"`
		LastErr  string     `db:"last_error"`
		Edits    int64      `db:"edits"`
	}
	var rows []row
	err := s.db.db.SelectContext(ctx, &rows, `SELECT st.id,
		(SELECT min(e.created_at) FROM store_events e WHERE e.store_id = st.id AND e.seq > st.applied_seq) AS oldest,
		(SELECT o.created_at FROM orders o WHERE o.store_id = st.id ORDER BY o.woo_order_id DESC LIMIT 1) AS last_sale,
		COALESCE((SELECT c.kind || ': ' || c.error FROM order_commands c WHERE c.store_id = st.id AND c.state = 'failed'
			ORDER BY c.id DESC LIMIT 1), '') AS last_error,
		(SELECT count(*) FROM ledger l WHERE l.reason = 'store_edit' AND l.idempotency_key LIKE 'store_edit:' || st.id || ':%') AS edits
		FROM stores st`)
	if err != nil {
		return nil, fmt.Errorf("list store activity: %w", err)
	}
	out := make(map[int64]hub.StoreActivity, len(rows))
	for _, r := range rows {
		out[r.ID] = hub.StoreActivity{OldestUnapplied: r.Oldest, LastSale: r.LastSale, LastError: r.LastErr, DriftCorrections: r.Edits}
	}
	return out, nil
}

// SearchSKUs finds SKUs containing q.
func (s *ConsoleService) SearchSKUs(ctx context.Context, q string, limit int) ([]string, error) {
	defer s.db.observe("console_search_skus", time.Now())
	pattern := "%" + strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(q) + "%"
	out := []string{}
	if err := s.db.db.SelectContext(ctx, &out, `SELECT sku FROM skus WHERE sku ILIKE $1 ORDER BY sku LIMIT $2`,
		pattern, pageLimit(limit)); err != nil {
		return nil, fmt.Errorf("search skus: %w", err)
	}
	return out, nil
}

// LedgerSince returns the SKU's entries made after t.
func (s *ConsoleService) LedgerSince(ctx context.Context, sku string, t time.Time) ([]hub.LedgerEntry, error) {
	defer s.db.observe("console_ledger_since", time.Now())
	out := []hub.LedgerEntry{}
	if err := s.db.db.SelectContext(ctx, &out, `SELECT `+ledgerCols+` FROM ledger WHERE sku = $1 AND created_at > $2 ORDER BY id`,
		sku, t); err != nil {
		return nil, fmt.Errorf("ledger of %s since %s: %w", sku, t.Format(time.RFC3339), err)
	}
	return out, nil
}

// RecentOrderIDs returns the newest orders' ids.
func (s *ConsoleService) RecentOrderIDs(ctx context.Context, limit int) ([]int64, error) {
	defer s.db.observe("console_recent_orders", time.Now())
	out := []int64{}
	if err := s.db.db.SelectContext(ctx, &out, `SELECT id FROM orders ORDER BY id DESC LIMIT $1`, pageLimit(limit)); err != nil {
		return nil, fmt.Errorf("list recent orders: %w", err)
	}
	return out, nil
}

// StatusHistory returns an order's reported statuses.
func (s *ConsoleService) StatusHistory(ctx context.Context, orderID int64) ([]hub.OrderStatusChange, error) {
	defer s.db.observe("console_status_history", time.Now())
	out := []hub.OrderStatusChange{}
	if err := s.db.db.SelectContext(ctx, &out, `SELECT status AS "status", date_modified AS "datemodified", applied AS "applied", created_at AS "at"
		FROM order_status_history WHERE order_id = $1 ORDER BY id`, orderID); err != nil {
		return nil, fmt.Errorf("status history of order %d: %w", orderID, err)
	}
	return out, nil
}

// ChangeMark combines the newest ledger entry, order update and order
// command, the pending commands and the stores' settings and links into
// one string; each part reads an index, not a table.
func (s *ConsoleService) ChangeMark(ctx context.Context) (string, error) {
	defer s.db.observe("console_change_mark", time.Now())
	var mark string
	err := s.db.db.GetContext(ctx, &mark, `SELECT concat_ws('/',
		(SELECT max(id) FROM ledger),
		(SELECT max(updated_at) FROM orders),
		(SELECT max(id) FROM order_commands),
		(SELECT count(*) FROM order_commands WHERE state = 'pending'),
		(SELECT md5(string_agg(concat_ws(',', id, policy, buffer, status, connected, webhook_health, dead_letters), ';' ORDER BY id)) FROM stores))`)
	if err != nil {
		return "", fmt.Errorf("read change mark: %w", err)
	}
	return mark, nil
}
