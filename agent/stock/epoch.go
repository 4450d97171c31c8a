// The store's epoch: the hub names each store's change sequence with an
// epoch (wire.Welcome.Epoch), and the writer puts it into every
// stockwire_seq marker it writes ("<epoch>:<seq>"). A marker counts only
// within the writer's current epoch: one left in the products by an
// earlier registration of the store, by a history the hub lost (a
// database restored from a backup), or written before epochs, never makes
// the writer take a change for one the store already has. The epoch is
// kept in the state file with AppliedSeq, and the hello states both: the
// hub resumes only an agent in the store's current epoch and sends any
// other a snapshot, whose absolute writes need no marker to be right.

package stock

import (
	"github.com/stockwire/stockwire/shared/wire"
	"github.com/stockwire/stockwire/shared/woo"
)

// Epoch returns the epoch AppliedSeq counts in ("" before the first
// welcome).
func (w *Writer) Epoch() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.epoch
}

// Welcome takes the hub's welcome: the store's epoch and its head
// sequence. A new epoch makes everything the writer knew of the old
// sequence void: AppliedSeq, the changes not written yet (the hub sends a
// snapshot next), what it read of the products' markers.
func (w *Writer) Welcome(epoch string, head int64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.head, w.welcomed = head, true
	if epoch == w.epoch {
		return
	}
	if w.epoch != "" || w.applied > 0 {
		w.log.Warn("the hub's sequence for this store is a new one (store re-created, or the hub's history lost); stockwire_seq markers of the old one no longer count",
			"old_epoch", w.epoch, "epoch", epoch, "applied_seq", w.applied)
	}
	w.epoch = epoch
	w.applied, w.saved, w.maxRecv, w.absBase, w.absOrder = 0, 0, 0, 0, nil
	w.dirty = true
	w.staleMarkerSeen = false
	for _, s := range w.skus {
		s.storeSeq, s.seqKnown = 0, false
		s.target, s.hasTarget, s.targetSeq, s.lastRecv = 0, false, 0, 0
		s.changes, s.abs, s.fix = nil, false, 0
		s.d = nil
	}
}

// markerSeq returns the sequence of p's stockwire_seq marker when it counts
// in the current epoch. A marker of the current epoch beyond the hub's
// head at welcome and every change since cannot be one of this history:
// the hub lost the history that wrote it (restored from a backup while
// this agent's saved sequence lagged), and the same numbers now name
// other changes. It counts for nothing then, and the safety net settles
// the figure. Before the first welcome the head is unknown and the check
// waits. Caller holds mu.
func (w *Writer) markerSeq(p woo.Product) (int64, bool) {
	for _, m := range p.MetaData {
		if m.Key != MetaKey {
			continue
		}
		epoch, seq, ok := wire.ParseMarker(metaString(m.Value))
		if !ok || epoch != w.epoch || w.epoch == "" {
			return 0, false
		}
		if w.welcomed && seq > max(w.head, w.maxRecv) {
			w.metrics.staleMarkers.Inc()
			if !w.staleMarkerSeen {
				w.staleMarkerSeen = true
				w.log.Warn("a product's stockwire_seq is ahead of the hub's sequence (hub restored from a backup?); such markers are ignored",
					"sku", p.SKU, "product_id", p.ID, "marker_seq", seq, "head_seq", w.head)
			}
			return 0, false
		}
		return seq, true
	}
	return 0, false
}

// marker is the stockwire_seq value for seq in the current epoch; ok is
// false before the first welcome, when there is no epoch to name. Caller
// holds mu.
func (w *Writer) marker(seq int64) (string, bool) {
	if w.epoch == "" {
		return "", false
	}
	return wire.Marker(w.epoch, seq), true
}
