package agentws_test

import (
	"database/sql"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/stockwire/stockwire/hub"
	"github.com/stockwire/stockwire/hub/agentws"
	"github.com/stockwire/stockwire/hub/postgres"
	"github.com/stockwire/stockwire/shared/systest"
	"github.com/stockwire/stockwire/shared/wire"
)

func TestServer_Credentials(t *testing.T) {
	t.Parallel()
	e := MustEnv(t, nil)
	ctx := t.Context()
	st, cred := e.MustStore(t, "eu")
	old, oldCred := e.MustStore(t, "old")
	if err := e.stores.Revoke(ctx, old.ID); err != nil {
		t.Fatal(err)
	}

	for name, token := range map[string]string{
		"Missing": "",
		"Unknown": "swa_" + strings.Repeat("x", 43),
		"Revoked": oldCred,
		"Mangled": cred + "x",
	} {
		t.Run(name, func(t *testing.T) {
			conn, resp, err := e.dial(ctx, token)
			if err == nil {
				conn.CloseNow()
				t.Fatal("the hub accepted the connection")
			}
			if resp == nil {
				t.Fatalf("no HTTP answer: %v", err)
			}
			if got, want := resp.StatusCode, http.StatusUnauthorized; got != want {
				t.Fatalf("status=%d, want %d", got, want)
			}
		})
	}
	if e.srv.Connected(st.ID) || e.srv.Connected(old.ID) {
		t.Fatal("a refused connection left a session")
	}
	if got, err := e.stores.Store(ctx, st.ID); err != nil || got.Agent.Connected || got.Agent.LastSeen != nil {
		t.Fatalf("refused connections changed the agent state: %+v, %v", got.Agent, err)
	}

	t.Run("OK", func(t *testing.T) {
		c := e.MustConnect(t, cred)
		if w := c.hello(0); w.StoreID != st.ID || w.StoreName != "eu" || w.Policy != "mirror" {
			t.Fatalf("welcome=%+v", w)
		}
	})
}

func TestServer_Revoke(t *testing.T) {
	t.Parallel()
	t.Run("AtOnce", func(t *testing.T) {
		t.Parallel()
		e := MustEnv(t, nil)
		st, cred := e.MustStore(t, "eu")
		c := e.MustConnect(t, cred)
		c.hello(0)
		c.next(wire.TypeSnapshot, nil)

		if err := e.stores.Revoke(t.Context(), st.ID); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		e.srv.Disconnect(st.ID) // what hub/web's OnRevoke does
		ce := c.closed(2 * time.Second)
		if ce.Code != websocket.StatusCode(wire.CloseRevoked) || ce.Reason != "store credential revoked" {
			t.Fatalf("closed with %v %q, want %d %q", ce.Code, ce.Reason, wire.CloseRevoked, "store credential revoked")
		}
		t.Logf("cut off %s after the revocation", time.Since(start).Round(time.Millisecond))
		if _, resp, err := e.dial(t.Context(), cred); err == nil || resp == nil || resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("reconnect with a revoked credential: %v", err)
		}
	})
	t.Run("NoticedWithoutNotification", func(t *testing.T) {
		t.Parallel()
		e := MustEnv(t, func(s *agentws.Server) { s.ResyncInterval = 100 * time.Millisecond })
		st, cred := e.MustStore(t, "eu")
		c := e.MustConnect(t, cred)
		c.hello(0)
		if err := e.stores.Revoke(t.Context(), st.ID); err != nil {
			t.Fatal(err)
		}
		if ce := c.closed(2 * time.Second); ce.Code != websocket.StatusCode(wire.CloseRevoked) || ce.Reason != "store credential revoked" {
			t.Fatalf("closed with %v %q", ce.Code, ce.Reason)
		}
	})
}

// A policy change ends the store's session on whichever replica holds it
// (a notice from the transaction that changed it), so that the agent starts
// over under the new policy.
func TestServer_PolicyChangeEndsSession(t *testing.T) {
	t.Parallel()
	e := MustEnv(t, nil) // resync every 30 s: only the notice can do it in time
	st, cred := e.MustStore(t, "eu")
	c := e.MustConnect(t, cred)
	c.hello(0)
	c.next(wire.TypeSnapshot, nil)

	if _, err := postgres.NewAllocationService(e.db).Configure(t.Context(), st.ID, hub.StoreSettings{Policy: hub.PolicyAllocate, Allocation: st.Allocation}); err != nil {
		t.Fatal(err)
	}
	if ce := c.closed(5 * time.Second); ce.Code != websocket.StatusTryAgainLater || ce.Reason != "store policy changed; reconnect" {
		t.Fatalf("closed with %v %q, want 1013 %q", ce.Code, ce.Reason, "store policy changed; reconnect")
	}
	// The agent reconnects and is welcomed under the new policy.
	c = e.MustConnect(t, cred)
	if w := c.hello(0); w.Policy != string(hub.PolicyAllocate) {
		t.Fatalf("welcome policy %q, want allocate", w.Policy)
	}
}

func TestServer_Protocol(t *testing.T) {
	t.Parallel()
	e := MustEnv(t, func(s *agentws.Server) { s.HelloTimeout = 300 * time.Millisecond })
	_, cred := e.MustStore(t, "eu")

	for _, tc := range []struct {
		name      string
		protocols []string
		first     func(c *client)
		reason    string
	}{
		{name: "WrongVersion", protocols: []string{"stockwire.v0"}, reason: "this hub speaks stockwire.v1"},
		{name: "NoSubprotocol", protocols: []string{}, reason: "this hub speaks stockwire.v1"},
		{name: "FirstMessageNotHello", first: func(c *client) { c.send(wire.TypeApplied, "", wire.Applied{Seq: 3}) }, reason: `first message is "stock.applied", want "hello"`},
		{name: "NegativeLastSeq", first: func(c *client) { c.send(wire.TypeHello, "", wire.Hello{LastSeq: -1}) }, reason: "negative last_seq"},
		{name: "NotJSON", first: func(c *client) {
			c.conn.Write(t.Context(), websocket.MessageText, []byte("hello?"))
		}, reason: "decode envelope"},
		{name: "NoHello", first: func(*client) {}, reason: "no hello within 300ms"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			protocols := tc.protocols
			if protocols == nil {
				protocols = []string{wire.Subprotocol}
			}
			c := e.MustConnectWith(t, cred, protocols)
			if tc.first != nil {
				tc.first(c)
			}
			ce := c.closed(3 * time.Second)
			if ce.Code != websocket.StatusPolicyViolation || !strings.Contains(ce.Reason, tc.reason) {
				t.Fatalf("closed with %v %q, want 1008 containing %q", ce.Code, ce.Reason, tc.reason)
			}
		})
	}
}

func TestServer_Replay(t *testing.T) {
	t.Parallel()
	e := MustEnv(t, nil)
	st, cred := e.MustStore(t, "eu")
	for i, sku := range []string{"A", "B", "C", "D"} {
		e.MustCount(t, sku, int64(10+i)) // seqs 1..4
	}

	c := e.MustConnect(t, cred)
	if w := c.hello(2); w.HeadSeq != 4 || w.StoreID != st.ID {
		t.Fatalf("welcome=%+v, want head 4", w)
	}
	want := []wire.Change{{Seq: 3, SKU: "C", Delta: 12, Target: 12}, {Seq: 4, SKU: "D", Delta: 13, Target: 13}}
	if got := c.changesThrough(4); !reflect.DeepEqual(got, want) {
		t.Fatalf("replay=%+v, want %+v", got, want)
	}

	// From then on, a change is pushed as soon as it commits.
	start := time.Now()
	e.MustCount(t, "A", 4)
	want = []wire.Change{{Seq: 5, SKU: "A", Delta: -6, Target: 4}}
	if got := c.changesThrough(5); !reflect.DeepEqual(got, want) {
		t.Fatalf("push=%+v, want %+v", got, want)
	}
	t.Logf("pushed %s after the commit began", time.Since(start).Round(time.Microsecond))
}

func TestServer_Snapshot(t *testing.T) {
	t.Parallel()
	e := MustEnv(t, func(s *agentws.Server) { s.SnapshotAfter = 2 })
	creds := map[string]string{}
	for _, name := range []string{"new", "behind", "ahead", "recent", "pruned"} {
		_, creds[name] = e.MustStore(t, name)
	}
	for i, sku := range []string{"A", "B", "C", "D", "E"} {
		e.MustCount(t, sku, int64(10*(i+1))) // seqs 1..5 in every store
	}
	all := map[string]int64{"A": 10, "B": 20, "C": 30, "D": 40, "E": 50}

	expectSnapshot := func(t *testing.T, c *client) {
		t.Helper()
		var snap wire.Snapshot
		c.next(wire.TypeSnapshot, &snap)
		if snap.Seq != 5 || !reflect.DeepEqual(snap.Targets, all) {
			t.Fatalf("snapshot=%+v, want seq 5 and %v", snap, all)
		}
	}
	t.Run("NewAgent", func(t *testing.T) {
		c := e.MustConnect(t, creds["new"])
		c.hello(0)
		expectSnapshot(t, c)
	})
	t.Run("TooFarBehind", func(t *testing.T) {
		c := e.MustConnect(t, creds["behind"])
		c.hello(2) // 3 behind, more than SnapshotAfter
		expectSnapshot(t, c)
	})
	t.Run("RecentEnough", func(t *testing.T) {
		c := e.MustConnect(t, creds["recent"])
		c.hello(3)
		if got := c.changesThrough(5); len(got) != 2 || got[0].Seq != 4 {
			t.Fatalf("replay=%+v, want seqs 4 and 5", got)
		}
	})
	t.Run("EventsPruned", func(t *testing.T) {
		if _, err := e.events.Prune(t.Context(), 1); err != nil {
			t.Fatal(err)
		}
		c := e.MustConnect(t, creds["pruned"])
		c.hello(3) // within SnapshotAfter, but event 4 is gone
		expectSnapshot(t, c)

		// The session carries on after the snapshot.
		e.MustCount(t, "F", 7)
		var ch wire.Changes
		c.next(wire.TypeChanges, &ch)
		if want := []wire.Change{{Seq: 6, SKU: "F", Delta: 7, Target: 7}}; !reflect.DeepEqual(ch.Changes, want) {
			t.Fatalf("changes=%+v, want %+v", ch.Changes, want)
		}
	})
	t.Run("AheadOfHub", func(t *testing.T) {
		// The hub's database was restored from a backup, say: the agent
		// (and its store's stockwire_seq markers) has seen numbers up to
		// 99 that the hub will hand out again, so they must count in a
		// new epoch.
		c := e.MustConnect(t, creds["ahead"])
		old := c.epoch
		w := c.hello(99)
		if w.Epoch == old || w.Epoch == "" {
			t.Fatalf("welcome epoch %q, want a new one (was %q)", w.Epoch, old)
		}
		var snap wire.Snapshot
		c.next(wire.TypeSnapshot, &snap)
		all["F"] = 7 // counted in EventsPruned
		if snap.Seq != 6 || !reflect.DeepEqual(snap.Targets, all) {
			t.Fatalf("snapshot=%+v, want seq 6 and %v", snap, all)
		}
		e.MustCount(t, "A", 11)
		var ch wire.Changes
		c.next(wire.TypeChanges, &ch)
		if want := []wire.Change{{Seq: 7, SKU: "A", Delta: 1, Target: 11}}; !reflect.DeepEqual(ch.Changes, want) {
			t.Fatalf("changes=%+v, want %+v", ch.Changes, want)
		}
		// The agent now resumes in the new epoch.
		c.conn.CloseNow()
		c = e.MustConnect(t, creds["ahead"])
		if c.epoch != w.Epoch {
			t.Fatalf("store epoch %q after the session, want %q", c.epoch, w.Epoch)
		}
		c.hello(7)
		e.MustCount(t, "B", 21)
		if got := c.changesThrough(8); len(got) != 1 || got[0].SKU != "B" {
			t.Fatalf("changes=%+v, want B at seq 8 alone", got)
		}
	})
	t.Run("OtherEpoch", func(t *testing.T) {
		// A store re-created while its agent kept its data, or an agent
		// that predates epochs: its sequence says nothing of this store's,
		// so it gets a snapshot, however close its last_seq looks.
		c := e.MustConnect(t, creds["recent"])
		c.epoch = "0123456789abcdef"
		if w := c.hello(8); w.Epoch == c.epoch {
			t.Fatalf("welcome epoch %q: the hub took the agent's", w.Epoch)
		}
		var snap wire.Snapshot
		c.next(wire.TypeSnapshot, &snap)
		if snap.Seq != 8 || snap.Targets["A"] != 11 || snap.Targets["B"] != 21 {
			t.Fatalf("snapshot=%+v, want one at seq 8 with A=11 and B=21", snap)
		}
	})
}

func TestCoalesce(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		events []hub.Event
		want   []wire.Change
	}{
		{name: "Empty", events: nil, want: []wire.Change{}},
		{name: "OnePerSKU",
			events: []hub.Event{{Seq: 1, SKU: "A", Delta: 1, Target: 5}, {Seq: 2, SKU: "B", Delta: -2, Target: 3}},
			want:   []wire.Change{{Seq: 1, SKU: "A", Delta: 1, Target: 5}, {Seq: 2, SKU: "B", Delta: -2, Target: 3}}},
		{name: "BurstOnOneSKU",
			events: []hub.Event{{Seq: 7, SKU: "A", Delta: -1, Target: 9}, {Seq: 8, SKU: "A", Delta: -1, Target: 8}, {Seq: 9, SKU: "A", Delta: 5, Target: 13}},
			want:   []wire.Change{{Seq: 9, SKU: "A", Delta: 3, Target: 13}}},
		{name: "InterleavedKeepsSequenceOrder",
			events: []hub.Event{{Seq: 1, SKU: "A", Delta: 1, Target: 1}, {Seq: 2, SKU: "B", Delta: 2, Target: 2},
				{Seq: 3, SKU: "A", Delta: 3, Target: 4}, {Seq: 4, SKU: "C", Delta: 4, Target: 4}, {Seq: 5, SKU: "B", Delta: -1, Target: 1}},
			want: []wire.Change{{Seq: 3, SKU: "A", Delta: 4, Target: 4}, {Seq: 4, SKU: "C", Delta: 4, Target: 4}, {Seq: 5, SKU: "B", Delta: 1, Target: 1}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := agentws.Coalesce(tc.events); !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("Coalesce=%+v, want %+v", got, tc.want)
			}
		})
	}
}

// The replay after hello comes change by change: the agent may already
// have written some of them to its store (it skips those by the store's
// sequence meta), and a merged change would be written twice.
func TestServer_ReplayIsNotMerged(t *testing.T) {
	t.Parallel()
	e := MustEnv(t, nil)
	_, cred := e.MustStore(t, "eu")
	e.MustCount(t, "X", 1) // seq 1, applied by the agent
	e.MustCount(t, "A", 10)
	e.MustCount(t, "A", 12)
	e.MustCount(t, "B", 5)
	e.MustCount(t, "A", 7) // seqs 2..5

	c := e.MustConnect(t, cred)
	c.hello(1)
	var ch wire.Changes
	c.next(wire.TypeChanges, &ch)
	want := []wire.Change{{Seq: 2, SKU: "A", Delta: 10, Target: 10}, {Seq: 3, SKU: "A", Delta: 2, Target: 12},
		{Seq: 4, SKU: "B", Delta: 5, Target: 5}, {Seq: 5, SKU: "A", Delta: -5, Target: 7}}
	if !reflect.DeepEqual(ch.Changes, want) {
		t.Fatalf("changes=%+v, want %+v", ch.Changes, want)
	}
}

func TestServer_NewSessionReplacesOld(t *testing.T) {
	t.Parallel()
	e := MustEnv(t, nil)
	st, cred := e.MustStore(t, "eu")
	e.MustCount(t, "A", 10)

	first := e.MustConnect(t, cred)
	first.hello(0)
	first.next(wire.TypeSnapshot, nil)

	second := e.MustConnect(t, cred)
	second.hello(1)
	if ce := first.closed(2 * time.Second); ce.Code != websocket.StatusPolicyViolation || ce.Reason != "replaced by a newer session of this store" {
		t.Fatalf("old session closed with %v %q", ce.Code, ce.Reason)
	}
	e.MustCount(t, "A", 11)
	if got := second.changesThrough(2); got[len(got)-1].Target != 11 {
		t.Fatalf("the new session got %+v", got)
	}

	// The old session's end must not mark the store disconnected.
	second.send(wire.TypeApplied, "", wire.Applied{Seq: 2})
	systest.WaitFor(t, 5*time.Second, "agent state from the new session", func() error {
		got, err := e.stores.Store(t.Context(), st.ID)
		if err != nil {
			return err
		}
		if !got.Agent.Connected || got.Agent.AppliedSeq != 2 {
			return fmt.Errorf("agent state %+v", got.Agent)
		}
		return nil
	})
	for deadline := time.Now().Add(time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if got, err := e.stores.Store(t.Context(), st.ID); err != nil || !got.Agent.Connected {
			t.Fatalf("store shows disconnected while its new session is live: %+v %v", got.Agent, err)
		}
	}
	if !e.srv.Connected(st.ID) {
		t.Fatal("no live session")
	}
}

func TestServer_HeartbeatDetectsDeadPeer(t *testing.T) {
	t.Parallel()
	e := MustEnv(t, func(s *agentws.Server) {
		s.PingInterval = 100 * time.Millisecond
		s.WriteTimeout = 300 * time.Millisecond
	})
	dead, deadCred := e.MustStore(t, "dead")
	live, liveCred := e.MustStore(t, "live")

	// A live agent answers pings (its reader does) and is kept.
	c := e.MustConnect(t, liveCred)
	c.hello(0)
	c.next(wire.TypeSnapshot, nil)

	// A peer that stopped reading never answers a ping.
	e.MustDialStuck(t, deadCred)
	systest.WaitFor(t, 5*time.Second, "dead peer's session up", func() error {
		if !e.srv.Connected(dead.ID) {
			return errors.New("not yet")
		}
		return nil
	})
	systest.WaitFor(t, 5*time.Second, "dead peer dropped", func() error {
		if e.srv.Connected(dead.ID) {
			return errors.New("still connected")
		}
		return nil
	})
	if got := counterValue(t, e.reg, "stockwire_hub_agent_disconnects_total", "heartbeat"); got != 1 {
		t.Fatalf("heartbeat disconnects=%v, want 1 (%s)", got, disconnects(t, e.reg))
	}
	systest.WaitFor(t, 5*time.Second, "dead agent recorded as disconnected", func() error {
		if got, err := e.stores.Store(t.Context(), dead.ID); err != nil || got.Agent.Connected {
			return fmt.Errorf("agent state %+v, %v", got.Agent, err)
		}
		return nil
	})
	if !e.srv.Connected(live.ID) {
		t.Fatal("the live agent was dropped too")
	}
}

// A client that never reads fills its queue and is dropped; the others get
// every change meanwhile.
func TestServer_SlowAgentDroppedWithoutDelayingOthers(t *testing.T) {
	t.Parallel()
	e := MustEnv(t, func(s *agentws.Server) {
		s.SendQueue = 8
		s.BatchSize = 50
		s.WriteTimeout = time.Second
		s.PingInterval = time.Hour // only the queue or a write may drop it
	})
	stuck, stuckCred := e.MustStore(t, "stuck")
	live, liveCred := e.MustStore(t, "live")

	e.MustDialStuck(t, stuckCred)
	c := e.MustConnect(t, liveCred)
	c.hello(0)
	c.next(wire.TypeSnapshot, nil)
	systest.WaitFor(t, 30*time.Second, "stuck session up", func() error {
		if !e.srv.Connected(stuck.ID) {
			return errors.New("not yet")
		}
		return nil
	})

	counts := make([]hub.Count, 2000)
	for i := range counts {
		counts[i] = hub.Count{SKU: fmt.Sprintf("SKU-with-a-name-long-enough-to-fill-socket-buffers-%05d", i), Location: "main", OnHand: 5, Actor: "test"}
	}
	if _, err := e.inv.Import(t.Context(), counts); err != nil {
		t.Fatal(err)
	}
	committed := time.Now()
	head := e.MustHead(t, live.ID)
	if got := c.changesThrough(head); len(got) != len(counts) {
		t.Fatalf("live agent got %d changes, want %d", len(got), len(counts))
	}
	took := time.Since(committed)
	t.Logf("live agent got %d changes %s after the import committed", len(counts), took.Round(time.Millisecond))
	// Held up behind the stuck session, it would wait for that session's
	// drop; the bound is generous, for a loaded machine.
	if took > 30*time.Second {
		t.Fatal("the live agent was held up")
	}
	systest.WaitFor(t, 30*time.Second, "stuck session dropped", func() error {
		if e.srv.Connected(stuck.ID) {
			return errors.New("still connected")
		}
		return nil
	})
	slow := counterValue(t, e.reg, "stockwire_hub_agent_disconnects_total", "slow")
	write := counterValue(t, e.reg, "stockwire_hub_agent_disconnects_total", "write")
	if slow+write != 1 {
		t.Fatalf("want one slow or write disconnect, got %s", disconnects(t, e.reg))
	}
	if !e.srv.Connected(live.ID) {
		t.Fatal("the live agent was dropped")
	}
}

func TestServer_OrderReport(t *testing.T) {
	t.Parallel()
	e := MustEnv(t, nil)
	_, cred := e.MustStore(t, "eu")
	e.MustCount(t, "A", 10)
	c := e.MustConnect(t, cred)
	c.hello(0)
	c.next(wire.TypeSnapshot, nil)
	committed := func() int64 {
		t.Helper()
		s, err := e.inv.Stock(t.Context(), "A")
		if err != nil {
			t.Fatal(err)
		}
		return s.Committed
	}
	order := wire.Order{WooOrderID: 1093, Number: "1093", Status: "processing", DateModified: time.Now().UTC().Truncate(time.Second),
		Lines: []wire.OrderLine{{SKU: "A", Quantity: 2, ProductID: 80}}, Source: "webhook"}

	t.Run("AckedOnlyAfterCommit", func(t *testing.T) {
		// Hold the SKU's row lock so the order's transaction cannot commit.
		raw, err := sql.Open("postgres", e.dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer raw.Close()
		lock, err := raw.BeginTx(t.Context(), nil)
		if err != nil {
			t.Fatal(err)
		}
		defer lock.Rollback()
		if _, err := lock.Exec(`SELECT 1 FROM skus WHERE sku = 'A' FOR UPDATE`); err != nil {
			t.Fatal(err)
		}
		c.send(wire.TypeOrder, "17", order)
		c.quiet(500 * time.Millisecond)
		if got := committed(); got != 0 {
			t.Fatalf("committed=%d before the report's transaction could commit", got)
		}
		lock.Rollback()
		if env, ack := c.ack(); env.ID != "17" || ack.Error != "" {
			t.Fatalf("ack %q %+v, want 17 without error", env.ID, ack)
		}
		if got := committed(); got != 2 {
			t.Fatalf("committed=%d right after the ack, want 2", got)
		}
	})
	t.Run("ResentCountedOnce", func(t *testing.T) {
		c.send(wire.TypeOrder, "18", order) // the agent did not see the ack
		if env, ack := c.ack(); env.ID != "18" || ack.Error != "" {
			t.Fatalf("ack %q %+v", env.ID, ack)
		}
		if got := committed(); got != 2 {
			t.Fatalf("committed=%d after a resend, want 2", got)
		}
	})
	t.Run("RefusedForGood", func(t *testing.T) {
		bad := order
		bad.WooOrderID = 1094
		bad.Lines = []wire.OrderLine{{SKU: "A", Quantity: -3}}
		c.send(wire.TypeOrder, "19", bad)
		if env, ack := c.ack(); env.ID != "19" || !strings.Contains(ack.Error, "negative") {
			t.Fatalf("ack %q %+v, want an error about the quantity", env.ID, ack)
		}
		if got := committed(); got != 2 {
			t.Fatalf("committed=%d after a refused report, want 2", got)
		}
	})
	t.Run("SameOrderIDInAnotherStoreIsAnotherOrder", func(t *testing.T) {
		_, cred2 := e.MustStore(t, "us")
		c2 := e.MustConnect(t, cred2)
		c2.hello(0)
		c2.next(wire.TypeSnapshot, nil)
		c2.send(wire.TypeOrder, "1", order)
		c2.ack()
		if got := committed(); got != 4 {
			t.Fatalf("committed=%d, want 4", got)
		}
	})
}

func TestServer_AgentState(t *testing.T) {
	t.Parallel()
	e := MustEnv(t, nil)
	st, cred := e.MustStore(t, "eu")
	e.MustCount(t, "A", 10)
	e.MustCount(t, "B", 10)

	c := e.MustConnect(t, cred)
	c.hello(1)
	c.changesThrough(2)
	c.send(wire.TypeApplied, "", wire.Applied{Seq: 2})
	c.send(wire.TypeStatus, "", wire.Status{OutboxDepth: 7, WebhooksOK: false, CatalogSKUs: 2,
		DeadLetters: 3, WebhookHealth: wire.WebhookHealthFailing, EditsReverted: 4})
	c.send("agent.future-type", "", map[string]int{"x": 1}) // skipped and counted

	systest.WaitFor(t, 5*time.Second, "agent state stored", func() error {
		got, err := e.stores.Store(t.Context(), st.ID)
		if err != nil {
			return err
		}
		a := got.Agent
		if !a.Connected || a.AppliedSeq != 2 || a.HeadSeq != 2 || a.SeqLag != 0 || a.OutboxDepth != 7 || a.Replica != "test-replica" || a.LastSeen == nil ||
			a.DeadLetters != 3 || a.WebhookHealth != hub.WebhookHealthFailing || a.EditsReverted != 4 {
			return fmt.Errorf("agent state %+v", a)
		}
		return nil
	})

	// The next report replaces the figures; a webhook health this hub does
	// not know (from a newer agent) reads unknown.
	c.send(wire.TypeStatus, "", wire.Status{OutboxDepth: 7, WebhooksOK: true, WebhookHealth: "flaky"})
	systest.WaitFor(t, 5*time.Second, "agent state replaced", func() error {
		got, err := e.stores.Store(t.Context(), st.ID)
		if err != nil {
			return err
		}
		if a := got.Agent; a.DeadLetters != 0 || a.WebhookHealth != hub.WebhookHealthUnknown || a.EditsReverted != 0 {
			return fmt.Errorf("agent state %+v", a)
		}
		return nil
	})
	if got := counterValue(t, e.reg, "stockwire_hub_agent_messages_unknown_total", ""); got != 1 {
		t.Fatalf("unknown messages=%v, want 1", got)
	}

	c.conn.Close(websocket.StatusNormalClosure, "")
	systest.WaitFor(t, 5*time.Second, "agent state disconnected", func() error {
		got, err := e.stores.Store(t.Context(), st.ID)
		if err != nil {
			return err
		}
		if got.Agent.Connected || got.Agent.AppliedSeq != 2 {
			return fmt.Errorf("agent state %+v", got.Agent)
		}
		return nil
	})
	if problems, err := testutil.GatherAndLint(e.reg); err != nil || len(problems) > 0 {
		t.Fatalf("metric lint: %v %v", problems, err)
	}
}

// A new session keeps the dead letters and webhook health the agent last
// reported until its first status report: the hello does not carry them,
// and a reconnect must not read as "no dead letters".
func TestServer_AgentStateKeptAcrossReconnect(t *testing.T) {
	t.Parallel()
	e := MustEnv(t, nil)
	st, cred := e.MustStore(t, "eu")
	agentState := func(want string, ok func(hub.AgentState) bool) {
		t.Helper()
		systest.WaitFor(t, 5*time.Second, want, func() error {
			got, err := e.stores.Store(t.Context(), st.ID)
			if err != nil {
				return err
			}
			if !ok(got.Agent) {
				return fmt.Errorf("agent state %+v", got.Agent)
			}
			return nil
		})
	}
	reported := func(a hub.AgentState) bool {
		return a.DeadLetters == 2 && a.WebhookHealth == hub.WebhookHealthFailing
	}

	c := e.MustConnect(t, cred)
	c.hello(0)
	c.send(wire.TypeStatus, "", wire.Status{DeadLetters: 2, WebhookHealth: wire.WebhookHealthFailing})
	agentState("the status recorded", func(a hub.AgentState) bool { return a.Connected && reported(a) })
	c.conn.Close(websocket.StatusNormalClosure, "")
	agentState("the agent recorded disconnected", func(a hub.AgentState) bool { return !a.Connected })

	c = e.MustConnect(t, cred)
	c.hello(0)
	agentState("the new session recorded with the last report", func(a hub.AgentState) bool { return a.Connected && reported(a) })
}

// Close ends every session with "going away" and waits for them.
func TestServer_Close(t *testing.T) {
	t.Parallel()
	e := MustEnv(t, nil)
	_, cred := e.MustStore(t, "eu")
	c := e.MustConnect(t, cred)
	c.hello(0)
	if err := e.srv.Close(); err != nil {
		t.Fatal(err)
	}
	if ce := c.closed(2 * time.Second); ce.Code != websocket.StatusGoingAway {
		t.Fatalf("closed with %v %q, want going away", ce.Code, ce.Reason)
	}
	if err := e.srv.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, resp, err := e.dial(t.Context(), cred); err == nil || resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("a closed server answered a new session with %v", err)
	}
}

// disconnects lists the disconnect counters by reason.
func disconnects(tb testing.TB, reg *prometheus.Registry) string {
	tb.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		tb.Fatal(err)
	}
	var out []string
	for _, mf := range mfs {
		if mf.GetName() == "stockwire_hub_agent_disconnects_total" {
			for _, m := range mf.GetMetric() {
				out = append(out, fmt.Sprintf("%s=%v", m.GetLabel()[0].GetValue(), m.GetCounter().GetValue()))
			}
		}
	}
	return strings.Join(out, " ")
}

// counterValue returns the value of a counter, or of a counter vector's
// child by label value.
func counterValue(tb testing.TB, reg *prometheus.Registry, name, label string) float64 {
	tb.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		tb.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if label == "" {
				return m.GetCounter().GetValue()
			}
			for _, lp := range m.GetLabel() {
				if lp.GetValue() == label {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}
