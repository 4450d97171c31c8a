package e2e_test

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stockwire/stockwire/shared/pgtest"
	"github.com/stockwire/stockwire/shared/systest"
	"github.com/stockwire/stockwire/shared/woosim"
)

// TestMirror_SnapshotWaitsForOrdersTakenBeforeStart: a store took orders
// before its agent first started, so neither the outbox nor the hub knows
// them. The hub's first snapshot does not count them; writing it at once
// would put the sold units back on sale. The agent holds the snapshot's
// write until its first order poll has found those orders and the hub has
// counted them, and the store never shows more than it has.
//
// The store's order listing is held shut until the hold is seen, so the
// snapshot certainly arrives before the poll can find the orders.
func TestMirror_SnapshotWaitsForOrdersTakenBeforeStart(t *testing.T) {
	const key, secret = "ck_0000000000000000000000000000000000000000", "cs_0000000000000000000000000000000000000000"
	hub := systest.StartHub(t, systest.HubOptions{DatabaseURL: pgtest.NewDB(t)})

	store := woosim.NewStore(woosim.Options{ConsumerKey: key, ConsumerSecret: secret, WebhookDelay: 200 * time.Millisecond})
	t.Cleanup(store.Close)
	gate := make(chan struct{})
	var openOnce sync.Once
	openGate := func() { openOnce.Do(func() { close(gate) }) }
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The order poll's listing (modified_after) waits for the gate.
		if r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/orders") && r.URL.Query().Has("modified_after") {
			select {
			case <-gate:
			case <-r.Context().Done():
				return
			}
		}
		store.ServeHTTP(w, r)
	}))
	t.Cleanup(front.Close)
	t.Cleanup(openGate) // runs first: no request stays parked at the gate
	store.SetHomeURL(front.URL)
	if err := store.Seed(woosim.SeedOptions{Products: 1, Stock: 10, SKUPrefix: "SKU-"}); err != nil {
		t.Fatal(err)
	}
	sku := store.SKUs()[0]
	hub.MustAPI(http.MethodPut, "/api/v1/skus/"+sku+"/locations/main", map[string]any{"on_hand": 10}, nil)
	for range 2 {
		if _, err := store.Checkout([]woosim.CheckoutLine{{SKU: sku, Quantity: 1}}); err != nil {
			t.Fatal(err)
		}
	}
	id, token := hub.CreateStore("store-0", front.URL, "mirror")
	agent := systest.StartAgent(t, systest.AgentOptions{Name: "store-0", Hub: hub.URL(), StoreURL: front.URL,
		Token: token, ConsumerKey: key, ConsumerSecret: secret, Args: []string{"--poll-interval", "1s"}})

	systest.WaitFor(t, 30*time.Second, "the agent holds the snapshot's write", func() error {
		if !strings.Contains(systest.Output(t, agent.Proc), "snapshot writes held") {
			return errors.New("no hold logged")
		}
		return nil
	})
	if q, _ := store.StockBySKU(sku); q != 8 {
		t.Fatalf("the store shows %d before its own orders are reported, want 8 (10 less the 2 it sold)", q)
	}

	openGate()
	systest.WaitFor(t, 30*time.Second, "the hub counts the store's orders and the store shows the hub's target", func() error {
		var hs skuStock
		if err := hub.API(http.MethodGet, "/api/v1/skus/"+sku, nil, &hs); err != nil {
			return err
		}
		target := hs.Targets[strconv.FormatInt(id, 10)]
		q, _ := store.StockBySKU(sku)
		if hs.Committed != 2 || target != 8 || q != 8 {
			return fmt.Errorf("hub committed %d, target %d; store shows %d", hs.Committed, target, q)
		}
		return nil
	})
}
