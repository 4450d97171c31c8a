package e2e_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stockwire/stockwire/shared/hubapi"
	"github.com/stockwire/stockwire/shared/pgtest"
	"github.com/stockwire/stockwire/shared/systest"
	"github.com/stockwire/stockwire/shared/woo"
	"github.com/stockwire/stockwire/shared/woosim"
)

// TestERP_AnswersReachTheStoreOnceAcrossAgentKill: the ERP's reference, a
// shipment and a cancellation reach the store's orders exactly once,
// although the agent is killed with SIGKILL after the store applied a
// command and before the agent heard back, so the hub sends it again.
func TestERP_AnswersReachTheStoreOnceAcrossAgentKill(t *testing.T) {
	const key, secret = "ck_0000000000000000000000000000000000000000", "cs_0000000000000000000000000000000000000000"
	hub := systest.StartHub(t, systest.HubOptions{DatabaseURL: pgtest.NewDB(t)})
	store := woosim.NewStore(woosim.Options{ConsumerKey: key, ConsumerSecret: secret, WebhookDelay: 200 * time.Millisecond})
	t.Cleanup(store.Close)

	// The store applies order updates, but the answer to the first one is
	// held back until the agent that sent it is dead.
	var holdOnce sync.Once
	held := make(chan struct{})
	release := make(chan struct{})
	var releaseOnce sync.Once
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hold := false
		if r.Method == http.MethodPut && strings.Contains(r.URL.Path, "/orders/") {
			holdOnce.Do(func() { hold = true })
		}
		if !hold {
			store.ServeHTTP(w, r)
			return
		}
		rec := httptest.NewRecorder()
		store.ServeHTTP(rec, r) // applied in the store
		close(held)
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(front.Close)
	t.Cleanup(func() { releaseOnce.Do(func() { close(release) }) })
	store.SetHomeURL(front.URL)
	if err := store.Seed(woosim.SeedOptions{Products: 1, Stock: 10, SKUPrefix: "SKU-"}); err != nil {
		t.Fatal(err)
	}
	sku := store.SKUs()[0]
	hub.MustAPI(http.MethodPut, "/api/v1/skus/"+sku+"/locations/main", map[string]any{"on_hand": 10}, nil)
	_, token := hub.CreateStore("store-0", front.URL, "mirror")
	agent := systest.StartAgent(t, systest.AgentOptions{Name: "store-0", Hub: hub.URL(), StoreURL: front.URL,
		Token: token, ConsumerKey: key, ConsumerSecret: secret, Args: []string{"--poll-interval", "1s"}})

	shipped, err := store.Checkout([]woosim.CheckoutLine{{SKU: sku, Quantity: 2}})
	if err != nil {
		t.Fatal(err)
	}
	cancelled, err := store.Checkout([]woosim.CheckoutLine{{SKU: sku, Quantity: 3}})
	if err != nil {
		t.Fatal(err)
	}
	hubID := map[int64]int64{} // WooCommerce id → hub id
	systest.WaitFor(t, 30*time.Second, "both orders at the hub", func() error {
		var list hubapi.OrderList
		if err := hub.API(http.MethodGet, "/api/v1/orders", nil, &list); err != nil {
			return err
		}
		for _, o := range list.Orders {
			hubID[o.WooOrderID] = o.ID
		}
		if hubID[shipped] == 0 || hubID[cancelled] == 0 {
			return fmt.Errorf("orders at the hub: %v", hubID)
		}
		return nil
	})
	path := func(woo int64, what string) string {
		return "/api/v1/orders/" + strconv.FormatInt(hubID[woo], 10) + "/" + what
	}

	hub.MustAPI(http.MethodPost, path(shipped, "erp-reference"), hubapi.ERPReference{System: "netsuite", Reference: "SO-1234"}, nil)
	select {
	case <-held:
	case <-time.After(30 * time.Second):
		t.Fatal("the agent never applied the ERP reference")
	}
	agent.Kill()
	releaseOnce.Do(func() { close(release) })
	hub.MustAPI(http.MethodPost, path(shipped, "fulfilment"), hubapi.ShipmentRequest{Carrier: "DHL", TrackingNumber: "JD0146",
		TrackingURL: "https://www.dhl.com/track?id=JD0146"}, nil)
	hub.MustAPI(http.MethodPost, path(cancelled, "cancellation"), hubapi.CancellationRequest{Reason: "customer asked"}, nil)
	agent.Start()

	for _, id := range []int64{shipped, cancelled} {
		systest.WaitFor(t, 30*time.Second, "the commands applied", func() error {
			var list hubapi.OrderCommandList
			if err := hub.API(http.MethodGet, path(id, "commands"), nil, &list); err != nil {
				return err
			}
			for _, c := range list.Commands {
				if c.State != "applied" {
					return fmt.Errorf("command %d (%s) is %s %s", c.ID, c.Kind, c.State, c.Error)
				}
			}
			return nil
		})
	}

	o, _ := store.Order(shipped)
	if o.Status != "completed" {
		t.Fatalf("shipped order is %s, want completed", o.Status)
	}
	if v, _ := o.Meta("_stockwire_erp_reference"); string(v) != `"SO-1234"` {
		t.Fatalf("_stockwire_erp_reference=%s", v)
	}
	raw, _ := o.Meta("_wc_shipment_tracking_items")
	var items []map[string]any
	if err := json.Unmarshal(raw, &items); err != nil || len(items) != 1 || items[0]["tracking_number"] != "JD0146" || items[0]["custom_tracking_provider"] != "DHL" {
		t.Fatalf("_wc_shipment_tracking_items=%s (%v), want one DHL entry", raw, err)
	}
	notes, _ := store.OrderNotes(shipped)
	if n := countNotes(notes, "SO-1234", false); n != 1 {
		t.Fatalf("%d private notes with the ERP reference, want 1: %+v", n, notes)
	}
	if n := countNotes(notes, "JD0146", true); n != 1 {
		t.Fatalf("%d customer notes with the tracking, want 1: %+v", n, notes)
	}

	c, _ := store.Order(cancelled)
	if c.Status != "cancelled" {
		t.Fatalf("cancelled order is %s", c.Status)
	}
	notes, _ = store.OrderNotes(cancelled)
	if n := countNotes(notes, "customer asked", false); n != 1 {
		t.Fatalf("%d cancellation notes, want 1: %+v", n, notes)
	}
	// WooCommerce put 3 back; the hub released them once and shipped 2.
	systest.WaitFor(t, 30*time.Second, "the hub's stock after the shipment and the cancellation", func() error {
		var st skuStock
		if err := hub.API(http.MethodGet, "/api/v1/skus/"+sku, nil, &st); err != nil {
			return err
		}
		if q, _ := store.StockBySKU(sku); st.OnHand != 8 || st.Committed != 0 || q != 8 {
			return fmt.Errorf("hub on hand %d committed %d; store shows %d", st.OnHand, st.Committed, q)
		}
		return nil
	})
	if strings.Count(systest.Output(t, agent.Proc), "order command applied") == 0 {
		t.Fatal("the restarted agent logged no applied command")
	}
}

// countNotes counts the notes of the kind (customer or private) holding s.
func countNotes(notes []woo.OrderNote, s string, customer bool) int {
	n := 0
	for _, note := range notes {
		if note.CustomerNote == customer && strings.Contains(note.Note, s) {
			n++
		}
	}
	return n
}
