// A FIFO between the hub connection's reader and a session loop.

package agent

import (
	"context"
	"sync"
)

// maxWaiting bounds the reclaims, and the order commands, waiting for
// their session loop; more are dropped for the hub to send again.
const maxWaiting = 1024

// waiting is a FIFO of at most maxWaiting items. Unlike a channel with a
// buffer that size, it holds memory only for the items in it: a store's
// relay is idle nearly always, and a multi-store agent has one per store
// (a channel of 1,024 order commands alone was 64 KB each, issue 16).
type waiting[T any] struct {
	mu    sync.Mutex
	items []T // guarded by mu
	ready chan struct{}
}

func newWaiting[T any]() *waiting[T] { return &waiting[T]{ready: make(chan struct{}, 1)} }

// push adds v, unless maxWaiting items wait already (false).
func (q *waiting[T]) push(v T) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.items) >= maxWaiting {
		return false
	}
	q.items = append(q.items, v)
	select {
	case q.ready <- struct{}{}:
	default:
	}
	return true
}

// pop takes the oldest item, waiting for one until ctx ends (false).
func (q *waiting[T]) pop(ctx context.Context) (T, bool) {
	for {
		q.mu.Lock()
		if len(q.items) > 0 {
			v := q.items[0]
			var zero T
			q.items[0] = zero
			if q.items = q.items[1:]; len(q.items) == 0 {
				q.items = nil // the memory goes with the last item
			}
			q.mu.Unlock()
			return v, true
		}
		q.mu.Unlock()
		select {
		case <-ctx.Done():
			var zero T
			return zero, false
		case <-q.ready:
		}
	}
}
