package hubconn_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/stockwire/stockwire/agent"
	"github.com/stockwire/stockwire/agent/hubconn"
	"github.com/stockwire/stockwire/shared/backoff"
	"github.com/stockwire/stockwire/shared/systest"
	"github.com/stockwire/stockwire/shared/wire"
)

func TestParseHubURLs(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		list string
		want int // URLs, 0 for an error
	}{
		{"http://hub:8080", 1},
		{"http://hub-a:8080,https://hub-b:8443/base", 2},
		{" http://a:1 , http://b:2 ,http://c:3", 3},
		{"", 0},
		{"http://a:1,,http://b:2", 0},
		{"http://a:1,", 0},
		{"ftp://a:1", 0},
		{"http://a:1,hub-b:8080", 0},
	} {
		urls, err := hubconn.ParseHubURLs(tc.list)
		if tc.want == 0 {
			if err == nil {
				t.Errorf("ParseHubURLs(%q)=%v, want an error", tc.list, urls)
			}
			continue
		}
		if err != nil || len(urls) != tc.want {
			t.Errorf("ParseHubURLs(%q)=%v, %v; want %d URLs", tc.list, urls, err, tc.want)
		}
	}
}

// fakeHub accepts agent sessions, counts their hellos and ends each
// session right after the hello, as a replica going away would.
type fakeHub struct {
	*httptest.Server
	hellos atomic.Int64
}

func newFakeHub(t *testing.T) *fakeHub {
	h := &fakeHub{}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, &websocket.AcceptOptions{Subprotocols: []string{wire.Subprotocol}})
		if err != nil {
			return
		}
		defer c.CloseNow()
		if _, _, err := c.Read(r.Context()); err != nil {
			return
		}
		h.hellos.Add(1)
		c.Close(websocket.StatusGoingAway, "hub shutting down")
	}))
	t.Cleanup(h.Close)
	return h
}

type nopHandler struct{}

func (nopHandler) Hello() wire.Hello                           { return wire.Hello{} }
func (nopHandler) Session(ctx context.Context, _ agent.Sender) { <-ctx.Done() }
func (nopHandler) Handle(context.Context, wire.Envelope)       {}

func TestClient_RotatesThroughHubURLs(t *testing.T) {
	t.Parallel()
	// A replica that is down answers 503 to every request. (A closed
	// server's port is free for any other test's listener to take, and
	// then answers.)
	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "replica down", http.StatusServiceUnavailable)
	}))
	t.Cleanup(down.Close)
	up := newFakeHub(t)

	c, err := hubconn.New(down.URL+","+up.URL, "swa_test", nopHandler{}, slog.New(slog.DiscardHandler), nil)
	if err != nil {
		t.Fatal(err)
	}
	c.Backoff = backoff.Policy{Min: 5 * time.Millisecond, Max: 20 * time.Millisecond}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if err := c.Probe(ctx); err != nil {
		t.Fatalf("Probe with one replica down: %v", err)
	}
	probes := up.hellos.Load()

	// Each session ends at once; the client goes back and forth between the
	// replica that is down and the one that is up, and keeps reaching the
	// latter.
	rctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); c.Run(rctx) }()
	systest.WaitFor(t, 10*time.Second, "three hellos at the live replica", func() error {
		if n := up.hellos.Load() - probes; n < 3 {
			return fmt.Errorf("the live replica got %d hellos", n)
		}
		return nil
	})
	stop()
	wg.Wait()

	t.Run("AllDown", func(t *testing.T) {
		c, err := hubconn.New(down.URL+","+down.URL, "swa_test", nopHandler{}, slog.New(slog.DiscardHandler), nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Probe(ctx); err == nil || errors.Is(err, hubconn.ErrUnauthorized) {
			t.Fatalf("Probe with every replica down: %v", err)
		}
	})
}

// sessionHub accepts agent sessions, counts their hellos and hands each
// connection to its session function after the hello.
type sessionHub struct {
	*httptest.Server
	hellos  atomic.Int64
	helloAt atomic.Int64 // UnixNano of the first hello
}

func newSessionHub(t *testing.T, session func(ctx context.Context, c *websocket.Conn)) *sessionHub {
	h := &sessionHub{}
	done := make(chan struct{})
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, &websocket.AcceptOptions{Subprotocols: []string{wire.Subprotocol}})
		if err != nil {
			return
		}
		defer c.CloseNow()
		if _, _, err := c.Read(r.Context()); err != nil {
			return
		}
		h.helloAt.CompareAndSwap(0, time.Now().UnixNano())
		h.hellos.Add(1)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		stop := context.AfterFunc(r.Context(), cancel)
		defer stop()
		go func() {
			select {
			case <-done:
				cancel()
			case <-ctx.Done():
			}
		}()
		session(ctx, c)
	}))
	t.Cleanup(h.Close)
	t.Cleanup(func() { close(done) }) // runs first: ends the sessions Close would wait on
	return h
}

// A hub that stops answering (a frozen process keeps the TCP connection
// open) is dropped within a few ping intervals, and the agent moves to the
// next replica.
func TestClient_SilentHub(t *testing.T) {
	t.Parallel()
	// It keeps the session open and never reads again, so it never
	// answers a ping: what a SIGSTOPped hub does.
	silent := newSessionHub(t, func(ctx context.Context, _ *websocket.Conn) { <-ctx.Done() })
	live := newSessionHub(t, func(ctx context.Context, c *websocket.Conn) {
		for ctx.Err() == nil {
			if _, _, err := c.Read(ctx); err != nil {
				return
			}
		}
	})
	const interval = time.Second
	var logs systest.SyncBuffer
	c, err := hubconn.New(silent.URL+","+live.URL, "swa_test", nopHandler{}, slog.New(slog.NewTextHandler(&logs, nil)), nil)
	if err != nil {
		t.Fatal(err)
	}
	c.PingInterval = interval
	c.Backoff = backoff.Policy{Min: 5 * time.Millisecond, Max: 20 * time.Millisecond}
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); c.Run(ctx) }()
	defer func() { cancel(); wg.Wait() }()

	systest.WaitFor(t, 10*interval, "a hello at the live replica", func() error {
		if live.hellos.Load() == 0 {
			return errors.New("none yet")
		}
		return nil
	})
	moved := time.Duration(live.helloAt.Load() - silent.helloAt.Load())
	t.Logf("moved to the live replica %s after the hello to the silent one", moved.Round(time.Millisecond))
	if moved > 3*interval {
		t.Errorf("the silent hub was left after %s, want within 3 ping intervals (%s)", moved, 3*interval)
	}
	if want := hubconn.ErrHubSilent.Error(); !strings.Contains(logs.String(), want) {
		t.Errorf("the log does not say %q:\n%s", want, logs.String())
	}

	// The live hub answers pings: the link stays up over many intervals.
	t.Run("LiveHubKept", func(t *testing.T) {
		c, err := hubconn.New(live.URL, "swa_test", nopHandler{}, slog.New(slog.DiscardHandler), nil)
		if err != nil {
			t.Fatal(err)
		}
		c.PingInterval = 250 * time.Millisecond
		before := live.hellos.Load()
		ctx, cancel := context.WithTimeout(t.Context(), 8*c.PingInterval)
		defer cancel()
		c.Run(ctx)
		if n := live.hellos.Load() - before; n != 1 {
			t.Fatalf("%d hellos over 8 ping intervals, want 1 (the link kept)", n)
		}
	})
}

// The hub ends a revoked store's session with wire.CloseRevoked: the
// client stops with ErrUnauthorized whatever the reason says, and goes on
// reconnecting after any other close, whatever its reason says.
func TestClient_RevokedByCloseCode(t *testing.T) {
	t.Parallel()
	t.Run("CloseRevoked", func(t *testing.T) {
		t.Parallel()
		hub := newSessionHub(t, func(_ context.Context, c *websocket.Conn) {
			c.Close(websocket.StatusCode(wire.CloseRevoked), "bye")
		})
		c, err := hubconn.New(hub.URL, "swa_test", nopHandler{}, slog.New(slog.DiscardHandler), nil)
		if err != nil {
			t.Fatal(err)
		}
		c.Backoff = backoff.Policy{Min: 5 * time.Millisecond, Max: 20 * time.Millisecond}
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		if err := c.Run(ctx); !errors.Is(err, hubconn.ErrUnauthorized) {
			t.Fatalf("Run=%v, want ErrUnauthorized", err)
		}
		if n := hub.hellos.Load(); n != 1 {
			t.Fatalf("%d hellos, want 1 (no reconnection after the revocation)", n)
		}
	})
	t.Run("OtherCodeSayingRevoked", func(t *testing.T) {
		t.Parallel()
		hub := newSessionHub(t, func(_ context.Context, c *websocket.Conn) {
			c.Close(websocket.StatusPolicyViolation, "store credential revoked")
		})
		c, err := hubconn.New(hub.URL, "swa_test", nopHandler{}, slog.New(slog.DiscardHandler), nil)
		if err != nil {
			t.Fatal(err)
		}
		c.Backoff = backoff.Policy{Min: 5 * time.Millisecond, Max: 20 * time.Millisecond}
		ctx, cancel := context.WithCancel(t.Context())
		errc := make(chan error, 1)
		go func() { errc <- c.Run(ctx) }()
		systest.WaitFor(t, 10*time.Second, "three hellos", func() error {
			if n := hub.hellos.Load(); n < 3 {
				return fmt.Errorf("%d hellos", n)
			}
			return nil
		})
		cancel()
		if err := <-errc; err != nil {
			t.Fatalf("Run=%v after ctx ended, want nil", err)
		}
	})
}
