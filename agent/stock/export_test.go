package stock

// Checks returns how many safety-net rounds ran.
func (w *Writer) Checks() int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.checks
}

// Deferred reports whether the last round held a snapshot write back for
// local orders not reported yet.
func (w *Writer) Deferred() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.held > 0
}

// SaveState writes the state file now, as Run does every SaveEvery.
func (w *Writer) SaveState() error { return w.save() }

// Target returns the hub's target the writer holds for sku, and the
// sequence that set it.
func (w *Writer) Target(sku string) (target, seq int64, ok bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	s, found := w.skus[sku]
	if !found || !s.hasTarget {
		return 0, 0, false
	}
	return s.target, s.targetSeq, true
}

// MarkUnsaved makes the next SaveState write the state file, as a moved
// target does.
func (w *Writer) MarkUnsaved() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.dirty = true
}
