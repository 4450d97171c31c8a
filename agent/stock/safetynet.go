// The safety net: every CheckInterval it reads the products modified since
// its last look (modified_after, so a busy catalog costs one request; every
// SweepInterval while the store's webhooks bring the echo of each write,
// echoes.go), the SKUs it suspects, and every SweepInterval a rotating
// slice of the others (variations, which /products does not list, and
// edits that left date_modified alone). It compares each figure with what
// the store should show (accounting.go), whatever the traffic: a
// difference of one sign that stays over two reads ConfirmDelay apart
// (ConfirmLowDelay for a figure below, which an order not reported yet
// explains for a while) is a hand edit or a lost write, corrected by a
// relative write of the smallest difference seen, or adopted under
// StoreEdits "accept" when it is a hand edit.

package stock

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"sort"
	"time"

	"github.com/stockwire/stockwire/agent/wooclient"
	"github.com/stockwire/stockwire/shared/wire"
	"github.com/stockwire/stockwire/shared/woo"
)

// modifiedOverlap is how far before the newest date_modified seen the next
// look starts: modified_after is strict and second-grained, and a product
// saved within the same second must not be missed.
const modifiedOverlap = 2 * time.Second

// maxModifiedPages bounds one look at modified products (100 a page); the
// rest waits for the next look.
const maxModifiedPages = 5

var modifiedFields = append([]string{"date_modified_gmt"}, readFields...)

// ProductChanged takes a product or variation as a product.updated webhook
// shows it. A figure other than what the store should show marks the SKU:
// the safety net reads it at its next round, and a difference it confirms
// is treated as a hand edit (reverted, or accepted under StoreEdits
// "accept").
func (w *Writer) ProductChanged(ctx context.Context, p woo.Product) error {
	if p.StockQuantity == nil || p.SKU == "" {
		return nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	s, ok := w.skus[p.SKU]
	if ok && s.id == p.ID {
		w.echoes.delivered(s, w.now())
	}
	if !ok || !s.resolved || s.skip != skipNone || s.id != p.ID || !s.hasTarget || s.inflight || s.abs {
		return nil
	}
	if q := *p.StockQuantity; q != s.shouldShow() {
		s.diff().edited = true
		// Debug: a sale not reported yet shows here too; the safety net
		// logs what it corrects.
		w.log.Debug("stock differs from what the store should show", "sku", p.SKU, "product_id", p.ID, "store_qty", q, "should_show", s.shouldShow())
	}
	return nil
}

// Echo tells whether p, as a product.updated webhook shows it, is the
// echo of the writer's own last write to it: the SKU is where the writer
// wrote it, with nothing in flight or queued as absolute, and the store
// shows the stockwire_seq marker of everything the writer knows is there
// and the figure it should show. Nothing is left to do for an echo
// (ProductChanged would find no difference); anything else, a hand edit
// among them, is not one.
func (w *Writer) Echo(p woo.Product) bool {
	if p.StockQuantity == nil || p.SKU == "" {
		return false
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	s, ok := w.skus[p.SKU]
	if ok && s.id == p.ID {
		w.echoes.delivered(s, w.now())
	}
	if !ok || !s.resolved || s.skip != skipNone || s.id != p.ID || !s.hasTarget || s.inflight || s.abs || !s.seqKnown {
		return false
	}
	seq, ok := w.markerSeq(p)
	return ok && seq == s.storeSeq && *p.StockQuantity == s.shouldShow()
}

// check is one round of the safety net.
func (w *Writer) check(ctx context.Context) error {
	defer func() {
		w.reportEdits(ctx)
		w.mu.Lock()
		w.checks++
		w.mu.Unlock()
	}()
	start := w.now()
	w.mu.Lock()
	if late := w.echoes.expire(start, w.cfg.EchoWindow); late > 0 {
		w.metrics.echoesLate.Add(float64(late))
	}
	trusted := w.echoes.trusted(start)
	w.lookEvery = w.cfg.CheckInterval
	if trusted {
		w.lookEvery = w.cfg.SweepInterval
	}
	w.mu.Unlock()
	var modified []woo.Product
	if !trusted || start.Sub(w.lookedAt) >= w.cfg.SweepInterval-w.cfg.CheckInterval/2 {
		var err error
		if modified, err = w.readModified(ctx); err != nil {
			return fmt.Errorf("safety net read of modified products: %w", err)
		}
		w.lookedAt = start
	}
	sweep := start.Sub(w.sweptAt) >= w.cfg.SweepInterval
	if sweep {
		w.sweptAt = start
	}
	samples := map[string]woo.Product{}
	var pick, rest []string
	w.mu.Lock()
	for _, p := range modified {
		s, ok := w.skus[p.SKU]
		if !ok || !s.hasTarget {
			continue
		}
		if s.resolved && s.skip == skipNone && s.id == p.ID {
			samples[p.SKU] = p
		} else if !s.inflight {
			pick = append(pick, p.SKU)
		}
	}
	for sku, s := range w.skus {
		if _, ok := samples[sku]; ok || !s.hasTarget || s.inflight || s.resolved && s.skip != skipNone {
			continue
		}
		if s.d != nil && (len(s.d.offs) > 0 || s.d.edited) {
			pick = append(pick, sku)
		} else if sweep {
			rest = append(rest, sku)
		}
	}
	sort.Strings(rest)
	first := sort.SearchStrings(rest, w.checkCursor)
	for n := range min(w.cfg.CheckBatch, len(rest)) {
		sku := rest[(first+n)%len(rest)]
		pick = append(pick, sku)
		w.checkCursor = sku + "\x00"
	}
	w.mu.Unlock()
	if len(pick) > 0 {
		reads, err := w.readSKUs(ctx, pick)
		if err != nil {
			return fmt.Errorf("safety net read: %w", err)
		}
		w.mu.Lock()
		for _, sku := range pick {
			s := w.skus[sku]
			if s.inflight || !s.writtenAt.Time().Before(start) {
				continue
			}
			if p := reads[sku]; p.ID != s.id || !s.resolved {
				w.resolve(s, p, start)
			}
			if p, ok := reads[sku]; ok && s.skip == skipNone {
				samples[sku] = p
			}
		}
		w.mu.Unlock()
	}

	// A difference may be sales or cancellations the writer has not been
	// told of yet (no webhook, the poll not round yet): the store's recent
	// orders say.
	var unreported map[string]int64
	if w.anyDifference(samples) {
		orders, err := w.recentOrders(ctx, w.now().Add(-recentOrdersWindow))
		if err != nil {
			return fmt.Errorf("safety net read of recent orders: %w", err)
		}
		w.mu.Lock()
		unreported = w.unreported(orders)
		w.mu.Unlock()
	}
	quiet, caughtUp := w.cfg.Quiet(), w.cfg.CaughtUp()
	now := w.now()
	fixed := false
	var lows []string
	since := now
	w.mu.Lock()
	for sku, p := range samples {
		s := w.skus[sku]
		first := now
		if s.d != nil && len(s.d.offs) > 0 {
			first = s.d.offs[0].at
		}
		if w.compare(s, p, unreported[sku], start, now) {
			fixed = true
		}
		if s.d != nil && s.d.low < 0 {
			lows = append(lows, sku)
			if first.Before(since) {
				since = first
			}
		}
	}
	for _, s := range w.skus {
		w.settle(s, quiet, now)
	}
	// An allocate store, where a figure raised in error sells units never
	// granted, waits for quiet: a 12½-minute soak with the lows opened
	// once caught up oversold 1 unit there. A mirror store, where held
	// lows left figures a thousand units short for a minute after each
	// restart under steady traffic, waits until caught up.
	ready := caughtUp
	if w.allocate {
		ready = quiet
	}
	lowsOpen := w.openLows(ready, now)
	w.mu.Unlock()
	if len(lows) > 0 && lowsOpen {
		raised, err := w.checkLow(ctx, lows, since)
		if err != nil {
			return err
		}
		fixed = fixed || raised
	}
	if fixed {
		w.signal()
	}
	return nil
}

// openLows reports whether the safety net may raise figures that look
// low. After a start, the hub's figures may not yet count sales of the
// store the writer no longer remembers (those the hub acknowledged before
// a restart, whose counting changes follow the acknowledgements), and a
// figure that looks low then is no reason to put sold units back on sale.
// So the lows wait until the writer has applied the changes up to the
// welcome, is ready (caught up, or quiet in an allocate store), and has
// stayed so for LowSettle; from then on they are open. Caller holds mu.
func (w *Writer) openLows(ready bool, now time.Time) bool {
	if w.lowsOpen {
		return true
	}
	if !w.welcomed || w.applied < w.head || !ready {
		w.settledAt = time.Time{}
		return false
	}
	if w.settledAt.IsZero() {
		w.settledAt = now
	}
	w.lowsOpen = now.Sub(w.settledAt) >= w.cfg.LowSettle
	return w.lowsOpen
}

// readModified returns the products modified since the last look, and
// moves the look's cursor past them. The first look starts one
// SweepInterval back.
//
// The cursor is the newest date_modified read, or, when the look read every
// page, the store's own clock when it ran the query (Page.QueryTime),
// whichever is later. Without the store's clock, a store where nothing changes would
// answer every look with the products of its last stretch of changes again:
// 100 idle stores in one agent spent a fifth of a core on that.
func (w *Writer) readModified(ctx context.Context) ([]woo.Product, error) {
	if w.modCursor.IsZero() {
		w.modCursor = w.now().UTC().Add(-w.cfg.SweepInterval)
	}
	var out []woo.Product
	newest := w.modCursor
	var queried time.Time // by the store's clock; zero while unknown
	for page := 1; page <= maxModifiedPages; page++ {
		sent := time.Now()
		ps, pg, err := w.cfg.API.ListProducts(ctx, wooclient.ProductQuery{ModifiedAfter: w.modCursor.Add(-modifiedOverlap),
			Page: page, PerPage: 100, Fields: modifiedFields})
		if err != nil {
			return nil, err
		}
		if page == 1 {
			queried = pg.QueryTime(sent)
		}
		for _, p := range ps {
			if t, err := time.Parse(woo.DateLayout, p.DateModifiedGMT); err == nil && t.After(newest) {
				newest = t
			}
			if p.SKU != "" {
				out = append(out, p)
			}
		}
		if len(ps) == 0 || page >= pg.TotalPages {
			// Every page read: nothing saved before the query is left.
			if queried.After(newest) {
				newest = queried
			}
			break
		}
	}
	w.modCursor = newest
	return out, nil
}

// compare checks one read of s, started at start, against what the store
// should show. A difference of one sign held since at least ConfirmDelay
// (ConfirmLowDelay below) over two reads or more is confirmed, by the
// smallest difference read within that last stretch: one above is
// corrected (or adopted) at once and compare reports it; one below waits
// in s.d.low for checkLow. A read that a write of s may have overtaken says
// nothing. Caller holds mu.
func (w *Writer) compare(s *skuState, p woo.Product, unreported int64, start, now time.Time) bool {
	if p.ID != s.id || p.StockQuantity == nil || s.inflight || s.abs || !s.hasTarget || !s.writtenAt.Time().Before(start) {
		return false
	}
	q := *p.StockQuantity
	should := s.shouldShow() - unreported
	gap := q - should
	if gap == 0 {
		s.d = nil
		s.agreedAt = stampOf(start)
		return false
	}
	d := s.diff()
	if len(d.offs) > 0 && (gap > 0) != (d.offs[0].gap > 0) {
		d.offs = nil
	}
	d.offs = append(d.offs, offRead{at: start, gap: gap})
	wait := w.cfg.ConfirmDelay
	if gap < 0 {
		wait = w.cfg.ConfirmLowDelay
	}
	if len(d.offs) < 2 || start.Sub(d.offs[0].at) < wait {
		return false
	}
	// Reads before the last stretch may predate the edit (a sale not yet
	// reported, say): they confirm the sign, not the size.
	recent := gap
	for _, r := range d.offs {
		if start.Sub(r.at) <= wait && abs(r.gap) < abs(recent) {
			recent = r.gap
		}
	}
	// A write of ours that a checkout overtook inside WooCommerce's own
	// read-modify-write shows on the first read after it; without a
	// webhook naming the edit, a difference that came later (after the
	// store agreed with our last write, or some rounds after it), or with
	// no write of ours, is a hand edit.
	edited := d.edited || d.editLeft || s.writtenAt == 0 || s.agreedAt > s.writtenAt ||
		d.offs[0].at.Sub(s.writtenAt.Time()) > 2*w.lookEvery+w.cfg.ConfirmDelay
	d.offs, d.edited = nil, false
	if recent < 0 {
		d.low, d.lowEdit = recent, edited
		return false
	}
	return w.correct(s, recent, edited, q, should, now)
}

// EditsReverted counts the hand edits in the store the writer set back
// to the hub's figure since it started (StoreEdits "revert").
func (w *Writer) EditsReverted() int64 { return w.editsReverted.Load() }

// correct acts on a confirmed difference off between the store's figure q
// and what it should show: it queues a fix, or adopts a hand edit under
// StoreEdits "accept". It reports whether it queued a fix. Caller holds mu.
func (w *Writer) correct(s *skuState, off int64, edited bool, q, should int64, now time.Time) bool {
	attrs := []any{"sku", s.sku, "product_id", s.id, "store_qty", q, "should_show", should, "target", s.target, "difference", off}
	switch {
	case edited && w.cfg.StoreEdits == EditsAccept && q >= 0:
		w.metrics.manualEdits.WithLabelValues("accepted").Inc()
		w.log.Warn("stock manual edit accepted", attrs...)
		s.own(off, now)
		w.edits = append(w.edits, wire.StoreEdit{ID: newEditID(), SKU: s.sku, From: q - off, To: q, EditedAt: now.UTC()})
		return false
	case edited:
		w.metrics.manualEdits.WithLabelValues("reverted").Inc()
		w.editsReverted.Add(1)
		w.log.Warn("stock manual edit reverted", attrs...)
		s.diff().editLeft = true
	default:
		w.metrics.repairs.Inc()
		w.log.Warn("stock repaired", attrs...)
	}
	if s.fix == 0 {
		s.fixAt = stampOf(now)
	}
	s.fix -= off
	w.work[s] = struct{}{}
	return true
}

// reportEdits hands the hand edits the round accepted to ReportEdit. One
// it fails to take is taken back out of what the store should show, and
// the safety net finds it again.
func (w *Writer) reportEdits(ctx context.Context) {
	w.mu.Lock()
	edits := w.edits
	w.edits = nil
	w.mu.Unlock()
	for _, e := range edits {
		err := w.cfg.ReportEdit(ctx, e)
		if err == nil {
			continue
		}
		w.log.Error("accepted stock edit not stored for the hub; it will be found again", "sku", e.SKU, "from", e.From, "to", e.To, "error", err)
		w.mu.Lock()
		if s := w.skus[e.SKU]; s != nil {
			s.disown(e.To - e.From)
		}
		w.mu.Unlock()
	}
}

// newEditID draws the id of an accepted edit: it makes the hub count a
// resent report once.
func newEditID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand never fails on Linux
	}
	return hex.EncodeToString(b[:])
}

// unreportedOverlap is how far before a difference the orders that may
// explain it are looked for (modified_after is strict and second-grained,
// and a webhook may have been lost well before the difference showed).
const unreportedOverlap = 10 * time.Second

// checkLow settles the figures confirmed too low: before raising one, it
// reads the store's orders modified since the difference began and the
// figures again, and counts the sales the writer has not been told of (a
// webhook lost or late, the poll not round yet) as sold. Only what they
// do not explain is corrected: raising a figure on an unreported sale
// would sell the unit twice.
func (w *Writer) checkLow(ctx context.Context, skus []string, since time.Time) (bool, error) {
	start := w.now()
	// Figures first: a sale between the two reads then counts as
	// unreported without being in the figure, and less is raised.
	reads, err := w.readSKUs(ctx, skus)
	if err != nil {
		return false, fmt.Errorf("safety net read: %w", err)
	}
	orders, err := w.recentOrders(ctx, since.Add(-unreportedOverlap))
	if err != nil {
		return false, fmt.Errorf("safety net read of recent orders: %w", err)
	}
	now := w.now()
	fixed := false
	w.mu.Lock()
	defer w.mu.Unlock()
	unreported := w.unreported(orders)
	for _, sku := range skus {
		s := w.skus[sku]
		var low int64
		var lowEdit bool
		if s.d != nil {
			low, lowEdit = s.d.low, s.d.lowEdit
			s.d.low = 0
		}
		p, ok := reads[sku]
		if !ok || low >= 0 || p.ID != s.id || p.StockQuantity == nil || s.inflight || s.abs || !s.writtenAt.Time().Before(start) {
			continue
		}
		q, should := *p.StockQuantity, s.shouldShow()
		gap := q - should + unreported[sku]
		if gap >= 0 {
			continue
		}
		if w.correct(s, max(gap, low), lowEdit, q, should, now) {
			fixed = true
		}
	}
	return fixed, nil
}

// recentOrdersWindow is how far back the safety net looks for sales the
// writer has not been told of when a figure differs: past the order poll's
// interval and overlap, with margin.
const recentOrdersWindow = 20 * time.Second

// anyDifference reports whether a sample differs from what the store
// should show, before unreported sales.
func (w *Writer) anyDifference(samples map[string]woo.Product) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	for sku, p := range samples {
		if s := w.skus[sku]; p.StockQuantity != nil && *p.StockQuantity != s.shouldShow() {
			return true
		}
	}
	return false
}

// unreported sums, per SKU, the units that orders among orders moved in
// the store and that the writer has not been told of: a sale not reported
// yet counts its units, a cancellation (a restock) not reported yet counts
// them negative. Caller holds mu.
func (w *Writer) unreported(orders []woo.Order) map[string]int64 {
	out := map[string]int64{}
	for _, o := range orders {
		// The writer's own record is the freshest; past its memory, what
		// the outbox reported.
		wasReduced := false
		if seen, ok := w.orders[o.ID]; ok {
			wasReduced = seen.reduced
		} else if rep, ok := w.cfg.Reported(o.ID); ok {
			wasReduced = rep.StockReduced
		}
		reduced := woo.StockReduced(o.LineItems)
		effect, _ := woo.StockEffect(wasReduced, o.Status, &reduced)
		if effect == 0 {
			continue
		}
		for _, l := range o.LineItems {
			if l.SKU != nil {
				out[*l.SKU] -= effect * l.Quantity
			}
		}
	}
	return out
}

// recentOrders reads the store's orders modified after since (at most
// maxModifiedPages pages).
func (w *Writer) recentOrders(ctx context.Context, since time.Time) ([]woo.Order, error) {
	var out []woo.Order
	for page := 1; page <= maxModifiedPages; page++ {
		os, pg, err := w.cfg.API.ListOrders(ctx, wooclient.OrderQuery{ModifiedAfter: since, Page: page, PerPage: 100,
			Fields: []string{"id", "status", "line_items"}})
		if err != nil {
			return nil, err
		}
		out = append(out, os...)
		if len(os) == 0 || page >= pg.TotalPages {
			break
		}
	}
	return out, nil
}

func abs(n int64) int64 {
	if n < 0 {
		return -n
	}
	return n
}
