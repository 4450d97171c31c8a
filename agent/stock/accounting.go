// What the store should show. For each SKU the writer keeps the hub's
// target (the figure of the last change or snapshot), the hub's changes not
// written yet, and the store's own orders the hub has not counted yet:
//
//	should show = target − unwritten deltas − pending fix − sold + restocked
//
// WooCommerce moves the store's figure at checkout; OrderReported adds the
// order's effect (by WooCommerce's rules: a reduction when the order enters
// processing, on-hold or completed, a restock when it goes back to pending
// or cancelled) as it enters the outbox. The hub counts the order when it
// commits the report: it lowers this store's target without a delta to
// write (it never echoes the store's own sale), so a change's
// target − previous target − delta is exactly what the hub counted of the
// store's own orders (counted). That holds whatever the order of acks and
// changes on the link: acks play no part.

package stock

import (
	"time"

	"github.com/stockwire/stockwire/agent"
	"github.com/stockwire/stockwire/shared/wire"
	"github.com/stockwire/stockwire/shared/woo"
)

// OrderReported takes the store's own order o as it goes into the outbox;
// prev is the state reported for it before (zero when none). Call it
// before the append: once o is durable the relay may send it, and the
// hub's count of the order must not arrive first. Reporting the same
// state again, or an older one, changes nothing.
func (w *Writer) OrderReported(o wire.Order, prev agent.Reported) {
	now := w.now()
	w.mu.Lock()
	defer w.mu.Unlock()
	// A webhook and the order poll may report one order at once, both
	// with the same previous state: the writer's own record decides.
	wasReduced, since := prev.StockReduced, prev.Modified
	if last, ok := w.orders[o.WooOrderID]; ok {
		wasReduced, since = last.reduced, last.modified
	}
	w.forgetOrders(now)
	if o.DateModified.Before(since) {
		return // the hub skips an older state too
	}
	// WooCommerce's rules, as the hub applies them to the report.
	sign, reduced := woo.StockEffect(wasReduced, o.Status, o.StockReduced)
	w.orders[o.WooOrderID] = orderSeen{reduced: reduced, modified: o.DateModified, at: now}
	if sign == 0 {
		return
	}
	for _, l := range o.Lines {
		if l.SKU == "" || l.Quantity <= 0 {
			continue
		}
		s := w.state(l.SKU)
		if sign < 0 {
			s.sold += l.Quantity
		} else {
			s.restocked += l.Quantity
		}
		s.ownAt = stampOf(now)
	}
}

// orderSeen is what the last report of an order the writer took left:
// whether the store holds its stock reduced, the order's date_modified,
// and when the writer took it.
type orderSeen struct {
	reduced  bool
	modified time.Time
	at       time.Time
}

// orderMemory is how long the writer remembers an order's last status;
// reports of one order arriving together are seconds apart at most.
const orderMemory = 10 * time.Minute

// forgetOrders drops orders not reported for orderMemory, at most once a
// minute. Caller holds mu.
func (w *Writer) forgetOrders(now time.Time) {
	if now.Sub(w.ordersPruned) < time.Minute {
		return
	}
	w.ordersPruned = now
	for id, o := range w.orders {
		if now.Sub(o.at) > orderMemory {
			delete(w.orders, id)
		}
	}
}

// own adds units the store's own doing moved (+ put on its shelf, − taken
// off) and the hub has not counted yet. Caller holds mu.
func (s *skuState) own(units int64, now time.Time) {
	if units < 0 {
		s.sold -= units
	} else {
		s.restocked += units
	}
	s.ownAt = stampOf(now)
}

// EditPending takes a hand edit accepted before a restart that the outbox
// still holds: the store shows it, and the hub has not counted it yet (or
// its acknowledgement was lost with the process). Without it the safety
// net would find the edit again and report it a second time.
func (w *Writer) EditPending(e wire.StoreEdit) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.state(e.SKU).own(e.To-e.From, w.now())
}

// disown takes back what own(units) added. Caller holds mu.
func (s *skuState) disown(units int64) {
	if units < 0 {
		s.sold = max(0, s.sold+units)
	} else {
		s.restocked = max(0, s.restocked-units)
	}
}

// counted takes local, what a hub change says the hub counted of the
// store's own effects on s (negative for sales). It clears that much of
// the matching uncounted units; more than those (orders reported before a
// restart, whose effect the writer no longer holds) is already in the
// store and in the target. Caller holds mu.
func (w *Writer) counted(s *skuState, local int64) {
	switch {
	case local < 0:
		s.sold = max(0, s.sold+local)
	case local > 0:
		s.restocked = max(0, s.restocked-local)
	}
}

// shouldShow returns what the store should show for s now. Caller holds mu.
func (s *skuState) shouldShow() int64 {
	q := s.target - s.fix - s.sold + s.restocked
	for _, c := range s.changes {
		if !s.seqKnown || c.Seq > s.storeSeq {
			q -= c.Delta
		}
	}
	return q
}

// settle forgets s's uncounted own orders once none has come for a while
// and the outbox is empty: the hub has counted everything by then, and a
// remainder is an error of the count (a report the hub refused, orders
// counted across a restart). Caller holds mu.
func (w *Writer) settle(s *skuState, quiet bool, now time.Time) {
	if quiet && (s.sold != 0 || s.restocked != 0) && now.Sub(s.ownAt.Time()) > 2*w.cfg.ConfirmLowDelay {
		w.log.Debug("stock own orders settled", "sku", s.sku, "sold", s.sold, "restocked", s.restocked)
		s.sold, s.restocked = 0, 0
	}
}
