package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/stockwire/stockwire/shared/woosim"
)

// traffic plays shoppers, store staff and the ERP.
type traffic struct {
	d     *demo
	stats []storeStats

	mu     sync.Mutex
	recent [][]int64 // per store: recent order ids, for cancellations; guarded by mu
}

type storeStats struct {
	sold, refused, cancelled, edits atomic.Int64
}

func newTraffic(d *demo) *traffic {
	return &traffic{d: d, stats: make([]storeStats, len(d.stores)), recent: make([][]int64, len(d.stores))}
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
		sku := t.d.skus[rand.N(len(t.d.skus))]
		id, err := st.sim.Store.Checkout([]woosim.CheckoutLine{{SKU: sku, Quantity: 1 + rand.Int64N(2)}})
		if errors.Is(err, woosim.ErrOutOfStock) {
			t.stats[i].refused.Add(1)
			continue
		} else if err != nil {
			continue
		}
		t.stats[i].sold.Add(1)
		t.mu.Lock()
		t.recent[i] = append(t.recent[i], id)
		if len(t.recent[i]) > 50 {
			t.recent[i] = t.recent[i][1:]
		}
		t.mu.Unlock()
	}
}

func (t *traffic) cancelOne(i int) {
	t.mu.Lock()
	n := len(t.recent[i])
	if n == 0 {
		t.mu.Unlock()
		return
	}
	k := rand.N(n)
	id := t.recent[i][k]
	t.recent[i] = append(t.recent[i][:k], t.recent[i][k+1:]...)
	t.mu.Unlock()
	if err := t.d.stores[i].sim.Store.SetOrderStatus(id, "cancelled"); err == nil {
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

// report prints one line per store every two seconds until ctx ends.
func (d *demo) report(ctx context.Context, t *traffic) {
	tick := time.NewTicker(2 * time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		var list struct {
			Stores []struct {
				ID    int64 `json:"id"`
				Agent struct {
					Connected   bool  `json:"connected"`
					SeqLag      int64 `json:"seq_lag"`
					OutboxDepth int   `json:"outbox_depth"`
				} `json:"agent"`
			} `json:"stores"`
		}
		if err := d.api(ctx, http.MethodGet, "/api/v1/stores", nil, &list); err != nil {
			if ctx.Err() == nil {
				fmt.Println("hub:", err)
			}
			continue
		}
		targets := map[string]map[string]int64{}
		for _, sku := range d.skus {
			var s struct {
				Targets map[string]int64 `json:"targets"`
			}
			if d.api(ctx, http.MethodGet, "/api/v1/skus/"+sku, nil, &s) == nil {
				targets[sku] = s.Targets
			}
		}
		var b strings.Builder
		fmt.Fprintf(&b, "\n%s\n", time.Now().Format("15:04:05"))
		for i, st := range d.stores {
			link := "down"
			var lag int64
			var depth int
			for _, s := range list.Stores {
				if s.ID == st.id {
					if s.Agent.Connected {
						link = "up"
					}
					lag, depth = s.Agent.SeqLag, s.Agent.OutboxDepth
				}
			}
			inSync := 0
			for _, sku := range d.skus {
				got, _ := st.sim.Store.StockBySKU(sku)
				if want, ok := targets[sku][strconv.FormatInt(st.id, 10)]; ok && got == want {
					inSync++
				}
			}
			s := &t.stats[i]
			fmt.Fprintf(&b, "  %-10s %-8s link %-4s lag %-3d outbox %-3d sold %-5d refused %-4d cancelled %-4d hand-edits %-3d in sync %d/%d SKUs\n",
				st.name, st.policy, link, lag, depth, s.sold.Load(), s.refused.Load(), s.cancelled.Load(), s.edits.Load(), inSync, len(d.skus))
		}
		fmt.Print(b.String())
	}
}
