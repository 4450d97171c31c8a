package orders_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stockwire/stockwire/agent/orders"
	"github.com/stockwire/stockwire/agent/outbox"
	"github.com/stockwire/stockwire/agent/wooclient"
	"github.com/stockwire/stockwire/shared/woo"
)

// wholeHook counts the reads of whole orders (lists by id) and may leave
// one order out of their answers, as a store does for an order deleted
// between the list and the read.
type wholeHook struct {
	orders.Lister
	mu    sync.Mutex
	reads int
	whole map[int64]int
	gone  int64
}

func (h *wholeHook) ListOrders(ctx context.Context, q wooclient.OrderQuery) ([]woo.Order, wooclient.Page, error) {
	list, pg, err := h.Lister.ListOrders(ctx, q)
	if len(q.Include) == 0 || err != nil {
		return list, pg, err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.reads++
	kept := list[:0]
	for _, o := range list {
		if o.ID != h.gone {
			h.whole[o.ID]++
			kept = append(kept, o)
		}
	}
	return kept, pg, nil
}

// TestPoller_ReadsWholeOrderOnce: the poll lists orders cut to _fields;
// the orders it reports are read whole once, all of a page in one
// request (a store catching up after downtime or lost webhooks costs a
// request per hundred orders, not one per order), so each report carries
// the customer, addresses and prices the hub keeps.
func TestPoller_ReadsWholeOrderOnce(t *testing.T) {
	t.Parallel()
	sim, c := MustSim(t)
	logger := slog.New(slog.NewTextHandler(t.Output(), nil))
	box, err := outbox.Open(filepath.Join(t.TempDir(), "o.db"), outbox.Options{Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	defer box.Close()
	ids := checkout(t, sim, 3)
	hook := &wholeHook{Lister: c, whole: map[int64]int{}, gone: ids[2]}
	p := MustPoller(t, hook, box, logger, nil)
	p.Lookback = time.Minute
	for range 2 {
		if _, err := p.PollOnce(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	if hook.reads != 1 {
		t.Errorf("%d reads of whole orders, want 1 for the three", hook.reads)
	}
	evs, err := box.After(0, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 3 {
		t.Fatalf("%d reports, want 3", len(evs))
	}
	for _, ev := range evs {
		rep := ev.Order
		if n := hook.whole[rep.WooOrderID]; n != 1 && rep.WooOrderID != hook.gone {
			t.Errorf("order %d read whole %d times, want once", rep.WooOrderID, n)
		}
		if rep.WooOrderID == hook.gone {
			if len(rep.Raw) != 0 || len(rep.Lines) != 2 {
				t.Errorf("gone order %d: report %+v, want the listed state without JSON", rep.WooOrderID, rep)
			}
			continue
		}
		var o woo.Order
		if err := json.Unmarshal(rep.Raw, &o); err != nil {
			t.Fatalf("order %d raw %q: %v", rep.WooOrderID, rep.Raw, err)
		}
		want, _ := sim.Store.Order(rep.WooOrderID)
		if o.Billing == nil || o.Billing.Email != want.Billing.Email || o.Billing.Email == "" || o.Shipping.Address1 == "" ||
			o.PaymentMethod == "" || o.Total != want.Total || len(o.ShippingLines) != 1 || len(o.LineItems) != 2 || o.LineItems[0].Subtotal == "" {
			t.Errorf("order %d raw lacks fields: %s", rep.WooOrderID, rep.Raw)
		}
		for _, k := range []string{"customer_ip_address", "customer_user_agent", "_links", "order_key"} {
			var m map[string]json.RawMessage
			_ = json.Unmarshal(rep.Raw, &m)
			if _, ok := m[k]; ok {
				t.Errorf("order %d raw carries %s", rep.WooOrderID, k)
			}
		}
	}
}
