// Package woosimtest starts woosim stores for tests, as httptest starts
// servers: on loopback, seeded, closed when the test ends.
package woosimtest

import (
	"log/slog"
	"testing"

	"github.com/stockwire/stockwire/shared/woosim"
)

// Start serves a new store with opts, closed when tb ends, and seeds it
// with seed when seed asks for any product. A nil opts.Logger logs the
// store's warnings into tb's output.
func Start(tb testing.TB, opts woosim.Options, seed woosim.SeedOptions) *woosim.Server {
	tb.Helper()
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(tb.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	srv, err := woosim.Start(opts)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(srv.Close)
	if seed.Products > 0 || seed.Variable > 0 {
		if err := srv.Store.Seed(seed); err != nil {
			tb.Fatal(err)
		}
	}
	return srv
}
