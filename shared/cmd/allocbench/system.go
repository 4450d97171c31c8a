package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/stockwire/stockwire/shared/benchenv"
	"github.com/stockwire/stockwire/shared/hubapi"
	"github.com/stockwire/stockwire/shared/launch"
	"github.com/stockwire/stockwire/shared/woosim"
)

const adminToken = "allocbench-admin-token-0123456789"

// env is what every run shares: the work directory, the binaries and the
// PostgreSQL cluster.
type env struct {
	*benchenv.Env
	cfg  Config
	runs int
}

func openEnv(ctx context.Context, cfg Config) (*env, error) {
	be, err := benchenv.Open(ctx, benchenv.Options{Name: "allocbench", Fsync: true, Logf: progress})
	if err != nil {
		return nil, err
	}
	return &env{Env: be, cfg: cfg}, nil
}

func (e *env) close() { e.Close(e.cfg.Keep) }

func progress(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05.000")}, args...)...)
}

// system is one hub with its allocate stores and their agents.
type system struct {
	env     *env
	name    string
	dsn     string
	hubAddr string
	hub     *launch.Proc
	stores  []*store
	sku     string
}

type store struct {
	idx    int
	id     int64
	token  string
	name   string
	sim    *woosim.Server
	listen string
	agent  *launch.Proc
	// onGrant, when set, records writes raising the store's stock as they
	// arrive (before they are applied).
	onGrant atomic.Pointer[grantLog]
}

// startSystem starts a hub on a new database and n allocate stores with
// params, their agents, and waits until every store shows an allocation.
func (e *env) startSystem(ctx context.Context, name string, n int, onHand int64, params map[string]int64) (*system, error) {
	e.runs++
	db := fmt.Sprintf("allocbench_%d", e.runs)
	if err := e.Cluster.CreateDatabase(ctx, db); err != nil {
		return nil, err
	}
	addr, err := launch.FreeAddr()
	if err != nil {
		return nil, err
	}
	s := &system{env: e, name: name, dsn: e.Cluster.DSN(db), hubAddr: addr}
	if err := s.startHub(ctx); err != nil {
		return nil, err
	}
	for i := range n {
		st, err := s.startStore(i)
		if err != nil {
			s.close()
			return nil, err
		}
		s.stores = append(s.stores, st)
	}
	s.sku = s.stores[0].sim.Store.SKUs()[0]
	if err := s.api(ctx, http.MethodPut, "/api/v1/skus/"+s.sku+"/locations/main", map[string]any{"on_hand": onHand}, nil); err != nil {
		s.close()
		return nil, err
	}
	for _, st := range s.stores {
		var out struct {
			ID    int64  `json:"id"`
			Token string `json:"token"`
		}
		if err := s.api(ctx, http.MethodPost, "/api/v1/stores", map[string]any{"name": st.name, "url": st.sim.URL, "policy": "allocate"}, &out); err != nil {
			s.close()
			return nil, err
		}
		st.id, st.token = out.ID, out.Token
		if err := s.api(ctx, http.MethodPatch, "/api/v1/stores/"+strconv.FormatInt(st.id, 10), map[string]any{"allocation": params}, nil); err != nil {
			s.close()
			return nil, err
		}
		if err := s.startAgent(ctx, st); err != nil {
			s.close()
			return nil, err
		}
	}
	err = launch.Poll(ctx, 60*time.Second, "every store shows an allocation", func() error {
		hs, err := s.stock(ctx)
		if err != nil {
			return err
		}
		for _, st := range s.stores {
			id := strconv.FormatInt(st.id, 10)
			q, _ := st.sim.Store.StockBySKU(s.sku)
			if hs.Allocated[id] == 0 || q != hs.Allocated[id] {
				return fmt.Errorf("%s shows %d, allocated %d", st.name, q, hs.Allocated[id])
			}
		}
		return nil
	})
	if err != nil {
		s.close()
		return nil, err
	}
	return s, nil
}

func (s *system) logPath(name string) string {
	return s.env.Path("logs", s.name, name+".log")
}

func (s *system) startHub(ctx context.Context) error {
	p, err := launch.Start("hub", s.env.Bin("hub"), []string{"serve",
		"--listen", s.hubAddr, "--database-url", s.dsn, "--admin-token", adminToken, "--rebalance-interval", "200ms",
		"--data-dir", s.env.Path("hub-" + s.name), "--log-format", "text"}, nil, s.logPath("hub"), nil)
	if err != nil {
		return err
	}
	s.hub = p
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	return p.WaitHTTP(wctx, "http://"+s.hubAddr+"/readyz")
}

func (s *system) startStore(i int) (*store, error) {
	key := fmt.Sprintf("%040d", i)
	st := &store{idx: i, name: fmt.Sprintf("store-%d", i)}
	delay := s.env.cfg.WebhookDelay
	if delay == 0 {
		delay = -1 // woosim's "none"
	}
	sim, err := woosim.Start(woosim.Options{ConsumerKey: "ck_" + key, ConsumerSecret: "cs_" + key, WebhookDelay: delay})
	if err != nil {
		return nil, err
	}
	st.sim = sim
	sim.Store.SetOnRequest(func(r *http.Request) {
		grants := st.onGrant.Load()
		if r.Method != http.MethodPost || !strings.HasSuffix(r.URL.Path, "/batch") || grants == nil {
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
		if json.Unmarshal(body, &in) == nil {
			for _, u := range in.Update {
				if u.InventoryDelta != nil && *u.InventoryDelta > 0 {
					grants.note(time.Now())
					return
				}
			}
		}
	})
	if err := sim.Store.Seed(woosim.SeedOptions{Products: 1, Stock: 0, SKUPrefix: "SALE-"}); err != nil {
		sim.Close()
		return nil, err
	}
	return st, nil
}

func (s *system) startAgent(ctx context.Context, st *store) error {
	if st.listen == "" {
		addr, err := launch.FreeAddr()
		if err != nil {
			return err
		}
		st.listen = addr
	}
	key := fmt.Sprintf("%040d", st.idx)
	p, err := launch.Start(st.name, s.env.Bin("agent"), []string{
		"--hub", "http://" + s.hubAddr, "--store-url", st.sim.URL, "--listen", st.listen, "--metrics-listen", "", "--public-url", "http://" + st.listen,
		"--data-dir", s.env.Path("agents-"+s.name, st.name),
		"--poll-interval", s.env.cfg.PollInterval.String(), "--log-format", "text"},
		[]string{"STOCKWIRE_TOKEN=" + st.token, "STOCKWIRE_CONSUMER_KEY=ck_" + key, "STOCKWIRE_CONSUMER_SECRET=cs_" + key},
		s.logPath(st.name), nil)
	if err != nil {
		return err
	}
	st.agent = p
	wctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	return p.WaitHTTP(wctx, "http://"+st.listen+"/healthz")
}

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
}

// api calls the hub's admin API.
func (s *system) api(ctx context.Context, method, path string, body, out any) error {
	c := hubapi.Client{BaseURL: "http://" + s.hubAddr, AdminToken: adminToken}
	return c.DoJSON(ctx, method, path, body, out)
}

// skuStock is the hub's view of the sale SKU.
type skuStock struct {
	OnHand    int64            `json:"on_hand"`
	Committed int64            `json:"committed"`
	Pool      int64            `json:"pool"`
	Exposure  int64            `json:"exposure"`
	Allocated map[string]int64 `json:"allocated"`
}

func (s *system) stock(ctx context.Context) (skuStock, error) {
	var out skuStock
	err := s.api(ctx, http.MethodGet, "/api/v1/skus/"+s.sku, nil, &out)
	return out, err
}
