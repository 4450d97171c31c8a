package e2e_test

import (
	"bytes"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stockwire/stockwire/shared/pgtest"
	"github.com/stockwire/stockwire/shared/systest"
	"github.com/stockwire/stockwire/shared/woosim"
	"github.com/stockwire/stockwire/shared/woosim/woosimtest"
)

// TestFirstSync_LargeStoreResumesAfterKill is issue 14's path on a store
// of 6,000 SKUs (`go run ./shared/cmd/bigcatalog` runs it on 100,000): the
// hub imports a count of each (one CSV), sends the new agent its snapshot
// in chunks (5,000 SKUs each), and the agent writes it 100 SKUs per
// request in rounds of 1,000 while its catalog scan runs. The agent is
// SIGKILLed a third of the way through the writes; restarted on its data
// dir it writes only what the store does not have yet (the products'
// stockwire_seq say what it has), so the restart uses fewer writes than a
// fresh start and no SKU is written twice, and the store ends showing the
// hub's figure for every SKU.
func TestFirstSync_LargeStoreResumesAfterKill(t *testing.T) {
	const n = 6_000
	const key, secret = "ck_0000000000000000000000000000000000000000", "cs_0000000000000000000000000000000000000000"
	hub := systest.StartHub(t, systest.HubOptions{DatabaseURL: pgtest.NewDB(t)})
	sim := woosimtest.Start(t, woosim.Options{ConsumerKey: key, ConsumerSecret: secret, WebhookDelay: 200 * time.Millisecond},
		woosim.SeedOptions{Products: n, Stock: 5, SKUPrefix: "SKU"})
	var writes, scans atomic.Int64 // batch writes; catalog scan pages
	sim.Store.SetOnRequest(func(r *http.Request) {
		switch {
		case r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/batch"):
			writes.Add(1)
		case r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/products") && !r.URL.Query().Has("sku") && !r.URL.Query().Has("modified_after"):
			scans.Add(1)
		}
	})

	// Every count differs from the store's 5, so every SKU takes a write.
	skus := sim.Store.SKUs()
	want := make(map[string]int64, len(skus))
	var csv bytes.Buffer
	for i, sku := range skus {
		want[sku] = int64(6 + i%97)
		fmt.Fprintf(&csv, "%s,main,%d\n", sku, want[sku])
	}
	if err := hub.Client().Do(t.Context(), http.MethodPost, "/api/v1/stock/import", "text/csv", &csv, nil); err != nil {
		t.Fatal(err)
	}
	off := func() int {
		k := 0
		for sku, q := range want {
			if got, _ := sim.Store.StockBySKU(sku); got != q {
				k++
			}
		}
		return k
	}

	_, token := hub.CreateStore("big", sim.URL, "mirror")
	start := time.Now()
	agent := systest.StartAgent(t, systest.AgentOptions{Name: "big", Hub: hub.URL(), StoreURL: sim.URL,
		Token: token, ConsumerKey: key, ConsumerSecret: secret, Args: []string{"--poll-interval", "1s", "--rate-limit", "200", "--webhooks=false"}})
	fresh := int64(n / 100) // a fresh start's writes: every SKU once, 100 per request
	systest.WaitFor(t, 120*time.Second, "a third of the writes", func() error {
		if w := writes.Load(); w < fresh/3 {
			return fmt.Errorf("%d writes", w)
		}
		return nil
	})
	agent.Kill()
	before, left := writes.Load(), off()
	t.Logf("killed after %s: %d writes, %d catalog pages; %d of %d SKUs left to write", time.Since(start).Round(time.Millisecond),
		before, scans.Load(), left, n)
	if left == 0 || left == n {
		t.Fatalf("%d SKUs left to write when killed: not halfway through", left)
	}
	if !strings.Contains(systest.Output(t, agent.Proc), "chunks=2") {
		t.Error("the snapshot did not come in 2 chunks")
	}

	writes.Store(0)
	start = time.Now()
	agent.Start()
	systest.WaitFor(t, 180*time.Second, "the store shows every hub figure", func() error {
		if k := off(); k > 0 {
			return fmt.Errorf("%d SKUs off", k)
		}
		return nil
	})
	after := writes.Load()
	t.Logf("restart: every figure in the store after %s, %d writes (a fresh start: %d)", time.Since(start).Round(time.Millisecond), after, fresh)
	// Each request writes up to 100 SKUs; a round's last one may carry fewer.
	if limit := (int64(left)+99)/100 + fresh/20; after > limit {
		t.Errorf("the restart used %d writes for %d SKUs left, want at most %d: it wrote again what the store had", after, left, limit)
	}
	if after >= fresh {
		t.Errorf("the restart used %d writes, a fresh start %d: it started over", after, fresh)
	}
}
