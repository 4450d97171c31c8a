// Package wooclienttest gives tests a WooCommerce client of a woosim store
// tuned for tests: no rate limit, retries a few milliseconds apart, a
// short per-attempt timeout, logs into the test's output.
package wooclienttest

import (
	"log/slog"
	"testing"
	"time"

	"golang.org/x/time/rate"

	"github.com/stockwire/stockwire/agent/wooclient"
	"github.com/stockwire/stockwire/shared/woosim"
)

// Config is the test configuration of a client of the store at baseURL
// (the store itself, or a proxy in front of it) with its keys, for a test
// that tunes it further before wooclient.New.
func Config(tb testing.TB, baseURL, key, secret string) wooclient.Config {
	return wooclient.Config{BaseURL: baseURL, ConsumerKey: key, ConsumerSecret: secret,
		RateLimit: rate.Inf, MinBackoff: time.Millisecond, MaxBackoff: 20 * time.Millisecond, Timeout: 5 * time.Second,
		Logger: slog.New(slog.NewTextHandler(tb.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))}
}

// New returns a client of sim with Config's settings.
func New(tb testing.TB, sim *woosim.Server) *wooclient.Client {
	tb.Helper()
	c, err := wooclient.New(Config(tb, sim.URL, sim.Store.ConsumerKey(), sim.Store.ConsumerSecret()))
	if err != nil {
		tb.Fatal(err)
	}
	return c
}
