package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/stockwire/stockwire/shared/benchenv"
	"github.com/stockwire/stockwire/shared/hubapi"
	"github.com/stockwire/stockwire/shared/launch"
	"github.com/stockwire/stockwire/shared/scrape"
	"github.com/stockwire/stockwire/shared/woosim"
)

const adminToken = "editbench-admin-token-0123456789"

// system is one hub on a private PostgreSQL, its mirror stores (woosim,
// in-process) and their agents (processes).
type system struct {
	cfg     Config
	env     *benchenv.Env
	hubAddr string
	hub     *launch.Proc
	stores  []*store
	sku     string
}

type store struct {
	idx           int
	token         string
	name          string
	sim           *woosim.Server
	listen        string // webhooks and /healthz
	metricsListen string // /metrics
	agent         *launch.Proc

	mu     sync.Mutex
	writes []stockWrite // stock writes the store received; guarded by mu
}

// stockWrite is one inventory_delta the agent sent the store.
type stockWrite struct {
	at    time.Time
	delta int64
}

func progress(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05.000")}, args...)...)
}

// start builds the binaries and starts PostgreSQL, the hub, the stores and
// their agents, and waits until every store shows the hub's figure.
func start(ctx context.Context, cfg Config) (*system, error) {
	env, err := benchenv.Open(ctx, benchenv.Options{Name: "editbench", Fsync: true, Logf: progress})
	if err != nil {
		return nil, err
	}
	s := &system{cfg: cfg, env: env}
	if err := env.Cluster.CreateDatabase(ctx, "editbench"); err != nil {
		return s, err
	}
	if s.hubAddr, err = launch.FreeAddr(); err != nil {
		return s, err
	}
	if s.hub, err = launch.Start("hub", env.Bin("hub"), []string{"serve",
		"--listen", s.hubAddr, "--database-url", s.env.Cluster.DSN("editbench"), "--admin-token", adminToken,
		"--data-dir", env.Path("hub"), "--log-format", "text"}, nil, env.Path("logs", "hub.log"), nil); err != nil {
		return s, err
	}
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := s.hub.WaitHTTP(wctx, "http://"+s.hubAddr+"/readyz"); err != nil {
		return s, err
	}
	for i := range len(cfg.Rates) {
		st, err := s.startStore(i)
		if err != nil {
			return s, err
		}
		s.stores = append(s.stores, st)
	}
	s.sku = s.stores[0].sim.Store.SKUs()[0]
	if err := s.api(ctx, http.MethodPut, "/api/v1/skus/"+s.sku+"/locations/main", map[string]any{"on_hand": cfg.OnHand}, nil); err != nil {
		return s, err
	}
	for _, st := range s.stores {
		var out struct {
			Token string `json:"token"`
		}
		if err := s.api(ctx, http.MethodPost, "/api/v1/stores", map[string]any{"name": st.name, "url": st.sim.URL, "policy": "mirror"}, &out); err != nil {
			return s, err
		}
		st.token = out.Token
		if err := s.startAgent(ctx, st); err != nil {
			return s, err
		}
	}
	return s, s.waitConverged(ctx, time.Minute)
}

// waitConverged waits until every store shows the hub's mirror figure.
func (s *system) waitConverged(ctx context.Context, timeout time.Duration) error {
	return launch.PollEvery(ctx, timeout, 100*time.Millisecond, "every store shows the hub's figure", func() error {
		target, err := s.target(ctx)
		if err != nil {
			return err
		}
		for _, st := range s.stores {
			if q, _ := st.sim.Store.StockBySKU(s.sku); q != target {
				return fmt.Errorf("%s shows %d, hub's figure %d", st.name, q, target)
			}
		}
		return nil
	})
}

func (s *system) startStore(i int) (*store, error) {
	key := fmt.Sprintf("%040d", i)
	st := &store{idx: i, name: fmt.Sprintf("store-%d", i)}
	delay := s.cfg.WebhookDelay
	if delay == 0 {
		delay = -1 // woosim's "none"
	}
	sim, err := woosim.Start(woosim.Options{ConsumerKey: "ck_" + key, ConsumerSecret: "cs_" + key, WebhookDelay: delay})
	if err != nil {
		return nil, err
	}
	st.sim = sim
	sim.Store.SetOnRequest(func(r *http.Request) {
		if r.Method != http.MethodPost || !strings.HasSuffix(r.URL.Path, "/batch") {
			return
		}
		body, err := io.ReadAll(r.Body)
		if err != nil {
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		var in struct {
			Update []struct {
				InventoryDelta *int64 `json:"inventory_delta"`
			} `json:"update"`
		}
		if json.Unmarshal(body, &in) != nil {
			return
		}
		now := time.Now()
		st.mu.Lock()
		for _, u := range in.Update {
			if u.InventoryDelta != nil {
				st.writes = append(st.writes, stockWrite{at: now, delta: *u.InventoryDelta})
			}
		}
		st.mu.Unlock()
	})
	if err := sim.Store.Seed(woosim.SeedOptions{Products: 1, Stock: 0, SKUPrefix: "EDIT-"}); err != nil {
		sim.Close()
		return nil, err
	}
	return st, nil
}

// writesSince returns the stock writes st received at or after t.
func (st *store) writesSince(t time.Time) []stockWrite {
	st.mu.Lock()
	defer st.mu.Unlock()
	var out []stockWrite
	for _, w := range st.writes {
		if !w.at.Before(t) {
			out = append(out, w)
		}
	}
	return out
}

func (s *system) startAgent(ctx context.Context, st *store) error {
	addr, err := launch.FreeAddr()
	if err != nil {
		return err
	}
	metricsAddr, err := launch.FreeAddr()
	if err != nil {
		return err
	}
	st.listen, st.metricsListen = addr, metricsAddr
	key := fmt.Sprintf("%040d", st.idx)
	if st.agent, err = launch.Start(st.name, s.env.Bin("agent"), []string{
		"--hub", "http://" + s.hubAddr, "--store-url", st.sim.URL, "--listen", st.listen, "--metrics-listen", st.metricsListen, "--public-url", "http://" + st.listen,
		"--data-dir", s.env.Path("agents", st.name), "--webhooks=" + fmt.Sprint(s.cfg.Webhooks),
		"--poll-interval", s.cfg.PollInterval.String(), "--log-format", "text"},
		[]string{"STOCKWIRE_TOKEN=" + st.token, "STOCKWIRE_CONSUMER_KEY=ck_" + key, "STOCKWIRE_CONSUMER_SECRET=cs_" + key},
		s.env.Path("logs", st.name+".log"), nil); err != nil {
		return err
	}
	wctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	return st.agent.WaitHTTP(wctx, "http://"+st.listen+"/healthz")
}

// close stops everything it started and removes the work directory unless
// Keep is set.
func (s *system) close() {
	for _, st := range s.stores {
		if st.agent != nil {
			st.agent.Stop(10 * time.Second)
		}
		st.sim.Close()
	}
	if s.hub != nil {
		s.hub.Stop(10 * time.Second)
	}
	s.env.Close(s.cfg.Keep)
}

// api calls the hub's admin API.
func (s *system) api(ctx context.Context, method, path string, body, out any) error {
	c := hubapi.Client{BaseURL: "http://" + s.hubAddr, AdminToken: adminToken}
	return c.DoJSON(ctx, method, path, body, out)
}

// target is the hub's mirror figure for the SKU (no buffer): its pool.
func (s *system) target(ctx context.Context) (int64, error) {
	var out struct {
		Pool int64 `json:"pool"`
	}
	err := s.api(ctx, http.MethodGet, "/api/v1/skus/"+s.sku, nil, &out)
	return out.Pool, err
}

// metric sums the agent's series of the metric name whose labels include
// labels (pairs of name and value).
func (st *store) metric(ctx context.Context, name string, labels ...string) (float64, error) {
	page, err := scrape.Get(ctx, nil, "http://"+st.metricsListen+"/metrics")
	if err != nil {
		return 0, err
	}
	v, _ := page.Sum(name, labels...)
	return v, nil
}
