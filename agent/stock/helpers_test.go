// The rig of the writer's tests: a woosim store, a running writer, waits
// on its progress, and the metrics it shows.

package stock_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/stockwire/stockwire/agent/stock"
	"github.com/stockwire/stockwire/agent/wooclient"
	"github.com/stockwire/stockwire/agent/wooclient/wooclienttest"
	"github.com/stockwire/stockwire/shared/systest"
	"github.com/stockwire/stockwire/shared/wire"
	"github.com/stockwire/stockwire/shared/woosim"
	"github.com/stockwire/stockwire/shared/woosim/woosimtest"
)

const (
	key    = "ck_1111111111111111111111111111111111111111"
	secret = "cs_2222222222222222222222222222222222222222"
)

func mustSim(tb testing.TB, products int) *woosim.Server {
	tb.Helper()
	return woosimtest.Start(tb, woosim.Options{ConsumerKey: key, ConsumerSecret: secret, Logger: slog.New(slog.DiscardHandler)},
		woosim.SeedOptions{Products: products, Stock: 1000})
}

func sku(i int) string { return fmt.Sprintf("SKU-%06d", i) }

// testEpoch is the store epoch mustWriter welcomes its writers in, with
// welcomeHead as the hub's head: a new store, every change a test sends
// comes after the welcome.
const (
	testEpoch   = "7e57e90c"
	welcomeHead = 0
)

type running struct {
	w    *stock.Writer
	reg  *prometheus.Registry
	stop func()
}

// mustWriter starts a writer against baseURL; stop cancels it and waits.
func mustWriter(tb testing.TB, baseURL, dir string, mod func(*stock.Config)) *running {
	tb.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(tb.Output(), nil))
	}
	ccfg := wooclienttest.Config(tb, baseURL, key, secret)
	ccfg.Logger = log
	cl, err := wooclient.New(ccfg)
	if err != nil {
		tb.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	cfg := stock.Config{API: cl, DataDir: dir, Logger: log, Registerer: reg,
		CheckInterval: 50 * time.Millisecond, ConfirmDelay: 150 * time.Millisecond, VerifyDelay: 10 * time.Millisecond,
		LowSettle: time.Millisecond}
	if mod != nil {
		mod(&cfg)
	}
	w, err := stock.New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	w.Welcome(testEpoch, welcomeHead)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		w.Run(ctx)
	}()
	var once sync.Once
	stop := func() { once.Do(func() { cancel(); <-done }) }
	tb.Cleanup(stop)
	return &running{w: w, reg: reg, stop: stop}
}

// waitTimeout bounds every wait of these tests.
const waitTimeout = 20 * time.Second

// waitApplied waits until w's AppliedSeq reaches seq.
func waitApplied(tb testing.TB, w *stock.Writer, seq int64) {
	tb.Helper()
	systest.WaitFor(tb, waitTimeout, fmt.Sprintf("applied %d", seq), func() error {
		if got := w.AppliedSeq(); got != seq {
			return fmt.Errorf("AppliedSeq=%d, want %d", got, seq)
		}
		return nil
	})
}

// waitStock waits until the store shows want for sku.
func waitStock(tb testing.TB, srv *woosim.Server, sku string, want int64) {
	tb.Helper()
	systest.WaitFor(tb, waitTimeout, fmt.Sprintf("%s at %d in the store", sku, want), func() error {
		if got := stockOf(tb, srv, sku); got != want {
			return fmt.Errorf("%s stock=%d, want %d", sku, got, want)
		}
		return nil
	})
}

// waitChecks waits until more than n safety-net rounds ran.
func waitChecks(tb testing.TB, w *stock.Writer, n int64) {
	tb.Helper()
	systest.WaitFor(tb, waitTimeout, fmt.Sprintf("more than %d safety-net rounds", n), func() error {
		if got := w.Checks(); got <= n {
			return fmt.Errorf("%d rounds", got)
		}
		return nil
	})
}

func stockOf(tb testing.TB, srv *woosim.Server, s string) int64 {
	tb.Helper()
	q, ok := srv.Store.StockBySKU(s)
	if !ok {
		tb.Fatalf("no stock for %s", s)
	}
	return q
}

func counter(tb testing.TB, reg *prometheus.Registry, name string, labels ...string) float64 {
	tb.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		tb.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			for i := 0; i+1 < len(labels); i += 2 {
				for _, lp := range m.GetLabel() {
					if lp.GetName() == labels[i] && lp.GetValue() != labels[i+1] {
						continue next
					}
				}
			}
			sum += m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
	}
	return sum
}

// burst makes n changes over skus SKUs, in hub messages of 100, and
// returns the final targets.
func burst(w *stock.Writer, n, skus int, firstSeq int64) map[string]int64 {
	targets := map[string]int64{}
	var msg []wire.Change
	for i := 0; i < n; i++ {
		s := sku(i%skus + 1)
		if _, ok := targets[s]; !ok {
			targets[s] = 1000
		}
		d := int64(rand.IntN(7) - 3)
		targets[s] += d
		msg = append(msg, wire.Change{Seq: firstSeq + int64(i), SKU: s, Delta: d, Target: targets[s]})
		if len(msg) == 100 {
			w.Apply(msg)
			msg = nil
		}
	}
	w.Apply(msg)
	return targets
}
