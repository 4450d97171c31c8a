package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/stockwire/stockwire/shared/launch"
	"github.com/stockwire/stockwire/shared/scrape"
	"github.com/stockwire/stockwire/shared/woosim"
)

// saleParams are the stores' allocate parameters in the flash sale.
var saleParams = map[string]int64{"low_water": 2, "min_grant": 3, "max_grant": 12, "cover_seconds": 5, "idle_seconds": 1}

// saleResult is one flash sale's figures.
type saleResult struct {
	run        string
	sold       int64
	oversold   int64
	stranded   int64 // unsold when the sale window closed, shoppers still waiting
	soldOut    time.Duration
	idleHeld   int64         // units the store without shoppers held at the start
	idleFreed  time.Duration // until it held none
	attempts   int64
	hubOversld int64 // the hub's oversold count (units sold beyond an allocation)
}

func run(ctx context.Context, cfg Config) error {
	e, err := openEnv(ctx, cfg)
	if err != nil {
		return err
	}
	defer e.close()
	var sales []saleResult
	for _, r := range cfg.Runs {
		res, err := e.flashSale(ctx, r)
		if err != nil {
			return fmt.Errorf("flash sale %s: %w", r, err)
		}
		sales = append(sales, res)
	}
	var lat []time.Duration
	if cfg.GrantSamples > 0 {
		if lat, err = e.grantLatency(ctx); err != nil {
			return fmt.Errorf("grant latency: %w", err)
		}
	}

	w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	if len(sales) > 0 {
		fmt.Fprintf(w, "flash sale: %d units, %d allocate stores, shoppers per store %v, webhook delay %s, poll %s\n",
			cfg.Units, len(cfg.Shoppers), cfg.Shoppers, cfg.WebhookDelay, cfg.PollInterval)
		fmt.Fprintln(w, "run\tsold\toversold\tstranded\tsold out in\tidle store held\tidle store emptied in\tcheckout attempts\thub oversold count")
		for _, r := range sales {
			soldOut := "-"
			if r.sold == cfg.Units {
				soldOut = r.soldOut.Round(time.Millisecond).String()
			}
			fmt.Fprintf(w, "%s\t%d\t%d\t%d\t%s\t%d\t%s\t%d\t%d\n", r.run, r.sold, r.oversold, r.stranded, soldOut,
				r.idleHeld, r.idleFreed.Round(time.Millisecond), r.attempts, r.hubOversld)
		}
		fmt.Fprintln(w)
	}
	if len(lat) > 0 {
		slices.Sort(lat)
		q := func(p float64) time.Duration {
			return lat[min(len(lat)-1, int(p*float64(len(lat))))].Round(time.Millisecond)
		}
		fmt.Fprintf(w, "grant latency (checkout below low water → grant write at the store), %d samples, webhook delay %s:\n", len(lat), cfg.WebhookDelay)
		fmt.Fprintf(w, "p50\t%s\np90\t%s\nmax\t%s\n", q(0.5), q(0.9), lat[len(lat)-1].Round(time.Millisecond))
	}
	return w.Flush()
}

// grantLog records when grant writes arrive at a store.
type grantLog struct {
	mu    sync.Mutex
	times []time.Time
}

func (g *grantLog) note(at time.Time) {
	g.mu.Lock()
	g.times = append(g.times, at)
	g.mu.Unlock()
}

// firstAfter returns the first grant arrival after t.
func (g *grantLog) firstAfter(t time.Time) (time.Time, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, at := range g.times {
		if at.After(t) {
			return at, true
		}
	}
	return time.Time{}, false
}

// flashSale runs one flash sale: every shopper wants one unit and tries
// again every ~50ms while refused, until it bought or the window closes;
// the sale ends early once every unit sold (plus a second for an oversell
// to show).
func (e *env) flashSale(ctx context.Context, run string) (saleResult, error) {
	cfg := e.cfg
	progress("flash sale %s: starting %d stores", run, len(cfg.Shoppers))
	s, err := e.startSystem(ctx, "sale-"+run, len(cfg.Shoppers), cfg.Units, saleParams)
	if err != nil {
		return saleResult{}, err
	}
	defer s.close()
	res := saleResult{run: run}
	idle := s.stores[len(s.stores)-1]
	res.idleHeld, _ = idle.sim.Store.StockBySKU(s.sku)

	var total, attempts atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	start := time.Now()
	for i, n := range cfg.Shoppers {
		st := s.stores[i]
		for range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					attempts.Add(1)
					if _, err := st.sim.Store.Checkout([]woosim.CheckoutLine{{SKU: s.sku, Quantity: 1}}); err == nil {
						total.Add(1)
						return
					}
					t := time.NewTimer(25*time.Millisecond + rand.N(50*time.Millisecond))
					select {
					case <-stop:
						t.Stop()
						return
					case <-t.C:
					}
				}
			}()
		}
	}
	// Watch the idle store, the fault and the end of the sale.
	deadline := start.Add(cfg.SaleWindow)
	var soldOutAt time.Time
	faulted, healed := false, false
	var faultAt time.Time
	for time.Now().Before(deadline) {
		if q, _ := idle.sim.Store.StockBySKU(s.sku); q == 0 && res.idleFreed == 0 {
			res.idleFreed = time.Since(start)
		}
		sold := total.Load()
		if sold >= cfg.Units && soldOutAt.IsZero() {
			soldOutAt = time.Now()
			res.soldOut = soldOutAt.Sub(start)
		}
		if !soldOutAt.IsZero() && time.Since(soldOutAt) > time.Second {
			break
		}
		switch {
		case run == "agent-killed" && !faulted && sold >= 30:
			progress("killing %s's agent at %d sold", s.stores[1].name, sold)
			s.stores[1].agent.Kill()
			faulted, faultAt = true, time.Now()
		case run == "agent-killed" && faulted && !healed && (sold >= 60 || time.Since(faultAt) > 4*time.Second):
			progress("restarting %s's agent at %d sold", s.stores[1].name, sold)
			if err := s.startAgent(ctx, s.stores[1]); err != nil {
				close(stop)
				wg.Wait()
				return res, err
			}
			healed = true
		case run == "hub-killed" && !faulted && sold >= 30:
			progress("killing the hub at %d sold", sold)
			s.hub.Kill()
			faulted, faultAt = true, time.Now()
		case run == "hub-killed" && faulted && !healed && (sold >= 50 || time.Since(faultAt) > 3*time.Second):
			progress("restarting the hub at %d sold", sold)
			if err := s.startHub(ctx); err != nil {
				close(stop)
				wg.Wait()
				return res, err
			}
			healed = true
		}
		time.Sleep(20 * time.Millisecond) // sampling period
	}
	close(stop)
	wg.Wait()
	res.sold, res.attempts = total.Load(), attempts.Load()
	res.oversold = max(res.sold-cfg.Units, 0)
	res.stranded = max(cfg.Units-res.sold, 0)
	progress("flash sale %s: sold %d in %s", run, res.sold, res.soldOut.Round(time.Millisecond))
	if res.stranded > 0 {
		s.explainStranded(ctx)
	}

	// The hub's own count of units sold beyond an allocation, once every
	// sale is reported.
	err = launch.Poll(ctx, 60*time.Second, "the hub counts every sale", func() error {
		hs, err := s.stock(ctx)
		if err != nil {
			return err
		}
		if hs.Committed != res.sold {
			return fmt.Errorf("committed %d, sold %d", hs.Committed, res.sold)
		}
		return nil
	})
	if err != nil {
		return res, err
	}
	res.hubOversld, err = s.hubMetric(ctx, "stockwire_hub_allocation_oversold_units")
	return res, err
}

// grantLatency sells one unit at a time at one store, with a pool that
// never runs dry, and measures each crossing of the low-water mark until
// the grant write arrives at the store.
func (e *env) grantLatency(ctx context.Context) ([]time.Duration, error) {
	progress("grant latency: starting 2 stores")
	params := map[string]int64{"low_water": 2, "min_grant": 4, "max_grant": 4, "cover_seconds": 5, "idle_seconds": 300}
	s, err := e.startSystem(ctx, "grant", 2, 100_000, params)
	if err != nil {
		return nil, err
	}
	defer s.close()
	st := s.stores[0]
	var grants grantLog
	st.onGrant.Store(&grants)
	var out []time.Duration
	for len(out) < e.cfg.GrantSamples {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if _, err := st.sim.Store.Checkout([]woosim.CheckoutLine{{SKU: s.sku, Quantity: 1}}); err != nil {
			time.Sleep(20 * time.Millisecond) // the shelf is empty: the grant is on its way
			continue
		}
		at := time.Now()
		q, _ := st.sim.Store.StockBySKU(s.sku)
		if q >= params["low_water"] {
			time.Sleep(150 * time.Millisecond) // a shopper's pace
			continue
		}
		var got time.Time
		err := launch.Poll(ctx, 30*time.Second, "a grant write", func() error {
			var ok bool
			if got, ok = grants.firstAfter(at); !ok {
				return fmt.Errorf("none since %s", at.Format(time.TimeOnly))
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		out = append(out, got.Sub(at))
		progress("grant latency sample %d: %s", len(out), got.Sub(at).Round(time.Millisecond))
		// Let the write land before the next checkout.
		if err := launch.Poll(ctx, 10*time.Second, "the grant on the shelf", func() error {
			if q, _ := st.sim.Store.StockBySKU(s.sku); q < params["low_water"] {
				return fmt.Errorf("shelf at %d", q)
			}
			return nil
		}); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// hubMetric reads one gauge from the hub's /metrics.
func (s *system) hubMetric(ctx context.Context, name string) (int64, error) {
	page, err := scrape.Get(ctx, nil, "http://"+s.hubAddr+"/metrics")
	if err != nil {
		return 0, err
	}
	v, ok := page.Sum(name)
	if !ok {
		return 0, fmt.Errorf("metric %s not found", name)
	}
	return int64(v), nil
}

// explainStranded logs where the hub thinks the unsold units are, what each
// shelf shows and whether each agent counts as connected.
func (s *system) explainStranded(ctx context.Context) {
	hs, err := s.stock(ctx)
	if err != nil {
		progress("stranded units: %v", err)
		return
	}
	var stores struct {
		Stores []struct {
			ID    int64 `json:"id"`
			Agent struct {
				Connected bool `json:"connected"`
			} `json:"agent"`
		} `json:"stores"`
	}
	if err := s.api(ctx, "GET", "/api/v1/stores", nil, &stores); err != nil {
		progress("stranded units: %v", err)
		return
	}
	for _, st := range s.stores {
		q, _ := st.sim.Store.StockBySKU(s.sku)
		connected := false
		for _, h := range stores.Stores {
			if h.ID == st.id {
				connected = h.Agent.Connected
			}
		}
		progress("stranded units: %s shelf %d, hub allocated %d, connected %v", st.name, q, hs.Allocated[strconv.FormatInt(st.id, 10)], connected)
	}
	progress("stranded units: hub pool %d, committed %d, exposure %d", hs.Pool, hs.Committed, hs.Exposure)
}
