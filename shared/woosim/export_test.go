package woosim

// SetRaceReadHook sets a function run right after an update has read the
// stock inside the race_window_ms fault, so a test can act inside the window.
func SetRaceReadHook(s *Store, f func()) {
	s.mu.Lock()
	s.raceReadHook = f
	s.mu.Unlock()
}
