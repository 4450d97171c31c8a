package e2e_test

import (
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stockwire/stockwire/shared/hubapi"
	"github.com/stockwire/stockwire/shared/pgtest"
	"github.com/stockwire/stockwire/shared/systest"
	"github.com/stockwire/stockwire/shared/woosim"
	"github.com/stockwire/stockwire/shared/woosim/woosimtest"
)

func TestMain(m *testing.M) { pgtest.Main(m, nil) }

// system is one hub, its stores and their agents.
type system struct {
	t      testing.TB
	dsn    string
	hub    *systest.Hub // "replica-0"
	stores []*store
	// replicas are the hub processes after the first on the same
	// database; see replicas_test.go.
	replicas []*systest.Hub
}

type store struct {
	idx   int
	id    int64
	name  string
	token string
	sim   *woosim.Server
	agent *systest.Agent
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
	// agentArgs are more flags for every agent.
	agentArgs []string
	// replicas is the number of hub processes on the one database (one
	// when 0). Store i's agent is given all of them, starting with replica
	// i mod replicas.
	replicas int
}

// newSystem starts a hub on a fresh database and n mirror stores seeded
// with the same SKUs, each counted at onHand in the hub, with one agent per
// store.
func newSystem(t testing.TB, n, skus int, onHand int64) *system {
	t.Helper()
	return newSystemWith(t, systemOptions{stores: n, skus: skus, onHand: onHand})
}

// newSystemWith is newSystem with policies and parameters.
func newSystemWith(t testing.TB, o systemOptions) *system {
	t.Helper()
	n, skus, onHand := o.stores, o.skus, o.onHand
	s := &system{t: t, dsn: pgtest.NewDB(t)}
	s.hub = systest.StartHub(t, systest.HubOptions{DatabaseURL: s.dsn, Name: "replica-0", Args: o.hubArgs})
	for i := 1; i < o.replicas; i++ {
		s.replicas = append(s.replicas, systest.StartHub(t, systest.HubOptions{DatabaseURL: s.dsn, Name: fmt.Sprintf("replica-%d", i), Args: o.hubArgs}))
	}

	for i := range n {
		sim := woosimtest.Start(t, woosim.Options{
			ConsumerKey:    "ck_" + fmt.Sprintf("%040d", i),
			ConsumerSecret: "cs_" + fmt.Sprintf("%040d", i),
			WebhookDelay:   200 * time.Millisecond,
		}, woosim.SeedOptions{Products: skus, Stock: 5, SKUPrefix: "SKU-"})
		st := &store{idx: i, name: fmt.Sprintf("store-%d", i), sim: sim}
		s.stores = append(s.stores, st)
	}
	for _, sku := range s.stores[0].sim.Store.SKUs() {
		s.hub.MustAPI(http.MethodPut, "/api/v1/skus/"+sku+"/locations/main", map[string]any{"on_hand": onHand}, nil)
	}
	for i, st := range s.stores {
		policy := "mirror"
		if i < len(o.policies) {
			policy = o.policies[i]
		}
		st.id, st.token = s.hub.CreateStore(st.name, st.sim.URL, policy)
		if o.allocation != nil {
			s.hub.MustAPI(http.MethodPatch, "/api/v1/stores/"+strconv.FormatInt(st.id, 10), map[string]any{"allocation": o.allocation}, nil)
		}
		key := fmt.Sprintf("%040d", st.idx)
		st.agent = systest.StartAgent(t, systest.AgentOptions{Name: st.name, Hub: s.hubURLs(st.idx), StoreURL: st.sim.URL,
			Token: st.token, ConsumerKey: "ck_" + key, ConsumerSecret: "cs_" + key, Args: append([]string{"--poll-interval", "1s"}, o.agentArgs...)})
	}
	return s
}

// tryAPIAt calls the admin API of the hub replica at addr.
func (s *system) tryAPIAt(addr, method, path string, body, out any) error {
	c := hubapi.Client{BaseURL: "http://" + addr, AdminToken: systest.AdminToken}
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
	err := s.hub.API(http.MethodGet, "/api/v1/skus/"+sku, nil, &out)
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
