package orders_test

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"golang.org/x/sync/errgroup"
	"golang.org/x/time/rate"

	"github.com/stockwire/stockwire/agent/hooks"
	"github.com/stockwire/stockwire/agent/outbox"
	"github.com/stockwire/stockwire/agent/webhook"
	"github.com/stockwire/stockwire/agent/wooclient"
	"github.com/stockwire/stockwire/shared/systest"
	"github.com/stockwire/stockwire/shared/woo"
	"github.com/stockwire/stockwire/shared/woosim"
)

// hubDouble drains the outbox as the hub would: it keeps each order's
// newest report, acknowledges, and counts.
type hubDouble struct {
	mu      sync.Mutex
	final   map[int64]string
	mod     map[int64]time.Time
	reports int
	sources map[string]int
}

func (h *hubDouble) run(ctx context.Context, box *outbox.Outbox) error {
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for {
		evs, err := box.After(0, 100)
		if err != nil {
			return err
		}
		h.mu.Lock()
		for _, ev := range evs {
			o := ev.Order
			h.reports++
			h.sources[o.Source]++
			if prev, ok := h.mod[o.WooOrderID]; !ok || !o.DateModified.Before(prev) {
				h.final[o.WooOrderID] = o.Status
				h.mod[o.WooOrderID] = o.DateModified
			}
		}
		h.mu.Unlock()
		for _, ev := range evs {
			if err := box.Ack(ev.ID); err != nil {
				return err
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// missing lists orders whose final status at the hub differs from the store.
func (h *hubDouble) missing(store []woo.Order) []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for _, o := range store {
		if got := h.final[o.ID]; got != o.Status {
			out = append(out, fmt.Sprintf("%d: store %s, hub %q", o.ID, o.Status, got))
		}
	}
	return out
}

// throttle answers every nth request with 429 and Retry-After, as a
// host's WAF does, and passes the rest to the store. (Every nth, not a
// random share: a fast run must still meet some.)
func throttle(every int64, target *atomic.Pointer[httputil.ReverseProxy], n *atomic.Int64) http.Handler {
	var seen atomic.Int64
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if seen.Add(1)%every == 0 {
			n.Add(1)
			w.Header().Set("Retry-After", "1")
			http.Error(w, "Too Many Requests", http.StatusTooManyRequests)
			return
		}
		target.Load().ServeHTTP(w, r)
	})
}

// TestPoller_AgainstFaultyStore runs the receiver, the poller and the
// webhook manager against woosim dropping 30% of webhooks, failing 10% of
// requests with 500, answering some with 429 + Retry-After, and having its
// webhooks disabled once: the hub double ends with every order's final
// status.
func TestPoller_AgainstFaultyStore(t *testing.T) {
	t.Parallel()
	logger := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()

	var proxy atomic.Pointer[httputil.ReverseProxy]
	var throttled atomic.Int64
	front := httptest.NewServer(throttle(33, &proxy, &throttled))
	defer front.Close()
	sim, err := woosim.Start(woosim.Options{WebhookDelay: 30 * time.Millisecond, HomeURL: front.URL})
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	simURL, _ := url.Parse(sim.URL)
	proxy.Store(httputil.NewSingleHostReverseProxy(simURL))
	if err := sim.Store.Seed(woosim.SeedOptions{Products: 8, Variable: 2, VariationsPer: 2, Stock: 1_000_000}); err != nil {
		t.Fatal(err)
	}
	skus := []string{"SKU-V000001-1", "SKU-V000001-2", "SKU-V000002-1"}
	for i := 1; i <= 8; i++ {
		skus = append(skus, fmt.Sprintf("SKU-%06d", i))
	}

	reg := prometheus.NewRegistry()
	client, err := wooclient.New(wooclient.Config{BaseURL: front.URL, ConsumerKey: sim.Store.ConsumerKey(),
		ConsumerSecret: sim.Store.ConsumerSecret(), RateLimit: rate.Inf, MaxRetries: 10,
		MinBackoff: 5 * time.Millisecond, MaxBackoff: 100 * time.Millisecond, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	box, err := outbox.Open(filepath.Join(t.TempDir(), "outbox.db"), outbox.Options{Logger: logger, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	defer box.Close()

	const secret = "agent-webhook-secret"
	mux := http.NewServeMux()
	agentSrv := httptest.NewUnstartedServer(mux)
	mgr, err := hooks.NewManager(client, "http://"+agentSrv.Listener.Addr().String()+"/webhooks/woocommerce", secret, logger)
	if err != nil {
		t.Fatal(err)
	}
	mgr.Interval = 300 * time.Millisecond
	recv, err := webhook.NewHandler(secret, box, logger, reg)
	if err != nil {
		t.Fatal(err)
	}
	recv.FullErr, recv.OnPing, recv.OnDelivery = outbox.ErrOutboxFull, mgr.Pinged, mgr.Delivered
	mux.Handle("/webhooks/woocommerce", recv)
	agentSrv.Start()
	defer agentSrv.Close()
	if _, err := mgr.Ensure(ctx); err != nil {
		t.Fatal(err)
	}
	poller := MustPoller(t, client, box, logger, reg)
	poller.Interval, poller.Overlap, poller.Lookback, poller.PerPage = 150*time.Millisecond, 2*time.Second, time.Minute, 5
	hub := &hubDouble{final: map[int64]string{}, mod: map[int64]time.Time{}, sources: map[string]int{}}

	runCtx, stop := context.WithCancel(ctx)
	g, gctx := errgroup.WithContext(runCtx)
	g.Go(func() error { return mgr.Run(gctx) })
	g.Go(func() error { return poller.Run(gctx) })
	g.Go(func() error { return hub.run(gctx, box) })

	sim.Store.SetFaults(woosim.Faults{ErrorRate: 0.10, DropWebhookRate: 0.30})
	var ids []int64
	statuses := []string{"completed", "on-hold", "cancelled", "refunded", "failed", "processing", "completed"}
	for i := range 120 {
		lines := []woosim.CheckoutLine{{SKU: skus[rand.IntN(len(skus))], Quantity: 1 + rand.Int64N(3)}}
		if i%3 == 0 {
			lines = append(lines, woosim.CheckoutLine{SKU: skus[rand.IntN(len(skus))], Quantity: 1})
		}
		id, err := sim.Store.Checkout(lines)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
		if i%2 == 1 {
			if err := sim.Store.SetOrderStatus(ids[rand.IntN(len(ids))], statuses[rand.IntN(len(statuses))]); err != nil {
				t.Fatal(err)
			}
		}
		if i == 60 {
			// WooCommerce disables webhooks after repeated failures.
			for _, w := range sim.Store.Webhooks() {
				if w.DeliveryURL == mgr.DeliveryURL {
					if _, err := client.UpdateWebhook(ctx, w.ID, woo.Webhook{Status: "disabled"}); err != nil {
						t.Fatal(err)
					}
				}
			}
		}
		if i%20 == 0 {
			sim.Store.FlushWebhooks()
		}
	}

	// Every order's final status reaches the hub double.
	end, _ := ctx.Deadline()
	systest.WaitFor(t, time.Until(end), "every order's final status at the hub", func() error {
		if miss := hub.missing(sim.Store.Orders()); len(miss) > 0 {
			return fmt.Errorf("%d orders wrong at the hub: %v", len(miss), miss)
		}
		return nil
	})
	// The manager recreated the disabled webhooks.
	systest.WaitFor(t, time.Until(end), "the webhooks restored", func() error {
		active := 0
		for _, w := range sim.Store.Webhooks() {
			if w.DeliveryURL == mgr.DeliveryURL && w.Status == "active" {
				active++
			}
		}
		if active != len(hooks.DefaultTopics) {
			return fmt.Errorf("%d of %d active: %+v", active, len(hooks.DefaultTopics), sim.Store.Webhooks())
		}
		return nil
	})
	stop()
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}

	hub.mu.Lock()
	defer hub.mu.Unlock()
	st := sim.Store.Stats()
	catchup := testutil.ToFloat64(findCounter(t, reg, "stockwire_agent_poll_catchup_total"))
	t.Logf("orders %d, reports %d (webhook %d, poll %d), catch-up %v, webhooks dropped %d delivered %d, 429s %d",
		len(sim.Store.Orders()), hub.reports, hub.sources["webhook"], hub.sources["poll"], catchup,
		st.WebhooksDropped, st.WebhooksDelivered, throttled.Load())
	if hub.sources["webhook"] == 0 || hub.sources["poll"] == 0 || catchup == 0 {
		t.Fatalf("want reports from both webhooks and polls: %v", hub.sources)
	}
	if st.WebhooksDropped == 0 || throttled.Load() == 0 {
		t.Fatalf("faults not exercised: dropped %d, 429s %d", st.WebhooksDropped, throttled.Load())
	}
	if problems, err := testutil.GatherAndLint(reg); err != nil || len(problems) > 0 {
		t.Fatalf("lint: %v %v", problems, err)
	}
}

func findCounter(t *testing.T, reg *prometheus.Registry, name string) prometheus.Collector {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "x", Help: "x"})
	for _, mf := range mfs {
		if mf.GetName() == name {
			c.Add(mf.GetMetric()[0].GetCounter().GetValue())
		}
	}
	return c
}
