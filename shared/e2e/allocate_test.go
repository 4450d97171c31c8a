package e2e_test

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stockwire/stockwire/shared/launch"
	"github.com/stockwire/stockwire/shared/scrape"
	"github.com/stockwire/stockwire/shared/systest"
	"github.com/stockwire/stockwire/shared/woosim"
)

// Allocate policy end to end: real hub and agent processes
// (built with -race), woosim stores that refuse checkouts beyond their
// stock, so a store can only oversell if the hub let it show units it was
// not granted.

// saleParams are the allocate parameters of the flash sale: small grants,
// quick to go idle, so units move to where the demand is within seconds.
var saleParams = map[string]int64{"low_water": 2, "min_grant": 3, "max_grant": 12, "cover_seconds": 5, "idle_seconds": 1}

func allocateSystem(t *testing.T, stores int, onHand int64, params map[string]int64, policies ...string) *system {
	t.Helper()
	if policies == nil {
		for range stores {
			policies = append(policies, "allocate")
		}
	}
	s := newSystemWith(t, systemOptions{stores: stores, skus: 1, onHand: onHand, policies: policies,
		allocation: params, hubArgs: []string{"--rebalance-interval", "200ms"}})
	systest.WaitFor(t, 30*time.Second, "stores show their allocations", func() error {
		if err := s.converged(); err != nil {
			return err
		}
		hs, err := s.allocStock(s.sku())
		if err != nil {
			return err
		}
		for i, st := range s.stores {
			if policies[i] == "allocate" && hs.Allocated[strconv.FormatInt(st.id, 10)] == 0 {
				return fmt.Errorf("%s has no allocation yet", st.name)
			}
		}
		return nil
	})
	return s
}

func (s *system) sku() string { return s.stores[0].sim.Store.SKUs()[0] }

// allocStock is the hub's view of a SKU under allocate.
type allocStock struct {
	skuStock
	Allocated map[string]int64 `json:"allocated"`
	Pool      int64            `json:"pool"`
	Exposure  int64            `json:"exposure"`
}

func (s *system) allocStock(sku string) (allocStock, error) {
	var out allocStock
	err := s.hub.API(http.MethodGet, "/api/v1/skus/"+sku, nil, &out)
	return out, err
}

// hubMetric reads one unlabelled metric from the hub's /metrics.
func (s *system) hubMetric(name string) (float64, error) {
	v, found, err := scrapeMetric(s.hub.Addr, name)
	if err == nil && !found {
		err = fmt.Errorf("metric %s not found", name)
	}
	return v, err
}

// scrapeMetric sums the series of a counter or gauge on the /metrics of
// the process listening at addr; found is false when it has none.
func scrapeMetric(addr, name string) (sum float64, found bool, err error) {
	page, err := scrape.Get(context.Background(), nil, "http://"+addr+"/metrics")
	if err != nil {
		return 0, false, err
	}
	sum, found = page.Sum(name)
	return sum, found, nil
}

// sale is demand for one SKU: shoppers[i] shoppers at store i, each
// arriving within spread, wanting one unit and trying again (every ~retry)
// while refused, until they bought or the sale ends.
type sale struct {
	accepted []atomic.Int64 // per store
	total    atomic.Int64
	attempts atomic.Int64
	stop     chan struct{}
	wg       sync.WaitGroup
}

func (s *system) startSale(sku string, shoppers []int, retry, spread time.Duration) *sale {
	sl := &sale{accepted: make([]atomic.Int64, len(s.stores)), stop: make(chan struct{})}
	for i, n := range shoppers {
		st := s.stores[i]
		for range n {
			sl.wg.Add(1)
			go func() {
				defer sl.wg.Done()
				if spread > 0 {
					t := time.NewTimer(rand.N(spread))
					select {
					case <-sl.stop:
						t.Stop()
						return
					case <-t.C:
					}
				}
				for {
					sl.attempts.Add(1)
					if _, err := st.sim.Store.Checkout([]woosim.CheckoutLine{{SKU: sku, Quantity: 1}}); err == nil {
						sl.accepted[i].Add(1)
						sl.total.Add(1)
						return
					}
					t := time.NewTimer(retry/2 + rand.N(retry))
					select {
					case <-sl.stop:
						t.Stop()
						return
					case <-t.C:
					}
				}
			}()
		}
	}
	return sl
}

// end stops the shoppers and returns the accepted checkouts per store.
func (sl *sale) end() []int64 {
	close(sl.stop)
	sl.wg.Wait()
	out := make([]int64, len(sl.accepted))
	for i := range sl.accepted {
		out[i] = sl.accepted[i].Load()
	}
	return out
}

// waitTotal waits until at least n units sold or timeout passes; it reports
// whether they did.
func (sl *sale) waitTotal(n int64, timeout time.Duration) bool {
	err := launch.PollEvery(context.Background(), timeout, 20*time.Millisecond, "units sold", func() error {
		if sold := sl.total.Load(); sold < n {
			return fmt.Errorf("%d sold, want %d", sold, n)
		}
		return nil
	})
	return err == nil
}

// checkSettled checks, once the shoppers stopped, that the hub counted
// every accepted checkout, that every store shows its allocation, and that
// nothing was oversold or is exposed.
func (s *system) checkSettled(t *testing.T, sku string, accepted []int64, onHand int64) allocStock {
	t.Helper()
	var total int64
	for _, n := range accepted {
		total += n
	}
	if total > onHand {
		s.dumpAllocations(t)
		t.Fatalf("oversold: %d checkouts accepted for %d units (%v)", total, onHand, accepted)
	}
	s.checkCommitted(t, map[string]int64{sku: total}, 60*time.Second)
	var hs allocStock
	systest.WaitFor(t, 30*time.Second, "stores show their allocations, nothing pending", func() error {
		if err := s.converged(); err != nil {
			return err
		}
		var err error
		if hs, err = s.allocStock(sku); err != nil {
			return err
		}
		var held int64
		for _, st := range s.stores {
			id := strconv.FormatInt(st.id, 10)
			if a, ok := hs.Allocated[id]; ok && hs.Targets[id] != a {
				return fmt.Errorf("%s: target %d, allocated %d", st.name, hs.Targets[id], a)
			}
			held += hs.Allocated[id]
		}
		if held+hs.Committed > hs.OnHand || hs.Exposure != 0 {
			return fmt.Errorf("Σallocated %d + committed %d, on hand %d, exposure %d", held, hs.Committed, hs.OnHand, hs.Exposure)
		}
		if n, err := s.hubMetric("stockwire_hub_reclaims_pending"); err != nil || n != 0 {
			return fmt.Errorf("pending reclaims %v (%v)", n, err)
		}
		return nil
	})
	if n, err := s.hubMetric("stockwire_hub_allocation_oversold_units"); err != nil || n != 0 {
		t.Fatalf("hub counts %v units sold beyond an allocation (%v)", n, err)
	}
	return hs
}

// TestAllocate_FlashSale: 100 units, 5 allocate stores, 1,000 shoppers
// spread unevenly (one store has none), each trying until it buys: at most
// 100 sold, none oversold, and all 100 sold while demand lasts, which needs
// the idle store's units reclaimed and granted where the shoppers are.
// Repeated with one store's agent killed and with the hub killed mid-sale.
func TestAllocate_FlashSale(t *testing.T) {
	const units = 100
	shoppers := []int{450, 300, 150, 100, 0}
	for _, c := range []struct {
		name string
		// fault runs once 30 units sold, and returns after healing it.
		fault func(s *system, sl *sale)
	}{
		{"Plain", nil},
		{"AgentKilled", func(s *system, sl *sale) {
			s.stores[1].agent.Kill()
			// The agent stays down until 60 units sold or for 4 s, whichever
			// comes first: its store sells what it holds meanwhile.
			_ = sl.waitTotal(60, 4*time.Second)
			s.stores[1].agent.Start()
		}},
		{"HubKilled", func(s *system, sl *sale) {
			s.hub.Kill()
			// The hub stays down until 50 units sold or for 3 s, whichever
			// comes first: the stores sell their allocations meanwhile.
			_ = sl.waitTotal(50, 3*time.Second)
			s.hub.Start()
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := allocateSystem(t, len(shoppers), units, saleParams)
			sku := s.sku()
			start := time.Now()
			sl := s.startSale(sku, shoppers, 50*time.Millisecond, 0)
			if c.fault != nil {
				if !sl.waitTotal(30, 30*time.Second) {
					sl.end()
					t.Fatalf("only %d sold before the fault", sl.total.Load())
				}
				c.fault(s, sl)
			}
			soldOut := sl.waitTotal(units, 60*time.Second)
			took := time.Since(start)
			// Demand goes on a little longer: an oversell would show now.
			if sl.waitTotal(units+1, time.Second) {
				t.Errorf("sold %d, more than the %d units", sl.total.Load(), units)
			}
			accepted := sl.end()
			var total int64
			for _, n := range accepted {
				total += n
			}
			t.Logf("sold %d of %d in %s (%d checkout attempts), per store %v", total, units, took.Round(time.Millisecond), sl.attempts.Load(), accepted)
			if !soldOut {
				hs, _ := s.allocStock(sku)
				t.Errorf("%d units left unsold while shoppers were waiting (hub: pool %d, allocated %v)", units-total, hs.Pool, hs.Allocated)
			}
			hs := s.checkSettled(t, sku, accepted, units)
			if hs.Committed != units || hs.Pool != 0 {
				t.Fatalf("after the sale: committed %d, pool %d", hs.Committed, hs.Pool)
			}
			if accepted[4] != 0 {
				t.Fatalf("the store without shoppers sold %d", accepted[4])
			}
		})
	}
}

// TestAllocate_CutOffStore: a store whose agent is gone keeps selling what
// it holds and nothing more, while the others keep selling from the pool
// and a mirror store shows what the pool can promise; when the agent comes
// back its sales are counted and it gets units again.
func TestAllocate_CutOffStore(t *testing.T) {
	params := map[string]int64{"low_water": 2, "min_grant": 4, "max_grant": 6, "cover_seconds": 5, "idle_seconds": 2}
	s := allocateSystem(t, 4, 60, params, "allocate", "allocate", "allocate", "mirror")
	sku := s.sku()
	cut, mirror := s.stores[0], s.stores[3]
	hs, err := s.allocStock(sku)
	if err != nil {
		t.Fatal(err)
	}
	if got := hs.Targets[strconv.FormatInt(mirror.id, 10)]; got != max(0, hs.Pool) {
		t.Fatalf("mirror store target %d, want the pool %d (never below 0)", got, hs.Pool)
	}
	held := hs.Allocated[strconv.FormatInt(cut.id, 10)]
	before := map[int64]int64{}
	for _, st := range s.stores[1:3] {
		before[st.id] = hs.Allocated[strconv.FormatInt(st.id, 10)]
	}

	cut.agent.Kill()
	// Demand everywhere but the mirror store, well beyond what the cut
	// store holds.
	sl := s.startSale(sku, []int{40, 15, 15, 0}, 30*time.Millisecond, 0)
	systest.WaitFor(t, 30*time.Second, "the others sell beyond their first grants", func() error {
		for _, st := range s.stores[1:3] {
			if n := sl.accepted[st.idx].Load(); n <= before[st.id] {
				return fmt.Errorf("%s sold %d, first grant %d", st.name, n, before[st.id])
			}
		}
		if n := sl.accepted[cut.idx].Load(); n != held {
			return fmt.Errorf("cut store sold %d of its %d", n, held)
		}
		return nil
	})
	if n := sl.accepted[cut.idx].Load(); n != held {
		t.Fatalf("cut-off store sold %d, it held %d", n, held)
	}
	if q, _ := cut.sim.Store.StockBySKU(sku); q != 0 {
		t.Fatalf("cut-off store shows %d after selling its allocation", q)
	}

	cut.agent.Start()
	systest.WaitFor(t, 30*time.Second, "the cut store's sales are counted and it sells again", func() error {
		if n := sl.accepted[cut.idx].Load(); n <= held {
			return fmt.Errorf("cut store sold %d, no new grant yet", n)
		}
		return nil
	})
	// The shoppers of the other stores are served; what those stores still
	// hold comes back once they are idle, for the cut store's shoppers.
	if !sl.waitTotal(60, 30*time.Second) {
		t.Errorf("only %d of 60 sold while the cut store's shoppers were waiting", sl.total.Load())
	}
	accepted := sl.end()
	t.Logf("per store %v (cut store held %d)", accepted, held)
	if accepted[cut.idx] <= held {
		t.Errorf("the cut store sold nothing after it came back (sold %d, held %d)", accepted[cut.idx], held)
	}
	hs = s.checkSettled(t, sku, accepted, 60)
	if got := hs.Targets[strconv.FormatInt(mirror.id, 10)]; got != max(0, hs.Pool) {
		t.Fatalf("mirror store target %d, want the pool %d (never below 0)", got, hs.Pool)
	}
}

// TestAllocate_ReclaimWhileSelling: counts that leave the stores holding
// more than stock make the hub reclaim from a store while its shoppers buy
// there. Every unit is either sold or returned, never both: afterwards each
// store shows exactly its allocation, the hub counts every sale, and no
// store sold beyond what it was granted.
func TestAllocate_ReclaimWhileSelling(t *testing.T) {
	params := map[string]int64{"low_water": 2, "min_grant": 30, "max_grant": 30, "cover_seconds": 5, "idle_seconds": 1}
	s := allocateSystem(t, 2, 200, params)
	sku := s.sku()
	// 20 shoppers at the first store, arriving over 3 seconds.
	sl := s.startSale(sku, []int{20, 0}, 20*time.Millisecond, 3*time.Second)
	for _, c := range []struct{ sold, count int64 }{{4, 25}, {10, 22}} {
		if !sl.waitTotal(c.sold, 20*time.Second) {
			sl.end()
			t.Fatalf("only %d sold", sl.total.Load())
		}
		// The ERP finds fewer than the stores hold: the hub asks units
		// back from both, the selling one included.
		s.hub.MustAPI(http.MethodPut, "/api/v1/skus/"+sku+"/locations/main", map[string]any{"on_hand": c.count}, nil)
	}
	if !sl.waitTotal(20, 30*time.Second) {
		t.Errorf("only %d of 20 shoppers bought", sl.total.Load())
	}
	accepted := sl.end()
	hs := s.checkSettled(t, sku, accepted, 22)
	t.Logf("per store %v; hub committed %d, pool %d, allocated %v", accepted, hs.Committed, hs.Pool, hs.Allocated)
	var shelves int64
	for _, st := range s.stores {
		q, _ := st.sim.Store.StockBySKU(sku)
		shelves += q
	}
	if hs.Committed+shelves > 22 {
		t.Fatalf("sold %d + on shelves %d > the 22 counted", hs.Committed, shelves)
	}
}

// dumpAllocations logs the hub's allocation tables (on failure).
func (s *system) dumpAllocations(t *testing.T) {
	db, err := sql.Open("postgres", s.dsn)
	if err != nil {
		t.Log(err)
		return
	}
	defer db.Close()
	for _, q := range []string{
		`SELECT store_id, sku, allocated, reclaiming, granted, oversold FROM store_allocations ORDER BY store_id`,
		`SELECT id, store_id, units, reason, status, COALESCE(released, -1) FROM reclaims ORDER BY id`,
		`SELECT store_id, seq, delta, target, to_char(created_at, 'HH24:MI:SS.MS') FROM store_events ORDER BY store_id, seq`,
		`SELECT o.store_id, o.woo_order_id, o.status, o.stock_state, to_char(o.updated_at, 'HH24:MI:SS.MS') FROM orders o ORDER BY o.store_id, o.updated_at`,
	} {
		rows, err := db.Query(q)
		if err != nil {
			t.Log(err)
			continue
		}
		cols, _ := rows.Columns()
		var b strings.Builder
		b.WriteString(strings.Join(cols, "\t") + "\n")
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			rows.Scan(ptrs...)
			for i, v := range vals {
				if i > 0 {
					b.WriteString("\t")
				}
				fmt.Fprintf(&b, "%v", v)
			}
			b.WriteString("\n")
		}
		rows.Close()
		t.Logf("%s\n%s", q, b.String())
	}
}

// TestAllocate_PolicyChange: a mirror store switched to allocate takes the
// pool's figure off its shelf and gets grants; switched back, its units
// return to the pool and it shows the pool again. Every store converges
// each time and nothing is sold twice.
func TestAllocate_PolicyChange(t *testing.T) {
	s := newSystemWith(t, systemOptions{stores: 2, skus: 1, onHand: 30, hubArgs: []string{"--rebalance-interval", "200ms"}})
	sku := s.sku()
	systest.WaitFor(t, 30*time.Second, "initial convergence", s.converged)
	a, m := s.stores[0], s.stores[1]
	id := strconv.FormatInt(a.id, 10)

	s.hub.MustAPI(http.MethodPatch, "/api/v1/stores/"+id, map[string]any{"policy": "allocate",
		"allocation": map[string]int64{"low_water": 2, "min_grant": 7, "max_grant": 7, "cover_seconds": 5, "idle_seconds": 60}}, nil)
	systest.WaitFor(t, 30*time.Second, "the store shows its allocation, the mirror store the pool", func() error {
		if err := s.converged(); err != nil {
			return err
		}
		hs, err := s.allocStock(sku)
		if err != nil {
			return err
		}
		if hs.Allocated[id] != 7 || hs.Pool != 23 || hs.Targets[strconv.FormatInt(m.id, 10)] != 23 {
			return fmt.Errorf("allocated %v, pool %d, targets %v", hs.Allocated, hs.Pool, hs.Targets)
		}
		return nil
	})
	// It sells within its allocation.
	sl := s.startSale(sku, []int{10, 0}, 20*time.Millisecond, 0)
	if !sl.waitTotal(10, 20*time.Second) {
		sl.end()
		t.Fatalf("only %d of the 10 units sold within the allocation", sl.total.Load())
	}
	accepted := sl.end()
	s.checkSettled(t, sku, accepted, 30)

	s.hub.MustAPI(http.MethodPatch, "/api/v1/stores/"+id, map[string]any{"policy": "mirror"}, nil)
	systest.WaitFor(t, 30*time.Second, "both stores show the pool", func() error {
		if err := s.converged(); err != nil {
			return err
		}
		hs, err := s.allocStock(sku)
		if err != nil {
			return err
		}
		if len(hs.Allocated) != 0 || hs.Pool != 20 || hs.Targets[id] != 20 {
			return fmt.Errorf("allocated %v, pool %d, targets %v", hs.Allocated, hs.Pool, hs.Targets)
		}
		return nil
	})
}
