package stock

// Checks returns how many safety-net rounds ran.
func (w *Writer) Checks() int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.checks
}
