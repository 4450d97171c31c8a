package console

import (
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"
)

// changeSignal wakes every waiting event stream at once: each waits on the
// current channel, which broadcast closes and replaces.
type changeSignal struct {
	mu sync.Mutex
	ch chan struct{} // guarded by mu; closed by the next broadcast
}

func newChangeSignal() changeSignal { return changeSignal{ch: make(chan struct{})} }

// wait returns the channel the next broadcast closes.
func (s *changeSignal) wait() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ch
}

func (s *changeSignal) broadcast() {
	s.mu.Lock()
	defer s.mu.Unlock()
	close(s.ch)
	s.ch = make(chan struct{})
}

// events streams "change" Server-Sent Events to a logged-in browser each
// time the change mark moves, until the client goes away, the console
// closes or the session ends (checked at each change). A comment line
// every PollInterval keeps proxies from timing the stream out.
func (c *Console) events(w http.ResponseWriter, r *http.Request) {
	s, err := c.session(r)
	if errors.Is(err, errNoSession) {
		http.Error(w, "Log in first.", http.StatusUnauthorized)
		return
	} else if err != nil {
		c.fail(w, r, session{}, err)
		return
	}
	rc := http.NewResponseController(w)
	ctx := r.Context()
	mark, err := c.Queries.ChangeMark(ctx)
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	if _, err := fmt.Fprint(w, "retry: 3000\n\n"); err != nil {
		return
	}
	_ = rc.Flush()
	tick := time.NewTicker(c.PollInterval)
	defer tick.Stop()
	for {
		woken := c.changed.wait()
		select {
		case <-ctx.Done():
			return
		case <-c.done:
			return
		case <-woken:
		case <-tick.C:
		}
		now, err := c.Queries.ChangeMark(ctx)
		if err != nil {
			if ctx.Err() == nil {
				c.Logger.Warn("console events: read change mark", "error", err)
			}
			return // the browser reconnects after retry
		}
		line := ": idle\n\n"
		if now != mark {
			if _, err := c.session(r); err != nil {
				return
			}
			mark, line = now, "event: change\ndata: {}\n\n"
		}
		if _, err := fmt.Fprint(w, line); err != nil {
			return
		}
		if err := rc.Flush(); err != nil {
			return
		}
		// A burst of notifications (a rush of sales) costs each stream
		// one look at the change mark per throttle, not one per sale.
		throttle := time.NewTimer(eventThrottle)
		select {
		case <-ctx.Done():
			throttle.Stop()
			return
		case <-c.done:
			throttle.Stop()
			return
		case <-throttle.C:
		}
	}
}

// eventThrottle is the least time between two looks at the change mark.
const eventThrottle = 300 * time.Millisecond
