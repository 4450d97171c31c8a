package soak

import (
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"strings"
	"time"

	_ "github.com/lib/pq" // the hub's database, for the allocate stores' oversold units

	"github.com/stockwire/stockwire/shared/hubapi"
	"github.com/stockwire/stockwire/shared/launch"
)

// settleTimeout bounds each wait of the checks; a soak that needs it has
// failed ConvergeWithin long before.
const settleTimeout = time.Minute

// StoreFigures is one store's part of the result.
type StoreFigures struct {
	Name, Policy                     string
	Orders, Units, Refused, Failed   int64
	Edits                            int64
	Completed, Cancelled, Refunded   int64
	AgentKills                       int
	OutboxEvents, DeadLetters        int
	WebhooksDropped, RequestsFaulted int64
}

// orderKey is an order as both sides name it.
type orderKey struct {
	store int64
	woo   int64
}

// expectedOrder is what the hub should hold of a store's order.
type expectedOrder struct {
	status, state string
	units         int64
	modified      string // date_modified_gmt, for the failure's message
}

// check brings every process up, then checks and times what the merchant
// relies on; stopped is when the traffic and the chaos stopped.
func (s *system) check(ctx context.Context, stopped time.Time) {
	r := s.res
	for _, p := range s.processes() {
		if err := p.ensure(ctx); err != nil {
			r.fail("%s does not start after the traffic: %v", p.name, err)
		}
	}
	// Invariant 2 holds once orders stop and every part is up, the hosts
	// included: their faults stopped with the traffic.

	// What the stores sold is fixed now: the hub must end with exactly it.
	orders, committed, fulfilled := s.expected()
	r.OrdersInStores = len(orders)
	wantOnHand := map[string]int64{}
	r.mu.Lock()
	for _, sku := range s.skus {
		wantOnHand[sku] = s.cfg.InitialStock + r.ReceiptUnits[sku] - fulfilled[sku]
	}
	r.mu.Unlock()
	settled := func() error {
		hs, err := s.difference(ctx)
		if err != nil {
			return err
		}
		for _, sku := range s.skus {
			if k := hs[sku]; k.Committed != committed[sku] || k.OnHand != wantOnHand[sku] {
				return fmt.Errorf("%s: the hub has %d committed and %d on hand, the stores' orders make it %d and %d",
					sku, k.Committed, k.OnHand, committed[sku], wantOnHand[sku])
			}
		}
		return nil
	}
	lastLog := time.Now()
	err := launch.PollEvery(ctx, settleTimeout, 100*time.Millisecond, "every store shows the hub's figures and the hub every order", func() error {
		err := settled()
		if err != nil && time.Since(lastLog) >= time.Second {
			lastLog = time.Now()
			s.cfg.Logf("%s after the traffic: %v", time.Since(stopped).Round(100*time.Millisecond), err)
		}
		return err
	})
	r.ConvergedIn = time.Since(stopped)
	if err != nil {
		r.ConvergedIn = -1
		r.fail("%v", err)
	} else if r.ConvergedIn > s.cfg.ConvergeWithin {
		r.fail("the stores and the hub settled %s after the traffic stopped, beyond %s", r.ConvergedIn.Round(10*time.Millisecond), s.cfg.ConvergeWithin)
	}

	s.checkOutboxes(ctx)
	s.checkFeed(ctx, orders)
	s.checkOversold(ctx)
	s.checkGrowth()
	for _, p := range s.processes() {
		_, crashes := p.counts()
		r.UnexpectedExits = append(r.UnexpectedExits, crashes...)
	}
	for _, p := range s.replicas {
		kills, _ := p.counts()
		r.ReplicaKills += kills
	}
	if len(r.UnexpectedExits) > 0 {
		r.fail("processes exited on their own: %s", strings.Join(r.UnexpectedExits, "; "))
	}
	for _, st := range s.stores {
		kills, _ := st.agent.counts()
		stats := st.sim.Store.Stats()
		var faulted int64
		for route, n := range stats.Requests {
			if strings.HasSuffix(route, " 500") || strings.HasSuffix(route, " 429") {
				faulted += n
			}
		}
		r.Stores = append(r.Stores, StoreFigures{Name: st.name, Policy: st.policy,
			Orders: st.stats.orders.Load(), Units: st.stats.units.Load(), Refused: st.stats.refused.Load(), Failed: st.stats.failed.Load(),
			Edits: st.stats.edits.Load(), Completed: st.stats.completed.Load(), Cancelled: st.stats.cancelled.Load(), Refunded: st.stats.refunded.Load(),
			AgentKills: kills, WebhooksDropped: stats.WebhooksDropped, RequestsFaulted: faulted})
	}
	s.fillAgentHealth(ctx)
}

func (s *system) processes() []*process {
	ps := append([]*process(nil), s.replicas...)
	for _, st := range s.stores {
		ps = append(ps, st.agent)
	}
	return ps
}

// expected reads every store's orders: what the hub should hold of each,
// and the units it should count committed and fulfilled per SKU.
func (s *system) expected() (orders map[orderKey]expectedOrder, committed, fulfilled map[string]int64) {
	orders = map[orderKey]expectedOrder{}
	committed, fulfilled = map[string]int64{}, map[string]int64{}
	for _, st := range s.stores {
		for _, o := range st.sim.Store.Orders() {
			state := hubapi.OrderStateReleased
			switch o.Status {
			case "processing", "on-hold":
				state = hubapi.OrderStateCommitted
			case "completed":
				state = hubapi.OrderStateFulfilled
			}
			e := expectedOrder{status: o.Status, state: state}
			if o.DateModifiedGMT != nil {
				e.modified = *o.DateModifiedGMT
			}
			for _, l := range o.LineItems {
				e.units += l.Quantity
				if l.SKU == nil {
					continue
				}
				switch state {
				case hubapi.OrderStateCommitted:
					committed[*l.SKU] += l.Quantity
				case hubapi.OrderStateFulfilled:
					fulfilled[*l.SKU] += l.Quantity
				}
			}
			orders[orderKey{st.id, o.ID}] = e
		}
	}
	return orders, committed, fulfilled
}

// checkOutboxes waits until every agent's outbox is empty.
func (s *system) checkOutboxes(ctx context.Context) {
	err := launch.PollEvery(ctx, settleTimeout, 100*time.Millisecond, "every agent's outbox empty", func() error {
		for _, st := range s.stores {
			h, err := s.agentHealth(ctx, st)
			if err != nil {
				return err
			}
			if h.OutboxEvents != 0 {
				return fmt.Errorf("%s holds %d events", st.name, h.OutboxEvents)
			}
		}
		return nil
	})
	if err != nil {
		s.res.fail("%v", err)
	}
}

// fillAgentHealth records each agent's outbox and dead letters; a dead
// letter is an event the agent gave up on, so any fails the soak.
func (s *system) fillAgentHealth(ctx context.Context) {
	r := s.res
	for i, st := range s.stores {
		h, err := s.agentHealth(ctx, st)
		if err != nil {
			r.fail("%s /healthz: %v", st.name, err)
			continue
		}
		r.Stores[i].OutboxEvents, r.Stores[i].DeadLetters = h.OutboxEvents, h.DeadLetters
		r.OutboxEvents += h.OutboxEvents
		r.DeadLetters += h.DeadLetters
	}
	if r.DeadLetters > 0 {
		r.fail("the agents hold %d dead letters", r.DeadLetters)
	}
}

// checkFeed reads the hub's whole order feed, as an ERP would, and matches
// it with the stores' orders: each once, with the store's status and the
// stock state that status means, and its units.
func (s *system) checkFeed(ctx context.Context, want map[orderKey]expectedOrder) {
	r := s.res
	ctx, cancel := context.WithTimeout(ctx, settleTimeout)
	defer cancel()
	seen := map[orderKey]int{}
	after := ""
	for {
		var page hubapi.OrderList
		if err := s.api(ctx, http.MethodGet, "/api/v1/orders?limit=500&after="+after, nil, &page); err != nil {
			r.fail("read the order feed: %v", err)
			return
		}
		for _, o := range page.Orders {
			k := orderKey{o.StoreID, o.WooOrderID}
			seen[k]++
			r.OrdersInHub++
			e, ok := want[k]
			if !ok {
				r.Unknown++
				continue
			}
			var units int64
			for _, l := range o.Lines {
				units += l.Quantity
			}
			// An order the hub first hears of as cancelled or refunded
			// never held stock there: none is as good as released.
			state := o.StockState
			if state == hubapi.OrderStateNone && e.state == hubapi.OrderStateReleased {
				state = e.state
			}
			if o.Status != e.status || state != e.state || units != e.units {
				r.WrongState++
				if r.WrongState <= 5 {
					r.fail("order %d of store %d: the hub has %s/%s/%d units modified %s, the store %s/%s/%d modified %s", o.WooOrderID, o.StoreID,
						o.Status, o.StockState, units, o.ModifiedAt.UTC().Format(time.DateTime), e.status, e.state, e.units, e.modified)
				}
			}
		}
		// The feed never ends (an empty page keeps the cursor): a short
		// page is its head.
		if len(page.Orders) < 500 {
			break
		}
		after = page.Next
	}
	for k := range want {
		switch seen[k] {
		case 0:
			r.Lost++
		case 1:
		default:
			r.Doubled++
		}
	}
	if r.Lost+r.Doubled+r.Unknown > 0 {
		r.fail("order feed: %d orders lost, %d twice, %d no store has", r.Lost, r.Doubled, r.Unknown)
	}
}

// checkOversold reads the units the allocate stores sold beyond their
// allocations, as the hub counted them.
func (s *system) checkOversold(ctx context.Context) {
	db, err := sql.Open("postgres", s.dsn)
	if err != nil {
		s.res.fail("open the hub's database: %v", err)
		return
	}
	defer db.Close()
	if err := db.QueryRowContext(ctx, `SELECT COALESCE(sum(oversold), 0) FROM store_allocations`).Scan(&s.res.AllocOversold); err != nil {
		s.res.fail("read oversold units: %v", err)
		return
	}
	if s.res.AllocOversold != 0 {
		s.res.fail("the allocate stores sold %d units they were not granted", s.res.AllocOversold)
	}
}

// growthRun is the shortest run whose samples are judged for growth:
// shorter ones are mostly warm-up.
const growthRun = 5 * time.Minute

// checkGrowth compares the long-lived processes' last sample with the one
// from the middle of the run: the first half warms them up (caches, the
// outbox file's pages, the heap reaching its soft limit), a leak keeps
// growing through the second. More than a fifth plus a margin is growth,
// and fails the soak. The goroutines' margin allows for every agent's
// session having moved to replica-0 (its peer killed) at one sample and
// not the other.
func (s *system) checkGrowth() {
	r := s.res
	if s.cfg.Duration < growthRun || len(r.Samples) < 3 {
		return
	}
	base, last := r.Samples[len(r.Samples)/2], r.Samples[len(r.Samples)-1]
	grew := func(what string, from, to, margin int64) {
		if from < 0 || to < 0 {
			r.Growth = append(r.Growth, what+": not sampled")
			return
		}
		limit := from + from/5 + margin
		r.Growth = append(r.Growth, fmt.Sprintf("%s %d → %d (limit %d)", what, from, to, limit))
		if to > limit {
			r.fail("%s grew from %d to %d over the run", what, from, to)
		}
	}
	grew("replica-0 RSS", base.HubRSS, last.HubRSS, 16<<20)
	grew("store-0 agent RSS", base.AgentRSS, last.AgentRSS, 8<<20)
	grew("replica-0 goroutines", int64(base.HubGoroutines), int64(last.HubGoroutines), int64(20+15*len(s.stores)))
	grew("store-0 agent goroutines", int64(base.AgentGoroutines), int64(last.AgentGoroutines), 20)
}
