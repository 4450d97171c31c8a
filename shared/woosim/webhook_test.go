package woosim_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stockwire/stockwire/shared/systest"
	"github.com/stockwire/stockwire/shared/woosim"
)

type delivery struct {
	header http.Header
	body   []byte
}

type receiver struct {
	srv    *httptest.Server
	status atomic.Int32
	mu     sync.Mutex
	got    []delivery
}

func newReceiver(t *testing.T) *receiver {
	rc := &receiver{}
	rc.status.Store(200)
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		rc.got = append(rc.got, delivery{r.Header.Clone(), b})
		rc.mu.Unlock()
		w.WriteHeader(int(rc.status.Load()))
	}))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) all() []delivery {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]delivery(nil), rc.got...)
}

func (rc *receiver) count() int { return len(rc.all()) }

func sign(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

func TestWebhookVectorFromRealStore(t *testing.T) {
	body := systest.Fixture(t, "webhook-order-created.raw")
	sig := systest.Fixture(t, "webhook-order-created.sig")
	if got := sign("sample-webhook-secret", body); got != strings.TrimSpace(string(sig)) {
		t.Fatalf("signature %s, real store %s", got, sig)
	}
}

func TestWebhookDelivery(t *testing.T) {
	srv := start(t, woosim.Options{WebhookDelay: time.Hour})
	if err := srv.Store.Seed(woosim.SeedOptions{Products: 2, Stock: 10}); err != nil {
		t.Fatal(err)
	}
	rc := newReceiver(t)
	c := newClient(t, srv)
	wh := c.must(201, "POST", "/webhooks", nil, map[string]any{"name": "p", "topic": "product.updated",
		"delivery_url": rc.srv.URL + "/hook", "secret": "s3cret", "status": "paused"}).obj(t)
	if wh["status"] != "active" || wh["secret"] != nil {
		t.Fatalf("webhook %v", wh)
	}
	// The ping arrived synchronously: unsigned, form-encoded.
	got := rc.all()
	if len(got) != 1 || string(got[0].body) != "webhook_id="+jsonNum(wh["id"]) || got[0].header.Get("X-WC-Webhook-Signature") != "" ||
		got[0].header.Get("User-Agent") != "WooCommerce/11.0.1 Hookshot (WordPress/7.0.4)" {
		t.Fatalf("ping %+v", got)
	}
	// Three changes of one product coalesce into one delivery carrying the final state.
	pid, _ := srv.Store.ProductIDBySKU("SKU-000001")
	for _, q := range []int{9, 8, 7} {
		c.must(200, "PUT", p("/products/%d", pid), nil, map[string]any{"stock_quantity": q})
	}
	if n := srv.Store.PendingWebhooks(); n != 1 {
		t.Fatalf("pending %d, want 1", n)
	}
	srv.Store.FlushWebhooks()
	got = rc.all()
	if len(got) != 2 {
		t.Fatalf("%d requests", len(got))
	}
	d := got[1]
	for _, h := range []string{"X-WC-Webhook-Source", "X-WC-Webhook-Topic", "X-WC-Webhook-Resource", "X-WC-Webhook-Event",
		"X-WC-Webhook-Signature", "X-WC-Webhook-ID", "X-WC-Webhook-Delivery-ID"} {
		if d.header.Get(h) == "" {
			t.Errorf("missing %s", h)
		}
	}
	if d.header.Get("X-WC-Webhook-Signature") != sign("s3cret", d.body) {
		t.Fatal("bad signature")
	}
	if d.header.Get("X-WC-Webhook-Source") != srv.URL+"/" || d.header.Get("X-WC-Webhook-Topic") != "product.updated" {
		t.Fatalf("headers %v", d.header)
	}
	if !strings.Contains(string(d.body), `:\/\/`) {
		t.Error("body does not escape slashes as wp_json_encode does")
	}
	var prod map[string]any
	if err := json.Unmarshal(d.body, &prod); err != nil || prod["stock_quantity"].(float64) != 7 {
		t.Fatalf("payload %s", d.body)
	}

	// Asynchronous with a short delay: arrives without a flush.
	srv2 := start(t, woosim.Options{WebhookDelay: 20 * time.Millisecond})
	rc2 := newReceiver(t)
	c2 := newClient(t, srv2)
	c2.must(201, "POST", "/webhooks", nil, map[string]any{"topic": "order.created", "delivery_url": rc2.srv.URL})
	if _, _, err := srv2.Store.CreateProduct(woosim.ProductSpec{Name: "x", SKU: "X", ManageStock: true, Stock: 3}); err != nil {
		t.Fatal(err)
	}
	if _, err := srv2.Store.Checkout([]woosim.CheckoutLine{{SKU: "X", Quantity: 1}}); err != nil {
		t.Fatal(err)
	}
	systest.WaitFor(t, 5*time.Second, "order.created delivery", func() error {
		if n := rc2.count(); n != 2 {
			return fmt.Errorf("%d deliveries, want 2", n)
		}
		return nil
	})
}

func jsonNum(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func TestWebhookDisabledOnSeventhFailure(t *testing.T) {
	srv := start(t, woosim.Options{WebhookDelay: time.Hour})
	if err := srv.Store.Seed(woosim.SeedOptions{Products: 1, Stock: 100}); err != nil {
		t.Fatal(err)
	}
	rc := newReceiver(t)
	c := newClient(t, srv)
	c.must(201, "POST", "/webhooks", nil, map[string]any{"topic": "product.updated", "delivery_url": rc.srv.URL})
	rc.status.Store(500)
	for i := 1; i <= 7; i++ {
		if err := srv.Store.AdminEdit("SKU-000001", int64(i)); err != nil {
			t.Fatal(err)
		}
		srv.Store.FlushWebhooks()
		w := srv.Store.Webhooks()[0]
		want := "active"
		if i == 7 {
			want = "disabled"
		}
		if w.Status != want {
			t.Fatalf("after failure %d: status %s (failures %d)", i, w.Status, w.Failures)
		}
	}
	// 302 counts as success and resets the count (on another webhook).
	wh := c.must(201, "POST", "/webhooks", nil, map[string]any{"topic": "product.updated", "delivery_url": rc.srv.URL}).obj(t)
	rc.status.Store(500)
	_ = srv.Store.AdminEdit("SKU-000001", 1)
	srv.Store.FlushWebhooks()
	rc.status.Store(302)
	_ = srv.Store.AdminEdit("SKU-000001", 2)
	srv.Store.FlushWebhooks()
	for _, w := range srv.Store.Webhooks() {
		if w.ID == id(t, wh) && (w.Failures != 0 || w.Status != "active") {
			t.Fatalf("after 302: %+v", w)
		}
	}
	// A URL change pings again.
	before := rc.count()
	c.must(200, "PUT", p("/webhooks/%d", id(t, wh)), nil, map[string]any{"delivery_url": rc.srv.URL + "/new"})
	if rc.count() != before+1 {
		t.Fatal("no ping on URL change")
	}
	c.must(501, "DELETE", p("/webhooks/%d", id(t, wh)), nil, nil)
	c.must(200, "DELETE", p("/webhooks/%d", id(t, wh)), map[string][]string{"force": {"true"}}, nil)
}

func TestWebhookDeletedPayloadAndDrops(t *testing.T) {
	srv := start(t, woosim.Options{WebhookDelay: time.Hour})
	rc := newReceiver(t)
	c := newClient(t, srv)
	c.must(201, "POST", "/webhooks", nil, map[string]any{"topic": "product.deleted", "delivery_url": rc.srv.URL})
	pr := c.must(201, "POST", "/products", nil, map[string]any{"name": "gone"}).obj(t)
	c.must(200, "DELETE", p("/products/%d", id(t, pr)), nil, nil)
	srv.Store.FlushWebhooks()
	got := rc.all()
	if len(got) != 2 || string(got[1].body) != `{"id":`+jsonNum(pr["id"])+`}` {
		t.Fatalf("deleted payload %q", got[len(got)-1].body)
	}
	c.must(410, "DELETE", p("/products/%d", id(t, pr)), nil, nil)
	// Untrash: product.restored, carrying the product.
	c.must(201, "POST", "/webhooks", nil, map[string]any{"topic": "product.restored", "delivery_url": rc.srv.URL})
	c.must(200, "PUT", p("/products/%d", id(t, pr)), nil, map[string]any{"status": "publish"})
	srv.Store.FlushWebhooks()
	got = rc.all()
	if last := got[len(got)-1]; last.header.Get("X-WC-Webhook-Topic") != "product.restored" || !strings.Contains(string(last.body), `"status":"publish"`) {
		t.Fatalf("restored delivery %v %s", last.header, last.body)
	}
	c.must(200, "DELETE", p("/products/%d", id(t, pr)), nil, nil)
	srv.Store.FlushWebhooks()
	base := rc.count()

	srv.Store.SetFaults(woosim.Faults{DropWebhookRate: 1})
	pr2 := c.must(201, "POST", "/products", nil, map[string]any{"name": "gone2"}).obj(t)
	c.must(200, "DELETE", p("/products/%d", id(t, pr2)), nil, nil)
	srv.Store.FlushWebhooks()
	if rc.count() != base || srv.Store.Stats().WebhooksDropped != 1 {
		t.Fatalf("drop: %d requests, stats %+v", rc.count(), srv.Store.Stats())
	}
}

func TestRefusePrivateWebhooks(t *testing.T) {
	srv := start(t, woosim.Options{WebhookDelay: time.Hour, RefusePrivateWebhooks: true})
	rc := newReceiver(t)
	c := newClient(t, srv)
	c.must(201, "POST", "/webhooks", nil, map[string]any{"topic": "product.updated", "delivery_url": rc.srv.URL})
	if _, _, err := srv.Store.CreateProduct(woosim.ProductSpec{Name: "x", SKU: "X", ManageStock: true, Stock: 1}); err != nil {
		t.Fatal(err)
	}
	_ = srv.Store.AdminEdit("X", 2)
	srv.Store.FlushWebhooks()
	if rc.count() != 0 || srv.Store.Stats().WebhooksFailed != 1 {
		t.Fatalf("loopback delivery not refused: %d, %+v", rc.count(), srv.Store.Stats())
	}
}

// TestCloseEndsHangingDelivery: Close returns while a receiver hangs.
func TestCloseEndsHangingDelivery(t *testing.T) {
	release := make(chan struct{})
	entered := make(chan struct{}, 4)
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-WC-Webhook-Topic") == "" {
			return // the ping
		}
		entered <- struct{}{}
		<-release
	}))
	defer hang.Close()
	defer close(release)
	srv, err := woosim.Start(woosim.Options{WebhookDelay: -1})
	if err != nil {
		t.Fatal(err)
	}
	c := newClient(t, srv)
	c.must(201, "POST", "/webhooks", nil, map[string]any{"topic": "product.created", "delivery_url": hang.URL})
	if _, _, err := srv.Store.CreateProduct(woosim.ProductSpec{Name: "x", SKU: "X"}); err != nil {
		t.Fatal(err)
	}
	<-entered
	done := make(chan struct{})
	go func() { srv.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Close blocked on a hanging delivery")
	}
}
