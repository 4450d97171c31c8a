package agentws_test

import (
	"database/sql"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/stockwire/stockwire/hub/agentws"
	"github.com/stockwire/stockwire/shared/systest"
	"github.com/stockwire/stockwire/shared/wire"
)

// MustLockSKU holds the row lock of sku until the returned function is
// called (or the test ends), so that no order on it can commit.
func (e *env) MustLockSKU(tb testing.TB, sku string) (unlock func()) {
	tb.Helper()
	raw, err := sql.Open("postgres", e.dsn)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { raw.Close() })
	lock, err := raw.BeginTx(tb.Context(), nil)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { lock.Rollback() })
	if _, err := lock.Exec(`SELECT 1 FROM skus WHERE sku = $1 FOR UPDATE`, sku); err != nil {
		tb.Fatal(err)
	}
	return func() { lock.Rollback() }
}

// MustOutboxDepth waits until the store's agent state shows depth: the
// hub's reader has read every message sent before the status carrying it.
func (e *env) MustOutboxDepth(tb testing.TB, storeID int64, depth int) {
	tb.Helper()
	systest.WaitFor(tb, 5*time.Second, "agent state read", func() error {
		got, err := e.stores.Store(tb.Context(), storeID)
		if err != nil {
			return err
		}
		if got.Agent.OutboxDepth != depth {
			return fmt.Errorf("outbox depth %d, want %d", got.Agent.OutboxDepth, depth)
		}
		return nil
	})
}

func orderOn(sku string, wooID int64) wire.Order {
	return wire.Order{WooOrderID: wooID, Number: strconv.FormatInt(wooID, 10), Status: "processing",
		DateModified: time.Now().UTC().Truncate(time.Second), Lines: []wire.OrderLine{{SKU: sku, Quantity: 1}}}
}

// An order whose commit waits far longer than a heartbeat's timeout does
// not stop the reader: the agent's pongs and later messages are read, and
// the session lives until the commit's ack.
func TestServer_SlowCommitKeepsSession(t *testing.T) {
	t.Parallel()
	e := MustEnv(t, func(s *agentws.Server) {
		s.PingInterval = 100 * time.Millisecond
		s.WriteTimeout = time.Second
		s.StateInterval = 50 * time.Millisecond
	})
	st, cred := e.MustStore(t, "eu")
	e.MustCount(t, "A", 10)
	c := e.MustConnect(t, cred)
	c.hello(0)
	c.next(wire.TypeSnapshot, nil)

	unlock := e.MustLockSKU(t, "A")
	c.send(wire.TypeOrder, "1", orderOn("A", 1))
	c.send(wire.TypeStatus, "", wire.Status{OutboxDepth: 42})
	e.MustOutboxDepth(t, st.ID, 42)
	// Three heartbeats' timeouts while the commit waits: none may be
	// missed.
	c.quiet(3 * time.Second)
	if got := counterValue(t, e.reg, "stockwire_hub_agent_disconnects_total", "heartbeat"); got != 0 || !e.srv.Connected(st.ID) {
		t.Fatalf("session dropped while a commit waited: %s", disconnects(t, e.reg))
	}
	unlock()
	if env, ack := c.ack(); env.ID != "1" || ack.Error != "" {
		t.Fatalf("ack %q %+v, want 1 without error", env.ID, ack)
	}
}

// Reports beyond the report queue are not taken and not acknowledged;
// sent again, they are committed once.
func TestServer_ReportQueueFull(t *testing.T) {
	t.Parallel()
	e := MustEnv(t, func(s *agentws.Server) { s.ReportQueue = 2 })
	st, cred := e.MustStore(t, "eu")
	e.MustCount(t, "A", 100)
	c := e.MustConnect(t, cred)
	c.hello(0)
	c.next(wire.TypeSnapshot, nil)

	// The worker holds at most a round (what was queued) and the queue
	// while the first commit waits: of six reports, at least one is left.
	const sent = 6
	unlock := e.MustLockSKU(t, "A")
	for i := int64(1); i <= sent; i++ {
		c.send(wire.TypeOrder, strconv.FormatInt(i, 10), orderOn("A", i))
	}
	c.send(wire.TypeStatus, "", wire.Status{OutboxDepth: 1})
	e.MustOutboxDepth(t, st.ID, 1)
	deferred := int(counterValue(t, e.reg, "stockwire_hub_agent_reports_deferred_total", ""))
	if deferred < 1 || deferred > sent-3 {
		t.Fatalf("deferred reports=%d, want between 1 and %d", deferred, sent-3)
	}
	unlock()

	acked := map[string]bool{}
	for range sent - deferred {
		env, ack := c.ack()
		if ack.Error != "" || acked[env.ID] {
			t.Fatalf("ack %q %+v (acked before: %v)", env.ID, ack, acked[env.ID])
		}
		acked[env.ID] = true
	}
	for i := int64(1); i <= sent; i++ {
		if id := strconv.FormatInt(i, 10); !acked[id] {
			c.send(wire.TypeOrder, id, orderOn("A", i))
			if env, ack := c.ack(); env.ID != id || ack.Error != "" {
				t.Fatalf("resent %s: ack %q %+v", id, env.ID, ack)
			}
		}
	}
	s, err := e.inv.Stock(t.Context(), "A")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := s.Committed, int64(sent); got != want {
		t.Fatalf("Committed=%d, want %d", got, want)
	}
}
