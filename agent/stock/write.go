// The write path: a round takes every SKU with pending work, reads those it
// must (not resolved yet, store sequence unknown, or set to an absolute
// figure), folds each SKU's changes into one inventory_delta with the
// highest stockwire_seq, writes them in batches (products together,
// variations per parent), and settles writes whose outcome is unknown by
// reading stockwire_seq back.

package stock

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/stockwire/stockwire/agent/wooclient"
	"github.com/stockwire/stockwire/shared/backoff"
	"github.com/stockwire/stockwire/shared/woo"
)

// work is one SKU's write in a round.
type work struct {
	s     *skuState
	n     int    // pending changes taken
	delta int64  // to write
	fix   int64  // part of delta that is the safety net's fix
	seq   int64  // stockwire_seq to write
	epoch string // the epoch seq counts in
	// quietAt: nothing of the store's own was waiting for the hub then
	// (an abs write is taken only so).
	quietAt  time.Time
	arrived  time.Time
	abs      bool
	coalesce int
}

// flush runs one round: it takes the pending SKUs (at most RoundSKUs,
// the hub's changes before a snapshot's writes), resolves and reads those
// that need it, writes, and persists AppliedSeq. more reports that work
// is left or arrived meanwhile.
func (w *Writer) flush(ctx context.Context) (more bool, err error) {
	ctx = wooclient.Urgent(ctx) // ahead of order polls and safety-net checks
	quietAt := w.now()
	quiet := w.cfg.Quiet()
	w.mu.Lock()
	wasHeld := w.held > 0
	w.held = 0
	type candidate struct {
		s    *skuState
		read bool // to read first
	}
	var cands []candidate
	now := w.now()
	// consider returns s as a candidate of this round, or false when its
	// pending work was dropped (a SKU the store does not have).
	consider := func(s *skuState) (candidate, bool) {
		// The map says where the SKU lives now: a SKU that was unknown and
		// has turned up (scan, webhook) is looked up again at once, and
		// one that moved to another item, or left the map (deleted), is
		// read afresh.
		entry, mapped := w.cfg.SKUs.Lookup(s.sku)
		if s.resolved && s.skip != skipNone && now.Sub(s.resolvedAt.Time()) < w.cfg.ResolveTTL && !(mapped && s.skip != skipUnmanaged) {
			w.dropPending(s, s.skip.String())
			return candidate{}, false
		}
		moved := s.resolved && s.skip == skipNone && (!mapped || entry.ID() != s.id)
		return candidate{s: s, read: !s.resolved || s.skip != skipNone || !s.seqKnown || s.abs || moved}, true
	}
	absPending := 0
	for s := range w.work {
		if !s.pending() {
			delete(w.work, s)
			continue
		}
		if s.inflight {
			continue
		}
		if s.abs {
			absPending++ // taken below, in the snapshot's order
			continue
		}
		if c, ok := consider(s); ok {
			cands = append(cands, c)
		}
	}
	// A snapshot sets the store to the hub's figure, which does not yet
	// count local orders still waiting to be reported: writing it now
	// would put those sold units back on sale. Wait until they are
	// reported; the hub's events then carry the right target.
	if !quiet {
		w.held = absPending
	} else {
		// A snapshot of a large store goes out in rounds of RoundSKUs, in
		// SKU order (a variable product's variations, whose SKUs
		// usually share a stem, share their batch): what a round holds
		// stays small, and the products' stockwire_seq record the
		// progress, so an agent restarted halfway writes only what is
		// left. The hub's changes go first.
		for len(w.absOrder) > 0 && !w.absOrder[0].abs {
			w.absOrder = w.absOrder[1:]
		}
		for _, s := range w.absOrder {
			if len(cands) >= w.cfg.RoundSKUs {
				more = true
				break
			}
			if !s.abs || s.inflight {
				continue
			}
			if c, ok := consider(s); ok {
				cands = append(cands, c)
			}
		}
		if len(w.absOrder) == 0 {
			w.absOrder = nil
		}
	}
	take := make([]*skuState, len(cands))
	var need []string // SKUs to read first
	needSet := map[string]bool{}
	for i, c := range cands {
		c.s.inflight = true
		take[i] = c.s
		if c.read {
			need = append(need, c.s.sku)
			needSet[c.s.sku] = true
		}
	}
	held := w.held
	w.mu.Unlock()
	if held > 0 && !wasHeld {
		w.log.Info("snapshot writes held until the store's own orders are reported", "skus", held)
	}
	if len(take) == 0 {
		w.advance()
		return more, nil
	}
	// AppliedSeq moves only once the SKUs are no longer in flight: whoever
	// sees it move (a test, the relay) may then hand the writer the store's
	// next figures for them.
	defer func() {
		w.mu.Lock()
		for _, s := range take {
			s.inflight = false
			if s.pending() {
				more = true
			}
		}
		w.mu.Unlock()
		w.advance()
	}()

	reads, err := w.readSKUs(ctx, need)
	if err != nil {
		return false, err
	}

	// Build the writes.
	var works []*work
	w.mu.Lock()
	for _, s := range take {
		if needSet[s.sku] {
			w.resolve(s, reads[s.sku], now)
		}
		if s.skip != skipNone {
			w.dropPending(s, s.skip.String())
			continue
		}
		wk := &work{s: s, n: len(s.changes), abs: s.abs, epoch: w.epoch, quietAt: quietAt}
		if len(s.changes) > 0 {
			wk.arrived = s.changes[0].at.Time()
		}
		if s.abs && s.absAt != 0 && (wk.arrived.IsZero() || s.absAt.Time().Before(wk.arrived)) {
			wk.arrived = s.absAt.Time()
		}
		if s.fix != 0 && (wk.arrived.IsZero() || s.fixAt.Time().Before(wk.arrived)) {
			wk.arrived = s.fixAt.Time()
		}
		var included int
		moves := false // a change included has units to write
		for _, c := range s.changes {
			if s.seqKnown && c.Seq <= s.storeSeq {
				continue // already in the store
			}
			included++
			moves = moves || c.Delta != 0
			wk.delta += c.Delta
			wk.seq = max(wk.seq, c.Seq)
		}
		if s.abs {
			cur := reads[s.sku]
			if cur.StockQuantity == nil {
				w.dropPending(s, "unmanaged")
				continue
			}
			wk.delta = s.target - *cur.StockQuantity
			wk.seq = max(wk.seq, s.absSeq, s.storeSeq)
		} else {
			wk.fix = s.fix
			wk.delta += s.fix
		}
		wk.seq = max(wk.seq, s.storeSeq)
		wk.coalesce = max(included-1, 0)
		// Nothing to add: the hub's counts of the store's own sales need
		// no write (a replay of them adds nothing either), and neither
		// does a snapshot figure the store already shows, with no change
		// after it: its stockwire_seq may stay behind, since AppliedSeq
		// does not pass the snapshot's base before every figure of it is
		// in the store (advance), so the hub never replays what the
		// snapshot covers. An agent restarted in its first sync thus
		// writes only what is left, even when the hub's head moved.
		if wk.delta == 0 && (wk.seq <= s.storeSeq || !s.abs && !moves || s.abs && included == 0) {
			w.finish(s, wk, nil, now)
			if wk.abs {
				s.storeSeq = max(s.storeSeq, s.absSeq)
			}
			continue
		}
		works = append(works, wk)
	}
	w.mu.Unlock()

	// Group: products in one batch, variations per parent.
	groups := map[int64][]*work{}
	for _, wk := range works {
		groups[wk.s.parent] = append(groups[wk.s.parent], wk)
	}
	parents := make([]int64, 0, len(groups))
	for p := range groups {
		parents = append(parents, p)
	}
	sort.Slice(parents, func(i, j int) bool { return parents[i] < parents[j] })
	var firstErr error
	for _, parent := range parents {
		g := groups[parent]
		for start := 0; start < len(g); start += wooclient.MaxBatch {
			chunk := g[start:min(start+wooclient.MaxBatch, len(g))]
			if err := w.write(ctx, parent, chunk); err != nil && firstErr == nil {
				firstErr = err
			}
		}
	}
	return more, firstErr
}

// resolve records what the store said about s (r is zero when the SKU was
// not found). Caller holds mu.
func (w *Writer) resolve(s *skuState, r woo.Product, now time.Time) {
	s.resolved, s.resolvedAt = true, stampOf(now)
	switch {
	case r.ID == -1:
		s.skip = skipAmbiguous
	case r.ID == 0:
		s.skip = skipUnknown
	case string(r.ManageStock) != "true":
		s.skip = skipUnmanaged
	default:
		s.skip = skipNone
		s.id = r.ID
		s.parent = 0
		if r.Type == "variation" {
			s.parent = r.ParentID
		}
		if seq, ok := w.markerSeq(r); ok {
			s.storeSeq = max(seq, s.storeSeq)
		}
		s.seqKnown = true
		return
	}
	w.log.Warn("stock sku skipped", "sku", s.sku, "reason", s.skip.String())
}

// dropPending discards s's pending work. Caller holds mu.
func (w *Writer) dropPending(s *skuState, reason string) {
	n := len(s.changes)
	if s.abs {
		n++
	}
	if n > 0 {
		w.metrics.skipped.WithLabelValues(reason).Add(float64(n))
	}
	s.changes, s.abs = nil, false
}

// finish records a confirmed write (p is the store's answer, nil when
// nothing needed writing). Caller holds mu.
func (w *Writer) finish(s *skuState, wk *work, p *woo.Product, now time.Time) {
	if wk.epoch != w.epoch {
		return // Welcome voided what the write was for
	}
	n := min(wk.n, len(s.changes))
	s.changes = append(s.changes[:0:0], s.changes[n:]...)
	s.abs = s.abs && !wk.abs
	if wk.abs && !s.ownAt.Time().After(wk.quietAt) {
		// The store's own effects before the write were all counted by
		// the hub: in the snapshot's target, or in a change after it,
		// whose count of them then finds nothing left to clear.
		s.sold, s.restocked = 0, 0
	}
	s.fix -= wk.fix
	s.failures = 0
	if p == nil {
		return
	}
	s.storeSeq = max(s.storeSeq, wk.seq)
	s.seqKnown = true
	s.writtenAt = stampOf(now)
	w.echoes.written(s, now, w.cfg.EchoWindow)
	w.metrics.writes.WithLabelValues("ok").Inc()
	w.metrics.coalesced.Add(float64(wk.coalesce))
	if !wk.arrived.IsZero() {
		w.metrics.writeLatency.Observe(now.Sub(wk.arrived).Seconds())
	}
}

// readSKUs reads the given SKUs (100 per request). A SKU found more than
// once maps to ID -1; a SKU not found is absent.
func (w *Writer) readSKUs(ctx context.Context, skus []string) (map[string]woo.Product, error) {
	out := map[string]woo.Product{}
	var list []string
	for _, sku := range skus {
		if strings.Contains(sku, ",") {
			continue // cannot be looked up exactly: reads as unknown
		}
		list = append(list, sku)
	}
	sort.Strings(list)
	for start := 0; start < len(list); start += 100 {
		chunk := list[start:min(start+100, len(list))]
		want := map[string]bool{}
		for _, s := range chunk {
			want[s] = true
		}
		found := map[string][]woo.Product{}
		for page := 1; ; page++ {
			ps, pg, err := w.cfg.API.ListProducts(ctx, wooclient.ProductQuery{SKU: strings.Join(chunk, ","), Page: page, PerPage: 100, Fields: readFields})
			if err != nil {
				return nil, fmt.Errorf("read %d skus: %w", len(chunk), err)
			}
			for _, p := range ps {
				if !want[p.SKU] {
					continue
				}
				p.MetaData = ownMeta(p.MetaData)
				found[p.SKU] = append(found[p.SKU], p)
				if prev, dup := out[p.SKU]; dup && prev.ID != p.ID {
					out[p.SKU] = woo.Product{ID: -1}
					continue
				}
				out[p.SKU] = p
			}
			if len(ps) == 0 || page >= pg.TotalPages {
				break
			}
		}
		// What the store said is the freshest news for the agent's SKU map.
		for _, sku := range chunk {
			w.cfg.SKUs.Found(sku, found[sku])
		}
	}
	return out, nil
}

// ownMeta returns the writer's own entries of a product's meta (a store's
// products carry many others), in a slice of their own, so that a round's
// reads hold no more of the answer than that.
func ownMeta(md []woo.MetaData) []woo.MetaData {
	var out []woo.MetaData
	for _, m := range md {
		if m.Key == MetaKey || m.Key == ReclaimMetaKey {
			out = append(out, m)
		}
	}
	return out
}

// write sends one batch and records the results.
func (w *Writer) write(ctx context.Context, parent int64, chunk []*work) error {
	ups := make([]wooclient.ProductUpdate, len(chunk))
	w.mu.Lock()
	for i, wk := range chunk {
		d := wk.delta
		ups[i] = wooclient.ProductUpdate{ID: wk.s.id, InventoryDelta: &d}
		if m, ok := w.marker(wk.seq); ok {
			ups[i].MetaData = []woo.MetaData{{Key: MetaKey, Value: json.RawMessage(strconv.Quote(m))}}
		}
	}
	w.mu.Unlock()
	w.metrics.batches.Inc()
	var res []wooclient.BatchResult
	var err error
	if parent == 0 {
		res, err = w.cfg.API.BatchUpdateProducts(ctx, ups)
	} else {
		res, err = w.cfg.API.BatchUpdateVariations(ctx, parent, ups)
	}
	now := w.now()
	if err != nil {
		if errors.Is(err, wooclient.ErrOutcomeUnknown) {
			w.metrics.writes.WithLabelValues("unknown_outcome").Add(float64(len(chunk)))
			return w.verify(ctx, chunk)
		}
		return fmt.Errorf("write stock of %d skus: %w", len(chunk), err)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	byID := map[int64]wooclient.BatchResult{}
	for _, r := range res {
		byID[r.ID] = r
	}
	for _, wk := range chunk {
		r, ok := byID[wk.s.id]
		switch {
		case ok && r.Err == nil:
			p := r.Product
			w.finish(wk.s, wk, &p, now)
		default:
			// Refused (e.g. deleted since resolved): look it up again, give
			// up after a few tries.
			w.metrics.writes.WithLabelValues("rejected").Inc()
			wk.s.resolved = false
			wk.s.failures++
			msg := "missing from answer"
			if ok {
				msg = r.Err.Error()
			}
			w.log.Warn("stock write rejected", "sku", wk.s.sku, "product_id", wk.s.id, "error", msg, "attempt", wk.s.failures)
			if wk.s.failures >= 3 {
				w.dropPending(wk.s, "rejected")
			}
		}
	}
	return nil
}

// verify settles writes whose outcome is unknown by reading the products'
// stockwire_seq back: a seq at or above what was sent means applied.
func (w *Writer) verify(ctx context.Context, chunk []*work) error {
	skus := make([]string, len(chunk))
	for i, wk := range chunk {
		skus[i] = wk.s.sku
	}
	if err := backoff.Sleep(ctx, w.cfg.VerifyDelay); err != nil {
		return err
	}
	retryRead := backoff.Policy{Min: w.cfg.VerifyDelay, Max: 10 * time.Second}
	for attempt := 0; ; attempt++ {
		reads, err := w.readSKUs(ctx, skus)
		if err == nil {
			now := w.now()
			w.mu.Lock()
			for _, wk := range chunk {
				p := reads[wk.s.sku]
				seq, _ := w.markerSeq(p)
				if p.ID > 0 && seq >= wk.seq {
					w.finish(wk.s, wk, &p, now)
					continue
				}
				// Not applied: the changes stay pending and go out again.
				w.metrics.writes.WithLabelValues("not_applied").Inc()
				if p.ID > 0 {
					wk.s.storeSeq = max(wk.s.storeSeq, seq)
					wk.s.seqKnown = true
				}
			}
			w.mu.Unlock()
			return nil
		}
		wait := retryRead.Delay(attempt)
		w.log.Warn("stock write verify failed", "error", err, "attempt", attempt+1, "wait", wait)
		if err := backoff.Sleep(ctx, wait); err != nil {
			return err
		}
	}
}
