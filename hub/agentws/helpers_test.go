package agentws_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	_ "github.com/lib/pq"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/stockwire/stockwire/hub"
	"github.com/stockwire/stockwire/hub/agentws"
	"github.com/stockwire/stockwire/hub/postgres"
	"github.com/stockwire/stockwire/hub/postgres/postgrestest"
	"github.com/stockwire/stockwire/shared/pgtest"
	"github.com/stockwire/stockwire/shared/systest"
	"github.com/stockwire/stockwire/shared/wire"
)

func TestMain(m *testing.M) { postgrestest.MainNoLeaks(m) }

// env is one fresh database, its services, and one hub replica: the link
// server on a loopback httptest server, woken by the database's real
// LISTEN/NOTIFY. MustReplica adds another replica on the same database.
type env struct {
	dsn      string
	db       *postgres.DB
	inv      *postgres.InventoryService
	stores   *postgres.StoreService
	orders   *postgres.OrderService
	events   *postgres.EventService
	sessions *postgres.SessionService

	srv   *agentws.Server
	reg   *prometheus.Registry
	http  *httptest.Server
	wsURL string

	// stuckPeers holds the addresses of clients that will not read; the
	// hub's end of their sockets gets a small send buffer.
	stuckPeers *sync.Map
}

// stuckPeerListener shrinks the send buffer of sockets from stuck peers, so
// that a client that stops reading holds the hub's writes up after a few
// kilobytes rather than megabytes.
type stuckPeerListener struct {
	net.Listener
	peers *sync.Map
}

func (l *stuckPeerListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &stuckPeerConn{Conn: c, peers: l.peers}, nil
}

type stuckPeerConn struct {
	net.Conn
	peers *sync.Map
	once  sync.Once
}

func (c *stuckPeerConn) Write(p []byte) (int, error) {
	c.once.Do(func() {
		// The client registered its address before sending its request.
		if _, ok := c.peers.Load(c.RemoteAddr().String()); ok {
			c.Conn.(*net.TCPConn).SetWriteBuffer(4096)
		}
	})
	return c.Conn.Write(p)
}

// probeStore is a store id no test uses, revoked to probe the session
// listener.
const probeStore = math.MaxInt64

// MustEnv starts a database and a first replica named "test-replica";
// tune adjusts its tunables before the first connection.
func MustEnv(tb testing.TB, tune func(*agentws.Server)) *env {
	tb.Helper()
	dsn := pgtest.NewDB(tb)
	db, err := postgres.Open(context.Background(), dsn, nil)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	events, err := postgres.NewEventService(context.Background(), db)
	if err != nil {
		tb.Fatal(err)
	}
	e := &env{dsn: dsn, db: db, inv: postgres.NewInventoryService(db), stores: postgres.NewStoreService(db),
		orders: postgres.NewOrderService(db), events: events, sessions: postgres.NewSessionService(db)}
	return e.MustReplica(tb, "test-replica", tune)
}

// MustReplica starts another link server on e's database, as another hub
// process would, and returns e with its own server, registry and URL.
func (e *env) MustReplica(tb testing.TB, name string, tune func(*agentws.Server)) *env {
	tb.Helper()
	r := *e
	r.stuckPeers = &sync.Map{}
	r.reg = prometheus.NewRegistry()
	r.srv = agentws.NewServer(r.stores, r.events, r.orders, r.sessions, pgtest.Logger(tb).With("replica", name), r.reg)
	r.srv.Replica = name
	if tune != nil {
		tune(r.srv)
	}

	ctx, cancel := context.WithCancel(context.Background())
	var heardEvents, heardSessions atomic.Bool
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		err := r.db.Listen(ctx, func(ids []int64) {
			heardEvents.Store(true)
			r.srv.Notify(ids)
		})
		if err != nil {
			tb.Errorf("listen for events: %v", err)
		}
	}()
	go func() {
		defer wg.Done()
		err := r.sessions.Listen(ctx, func(n hub.SessionNotice) {
			if n.StoreID == probeStore { // the readiness probe below
				heardSessions.Store(true)
				return
			}
			r.srv.SessionNotice(n)
		})
		if err != nil {
			tb.Errorf("listen for sessions: %v", err)
		}
	}()
	// LISTEN starts in the background: wait until notifications get
	// through, so that no test relies on one the listeners missed.
	raw, err := sql.Open("postgres", r.dsn)
	if err != nil {
		tb.Fatal(err)
	}
	defer raw.Close()
	systest.WaitFor(tb, 10*time.Second, "listeners ready", func() error {
		if _, err := raw.Exec(`SELECT pg_notify($1, ''), pg_notify($2, $3)`, postgres.NotifyChannel, postgres.SessionChannel,
			fmt.Sprintf("revoke:%d", probeStore)); err != nil {
			return err
		}
		if !heardEvents.Load() || !heardSessions.Load() {
			return errors.New("no notification yet")
		}
		return nil
	})

	r.http = httptest.NewUnstartedServer(r.srv)
	r.http.Listener = &stuckPeerListener{Listener: r.http.Listener, peers: r.stuckPeers}
	r.http.Start()
	r.wsURL = "ws" + strings.TrimPrefix(r.http.URL, "http") + wire.AgentPath
	tb.Cleanup(func() {
		r.srv.Close()
		r.http.Close()
		cancel()
		wg.Wait()
	})
	return &r
}

// MustStore creates a mirror store and returns it with its credential.
func (e *env) MustStore(tb testing.TB, name string) (hub.Store, string) {
	tb.Helper()
	st, cred, err := e.stores.Create(context.Background(), hub.NewStore{Name: name, URL: "https://" + name + ".example", Policy: hub.PolicyMirror})
	if err != nil {
		tb.Fatal(err)
	}
	return st, cred
}

// MustCount sets the on-hand count of sku (one event per store).
func (e *env) MustCount(tb testing.TB, sku string, n int64) {
	tb.Helper()
	if _, err := e.inv.SetCount(context.Background(), hub.Count{SKU: sku, Location: "main", OnHand: n, Actor: "test"}); err != nil {
		tb.Fatal(err)
	}
}

// MustHead returns the store's newest sequence.
func (e *env) MustHead(tb testing.TB, storeID int64) int64 {
	tb.Helper()
	head, err := e.events.HeadSeq(context.Background(), storeID)
	if err != nil {
		tb.Fatal(err)
	}
	return head
}

// client is a test agent speaking the protocol. Its reader goroutine puts
// every message on msgs and, at the end, the connection's error on done.
type client struct {
	tb testing.TB
	// epoch is what hello states: the store's epoch when the client
	// connected (its agent resumes), unless a test sets another.
	epoch string
	conn  *websocket.Conn
	msgs  chan wire.Envelope
	done  chan error
}

// dial connects with the credential (none when empty) offering
// wire.Subprotocol.
func (e *env) dial(ctx context.Context, token string) (*websocket.Conn, *http.Response, error) {
	return e.dialWith(ctx, token, []string{wire.Subprotocol}, false)
}

// dialWith is dial offering the given subprotocols. A stuck client's socket
// buffers are small on both ends, for a client that will stop reading.
func (e *env) dialWith(ctx context.Context, token string, subprotocols []string, stuck bool) (*websocket.Conn, *http.Response, error) {
	h := http.Header{}
	if token != "" {
		h.Set("Authorization", "Bearer "+token)
	}
	hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		if tc, ok := c.(*net.TCPConn); ok && stuck {
			tc.SetReadBuffer(4096)
			e.stuckPeers.Store(tc.LocalAddr().String(), true)
		}
		return c, err
	}}}
	return websocket.Dial(ctx, e.wsURL, &websocket.DialOptions{HTTPClient: hc, HTTPHeader: h, Subprotocols: subprotocols})
}

// MustDialStuck connects a client that says hello and then never reads.
func (e *env) MustDialStuck(tb testing.TB, token string) {
	tb.Helper()
	conn, _, err := e.dialWith(tb.Context(), token, []string{wire.Subprotocol}, true)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { conn.CloseNow() })
	hello, _ := wire.Encode(wire.TypeHello, "", wire.Hello{})
	if err := conn.Write(tb.Context(), websocket.MessageText, hello); err != nil {
		tb.Fatal(err)
	}
}

// MustConnect dials with the credential and starts reading.
func (e *env) MustConnect(tb testing.TB, token string) *client {
	tb.Helper()
	return e.MustConnectWith(tb, token, []string{wire.Subprotocol})
}

// MustConnectWith is MustConnect offering the given subprotocols.
func (e *env) MustConnectWith(tb testing.TB, token string, subprotocols []string) *client {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, _, err := e.dialWith(ctx, token, subprotocols, false)
	if err != nil {
		tb.Fatalf("dial: %v", err)
	}
	c := &client{tb: tb, conn: conn, msgs: make(chan wire.Envelope, 4096), done: make(chan error, 1)}
	if st, err := e.stores.AuthenticateAgent(ctx, token); err == nil {
		c.epoch = st.Epoch
	}
	tb.Cleanup(func() { conn.CloseNow() })
	go func() {
		for {
			_, data, err := conn.Read(context.Background())
			if err != nil {
				c.done <- err
				close(c.msgs)
				return
			}
			env, err := wire.Decode(data)
			if err != nil {
				c.done <- fmt.Errorf("hub sent a malformed message: %w", err)
				close(c.msgs)
				return
			}
			c.msgs <- env
		}
	}()
	return c
}

// send writes one message.
func (c *client) send(typ, id string, v any) {
	c.tb.Helper()
	data, err := wire.Encode(typ, id, v)
	if err != nil {
		c.tb.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.conn.Write(ctx, websocket.MessageText, data); err != nil {
		c.tb.Fatalf("send %s: %v", typ, err)
	}
}

// hello says hello and returns the welcome.
func (c *client) hello(lastSeq int64) wire.Welcome {
	c.tb.Helper()
	c.send(wire.TypeHello, "", wire.Hello{LastSeq: lastSeq, Epoch: c.epoch, AgentVersion: "test", OutboxDepth: 3})
	var w wire.Welcome
	c.next(wire.TypeWelcome, &w)
	return w
}

// next waits for the next message, which must be of type typ, and decodes
// its payload into v.
func (c *client) next(typ string, v any) wire.Envelope {
	c.tb.Helper()
	select {
	case env, ok := <-c.msgs:
		if !ok {
			c.tb.Fatalf("connection ended while waiting for %s", typ)
		}
		if env.Type != typ {
			c.tb.Fatalf("got %s %s, want %s", env.Type, env.Payload, typ)
		}
		if v != nil {
			if err := json.Unmarshal(env.Payload, v); err != nil {
				c.tb.Fatal(err)
			}
		}
		return env
	case <-time.After(5 * time.Second):
		c.tb.Fatalf("no %s within 5s", typ)
	}
	panic("unreachable")
}

// ack waits for the next acknowledgement, skipping pushed changes (the
// store's own sale is pushed back with delta 0).
func (c *client) ack() (wire.Envelope, wire.Ack) {
	c.tb.Helper()
	for {
		select {
		case env, ok := <-c.msgs:
			if !ok {
				c.tb.Fatal("connection ended while waiting for an ack")
			}
			if env.Type == wire.TypeChanges {
				continue
			}
			var a wire.Ack
			if env.Type != wire.TypeAck || json.Unmarshal(env.Payload, &a) != nil {
				c.tb.Fatalf("got %s %s, want ack", env.Type, env.Payload)
			}
			return env, a
		case <-time.After(5 * time.Second):
			c.tb.Fatal("no ack within 5s")
		}
	}
}

// changesThrough collects pushed changes until one carries seq or later.
func (c *client) changesThrough(seq int64) []wire.Change {
	c.tb.Helper()
	var all []wire.Change
	for {
		var ch wire.Changes
		c.next(wire.TypeChanges, &ch)
		all = append(all, ch.Changes...)
		if n := len(all); n > 0 && all[n-1].Seq >= seq {
			return all
		}
	}
}

// closed waits for the hub to end the connection and returns its close
// error.
func (c *client) closed(timeout time.Duration) websocket.CloseError {
	c.tb.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case <-c.msgs: // skip what was queued before the close
		case err := <-c.done:
			var ce websocket.CloseError
			if !errors.As(err, &ce) {
				c.tb.Fatalf("connection ended without a close frame: %v", err)
			}
			return ce
		case <-deadline:
			c.tb.Fatalf("the hub did not close the connection within %s", timeout)
		}
	}
}

// quiet fails if a message arrives within d: used only to show that
// something does not happen.
func (c *client) quiet(d time.Duration) {
	c.tb.Helper()
	select {
	case env, ok := <-c.msgs:
		if ok {
			c.tb.Fatalf("unexpected %s %s", env.Type, env.Payload)
		}
		c.tb.Fatalf("connection ended: %v", <-c.done)
	case <-time.After(d):
	}
}
