package agent_test

import (
	"context"
	"runtime"
	"testing"
	"time"

	"github.com/stockwire/stockwire/agent"
	"github.com/stockwire/stockwire/shared/wire"
)

func TestWaiting(t *testing.T) {
	t.Parallel()
	t.Run("InOrderAndBounded", func(t *testing.T) {
		q := agent.NewCommandQueue()
		for i := range agent.MaxWaiting {
			if !q.Push(wire.OrderCommand{ID: int64(i + 1)}) {
				t.Fatalf("push %d refused below the bound", i+1)
			}
		}
		if q.Push(wire.OrderCommand{ID: -1}) {
			t.Fatal("push beyond the bound accepted")
		}
		for i := range agent.MaxWaiting {
			if c, ok := q.Pop(t.Context()); !ok || c.ID != int64(i+1) {
				t.Fatalf("pop %d = %d %v", i+1, c.ID, ok)
			}
		}
		if !q.Push(wire.OrderCommand{ID: 7}) {
			t.Fatal("push refused once emptied")
		}
	})
	t.Run("PopWaits", func(t *testing.T) {
		q := agent.NewCommandQueue()
		got := make(chan int64)
		go func() {
			c, _ := q.Pop(t.Context())
			got <- c.ID
		}()
		q.Push(wire.OrderCommand{ID: 3})
		select {
		case id := <-got:
			if id != 3 {
				t.Fatalf("popped %d, want 3", id)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("pop never woke for the push")
		}
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		if _, ok := q.Pop(ctx); ok {
			t.Fatal("pop on an empty queue with its context ended: ok")
		}
	})
}

// TestNewRelay_Small: a relay costs little before it has work; a
// multi-store agent holds one per store (issue 16). Its two buffered
// channels of 1,024 reclaims and order commands were 96 KB.
func TestNewRelay_Small(t *testing.T) {
	const n = 100
	relays := make([]*agent.Relay, n)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for i := range relays {
		relays[i] = agent.NewRelay(nil, nil, nil, "test")
	}
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(relays)
	if per := (after.TotalAlloc - before.TotalAlloc) / n; per > 8<<10 {
		t.Fatalf("a new relay allocates %d bytes, want at most 8 KiB", per)
	}
}
