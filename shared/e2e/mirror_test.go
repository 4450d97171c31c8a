package e2e_test

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/stockwire/stockwire/shared/systest"
	"github.com/stockwire/stockwire/shared/wire"
	"github.com/stockwire/stockwire/shared/woosim"
)

// checkCommitted waits until the hub's committed figure of every SKU equals
// the checkouts the stores accepted, and every order is in the feed once.
func (s *system) checkCommitted(t *testing.T, accepted map[string]int64, timeout time.Duration) {
	t.Helper()
	systest.WaitFor(t, timeout, "hub committed equals accepted checkouts", func() error {
		for _, sku := range s.stores[0].sim.Store.SKUs() {
			hs, err := s.stock(sku)
			if err != nil {
				return err
			}
			if hs.Committed != accepted[sku] {
				return fmt.Errorf("%s: committed %d, accepted checkouts %d", sku, hs.Committed, accepted[sku])
			}
		}
		return nil
	})
	var total int64
	for _, n := range accepted {
		total += n
	}
	seen := map[string]bool{}
	after := ""
	for {
		var page struct {
			Orders []struct {
				StoreID    int64 `json:"store_id"`
				WooOrderID int64 `json:"woo_order_id"`
			} `json:"orders"`
			Next string `json:"next"`
		}
		s.hub.MustAPI(http.MethodGet, "/api/v1/orders?limit=500&after="+after, nil, &page)
		for _, o := range page.Orders {
			key := fmt.Sprintf("%d/%d", o.StoreID, o.WooOrderID)
			if seen[key] {
				t.Fatalf("order %s twice in the feed", key)
			}
			seen[key] = true
		}
		if len(page.Orders) == 0 || page.Next == "" {
			break
		}
		after = page.Next
	}
	if got := int64(len(seen)); got != total {
		t.Fatalf("feed holds %d orders, stores accepted %d checkouts", got, total)
	}
}

func TestMirror_ConcurrentCheckoutsConverge(t *testing.T) {
	s := newSystem(t, 3, 20, 40)
	systest.WaitFor(t, 30*time.Second, "stores show the hub's targets", s.converged)

	accepted := s.shop(120)
	s.checkCommitted(t, accepted, 30*time.Second)
	systest.WaitFor(t, 5*time.Second, "convergence after the last order", s.converged)
}

func TestMirror_SurvivesKillsCutsAndFaults(t *testing.T) {
	s := newSystem(t, 3, 10, 200)
	systest.WaitFor(t, 30*time.Second, "initial convergence", s.converged)

	s.stores[1].sim.Store.SetFaults(woosim.Faults{ErrorRate: 0.1, ErrorStatus: 500, DropWebhookRate: 0.3})
	s.stores[2].sim.Store.SetFaults(woosim.Faults{DropWebhookRate: 1})

	var mu sync.Mutex
	total := map[string]int64{}
	add := func(m map[string]int64) {
		mu.Lock()
		defer mu.Unlock()
		for k, v := range m {
			total[k] += v
		}
	}
	add(s.shop(40))

	// The hub dies mid-run and comes back.
	s.hub.Kill()
	add(s.shop(40))
	s.hub.Start()
	add(s.shop(40))

	// An agent dies mid-run and comes back.
	s.stores[0].agent.Kill()
	add(s.shop(40))
	s.stores[0].agent.Start()
	add(s.shop(40))

	for _, st := range s.stores {
		st.sim.Store.SetFaults(woosim.Faults{})
	}
	s.checkCommitted(t, total, 60*time.Second)
	systest.WaitFor(t, 15*time.Second, "convergence after failures", s.converged)
}

// A client that says hello and then never reads must not delay the others.
func TestMirror_SlowAgentDoesNotStallOthers(t *testing.T) {
	s := newSystem(t, 2, 5, 1000)
	systest.WaitFor(t, 30*time.Second, "initial convergence", s.converged)

	var out struct {
		Token string `json:"token"`
	}
	s.hub.MustAPI(http.MethodPost, "/api/v1/stores", map[string]any{"name": "stuck", "url": "http://127.0.0.1:1", "policy": "mirror"}, &out)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "ws://"+s.hub.Addr+wire.AgentPath, &websocket.DialOptions{
		HTTPHeader:   http.Header{"Authorization": {"Bearer " + out.Token}},
		Subprotocols: []string{wire.Subprotocol},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	hello, _ := wire.Encode(wire.TypeHello, "", wire.Hello{})
	if err := c.Write(ctx, websocket.MessageText, hello); err != nil {
		t.Fatal(err)
	}
	// Never read from c again.

	skus := s.stores[0].sim.Store.SKUs()
	for i := range 300 {
		s.hub.MustAPI(http.MethodPost, "/api/v1/adjustments", map[string]any{
			"sku": skus[i%len(skus)], "location": "main", "delta": 1,
			"reason": "receipt", "idempotency_key": fmt.Sprintf("slow-%d", i)}, nil)
	}
	systest.WaitFor(t, 5*time.Second, "the reading agents converge", s.converged)
}
