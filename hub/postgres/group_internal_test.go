package postgres

import (
	"context"
	"errors"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestGroup: a lone request runs at once; what queues while a batch runs
// goes into the next batch, at most one per key, in arrival order, and the
// goroutine stops when the queue is empty.
func TestGroup(t *testing.T) {
	type req struct {
		key, n int
		done   chan reply[int]
	}
	release := make(chan struct{})
	var mu sync.Mutex
	var batches [][]int
	g := &group[*req]{life: MustLifetime(t), take: onePerKey(3, func(q *req) int { return q.key })}
	g.run = func(ctx context.Context, batch []*req) {
		var ns []int
		for _, q := range batch {
			ns = append(ns, q.n)
		}
		mu.Lock()
		batches = append(batches, ns)
		first := len(batches) == 1
		mu.Unlock()
		if first {
			<-release // hold the first batch while more queue
		}
		for _, q := range batch {
			q.done <- reply[int]{val: q.n * 10}
		}
	}
	submit := func(key, n int) chan reply[int] {
		q := &req{key: key, n: n, done: make(chan reply[int], 1)}
		g.submit(q)
		return q.done
	}
	first := submit(1, 1)
	// The first batch is running (and held) once its goroutine took it.
	for {
		g.mu.Lock()
		taken := len(g.pending) == 0
		g.mu.Unlock()
		if taken {
			break
		}
	}
	var dones []chan reply[int]
	for i, key := range []int{1, 2, 1, 3, 4, 5} {
		dones = append(dones, submit(key, i+2))
	}
	close(release)
	if r := <-first; r.val != 10 {
		t.Fatalf("first reply %+v", r)
	}
	for i, d := range dones {
		if r := <-d; r.val != (i+2)*10 || r.err != nil {
			t.Fatalf("reply %d: %+v", i, r)
		}
	}
	// Queued: n=2 (key 1), 3 (key 2), 4 (key 1 again), 5 (key 3), 6, 7.
	want := [][]int{{1}, {2, 3, 5}, {4, 6, 7}}
	mu.Lock()
	defer mu.Unlock()
	if !slices.EqualFunc(batches, want, slices.Equal) {
		t.Fatalf("batches %v, want %v", batches, want)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	for g.running {
		g.mu.Unlock()
		g.mu.Lock()
	}
}

// TestGroup_Linger: after a batch of three, the next batch waits until
// three are queued again (the linger is long, so arrivals end the wait).
func TestGroup_Linger(t *testing.T) {
	type req struct {
		n    int
		done chan reply[int]
	}
	hold := make(chan struct{})
	ran := make(chan []int, 10)
	g := &group[*req]{life: MustLifetime(t), take: firstN[*req](10), linger: 10 * time.Second}
	g.run = func(ctx context.Context, batch []*req) {
		var ns []int
		for _, q := range batch {
			ns = append(ns, q.n)
		}
		if ns[0] == 1 {
			<-hold
		}
		ran <- ns
		for _, q := range batch {
			q.done <- reply[int]{val: q.n}
		}
	}
	submit := func(n int) chan reply[int] {
		q := &req{n: n, done: make(chan reply[int], 1)}
		g.submit(q)
		return q.done
	}
	// Batch {1} runs alone (held); 2, 3, 4 queue behind it.
	d1 := submit(1)
	for {
		g.mu.Lock()
		taken := len(g.pending) == 0
		g.mu.Unlock()
		if taken {
			break
		}
		runtime.Gosched()
	}
	var ds []chan reply[int]
	for n := 2; n <= 4; n++ {
		ds = append(ds, submit(n))
	}
	close(hold)
	for _, d := range append(ds, d1) {
		<-d
	}
	// The previous batch held three: 5 and 6 wait for 7, which comes
	// after the first of them may already have been looked at.
	d5, d6 := submit(5), submit(6)
	runtime.Gosched()
	d7 := submit(7)
	for _, d := range []chan reply[int]{d5, d6, d7} {
		<-d
	}
	close(ran)
	var got [][]int
	for b := range ran {
		got = append(got, b)
	}
	want := [][]int{{1}, {2, 3, 4}, {5, 6, 7}}
	if !slices.EqualFunc(got, want, slices.Equal) {
		t.Fatalf("batches %v, want %v", got, want)
	}
}

// MustLifetime returns a lifetime closed when tb ends.
func MustLifetime(tb testing.TB) *lifetime {
	tb.Helper()
	l := newLifetime()
	tb.Cleanup(l.close)
	return l
}

// TestGroup_Close: closing the lifetime cancels the running batch and waits
// for its goroutine; a request submitted afterwards fails at once.
func TestGroup_Close(t *testing.T) {
	type req struct {
		done chan reply[int]
	}
	life := newLifetime()
	started := make(chan struct{})
	var ended atomic.Bool
	g := &group[*req]{life: life, take: firstN[*req](10),
		fail: func(q *req, err error) { q.done <- reply[int]{err: err} }}
	g.run = func(ctx context.Context, batch []*req) {
		close(started)
		<-ctx.Done() // a batch stuck on the database until Close
		for _, q := range batch {
			q.done <- reply[int]{err: ctx.Err()}
		}
		ended.Store(true)
	}
	first := &req{done: make(chan reply[int], 1)}
	g.submit(first)
	<-started
	life.close()
	if !ended.Load() {
		t.Fatal("close returned before the running batch ended")
	}
	if r := <-first.done; !errors.Is(r.err, context.Canceled) {
		t.Fatalf("running batch's reply %+v, want context.Canceled", r)
	}
	late := &req{done: make(chan reply[int], 1)}
	g.submit(late)
	select {
	case r := <-late.done:
		if !errors.Is(r.err, errDBClosed) {
			t.Fatalf("late reply %+v, want errDBClosed", r)
		}
	default:
		t.Fatal("a request submitted after close was not failed at once")
	}
}
