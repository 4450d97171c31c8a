package e2e_test

import (
	"fmt"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/stockwire/stockwire/shared/hubapi"
	"github.com/stockwire/stockwire/shared/pgtest"
	"github.com/stockwire/stockwire/shared/systest"
	"github.com/stockwire/stockwire/shared/woosim"
	"github.com/stockwire/stockwire/shared/woosim/woosimtest"
)

// TestMirror_AliasedSKUsSyncBothWays: the store names the ERP's SKU its own
// way. The hub's figure reaches the store's product, and the store's sale
// counts against the hub's SKU.
func TestMirror_AliasedSKUsSyncBothWays(t *testing.T) {
	const key, secret = "ck_0000000000000000000000000000000000000000", "cs_0000000000000000000000000000000000000000"
	hub := systest.StartHub(t, systest.HubOptions{DatabaseURL: pgtest.NewDB(t)})
	sim := woosimtest.Start(t, woosim.Options{ConsumerKey: key, ConsumerSecret: secret, WebhookDelay: 200 * time.Millisecond},
		woosim.SeedOptions{Products: 2, Stock: 5, SKUPrefix: "SHOP-"})
	skus := sim.Store.SKUs() // SHOP-000001, SHOP-000002
	hub.MustAPI(http.MethodPut, "/api/v1/skus/ERP-MUG/locations/main", map[string]any{"on_hand": 40}, nil)
	hub.MustAPI(http.MethodPut, "/api/v1/skus/"+skus[1]+"/locations/main", map[string]any{"on_hand": 7}, nil)
	id, token := hub.CreateStore("store-0", sim.URL, "mirror")
	var got hubapi.SKUAliasList
	hub.MustAPI(http.MethodPut, "/api/v1/stores/"+strconv.FormatInt(id, 10)+"/sku-aliases",
		hubapi.SKUAliasList{Aliases: []hubapi.SKUAlias{{StoreSKU: skus[0], SKU: "ERP-MUG"}}}, &got)
	if len(got.Aliases) != 1 || got.Aliases[0].SKU != "ERP-MUG" {
		t.Fatalf("aliases %+v", got)
	}
	systest.StartAgent(t, systest.AgentOptions{Name: "store-0", Hub: hub.URL(), StoreURL: sim.URL,
		Token: token, ConsumerKey: key, ConsumerSecret: secret, Args: []string{"--poll-interval", "1s"}})

	storeShows := func(sku string, want int64) func() error {
		return func() error {
			if q, _ := sim.Store.StockBySKU(sku); q != want {
				return fmt.Errorf("%s shows %d, want %d", sku, q, want)
			}
			return nil
		}
	}
	systest.WaitFor(t, 30*time.Second, "the aliased product at the hub's figure", storeShows(skus[0], 40))
	systest.WaitFor(t, 30*time.Second, "the other product at its own", storeShows(skus[1], 7))
	hub.MustAPI(http.MethodPut, "/api/v1/skus/ERP-MUG/locations/main", map[string]any{"on_hand": 35}, nil)
	systest.WaitFor(t, 30*time.Second, "a change of the hub's SKU in the store", storeShows(skus[0], 35))

	if _, err := sim.Store.Checkout([]woosim.CheckoutLine{{SKU: skus[0], Quantity: 3}}); err != nil {
		t.Fatal(err)
	}
	systest.WaitFor(t, 30*time.Second, "the store's sale counted against the hub's SKU", func() error {
		var st skuStock
		if err := hub.API(http.MethodGet, "/api/v1/skus/ERP-MUG", nil, &st); err != nil {
			return err
		}
		if st.Committed != 3 || st.Targets[strconv.FormatInt(id, 10)] != 32 {
			return fmt.Errorf("ERP-MUG committed %d, target %d", st.Committed, st.Targets[strconv.FormatInt(id, 10)])
		}
		return nil
	})
	systest.WaitFor(t, 30*time.Second, "the store at the hub's figure", storeShows(skus[0], 32))
	var unknown skuStock
	if err := hub.API(http.MethodGet, "/api/v1/skus/"+skus[0], nil, &unknown); hubapi.ErrorCode(err) != hubapi.CodeNotFound {
		t.Fatalf("the store's own name became a hub SKU: %+v, %v", unknown, err)
	}
}
