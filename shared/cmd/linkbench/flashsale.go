package main

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/stockwire/stockwire/shared/launch"
	"github.com/stockwire/stockwire/shared/woosim"
)

// FlashSaleResult is one flash sale under the mirror policy.
type FlashSaleResult struct {
	// Window is how the attempts were spread; zero released them at once.
	Window                  time.Duration
	Units, Stores, Attempts int
	Accepted                int
	// Oversold is Accepted − Units: units sold that did not exist.
	Oversold int
	// Converge is the time from the last checkout until the hub has
	// counted every accepted order and every store shows the hub's target.
	Converge time.Duration
	// Committed and Target are the hub's figures once converged.
	Committed, Target int64
	Phase             Phase
}

// flashSale starts cfg.FlashStores stores with agents and runs a burst
// sale, then (with a FlashWindow) a spread one, each on its own SKU.
func (b *bench) flashSale(ctx context.Context) ([]FlashSaleResult, error) {
	windows := []time.Duration{0}
	if b.cfg.FlashWindow > 0 {
		windows = append(windows, b.cfg.FlashWindow)
	}
	b.logf("flashsale: starting hub")
	h, err := b.startHub(ctx, "flashsale")
	if err != nil {
		return nil, err
	}
	defer h.stop()
	f, err := b.startFleet(ctx, h, b.cfg.FlashStores, false,
		woosim.SeedOptions{Products: len(windows), Stock: b.cfg.FlashUnits, SKUPrefix: "FLASH"}, int64(b.cfg.FlashUnits), nil)
	if err != nil {
		return nil, err
	}
	defer f.close()

	skus := f.shops[0].store.SKUs()
	var out []FlashSaleResult
	for i, window := range windows {
		b.logf("flashsale: %d attempts on %s, spread over %s", b.cfg.FlashAttempts, skus[i], window)
		res, err := b.sale(ctx, f, skus[i], window)
		if err != nil {
			return out, err
		}
		out = append(out, res)
	}
	return out, nil
}

// sale runs one flash sale of sku and waits for convergence.
func (b *bench) sale(ctx context.Context, f *fleet, sku string, window time.Duration) (FlashSaleResult, error) {
	res := FlashSaleResult{Window: window, Units: b.cfg.FlashUnits, Stores: len(f.shops), Attempts: b.cfg.FlashAttempts}
	name := "flashsale-burst"
	if window > 0 {
		name = "flashsale-spread"
	}
	err := b.measure(ctx, f.hub, name, f.agentPIDs(), &res.Phase, func() error {
		var accepted atomic.Int64
		var failed atomic.Value // first unexpected checkout error
		release := make(chan struct{})
		var wg sync.WaitGroup
		for a := range res.Attempts {
			s := f.shops[a%len(f.shops)]
			offset := window * time.Duration(a) / time.Duration(res.Attempts)
			wg.Go(func() {
				<-release
				if offset > 0 {
					time.Sleep(offset) // pacing the arrivals, not synchronisation
				}
				_, err := s.store.Checkout([]woosim.CheckoutLine{{SKU: sku, Quantity: 1}})
				switch {
				case err == nil:
					accepted.Add(1)
				case !errors.Is(err, woosim.ErrOutOfStock):
					failed.CompareAndSwap(nil, err)
				}
			})
		}
		close(release)
		wg.Wait()
		lastCheckout := time.Now()
		if err, _ := failed.Load().(error); err != nil {
			return fmt.Errorf("checkout %s: %w", sku, err)
		}
		res.Accepted = int(accepted.Load())
		res.Oversold = res.Accepted - res.Units

		err := launch.PollEvery(ctx, time.Minute, 10*time.Millisecond, "stores converged after the sale", func() error {
			stock, err := f.hub.stock(ctx)
			if err != nil {
				return err
			}
			for _, sk := range stock {
				if sk.SKU == sku && sk.Committed != int64(res.Accepted) {
					return fmt.Errorf("hub counted %d of %d orders", sk.Committed, res.Accepted)
				}
			}
			return f.convergedTo(stock)
		})
		res.Converge = time.Since(lastCheckout)
		if err != nil {
			return err
		}
		stock, err := f.hub.stock(ctx)
		if err != nil {
			return err
		}
		for _, sk := range stock {
			if sk.SKU == sku {
				res.Committed = sk.Committed
				res.Target, _ = sk.target(f.shops[0].id)
			}
		}
		return nil
	})
	return res, err
}
