package hubconn_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
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
	down := httptest.NewServer(http.NotFoundHandler())
	down.Close() // nothing listens there any more
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
