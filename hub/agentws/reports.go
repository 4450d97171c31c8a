package agentws

import (
	"sync"
	"time"

	"github.com/stockwire/stockwire/hub"
	"github.com/stockwire/stockwire/shared/wire"
)

// Order reports, store edits and releases commit in PostgreSQL, which can take longer
// than a heartbeat: a reader waiting on a commit would not read the agent's
// pong, and the session would be dropped for a slow database. So the reader
// only hands them to the session's report worker, through a bounded queue,
// and the worker commits them and queues the acks.
//
// The worker commits in rounds, in arrival order: a round is the queued
// reports up to (not including) a second report of an order already in the
// round, or a release, store edit or command answer, which goes alone. The reports of a round commit
// concurrently, so that one store's burst shares the order service's group
// commits rather than taking one commit per report; a report never commits
// before an earlier report of the same order.
//
// A report that finds the queue full is not taken and not acknowledged: the
// agent sends every report again until it is acknowledged (and a reclaim is
// asked again until it is answered), so delivery stays at least once. An
// agent that keeps within its window (as many reports in flight as the
// queue holds, by default) never meets a full queue.

// maxReportRound bounds the reports committing at once for one session.
const maxReportRound = 64

// takeReport hands an order report or a release to the report worker,
// without waiting.
func (ss *session) takeReport(env wire.Envelope) {
	select {
	case ss.reports <- env:
	default:
		ss.srv.metrics.reportsDeferred.Inc()
		ss.logger.Warn("report queue full; the agent will send it again", "msg_type", env.Type, "msg_id", env.ID, "queue", cap(ss.reports))
	}
}

// commitReports is the report worker: it commits what the reader took, in
// rounds, until the session ends. Reports still queued then are dropped
// unacknowledged, for the agent to send again.
func (ss *session) commitReports() {
	var held []wire.Envelope // taken from the queue, not yet committed
	for {
		if len(held) == 0 {
			select {
			case <-ss.ctx.Done():
				return
			case env := <-ss.reports:
				held = append(held, env)
			}
		}
	take:
		for len(held) < maxReportRound {
			select {
			case env := <-ss.reports:
				held = append(held, env)
			default:
				break take
			}
		}
		n := reportRound(held)
		ss.commitRound(held[:n])
		held = append(held[:0], held[n:]...)
		if ss.ctx.Err() != nil {
			return
		}
	}
}

// reportRound returns how many of the held messages (at least one) form
// the next round.
func reportRound(held []wire.Envelope) int {
	if held[0].Type != wire.TypeOrder {
		return 1
	}
	seen := map[int64]bool{}
	for i, env := range held {
		if env.Type != wire.TypeOrder {
			return i
		}
		id := orderID(env)
		if seen[id] {
			return i
		}
		seen[id] = true
	}
	return len(held)
}

// orderID is the WooCommerce order id of an order report, 0 if the
// payload does not decode (handleOrder then refuses it).
func orderID(env wire.Envelope) int64 {
	var o struct {
		WooOrderID int64 `json:"woo_order_id"`
	}
	if wire.DecodePayload(env, &o) != nil {
		return 0
	}
	return o.WooOrderID
}

// commitRound commits the messages of one round, concurrently, and
// returns when all are done.
func (ss *session) commitRound(round []wire.Envelope) {
	handle := func(env wire.Envelope) {
		switch env.Type {
		case wire.TypeOrder:
			ss.handleOrder(env)
		case wire.TypeEdit:
			ss.handleStoreEdit(env)
		case wire.TypeDone:
			ss.handleDone(env)
		default:
			ss.handleReleased(env)
		}
	}
	if len(round) == 1 {
		handle(round[0])
		return
	}
	var wg sync.WaitGroup
	for _, env := range round {
		wg.Go(func() { handle(env) })
	}
	wg.Wait()
}

// handleOrder commits one order report and acknowledges it. A report the
// hub can never accept is acknowledged with an error so the agent stops
// resending it; a transient failure is not acknowledged and will be resent.
func (ss *session) handleOrder(env wire.Envelope) {
	var o wire.Order
	if err := wire.DecodePayload(env, &o); err != nil {
		ss.enqueue(wire.TypeAck, env.ID, wire.Ack{Error: err.Error()})
		return
	}
	r := hub.OrderReport{WooOrderID: o.WooOrderID, Number: o.Number, Status: o.Status,
		DateModified: o.DateModified, StockReduced: o.StockReduced, Raw: o.Raw}
	for _, l := range o.Lines {
		r.Lines = append(r.Lines, hub.OrderLine{SKU: ss.names.hub(l.SKU), Quantity: l.Quantity,
			ProductID: l.ProductID, VariationID: l.VariationID})
	}
	start := time.Now()
	_, err := ss.srv.Orders.ApplyOrderReport(ss.ctx, ss.store.ID, r)
	ss.srv.metrics.orderDuration.Observe(time.Since(start).Seconds())
	switch hub.ErrorCode(err) {
	case "":
		ss.enqueue(wire.TypeAck, env.ID, wire.Ack{})
	case hub.EINVALID:
		ss.logger.Warn("order report refused", "order_id", o.WooOrderID, "error", err)
		ss.enqueue(wire.TypeAck, env.ID, wire.Ack{Error: hub.ErrorMessage(err)})
	default:
		if ss.ctx.Err() == nil {
			ss.logger.Error("apply order report", "order_id", o.WooOrderID, "error", err)
		}
	}
}

// handleStoreEdit counts a hand edit the agent accepted and acknowledges
// it, like an order report: one the hub can never count (malformed, an
// unknown SKU) is acknowledged with an error, for the agent's dead
// letters; a transient failure is not acknowledged and will be resent.
func (ss *session) handleStoreEdit(env wire.Envelope) {
	es, ok := ss.srv.Orders.(hub.StoreEditService)
	if !ok {
		ss.enqueue(wire.TypeAck, env.ID, wire.Ack{Error: "this hub does not count store edits"})
		return
	}
	var e wire.StoreEdit
	if err := wire.DecodePayload(env, &e); err != nil {
		ss.enqueue(wire.TypeAck, env.ID, wire.Ack{Error: err.Error()})
		return
	}
	entry, err := es.ApplyStoreEdit(ss.ctx, ss.store.ID, hub.StoreEdit{ID: e.ID, SKU: ss.names.hub(e.SKU), From: e.From, To: e.To, EditedAt: e.EditedAt})
	switch hub.ErrorCode(err) {
	case "":
		ss.logger.Info("store edit counted", "sku", e.SKU, "from", e.From, "to", e.To, "ledger_id", entry.ID, "on_hand_after", entry.After)
		ss.enqueue(wire.TypeAck, env.ID, wire.Ack{})
	case hub.EINVALID, hub.ENOTFOUND:
		ss.logger.Warn("store edit refused", "sku", e.SKU, "error", err)
		ss.enqueue(wire.TypeAck, env.ID, wire.Ack{Error: hub.ErrorMessage(err)})
	default:
		if ss.ctx.Err() == nil {
			ss.logger.Error("apply store edit", "sku", e.SKU, "error", err)
		}
	}
}

// handleReleased settles a reclaim with what the agent released. A
// confirmation that fails here is not lost: the reclaim stays pending and
// is sent again, and the agent answers with the same figure.
func (ss *session) handleReleased(env wire.Envelope) {
	rs, ok := ss.srv.Orders.(hub.ReclaimService)
	if !ok {
		return
	}
	var r wire.Released
	if err := wire.DecodePayload(env, &r); err != nil {
		ss.logger.Warn("malformed release", "error", err)
		return
	}
	err := rs.ConfirmRelease(ss.ctx, ss.store.ID, hub.Release{ReclaimID: r.ReclaimID, SKU: ss.names.hub(r.SKU), Released: r.Released})
	if err != nil {
		if ss.ctx.Err() == nil {
			ss.logger.Warn("confirm release", "reclaim_id", r.ReclaimID, "error", err)
		}
		return
	}
	ss.logger.Info("agent released units", "reclaim_id", r.ReclaimID, "sku", r.SKU, "released", r.Released)
}
