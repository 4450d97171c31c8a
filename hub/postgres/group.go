package postgres

import (
	"context"
	"errors"
	"sync"
	"time"
)

// group runs queued requests in batches, one batch at a time, on a
// goroutine that lives only while requests are queued. The goroutine
// belongs to the DB's lifetime: DB.Close cancels the batch's context and
// waits for it, and a request submitted after Close is failed at once. A lone request runs
// at once; whatever queues while a batch runs goes into the next one, so
// many concurrent callers share a few round trips (and commits) instead of
// queueing for the pool one by one. Each request carries its own way to
// answer its caller.
type group[Q any] struct {
	// take splits the queue (never empty) into the next batch (never
	// empty) and what stays queued.
	take func(pending []Q) (batch, rest []Q)
	// life owns the batch goroutine. Required.
	life *lifetime
	// run handles one batch and answers every request in it; ctx ends
	// when the DB closes.
	run func(ctx context.Context, batch []Q)
	// fail answers a request that cannot be run (the DB is closed).
	fail func(q Q, err error)
	// linger, when set, is how long a batch may wait for more requests
	// when fewer are queued than the previous batch held: callers that
	// each wait for their answer come back together, a few microseconds
	// apart, and without it the first one back would go alone and the
	// others wait a whole batch (PostgreSQL's commit_delay, in Go). When a
	// burst ends, one batch waits for nothing; after it, a lone caller's
	// batch holds one and the next lone caller goes at once.
	linger time.Duration

	mu      sync.Mutex
	pending []Q
	running bool
	last    int           // size of the previous batch
	arrived chan struct{} // signalled by submit, for a lingering loop; made by submit
}

// submit queues q, starting the batch goroutine if it is not running; after
// the DB closed it fails q with errDBClosed.
func (g *group[Q]) submit(q Q) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.running {
		if !g.life.start(g.loop) {
			g.fail(q, errDBClosed)
			return
		}
		g.running = true
	}
	g.pending = append(g.pending, q)
	if g.arrived == nil {
		g.arrived = make(chan struct{}, 1)
	}
	select {
	case g.arrived <- struct{}{}:
	default:
	}
}

func (g *group[Q]) loop() {
	for {
		g.mu.Lock()
		if len(g.pending) == 0 {
			g.running = false
			g.mu.Unlock()
			return
		}
		if g.linger > 0 && len(g.pending) < g.last {
			g.mu.Unlock()
			g.wait()
			g.mu.Lock()
		}
		batch, rest := g.take(g.pending)
		g.pending = rest
		g.last = len(batch)
		g.mu.Unlock()
		g.run(g.life.ctx, batch)
	}
}

// wait lingers until as many requests are queued as the previous batch
// held, or linger has passed.
func (g *group[Q]) wait() {
	t := time.NewTimer(g.linger)
	defer t.Stop()
	for {
		g.mu.Lock()
		enough, arrived := len(g.pending) >= g.last, g.arrived
		g.mu.Unlock()
		if enough {
			return
		}
		select {
		case <-arrived:
		case <-t.C:
			return
		}
	}
}

// firstN is a take that batches up to n requests in arrival order.
func firstN[Q any](n int) func([]Q) ([]Q, []Q) {
	return func(pending []Q) ([]Q, []Q) {
		k := min(n, len(pending))
		return pending[:k:k], pending[k:]
	}
}

// onePerKey is a take that batches up to n requests in arrival order, at
// most one per key: a later request with the same key waits for the next
// batch, so that it sees the earlier one's outcome.
func onePerKey[Q any, K comparable](n int, key func(Q) K) func([]Q) ([]Q, []Q) {
	return func(pending []Q) ([]Q, []Q) {
		var batch, rest []Q
		seen := map[K]bool{}
		for _, q := range pending {
			if len(batch) == n || seen[key(q)] {
				rest = append(rest, q)
				continue
			}
			seen[key(q)] = true
			batch = append(batch, q)
		}
		return batch, rest
	}
}

// errDBClosed fails the requests submitted after DB.Close.
var errDBClosed = errors.New("postgres: database closed")

// lifetime is the context and the goroutines of a DB's background work
// (the groups' batch loops): close cancels the one and waits for the
// others.
type lifetime struct {
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu     sync.Mutex
	closed bool // guarded by mu
}

func newLifetime() *lifetime {
	ctx, cancel := context.WithCancel(context.Background())
	return &lifetime{ctx: ctx, cancel: cancel}
}

// start runs fn on a goroutine that close waits for, unless close was
// called; it reports whether it did.
func (l *lifetime) start(fn func()) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return false
	}
	l.wg.Go(fn)
	return true
}

// close cancels the context and waits for every goroutine start ran. It
// is idempotent.
func (l *lifetime) close() {
	l.mu.Lock()
	l.closed = true
	l.mu.Unlock()
	l.cancel()
	l.wg.Wait()
}

// reply is a request's answer: its value or its error.
type reply[R any] struct {
	val R
	err error
}

// await waits for a request's reply, or for ctx to end.
func await[R any](ctx context.Context, done <-chan reply[R]) (R, error) {
	select {
	case r := <-done:
		return r.val, r.err
	case <-ctx.Done():
		var zero R
		return zero, ctx.Err()
	}
}
