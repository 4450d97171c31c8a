package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/stockwire/stockwire/shared/benchenv"
	"github.com/stockwire/stockwire/shared/hubapi"
	"github.com/stockwire/stockwire/shared/launch"
	"github.com/stockwire/stockwire/shared/woosim"
)

// adminToken is the admin API token of every hub the command starts.
const adminToken = "replicabench-admin-token-0123456789"

// skuStock is the stock every SKU starts with, far more than a run sells.
const skuStock = 100_000

// bench owns the work directory, the binaries and the PostgreSQL cluster.
type bench struct {
	cfg      Config
	progress io.Writer
	env      *benchenv.Env
	keepLogs bool // set when a run failed
	runs     int
}

func newBench(ctx context.Context, cfg Config, progress io.Writer) (*bench, error) {
	b := &bench{cfg: cfg, progress: progress}
	env, err := benchenv.Open(ctx, benchenv.Options{Name: "replicabench", Fsync: cfg.Fsync, Logf: b.logf})
	if err != nil {
		return nil, err
	}
	b.env = env
	return b, nil
}

// close stops PostgreSQL and removes the work directory unless it is to be
// kept.
func (b *bench) close() { b.env.Close(b.cfg.Keep || b.keepLogs) }

func (b *bench) path(elem ...string) string { return b.env.Path(elem...) }

func (b *bench) logf(format string, args ...any) {
	fmt.Fprintf(b.progress, "%s replicabench: %s\n", time.Now().UTC().Format("15:04:05"), fmt.Sprintf(format, args...))
}

// propagation measures one setup: stores A and B, A's agent on replica 1,
// B's on replica 2 when replicas is 2 and on replica 1 otherwise.
func (b *bench) propagation(ctx context.Context, replicas int) (Result, error) {
	b.runs++
	res := Result{Setup: "one hub (A and B on replica-1)"}
	if replicas == 2 {
		res.Setup = "two replicas (A on replica-1, B on replica-2)"
	}
	b.logf("%s: starting", res.Setup)
	dbname := fmt.Sprintf("replicabench_%d", b.runs)
	if err := b.env.Cluster.CreateDatabase(ctx, dbname); err != nil {
		return res, err
	}
	var hubs []*hubProc
	defer func() {
		for _, h := range hubs {
			h.proc.Stop(15 * time.Second)
		}
	}()
	for i := range replicas {
		h, err := b.startHub(ctx, dbname, fmt.Sprintf("replica-%d", i+1))
		if err != nil {
			return res, err
		}
		hubs = append(hubs, h)
	}

	tracker := &tracker{pending: map[string]time.Time{}}
	var stores []*shop
	defer func() {
		for _, s := range stores {
			if s.agent != nil {
				s.agent.Stop(15 * time.Second)
			}
			s.sim.Close()
		}
	}()
	for i, name := range []string{"store-a", "store-b"} {
		s, err := startShop(i, name, b.cfg.SKUs)
		if err != nil {
			return res, err
		}
		stores = append(stores, s)
	}
	stores[1].sim.Store.SetOnStockWrite(tracker.arrived)
	skus := stores[0].sim.Store.SKUs()
	for _, sku := range skus {
		if err := hubs[0].api(ctx, http.MethodPut, "/api/v1/skus/"+url.PathEscape(sku)+"/locations/main",
			map[string]any{"on_hand": skuStock}, nil); err != nil {
			return res, err
		}
	}
	for i, s := range stores {
		var out struct {
			ID    int64  `json:"id"`
			Token string `json:"token"`
		}
		if err := hubs[0].api(ctx, http.MethodPost, "/api/v1/stores",
			map[string]any{"name": s.name, "url": s.sim.URL, "policy": "mirror"}, &out); err != nil {
			return res, err
		}
		s.id, s.token = out.ID, out.Token
		h := hubs[min(i, len(hubs)-1)]
		if err := b.startAgent(ctx, s, h); err != nil {
			return res, err
		}
	}
	if err := launch.Poll(ctx, 2*time.Minute, "agents connected to their replicas and stores synced", func() error {
		return synced(ctx, hubs, stores)
	}); err != nil {
		return res, err
	}

	b.logf("%s: %d checkouts at %g/s", res.Setup, b.cfg.Checkouts, b.cfg.Rate)
	tick := time.NewTicker(time.Duration(float64(time.Second) / b.cfg.Rate))
	defer tick.Stop()
	for i := range b.cfg.Checkouts {
		select {
		case <-ctx.Done():
			return res, ctx.Err()
		case <-tick.C:
		}
		sku := skus[i%len(skus)]
		tracker.expect(sku, time.Now())
		if _, err := stores[0].sim.Store.Checkout([]woosim.CheckoutLine{{SKU: sku, Quantity: 1}}); err != nil {
			return res, fmt.Errorf("checkout %s in store A: %w", sku, err)
		}
	}
	if err := launch.Poll(ctx, 30*time.Second, "every write delivered", func() error {
		if n := tracker.outstanding(); n > 0 {
			return fmt.Errorf("%d writes outstanding", n)
		}
		return nil
	}); err != nil {
		b.logf("%s: %v", res.Setup, err)
	}
	res.Delays, res.Undelivered = tracker.results()
	return res, nil
}

// hubProc is one `hub serve` process.
type hubProc struct {
	name string
	base string
	proc *launch.Proc
}

func (b *bench) startHub(ctx context.Context, dbname, name string) (*hubProc, error) {
	addr, err := launch.FreeAddr()
	if err != nil {
		return nil, err
	}
	p, err := launch.Start(name, b.env.Bin("hub"), []string{"serve",
		"--listen", addr, "--database-url", b.env.Cluster.DSN(dbname), "--admin-token", adminToken,
		"--data-dir", b.path(name), "--log-format", "text", "--replica-name", name}, nil,
		b.path("logs", fmt.Sprintf("%d-%s.log", b.runs, name)), nil)
	if err != nil {
		return nil, err
	}
	h := &hubProc{name: name, base: "http://" + addr, proc: p}
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := p.WaitHTTP(wctx, h.base+"/readyz"); err != nil {
		p.Kill()
		return nil, err
	}
	return h, nil
}

// api calls the admin API and decodes a JSON answer into out (when not nil).
func (h *hubProc) api(ctx context.Context, method, path string, body, out any) error {
	c := hubapi.Client{BaseURL: h.base, AdminToken: adminToken}
	return c.DoJSON(ctx, method, path, body, out)
}

// shop is one simulated store and its agent.
type shop struct {
	idx   int
	name  string
	sim   *woosim.Server
	id    int64
	token string
	agent *launch.Proc
	hub   string // replica name its agent is on
}

func startShop(idx int, name string, skus int) (*shop, error) {
	sim, err := woosim.Start(woosim.Options{
		ConsumerKey:    fmt.Sprintf("ck_%040d", idx),
		ConsumerSecret: fmt.Sprintf("cs_%040d", idx),
		// Webhooks go out at once: the figures are the link's, not
		// WP-Cron's.
		WebhookDelay: -1,
	})
	if err != nil {
		return nil, err
	}
	sim.Store.Seed(woosim.SeedOptions{Products: skus, Stock: skuStock, SKUPrefix: "SKU-"})
	return &shop{idx: idx, name: name, sim: sim}, nil
}

// startAgent runs s's agent against replica h and waits until it answers.
func (b *bench) startAgent(ctx context.Context, s *shop, h *hubProc) error {
	listen, err := launch.FreeAddr()
	if err != nil {
		return err
	}
	p, err := launch.Start(s.name, b.env.Bin("agent"), []string{
		"--hub", h.base, "--store-url", s.sim.URL,
		"--listen", listen, "--metrics-listen", "", "--public-url", "http://" + listen,
		"--data-dir", b.path(fmt.Sprintf("agents-%d", b.runs), s.name),
		"--poll-interval", b.cfg.PollInterval.String(), "--log-format", "text"},
		[]string{"STOCKWIRE_TOKEN=" + s.token,
			fmt.Sprintf("STOCKWIRE_CONSUMER_KEY=ck_%040d", s.idx), fmt.Sprintf("STOCKWIRE_CONSUMER_SECRET=cs_%040d", s.idx)},
		b.path("logs", fmt.Sprintf("%d-%s.log", b.runs, s.name)), nil)
	if err != nil {
		return err
	}
	s.agent, s.hub = p, h.name
	wctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	return p.WaitHTTP(wctx, "http://"+listen+"/healthz")
}

// synced reports the first reason the setup is not ready: an agent not
// connected to its replica, or a store not showing the hub's figure.
func synced(ctx context.Context, hubs []*hubProc, stores []*shop) error {
	var list struct {
		Stores []struct {
			ID    int64 `json:"id"`
			Agent struct {
				Connected bool   `json:"connected"`
				Replica   string `json:"replica"`
			} `json:"agent"`
		} `json:"stores"`
	}
	if err := hubs[len(hubs)-1].api(ctx, http.MethodGet, "/api/v1/stores", nil, &list); err != nil {
		return err
	}
	for _, s := range stores {
		found := false
		for _, st := range list.Stores {
			if st.ID == s.id {
				found = st.Agent.Connected && st.Agent.Replica == s.hub
			}
		}
		if !found {
			return fmt.Errorf("agent of %s not connected to %s", s.name, s.hub)
		}
	}
	for _, sku := range stores[0].sim.Store.SKUs() {
		var st struct {
			Targets map[string]int64 `json:"targets"`
		}
		if err := hubs[0].api(ctx, http.MethodGet, "/api/v1/skus/"+url.PathEscape(sku), nil, &st); err != nil {
			return err
		}
		for _, s := range stores {
			got, _ := s.sim.Store.StockBySKU(sku)
			if want := st.Targets[fmt.Sprint(s.id)]; got != want {
				return fmt.Errorf("%s shows %d of %s, hub target %d", s.name, got, sku, want)
			}
		}
	}
	return nil
}

// tracker matches stock write requests at store B with the checkouts in
// store A that caused them. SKUs are bought in turn, so at most one write
// per SKU is expected at a time.
type tracker struct {
	mu          sync.Mutex
	pending     map[string]time.Time // SKU → checkout time
	delays      []time.Duration
	undelivered int
}

func (t *tracker) expect(sku string, at time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := t.pending[sku]; ok {
		t.undelivered++ // the earlier checkout's write never came
	}
	t.pending[sku] = at
}

func (t *tracker) arrived(skus []string, at time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, sku := range skus {
		if from, ok := t.pending[sku]; ok {
			delete(t.pending, sku)
			t.delays = append(t.delays, at.Sub(from))
		}
	}
}

func (t *tracker) outstanding() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.pending)
}

func (t *tracker) results() ([]time.Duration, int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.delays, t.undelivered + len(t.pending)
}
