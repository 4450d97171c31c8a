package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/stockwire/stockwire/shared/woosim"
)

// traffic plays shoppers, store staff and the ERP.
type traffic struct {
	d     *demo
	stats []storeStats

	// mu is held across each checkout and cancellation and the recording
	// of it, so that the report reads every store's figures together with
	// the orders that made them.
	mu     sync.Mutex
	recent [][]int64              // per store: recent order ids, for cancellations; guarded by mu
	orders []map[int64]*demoOrder // per store: every order placed, by WooCommerce id; guarded by mu
}

type storeStats struct {
	sold, refused, cancelled, edits atomic.Int64
}

// demoOrder is one order a shopper placed: one line, and whether the
// shopper cancelled it since (WooCommerce then restored its stock).
type demoOrder struct {
	sku       string
	quantity  int64
	cancelled bool
}

func newTraffic(d *demo) *traffic {
	t := &traffic{d: d, stats: make([]storeStats, len(d.stores)), recent: make([][]int64, len(d.stores)),
		orders: make([]map[int64]*demoOrder, len(d.stores))}
	for i := range t.orders {
		t.orders[i] = map[int64]*demoOrder{}
	}
	return t
}

func (t *traffic) run(ctx context.Context) {
	var wg sync.WaitGroup
	for i := range t.d.stores {
		wg.Add(1)
		go func() { defer wg.Done(); t.shoppers(ctx, i) }()
	}
	wg.Add(2)
	go func() { defer wg.Done(); t.erp(ctx) }()
	go func() { defer wg.Done(); t.staff(ctx) }()
	wg.Wait()
}

// shoppers check out in store i at the configured rate; now and then a
// customer cancels.
func (t *traffic) shoppers(ctx context.Context, i int) {
	st := t.d.stores[i]
	tick := time.NewTicker(time.Duration(float64(time.Second) / t.d.cfg.Rate))
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if rand.Float64() < 0.1 {
			t.cancelOne(i)
			continue
		}
		t.checkout(i, st, t.d.skus[rand.N(len(t.d.skus))], 1+rand.Int64N(2))
	}
}

func (t *traffic) checkout(i int, st *demoStore, sku string, quantity int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	id, err := st.sim.Store.Checkout([]woosim.CheckoutLine{{SKU: sku, Quantity: quantity}})
	if errors.Is(err, woosim.ErrOutOfStock) {
		t.stats[i].refused.Add(1)
		return
	} else if err != nil {
		return
	}
	t.stats[i].sold.Add(1)
	t.orders[i][id] = &demoOrder{sku: sku, quantity: quantity}
	t.recent[i] = append(t.recent[i], id)
	if len(t.recent[i]) > 50 {
		t.recent[i] = t.recent[i][1:]
	}
}

func (t *traffic) cancelOne(i int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := len(t.recent[i])
	if n == 0 {
		return
	}
	k := rand.N(n)
	id := t.recent[i][k]
	t.recent[i] = append(t.recent[i][:k], t.recent[i][k+1:]...)
	if err := t.d.stores[i].sim.Store.SetOrderStatus(id, "cancelled"); err == nil {
		t.orders[i][id].cancelled = true
		t.stats[i].cancelled.Add(1)
	}
}

// erp receives goods for SKUs running low and ships orders from the feed.
func (t *traffic) erp(ctx context.Context) {
	tick := time.NewTicker(3 * time.Second)
	defer tick.Stop()
	cursor := ""
	n := 0
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		for _, sku := range t.d.skus {
			var s struct {
				Available int64 `json:"available"`
			}
			if t.d.api(ctx, http.MethodGet, "/api/v1/skus/"+sku, nil, &s) != nil || s.Available >= 15 {
				continue
			}
			n++
			_ = t.d.api(ctx, http.MethodPost, "/api/v1/adjustments", map[string]any{
				"sku": sku, "location": "main", "delta": 30, "reason": "receipt",
				"idempotency_key": fmt.Sprintf("demo-receipt-%s-%d", sku, n)}, nil)
		}
		var feed struct {
			Orders []struct {
				ID     int64  `json:"id"`
				Status string `json:"status"`
			} `json:"orders"`
			Next string `json:"next"`
		}
		if t.d.api(ctx, http.MethodGet, "/api/v1/orders?limit=100&after="+cursor, nil, &feed) != nil {
			continue
		}
		if feed.Next != "" {
			cursor = feed.Next
		}
		for _, o := range feed.Orders {
			if o.Status == "processing" && rand.Float64() < 0.5 {
				_ = t.d.api(ctx, http.MethodPost, "/api/v1/orders/"+strconv.FormatInt(o.ID, 10)+"/fulfilment", nil, nil)
			}
		}
	}
}

// staff edit stock by hand in a store's admin now and then; the agent
// reverts the edit to the hub's figure.
func (t *traffic) staff(ctx context.Context) {
	tick := time.NewTicker(20 * time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		i := rand.N(len(t.d.stores))
		sku := t.d.skus[rand.N(len(t.d.skus))]
		qty, _ := t.d.stores[i].sim.Store.StockBySKU(sku)
		if t.d.stores[i].sim.Store.AdminEdit(sku, qty+7) == nil {
			t.stats[i].edits.Add(1)
		}
	}
}
