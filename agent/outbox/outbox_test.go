package outbox_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/stockwire/stockwire/agent"
	"github.com/stockwire/stockwire/agent/outbox"
	"github.com/stockwire/stockwire/shared/wire"
)

func MustOpen(tb testing.TB, path string, opts outbox.Options) *outbox.Outbox {
	tb.Helper()
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(tb.Output(), nil))
	}
	o, err := outbox.Open(path, opts)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { o.Close() })
	return o
}

func order(id int64, status string, mod time.Time) wire.Order {
	return wire.Order{WooOrderID: id, Number: strconv.FormatInt(id, 10), Status: status,
		DateModified: mod, Source: "webhook",
		Lines: []wire.OrderLine{{SKU: "A", Quantity: 1, ProductID: 7}}}
}

func TestOutbox_AppendAfterAck(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "outbox.db")
	reg := prometheus.NewRegistry()
	// The outbox's clock: each event is appended a minute after the last.
	t0 := time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC)
	var clock atomic.Int64
	clock.Store(t0.UnixNano())
	now := func() time.Time { return time.Unix(0, clock.Load()) }
	o := MustOpen(t, path, outbox.Options{Registerer: reg, Now: now})
	ctx := t.Context()
	mod := time.Date(2026, 11, 22, 8, 55, 28, 0, time.UTC)
	if got := o.OldestAge(); got != 0 {
		t.Fatalf("OldestAge of an empty outbox=%v, want 0", got)
	}
	var ids []uint64
	for i := range 5 {
		clock.Store(t0.Add(time.Duration(i) * time.Minute).UnixNano())
		id, err := o.Append(ctx, order(int64(100+i), "processing", mod))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	for i := 1; i < len(ids); i++ {
		if ids[i] <= ids[i-1] {
			t.Fatalf("ids not increasing: %v", ids)
		}
	}
	if got, want := o.Len(), 5; got != want {
		t.Fatalf("Len=%d, want %d", got, want)
	}
	clock.Store(t0.Add(10 * time.Minute).UnixNano())
	if got, want := o.OldestAge(), 10*time.Minute; got != want {
		t.Fatalf("OldestAge=%v, want %v (the first event's)", got, want)
	}
	if got := testutil.ToFloat64(mustCollector(t, reg, "stockwire_agent_outbox_events")); got != 5 {
		t.Fatalf("outbox_events=%v, want 5", got)
	}
	evs, err := o.After(ids[1], 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 2 || evs[0].ID != ids[2] || evs[1].ID != ids[3] || evs[0].Order.WooOrderID != 102 {
		t.Fatalf("After=%+v", evs)
	}
	if !evs[0].Order.DateModified.Equal(mod) || evs[0].Order.Lines[0].SKU != "A" {
		t.Fatalf("order round trip lost data: %+v", evs[0].Order)
	}
	if err := o.Ack(ids[0]); err != nil {
		t.Fatal(err)
	}
	if err := o.Ack(ids[0]); err != nil {
		t.Fatalf("second ack: %v", err)
	}
	if err := o.Ack(9999); err != nil {
		t.Fatalf("unknown ack: %v", err)
	}
	if got, want := o.Len(), 4; got != want {
		t.Fatalf("Len=%d, want %d", got, want)
	}
	evs, _ = o.After(0, 100)
	if len(evs) != 4 || evs[0].ID != ids[1] {
		t.Fatalf("After(0) after ack=%+v", evs)
	}
	// The oldest event now is the second one, appended at t0+1m.
	if got, want := o.OldestAge(), 9*time.Minute; got != want {
		t.Fatalf("OldestAge after acking the first event=%v, want %v", got, want)
	}
	if got := testutil.ToFloat64(mustCollector(t, reg, "stockwire_agent_outbox_oldest_event_age_seconds")); got != 540 {
		t.Fatalf("outbox_oldest_event_age_seconds=%v, want 540", got)
	}
	if problems, err := testutil.GatherAndLint(reg); err != nil || len(problems) > 0 {
		t.Fatalf("lint: %v %v", problems, err)
	}

	t.Run("ReopenKeepsEventsAndSequence", func(t *testing.T) {
		if err := o.Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := o.Append(ctx, order(1, "x", mod)); !errors.Is(err, outbox.ErrClosed) {
			t.Fatalf("Append after close err=%v", err)
		}
		o2 := MustOpen(t, path, outbox.Options{})
		if got, want := o2.Len(), 4; got != want {
			t.Fatalf("Len=%d, want %d", got, want)
		}
		id, err := o2.Append(ctx, order(200, "completed", mod))
		if err != nil {
			t.Fatal(err)
		}
		if id <= ids[len(ids)-1] {
			t.Fatalf("id %d reused after reopen (last %d)", id, ids[len(ids)-1])
		}
	})
}

func mustCollector(t *testing.T, reg *prometheus.Registry, name string) prometheus.Collector {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			g := prometheus.NewGauge(prometheus.GaugeOpts{Name: "x", Help: "x"})
			g.Set(mf.GetMetric()[0].GetGauge().GetValue())
			return g
		}
	}
	t.Fatalf("metric %s not found", name)
	return nil
}

func TestOutbox_Full(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	o := MustOpen(t, filepath.Join(t.TempDir(), "o.db"), outbox.Options{MaxEvents: 3, Registerer: reg})
	ctx := t.Context()
	for i := range 3 {
		if _, err := o.Append(ctx, order(int64(i+1), "processing", time.Now())); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := o.Append(ctx, order(4, "processing", time.Now())); !errors.Is(err, outbox.ErrOutboxFull) {
		t.Fatalf("err=%v, want ErrOutboxFull", err)
	}
	if got := o.Len(); got != 3 {
		t.Fatalf("Len=%d, want 3", got)
	}
	if _, ok := o.Seen(4); ok {
		t.Fatal("refused order recorded as reported")
	}
	evs, _ := o.After(0, 1)
	if err := o.Ack(evs[0].ID); err != nil {
		t.Fatal(err)
	}
	if _, err := o.Append(ctx, order(4, "processing", time.Now())); err != nil {
		t.Fatalf("append after ack: %v", err)
	}
	if got := testutil.ToFloat64(mustCounter(t, reg, "stockwire_agent_outbox_full_rejections_total")); got != 1 {
		t.Fatalf("full rejections=%v, want 1", got)
	}
}

func mustCounter(t *testing.T, reg *prometheus.Registry, name string) prometheus.Collector {
	t.Helper()
	mfs, _ := reg.Gather()
	for _, mf := range mfs {
		if mf.GetName() == name {
			c := prometheus.NewCounter(prometheus.CounterOpts{Name: "x", Help: "x"})
			c.Add(mf.GetMetric()[0].GetCounter().GetValue())
			return c
		}
	}
	t.Fatalf("metric %s not found", name)
	return nil
}

func TestOutbox_Seen(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC)
	path := filepath.Join(t.TempDir(), "o.db")
	o := MustOpen(t, path, outbox.Options{SeenTTL: time.Hour, Now: func() time.Time { return now }})
	ctx := t.Context()
	t1 := now.Add(-time.Minute)
	t2 := now
	if _, ok := o.Seen(34); ok {
		t.Fatal("Seen before append")
	}
	if _, err := o.Append(ctx, order(34, "completed", t2)); err != nil {
		t.Fatal(err)
	}
	// An older state appended later must not replace the newer one.
	if _, err := o.Append(ctx, order(34, "processing", t1)); err != nil {
		t.Fatal(err)
	}
	seen, ok := o.Seen(34)
	if !ok || seen.Status != "completed" || !seen.Modified.Equal(t2) || !seen.StockReduced {
		t.Fatalf("Seen=%+v %v, want completed %v, stock reduced", seen, ok, t2)
	}
	t.Run("PrunedAfterTTL", func(t *testing.T) {
		o.Close()
		later := now.Add(2 * time.Hour)
		o2 := MustOpen(t, path, outbox.Options{SeenTTL: time.Hour, Now: func() time.Time { return later }})
		if _, ok := o2.Seen(34); ok {
			t.Fatal("entry older than SeenTTL not pruned")
		}
		if got := o2.Len(); got != 2 {
			t.Fatalf("pruning touched events: Len=%d", got)
		}
	})
}

func TestOutbox_Cursor(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "o.db")
	o := MustOpen(t, path, outbox.Options{})
	if _, ok, err := o.Cursor("orders"); ok || err != nil {
		t.Fatalf("Cursor on new file ok=%v err=%v", ok, err)
	}
	c := time.Date(2026, 11, 22, 8, 55, 28, 0, time.UTC)
	if err := o.SetCursor("orders", c); err != nil {
		t.Fatal(err)
	}
	o.Close()
	o2 := MustOpen(t, path, outbox.Options{})
	got, ok, err := o2.Cursor("orders")
	if err != nil || !ok || !got.Equal(c) {
		t.Fatalf("Cursor=%v %v %v, want %v", got, ok, err, c)
	}
}

// childEnv makes the test binary act as an appending child process.
const childEnv = "STOCKWIRE_OUTBOX_CHILD"

func TestMain(m *testing.M) {
	if path := os.Getenv(childEnv); path != "" {
		os.Exit(runChild(path))
	}
	goleak.VerifyTestMain(m)
}

// runChild appends orders forever, printing "ok <id> <order>" after each
// Append returned, until it is killed.
func runChild(path string) int {
	o, err := outbox.Open(path, outbox.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	w := bufio.NewWriter(os.Stdout)
	for i := int64(1); ; i++ {
		oid := int64(os.Getpid())*1_000_000 + i
		id, err := o.Append(context.Background(), order(oid, "processing", time.Now().UTC().Truncate(time.Second)))
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		fmt.Fprintf(w, "ok %d %d\n", id, oid)
		w.Flush()
	}
}

func TestOutbox_SurvivesKill9(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "outbox.db")
	acked := map[uint64]int64{}
	for round := range 4 {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), childEnv+"="+path)
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stderr = t.Output()
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		killAfter := 5 + rand.IntN(150)
		sc := bufio.NewScanner(out)
		n := 0
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			if len(f) != 3 || f[0] != "ok" {
				continue
			}
			id, _ := strconv.ParseUint(f[1], 10, 64)
			oid, _ := strconv.ParseInt(f[2], 10, 64)
			acked[id] = oid
			n++
			if n == killAfter {
				if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
					t.Fatal(err)
				}
			}
		}
		_ = cmd.Wait()
		if n < killAfter {
			t.Fatalf("round %d: child stopped after %d appends before being killed", round, n)
		}
		t.Logf("round %d: killed after %d acknowledged appends", round, n)
	}
	o := MustOpen(t, path, outbox.Options{})
	evs, err := o.After(0, 1_000_000)
	if err != nil {
		t.Fatal(err)
	}
	got := map[uint64]int64{}
	for _, ev := range evs {
		got[ev.ID] = ev.Order.WooOrderID
	}
	for id, oid := range acked {
		if got[id] != oid {
			t.Fatalf("acknowledged event %d (order %d) lost after kill -9 (have %d)", id, oid, got[id])
		}
	}
	if o.Len() != len(evs) {
		t.Fatalf("Len=%d, events=%d", o.Len(), len(evs))
	}
}

// Park moves an event out of the queue into the dead letters, which the
// depth does not count and the metric does; Replay moves them all back
// under new IDs, or none when they do not all fit under the bound.
func TestOutbox_DeadLetters(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	o := MustOpen(t, filepath.Join(t.TempDir(), "outbox.db"), outbox.Options{MaxEvents: 3, Registerer: reg})
	now := time.Now()
	for i := range 3 {
		if _, err := o.Append(t.Context(), order(int64(100+i), "processing", now)); err != nil {
			t.Fatal(err)
		}
	}
	if err := o.Park(1, "line 1: negative quantity"); err != nil {
		t.Fatal(err)
	}
	if err := o.Park(42, "unknown"); err != nil {
		t.Fatalf("Park of an unknown id: %v, want nil", err)
	}
	if got, want := o.Len(), 2; got != want {
		t.Fatalf("Len=%d after a park, want %d", got, want)
	}
	if got := testutil.ToFloat64(mustCollector(t, reg, "stockwire_agent_outbox_dead_letters")); got != 1 {
		t.Fatalf("stockwire_agent_outbox_dead_letters=%v, want 1", got)
	}

	t.Run("ReplayRefusedWhenFull", func(t *testing.T) {
		if _, err := o.Append(t.Context(), order(200, "processing", now)); err != nil {
			t.Fatal(err)
		}
		if n, err := o.Replay(); !errors.Is(err, outbox.ErrOutboxFull) || n != 0 {
			t.Fatalf("Replay with the outbox full=%d, %v; want ErrOutboxFull", n, err)
		}
		if got := o.DeadLetterCount(); got != 1 {
			t.Fatalf("DeadLetterCount=%d after a refused replay, want 1 (nothing moved)", got)
		}
		if err := o.Ack(2); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("Replay", func(t *testing.T) {
		if n, err := o.Replay(); err != nil || n != 1 {
			t.Fatalf("Replay=%d, %v; want 1", n, err)
		}
		evs, err := o.After(0, 10)
		if err != nil {
			t.Fatal(err)
		}
		last := evs[len(evs)-1]
		if len(evs) != 3 || last.ID != 5 || last.Order.WooOrderID != 100 || len(last.Order.Lines) != 1 {
			t.Fatalf("after the replay: %+v; want order 100 back last, as event 5", evs)
		}
		if dead, err := o.DeadLetters(); err != nil || len(dead) != 0 || o.DeadLetterCount() != 0 {
			t.Fatalf("dead letters after the replay: %v, %v", dead, err)
		}
	})
}

// TestOutbox_Span: the oldest and newest IDs held, as events are appended
// and acknowledged (0, 0 when empty).
func TestOutbox_Span(t *testing.T) {
	t.Parallel()
	o := MustOpen(t, filepath.Join(t.TempDir(), "outbox.db"), outbox.Options{})
	if oldest, newest := o.Span(); oldest != 0 || newest != 0 {
		t.Fatalf("Span of an empty outbox=%d, %d; want 0, 0", oldest, newest)
	}
	mod := time.Date(2026, 11, 22, 8, 55, 28, 0, time.UTC)
	var ids []uint64
	for i := range 3 {
		id, err := o.Append(t.Context(), order(int64(200+i), "processing", mod))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	if oldest, newest := o.Span(); oldest != ids[0] || newest != ids[2] {
		t.Fatalf("Span=%d, %d; want %d, %d", oldest, newest, ids[0], ids[2])
	}
	for _, id := range ids[:2] {
		if err := o.Ack(id); err != nil {
			t.Fatal(err)
		}
	}
	if oldest, newest := o.Span(); oldest != ids[2] || newest != ids[2] {
		t.Fatalf("Span after two acks=%d, %d; want %d, %d", oldest, newest, ids[2], ids[2])
	}
}

// An event handed over before its commit (OnStaged) can be acknowledged at
// once: the ack waits for the commit and then removes it. IDs go on from
// the last one after a reopen, and a refused append stages nothing.
func TestOutbox_OnStaged(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "o.db")
	o, err := outbox.Open(path, outbox.Options{MaxEvents: 2})
	if err != nil {
		t.Fatal(err)
	}
	var staged []uint64
	acked := make(chan error, 4)
	o.OnStaged(func(ev agent.OutboxEvent) {
		staged = append(staged, ev.ID)
		if ev.Order.WooOrderID == 0 {
			t.Errorf("staged event %d without its order", ev.ID)
		}
		go func() { acked <- o.Ack(ev.ID) }() // the hub's ack, arriving before the fsync ended
	})
	ctx := t.Context()
	id, err := o.Append(ctx, order(1, "processing", time.Now()))
	if err != nil {
		t.Fatal(err)
	}
	if err := <-acked; err != nil {
		t.Fatal(err)
	}
	if got := o.Len(); got != 0 {
		t.Fatalf("Len=%d after the early ack, want 0: the ack ran before the commit and missed the event", got)
	}
	if evs, _ := o.After(0, 10); len(evs) != 0 {
		t.Fatalf("outbox holds %+v after the ack", evs)
	}

	o.OnStaged(func(ev agent.OutboxEvent) { staged = append(staged, ev.ID) })
	for i := range 2 {
		if _, err := o.Append(ctx, order(int64(2+i), "processing", time.Now())); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := o.Append(ctx, order(4, "processing", time.Now())); !errors.Is(err, outbox.ErrOutboxFull) {
		t.Fatalf("err=%v, want ErrOutboxFull", err)
	}
	if want := []uint64{id, id + 1, id + 2}; fmt.Sprint(staged) != fmt.Sprint(want) {
		t.Fatalf("staged %v, want %v (nothing for the refused append)", staged, want)
	}
	if err := o.Close(); err != nil {
		t.Fatal(err)
	}

	o = MustOpen(t, path, outbox.Options{MaxEvents: 3})
	next, err := o.Append(ctx, order(5, "processing", time.Now()))
	if err != nil {
		t.Fatal(err)
	}
	if next != id+3 {
		t.Fatalf("first ID after the reopen %d, want %d", next, id+3)
	}
}
