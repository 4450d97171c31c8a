package agent_test

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/stockwire/stockwire/agent"
	"github.com/stockwire/stockwire/agent/hubconn"
	"github.com/stockwire/stockwire/agent/outbox"
	"github.com/stockwire/stockwire/shared/backoff"
	"github.com/stockwire/stockwire/shared/systest"
	"github.com/stockwire/stockwire/shared/wire"
)

// appliedSnapshot is one ApplySnapshot call.
type appliedSnapshot struct {
	seq     int64
	targets map[string]int64
}

// snapshotWriter is a StockWriter that records the snapshots it is given
// and never applies anything (its applied sequence stays 0).
type snapshotWriter struct {
	mu      sync.Mutex
	applied []appliedSnapshot
}

func (w *snapshotWriter) Apply([]wire.Change) {}
func (w *snapshotWriter) ApplySnapshot(seq int64, targets map[string]int64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.applied = append(w.applied, appliedSnapshot{seq: seq, targets: targets})
}
func (w *snapshotWriter) AppliedSeq() int64     { return 0 }
func (w *snapshotWriter) Epoch() string         { return "" }
func (w *snapshotWriter) Welcome(string, int64) {}

func (w *snapshotWriter) snapshots() []appliedSnapshot {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]appliedSnapshot(nil), w.applied...)
}

func mustOutbox(tb testing.TB) *outbox.Outbox {
	tb.Helper()
	ob, err := outbox.Open(filepath.Join(tb.TempDir(), "outbox.db"), outbox.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { ob.Close() })
	return ob
}

func envelope(tb testing.TB, typ, id string, v any) wire.Envelope {
	tb.Helper()
	data, err := wire.Encode(typ, id, v)
	if err != nil {
		tb.Fatal(err)
	}
	env, err := wire.Decode(data)
	if err != nil {
		tb.Fatal(err)
	}
	return env
}

func manyTargets(n int) map[string]int64 {
	targets := make(map[string]int64, n)
	for i := range n {
		targets[fmt.Sprintf("STOCKWIRE-CATALOG-PRODUCT-%08d-VARIANT-XL", i)] = int64(i % 1000)
	}
	return targets
}

func TestRelay_Hello(t *testing.T) {
	t.Parallel()
	r := agent.NewRelay(mustOutbox(t), &snapshotWriter{}, slog.New(slog.DiscardHandler), "test")
	if !r.Hello().SnapshotChunks {
		t.Fatal("the hello does not say the agent gathers chunked snapshots")
	}
}

// The writer gets a snapshot only whole: a chunked one once its last chunk
// has arrived, never a part of one.
func TestRelay_ChunkedSnapshot(t *testing.T) {
	t.Parallel()
	targets := map[string]int64{"A": 1, "B": 2, "C": 3, "D": 4, "E": 5}
	chunks := wire.SplitSnapshot(9, targets, 2, wire.SnapshotChunkBytes)
	if len(chunks) != 3 {
		t.Fatalf("%d chunks, want 3", len(chunks))
	}
	setUp := func(t *testing.T) (*agent.Relay, *snapshotWriter, func(v any)) {
		w := &snapshotWriter{}
		r := agent.NewRelay(mustOutbox(t), w, slog.New(slog.NewTextHandler(t.Output(), nil)), "test")
		handle := func(v any) {
			t.Helper()
			switch v := v.(type) {
			case wire.Snapshot:
				r.Handle(t.Context(), envelope(t, wire.TypeSnapshot, "", v))
			case wire.Welcome:
				r.Handle(t.Context(), envelope(t, wire.TypeWelcome, "", v))
			case wire.Ack:
				r.Handle(t.Context(), envelope(t, wire.TypeAck, "77", v))
			}
		}
		return r, w, handle
	}
	expect := func(t *testing.T, w *snapshotWriter, want ...map[string]int64) {
		t.Helper()
		got := w.snapshots()
		if len(got) != len(want) {
			t.Fatalf("writer got %d snapshots %+v, want %d", len(got), got, len(want))
		}
		for i := range want {
			if got[i].seq != 9 || !maps.Equal(got[i].targets, want[i]) {
				t.Fatalf("snapshot %d = %+v, want seq 9 and %v", i, got[i], want[i])
			}
		}
	}

	t.Run("WholeAppliedAtOnce", func(t *testing.T) {
		t.Parallel()
		_, w, handle := setUp(t)
		handle(wire.Snapshot{Seq: 9, Targets: targets})
		expect(t, w, targets)
	})
	t.Run("ChunksAppliedWhenTheLastArrives", func(t *testing.T) {
		t.Parallel()
		_, w, handle := setUp(t)
		handle(wire.Welcome{})
		handle(chunks[0])
		handle(wire.Ack{}) // acks may come between chunks
		handle(chunks[1])
		expect(t, w)
		handle(chunks[2])
		expect(t, w, targets)
	})
	t.Run("LinkDroppedMidSnapshot", func(t *testing.T) {
		t.Parallel()
		_, w, handle := setUp(t)
		handle(wire.Welcome{})
		handle(chunks[0])
		handle(chunks[1])
		// The link drops; the next session starts with a welcome and a
		// snapshot from its first chunk.
		handle(wire.Welcome{})
		handle(chunks[2]) // what the old session would have sent
		expect(t, w)
		for _, c := range chunks {
			handle(c)
		}
		expect(t, w, targets)
	})
	t.Run("ChunkMissing", func(t *testing.T) {
		t.Parallel()
		_, w, handle := setUp(t)
		handle(chunks[0])
		handle(chunks[2])
		expect(t, w)
		handle(chunks[1])
		handle(chunks[2])
		expect(t, w)
	})
	t.Run("RestartedSnapshotReplacesThePartialOne", func(t *testing.T) {
		t.Parallel()
		_, w, handle := setUp(t)
		handle(chunks[0])
		handle(chunks[1])
		for _, c := range chunks {
			handle(c)
		}
		expect(t, w, targets)
	})
}

// chunkedHub is a hub that sends a snapshot of targets in chunks on every
// session; on its first session it drops the link after half of them.
type chunkedHub struct {
	*httptest.Server
	sessions atomic.Int64
}

func newChunkedHub(t *testing.T, targets map[string]int64) *chunkedHub {
	h := &chunkedHub{}
	chunks := wire.SplitSnapshot(7, targets, wire.SnapshotChunkSKUs, wire.SnapshotChunkBytes)
	var msgs [][]byte
	for _, c := range chunks {
		data, err := wire.Encode(wire.TypeSnapshot, "", c)
		if err != nil {
			t.Fatal(err)
		}
		msgs = append(msgs, data)
	}
	welcome, err := wire.Encode(wire.TypeWelcome, "", wire.Welcome{StoreID: 1, StoreName: "large", Policy: "mirror", HeadSeq: 7})
	if err != nil {
		t.Fatal(err)
	}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, &websocket.AcceptOptions{Subprotocols: []string{wire.Subprotocol}})
		if err != nil {
			return
		}
		defer c.CloseNow()
		ctx := r.Context()
		_, data, err := c.Read(ctx)
		if err != nil {
			return
		}
		env, err := wire.Decode(data)
		var hello wire.Hello
		if err != nil || wire.DecodePayload(env, &hello) != nil || !hello.SnapshotChunks {
			c.Close(websocket.StatusPolicyViolation, "want a hello with snapshot_chunks")
			return
		}
		first := h.sessions.Add(1) == 1
		send := msgs
		if first {
			send = msgs[:len(msgs)/2]
		}
		for _, m := range append([][]byte{welcome}, send...) {
			if c.Write(ctx, websocket.MessageText, m) != nil {
				return
			}
		}
		if first {
			return // drops the link mid-snapshot
		}
		for { // takes the agent's reports and pings until it leaves
			if _, _, err := c.Read(ctx); err != nil {
				return
			}
		}
	}))
	t.Cleanup(h.Close)
	return h
}

// Through the agent's real link client: a snapshot of 100,000 SKUs, far
// more than one message holds, reaches the writer whole, and a link
// dropped mid-snapshot brings a new snapshot on the next session, never a
// partial one.
func TestRelay_ChunkedSnapshotOverTheLink(t *testing.T) {
	t.Parallel()
	targets := manyTargets(100_000)
	hub := newChunkedHub(t, targets)
	w := &snapshotWriter{}
	r := agent.NewRelay(mustOutbox(t), w, slog.New(slog.NewTextHandler(t.Output(), nil)), "test")
	link, err := hubconn.New(hub.URL, "swa_test", r, slog.New(slog.NewTextHandler(t.Output(), nil)), nil)
	if err != nil {
		t.Fatal(err)
	}
	link.Backoff = backoff.Policy{Min: 5 * time.Millisecond, Max: 20 * time.Millisecond}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- link.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run=%v", err)
		}
	}()

	systest.WaitFor(t, 30*time.Second, "a snapshot at the writer", func() error {
		if len(w.snapshots()) == 0 {
			return fmt.Errorf("none yet after %d sessions", hub.sessions.Load())
		}
		return nil
	})
	got := w.snapshots()
	if len(got) != 1 || got[0].seq != 7 || !maps.Equal(got[0].targets, targets) {
		t.Fatalf("writer got %d snapshots (the first at seq %d with %d SKUs), want one at seq 7 with all %d SKUs",
			len(got), got[0].seq, len(got[0].targets), len(targets))
	}
	if n := hub.sessions.Load(); n != 2 {
		t.Fatalf("%d sessions, want 2: the first dropped mid-snapshot", n)
	}
}

// BenchmarkRelay_Snapshot100k gathers a chunked snapshot of 100,000 SKUs
// from its messages, as the agent does. retained-MB is the heap the
// gathered snapshot holds when handed to the writer.
func BenchmarkRelay_Snapshot100k(b *testing.B) {
	targets := manyTargets(100_000)
	var envs []wire.Envelope
	for _, c := range wire.SplitSnapshot(7, targets, wire.SnapshotChunkSKUs, wire.SnapshotChunkBytes) {
		envs = append(envs, envelope(b, wire.TypeSnapshot, "", c))
	}
	targets = nil
	w := &snapshotWriter{}
	r := agent.NewRelay(mustOutbox(b), w, slog.New(slog.DiscardHandler), "bench")
	var before, after runtime.MemStats
	for b.Loop() {
		b.StopTimer()
		w.applied = nil
		runtime.GC()
		runtime.ReadMemStats(&before)
		b.StartTimer()
		for _, env := range envs {
			r.Handle(b.Context(), env)
		}
		b.StopTimer()
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.StartTimer()
	}
	if len(w.applied) != 1 || len(w.applied[0].targets) != 100_000 {
		b.Fatalf("writer got %d snapshots, want one of 100,000 SKUs", len(w.applied))
	}
	b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/(1<<20), "retained-MB")
}
