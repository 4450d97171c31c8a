package wooclient_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/time/rate"

	"github.com/stockwire/stockwire/agent/wooclient"
)

// host is a loopback server holding several stores under one host, as a
// WordPress multisite network does (/<site>/wp-json/...), that counts the
// TCP connections it accepts. A request to a path holding "/hang/" waits
// until unhang is closed.
type host struct {
	srv      *httptest.Server
	accepted atomic.Int64
	hung     chan struct{} // a request is hanging
	unhang   chan struct{}
}

func newHost(t *testing.T) *host {
	h := &host{hung: make(chan struct{}, 1), unhang: make(chan struct{})}
	h.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.Contains(r.URL.Path, "/hang/") {
			h.hung <- struct{}{}
			<-h.unhang
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"id":1,"sku":"A","stock_quantity":3}`)
	}))
	h.srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			h.accepted.Add(1)
		}
	}
	h.srv.Start()
	t.Cleanup(func() {
		select {
		case <-h.unhang:
		default:
			close(h.unhang)
		}
		h.srv.Close()
	})
	return h
}

// store returns a client of the store at path on h, with its HTTP client
// from pools (nil: its own).
func (h *host) store(t *testing.T, pools *wooclient.Pools, path string) *wooclient.Client {
	t.Helper()
	cfg := wooclient.Config{BaseURL: h.srv.URL + path, ConsumerKey: "ck_x", ConsumerSecret: "cs_x", RateLimit: rate.Inf, MaxRetries: -1}
	if pools != nil {
		hc, release, err := pools.Client(cfg.BaseURL)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(release)
		cfg.HTTPClient = hc
	}
	c, err := wooclient.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestPools(t *testing.T) {
	t.Run("OneHostOneConnection", func(t *testing.T) {
		h := newHost(t)
		var pools wooclient.Pools
		a, b := h.store(t, &pools, "/site-a"), h.store(t, &pools, "/site-b")
		for _, c := range []*wooclient.Client{a, b, a, b} {
			if _, err := c.GetProduct(t.Context(), 1); err != nil {
				t.Fatal(err)
			}
		}
		if got, want := h.accepted.Load(), int64(1); got != want {
			t.Fatalf("connections accepted=%d, want %d: two stores of one host share the idle connection", got, want)
		}
	})
	t.Run("OwnPoolEach", func(t *testing.T) {
		// What each store did on its own pool: a connection per store.
		h := newHost(t)
		a, b := h.store(t, nil, "/site-a"), h.store(t, nil, "/site-b")
		for _, c := range []*wooclient.Client{a, b, a, b} {
			if _, err := c.GetProduct(t.Context(), 1); err != nil {
				t.Fatal(err)
			}
		}
		if got, want := h.accepted.Load(), int64(2); got != want {
			t.Fatalf("connections accepted=%d, want %d", got, want)
		}
	})
	t.Run("HangingStoreIsolated", func(t *testing.T) {
		h := newHost(t)
		var pools wooclient.Pools
		a, b := h.store(t, &pools, "/hang"), h.store(t, &pools, "/site-b")
		hungDone := make(chan error, 1)
		go func() {
			_, err := a.GetProduct(context.Background(), 1)
			hungDone <- err
		}()
		select {
		case <-h.hung:
		case <-time.After(10 * time.Second):
			t.Fatal("the hanging request never reached the server")
		}
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		defer cancel()
		for range 3 {
			if _, err := b.GetProduct(ctx, 1); err != nil {
				t.Fatalf("the other store of the host, while one hangs: %v", err)
			}
		}
		close(h.unhang)
		if err := <-hungDone; err != nil {
			t.Fatal(err)
		}
		if got, want := h.accepted.Load(), int64(2); got != want {
			t.Fatalf("connections accepted=%d, want %d (the hanging one, and one for the other store)", got, want)
		}
	})
	t.Run("PerHost", func(t *testing.T) {
		var pools wooclient.Pools
		a, releaseA, err := pools.Client("https://Net.example/site-a")
		if err != nil {
			t.Fatal(err)
		}
		b, releaseB, err := pools.Client("https://net.example:443/site-b")
		if err != nil {
			t.Fatal(err)
		}
		other, releaseOther, err := pools.Client("http://net.example/site-c")
		if err != nil {
			t.Fatal(err)
		}
		if a != b || a == other {
			t.Fatal("want one client for https://net.example, another for http://net.example")
		}
		releaseA()
		releaseA() // once only
		releaseOther()
		if c, release, _ := pools.Client("https://net.example/site-d"); c != b {
			t.Fatal("a host's pool dropped while a store still uses it")
		} else {
			release()
		}
		releaseB()
		if c, release, _ := pools.Client("https://net.example/site-a"); c == b {
			t.Fatal("a host's pool kept once no store uses it")
		} else {
			release()
		}
		if _, _, err := pools.Client("ftp://net.example"); err == nil {
			t.Fatal("want an error for a store URL that is not http(s)")
		}
	})
}
