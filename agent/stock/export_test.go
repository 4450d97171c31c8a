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
