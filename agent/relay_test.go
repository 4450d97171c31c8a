package agent_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stockwire/stockwire/agent"
	"github.com/stockwire/stockwire/agent/outbox"
	"github.com/stockwire/stockwire/agent/stock"
	"github.com/stockwire/stockwire/agent/wooclient/wooclienttest"
	"github.com/stockwire/stockwire/shared/systest"
	"github.com/stockwire/stockwire/shared/wire"
	"github.com/stockwire/stockwire/shared/woosim"
	"github.com/stockwire/stockwire/shared/woosim/woosimtest"
)

// sent records what the relay sends to the hub.
type sent struct {
	mu       sync.Mutex
	released []wire.Released
	done     []wire.CommandDone
}

func (s *sent) Send(ctx context.Context, typ, id string, v any) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch typ {
	case wire.TypeReleased:
		s.released = append(s.released, v.(wire.Released))
	case wire.TypeDone:
		s.done = append(s.done, v.(wire.CommandDone))
	}
	return nil
}

func (s *sent) commandsDone() []wire.CommandDone {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]wire.CommandDone(nil), s.done...)
}

func (s *sent) answers() []wire.Released {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]wire.Released(nil), s.released...)
}

func TestRelay_ReclaimReleasedOnceAnsweredEachTime(t *testing.T) {
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	const key, secret = "ck_1111111111111111111111111111111111111111", "cs_2222222222222222222222222222222222222222"
	srv := woosimtest.Start(t, woosim.Options{ConsumerKey: key, ConsumerSecret: secret, Logger: logger}, woosim.SeedOptions{Products: 1, Stock: 10})
	sku := srv.Store.SKUs()[0]
	cl := wooclienttest.New(t, srv)
	dir := t.TempDir()
	w, err := stock.New(stock.Config{API: cl, DataDir: dir, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	ob, err := outbox.Open(filepath.Join(dir, "outbox.db"), outbox.Options{Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ob.Close() })
	r := agent.NewRelay(ob, w, logger, "test")

	ctx, cancel := context.WithCancel(t.Context())
	var hub sent
	done := make(chan struct{})
	go func() {
		defer close(done)
		r.Session(ctx, &hub)
	}()
	t.Cleanup(func() { cancel(); <-done })

	reclaim, err := wire.Encode(wire.TypeReclaim, "", wire.Reclaim{ID: 7, SKU: sku, Units: 4})
	if err != nil {
		t.Fatal(err)
	}
	env, err := wire.Decode(reclaim)
	if err != nil {
		t.Fatal(err)
	}
	// The hub asks, then asks again (its answer was lost).
	r.Handle(ctx, env)
	r.Handle(ctx, env)
	systest.WaitFor(t, 10*time.Second, "two answers", func() error {
		if got := hub.answers(); len(got) < 2 {
			return fmt.Errorf("answers %+v, want two", got)
		}
		return nil
	})
	for _, a := range hub.answers() {
		if a != (wire.Released{ReclaimID: 7, SKU: sku, Released: 4}) {
			t.Fatalf("answer %+v, want 4 released for reclaim 7", a)
		}
	}
	if q, _ := srv.Store.StockBySKU(sku); q != 6 {
		t.Fatalf("store shows %d, want 6: released once", q)
	}
}

// countingReleaser releases what it is asked and counts its calls by
// reclaim ID.
type countingReleaser struct {
	mu    sync.Mutex
	calls map[int64]int
}

func (c *countingReleaser) Release(_ context.Context, id int64, _ string, units int64) (int64, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls[id]++
	return units, nil
}

func (c *countingReleaser) callsOf(id int64) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.calls[id]
}

// The relay remembers the answers of its last ReleasesKept reclaims only:
// a repeat of one of them is answered from memory, a repeat of an older
// one goes to the Releaser again (which answers it from the store).
func TestRelay_ReleasesKeptBounded(t *testing.T) {
	t.Parallel()
	logger := slog.New(slog.NewTextHandler(t.Output(), nil))
	rl := &countingReleaser{calls: map[int64]int{}}
	r := agent.NewRelay(mustOutbox(t), &snapshotWriter{}, logger, "test")
	r.Releaser, r.ReleasesKept = rl, 2
	ctx, cancel := context.WithCancel(t.Context())
	var hub sent
	done := make(chan struct{})
	go func() {
		defer close(done)
		r.Session(ctx, &hub)
	}()
	t.Cleanup(func() { cancel(); <-done })

	reclaim := func(id int64) {
		t.Helper()
		before := len(hub.answers())
		r.Handle(ctx, envelope(t, wire.TypeReclaim, "", wire.Reclaim{ID: id, SKU: "MUG", Units: id}))
		systest.WaitFor(t, 10*time.Second, fmt.Sprintf("the answer to reclaim %d", id), func() error {
			answers := hub.answers()
			if len(answers) == before {
				return fmt.Errorf("no answer yet")
			}
			if got, want := answers[len(answers)-1], (wire.Released{ReclaimID: id, SKU: "MUG", Released: id}); got != want {
				t.Fatalf("answer %+v, want %+v", got, want)
			}
			return nil
		})
	}
	for _, id := range []int64{1, 2, 3} {
		reclaim(id)
	}
	reclaim(3)
	reclaim(2)
	if got, want := rl.callsOf(2)+rl.callsOf(3), 2; got != want {
		t.Fatalf("the Releaser ran %d times for reclaims 2 and 3, want %d: their repeats are answered from memory", got, want)
	}
	reclaim(1)
	if got, want := rl.callsOf(1), 2; got != want {
		t.Fatalf("the Releaser ran %d times for reclaim 1, want %d: the relay keeps only the last 2 answers", got, want)
	}
}
