// Echoes: a store that delivers product webhooks sends the echo of each of
// the writer's writes (product.updated, Echo or ProductChanged). While
// every write's echo comes within EchoWindow, the webhooks name each
// change to the store as it happens, and the safety net's read of the
// modified products is only the backstop for a lost one: it then runs
// every SweepInterval instead of every CheckInterval. A single echo that
// does not come (a lost webhook, a store that queues them for WP-Cron)
// brings the read back to every CheckInterval for echoDistrust, and so
// does an order webhook the poll found late (WebhookLate). A store
// without webhooks never sends one: nothing is tracked, the read stays
// fast.

package stock

import "time"

// echoDistrust is how long after an echo failed to come the safety net
// keeps reading the modified products every CheckInterval.
const echoDistrust = time.Minute

// maxAwaited bounds the writes whose echo is awaited at once: enough to
// judge the webhooks by, without a map of every SKU a first sync of a
// large catalog writes within EchoWindow.
const maxAwaited = 1000

// echoWatch is what the writer knows of its writes' echoes. Guarded by
// Writer.mu.
type echoWatch struct {
	// due holds the SKUs written whose echo has not come, with the
	// moment it is late.
	due map[*skuState]time.Time
	// early holds the SKUs whose webhook came while their write was in
	// flight (a store may deliver before its answer reaches the writer),
	// with when it came.
	early map[*skuState]time.Time
	// webhooks is set once the store delivered a product webhook: only
	// then are echoes expected.
	webhooks bool
	// heard and missed are when an echo last came and when one was last
	// found late.
	heard, missed time.Time
}

func newEchoWatch() echoWatch {
	return echoWatch{due: map[*skuState]time.Time{}, early: map[*skuState]time.Time{}}
}

// written records a write of s the store confirmed at now.
func (e *echoWatch) written(s *skuState, now time.Time, window time.Duration) {
	if !e.webhooks {
		return
	}
	if _, ok := e.early[s]; ok {
		delete(e.early, s)
		e.heard = now
		return
	}
	if _, ok := e.due[s]; !ok && len(e.due) < maxAwaited {
		e.due[s] = now.Add(window)
	}
}

// delivered records a product webhook about s.
func (e *echoWatch) delivered(s *skuState, now time.Time) {
	e.webhooks = true
	if s.inflight {
		e.early[s] = now
		return
	}
	if _, ok := e.due[s]; ok {
		delete(e.due, s)
		e.heard = now
	}
}

// expire drops the echoes late at now, and the early webhooks no write
// answer claimed within window, and returns how many echoes were late.
func (e *echoWatch) expire(now time.Time, window time.Duration) int {
	late := 0
	for s, at := range e.due {
		if now.After(at) {
			delete(e.due, s)
			late++
		}
	}
	if late > 0 {
		e.missed = now
	}
	for s, at := range e.early {
		if now.Sub(at) > window {
			delete(e.early, s)
		}
	}
	return late
}

// WebhookLate tells the writer that a webhook of the store is late or
// lost: the order poll found an order whose delivery had not come seconds
// later. WooCommerce builds a delivery when it sends it, so a later
// webhook of a SKU (a sale's) carries the writer's marker too and stands
// in for a lost echo; the echoes alone cannot tell a store that loses a
// share of its webhooks. For echoDistrust the safety net then reads the
// modified products every CheckInterval.
func (w *Writer) WebhookLate() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.echoes.missed = w.now()
}

// trusted reports whether the echoes come: one did, none was late since,
// nor within echoDistrust.
func (e *echoWatch) trusted(now time.Time) bool {
	return !e.heard.IsZero() && e.heard.After(e.missed) && (e.missed.IsZero() || now.Sub(e.missed) >= echoDistrust)
}
