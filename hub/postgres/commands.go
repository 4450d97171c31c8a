package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/stockwire/stockwire/hub"
)

var _ hub.OrderCommandService = (*OrderService)(nil)

// commandPayload is the jsonb payload of an order command: what its kind
// carries.
type commandPayload struct {
	ERP      *hub.ERPReference `json:"erp,omitempty"`
	Shipment *hub.Shipment     `json:"shipment,omitempty"`
	Reason   string            `json:"reason,omitempty"`
}

type commandRow struct {
	ID         int64      `db:"id"`
	OrderID    int64      `db:"order_id"`
	StoreID    int64      `db:"store_id"`
	WooOrderID int64      `db:"woo_order_id"`
	Kind       string     `db:"kind"`
	Payload    []byte     `db:"payload"`
	State      string     `db:"state"`
	Error      string     `db:"error"`
	Actor      string     `db:"actor"`
	CreatedAt  time.Time  `db:"created_at"`
	SettledAt  *time.Time `db:"settled_at"`
}

const commandCols = `c.id, c.order_id, c.store_id, o.woo_order_id, c.kind, c.payload, c.state, c.error, c.actor, c.created_at, c.settled_at`

func (r commandRow) command() (hub.OrderCommand, error) {
	var p commandPayload
	if err := json.Unmarshal(r.Payload, &p); err != nil {
		return hub.OrderCommand{}, fmt.Errorf("decode command %d: %w", r.ID, err)
	}
	return hub.OrderCommand{ID: r.ID, OrderID: r.OrderID, StoreID: r.StoreID, WooOrderID: r.WooOrderID, Kind: r.Kind,
		ERP: p.ERP, Shipment: p.Shipment, Reason: p.Reason, State: r.State, Error: r.Error, Actor: r.Actor,
		CreatedAt: r.CreatedAt, SettledAt: r.SettledAt}, nil
}

// SetERPReference queues the order's ERP reference for its store.
func (s *OrderService) SetERPReference(ctx context.Context, orderID int64, ref hub.ERPReference, actor string) (hub.OrderCommand, error) {
	if err := hub.ValidateName("system", ref.System); err != nil {
		return hub.OrderCommand{}, err
	}
	if err := hub.ValidateName("reference", ref.Reference); err != nil {
		return hub.OrderCommand{}, err
	}
	var out hub.OrderCommand
	err := s.db.tx(ctx, "order_command", nil, func(tx *sqlx.Tx) error {
		o, err := lockOrder(ctx, tx, orderID)
		if err != nil {
			return err
		}
		out, err = addCommand(ctx, tx, o, hub.CommandERPReference, commandPayload{ERP: &ref}, actor)
		return err
	})
	if err != nil {
		return hub.OrderCommand{}, fmt.Errorf("erp reference of order %d: %w", orderID, translate(err))
	}
	return out, nil
}

// Cancel queues the order's cancellation for its store. The hub's stock
// does not move here: the store cancels the order, WooCommerce puts its
// units back, and the agent reports the cancelled order, which releases
// the committed units once, whichever side cancelled first.
func (s *OrderService) Cancel(ctx context.Context, orderID int64, reason, actor string) (hub.OrderCommand, error) {
	if len(reason) > 1000 {
		return hub.OrderCommand{}, hub.FieldErrorf("reason", hub.EINVALID, "reason must be at most 1000 bytes.")
	}
	var out hub.OrderCommand
	err := s.db.tx(ctx, "order_command", nil, func(tx *sqlx.Tx) error {
		o, err := lockOrder(ctx, tx, orderID)
		if err != nil {
			return err
		}
		if o.StockState == hub.OrderStateFulfilled {
			return hub.Errorf(hub.ECONFLICT, "Order %d has shipped; it cannot be cancelled.", orderID)
		}
		out, err = addCommand(ctx, tx, o, hub.CommandCancellation, commandPayload{Reason: reason}, actor)
		return err
	})
	if err != nil {
		return hub.OrderCommand{}, fmt.Errorf("cancel order %d: %w", orderID, translate(err))
	}
	return out, nil
}

// Ship records a shipment of the order and queues it for its store. The
// shipment that completes the order (every line shipped, with the earlier
// shipments) fulfils it in the hub's stock when it is committed.
func (s *OrderService) Ship(ctx context.Context, orderID int64, sh hub.Shipment, actor string) (hub.Order, hub.OrderCommand, error) {
	if err := checkShipment(&sh); err != nil {
		return hub.Order{}, hub.OrderCommand{}, err
	}
	var order hub.Order
	var out hub.OrderCommand
	err := s.db.tx(ctx, "ship", nil, func(tx *sqlx.Tx) error {
		st, err := newStockTx(ctx, s.db, tx) // the stores lock before the order's, as order reports take them
		if err != nil {
			return err
		}
		o, err := lockOrder(ctx, tx, orderID)
		if err != nil {
			return err
		}
		if o.StockState == hub.OrderStateReleased {
			return hub.Errorf(hub.ECONFLICT, "Order %d is cancelled; it cannot ship.", orderID)
		}
		m, err := loadLines(ctx, tx, []int64{o.ID})
		if err != nil {
			return err
		}
		lines := m[o.ID]
		if sh.Complete, err = completes(ctx, tx, o.ID, lines, sh.Lines); err != nil {
			return err
		}
		if sh.Complete && o.StockState == hub.OrderStateCommitted {
			if err := fulfil(st, &o, lines, actor); err != nil {
				return err
			}
		}
		if order, err = o.fullOrder(lines); err != nil {
			return err
		}
		out, err = addCommand(ctx, tx, o, hub.CommandFulfilment, commandPayload{Shipment: &sh}, actor)
		return err
	})
	if err != nil {
		return hub.Order{}, hub.OrderCommand{}, fmt.Errorf("ship order %d: %w", orderID, translate(err))
	}
	return order, out, nil
}

// checkShipment refuses a shipment the store could not show.
func checkShipment(sh *hub.Shipment) error {
	if err := hub.ValidateName("carrier", sh.Carrier); err != nil {
		return err
	}
	if err := hub.ValidateName("tracking_number", sh.TrackingNumber); err != nil {
		return err
	}
	if sh.TrackingURL != "" {
		if err := hub.ValidateURL("tracking_url", sh.TrackingURL); err != nil {
			return err
		}
	}
	if sh.ShippedAt.IsZero() {
		sh.ShippedAt = time.Now().UTC().Truncate(time.Second)
	}
	for i, l := range sh.Lines {
		if l.SKU == "" || l.Quantity <= 0 {
			return hub.FieldErrorf("lines", hub.EINVALID, "Line %d needs a SKU and a quantity above 0.", i+1)
		}
	}
	return nil
}

// completes reports whether a shipment of ship (empty: everything left)
// completes the order: with the order's earlier shipments, every line has
// shipped. A line the order does not have, or more than it holds, is
// EINVALID.
func completes(ctx context.Context, tx *sqlx.Tx, orderID int64, lines []hub.OrderLine, ship []hub.ShipmentLine) (bool, error) {
	if len(ship) == 0 {
		return true, nil
	}
	left := map[string]int64{}
	for _, l := range lines {
		if l.Quantity > 0 {
			left[l.SKU] += l.Quantity
		}
	}
	var earlier [][]byte
	if err := tx.SelectContext(ctx, &earlier, `SELECT payload FROM order_commands WHERE order_id = $1 AND kind = $2`, orderID, hub.CommandFulfilment); err != nil {
		return false, fmt.Errorf("read earlier shipments: %w", err)
	}
	for _, raw := range earlier {
		var p commandPayload
		if err := json.Unmarshal(raw, &p); err != nil || p.Shipment == nil {
			return false, fmt.Errorf("decode an earlier shipment: %v", err)
		}
		if len(p.Shipment.Lines) == 0 {
			clear(left)
		}
		for _, l := range p.Shipment.Lines {
			left[l.SKU] -= l.Quantity
		}
	}
	for i, l := range ship {
		q, ok := left[l.SKU]
		if !ok {
			return false, hub.FieldErrorf("lines", hub.EINVALID, "Line %d: the order has no SKU %q.", i+1, l.SKU)
		}
		if l.Quantity > q {
			return false, hub.FieldErrorf("lines", hub.EINVALID, "Line %d: %d of %s shipped, but only %d are left to ship.", i+1, l.Quantity, l.SKU, max(q, 0))
		}
		left[l.SKU] = q - l.Quantity
	}
	for _, q := range left {
		if q > 0 {
			return false, nil
		}
	}
	return true, nil
}

// addCommand stores a command for o's store and tells the replicas, at
// commit, that the store has commands to send.
func addCommand(ctx context.Context, tx *sqlx.Tx, o orderRow, kind string, p commandPayload, actor string) (hub.OrderCommand, error) {
	raw, err := json.Marshal(p)
	if err != nil {
		return hub.OrderCommand{}, err
	}
	var r commandRow
	if err := tx.GetContext(ctx, &r, `INSERT INTO order_commands (order_id, store_id, kind, payload, actor) VALUES ($1, $2, $3, $4, $5)
		RETURNING id, order_id, store_id, kind, payload, state, error, actor, created_at, settled_at`,
		o.ID, o.StoreID, kind, string(raw), actor); err != nil {
		return hub.OrderCommand{}, fmt.Errorf("insert command: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `SELECT pg_notify($1, $2)`, SessionChannel, "commands:"+strconv.FormatInt(o.StoreID, 10)); err != nil {
		return hub.OrderCommand{}, fmt.Errorf("announce command: %w", err)
	}
	r.WooOrderID = o.WooOrderID
	return r.command()
}

// Commands lists the order's commands, oldest first.
func (s *OrderService) Commands(ctx context.Context, orderID int64) ([]hub.OrderCommand, error) {
	var exists bool
	if err := s.db.db.GetContext(ctx, &exists, `SELECT EXISTS (SELECT 1 FROM orders WHERE id = $1)`, orderID); err != nil {
		return nil, fmt.Errorf("commands of order %d: %w", orderID, translate(err))
	}
	if !exists {
		return nil, hub.Errorf(hub.ENOTFOUND, "Order %d not found.", orderID)
	}
	return s.commands(ctx, `c.order_id = $1`, orderID)
}

// PendingCommands lists the store's pending commands, oldest first.
func (s *OrderService) PendingCommands(ctx context.Context, storeID int64) ([]hub.OrderCommand, error) {
	return s.commands(ctx, `c.store_id = $1 AND c.state = 'pending'`, storeID)
}

func (s *OrderService) commands(ctx context.Context, where string, arg int64) ([]hub.OrderCommand, error) {
	var rows []commandRow
	if err := s.db.db.SelectContext(ctx, &rows, `SELECT `+commandCols+` FROM order_commands c JOIN orders o ON o.id = c.order_id
		WHERE `+where+` ORDER BY c.id LIMIT 1000`, arg); err != nil {
		return nil, fmt.Errorf("read order commands: %w", err)
	}
	out := make([]hub.OrderCommand, 0, len(rows))
	for _, r := range rows {
		c, err := r.command()
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

// SettleCommand records the agent's answer to a pending command once.
func (s *OrderService) SettleCommand(ctx context.Context, storeID, id int64, errMsg string) (hub.OrderCommand, bool, error) {
	state := hub.CommandApplied
	if errMsg != "" {
		state = hub.CommandFailed
	}
	if len(errMsg) > 2000 {
		errMsg = errMsg[:2000]
	}
	var rows []commandRow
	err := s.db.db.SelectContext(ctx, &rows, `WITH upd AS (
			UPDATE order_commands SET state = $3, error = $4, settled_at = now()
			WHERE id = $1 AND store_id = $2 AND state = 'pending'
			RETURNING *)
		SELECT `+commandCols+` FROM upd c JOIN orders o ON o.id = c.order_id`, id, storeID, state, errMsg)
	if err != nil {
		return hub.OrderCommand{}, false, fmt.Errorf("settle command %d: %w", id, translate(err))
	}
	if len(rows) == 0 {
		return hub.OrderCommand{}, false, nil
	}
	c, err := rows[0].command()
	return c, err == nil, err
}
