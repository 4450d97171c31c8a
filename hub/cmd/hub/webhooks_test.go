package main

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/stockwire/stockwire/shared/hubapi"
	"github.com/stockwire/stockwire/shared/pgtest"
	"github.com/stockwire/stockwire/shared/systest"
)

// TestBinary_WebhookRedeliveredAfterSIGKILL: a hub binary SIGKILLed while
// its webhook request is in flight records nothing; another hub on the
// same database delivers the event once the first one's lease has run out,
// with the same webhook-id and a valid signature.
func TestBinary_WebhookRedeliveredAfterSIGKILL(t *testing.T) {
	t.Parallel()
	dsn := pgtest.NewDB(t)
	var mu sync.Mutex
	var ids []string
	var secret string
	inFlight := make(chan struct{})
	erp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		ids = append(ids, r.Header.Get("webhook-id"))
		first, key := len(ids) == 1, secret
		mu.Unlock()
		if wh, err := standardwebhooks.NewWebhook(key); err != nil || wh.Verify(body, r.Header) != nil {
			t.Errorf("delivery %s does not verify", r.Header.Get("webhook-id"))
		}
		if first {
			close(inFlight)
			<-r.Context().Done() // the hub dies before it gets an answer
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer erp.Close()

	start := func(name string) (*hubapi.Client, func()) {
		addr := systest.FreeAddr(t)
		p := systest.Start(t, "hub", []string{"serve"}, []string{
			"DATABASE_URL=" + dsn, "STOCKWIRE_LISTEN=" + addr, "STOCKWIRE_ADMIN_TOKEN=" + testAdminToken,
			"STOCKWIRE_LOG_FORMAT=text", "STOCKWIRE_REPLICA_NAME=" + name, "STOCKWIRE_DATA_DIR=" + t.TempDir(),
			"STOCKWIRE_WEBHOOK_TIMEOUT=1s", // lease: 3 s
		})
		systest.WaitHTTP(t, p, "http://"+addr+"/readyz", 30*time.Second)
		return &hubapi.Client{BaseURL: "http://" + addr, AdminToken: testAdminToken}, func() { p.Kill() }
	}
	a, killA := start("hub-a")
	var created hubapi.WebhookCreated
	if err := a.DoJSON(t.Context(), "POST", "/api/v1/webhooks", hubapi.NewWebhookRequest{URL: erp.URL, Events: []string{hubapi.EventStockChanged}}, &created); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	secret = created.Secret
	mu.Unlock()
	onHand := int64(7)
	if err := a.DoJSON(t.Context(), "PUT", "/api/v1/skus/MUG/locations/main", hubapi.CountRequest{OnHand: &onHand}, nil); err != nil {
		t.Fatal(err)
	}
	select {
	case <-inFlight:
	case <-time.After(30 * time.Second):
		t.Fatal("no delivery reached the endpoint")
	}
	killA()

	b, _ := start("hub-b")
	systest.WaitFor(t, 30*time.Second, "the redelivery", func() error {
		var list hubapi.WebhookDeliveryList
		if err := b.DoJSON(t.Context(), "GET", "/api/v1/webhook-deliveries?state=delivered", nil, &list); err != nil {
			return err
		}
		if len(list.Deliveries) != 1 {
			return fmt.Errorf("%d delivered", len(list.Deliveries))
		}
		if got := list.Deliveries[0].Attempts; got != 2 {
			t.Fatalf("attempts %d, want 2 (one killed, one delivered)", got)
		}
		return nil
	})
	mu.Lock()
	defer mu.Unlock()
	if len(ids) != 2 || ids[0] != ids[1] || !strings.HasPrefix(ids[0], "msg_") {
		t.Fatalf("webhook-ids %v, want the same twice", ids)
	}
}
