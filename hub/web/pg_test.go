package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/stockwire/stockwire/hub"
	"github.com/stockwire/stockwire/hub/postgres"
	"github.com/stockwire/stockwire/hub/postgres/postgrestest"
	"github.com/stockwire/stockwire/hub/web"
	"github.com/stockwire/stockwire/shared/hubapi"
	"github.com/stockwire/stockwire/shared/pgtest"
	"github.com/stockwire/stockwire/shared/systest"
)

func TestMain(m *testing.M) { postgrestest.Main(m) }

// pgServer is a web server over the real services on a fresh database.
type pgServer struct {
	db     *postgres.DB
	inv    *postgres.InventoryService
	stores *postgres.StoreService
	orders *postgres.OrderService
	hooks  *postgres.WebhookService
	srv    *web.Server
	reg    *prometheus.Registry
	ts     *httptest.Server
}

func MustPGServer(t *testing.T) *pgServer { return mustPGServerB(t) }

func mustPGServerB(t testing.TB) *pgServer {
	t.Helper()
	logger := slog.New(slog.NewTextHandler(t.Output(), nil))
	db, err := postgres.Open(t.Context(), pgtest.NewDB(t), logger)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	p := &pgServer{db: db, reg: prometheus.NewRegistry(),
		inv: postgres.NewInventoryService(db), stores: postgres.NewStoreService(db), orders: postgres.NewOrderService(db),
		hooks: postgres.NewWebhookService(db)}
	admin := postgres.NewAdminAuth(db)
	if _, err := admin.Ensure(t.Context(), adminToken); err != nil {
		t.Fatal(err)
	}
	db.Register(p.reg)
	p.srv = web.NewServer(logger, p.reg)
	p.srv.Inventory, p.srv.Stores, p.srv.Orders, p.srv.Admin = p.inv, p.stores, p.orders, admin
	p.srv.Allocation = postgres.NewAllocationService(db)
	p.srv.Webhooks = p.hooks
	p.srv.Ready = db.Ping
	p.srv.MaxJSONBytes = 1024
	p.srv.MaxCSVBytes = 4096
	p.ts = httptest.NewServer(p.srv)
	t.Cleanup(p.ts.Close)
	return p
}

func (p *pgServer) do(t *testing.T, method, path, token, body string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, p.ts.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

// must sends a request that must answer want, decoding the body into out.
func (p *pgServer) must(t *testing.T, want int, method, path, body string, out any) {
	t.Helper()
	resp, b := p.do(t, method, path, adminToken, body)
	if resp.StatusCode != want {
		t.Fatalf("%s %s: status=%d, want %d: %s", method, path, resp.StatusCode, want, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: decode %s: %v", method, path, b, err)
		}
	}
}

// state is what a rejected request must leave alone.
func (p *pgServer) state(t *testing.T) string {
	t.Helper()
	ctx := context.Background()
	ledger, err := p.inv.Ledger(ctx, "", hub.Page{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	skus, err := p.inv.ListStock(ctx, hub.Page{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	stores, err := p.stores.Stores(ctx)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal([]any{len(ledger), skus, len(stores)})
	return string(b)
}

func TestServer_InputErrors_PostgreSQL(t *testing.T) {
	t.Parallel()
	p := MustPGServer(t)
	p.must(t, 201, "POST", "/api/v1/stores", `{"name":"taken","url":"https://taken.example"}`, nil)
	p.must(t, 200, "PUT", "/api/v1/skus/KNOWN/locations/main", `{"on_hand":3}`, nil)
	before := p.state(t)
	runInputErrors(t, p.do, true, func() bool { return p.state(t) != before })
}

func TestServer_Stock_PostgreSQL(t *testing.T) {
	t.Parallel()
	p := MustPGServer(t)

	var st hubapi.SKUStock
	p.must(t, 200, "PUT", "/api/v1/skus/TEE-M/locations/main", `{"on_hand":40}`, &st)
	if st.OnHand != 40 || st.Locations["main"] != 40 || st.Available != 40 {
		t.Fatalf("after count %+v", st)
	}
	p.must(t, 200, "PUT", "/api/v1/skus/TEE-M/safety-stock", `{"safety_stock":4}`, &st)
	if got, want := st.Available, int64(36); got != want {
		t.Fatalf("Available=%d, want %d", got, want)
	}

	t.Run("AdjustIdempotent", func(t *testing.T) {
		adj := `{"sku":"TEE-M","location":"main","delta":5,"reason":"receipt","idempotency_key":"po-1"}`
		var e1, e2 hubapi.LedgerEntry
		p.must(t, 200, "POST", "/api/v1/adjustments", adj, &e1)
		p.must(t, 200, "POST", "/api/v1/adjustments", adj, &e2)
		if e1.ID != e2.ID {
			t.Fatalf("second call made entry %d, want %d", e2.ID, e1.ID)
		}
		p.must(t, 200, "GET", "/api/v1/skus/TEE-M", "", &st)
		if got, want := st.OnHand, int64(45); got != want {
			t.Fatalf("OnHand=%d, want %d", got, want)
		}
		resp, b := p.do(t, "POST", "/api/v1/adjustments", adminToken, `{"sku":"TEE-M","location":"main","delta":6,"idempotency_key":"po-1"}`)
		if resp.StatusCode != 409 {
			t.Fatalf("reused key status=%d: %s", resp.StatusCode, b)
		}
		resp, b = p.do(t, "POST", "/api/v1/adjustments", adminToken, `{"sku":"TEE-M","location":"main","delta":-1000}`)
		if resp.StatusCode != 400 {
			t.Fatalf("below zero status=%d: %s", resp.StatusCode, b)
		}
	})

	t.Run("Paging", func(t *testing.T) {
		for _, s := range []string{"A-1", "A-2", "A-3"} {
			p.must(t, 200, "PUT", "/api/v1/skus/"+s+"/locations/main", `{"on_hand":1}`, nil)
		}
		var seen []string
		after := ""
		for range 10 {
			var page hubapi.SKUList
			p.must(t, 200, "GET", "/api/v1/skus?limit=2&after="+after, "", &page)
			for _, s := range page.SKUs {
				seen = append(seen, s.SKU)
			}
			if page.Next == "" {
				break
			}
			after = page.Next
		}
		if got, want := strings.Join(seen, ","), "A-1,A-2,A-3,TEE-M"; got != want {
			t.Fatalf("paged %s, want %s", got, want)
		}
		var ledger hubapi.LedgerList
		p.must(t, 200, "GET", "/api/v1/ledger?sku=TEE-M&limit=2", "", &ledger)
		if len(ledger.Entries) != 2 || ledger.Next == "" {
			t.Fatalf("ledger page %+v", ledger)
		}
		var rest hubapi.LedgerList
		p.must(t, 200, "GET", "/api/v1/ledger?sku=TEE-M&limit=100&after="+ledger.Next, "", &rest)
		if len(rest.Entries) != 1 || rest.Entries[0].ID <= ledger.Entries[1].ID {
			t.Fatalf("ledger rest %+v", rest)
		}
	})

	t.Run("ImportAllOrNothing", func(t *testing.T) {
		before := p.state(t)
		resp, b := p.do(t, "POST", "/api/v1/stock/import", adminToken, "sku,location,on_hand\nTEE-M,main,1\nNEW,main,x\n")
		if resp.StatusCode != 422 || !strings.Contains(string(b), `"line":3`) {
			t.Fatalf("status=%d: %s", resp.StatusCode, b)
		}
		if p.state(t) != before {
			t.Fatal("a rejected import changed state")
		}
		var res hubapi.ImportResult
		p.must(t, 200, "POST", "/api/v1/stock/import", "TEE-M,main,1\nNEW,back,2\n", &res)
		if res.Imported != 2 {
			t.Fatalf("imported %d", res.Imported)
		}
		p.must(t, 200, "GET", "/api/v1/skus/NEW", "", &st)
		if st.Locations["back"] != 2 {
			t.Fatalf("NEW %+v", st)
		}
	})
}

func TestServer_Stores_PostgreSQL(t *testing.T) {
	t.Parallel()
	p := MustPGServer(t)
	var revoked atomic.Int64
	p.srv.OnRevoke = func(id int64) { revoked.Store(id) }

	var cs hubapi.CreatedStore
	p.must(t, 201, "POST", "/api/v1/stores", `{"name":"eu","url":"https://eu.example","policy":"mirror","buffer":2}`, &cs)
	if cs.ID == 0 || !strings.HasPrefix(cs.Token, "swa_") || cs.Buffer != 2 {
		t.Fatalf("created %+v", cs)
	}
	resp, b := p.do(t, "POST", "/api/v1/stores", adminToken, `{"name":"eu","url":"https://other.example"}`)
	if resp.StatusCode != 409 {
		t.Fatalf("duplicate status=%d: %s", resp.StatusCode, b)
	}

	// The store's own credential is refused on admin routes.
	resp, b = p.do(t, "GET", "/api/v1/stores", cs.Token, "")
	if resp.StatusCode != 403 {
		t.Fatalf("store credential status=%d: %s", resp.StatusCode, b)
	}

	var s hubapi.Store
	p.must(t, 200, "PATCH", "/api/v1/stores/"+itoa(cs.ID), `{"buffer":5}`, &s)
	if s.Buffer != 5 || s.Policy != hubapi.PolicyMirror {
		t.Fatalf("patched %+v", s)
	}
	p.must(t, 200, "PATCH", "/api/v1/stores/"+itoa(cs.ID), `{"policy":"allocate"}`, &s)
	if s.Buffer != 5 || s.Policy != hubapi.PolicyAllocate {
		t.Fatalf("patched %+v", s)
	}
	p.must(t, 200, "GET", "/api/v1/stores/"+itoa(cs.ID), "", &s)
	if s.Name != "eu" || s.Policy != hubapi.PolicyAllocate {
		t.Fatalf("got %+v", s)
	}
	p.must(t, 200, "PATCH", "/api/v1/stores/"+itoa(cs.ID), `{"allocation":{"low_water":3,"max_grant":40}}`, &s)
	if want := (hubapi.AllocationParams{LowWater: 3, MinGrant: 5, MaxGrant: 40, CoverSeconds: 60, IdleSeconds: 300}); s.Allocation != want || s.Buffer != 5 {
		t.Fatalf("patched allocation %+v, want %+v", s, want)
	}
	// Bad parameters: a clear error naming the field, nothing changed.
	for body, field := range map[string]string{
		`{"policy":"allocate","allocation":{"min_grant":50}}`: "allocation.max_grant",
		`{"allocation":{"idle_seconds":0}}`:                   "allocation.idle_seconds",
		`{"allocation":{"low_water":-1}}`:                     "allocation.low_water",
	} {
		resp, b := p.do(t, "PATCH", "/api/v1/stores/"+itoa(cs.ID), adminToken, body)
		if resp.StatusCode != 400 || !strings.Contains(string(b), field) {
			t.Fatalf("PATCH %s: %d %s, want 400 naming %s", body, resp.StatusCode, b, field)
		}
	}
	p.must(t, 200, "GET", "/api/v1/stores/"+itoa(cs.ID), "", &s)
	if s.Allocation.LowWater != 3 || s.Allocation.MaxGrant != 40 || s.Policy != hubapi.PolicyAllocate {
		t.Fatalf("a refused PATCH changed the store: %+v", s)
	}

	t.Run("Enrol", func(t *testing.T) {
		var et hubapi.EnrolmentToken
		p.must(t, 201, "POST", "/api/v1/enrolment-tokens", `{"ttl_seconds":60}`, &et)
		if et.Token == "" || time.Until(et.ExpiresAt) > 61*time.Second || time.Until(et.ExpiresAt) < 30*time.Second {
			t.Fatalf("token %+v", et)
		}
		resp, b := p.do(t, "POST", "/api/v1/enrol", et.Token, `{"name":"us","url":"https://us.example"}`)
		if resp.StatusCode != 201 {
			t.Fatalf("enrol status=%d: %s", resp.StatusCode, b)
		}
		var got hubapi.CreatedStore
		json.Unmarshal(b, &got)
		if got.Policy != hubapi.PolicyMirror || got.Buffer != 0 || !strings.HasPrefix(got.Token, "swa_") {
			t.Fatalf("enrolled %+v", got)
		}
		if _, err := p.stores.AuthenticateAgent(t.Context(), got.Token); err != nil {
			t.Fatalf("enrolled credential: %v", err)
		}
		resp, b = p.do(t, "POST", "/api/v1/enrol", et.Token, `{"name":"us2","url":"https://us2.example"}`)
		if resp.StatusCode != 401 {
			t.Fatalf("reused join token status=%d: %s", resp.StatusCode, b)
		}
	})

	var list hubapi.StoreList
	p.must(t, 200, "GET", "/api/v1/stores", "", &list)
	if len(list.Stores) != 2 {
		t.Fatalf("stores %+v", list)
	}

	p.must(t, 204, "DELETE", "/api/v1/stores/"+itoa(cs.ID), "", nil)
	if got := revoked.Load(); got != cs.ID {
		t.Fatalf("OnRevoke got %d, want %d", got, cs.ID)
	}
	if _, err := p.stores.AuthenticateAgent(t.Context(), cs.Token); hub.ErrorCode(err) != hub.EUNAUTHORIZED {
		t.Fatalf("revoked credential: %v", err)
	}
}

func TestServer_Orders_PostgreSQL(t *testing.T) {
	t.Parallel()
	p := MustPGServer(t)
	var cs hubapi.CreatedStore
	p.must(t, 201, "POST", "/api/v1/stores", `{"name":"eu","url":"https://eu.example"}`, &cs)
	p.must(t, 200, "PUT", "/api/v1/skus/TEE-M/locations/main", `{"on_hand":10}`, nil)

	var feed hubapi.OrderList
	p.must(t, 200, "GET", "/api/v1/orders", "", &feed)
	if len(feed.Orders) != 0 {
		t.Fatalf("feed %+v", feed)
	}
	cursor := feed.Next

	o, err := p.orders.ApplyOrderReport(t.Context(), cs.ID, hub.OrderReport{
		WooOrderID: 101, Number: "101", Status: "processing", DateModified: time.Now(),
		Lines: []hub.OrderLine{{SKU: "TEE-M", Quantity: 3}},
	})
	if err != nil {
		t.Fatal(err)
	}
	p.must(t, 200, "GET", "/api/v1/orders?after="+cursor, "", &feed)
	if len(feed.Orders) != 1 || feed.Orders[0].WooOrderID != 101 || feed.Orders[0].Lines[0].Quantity != 3 || feed.Orders[0].StoreID != cs.ID {
		t.Fatalf("feed %+v", feed)
	}
	var got hubapi.Order
	p.must(t, 200, "POST", "/api/v1/orders/"+itoa(o.ID)+"/fulfilment", "", &got)
	if got.StockState != hubapi.OrderStateFulfilled {
		t.Fatalf("fulfilled %+v", got)
	}
	resp, b := p.do(t, "POST", "/api/v1/orders/"+itoa(o.ID)+"/fulfilment", adminToken, "")
	if resp.StatusCode != 409 {
		t.Fatalf("second fulfilment status=%d: %s", resp.StatusCode, b)
	}
	var st hubapi.SKUStock
	p.must(t, 200, "GET", "/api/v1/skus/TEE-M", "", &st)
	if st.OnHand != 7 || st.Committed != 0 {
		t.Fatalf("after fulfilment %+v", st)
	}
}

func TestServer_OrderDocument_PostgreSQL(t *testing.T) {
	t.Parallel()
	p := MustPGServer(t)
	var cs hubapi.CreatedStore
	p.must(t, 201, "POST", "/api/v1/stores", `{"name":"eu","url":"https://eu.example"}`, &cs)
	var sample struct {
		Body json.RawMessage `json:"body"`
	}
	if err := json.Unmarshal(systest.Fixture(t, "order-get.json"), &sample); err != nil {
		t.Fatal(err)
	}
	o, err := p.orders.ApplyOrderReport(t.Context(), cs.ID, hub.OrderReport{
		WooOrderID: 34, Number: "34", Status: "processing", DateModified: time.Now(),
		Lines: []hub.OrderLine{{SKU: "RW-SKU-001", Quantity: 1}}, Raw: sample.Body,
	})
	if err != nil {
		t.Fatal(err)
	}
	var got hubapi.Order
	p.must(t, 200, "GET", "/api/v1/orders/"+itoa(o.ID), "", &got)
	d := got.Document
	if d == nil {
		t.Fatalf("order without document: %+v", got)
	}
	if d.Customer.Email != "ada@example.com" || d.Billing.LastName != "Lovelace" || d.Totals.Total != "51.00" ||
		len(d.Lines) != 2 || d.Lines[1].SKU != "SAMPLE-TEE-S" || d.Lines[1].Attributes[0].Value != "S" || d.DatePaid == nil {
		t.Fatalf("document=%+v", d)
	}
	// Money stays a string on the wire.
	_, b := p.do(t, "GET", "/api/v1/orders/"+itoa(o.ID), adminToken, "")
	if !bytes.Contains(b, []byte(`"total":"51.00"`)) {
		t.Fatalf("answer %s", b)
	}
	var feed hubapi.OrderList
	p.must(t, 200, "GET", "/api/v1/orders", "", &feed)
	if len(feed.Orders) != 1 || feed.Orders[0].Document == nil || feed.Orders[0].Document.Customer.LastName != "Lovelace" {
		t.Fatalf("feed %+v", feed)
	}
}

func TestServer_Registry_PostgreSQL(t *testing.T) {
	t.Parallel()
	p := MustPGServer(t)
	p.must(t, 200, "GET", "/api/v1/stores", "", nil)
	p.do(t, "GET", "/api/v1/skus/NOPE", adminToken, "")
	if resp, _ := p.do(t, "GET", "/readyz", "", ""); resp.StatusCode != 200 {
		t.Fatalf("readyz=%d", resp.StatusCode)
	}
	problems, err := testutil.GatherAndLint(p.reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, pr := range problems {
		t.Errorf("metric %s: %s", pr.Metric, pr.Text)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
