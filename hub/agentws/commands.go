package agentws

import (
	"time"

	"github.com/stockwire/stockwire/hub"
	"github.com/stockwire/stockwire/shared/wire"
)

// Order commands (the ERP's reference, a shipment, a cancellation) wait in
// PostgreSQL until the store's agent has applied them. A session sends the
// pending ones when it begins, when a replica announces new ones (a
// session notice), and at every resync (a notice may have been lost); each
// once per session, since the agent answers every command it gets. The
// agent applies a command at most once per ID, so one sent again on the
// next session is answered without a second change to the store.

// sendCommands queues the store's pending commands not sent in this
// session yet.
func (ss *session) sendCommands(sent map[int64]bool) {
	cs, ok := ss.srv.Orders.(hub.OrderCommandService)
	if !ok {
		return
	}
	pending, err := cs.PendingCommands(ss.ctx, ss.store.ID)
	if err != nil {
		if ss.ctx.Err() == nil {
			ss.logger.Warn("read pending order commands", "error", err)
			ss.commands.Store(true) // try again at the next wake-up
		}
		return
	}
	for _, c := range pending {
		if sent[c.ID] {
			continue
		}
		sent[c.ID] = true
		ss.logger.Info("sending order command", "command_id", c.ID, "kind", c.Kind, "woo_order_id", c.WooOrderID)
		ss.enqueue(wire.TypeCommand, "", wireCommand(c, ss.names))
	}
}

// wireCommand is c as the link carries it, under the store's SKU names.
func wireCommand(c hub.OrderCommand, names skuNames) wire.OrderCommand {
	out := wire.OrderCommand{ID: c.ID, WooOrderID: c.WooOrderID, Kind: c.Kind, Reason: c.Reason}
	if c.ERP != nil {
		out.ERP = &wire.ERPReference{System: c.ERP.System, Reference: c.ERP.Reference}
	}
	if s := c.Shipment; s != nil {
		out.Shipment = &wire.Shipment{Carrier: s.Carrier, TrackingNumber: s.TrackingNumber, TrackingURL: s.TrackingURL,
			ShippedAt: s.ShippedAt, Complete: s.Complete}
		for _, l := range s.Lines {
			out.Shipment.Lines = append(out.Shipment.Lines, wire.ShipmentLine{SKU: names.store(l.SKU), Quantity: l.Quantity})
		}
	}
	return out
}

// handleDone records the agent's answer to a command. One that fails here
// is not lost: the command stays pending, is sent again on the next
// session, and the agent answers it again.
func (ss *session) handleDone(env wire.Envelope) {
	cs, ok := ss.srv.Orders.(hub.OrderCommandService)
	if !ok {
		return
	}
	var d wire.CommandDone
	if err := wire.DecodePayload(env, &d); err != nil {
		ss.logger.Warn("malformed order command answer", "error", err)
		return
	}
	c, settled, err := cs.SettleCommand(ss.ctx, ss.store.ID, d.ID, d.Error)
	if err != nil {
		if ss.ctx.Err() == nil {
			ss.logger.Warn("settle order command", "command_id", d.ID, "error", err)
		}
		return
	}
	if !settled {
		return // answered before, or not this store's
	}
	ss.srv.metrics.commands.WithLabelValues(c.Kind, c.State).Inc()
	ss.srv.metrics.commandLatency.WithLabelValues(c.Kind).Observe(time.Since(c.CreatedAt).Seconds())
	if c.State == hub.CommandFailed {
		ss.logger.Warn("the store refused an order command", "command_id", c.ID, "kind", c.Kind, "woo_order_id", c.WooOrderID, "error", c.Error)
		return
	}
	ss.logger.Info("order command applied", "command_id", c.ID, "kind", c.Kind, "woo_order_id", c.WooOrderID)
}
