package soak

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/stockwire/stockwire/shared/woosim"
)

// storeStats count what the traffic did in one store.
type storeStats struct {
	orders, units, refused, failed atomic.Int64
	edits                          atomic.Int64
	completed, cancelled, refunded atomic.Int64
}

// recentOrders holds a store's latest processing orders, for the status
// changes to pick from.
type recentOrders struct {
	mu  sync.Mutex
	ids []int64
}

func (r *recentOrders) add(id int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.ids) >= 512 {
		r.ids = r.ids[1:]
	}
	r.ids = append(r.ids, id)
}

// take removes and returns a random one; false when there is none.
func (r *recentOrders) take() (int64, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.ids) == 0 {
		return 0, false
	}
	i := rand.IntN(len(r.ids))
	id := r.ids[i]
	r.ids = append(r.ids[:i], r.ids[i+1:]...)
	return id, true
}

// every calls f every period until traffic ends; a zero period never.
func every(traffic context.Context, period time.Duration, f func()) {
	if period == 0 {
		return
	}
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		select {
		case <-traffic.Done():
			return
		case <-t.C:
			f()
		}
	}
}

// shop runs the checkouts: in every store, at its share of the rate, an
// order of one to three SKUs, one or two units each. A store out of a SKU
// refuses the checkout, as WooCommerce does. The checkouts due are counted
// from the start, so a late tick (a pause of the machine) is made up.
func (s *system) shop(_, traffic context.Context) {
	perStore := s.cfg.OrdersPerSecond / float64(len(s.stores))
	var wg sync.WaitGroup
	for _, st := range s.stores {
		wg.Go(func() {
			start, tried := time.Now(), 0
			every(traffic, 10*time.Millisecond, func() {
				due := int(time.Since(start).Seconds() * perStore)
				for ; tried < due && traffic.Err() == nil; tried++ {
					st.checkout(s.skus)
				}
			})
		})
	}
	wg.Wait()
}

// checkout is one storefront order of random SKUs.
func (st *store) checkout(skus []string) {
	lines := make([]woosim.CheckoutLine, 0, 3)
	for _, i := range rand.Perm(len(skus))[:1+rand.IntN(3)] {
		lines = append(lines, woosim.CheckoutLine{SKU: skus[i], Quantity: int64(1 + rand.IntN(2))})
	}
	id, err := st.sim.Store.Checkout(lines)
	switch {
	case errors.Is(err, woosim.ErrOutOfStock):
		st.stats.refused.Add(1)
	case err != nil:
		st.stats.failed.Add(1)
	default:
		st.stats.orders.Add(1)
		for _, l := range lines {
			st.stats.units.Add(l.Quantity)
		}
		st.recent.add(id)
	}
}

// receive is the ERP: every second, a receipt of InitialStock units for
// each SKU of which fewer than half are available. Each receipt has its own
// idempotency key and is retried until the hub confirms it, through
// whichever replica answers.
func (s *system) receive(ctx, traffic context.Context) {
	n := 0
	every(traffic, time.Second, func() {
		hs, err := s.hubSKUs(traffic)
		if err != nil {
			return
		}
		for _, sku := range s.skus {
			if hs[sku].Available >= s.cfg.InitialStock/2 {
				continue
			}
			n++
			key := fmt.Sprintf("soak-receipt-%d", n)
			body := map[string]any{"sku": sku, "location": "main", "delta": s.cfg.InitialStock, "reason": "soak: ERP receipt", "idempotency_key": key}
			if err := s.api(ctx, http.MethodPost, "/api/v1/adjustments", body, nil); err != nil {
				s.res.fail("receipt %s of %s not confirmed: %v", key, sku, err)
				continue
			}
			s.res.mu.Lock()
			s.res.ReceiptUnits[sku] += s.cfg.InitialStock
			s.res.Receipts++
			s.res.mu.Unlock()
		}
	})
}

// edit changes stock by hand in a random store's admin: any figure in a
// mirror store; in an allocate store only to 0 (marked out of stock), since
// a figure raised by hand lets a store sell what it was never granted.
func (s *system) edit(_, traffic context.Context) {
	every(traffic, s.cfg.EditEvery, func() {
		st := s.stores[rand.IntN(len(s.stores))]
		sku := s.skus[rand.IntN(len(s.skus))]
		qty := int64(0)
		if st.policy == "mirror" {
			cur, _ := st.sim.Store.StockBySKU(sku)
			qty = rand.Int64N(max(cur, 0) + 30)
		}
		if err := st.sim.Store.AdminEdit(sku, qty); err == nil {
			st.stats.edits.Add(1)
		}
	})
}

// changeStatuses completes, cancels or refunds a recent order of a random
// store, as its staff would in wp-admin.
func (s *system) changeStatuses(_, traffic context.Context) {
	every(traffic, s.cfg.StatusEvery, func() {
		st := s.stores[rand.IntN(len(s.stores))]
		id, ok := st.recent.take()
		if !ok {
			return
		}
		status, count := "completed", &st.stats.completed
		switch r := rand.IntN(10); {
		case r < 3:
			status, count = "cancelled", &st.stats.cancelled
		case r < 5:
			status, count = "refunded", &st.stats.refunded
		}
		if err := st.sim.Store.SetOrderStatus(id, status); err == nil {
			count.Add(1)
		}
	})
}
