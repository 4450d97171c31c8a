package wooclient_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"golang.org/x/time/rate"

	"github.com/stockwire/stockwire/agent/wooclient"
	"github.com/stockwire/stockwire/shared/launch"
	"github.com/stockwire/stockwire/shared/systest"
	"github.com/stockwire/stockwire/shared/woo"
)

const (
	testKey    = "ck_0123456789abcdef0123456789abcdef01234567"
	testSecret = "cs_76543210fedcba9876543210fedcba9876543210"
)

func serve(w http.ResponseWriter, s systest.Sample) {
	for k, v := range s.Headers {
		if k == "Link" || k == "Content-Length" {
			continue
		}
		w.Header().Set(k, v)
	}
	w.WriteHeader(s.Status)
	w.Write(s.Body)
}

func apiErr(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{"code": code, "message": msg, "data": map[string]any{"status": status}})
}

// rfc3986 is PHP's rawurlencode, written again here so the test does not
// trust the code under test.
func rfc3986(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(url.QueryEscape(s), "+", "%20"), "%7E", "~")
}

// phpBaseString follows WC_REST_Authentication::check_oauth_signature.
func phpBaseString(method, uri string, params map[string]string) string {
	norm := map[string]string{}
	for k, v := range params {
		norm[rfc3986(k)] = rfc3986(v)
	}
	keys := make([]string, 0, len(norm))
	for k := range norm {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = rfc3986(k + "=" + norm[k])
	}
	return method + "&" + rfc3986(uri) + "&" + strings.Join(parts, "%26")
}

type keyInfo struct{ secret, perms string }

// fakeWoo is a WooCommerce stand-in that checks OAuth 1.0a signatures
// independently and serves captured samples.
type fakeWoo struct {
	t           testing.TB
	srv         *httptest.Server
	keys        map[string]keyInfo
	ignoreBasic bool

	mu       sync.Mutex
	nonces   map[string]bool
	faults   []int // statuses to answer before handling, in order
	hits     map[string]int
	batches  [][]map[string]any
	webhooks []woo.Webhook
	stock    map[int64]int64
	hang     chan struct{} // when non-nil, batch requests hang until closed
}

func newFakeWoo(t testing.TB, tls bool) *fakeWoo {
	f := &fakeWoo{t: t, keys: map[string]keyInfo{testKey: {testSecret, "read_write"}},
		nonces: map[string]bool{}, hits: map[string]int{}, stock: map[int64]int64{11: 10, 12: 5}}
	for i := 1; i <= 150; i++ {
		f.webhooks = append(f.webhooks, woo.Webhook{ID: int64(i), Name: "w" + strconv.Itoa(i), Status: "active", Topic: "order.created", DeliveryURL: "http://x/" + strconv.Itoa(i)})
	}
	if tls {
		f.srv = httptest.NewTLSServer(f)
	} else {
		f.srv = httptest.NewServer(f)
	}
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeWoo) hit(route string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.hits[route]
}

var oauthParam = regexp.MustCompile(`(\w+)="([^"]*)"`)

// auth returns the key's permissions or writes the WooCommerce error.
func (f *fakeWoo) auth(w http.ResponseWriter, r *http.Request) (string, bool) {
	if r.TLS != nil && !f.ignoreBasic {
		user, pass, ok := r.BasicAuth()
		if ok {
			k, known := f.keys[user]
			if !known {
				apiErr(w, 401, "woocommerce_rest_cannot_view", "Sorry, you cannot list resources.")
				return "", false
			}
			if k.secret != pass {
				apiErr(w, 401, "woocommerce_rest_authentication_error", "Consumer secret is invalid.")
				return "", false
			}
			return k.perms, true
		}
	}
	params := map[string]string{}
	for k, v := range r.URL.Query() {
		params[k] = v[0]
	}
	if h := r.Header.Get("Authorization"); strings.HasPrefix(h, "OAuth ") {
		for _, m := range oauthParam.FindAllStringSubmatch(h, -1) {
			v, _ := url.PathUnescape(m[2])
			params[m[1]] = v
		}
	}
	ck, ok := params["oauth_consumer_key"]
	if !ok {
		apiErr(w, 401, "woocommerce_rest_cannot_view", "Sorry, you cannot list resources.")
		return "", false
	}
	k, known := f.keys[ck]
	if !known {
		apiErr(w, 401, "woocommerce_rest_authentication_error", "Consumer key is invalid.")
		return "", false
	}
	sig := params["oauth_signature"]
	delete(params, "oauth_signature")
	if params["oauth_signature_method"] != "HMAC-SHA256" {
		apiErr(w, 401, "woocommerce_rest_authentication_error", "Invalid signature - signature method is invalid.")
		return "", false
	}
	base := phpBaseString(r.Method, "http://"+r.Host+r.URL.Path, params)
	mac := hmac.New(sha256.New, []byte(k.secret+"&"))
	mac.Write([]byte(base))
	if want := base64.StdEncoding.EncodeToString(mac.Sum(nil)); !hmac.Equal([]byte(want), []byte(sig)) {
		apiErr(w, 401, "woocommerce_rest_authentication_error", "Invalid signature - provided signature does not match.")
		return "", false
	}
	ts, _ := strconv.ParseInt(params["oauth_timestamp"], 10, 64)
	if d := time.Now().Unix() - ts; d > 900 || d < -900 {
		apiErr(w, 401, "woocommerce_rest_authentication_error", "Invalid timestamp.")
		return "", false
	}
	f.mu.Lock()
	reused := f.nonces[params["oauth_nonce"]]
	f.nonces[params["oauth_nonce"]] = true
	f.mu.Unlock()
	if reused {
		apiErr(w, 401, "woocommerce_rest_authentication_error", "Invalid nonce - nonce has already been used.")
		return "", false
	}
	return k.perms, true
}

func (f *fakeWoo) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path := strings.TrimPrefix(r.URL.Path, woo.APIPrefix)
	if path == r.URL.Path {
		http.NotFound(w, r)
		return
	}
	perms, ok := f.auth(w, r)
	if !ok {
		return
	}
	if r.Method == "GET" && perms == "write" {
		apiErr(w, 401, "woocommerce_rest_authentication_error", "The API key provided does not have read permissions.")
		return
	}
	if r.Method != "GET" && perms == "read" {
		apiErr(w, 401, "woocommerce_rest_authentication_error", "The API key provided does not have write permissions.")
		return
	}
	route := r.Method + " " + regexp.MustCompile(`/\d+`).ReplaceAllString(path, "/{id}")
	f.mu.Lock()
	f.hits[route]++
	var fault int
	if len(f.faults) > 0 {
		fault, f.faults = f.faults[0], f.faults[1:]
	}
	hang := f.hang
	f.mu.Unlock()
	switch fault {
	case 0:
	case 429:
		w.Header().Set("Retry-After", "0")
		http.Error(w, "<html>slow down</html>", 429)
		return
	default:
		apiErr(w, fault, "internal_server_error", "boom")
		return
	}
	switch route {
	case "GET /products":
		if r.URL.Query().Get("per_page") == "101" {
			apiErr(w, 400, "rest_invalid_param", "Invalid parameter(s): per_page")
			return
		}
		serve(w, systest.LoadSample(f.t, "products-list-page1-fields.json"))
	case "GET /products/{id}":
		serve(w, systest.LoadSample(f.t, "product-simple.json"))
	case "GET /products/{id}/variations":
		serve(w, systest.LoadSample(f.t, "variations-list.json"))
	case "POST /products/batch", "POST /products/{id}/variations/batch":
		f.batch(w, r, hang)
	case "GET /webhooks":
		page, _ := strconv.Atoi(r.URL.Query().Get("page"))
		per, _ := strconv.Atoi(r.URL.Query().Get("per_page"))
		f.mu.Lock()
		total := len(f.webhooks)
		lo, hi := min((page-1)*per, total), min(page*per, total)
		out := append([]woo.Webhook(nil), f.webhooks[lo:hi]...)
		f.mu.Unlock()
		w.Header().Set("X-WP-Total", strconv.Itoa(total))
		w.Header().Set("X-WP-TotalPages", strconv.Itoa((total+per-1)/per))
		json.NewEncoder(w).Encode(out)
	case "POST /webhooks":
		var in map[string]any
		json.NewDecoder(r.Body).Decode(&in)
		if _, ok := in["id"]; ok {
			apiErr(w, 400, "rest_invalid_param", "id is read-only")
			return
		}
		f.mu.Lock()
		wh := woo.Webhook{ID: int64(len(f.webhooks) + 1), Status: "active", Topic: fmt.Sprint(in["topic"]), DeliveryURL: fmt.Sprint(in["delivery_url"]), Name: fmt.Sprint(in["name"])}
		f.webhooks = append(f.webhooks, wh)
		f.mu.Unlock()
		w.WriteHeader(201)
		json.NewEncoder(w).Encode(wh)
	case "PUT /webhooks/{id}":
		var in map[string]any
		json.NewDecoder(r.Body).Decode(&in)
		id, _ := strconv.Atoi(strings.TrimPrefix(path, "/webhooks/"))
		f.mu.Lock()
		wh := &f.webhooks[id-1]
		if s, ok := in["status"].(string); ok {
			wh.Status = s
		}
		out := *wh
		f.mu.Unlock()
		if len(in) != 1 {
			apiErr(w, 400, "test_unexpected_fields", fmt.Sprint(in))
			return
		}
		json.NewEncoder(w).Encode(out)
	case "DELETE /webhooks/{id}":
		if r.URL.Query().Get("force") != "true" {
			apiErr(w, 501, "woocommerce_rest_trash_not_supported", "Webhooks do not support trashing.")
			return
		}
		w.Write([]byte(`{"id":1}`))
	default:
		apiErr(w, 404, "rest_no_route", "No route was found matching the URL and request method.")
	}
}

func (f *fakeWoo) batch(w http.ResponseWriter, r *http.Request, hang chan struct{}) {
	var in struct {
		Update []map[string]any `json:"update"`
	}
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		apiErr(w, 400, "rest_invalid_json", err.Error())
		return
	}
	if len(in.Update) > 100 {
		serve(w, systest.LoadSample(f.t, "error-batch-too-large.json"))
		return
	}
	f.mu.Lock()
	f.batches = append(f.batches, in.Update)
	var out []any
	for _, u := range in.Update {
		id := int64(u["id"].(float64))
		q, known := f.stock[id]
		if !known {
			out = append(out, map[string]any{"id": id, "error": map[string]any{"code": "woocommerce_rest_product_invalid_id", "message": "Invalid ID.", "data": map[string]any{"status": 400}}})
			continue
		}
		if d, ok := u["inventory_delta"].(float64); ok {
			q += int64(d)
		}
		if s, ok := u["stock_quantity"].(float64); ok {
			q = int64(s)
		}
		f.stock[id] = q
		out = append(out, map[string]any{"id": id, "sku": "SKU-" + strconv.FormatInt(id, 10), "stock_quantity": q, "meta_data": u["meta_data"]})
	}
	f.mu.Unlock()
	if hang != nil {
		select {
		case <-hang:
		case <-r.Context().Done():
			return
		}
	}
	json.NewEncoder(w).Encode(map[string]any{"update": out})
}

func mustClient(tb testing.TB, f *fakeWoo, mod func(*wooclient.Config)) (*wooclient.Client, *prometheus.Registry) {
	tb.Helper()
	reg := prometheus.NewRegistry()
	cfg := wooclient.Config{
		BaseURL: f.srv.URL, ConsumerKey: testKey, ConsumerSecret: testSecret,
		HTTPClient: f.srv.Client(), RateLimit: rate.Inf, MinBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond,
		Timeout: 5 * time.Second, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Registerer: reg,
	}
	if mod != nil {
		mod(&cfg)
	}
	c, err := wooclient.New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	return c, reg
}

func i64(v int64) *int64 { return &v }

func TestNew_Invalid(t *testing.T) {
	t.Parallel()
	for _, base := range []string{"", "ftp://x", "http://", "http://x/wp-json/wc/v3", "http://x?a=b"} {
		if _, err := wooclient.New(wooclient.Config{BaseURL: base, ConsumerKey: "k", ConsumerSecret: "s"}); err == nil {
			t.Errorf("New(%q): want error", base)
		}
	}
	if _, err := wooclient.New(wooclient.Config{BaseURL: "http://x"}); err == nil {
		t.Error("New without keys: want error")
	}
}

func TestClient_Reads(t *testing.T) {
	t.Parallel()
	for _, inQuery := range []bool{false, true} {
		t.Run(fmt.Sprintf("OAuthInQuery=%v", inQuery), func(t *testing.T) {
			t.Parallel()
			f := newFakeWoo(t, false)
			c, reg := mustClient(t, f, func(c *wooclient.Config) { c.OAuthInQuery = inQuery })
			ctx := t.Context()

			ps, page, err := c.ListProducts(ctx, wooclient.ProductQuery{PerPage: 2, Fields: []string{"id", "sku", "stock_quantity", "date_modified_gmt"}})
			if err != nil {
				t.Fatal(err)
			}
			if page.Total != 4 || page.TotalPages != 2 {
				t.Fatalf("page=%+v, want 4 in 2 pages", page)
			}
			// The store's clock, from the Date header net/http sends.
			if d := time.Since(page.Served); d < -time.Second || d > 5*time.Second {
				t.Fatalf("page served at %s, want about now", page.Served)
			}
			if len(ps) != 2 || ps[0].ID != 31 || ps[0].SKU != "SAMPLE-TEE" || ps[0].StockQuantity != nil || *ps[1].StockQuantity != 30 {
				t.Fatalf("products=%+v", ps)
			}
			p, err := c.GetProduct(ctx, 11)
			if err != nil {
				t.Fatal(err)
			}
			if p.ID != 11 || p.SKU == "" || p.StockQuantity == nil {
				t.Fatalf("product=%+v", p)
			}
			vs, _, err := c.ListVariations(ctx, 31, 1, 100, []string{"id", "sku"})
			if err != nil {
				t.Fatal(err)
			}
			if len(vs) != 2 || vs[0].ParentID != 31 || vs[0].Type != "variation" {
				t.Fatalf("variations=%+v", vs)
			}
			whs, err := c.ListWebhooks(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := len(whs), 150; got != want {
				t.Fatalf("webhooks=%d, want %d (all pages)", got, want)
			}
			if got := testutil.ToFloat64(c.MetricRequests("GET /webhooks", "200")); got != 2 {
				t.Fatalf("webhook list requests=%v, want 2", got)
			}
			if n, err := testutil.GatherAndCount(reg); err != nil || n == 0 {
				t.Fatalf("gather: %d %v", n, err)
			}
			if probs, err := testutil.GatherAndLint(reg); err != nil || len(probs) > 0 {
				t.Fatalf("lint: %v %v", probs, err)
			}
		})
	}
}

func TestClient_APIError(t *testing.T) {
	t.Parallel()
	f := newFakeWoo(t, false)
	c, _ := mustClient(t, f, nil)
	_, _, err := c.ListOrders(t.Context(), wooclient.OrderQuery{}) // no such route in the fake
	var ae *woo.APIError
	if !errors.As(err, &ae) || ae.Code != "rest_no_route" || ae.Data.Status != 404 {
		t.Fatalf("err=%v, want rest_no_route APIError", err)
	}
	if got := f.hit("GET /orders"); got != 1 {
		t.Fatalf("attempts=%d, want 1 (4xx is not retried)", got)
	}
}

func TestClient_Retries(t *testing.T) {
	t.Parallel()
	t.Run("IdempotentRetried", func(t *testing.T) {
		t.Parallel()
		f := newFakeWoo(t, false)
		f.faults = []int{500, 429, 503}
		c, _ := mustClient(t, f, nil)
		if _, err := c.GetProduct(t.Context(), 11); err != nil {
			t.Fatal(err)
		}
		if got := f.hit("GET /products/{id}"); got != 4 {
			t.Fatalf("attempts=%d, want 4", got)
		}
		if got := testutil.ToFloat64(c.MetricRetries()); got != 3 {
			t.Fatalf("retries metric=%v, want 3", got)
		}
	})
	t.Run("GivesUp", func(t *testing.T) {
		t.Parallel()
		f := newFakeWoo(t, false)
		f.faults = []int{500, 500, 500}
		c, _ := mustClient(t, f, func(c *wooclient.Config) { c.MaxRetries = 2 })
		_, err := c.GetProduct(t.Context(), 11)
		var ae *woo.APIError
		if !errors.As(err, &ae) || ae.Data.Status != 500 {
			t.Fatalf("err=%v, want 500 APIError", err)
		}
	})
	t.Run("RetryAfterHonoured", func(t *testing.T) {
		t.Parallel()
		var n int
		var mu sync.Mutex
		var first time.Time
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			defer mu.Unlock()
			n++
			if n == 1 {
				first = time.Now()
				w.Header().Set("Retry-After", "1")
				w.WriteHeader(429)
				return
			}
			if since := time.Since(first); since < 900*time.Millisecond {
				t.Errorf("retried after %v, want ≥ 1s", since)
			}
			w.Write([]byte(`{"id":1}`))
		}))
		t.Cleanup(srv.Close)
		c, err := wooclient.New(wooclient.Config{BaseURL: srv.URL, ConsumerKey: testKey, ConsumerSecret: testSecret, RateLimit: rate.Inf, MinBackoff: time.Millisecond, MaxBackoff: 2 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.GetProduct(t.Context(), 1); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("DeltaBatchNotRetriedAfter5xx", func(t *testing.T) {
		t.Parallel()
		f := newFakeWoo(t, false)
		f.faults = []int{502}
		c, _ := mustClient(t, f, nil)
		_, err := c.BatchUpdateProducts(t.Context(), []wooclient.ProductUpdate{{ID: 11, InventoryDelta: i64(-1)}})
		var oe *wooclient.OutcomeUnknownError
		if !errors.Is(err, wooclient.ErrOutcomeUnknown) || !errors.As(err, &oe) {
			t.Fatalf("err=%v, want OutcomeUnknownError", err)
		}
		if got := f.hit("POST /products/batch"); got != 1 {
			t.Fatalf("attempts=%d, want 1", got)
		}
	})
	t.Run("DeltaBatchRetriedAfter429", func(t *testing.T) {
		t.Parallel()
		f := newFakeWoo(t, false)
		f.faults = []int{429}
		c, _ := mustClient(t, f, nil)
		if _, err := c.BatchUpdateProducts(t.Context(), []wooclient.ProductUpdate{{ID: 11, InventoryDelta: i64(-1)}}); err != nil {
			t.Fatal(err)
		}
		f.mu.Lock()
		defer f.mu.Unlock()
		if got := f.stock[11]; got != 9 {
			t.Fatalf("stock=%d, want 9 (applied once)", got)
		}
	})
	t.Run("DeltaBatchTimeoutUnknown", func(t *testing.T) {
		t.Parallel()
		f := newFakeWoo(t, false)
		f.hang = make(chan struct{})
		t.Cleanup(func() { close(f.hang) })
		c, _ := mustClient(t, f, func(c *wooclient.Config) { c.Timeout = 200 * time.Millisecond })
		_, err := c.BatchUpdateProducts(t.Context(), []wooclient.ProductUpdate{{ID: 11, InventoryDelta: i64(-1)}})
		if !errors.Is(err, wooclient.ErrOutcomeUnknown) {
			t.Fatalf("err=%v, want ErrOutcomeUnknown", err)
		}
		if got := f.hit("POST /products/batch"); got != 1 {
			t.Fatalf("attempts=%d, want 1", got)
		}
	})
	t.Run("StoreDownDialRetried", func(t *testing.T) {
		t.Parallel()
		srv := httptest.NewServer(http.NotFoundHandler())
		addr := srv.URL
		srv.Close()
		c, err := wooclient.New(wooclient.Config{BaseURL: addr, ConsumerKey: testKey, ConsumerSecret: testSecret, RateLimit: rate.Inf, MaxRetries: 2, MinBackoff: time.Millisecond, MaxBackoff: time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.BatchUpdateProducts(t.Context(), []wooclient.ProductUpdate{{ID: 1, InventoryDelta: i64(1)}})
		if err == nil || errors.Is(err, wooclient.ErrOutcomeUnknown) {
			t.Fatalf("err=%v, want a plain error (a refused connection never reached the store)", err)
		}
		if err := c.Check(t.Context()); !errors.Is(err, wooclient.ErrStoreUnreachable) {
			t.Fatalf("Check=%v, want ErrStoreUnreachable", err)
		}
	})
}

func TestClient_Batch(t *testing.T) {
	t.Parallel()
	f := newFakeWoo(t, false)
	for i := int64(100); i < 350; i++ {
		f.stock[i] = 1
	}
	c, _ := mustClient(t, f, nil)
	var ups []wooclient.ProductUpdate
	for i := int64(100); i < 350; i++ {
		ups = append(ups, wooclient.ProductUpdate{ID: i, InventoryDelta: i64(2), MetaData: []woo.MetaData{{Key: "stockwire_seq", Value: json.RawMessage(`"7"`)}}})
	}
	ups = append(ups, wooclient.ProductUpdate{ID: 999, StockQuantity: i64(1)})
	res, err := c.BatchUpdateProducts(t.Context(), ups)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(res), len(ups); got != want {
		t.Fatalf("results=%d, want %d", got, want)
	}
	if got := f.hit("POST /products/batch"); got != 3 {
		t.Fatalf("requests=%d, want 3 (≤100 per request)", got)
	}
	if r := res[0]; r.Err != nil || r.ID != 100 || *r.Product.StockQuantity != 3 || len(r.Product.MetaData) != 1 {
		t.Fatalf("res[0]=%+v", r)
	}
	if r := res[len(res)-1]; r.Err == nil || r.ID != 999 || r.Err.Code != "woocommerce_rest_product_invalid_id" {
		t.Fatalf("last=%+v, want per-item error", r)
	}
	f.mu.Lock()
	first := f.batches[0][0]
	f.mu.Unlock()
	if _, ok := first["stock_quantity"]; ok {
		t.Fatalf("sent stock_quantity with a delta: %v", first)
	}
	if _, err := c.BatchUpdateVariations(t.Context(), 31, []wooclient.ProductUpdate{{ID: 12, StockQuantity: i64(4)}}); err != nil {
		t.Fatal(err)
	}
}

func TestClient_Webhooks(t *testing.T) {
	t.Parallel()
	f := newFakeWoo(t, false)
	c, _ := mustClient(t, f, nil)
	ctx := t.Context()
	wh, err := c.CreateWebhook(ctx, woo.Webhook{Name: "stockwire order.created", Topic: woo.TopicOrderCreated, DeliveryURL: "http://agent/webhook", Secret: "s3cret"})
	if err != nil {
		t.Fatal(err)
	}
	if wh.ID != 151 || wh.Status != "active" {
		t.Fatalf("created=%+v", wh)
	}
	up, err := c.UpdateWebhook(ctx, 3, woo.Webhook{Status: "active"})
	if err != nil {
		t.Fatal(err)
	}
	if up.ID != 3 || up.Status != "active" {
		t.Fatalf("updated=%+v", up)
	}
	if err := c.DeleteWebhook(ctx, 3); err != nil {
		t.Fatal(err)
	}
}

// logBuffer collects log output safely.
type logBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func TestClient_Check(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		tls   bool
		setup func(f *fakeWoo, c *wooclient.Config)
		want  error
	}{
		{name: "OK"},
		{name: "OKBasic", tls: true},
		{name: "UnknownKey", setup: func(f *fakeWoo, c *wooclient.Config) { c.ConsumerKey = "ck_unknown" }, want: wooclient.ErrUnknownKey},
		{name: "WrongSecret", setup: func(f *fakeWoo, c *wooclient.Config) { c.ConsumerSecret = "cs_wrong" }, want: wooclient.ErrWrongSecret},
		{name: "ReadOnly", setup: func(f *fakeWoo, c *wooclient.Config) { f.keys[testKey] = keyInfo{testSecret, "read"} }, want: wooclient.ErrReadOnlyKey},
		{name: "WriteOnly", setup: func(f *fakeWoo, c *wooclient.Config) { f.keys[testKey] = keyInfo{testSecret, "write"} }, want: wooclient.ErrWriteOnlyKey},
		{name: "BasicUnknownKey", tls: true, setup: func(f *fakeWoo, c *wooclient.Config) { c.ConsumerKey = "ck_unknown" }, want: wooclient.ErrUnknownKey},
		{name: "BasicWrongSecret", tls: true, setup: func(f *fakeWoo, c *wooclient.Config) { c.ConsumerSecret = "cs_wrong" }, want: wooclient.ErrWrongSecret},
		{name: "BasicIgnored", tls: true, setup: func(f *fakeWoo, c *wooclient.Config) { f.ignoreBasic = true }, want: wooclient.ErrHTTPSRequired},
		{name: "NotWoo", setup: func(f *fakeWoo, c *wooclient.Config) { c.BaseURL += "/elsewhere" }, want: wooclient.ErrNotWooCommerce},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFakeWoo(t, tt.tls)
			logs := &logBuffer{}
			c, _ := mustClient(t, f, func(c *wooclient.Config) {
				c.Logger = slog.New(slog.NewTextHandler(logs, nil))
				if tt.setup != nil {
					tt.setup(f, c)
				}
			})
			err := c.Check(t.Context())
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Check=%v", err)
				}
				return
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("Check=%v, want %v", err, tt.want)
			}
			for _, e := range []error{wooclient.ErrStoreUnreachable, wooclient.ErrUnknownKey, wooclient.ErrWrongSecret, wooclient.ErrReadOnlyKey, wooclient.ErrWriteOnlyKey, wooclient.ErrHTTPSRequired, wooclient.ErrNotWooCommerce} {
				if e != tt.want && errors.Is(err, e) {
					t.Fatalf("Check=%v also matches %v", err, e)
				}
			}
			for _, s := range []string{testSecret, "cs_wrong"} {
				if strings.Contains(err.Error(), s) || strings.Contains(logs.String(), s) {
					t.Fatalf("secret leaked: %v / %s", err, logs.String())
				}
			}
		})
	}
}

func TestClient_RateLimit(t *testing.T) {
	t.Parallel()
	f := newFakeWoo(t, false)
	c, _ := mustClient(t, f, func(c *wooclient.Config) { c.RateLimit = 50; c.Burst = 1 })
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	start := time.Now()
	for range 6 {
		if _, err := c.GetProduct(ctx, 11); err != nil {
			t.Fatal(err)
		}
	}
	if el := time.Since(start); el < 90*time.Millisecond {
		t.Fatalf("6 requests at 50/s burst 1 took %v, want ≥ 100ms", el)
	}
}

func TestClient_UrgentRequestsKeepAReserve(t *testing.T) {
	t.Parallel()
	f := newFakeWoo(t, false)
	// Burst 4 keeps 1 token for urgent requests; one token takes 2 s to
	// come back, as long as a request that is not urgent may be deferred.
	c, _ := mustClient(t, f, func(c *wooclient.Config) { c.RateLimit = 0.5; c.Burst = 4 })
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	for range 3 { // an order poll, say: leaves the reserve in the bucket
		if _, _, err := c.ListProducts(ctx, wooclient.ProductQuery{}); err != nil {
			t.Fatal(err)
		}
	}
	done := make(chan error, 1)
	go func() { _, _, err := c.ListProducts(ctx, wooclient.ProductQuery{}); done <- err }()
	if err := launch.Poll(ctx, 5*time.Second, "the fourth list deferred", func() error {
		if n := testutil.ToFloat64(c.MetricDeferred()); n != 1 {
			return fmt.Errorf("%v requests deferred", n)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetProduct(wooclient.Urgent(ctx), 11); err != nil { // a stock write's read
		t.Fatal(err)
	}
	if got := f.hit("GET /products"); got != 3 {
		t.Fatalf("the urgent request went after %d lists, want 3: it queued behind the deferred one", got)
	}
	if err := <-done; err != nil { // the deferred list is slowed, not dropped
		t.Fatal(err)
	}
	if got := f.hit("GET /products"); got != 4 {
		t.Fatalf("%d lists served, want 4", got)
	}
}
