package agentws_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/stockwire/stockwire/hub/agentws"
	"github.com/stockwire/stockwire/shared/systest"
	"github.com/stockwire/stockwire/shared/wire"
)

// MustSeedTargets gives the store n SKUs with long, realistic names and a
// target each, in bulk SQL, at sequence 1; it returns the targets.
func (e *env) MustSeedTargets(tb testing.TB, storeID int64, n int) map[string]int64 {
	tb.Helper()
	raw, err := sql.Open("postgres", e.dsn)
	if err != nil {
		tb.Fatal(err)
	}
	defer raw.Close()
	const sku = `'STOCKWIRE-CATALOG-PRODUCT-' || lpad(i::text, 8, '0') || '-VARIANT-XL'`
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{`INSERT INTO skus (sku, on_hand) SELECT ` + sku + `, i % 1000 FROM generate_series(1, $1) i`, []any{n}},
		{`INSERT INTO store_targets (store_id, sku, target) SELECT $1, ` + sku + `, i % 1000 FROM generate_series(1, $2) i`, []any{storeID, n}},
		{`UPDATE store_seq SET head = 1 WHERE store_id = $1`, []any{storeID}},
	} {
		if _, err := raw.ExecContext(tb.Context(), q.sql, q.args...); err != nil {
			tb.Fatalf("seed %d targets: %v", n, err)
		}
	}
	want := make(map[string]int64, n)
	for i := 1; i <= n; i++ {
		want[fmt.Sprintf("STOCKWIRE-CATALOG-PRODUCT-%08d-VARIANT-XL", i)] = int64(i % 1000)
	}
	return want
}

// rawAgent is a test agent reading with the agent's read limit.
type rawAgent struct {
	tb   testing.TB
	conn *websocket.Conn
}

func (e *env) MustRawAgent(tb testing.TB, token string, hello wire.Hello) *rawAgent {
	tb.Helper()
	ctx, cancel := context.WithTimeout(tb.Context(), 10*time.Second)
	defer cancel()
	conn, _, err := e.dial(ctx, token)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { conn.CloseNow() })
	conn.SetReadLimit(wire.MaxMessageBytes)
	data, err := wire.Encode(wire.TypeHello, "", hello)
	if err != nil {
		tb.Fatal(err)
	}
	if err := conn.Write(ctx, websocket.MessageText, data); err != nil {
		tb.Fatal(err)
	}
	return &rawAgent{tb: tb, conn: conn}
}

// nextSnapshot reads messages until a snapshot message and returns it with
// its size on the wire.
func (a *rawAgent) nextSnapshot() (wire.Snapshot, int) {
	a.tb.Helper()
	ctx, cancel := context.WithTimeout(a.tb.Context(), 30*time.Second)
	defer cancel()
	for {
		_, data, err := a.conn.Read(ctx)
		if err != nil {
			a.tb.Fatalf("read: %v", err)
		}
		env, err := wire.Decode(data)
		if err != nil {
			a.tb.Fatal(err)
		}
		if env.Type != wire.TypeSnapshot {
			continue
		}
		var s wire.Snapshot
		if err := wire.DecodePayload(env, &s); err != nil {
			a.tb.Fatal(err)
		}
		return s, len(data)
	}
}

// gatherSnapshot reads a whole snapshot, checking its chunks' numbering,
// and returns its targets and the number of messages.
func (a *rawAgent) gatherSnapshot() (seq int64, targets map[string]int64, messages int) {
	a.tb.Helper()
	targets = map[string]int64{}
	for {
		s, size := a.nextSnapshot()
		if size > wire.MaxMessageBytes/4 {
			a.tb.Fatalf("snapshot message of %d bytes, not far below the %d-byte read limit", size, wire.MaxMessageBytes)
		}
		if messages == 0 {
			seq = s.Seq
		}
		if s.Seq != seq || s.Chunk != messages || (s.Chunks != 0 && s.Chunks <= s.Chunk) {
			a.tb.Fatalf("message %d of the snapshot is chunk %d of %d at seq %d, want chunk %d at seq %d",
				messages, s.Chunk, s.Chunks, s.Seq, messages, seq)
		}
		for sku, n := range s.Targets {
			if _, dup := targets[sku]; dup {
				a.tb.Fatalf("%s in two chunks", sku)
			}
			targets[sku] = n
		}
		messages++
		if s.Last() {
			return seq, targets, messages
		}
	}
}

// A store of 100,000 SKUs, more than one 4 MiB message holds, gets its
// snapshot in chunks the agent's read limit takes, whole.
func TestServer_SnapshotChunks100k(t *testing.T) {
	t.Parallel()
	var logs systest.SyncBuffer
	e := MustEnv(t, func(s *agentws.Server) {
		s.Logger = slog.New(slog.NewTextHandler(io.MultiWriter(t.Output(), &logs), nil))
	})
	st, cred := e.MustStore(t, "large")
	want := e.MustSeedTargets(t, st.ID, 100_000)

	start := time.Now()
	a := e.MustRawAgent(t, cred, wire.Hello{AgentVersion: "test", SnapshotChunks: true})
	seq, got, messages := a.gatherSnapshot()
	t.Logf("snapshot of %d SKUs in %d messages, %s from hello to its last chunk", len(got), messages, time.Since(start).Round(time.Millisecond))
	if seq != 1 {
		t.Fatalf("snapshot at seq %d, want 1", seq)
	}
	if len(got) != len(want) {
		t.Fatalf("snapshot of %d SKUs, want %d", len(got), len(want))
	}
	for sku, n := range want {
		if got[sku] != n {
			t.Fatalf("%s=%d in the snapshot, want %d", sku, got[sku], n)
		}
	}

	// An agent that predates chunks gets the snapshot whole, more than it
	// can read; the hub says what to do.
	t.Run("OldAgent", func(t *testing.T) {
		e.MustRawAgent(t, cred, wire.Hello{AgentVersion: "v0.0.1"})
		systest.WaitFor(t, 2*time.Minute, "the hub's advice", func() error {
			if !strings.Contains(logs.String(), "upgrade the agent") {
				return errors.New("not logged yet")
			}
			return nil
		})
	})
}

// An agent that predates chunks gets the snapshot whole; one that gathers
// them and drops the link after the first chunk gets the whole snapshot
// again, from its first chunk, on its next session.
func TestServer_SnapshotChunksByHello(t *testing.T) {
	t.Parallel()
	e := MustEnv(t, func(s *agentws.Server) { s.SnapshotChunkSKUs = 2 })
	_, cred := e.MustStore(t, "small")
	want := map[string]int64{"A": 10, "B": 20, "C": 30, "D": 40, "E": 50}
	for sku, n := range want {
		e.MustCount(t, sku, n)
	}

	t.Run("OldAgentGetsItWhole", func(t *testing.T) {
		a := e.MustRawAgent(t, cred, wire.Hello{AgentVersion: "old"})
		s, _ := a.nextSnapshot()
		if !s.Whole() || len(s.Targets) != len(want) {
			t.Fatalf("snapshot=%+v, want all %d targets in one message", s, len(want))
		}
	})
	t.Run("DroppedMidSnapshotSentAgain", func(t *testing.T) {
		a := e.MustRawAgent(t, cred, wire.Hello{AgentVersion: "test", SnapshotChunks: true})
		if s, _ := a.nextSnapshot(); s.Chunk != 0 || s.Chunks != 3 {
			t.Fatalf("first snapshot message is chunk %d of %d, want 0 of 3", s.Chunk, s.Chunks)
		}
		a.conn.CloseNow()

		a = e.MustRawAgent(t, cred, wire.Hello{AgentVersion: "test", SnapshotChunks: true})
		seq, got, messages := a.gatherSnapshot()
		if messages != 3 || seq != 5 || len(got) != len(want) {
			t.Fatalf("snapshot at seq %d in %d messages holds %v, want seq 5 in 3 messages with %v", seq, messages, got, want)
		}
	})
}
