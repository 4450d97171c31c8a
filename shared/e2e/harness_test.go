package e2e_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stockwire/stockwire/shared/hubapi"
	"github.com/stockwire/stockwire/shared/launch"
	"github.com/stockwire/stockwire/shared/pgtest"
	"github.com/stockwire/stockwire/shared/woosim"
)

func TestMain(m *testing.M) { pgtest.Main(m, nil) }

var (
	buildOnce sync.Once
	binDir    string
	buildErr  error
)

// binaries builds the hub and agent binaries once per test binary.
func binaries(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		binDir, buildErr = os.MkdirTemp("", "stockwire-e2e-bin-")
		if buildErr != nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		buildErr = launch.Build(ctx, "../..", binDir, true)
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binDir
}

const adminToken = "e2e-admin-token-0123456789"

// system is one hub, its stores and their agents.
type system struct {
	t       *testing.T
	dir     string
	dsn     string
	hubAddr string
	hub     *launch.Proc
	stores  []*store
	hubArgs []string // extra hub serve flags
	// replicas are the hub processes after the first (s.hub, "replica-0")
	// on the same database; see replicas_test.go.
	replicas []*hubReplica
}

type store struct {
	idx    int
	id     int64
	name   string
	token  string
	sim    *woosim.Server
	agent  *launch.Proc
	listen string
	data   string
}

// systemOptions shape a test system.
type systemOptions struct {
	stores, skus int
	onHand       int64
	// policies gives store i's policy; stores beyond it are mirror.
	policies []string
	// allocation is the allocate parameters of every store (PATCHed
	// before its agent starts), when set.
	allocation map[string]int64
	hubArgs    []string
	// replicas is the number of hub processes on the one database (one
	// when 0). Store i's agent is given all of them, starting with replica
	// i mod replicas.
	replicas int
}

// newSystem starts a hub on a fresh database and n mirror stores seeded
// with the same SKUs, each counted at onHand in the hub, with one agent per
// store.
func newSystem(t *testing.T, n, skus int, onHand int64) *system {
	t.Helper()
	return newSystemWith(t, systemOptions{stores: n, skus: skus, onHand: onHand})
}

// newSystemWith is newSystem with policies and parameters.
func newSystemWith(t *testing.T, o systemOptions) *system {
	t.Helper()
	n, skus, onHand := o.stores, o.skus, o.onHand
	binaries(t)
	s := &system{t: t, dir: t.TempDir(), dsn: pgtest.NewDB(t), hubArgs: o.hubArgs}
	addr, err := launch.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	s.hubAddr = addr
	s.startHub()
	for i := 1; i < o.replicas; i++ {
		s.startReplica(i)
	}
	t.Cleanup(func() { s.hub.Stop(10 * time.Second) })
	t.Cleanup(func() {
		if t.Failed() {
			s.dumpLog(s.hub)
			for _, st := range s.stores {
				if st.agent != nil {
					s.dumpLog(st.agent)
				}
			}
		}
	})

	for i := range n {
		sim, err := woosim.Start(woosim.Options{
			ConsumerKey:    "ck_" + fmt.Sprintf("%040d", i),
			ConsumerSecret: "cs_" + fmt.Sprintf("%040d", i),
			WebhookDelay:   200 * time.Millisecond,
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(sim.Close)
		sim.Store.Seed(woosim.SeedOptions{Products: skus, Stock: 5, SKUPrefix: "SKU-"})
		st := &store{idx: i, name: fmt.Sprintf("store-%d", i), sim: sim, data: filepath.Join(s.dir, fmt.Sprintf("agent-%d", i))}
		s.stores = append(s.stores, st)
	}
	for _, sku := range s.stores[0].sim.Store.SKUs() {
		s.api(http.MethodPut, "/api/v1/skus/"+sku+"/locations/main", map[string]any{"on_hand": onHand}, nil)
	}
	for i, st := range s.stores {
		var out struct {
			ID    int64  `json:"id"`
			Token string `json:"token"`
		}
		policy := "mirror"
		if i < len(o.policies) {
			policy = o.policies[i]
		}
		s.api(http.MethodPost, "/api/v1/stores", map[string]any{"name": st.name, "url": st.sim.URL, "policy": policy, "buffer": 0}, &out)
		st.id, st.token = out.ID, out.Token
		if o.allocation != nil {
			s.api(http.MethodPatch, "/api/v1/stores/"+strconv.FormatInt(st.id, 10), map[string]any{"allocation": o.allocation}, nil)
		}
		s.startAgent(st)
		t.Cleanup(func() {
			if st.agent != nil {
				st.agent.Stop(10 * time.Second)
			}
		})
	}
	return s
}

func (s *system) startHub() {
	s.t.Helper()
	p, err := launch.Start("hub", filepath.Join(binDir, "hub"), append([]string{"serve",
		"--listen", s.hubAddr, "--database-url", s.dsn, "--admin-token", adminToken,
		"--data-dir", filepath.Join(s.dir, "hub"), "--log-format", "text", "--replica-name", "replica-0"}, s.hubArgs...), nil,
		filepath.Join(s.dir, "hub.log"), nil)
	if err != nil {
		s.t.Fatal(err)
	}
	s.hub = p
	ctx, cancel := context.WithTimeout(s.t.Context(), 30*time.Second)
	defer cancel()
	if err := p.WaitHTTP(ctx, "http://"+s.hubAddr+"/readyz"); err != nil {
		s.dumpLog(p)
		s.t.Fatal(err)
	}
}

func (s *system) startAgent(st *store) {
	s.t.Helper()
	if st.listen == "" {
		addr, err := launch.FreeAddr()
		if err != nil {
			s.t.Fatal(err)
		}
		st.listen = addr
	}
	key := fmt.Sprintf("%040d", st.idx)
	p, err := launch.Start(st.name, filepath.Join(binDir, "agent"), []string{
		"--hub", s.hubURLs(st.idx), "--store-url", st.sim.URL,
		"--listen", st.listen, "--public-url", "http://" + st.listen,
		"--data-dir", st.data, "--poll-interval", "1s", "--log-format", "text"},
		[]string{"STOCKWIRE_TOKEN=" + st.token,
			"STOCKWIRE_CONSUMER_KEY=ck_" + key, "STOCKWIRE_CONSUMER_SECRET=cs_" + key},
		filepath.Join(s.dir, st.name+".log"), nil)
	if err != nil {
		s.t.Fatal(err)
	}
	st.agent = p
	ctx, cancel := context.WithTimeout(s.t.Context(), 60*time.Second)
	defer cancel()
	if err := p.WaitHTTP(ctx, "http://"+st.listen+"/healthz"); err != nil {
		s.dumpLog(p)
		s.t.Fatal(err)
	}
}

func (s *system) dumpLog(p *launch.Proc) {
	b, _ := os.ReadFile(p.Log)
	if len(b) > 8000 {
		b = b[len(b)-8000:]
	}
	s.t.Logf("--- last lines of %s ---\n%s", p.Log, b)
}

// api calls the hub's admin API and decodes the answer into out.
func (s *system) api(method, path string, body, out any) {
	s.t.Helper()
	if err := s.tryAPI(method, path, body, out); err != nil {
		s.t.Fatal(err)
	}
}

func (s *system) tryAPI(method, path string, body, out any) error {
	return s.tryAPIAt(s.hubAddr, method, path, body, out)
}

// tryAPIAt calls the admin API of the hub replica at addr.
func (s *system) tryAPIAt(addr, method, path string, body, out any) error {
	c := hubapi.Client{BaseURL: "http://" + addr, AdminToken: adminToken}
	return c.DoJSON(s.t.Context(), method, path, body, out)
}

type skuStock struct {
	SKU       string           `json:"sku"`
	OnHand    int64            `json:"on_hand"`
	Committed int64            `json:"committed"`
	Available int64            `json:"available"`
	Targets   map[string]int64 `json:"targets"`
}

func (s *system) stock(sku string) (skuStock, error) {
	var out skuStock
	err := s.tryAPI(http.MethodGet, "/api/v1/skus/"+sku, nil, &out)
	return out, err
}

// converged reports the first difference between a store and the hub.
func (s *system) converged() error {
	for _, sku := range s.stores[0].sim.Store.SKUs() {
		hs, err := s.stock(sku)
		if err != nil {
			return err
		}
		for _, st := range s.stores {
			want := hs.Targets[strconv.FormatInt(st.id, 10)]
			got, ok := st.sim.Store.StockBySKU(sku)
			if !ok || got != want {
				return fmt.Errorf("%s: %s shows %d, hub target %d", sku, st.name, got, want)
			}
		}
	}
	return nil
}

// waitFor polls cond until it returns nil or the timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() error) {
	t.Helper()
	if err := launch.Poll(t.Context(), timeout, what, cond); err != nil {
		t.Fatal(err)
	}
}

// shop runs concurrent checkouts of one unit of random SKUs in every store
// and returns the number accepted per SKU.
func (s *system) shop(perStore int) map[string]int64 {
	skus := s.stores[0].sim.Store.SKUs()
	var mu sync.Mutex
	accepted := map[string]int64{}
	var wg sync.WaitGroup
	for i, st := range s.stores {
		for w := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for k := range perStore / 4 {
					sku := skus[(i*7+w*13+k*31)%len(skus)]
					if _, err := st.sim.Store.Checkout([]woosim.CheckoutLine{{SKU: sku, Quantity: 1}}); err == nil {
						mu.Lock()
						accepted[sku]++
						mu.Unlock()
					}
				}
			}()
		}
	}
	wg.Wait()
	return accepted
}
