// The safety net: store figures that differ from the hub's target with
// nothing in flight are suspected, confirmed by a second read ConfirmDelay
// later, and corrected (repairs_total), or, for a hand edit seen through a
// product webhook, reverted or accepted as StoreEdits says. Under the
// allocate policy it only ever lowers a figure.

package stock

import (
	"context"
	"fmt"
	"sort"

	"github.com/stockwire/stockwire/shared/woo"
)

// ProductChanged takes a product or variation as a product.updated webhook
// (or any read) shows it. A figure explained by the writer's own write or
// equal to the hub's target is fine; any other difference is suspected as a
// manual edit and re-read after ConfirmDelay, then reverted (or accepted).
func (w *Writer) ProductChanged(ctx context.Context, p woo.Product) error {
	if p.StockQuantity == nil || p.SKU == "" {
		return nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	s, ok := w.skus[p.SKU]
	if !ok || !s.resolved || s.skip != "" || s.id != p.ID || !s.hasTarget {
		return nil
	}
	if s.pending() || s.inflight {
		return nil // the write in progress decides
	}
	q := *p.StockQuantity
	seq, _ := metaSeq(p)
	switch {
	case q == s.target:
		s.suspect = false
	case s.expectValid && seq == s.storeSeq && q == s.expectQty:
		// Our own write's echo; a later local sale will adjust target.
	default:
		if !s.suspect || s.suspectQty != q {
			s.suspect, s.suspectQty, s.suspectAt = true, q, w.now()
		}
		s.manual = true
		// Debug: every sale in this store shows here until the hub has
		// committed its order; the safety net logs what it corrects.
		w.log.Debug("stock differs from hub target", "sku", p.SKU, "product_id", p.ID, "store_qty", q, "target", s.target)
	}
	return nil
}

// check is the safety net: it reads recently written, suspect and a
// rotating slice of other SKUs, and corrects differences confirmed by two
// reads ConfirmDelay apart while nothing is in flight and Quiet holds.
func (w *Writer) check(ctx context.Context) error {
	defer func() {
		w.mu.Lock()
		w.checks++
		w.mu.Unlock()
	}()
	if !w.cfg.Quiet() {
		return nil
	}
	now := w.now()
	w.mu.Lock()
	var pick []string
	var rest []string
	for sku, s := range w.skus {
		if !s.hasTarget || !s.resolved || s.skip != "" || s.pending() || s.inflight {
			continue
		}
		if s.suspect || now.Sub(s.writtenAt) < 2*w.cfg.ConfirmDelay+w.cfg.CheckInterval {
			pick = append(pick, sku)
		} else {
			rest = append(rest, sku)
		}
	}
	sort.Strings(rest)
	start := sort.SearchStrings(rest, w.checkCursor)
	for n := range min(w.cfg.CheckBatch, len(rest)) {
		sku := rest[(start+n)%len(rest)]
		pick = append(pick, sku)
		w.checkCursor = sku + "\x00"
	}
	w.mu.Unlock()
	if len(pick) == 0 {
		return nil
	}
	reads, err := w.readSKUs(ctx, pick)
	if err != nil {
		return fmt.Errorf("safety net read: %w", err)
	}
	quiet := w.cfg.Quiet()
	now = w.now()
	fix := false
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, sku := range pick {
		s := w.skus[sku]
		p, ok := reads[sku]
		if !ok || p.ID != s.id || p.StockQuantity == nil || s.pending() || s.inflight || !s.hasTarget {
			continue
		}
		q := *p.StockQuantity
		if q == s.target || w.allocate && q < s.target {
			s.suspect, s.manual = false, false
			continue
		}
		if !s.suspect || s.suspectQty != q {
			s.suspect, s.suspectQty, s.suspectAt = true, q, now
			continue
		}
		if now.Sub(s.suspectAt) < w.cfg.ConfirmDelay || !quiet {
			continue
		}
		manual := s.manual
		s.suspect, s.manual = false, false
		if manual && w.cfg.StoreEdits == EditsAccept {
			w.metrics.manualEdits.WithLabelValues("accepted").Inc()
			w.log.Warn("stock manual edit accepted", "sku", sku, "product_id", s.id, "store_qty", q, "target", s.target)
			s.target = q
			continue
		}
		if manual {
			w.metrics.manualEdits.WithLabelValues("reverted").Inc()
			w.log.Warn("stock manual edit reverted", "sku", sku, "product_id", s.id, "store_qty", q, "target", s.target)
		} else {
			w.metrics.repairs.Inc()
			w.log.Warn("stock repaired", "sku", sku, "product_id", s.id, "store_qty", q, "target", s.target)
		}
		s.abs, s.absSeq, s.absReason, s.absAt = true, s.storeSeq, "repair", now
		fix = true
	}
	if fix {
		w.signal()
	}
	return nil
}
