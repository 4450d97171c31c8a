package hooks

// Reached reports whether a ping or a delivery reached the agent since the
// webhooks were last registered, as the manager's warning sees it.
func (m *Manager) Reached() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.reached()
}

// Check runs the check Run makes every tick.
func (m *Manager) Check() { m.check() }
