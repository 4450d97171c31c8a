package agent_test

import (
	"context"
	"log/slog"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stockwire/stockwire/agent"
	"github.com/stockwire/stockwire/agent/outbox"
	"github.com/stockwire/stockwire/shared/systest"
	"github.com/stockwire/stockwire/shared/wire"
)

// linkLog is what a session does, in the order it does it: "order <id>"
// for each report sent, "loop" each time it has sent all it may and is
// about to wait (the writer is asked for its applied sequence then).
type linkLog chan string

// linkDouble is the hub end of the link: it records the reports sent.
type linkDouble struct{ log linkLog }

func (l linkDouble) Send(_ context.Context, typ, id string, _ any) error {
	if typ == wire.TypeOrder {
		l.log <- "order " + id
	}
	return nil
}

// loopingWriter is a StockWriter with nothing to apply; AppliedSeq marks
// the end of each pass of the session's loop in the log.
type loopingWriter struct{ log linkLog }

func (w loopingWriter) Apply([]wire.Change)                   {}
func (w loopingWriter) ApplySnapshot(int64, map[string]int64) {}
func (w loopingWriter) Epoch() string                         { return "" }
func (w loopingWriter) Welcome(string, int64)                 {}
func (w loopingWriter) AppliedSeq() int64 {
	w.log <- "loop"
	return 0
}

// sentUntilWait returns the reports a session sends before it waits.
func (l linkLog) sentUntilWait(t *testing.T) []string {
	t.Helper()
	var sent []string
	timeout := time.After(10 * time.Second)
	for {
		select {
		case e := <-l:
			if e == "loop" {
				return sent
			}
			sent = append(sent, strings.TrimPrefix(e, "order "))
		case <-timeout:
			t.Fatalf("the session never waited; sent %v", sent)
		}
	}
}

// relaySession runs r.Session against a fresh hub double until the
// returned stop is called.
func relaySession(t *testing.T, r *agent.Relay, log linkLog) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		defer close(done)
		r.Session(ctx, linkDouble{log: log})
	}()
	stopped := false
	stop = func() {
		if !stopped {
			stopped = true
			cancel()
			<-done
		}
	}
	t.Cleanup(stop)
	return stop
}

func ack(t *testing.T, r *agent.Relay, id uint64, refusal string) {
	t.Helper()
	b, err := wire.Encode(wire.TypeAck, strconv.FormatUint(id, 10), wire.Ack{Error: refusal})
	if err != nil {
		t.Fatal(err)
	}
	env, err := wire.Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	r.Handle(t.Context(), env)
}

func equal(a, b []string) bool { return strings.Join(a, ",") == strings.Join(b, ",") }

func outboxIDs(t *testing.T, ob *outbox.Outbox) []string {
	t.Helper()
	evs, err := ob.After(0, 100)
	if err != nil {
		t.Fatal(err)
	}
	ids := []string{}
	for _, e := range evs {
		ids = append(ids, strconv.FormatUint(e.ID, 10))
	}
	return ids
}

// TestRelay_AtLeastOnce drives the relay's delivery of order reports:
// never more than Window unacknowledged, an acked report leaves the outbox
// and makes room, a refused one leaves it too (the hub will never take
// it; TestRelay_RefusedReportParked follows it), and after a reconnect every unacked report is sent again, oldest
// first.
func TestRelay_AtLeastOnce(t *testing.T) {
	t.Parallel()
	var logs systest.SyncBuffer
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	ob, err := outbox.Open(filepath.Join(t.TempDir(), "outbox.db"), outbox.Options{Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ob.Close() })
	for i := range 5 {
		if _, err := ob.Append(t.Context(), wire.Order{WooOrderID: int64(100 + i), Status: "processing"}); err != nil {
			t.Fatal(err)
		}
	}
	log := make(linkLog, 100)
	r := agent.NewRelay(ob, loopingWriter{log: log}, logger, "test")
	r.Window, r.StatusEvery, r.ResendAfter = 3, time.Hour, time.Hour
	stop := relaySession(t, r, log)

	t.Run("WindowBoundsReportsInFlight", func(t *testing.T) {
		if got, want := log.sentUntilWait(t), []string{"1", "2", "3"}; !equal(got, want) {
			t.Fatalf("sent %v, want %v: no more than the window", got, want)
		}
	})
	t.Run("AckedLeavesOutboxAndMakesRoom", func(t *testing.T) {
		ack(t, r, 1, "")
		if got, want := log.sentUntilWait(t), []string{"4"}; !equal(got, want) {
			t.Fatalf("sent %v after one ack, want %v", got, want)
		}
		if got, want := outboxIDs(t, ob), []string{"2", "3", "4", "5"}; !equal(got, want) {
			t.Fatalf("outbox holds %v, want %v", got, want)
		}
	})
	t.Run("RefusedLeavesOutbox", func(t *testing.T) {
		ack(t, r, 2, "order has no lines")
		if got, want := log.sentUntilWait(t), []string{"5"}; !equal(got, want) {
			t.Fatalf("sent %v after a refusal, want %v", got, want)
		}
		if got, want := outboxIDs(t, ob), []string{"3", "4", "5"}; !equal(got, want) {
			t.Fatalf("outbox holds %v, want %v: a refused report is not kept", got, want)
		}
		if !strings.Contains(logs.String(), "hub refused a report") || !strings.Contains(logs.String(), "order has no lines") {
			t.Fatalf("the refusal is not logged with the hub's reason:\n%s", logs.String())
		}
	})
	t.Run("UnackedResentInOrderAfterReconnect", func(t *testing.T) {
		stop()
		stop = relaySession(t, r, log)
		if got, want := log.sentUntilWait(t), []string{"3", "4", "5"}; !equal(got, want) {
			t.Fatalf("sent %v on the new link, want %v (the unacked, oldest first)", got, want)
		}
		// A new report waits for room in the window.
		if _, err := ob.Append(t.Context(), wire.Order{WooOrderID: 200, Status: "processing"}); err != nil {
			t.Fatal(err)
		}
		r.OutboxChanged()
		if got := log.sentUntilWait(t); len(got) != 0 {
			t.Fatalf("sent %v with the window full, want nothing", got)
		}
		ack(t, r, 3, "")
		if got, want := log.sentUntilWait(t), []string{"6"}; !equal(got, want) {
			t.Fatalf("sent %v after an ack, want %v", got, want)
		}
	})
}

// A report the hub refuses is parked in the dead letters, not deleted: it
// stays there across a restart, is not sent again by itself, and a replay
// puts it back in the outbox, from which the relay sends it again.
func TestRelay_RefusedReportParked(t *testing.T) {
	t.Parallel()
	logger := slog.New(slog.NewTextHandler(t.Output(), nil))
	path := filepath.Join(t.TempDir(), "outbox.db")
	ob, err := outbox.Open(path, outbox.Options{Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	refused := wire.Order{WooOrderID: 100, Status: "processing", Lines: []wire.OrderLine{{SKU: "MUG", Quantity: 1, ProductID: 7}}}
	if _, err := ob.Append(t.Context(), refused); err != nil {
		t.Fatal(err)
	}
	log := make(linkLog, 100)
	r := agent.NewRelay(ob, loopingWriter{log: log}, logger, "test")
	r.StatusEvery, r.ResendAfter = time.Hour, time.Hour
	stop := relaySession(t, r, log)
	if got, want := log.sentUntilWait(t), []string{"1"}; !equal(got, want) {
		t.Fatalf("sent %v, want %v", got, want)
	}
	ack(t, r, 1, "line 1: unknown field")
	log.sentUntilWait(t)
	stop()
	if err := ob.Close(); err != nil {
		t.Fatal(err)
	}

	// Restart: the report is among the dead letters, and only there.
	ob, err = outbox.Open(path, outbox.Options{Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ob.Close() })
	if got := outboxIDs(t, ob); len(got) != 0 {
		t.Fatalf("outbox holds %v after the refusal, want nothing", got)
	}
	dead, err := ob.DeadLetters()
	if err != nil {
		t.Fatal(err)
	}
	if len(dead) != 1 || dead[0].Event.Order.WooOrderID != refused.WooOrderID || dead[0].Reason != "line 1: unknown field" ||
		len(dead[0].Event.Order.Lines) != 1 {
		t.Fatalf("dead letters after a restart = %+v, want order %d with the hub's reason", dead, refused.WooOrderID)
	}
	if got, want := ob.DeadLetterCount(), 1; got != want {
		t.Fatalf("DeadLetterCount=%d, want %d", got, want)
	}
	r = agent.NewRelay(ob, loopingWriter{log: log}, logger, "test")
	r.StatusEvery, r.ResendAfter = time.Hour, time.Hour
	relaySession(t, r, log)
	if got := log.sentUntilWait(t); len(got) != 0 {
		t.Fatalf("sent %v with only a dead letter held, want nothing", got)
	}

	// Replay: back in the outbox under a new ID, and sent again.
	if n, err := ob.Replay(); err != nil || n != 1 {
		t.Fatalf("Replay=%d, %v; want 1", n, err)
	}
	r.OutboxChanged()
	if got, want := log.sentUntilWait(t), []string{"2"}; !equal(got, want) {
		t.Fatalf("sent %v after the replay, want %v", got, want)
	}
	if got := ob.DeadLetterCount(); got != 0 {
		t.Fatalf("DeadLetterCount=%d after the replay, want 0", got)
	}
	ack(t, r, 2, "")
	if got := outboxIDs(t, ob); len(got) != 0 {
		t.Fatalf("outbox holds %v after the ack, want nothing", got)
	}
}

// A report leaves for the hub while its append is still committing (the
// outbox hands it over before the fsync), once, and only in ID order.
func TestRelay_StagedReportLeavesBeforeCommit(t *testing.T) {
	t.Parallel()
	logger := slog.New(slog.NewTextHandler(t.Output(), nil))
	ob := mustOutbox(t)
	log := make(linkLog, 100)
	r := agent.NewRelay(ob, loopingWriter{log: log}, logger, "test")
	r.StatusEvery, r.ResendAfter = time.Hour, time.Hour
	relaySession(t, r, log)
	if got := log.sentUntilWait(t); len(got) != 0 {
		t.Fatalf("sent %v from an empty outbox", got)
	}

	// The hook runs inside the append's write transaction: the report must
	// reach the hub before the hook returns, so before the commit.
	var inFlight []string
	ob.OnStaged(func(ev agent.OutboxEvent) {
		r.Staged(ev)
		inFlight = log.sentUntilWait(t)
	})
	id, err := ob.Append(t.Context(), wire.Order{WooOrderID: 100, Status: "processing"})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{strconv.FormatUint(id, 10)}; !equal(inFlight, want) {
		t.Fatalf("sent %v while the append committed, want %v", inFlight, want)
	}
	r.OutboxChanged()
	if got := log.sentUntilWait(t); len(got) != 0 {
		t.Fatalf("sent %v after the commit, want nothing: the report already left", got)
	}

	// An event that is not the next one leaves by the outbox, in order.
	ob.OnStaged(func(agent.OutboxEvent) {})
	r.Staged(agent.OutboxEvent{ID: id + 2, Order: wire.Order{WooOrderID: 102}})
	if got := log.sentUntilWait(t); len(got) != 0 {
		t.Fatalf("sent %v for an event out of order, want nothing", got)
	}
	if _, err := ob.Append(t.Context(), wire.Order{WooOrderID: 101, Status: "processing"}); err != nil {
		t.Fatal(err)
	}
	r.OutboxChanged()
	if got, want := log.sentUntilWait(t), []string{strconv.FormatUint(id+1, 10)}; !equal(got, want) {
		t.Fatalf("sent %v, want %v", got, want)
	}
}
