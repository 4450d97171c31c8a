package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/stockwire/stockwire/hub"
)

var _ hub.ProblemService = (*OrderService)(nil)

// Problems lists what needs a person, newest first: order lines parked
// for an unknown SKU, order commands a store refused, and active stores
// whose agent holds dead letters or whose webhooks fail.
func (s *OrderService) Problems(ctx context.Context, limit int) ([]hub.Problem, error) {
	type row struct {
		Kind       string     `db:"kind"`
		StoreID    int64      `db:"store_id"`
		OrderID    int64      `db:"order_id"`
		WooOrderID int64      `db:"woo_order_id"`
		SKU        string     `db:"sku"`
		Quantity   int64      `db:"quantity"`
		Detail     string     `db:"detail"`
		At         *time.Time `db:"at"`
	}
	var rows []row
	err := s.db.db.SelectContext(ctx, &rows, `
		SELECT 'parked_line' AS kind, o.store_id, o.id AS order_id, o.woo_order_id, l.sku, l.quantity, l.error AS detail, o.updated_at AS at
			FROM order_lines l JOIN orders o ON o.id = l.order_id WHERE l.error <> ''
		UNION ALL
		SELECT 'command_failed', c.store_id, c.order_id, o.woo_order_id, '', 0, c.kind || ': ' || c.error, c.settled_at
			FROM order_commands c JOIN orders o ON o.id = c.order_id WHERE c.state = 'failed'
		UNION ALL
		SELECT 'dead_letters', id, 0, 0, '', dead_letters, dead_letters || ' order reports or edits the hub refused wait in the agent''s dead letters', last_seen
			FROM stores WHERE status = 'active' AND dead_letters > 0
		UNION ALL
		SELECT 'webhooks_failing', id, 0, 0, '', 0, 'the store''s webhooks do not reach its agent; orders arrive by polling only', last_seen
			FROM stores WHERE status = 'active' AND webhook_health = 'failing'
		ORDER BY at DESC NULLS LAST LIMIT $1`, pageLimit(limit))
	if err != nil {
		return nil, fmt.Errorf("list problems: %w", translate(err))
	}
	out := make([]hub.Problem, len(rows))
	for i, r := range rows {
		out[i] = hub.Problem(r)
	}
	return out, nil
}
