// The queue: what the hub sent and the store does not have yet. Apply and
// ApplySnapshot take the hub's changes into each SKU's pending work (a
// change at or below AppliedSeq, or already received, is dropped), and
// advance moves AppliedSeq past everything the store confirmed.

package stock

import (
	"slices"
	"strings"

	"github.com/stockwire/stockwire/shared/wire"
)

// AppliedChanged returns a channel that receives a value after AppliedSeq
// moves (several moves may share one value). It is meant for one reader,
// the relay, which reports the figure to the hub.
func (w *Writer) AppliedChanged() <-chan struct{} { return w.moved }

func (w *Writer) signal() {
	select {
	case w.kick <- struct{}{}:
	default:
	}
}

// Apply queues changes (in sequence order). Changes at or below AppliedSeq,
// or already received, are not written again. A change newer than the
// SKU's target also moves the target, and tells what the hub counted of
// the store's own orders (see counted). It does not wait for the writes.
func (w *Writer) Apply(changes []wire.Change) {
	now := w.now()
	w.mu.Lock()
	for _, c := range changes {
		s := w.state(c.SKU)
		if c.Seq > s.targetSeq {
			if s.hasTarget {
				w.counted(s, c.Target-s.target-c.Delta)
			}
			s.target, s.hasTarget, s.targetSeq = c.Target, true, c.Seq
			w.dirty = true
		}
		if c.Seq <= w.applied || c.Seq <= s.lastRecv || (s.abs && c.Seq <= s.absSeq) {
			continue
		}
		s.lastRecv = c.Seq
		s.changes = append(s.changes, queued{Change: c, at: stampOf(now)})
		w.work[s] = struct{}{}
		w.maxRecv = max(w.maxRecv, c.Seq)
	}
	w.mu.Unlock()
	w.signal()
}

// ApplySnapshot makes the store match targets as of seq: pending changes
// up to seq are dropped, and each SKU's store figure is read and set with
// inventory_delta = target − current.
func (w *Writer) ApplySnapshot(seq int64, targets map[string]int64) {
	now := w.now()
	w.mu.Lock()
	if !w.snapshotPending() {
		w.absBase = w.applied
	}
	for sku, t := range targets {
		s := w.state(sku)
		keep := 0
		for _, c := range s.changes {
			if c.Seq > seq {
				s.changes[keep] = c
				keep++
			}
		}
		s.changes = s.changes[:keep]
		if seq >= s.targetSeq {
			s.target, s.targetSeq = t, seq
		}
		s.hasTarget = true
		s.abs, s.absSeq, s.absAt = true, seq, stampOf(now)
		w.work[s] = struct{}{}
		s.fix = 0 // the snapshot write sets the figure whole
		s.lastRecv = max(s.lastRecv, seq)
	}
	w.dirty = true
	// Pending changes of SKUs absent from the snapshot are covered by it
	// too (the hub's figure for them is what the store has).
	for sku, s := range w.skus {
		if _, ok := targets[sku]; ok {
			continue
		}
		keep := 0
		for _, c := range s.changes {
			if c.Seq > seq {
				s.changes[keep] = c
				keep++
			}
		}
		s.changes = s.changes[:keep]
		s.lastRecv = max(s.lastRecv, seq)
	}
	w.absOrder = nil
	for _, s := range w.skus {
		if s.abs { // this snapshot's, or an earlier one's not written yet
			w.absOrder = append(w.absOrder, s)
		}
	}
	slices.SortFunc(w.absOrder, func(a, b *skuState) int { return strings.Compare(a.sku, b.sku) })
	w.maxRecv = max(w.maxRecv, seq)
	w.mu.Unlock()
	w.signal()
}

// snapshotPending reports whether a snapshot's writes are still pending.
// Caller holds mu.
func (w *Writer) snapshotPending() bool {
	for _, s := range w.skus {
		if s.abs {
			return true
		}
	}
	return false
}

// advance moves AppliedSeq up to the last seq before the first one still
// pending: every change up to it is in the store (or skipped). While a
// snapshot's writes are pending it stays where it was when the snapshot
// came (absBase): a restart then says so to the hub, which sends a new
// snapshot, instead of a figure past SKUs whose snapshot figure the store
// does not show yet, after which the hub would never send them.
func (w *Writer) advance() {
	w.mu.Lock()
	applied := w.maxRecv
	for s := range w.work {
		switch {
		case s.abs:
			applied = min(applied, w.absBase)
		case s.pending():
			applied = min(applied, s.firstPending()-1)
		default:
			delete(w.work, s)
		}
	}
	moved := applied > w.applied
	w.applied = max(w.applied, applied)
	w.mu.Unlock()
	if moved {
		select {
		case w.moved <- struct{}{}:
		default:
		}
	}
}
