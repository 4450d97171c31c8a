package main

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/stockwire/stockwire/shared/launch"
	"github.com/stockwire/stockwire/shared/procstat"
	"github.com/stockwire/stockwire/shared/woosim"
)

// PropagationResult is one propagation run.
type PropagationResult struct {
	Fleet
	// Checkouts is the number made: fewer than asked when the rig could
	// not hold the pace (see paceSlack).
	Checkouts int
	// Paced is how long the checkouts took (Checkouts/Rate when the pace
	// held); Calls is the duration of the checkout calls themselves.
	Paced time.Duration
	Calls Distribution
	// Deliveries: from a checkout in one store to the stock write request
	// arriving at another store, one sample per (checkout, other store).
	Deliveries Distribution
	// Complete: from a checkout to the write arriving at the last store.
	Complete Distribution
	// Undelivered counts expected writes that never arrived (within the
	// drain timeout, or before the same SKU was bought again).
	Undelivered int
	// AgentRSS is the mean and the largest agent resident set at the end.
	AgentRSSMean, AgentRSSMax int64
	Hub                       procstat.Memory
	// Idle is what the synced fleet costs before any checkout; Phase what
	// the checkouts and their propagation cost.
	Idle, Phase Phase
}

// paceSlack: checkouts stop at twice their planned time plus this, so that
// a rig too small for the pace ends in bounded time (the pace it held is
// reported).
const paceSlack = 10 * time.Second

// propagationSKUStock is every SKU's stock in the hub and the stores: far
// more than the run sells, so no checkout is refused.
const propagationSKUStock = 100_000

// propagation runs paced checkouts in a fleet and times each resulting
// write request at the other stores.
func (b *bench) propagation(ctx context.Context, fl Fleet) (PropagationResult, error) {
	res := PropagationResult{Fleet: fl}
	n, name := fl.Stores, strings.NewReplacer("@", "at", ".", "_").Replace(fl.String())
	b.logf("propagation, fleet %s: starting hub", fl)
	h, err := b.startHub(ctx, "propagation"+name)
	if err != nil {
		return res, err
	}
	defer h.stop()
	tracker := newDeliveryTracker(n)
	f, err := b.startFleet(ctx, h, n, fl.OneAgent, woosim.SeedOptions{Products: b.cfg.SKUs, Stock: propagationSKUStock, SKUPrefix: "SKU"},
		propagationSKUStock, func(i int) func([]string, time.Time) {
			return func(skus []string, at time.Time) { tracker.arrived(i, skus, at) }
		})
	if err != nil {
		return res, err
	}
	defer f.close()

	b.logf("propagation, fleet %s: idle for %s", fl, b.cfg.IdleWindow)
	if err := b.measure(ctx, h, "idle-"+name, f.agentPIDs(), &res.Idle, func() error {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(b.cfg.IdleWindow):
			return nil
		}
	}); err != nil {
		return res, err
	}

	skus := f.shops[0].store.SKUs()
	checkouts := fl.checkouts(b.cfg.Duration)
	b.logf("propagation, fleet %s: %d checkouts at %g/s", fl, checkouts, fl.Rate)
	err = b.measure(ctx, h, "propagation-"+name, f.agentPIDs(), &res.Phase, func() error {
		tick := time.NewTicker(time.Duration(float64(time.Second) / fl.Rate))
		defer tick.Stop()
		start := time.Now()
		planned := time.Duration(float64(checkouts) / fl.Rate * float64(time.Second))
		stop := start.Add(2*planned + paceSlack)
		calls := make([]time.Duration, 0, checkouts)
		for i := range checkouts {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-tick.C:
			}
			if time.Now().After(stop) {
				b.logf("propagation, fleet %s: pace not held, stopping after %d checkouts", fl, i)
				break
			}
			from, sku := i%n, skus[i%len(skus)]
			at := time.Now()
			tracker.expect(i, from, sku, at)
			if _, err := f.shops[from].store.Checkout([]woosim.CheckoutLine{{SKU: sku, Quantity: 1}}); err != nil {
				return fmt.Errorf("checkout %s in %s: %w", sku, f.shops[from].name, err)
			}
			calls = append(calls, time.Since(at))
			res.Checkouts++
		}
		res.Paced, res.Calls = time.Since(start), summarize(calls)
		// Every expected write arrives, or the timeout says how many did not.
		err := launch.Poll(ctx, 30*time.Second, "every write delivered", func() error {
			if left := tracker.outstanding(); left > 0 {
				return fmt.Errorf("%d writes outstanding", left)
			}
			return nil
		})
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err != nil {
			b.logf("propagation, fleet %s: %v", fl, err)
		}
		return nil
	})
	if err != nil {
		return res, err
	}

	deliveries, complete, undelivered := tracker.results()
	res.Deliveries, res.Complete, res.Undelivered = summarize(deliveries), summarize(complete), undelivered
	mems, err := f.agentMemory()
	if err != nil {
		return res, err
	}
	for _, m := range mems {
		res.AgentRSSMean += m.RSS
		res.AgentRSSMax = max(res.AgentRSSMax, m.RSS)
	}
	res.AgentRSSMean /= int64(len(mems))
	if res.Hub, err = procstat.ReadMemory(h.pid()); err != nil {
		return res, err
	}
	return res, nil
}

// deliveryTracker matches write requests arriving at stores with the
// checkouts that caused them: a checkout of SKU s in store A expects one
// write of s at every other store. Each SKU is bought again only after
// every other SKU, so at most one write of s per store is expected at a
// time.
type deliveryTracker struct {
	mu          sync.Mutex
	pending     []map[string]expected // by store index, then SKU
	remaining   map[int]int           // checkout → stores still to reach
	deliveries  []time.Duration
	complete    []time.Duration
	undelivered int
}

type expected struct {
	checkout int
	at       time.Time
}

func newDeliveryTracker(stores int) *deliveryTracker {
	t := &deliveryTracker{pending: make([]map[string]expected, stores), remaining: map[int]int{}}
	for i := range t.pending {
		t.pending[i] = map[string]expected{}
	}
	return t
}

// expect notes that checkout (of sku in store from, at time at) must reach
// every other store.
func (t *deliveryTracker) expect(checkout, from int, sku string, at time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for i, p := range t.pending {
		if i == from {
			continue
		}
		if old, ok := p[sku]; ok {
			// The earlier checkout of this SKU never reached store i.
			t.undelivered++
			if t.remaining[old.checkout]--; t.remaining[old.checkout] == 0 {
				delete(t.remaining, old.checkout)
			}
		}
		p[sku] = expected{checkout: checkout, at: at}
		t.remaining[checkout]++
	}
}

// arrived records a write request of skus at store i.
func (t *deliveryTracker) arrived(i int, skus []string, at time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, sku := range skus {
		e, ok := t.pending[i][sku]
		if !ok {
			continue // the agent's own snapshot or safety-net write
		}
		delete(t.pending[i], sku)
		d := at.Sub(e.at)
		t.deliveries = append(t.deliveries, d)
		if t.remaining[e.checkout]--; t.remaining[e.checkout] == 0 {
			t.complete = append(t.complete, d)
			delete(t.remaining, e.checkout)
		}
	}
}

// outstanding is the number of expected writes not arrived yet.
func (t *deliveryTracker) outstanding() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for _, p := range t.pending {
		n += len(p)
	}
	return n
}

// results returns the delivery samples, the per-checkout completion
// samples (checkouts that reached every store) and the number of writes
// that never arrived.
func (t *deliveryTracker) results() (deliveries, complete []time.Duration, undelivered int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := t.undelivered
	for _, p := range t.pending {
		n += len(p)
	}
	return append([]time.Duration(nil), t.deliveries...), append([]time.Duration(nil), t.complete...), n
}
