package stock

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/stockwire/stockwire/agent/wooclient"
	"github.com/stockwire/stockwire/shared/backoff"
	"github.com/stockwire/stockwire/shared/woo"
)

// ReclaimMetaKey is the product meta key recording the last reclaim
// released from that product, as "<reclaim id>:<units released>". Written
// in the same request as the release, it makes a release happen once per
// reclaim across restarts, as stockwire_seq does for changes.
const ReclaimMetaKey = "stockwire_reclaim"

// Release takes up to units of sku out of the store for the hub's reclaim
// id and returns how many it took. It errs on the side of under-selling:
// it lowers stock by at most what the store shows, relatively
// (inventory_delta), so a checkout racing the release keeps its unit; if
// the store answers with a negative figure (a checkout landed between the
// read and the write), the overshoot is put back and not reported. A
// repeated id is answered from the product's meta without releasing again;
// an id older than the product's last reclaim is answered with 0. The
// release counts as the store's own sale until the hub has counted it, so
// the safety net does not undo it.
func (w *Writer) Release(ctx context.Context, id int64, sku string, units int64) (int64, error) {
	ctx = wooclient.Urgent(ctx) // units someone else is waiting for
	if units <= 0 {
		return 0, nil
	}
	s, err := w.acquire(ctx, sku)
	if err != nil {
		return 0, err
	}
	defer w.unlockSKU(s)

	p, err := w.readOne(ctx, sku)
	if err != nil {
		return 0, err
	}
	if p.ID <= 0 || p.StockQuantity == nil || string(p.ManageStock) != "true" {
		w.log.Warn("reclaim of a sku the store cannot release", "sku", sku, "reclaim_id", id)
		return 0, nil
	}
	released, _, err := w.releaseOnce(ctx, p, id, units)
	if err != nil {
		return 0, err
	}
	// The store's own release, until the hub counts it (it lowers the
	// target without a delta to write, as for a sale).
	w.mu.Lock()
	s.sold += released
	s.ownAt = stampOf(w.now())
	w.mu.Unlock()
	w.metrics.released.Add(float64(released))
	return released, nil
}

// releaseOnce runs the release of p for reclaim id and returns what was
// released and the stock left.
func (w *Writer) releaseOnce(ctx context.Context, p woo.Product, id, units int64) (released, after int64, err error) {
	q := *p.StockQuantity
	if last, n, ok := metaReclaim(p); ok && last >= id {
		if last > id {
			return 0, q, nil // superseded; what it released is not known
		}
		if q >= 0 {
			return n, q, nil // done before; the answer was lost
		}
		// Released, then stopped before putting the overshoot back.
		return w.putBack(ctx, p, id, n, -q)
	}
	n := min(units, max(q, 0))
	if n == 0 {
		return 0, q, nil
	}
	after, err = w.writeRelease(ctx, p, id, -n, n)
	if err != nil {
		return 0, 0, err
	}
	if after < 0 {
		return w.putBack(ctx, p, id, n, -after)
	}
	return n, after, nil
}

// putBack adds over units back to p after a release of n overshot (the
// store had sold some of them meanwhile) and records n − over as released.
func (w *Writer) putBack(ctx context.Context, p woo.Product, id, n, over int64) (int64, int64, error) {
	w.log.Info("release overshot a concurrent sale; putting units back", "sku", p.SKU, "reclaim_id", id, "units", over)
	after, err := w.writeRelease(ctx, p, id, over, n-over)
	if err != nil {
		return 0, 0, err
	}
	return n - over, after, nil
}

// writeRelease adds delta to p's stock and records the reclaim, and returns
// the stock after. A write whose outcome is unknown is read back: the
// reclaim meta tells whether it landed.
func (w *Writer) writeRelease(ctx context.Context, p woo.Product, id, delta, released int64) (int64, error) {
	meta := strconv.FormatInt(id, 10) + ":" + strconv.FormatInt(released, 10)
	up := wooclient.ProductUpdate{ID: p.ID, InventoryDelta: &delta,
		MetaData: []woo.MetaData{{Key: ReclaimMetaKey, Value: json.RawMessage(strconv.Quote(meta))}}}
	retry := backoff.Policy{Min: 100 * time.Millisecond, Max: 5 * time.Second}
	for attempt := 0; ; attempt++ {
		var res []wooclient.BatchResult
		var err error
		if p.Type == "variation" {
			res, err = w.cfg.API.BatchUpdateVariations(ctx, p.ParentID, []wooclient.ProductUpdate{up})
		} else {
			res, err = w.cfg.API.BatchUpdateProducts(ctx, []wooclient.ProductUpdate{up})
		}
		switch {
		case err == nil && len(res) == 1 && res[0].Err == nil && res[0].Product.StockQuantity != nil:
			return *res[0].Product.StockQuantity, nil
		case err == nil:
			return 0, fmt.Errorf("release %s: store refused the write", p.SKU)
		case errors.Is(err, wooclient.ErrOutcomeUnknown):
			got, rerr := w.readOne(ctx, p.SKU)
			if rerr == nil && got.StockQuantity != nil {
				if last, n, ok := metaReclaim(got); ok && last == id && n == released {
					return *got.StockQuantity, nil
				}
			}
		default:
			return 0, fmt.Errorf("release %s: %w", p.SKU, err)
		}
		if err := backoff.Sleep(ctx, retry.Delay(attempt)); err != nil {
			return 0, err
		}
	}
}

// readOne reads one SKU's product (ID -1: more than one; 0: none).
func (w *Writer) readOne(ctx context.Context, sku string) (woo.Product, error) {
	reads, err := w.readSKUs(ctx, []string{sku})
	if err != nil {
		return woo.Product{}, err
	}
	return reads[sku], nil
}

// acquire marks sku in flight once no write holds it, so that the writer's
// rounds and the safety net leave it alone.
func (w *Writer) acquire(ctx context.Context, sku string) (*skuState, error) {
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	for {
		w.mu.Lock()
		s := w.state(sku)
		if !s.inflight {
			s.inflight = true
			w.mu.Unlock()
			return s, nil
		}
		w.mu.Unlock()
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-t.C:
		}
	}
}

// unlockSKU ends what acquire started and lets pending writes go.
func (w *Writer) unlockSKU(s *skuState) {
	w.mu.Lock()
	s.inflight = false
	w.mu.Unlock()
	w.signal()
}

// metaReclaim parses p's stockwire_reclaim meta.
func metaReclaim(p woo.Product) (id, released int64, ok bool) {
	for _, m := range p.MetaData {
		if m.Key != ReclaimMetaKey {
			continue
		}
		a, b, found := strings.Cut(strings.Trim(string(m.Value), `"`), ":")
		if !found {
			return 0, 0, false
		}
		id, err1 := strconv.ParseInt(a, 10, 64)
		released, err2 := strconv.ParseInt(b, 10, 64)
		return id, released, err1 == nil && err2 == nil
	}
	return 0, 0, false
}
