// The safety net: every CheckInterval it reads the products modified since
// its last look (modified_after, so a busy catalog costs one request), the
// SKUs it suspects, and every SweepInterval a rotating slice of the others
// (variations, which /products does not list, and edits that left
// date_modified alone). It compares each figure with what the store should
// show (accounting.go), whatever the traffic: a difference of one sign
// that stays over two reads ConfirmDelay apart (ConfirmLowDelay for a
// figure below, which an order not reported yet explains for a while) is
// a hand edit or a lost write, corrected by a relative write of the
// smallest difference seen, or adopted under StoreEdits "accept" when it is
// a hand edit.

package stock

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/stockwire/stockwire/agent/wooclient"
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
	if !ok || !s.resolved || s.skip != "" || s.id != p.ID || !s.hasTarget || s.inflight || s.abs {
		return nil
	}
	if q := *p.StockQuantity; q != s.shouldShow() {
		s.edited = true
		// Debug: a sale not reported yet shows here too; the safety net
		// logs what it corrects.
		w.log.Debug("stock differs from what the store should show", "sku", p.SKU, "product_id", p.ID, "store_qty", q, "should_show", s.shouldShow())
	}
	return nil
}

// check is one round of the safety net.
func (w *Writer) check(ctx context.Context) error {
	defer func() {
		w.mu.Lock()
		w.checks++
		w.mu.Unlock()
	}()
	start := w.now()
	modified, err := w.readModified(ctx)
	if err != nil {
		return fmt.Errorf("safety net read of modified products: %w", err)
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
		if s.resolved && s.skip == "" && s.id == p.ID {
			samples[p.SKU] = p
		} else if !s.inflight {
			pick = append(pick, p.SKU)
		}
	}
	for sku, s := range w.skus {
		if _, ok := samples[sku]; ok || !s.hasTarget || s.inflight || s.resolved && s.skip != "" {
			continue
		}
		if s.off != 0 || s.edited {
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
			if s.inflight || !s.writtenAt.Before(start) {
				continue
			}
			if p := reads[sku]; p.ID != s.id || !s.resolved {
				w.resolve(s, p, start)
			}
			if p, ok := reads[sku]; ok && s.skip == "" {
				samples[sku] = p
			}
		}
		w.mu.Unlock()
	}

	quiet := w.cfg.Quiet()
	now := w.now()
	fixed := false
	w.mu.Lock()
	defer w.mu.Unlock()
	for sku, p := range samples {
		if w.compare(w.skus[sku], p, start, now) {
			fixed = true
		}
	}
	for _, s := range w.skus {
		w.settle(s, quiet, now)
	}
	if fixed {
		w.signal()
	}
	return nil
}

// readModified returns the products modified since the last look, and
// moves the look's cursor to the newest date_modified among them. The
// first look starts one SweepInterval back.
func (w *Writer) readModified(ctx context.Context) ([]woo.Product, error) {
	if w.modCursor.IsZero() {
		w.modCursor = w.now().UTC().Add(-w.cfg.SweepInterval)
	}
	var out []woo.Product
	newest := w.modCursor
	for page := 1; page <= maxModifiedPages; page++ {
		ps, pg, err := w.cfg.API.ListProducts(ctx, wooclient.ProductQuery{ModifiedAfter: w.modCursor.Add(-modifiedOverlap),
			Page: page, PerPage: 100, Fields: modifiedFields})
		if err != nil {
			return nil, err
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
			break
		}
	}
	w.modCursor = newest
	return out, nil
}

// compare checks one read of s, started at start, against what the store
// should show, and queues a fix (or adopts a hand edit) once a difference
// is confirmed; it reports whether it queued a fix. A read that a write of
// s may have overtaken says nothing. Caller holds mu.
func (w *Writer) compare(s *skuState, p woo.Product, start, now time.Time) bool {
	if p.ID != s.id || p.StockQuantity == nil || s.inflight || s.abs || !s.hasTarget || !s.writtenAt.Before(start) {
		return false
	}
	q := *p.StockQuantity
	should := s.shouldShow()
	gap := q - should
	if gap == 0 {
		s.off, s.offReads, s.edited = 0, 0, false
		s.agreedAt = start
		return false
	}
	if s.off == 0 || (gap > 0) != (s.off > 0) {
		s.off, s.offSince, s.offReads = gap, start, 1
		return false
	}
	s.offReads++
	if abs(gap) < abs(s.off) {
		s.off = gap
	}
	wait := w.cfg.ConfirmDelay
	if gap < 0 {
		wait = w.cfg.ConfirmLowDelay
	}
	if start.Sub(s.offSince) < wait {
		return false
	}
	off := s.off
	// A write of ours that a checkout overtook inside WooCommerce's own
	// read-modify-write shows on the first read after it; without a
	// webhook naming the edit, a difference that came after the store
	// agreed with our last write (or with no write of ours) is a hand edit.
	edited := s.edited || s.writtenAt.IsZero() || s.agreedAt.After(s.writtenAt)
	s.off, s.offReads, s.edited = 0, 0, false
	attrs := []any{"sku", s.sku, "product_id", s.id, "store_qty", q, "should_show", should, "target", s.target, "difference", off}
	switch {
	case edited && w.cfg.StoreEdits == EditsAccept:
		w.metrics.manualEdits.WithLabelValues("accepted").Inc()
		w.log.Warn("stock manual edit accepted", attrs...)
		s.accepted += off
		return false
	case edited:
		w.metrics.manualEdits.WithLabelValues("reverted").Inc()
		w.log.Warn("stock manual edit reverted", attrs...)
	default:
		w.metrics.repairs.Inc()
		w.log.Warn("stock repaired", attrs...)
	}
	if s.fix == 0 {
		s.fixAt = now
	}
	s.fix -= off
	return true
}

func abs(n int64) int64 {
	if n < 0 {
		return -n
	}
	return n
}
