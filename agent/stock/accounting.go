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

	"github.com/stockwire/stockwire/shared/wire"
)

// orderEffect is the sign of what WooCommerce does to the stock of an
// order's lines when its status moves from prev ("" for a new order) to
// status: it reduces stock when the order enters processing, on-hold or
// completed, and restores it when the order goes back to pending or
// cancelled. The hub models the same.
func orderEffect(prev, status string) int64 {
	reduced := prev == "processing" || prev == "on-hold" || prev == "completed"
	switch status {
	case "processing", "on-hold", "completed":
		if !reduced {
			return -1
		}
	case "cancelled", "pending":
		if reduced {
			return +1
		}
	}
	return 0
}

// OrderReported takes the store's own order o as it goes into the outbox;
// prevStatus is the status reported for it before ("" when none). Call it
// before the append: once o is durable the relay may send it, and the
// hub's count of the order must not arrive first. Reporting the same
// status again changes nothing.
func (w *Writer) OrderReported(o wire.Order, prevStatus string) {
	now := w.now()
	w.mu.Lock()
	defer w.mu.Unlock()
	// A webhook and the order poll may report one order at once, both
	// with the same previous status: the writer's own record decides.
	if last, ok := w.orders[o.WooOrderID]; ok {
		prevStatus = last.status
	}
	w.orders[o.WooOrderID] = orderSeen{status: o.Status, at: now}
	w.forgetOrders(now)
	sign := orderEffect(prevStatus, o.Status)
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

// orderSeen is the last status of an order the writer took, and when.
type orderSeen struct {
	status string
	at     time.Time
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
