package webhook_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/stockwire/stockwire/agent/outbox"
	"github.com/stockwire/stockwire/agent/webhook"
	"github.com/stockwire/stockwire/shared/systest"
	"github.com/stockwire/stockwire/shared/wire"
	"github.com/stockwire/stockwire/shared/woo"
)

const secret = "sample-webhook-secret"

type fixture struct {
	srv      *httptest.Server
	box      *outbox.Outbox
	reg      *prometheus.Registry
	mu       sync.Mutex
	pings    []int64
	products []int64
	// productTopics are the topics OnProduct was called with.
	productTopics []string
	flowed        []string
	// orders are the order ids OnOrder was called with.
	orders []int64
	// isEcho answers IsEcho (nil: never an echo); echoAsked counts the
	// calls.
	isEcho    func(woo.Product) bool
	echoAsked int
}

func MustServe(t *testing.T, maxEvents int) *fixture {
	t.Helper()
	logger := slog.New(slog.NewTextHandler(t.Output(), nil))
	box, err := outbox.Open(filepath.Join(t.TempDir(), "outbox.db"), outbox.Options{MaxEvents: maxEvents, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { box.Close() })
	f := &fixture{box: box, reg: prometheus.NewRegistry()}
	h, err := webhook.NewHandler(secret, box, logger, f.reg)
	if err != nil {
		t.Fatal(err)
	}
	h.FullErr = outbox.ErrOutboxFull
	h.OnProduct = func(_ context.Context, topic string, p woo.Product) {
		f.mu.Lock()
		f.products = append(f.products, p.ID)
		f.productTopics = append(f.productTopics, topic)
		f.mu.Unlock()
	}
	h.IsEcho = func(p woo.Product) bool {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.echoAsked++
		return f.isEcho != nil && f.isEcho(p)
	}
	h.OnPing = func(id int64) {
		f.mu.Lock()
		f.pings = append(f.pings, id)
		f.mu.Unlock()
	}
	h.OnDelivery = func(topic string, _ int64) {
		f.mu.Lock()
		f.flowed = append(f.flowed, topic)
		f.mu.Unlock()
	}
	h.OnOrder = func(o wire.Order) {
		f.mu.Lock()
		f.orders = append(f.orders, o.WooOrderID)
		f.mu.Unlock()
	}
	h.MaxBody = 64 << 10
	f.srv = httptest.NewServer(h)
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fixture) post(t *testing.T, headers map[string]string, body []byte) int {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, f.srv.URL, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

func signed(topic string, body []byte) map[string]string {
	return map[string]string{
		"Content-Type":             "application/json",
		woo.HeaderWebhookTopic:     topic,
		woo.HeaderWebhookSignature: woo.WebhookSignature(secret, body),
		woo.HeaderWebhookID:        "8",
	}
}

type delivery struct {
	Path    string      `json:"path"`
	Headers [][2]string `json:"headers"`
	Body    string      `json:"body"`
}

func loadDeliveries(t testing.TB) []delivery {
	t.Helper()
	b := systest.Fixture(t, "webhook-deliveries.json")
	var file struct {
		Secret     string     `json:"secret"`
		Deliveries []delivery `json:"deliveries"`
	}
	if err := json.Unmarshal(b, &file); err != nil {
		t.Fatal(err)
	}
	if file.Secret != secret {
		t.Fatalf("samples secret %q", file.Secret)
	}
	return file.Deliveries
}

func TestHandler_RealDeliveries(t *testing.T) {
	t.Parallel()
	f := MustServe(t, 0)
	for _, d := range loadDeliveries(t) {
		h := map[string]string{}
		for _, kv := range d.Headers {
			switch kv[0] {
			case "Host", "Content-Length", "Connection", "Accept-Encoding":
				continue
			}
			h[kv[0]] = kv[1]
		}
		if got := f.post(t, h, []byte(d.Body)); got != http.StatusOK {
			t.Fatalf("%s %q: status %d, want 200", d.Path, d.Body[:min(40, len(d.Body))], got)
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if got, want := len(f.pings), 4; got != want || f.pings[0] != 7 || f.pings[3] != 10 {
		t.Fatalf("pings=%v, want 7..10", f.pings)
	}
	if got := f.products; len(got) != 2 || got[0] != 11 || got[1] != 32 {
		t.Fatalf("products=%v, want [11 32]", got)
	}
	if got := f.productTopics; len(got) != 2 || got[0] != woo.TopicProductUpdated || got[1] != woo.TopicProductUpdated {
		t.Fatalf("product topics=%v, want product.updated twice", got)
	}
	evs, err := f.box.After(0, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 3 {
		t.Fatalf("outbox holds %d events, want 3 (created, updated, deleted)", len(evs))
	}
	for _, ev := range evs {
		if ev.Order.WooOrderID != 34 || ev.Order.Status != "trash" || ev.Order.Source != "webhook" {
			t.Fatalf("event %+v", ev.Order)
		}
	}
	if len(evs[0].Order.Lines) != 2 || len(evs[2].Order.Lines) != 0 {
		t.Fatalf("lines: %+v / %+v", evs[0].Order.Lines, evs[2].Order.Lines)
	}
	if seen, ok := f.box.Seen(34); !ok || seen.Status != "trash" {
		t.Fatalf("Seen(34)=%+v %v", seen, ok)
	}
	if got := testutil.ToFloat64(mustVec(t, f.reg, "order.created", "ok")); got != 1 {
		t.Fatalf("received{order.created,ok}=%v", got)
	}
	if len(f.flowed) != 5 {
		t.Fatalf("OnDelivery calls=%v, want 5", f.flowed)
	}
	if got, want := fmt.Sprint(f.orders), "[34 34 34]"; got != want {
		t.Fatalf("OnOrder calls=%s, want %s (each order delivery, once durable)", got, want)
	}
	if problems, err := testutil.GatherAndLint(f.reg); err != nil || len(problems) > 0 {
		t.Fatalf("lint: %v %v", problems, err)
	}
}

func mustVec(t *testing.T, reg *prometheus.Registry, topic, result string) prometheus.Collector {
	t.Helper()
	mfs, _ := reg.Gather()
	for _, mf := range mfs {
		if mf.GetName() != "stockwire_agent_webhooks_received_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			l := map[string]string{}
			for _, lp := range m.GetLabel() {
				l[lp.GetName()] = lp.GetValue()
			}
			if l["topic"] == topic && l["result"] == result {
				c := prometheus.NewCounter(prometheus.CounterOpts{Name: "x", Help: "x"})
				c.Add(m.GetCounter().GetValue())
				return c
			}
		}
	}
	return prometheus.NewCounter(prometheus.CounterOpts{Name: "x", Help: "x"})
}

func TestHandler_TestVector(t *testing.T) {
	t.Parallel()
	f := MustServe(t, 0)
	body := systest.Fixture(t, "webhook-order-created.raw")
	sig := systest.Fixture(t, "webhook-order-created.sig")
	h := map[string]string{woo.HeaderWebhookTopic: woo.TopicOrderCreated,
		woo.HeaderWebhookSignature: strings.TrimSpace(string(sig))}
	if got := f.post(t, h, body); got != http.StatusOK {
		t.Fatalf("status %d", got)
	}
	if f.box.Len() != 1 {
		t.Fatalf("Len=%d", f.box.Len())
	}
	// The report carries the whole order for the hub's document.
	evs, err := f.box.After(0, 1)
	if err != nil {
		t.Fatal(err)
	}
	var o woo.Order
	if err := json.Unmarshal(evs[0].Order.Raw, &o); err != nil {
		t.Fatalf("raw %q: %v", evs[0].Order.Raw, err)
	}
	if o.ID != 34 || o.Billing == nil || o.Billing.Email != "ada@example.com" || o.Total != "51.00" || len(o.LineItems) != 2 ||
		o.LineItems[1].Subtotal != "40.00" || o.DatePaidGMT == nil {
		t.Fatalf("raw lacks the order: %s", evs[0].Order.Raw)
	}
}

func TestHandler_Refusals(t *testing.T) {
	t.Parallel()
	order := bytes.TrimSpace(systest.Fixture(t, "webhook-order-created.raw"))
	big := append([]byte(`{"id":1,"status":"processing","date_modified_gmt":"2026-01-01T00:00:00","x":"`),
		bytes.Repeat([]byte("a"), 70<<10)...)
	big = append(big, `"}`...)
	draft := []byte(`{"id":5,"status":"checkout-draft","date_modified_gmt":"2026-01-01T00:00:00","line_items":[]}`)
	for _, tt := range []struct {
		name    string
		headers map[string]string
		body    []byte
		want    int
		sigFail float64
	}{
		{"BadSignature", map[string]string{woo.HeaderWebhookTopic: woo.TopicOrderCreated,
			woo.HeaderWebhookSignature: woo.WebhookSignature("wrong-secret", order)}, order, 401, 1},
		{"TamperedBody", signed(woo.TopicOrderCreated, order), bytes.Replace(order, []byte(`"trash"`), []byte(`"completed"`), 1), 401, 1},
		{"Unsigned", map[string]string{woo.HeaderWebhookTopic: woo.TopicOrderCreated}, order, 401, 1},
		{"UnsignedBadPing", nil, []byte("webhook_id=abc"), 401, 1},
		{"Oversized", signed(woo.TopicOrderCreated, big), big, 413, 0},
		{"Malformed", signed(woo.TopicOrderUpdated, []byte(`{"id":1,`)), []byte(`{"id":1,`), 400, 0},
		{"WrongShape", signed(woo.TopicOrderUpdated, []byte(`{"id":"x"}`)), []byte(`{"id":"x"}`), 400, 0},
		{"DeletedNoID", signed(woo.TopicOrderDeleted, []byte(`{}`)), []byte(`{}`), 400, 0},
		{"CheckoutDraft", signed(woo.TopicOrderUpdated, draft), draft, 200, 0},
		{"MalformedProduct", signed(woo.TopicProductUpdated, []byte(`[`)), []byte(`[`), 400, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := MustServe(t, 0)
			if got := f.post(t, tt.headers, tt.body); got != tt.want {
				t.Fatalf("status %d, want %d", got, tt.want)
			}
			if n := f.box.Len(); n != 0 {
				t.Fatalf("outbox holds %d events, want 0", n)
			}
			if f.products != nil {
				t.Fatalf("OnProduct called: %v", f.products)
			}
			mfs, _ := f.reg.Gather()
			var got float64
			for _, mf := range mfs {
				if mf.GetName() == "stockwire_agent_webhook_signature_failures_total" {
					got = mf.GetMetric()[0].GetCounter().GetValue()
				}
			}
			if got != tt.sigFail {
				t.Fatalf("signature failures=%v, want %v", got, tt.sigFail)
			}
		})
	}
	t.Run("OversizedChunked", func(t *testing.T) {
		t.Parallel()
		f := MustServe(t, 0)
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, f.srv.URL, io.MultiReader(bytes.NewReader(big)))
		for k, v := range signed(woo.TopicOrderCreated, big) {
			req.Header.Set(k, v)
		}
		req.ContentLength = -1
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 413 || f.box.Len() != 0 {
			t.Fatalf("status %d, outbox %d", resp.StatusCode, f.box.Len())
		}
	})
	t.Run("MethodNotAllowed", func(t *testing.T) {
		t.Parallel()
		f := MustServe(t, 0)
		resp, err := http.Get(f.srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 405 {
			t.Fatalf("status %d", resp.StatusCode)
		}
	})
	t.Run("OutboxFull", func(t *testing.T) {
		t.Parallel()
		f := MustServe(t, 1)
		if got := f.post(t, signed(woo.TopicOrderCreated, order), order); got != 200 {
			t.Fatalf("first status %d", got)
		}
		if got := f.post(t, signed(woo.TopicOrderUpdated, order), order); got != 503 {
			t.Fatalf("full status %d, want 503", got)
		}
		if f.box.Len() != 1 {
			t.Fatalf("Len=%d", f.box.Len())
		}
	})
}

// TestHandler_ProductEcho: the echo of the agent's own write stops at
// the receiver, once its signature is checked; anything else goes on.
func TestHandler_ProductEcho(t *testing.T) {
	t.Parallel()
	f := MustServe(t, 0)
	echo := echoBody(t) // product 11, 10 in stock, marker "ep1:42"
	f.isEcho = func(p woo.Product) bool {
		return p.ID == 11 && *p.StockQuantity == 10 && len(p.MetaData) == 2 && string(p.MetaData[0].Value) == `"ep1:42"`
	}
	echoes := func() float64 {
		return testutil.ToFloat64(mustVec(t, f.reg, woo.TopicProductUpdated, webhook.ResultEcho))
	}

	if got := f.post(t, signed(woo.TopicProductUpdated, echo), echo); got != 200 {
		t.Fatalf("echo: status %d", got)
	}
	f.mu.Lock()
	if f.products != nil || f.echoAsked != 1 || len(f.flowed) != 1 {
		t.Fatalf("echo: OnProduct %v, IsEcho asked %d, deliveries %v; want no OnProduct, one question, one delivery", f.products, f.echoAsked, f.flowed)
	}
	f.mu.Unlock()
	if got, want := echoes(), 1.0; got != want {
		t.Fatalf("echoes counted %v, want %v", got, want)
	}

	t.Run("HandEdit", func(t *testing.T) {
		edit := bytes.Replace(echo, []byte(`"stock_quantity":10,`), []byte(`"stock_quantity":7,`), 1)
		if got := f.post(t, signed(woo.TopicProductUpdated, edit), edit); got != 200 {
			t.Fatalf("status %d", got)
		}
		f.mu.Lock()
		defer f.mu.Unlock()
		if got := f.products; len(got) != 1 || got[0] != 11 {
			t.Fatalf("OnProduct %v, want [11]: a hand edit goes on", got)
		}
	})
	t.Run("OnlyProductUpdated", func(t *testing.T) {
		if got := f.post(t, signed(woo.TopicProductCreated, echo), echo); got != 200 {
			t.Fatalf("status %d", got)
		}
		f.mu.Lock()
		defer f.mu.Unlock()
		if got := f.productTopics; len(got) != 2 || got[1] != woo.TopicProductCreated {
			t.Fatalf("OnProduct topics %v, want product.created last", got)
		}
	})
	t.Run("BadSignature", func(t *testing.T) {
		f.mu.Lock()
		asked := f.echoAsked
		f.mu.Unlock()
		h := signed(woo.TopicProductUpdated, echo)
		h[woo.HeaderWebhookSignature] = woo.WebhookSignature("wrong-secret", echo)
		if got := f.post(t, h, echo); got != 401 {
			t.Fatalf("status %d, want 401", got)
		}
		f.mu.Lock()
		defer f.mu.Unlock()
		if f.echoAsked != asked {
			t.Fatal("IsEcho asked about an unsigned body")
		}
	})
	if got, want := echoes(), 1.0; got != want {
		t.Fatalf("echoes counted %v, want %v", got, want)
	}
}

// echoBody is the samples' product.updated delivery of product 11 (10 in
// stock) with the agent's marker "ep1:42" and another meta of its own.
func echoBody(tb testing.TB) []byte {
	tb.Helper()
	for _, d := range loadDeliveries(tb) {
		if strings.HasPrefix(d.Body, `{"id":11,`) {
			return []byte(strings.Replace(d.Body, `"meta_data":[]`,
				`"meta_data":[{"id":99,"key":"stockwire_seq","value":"ep1:42"},{"id":100,"key":"stockwire_reclaim","value":"x"}]`, 1))
		}
	}
	tb.Fatal("no delivery of product 11 in the samples")
	return nil
}

func TestHandler_Ping(t *testing.T) {
	t.Parallel()
	f := MustServe(t, 0)
	if got := f.post(t, map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, []byte("webhook_id=42")); got != 200 {
		t.Fatalf("status %d", got)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.pings) != 1 || f.pings[0] != 42 || f.box.Len() != 0 || len(f.flowed) != 0 || len(f.orders) != 0 {
		t.Fatalf("pings=%v len=%d flowed=%v orders=%v: a ping is no delivery", f.pings, f.box.Len(), f.flowed, f.orders)
	}
}

func TestNewHandler_Invalid(t *testing.T) {
	t.Parallel()
	f := MustServe(t, 10)
	if _, err := webhook.NewHandler("", f.box, nil, nil); err == nil {
		t.Fatal("want an error without a secret: every delivery would be refused")
	}
	if _, err := webhook.NewHandler(secret, nil, nil, nil); err == nil {
		t.Fatal("want an error without an outbox")
	}
	// Its metrics are already on f.reg: a second receiver shares them.
	if _, err := webhook.NewHandler(secret, f.box, nil, f.reg); err != nil {
		t.Fatalf("second receiver on one registry: %v", err)
	}
}
