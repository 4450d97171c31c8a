package web_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/stockwire/stockwire/hub"
	"github.com/stockwire/stockwire/hub/mock"
	"github.com/stockwire/stockwire/hub/web"
	"github.com/stockwire/stockwire/shared/hubapi"
)

const adminToken = "admin-secret-0123456789"

// fakes is a web server over function-field fakes that accept the admin
// token and one store credential.
type fakes struct {
	inv    *mock.InventoryService
	stores *mock.StoreService
	orders *mock.OrderService
	srv    *web.Server
	reg    *prometheus.Registry
	ts     *httptest.Server
	calls  atomic.Int64 // calls that would change state
}

func newFakes(t *testing.T) *fakes {
	t.Helper()
	f := &fakes{reg: prometheus.NewRegistry()}
	changed := func() { f.calls.Add(1) }
	f.inv = &mock.InventoryService{
		SetCountFn: func(ctx context.Context, c hub.Count) (hub.SKUStock, error) {
			changed()
			return hub.SKUStock{SKU: c.SKU, OnHand: c.OnHand, Available: c.OnHand, Locations: map[string]int64{c.Location: c.OnHand}}, nil
		},
		SetSafetyStockFn: func(ctx context.Context, sku string, n int64, actor string) (hub.SKUStock, error) {
			changed()
			return hub.SKUStock{SKU: sku, SafetyStock: n}, nil
		},
		AdjustFn: func(ctx context.Context, a hub.Adjustment) (hub.LedgerEntry, error) {
			changed()
			return hub.LedgerEntry{ID: 1, SKU: a.SKU, After: a.Delta}, nil
		},
		ImportFn: func(ctx context.Context, counts []hub.Count) (int, error) {
			changed()
			return len(counts), nil
		},
		StockFn: func(ctx context.Context, sku string) (hub.SKUStock, error) {
			if sku == "KNOWN" {
				return hub.SKUStock{SKU: sku}, nil
			}
			return hub.SKUStock{}, hub.FieldErrorf("sku", hub.ENOTFOUND, "Unknown SKU %q.", sku)
		},
		ListStockFn: func(ctx context.Context, p hub.Page) ([]hub.SKUStock, error) { return nil, nil },
		LedgerFn:    func(ctx context.Context, sku string, p hub.Page) ([]hub.LedgerEntry, error) { return nil, nil },
	}
	f.stores = &mock.StoreService{
		AuthenticateAgentFn: func(ctx context.Context, token string) (hub.Store, error) {
			if token == "legacy-store-cred" {
				return hub.Store{ID: 7}, nil
			}
			return hub.Store{}, hub.Errorf(hub.EUNAUTHORIZED, "no")
		},
		CreateFn: func(ctx context.Context, s hub.NewStore) (hub.Store, string, error) {
			if s.Name == "taken" {
				return hub.Store{}, "", hub.FieldErrorf("name", hub.ECONFLICT, "Store name %q is taken.", s.Name)
			}
			changed()
			return hub.Store{ID: 1, Name: s.Name}, "swa_x", nil
		},
		StoreFn: func(ctx context.Context, id int64) (hub.Store, error) {
			return hub.Store{}, hub.Errorf(hub.ENOTFOUND, "No store %d.", id)
		},
		RevokeFn: func(ctx context.Context, id int64) error {
			if id == 1 {
				changed()
				return nil
			}
			return hub.Errorf(hub.ENOTFOUND, "No store %d.", id)
		},
		EnrolFn: func(ctx context.Context, join string, s hub.NewStore) (hub.Store, string, error) {
			if join != "join-ok" {
				return hub.Store{}, "", hub.Errorf(hub.EUNAUTHORIZED, "Invalid join token.")
			}
			changed()
			return hub.Store{ID: 2, Name: s.Name, Policy: s.Policy}, "swa_y", nil
		},
		CreateEnrolmentTokenFn: func(ctx context.Context, ttl time.Duration) (string, time.Time, error) {
			return "join", time.Now().Add(ttl), nil
		},
	}
	f.orders = &mock.OrderService{
		OrdersFn: func(ctx context.Context, p hub.Page) ([]hub.Order, string, error) {
			return nil, "", nil
		},
		FulfilFn: func(ctx context.Context, id int64, actor string) (hub.Order, error) {
			return hub.Order{}, hub.Errorf(hub.ECONFLICT, "Order %d is not committed.", id)
		},
		OrderFn: func(ctx context.Context, id int64) (hub.Order, error) {
			return hub.Order{}, hub.Errorf(hub.ENOTFOUND, "Order %d not found.", id)
		},
	}
	f.srv = web.NewServer(slog.New(slog.NewTextHandler(t.Output(), nil)), f.reg)
	f.srv.Inventory, f.srv.Stores, f.srv.Orders = f.inv, f.stores, f.orders
	f.srv.Admin = &mock.AdminAuth{CheckAdminTokenFn: func(ctx context.Context, token string) error {
		if token == adminToken {
			return nil
		}
		return hub.Errorf(hub.EUNAUTHORIZED, "Invalid admin token.")
	}}
	f.srv.MaxJSONBytes = 1024
	f.srv.MaxCSVBytes = 4096
	f.ts = httptest.NewServer(f.srv)
	t.Cleanup(f.ts.Close)
	return f
}

func (f *fakes) do(t *testing.T, method, path, token, body string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, f.ts.URL+path, strings.NewReader(body))
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

// inputErrorCase is one rejected request: its status, error code and field.
type inputErrorCase struct {
	name, method, path, token, body string
	status                          int
	code, field                     string
}

// fakeOnly names the cases that need a fake's behaviour: a credential
// without the swa_ prefix that AuthenticateAgent accepts, an order that
// exists but is not committed.
var fakeOnly = map[string]bool{"StoreCredentialWithoutPrefix": true, "FulfilNotCommitted": true}

// inputErrorCases are the rejected inputs, run against fakes and against
// real PostgreSQL.
func inputErrorCases() []inputErrorCase {
	big := `{"on_hand": 1, "reason": "` + strings.Repeat("x", 2000) + `"}`
	var bigCSV strings.Builder
	for i := range 1000 {
		fmt.Fprintf(&bigCSV, "SKU-%d,main,1\n", i)
	}
	return []inputErrorCase{
		{"BadJSON", "PUT", "/api/v1/skus/A/locations/main", adminToken, `{"on_hand":`, 400, hub.EINVALID, ""},
		{"NotJSON", "PUT", "/api/v1/skus/A/locations/main", adminToken, `hello`, 400, hub.EINVALID, ""},
		{"EmptyBody", "PUT", "/api/v1/skus/A/locations/main", adminToken, ``, 400, hub.EINVALID, ""},
		{"NegativeCount", "PUT", "/api/v1/skus/A/locations/main", adminToken, `{"on_hand":-1}`, 400, hub.EINVALID, "on_hand"},
		{"FractionalCount", "PUT", "/api/v1/skus/A/locations/main", adminToken, `{"on_hand":1.5}`, 400, hub.EINVALID, "on_hand"},
		{"StringCount", "PUT", "/api/v1/skus/A/locations/main", adminToken, `{"on_hand":"3"}`, 400, hub.EINVALID, "on_hand"},
		{"MissingCount", "PUT", "/api/v1/skus/A/locations/main", adminToken, `{}`, 400, hub.EINVALID, "on_hand"},
		{"UnknownField", "PUT", "/api/v1/skus/A/locations/main", adminToken, `{"on_hand":1,"onhand":2}`, 400, hub.EINVALID, "onhand"},
		{"TrailingData", "PUT", "/api/v1/skus/A/locations/main", adminToken, `{"on_hand":1} {"on_hand":2}`, 400, hub.EINVALID, ""},
		{"TrailingGarbage", "PUT", "/api/v1/skus/A/locations/main", adminToken, `{"on_hand":1}x`, 400, hub.EINVALID, ""},
		{"Oversized", "PUT", "/api/v1/skus/A/locations/main", adminToken, big, 413, hub.ETOOLARGE, ""},
		{"NegativeSafetyStock", "PUT", "/api/v1/skus/A/safety-stock", adminToken, `{"safety_stock":-2}`, 400, hub.EINVALID, "safety_stock"},
		{"FractionalDelta", "POST", "/api/v1/adjustments", adminToken, `{"sku":"A","location":"main","delta":0.5}`, 400, hub.EINVALID, "delta"},
		{"ZeroDelta", "POST", "/api/v1/adjustments", adminToken, `{"sku":"A","location":"main","delta":0}`, 400, hub.EINVALID, "delta"},
		{"AdjustNoSKU", "POST", "/api/v1/adjustments", adminToken, `{"location":"main","delta":3}`, 400, hub.EINVALID, "sku"},
		{"SKUTooLong", "PUT", "/api/v1/skus/" + strings.Repeat("x", hub.MaxNameBytes+1) + "/locations/main", adminToken, `{"on_hand":1}`, 400, hub.EINVALID, "sku"},
		{"StoreNameTooLong", "POST", "/api/v1/stores", adminToken, `{"name":"` + strings.Repeat("n", hub.MaxNameBytes+1) + `","url":"https://a.example"}`, 400, hub.EINVALID, "name"},
		{"MissingToken", "GET", "/api/v1/skus/KNOWN", "", ``, 401, hub.EUNAUTHORIZED, ""},
		{"WrongToken", "GET", "/api/v1/skus/KNOWN", "nope", ``, 401, hub.EUNAUTHORIZED, ""},
		{"WrongTokenWrite", "PUT", "/api/v1/skus/A/locations/main", "nope", `{"on_hand":1}`, 401, hub.EUNAUTHORIZED, ""},
		{"StoreCredentialPrefix", "GET", "/api/v1/stores", "swa_abcdef", ``, 403, hub.EFORBIDDEN, ""},
		// A store credential without the prefix is just a wrong admin token:
		// the answer must not tell a valid credential from a guess.
		{"StoreCredentialWithoutPrefix", "PUT", "/api/v1/skus/A/locations/main", "legacy-store-cred", `{"on_hand":1}`, 401, hub.EUNAUTHORIZED, ""},
		{"UnknownSKU", "GET", "/api/v1/skus/NOPE", adminToken, ``, 404, hub.ENOTFOUND, "sku"},
		{"UnknownRoute", "GET", "/api/v1/nothing", adminToken, ``, 404, hub.ENOTFOUND, ""},
		{"WrongMethod", "POST", "/api/v1/skus", adminToken, `{}`, 405, hubapi.CodeMethodNotAllowed, ""},
		{"DuplicateStoreName", "POST", "/api/v1/stores", adminToken, `{"name":"taken","url":"https://a.example"}`, 409, hub.ECONFLICT, "name"},
		{"BadPolicy", "POST", "/api/v1/stores", adminToken, `{"name":"s","url":"https://a.example","policy":"greedy"}`, 400, hub.EINVALID, "policy"},
		{"BadURL", "POST", "/api/v1/stores", adminToken, `{"name":"s","url":"ftp://a"}`, 400, hub.EINVALID, "url"},
		{"NegativeBuffer", "POST", "/api/v1/stores", adminToken, `{"name":"s","url":"https://a.example","buffer":-1}`, 400, hub.EINVALID, "buffer"},
		{"BadStoreID", "GET", "/api/v1/stores/abc", adminToken, ``, 400, hub.EINVALID, "id"},
		{"UnknownStore", "GET", "/api/v1/stores/99", adminToken, ``, 404, hub.ENOTFOUND, ""},
		{"RevokeUnknownStore", "DELETE", "/api/v1/stores/99", adminToken, ``, 404, hub.ENOTFOUND, ""},
		{"BadTTL", "POST", "/api/v1/enrolment-tokens", adminToken, `{"ttl_seconds":0}`, 400, hub.EINVALID, "ttl_seconds"},
		{"EnrolNoToken", "POST", "/api/v1/enrol", "", `{"name":"s","url":"https://a.example"}`, 401, hub.EUNAUTHORIZED, ""},
		{"EnrolBadToken", "POST", "/api/v1/enrol", "join-bad", `{"name":"s","url":"https://a.example"}`, 401, hub.EUNAUTHORIZED, ""},
		{"EnrolPolicyField", "POST", "/api/v1/enrol", "join-ok", `{"name":"s","url":"https://a.example","policy":"allocate"}`, 400, hub.EINVALID, "policy"},
		{"BadLimit", "GET", "/api/v1/skus?limit=0", adminToken, ``, 400, hub.EINVALID, "limit"},
		{"HugeLimit", "GET", "/api/v1/orders?limit=100000", adminToken, ``, 400, hub.EINVALID, "limit"},
		{"BadLedgerCursor", "GET", "/api/v1/ledger?after=x", adminToken, ``, 400, hub.EINVALID, "after"},
		{"FulfilNotCommitted", "POST", "/api/v1/orders/5/fulfilment", adminToken, ``, 409, hub.ECONFLICT, ""},
		{"BadOrderID", "GET", "/api/v1/orders/abc", adminToken, ``, 400, hub.EINVALID, "id"},
		{"UnknownOrder", "GET", "/api/v1/orders/99", adminToken, ``, 404, hub.ENOTFOUND, ""},
		{"OrderWithoutAdminToken", "GET", "/api/v1/orders/99", "", ``, 401, hub.EUNAUTHORIZED, ""},
		{"OrderWithStoreCredential", "GET", "/api/v1/orders/99", "swa_abcdef", ``, 403, hub.EFORBIDDEN, ""},
		{"CSVBadLines", "POST", "/api/v1/stock/import", adminToken, "sku,location,on_hand\nA,main,1\nB,main,-1\nC,,2\nD,main,x\nE,main\nA,main,3\n", 422, hub.EUNPROCESSABLE, ""},
		{"CSVEmpty", "POST", "/api/v1/stock/import", adminToken, "sku,location,on_hand\n", 400, hub.EINVALID, "body"},
		{"CSVOversized", "POST", "/api/v1/stock/import", adminToken, bigCSV.String(), 413, hub.ETOOLARGE, ""},
	}
}

// runInputErrors sends each case and checks the error answer; changed
// reports whether state changed since before the case.
func runInputErrors(t *testing.T, do func(t *testing.T, method, path, token, body string) (*http.Response, []byte), real bool, changed func() bool) {
	for _, tt := range inputErrorCases() {
		if real && fakeOnly[tt.name] {
			continue
		}
		t.Run(tt.name, func(t *testing.T) {
			resp, b := do(t, tt.method, tt.path, tt.token, tt.body)
			if got, want := resp.StatusCode, tt.status; got != want {
				t.Fatalf("status=%d, want %d: %s", got, want, b)
			}
			var eb hubapi.ErrorBody
			if err := json.Unmarshal(b, &eb); err != nil {
				t.Fatalf("decode error body %q: %v", b, err)
			}
			if got, want := eb.Error.Code, tt.code; got != want {
				t.Fatalf("code=%q, want %q (%s)", got, want, b)
			}
			if got, want := eb.Error.Field, tt.field; got != want {
				t.Fatalf("field=%q, want %q (%s)", got, want, b)
			}
			if eb.Error.Message == "" {
				t.Fatal("empty message")
			}
			if got := resp.Header.Get("Content-Type"); got != "application/json" {
				t.Fatalf("Content-Type=%q", got)
			}
			if changed() {
				t.Fatal("a rejected request changed state")
			}
		})
	}
}

func TestServer_InputErrors(t *testing.T) {
	t.Parallel()
	f := newFakes(t)
	runInputErrors(t, f.do, false, func() bool { return f.calls.Load() != 0 })
}

func TestServer_ImportLineNumbers(t *testing.T) {
	t.Parallel()
	f := newFakes(t)
	resp, b := f.do(t, "POST", "/api/v1/stock/import", adminToken,
		"sku,location,on_hand\nA,main,1\nB,main,-1\nC,,2\nD,main,1.5\nE,main\nA,main,3\n\"F,main,1\n")
	if resp.StatusCode != 422 {
		t.Fatalf("status=%d: %s", resp.StatusCode, b)
	}
	var eb hubapi.ErrorBody
	if err := json.Unmarshal(b, &eb); err != nil {
		t.Fatal(err)
	}
	var lines []int
	for _, l := range eb.Error.Lines {
		lines = append(lines, l.Line)
	}
	if got, want := lines, []int{3, 4, 5, 6, 7, 8}; !equalInts(got, want) {
		t.Fatalf("lines=%v, want %v (%s)", got, want, b)
	}
	if !strings.Contains(eb.Error.Lines[3].Message, "3 fields") || !strings.Contains(eb.Error.Lines[4].Message, "line 2") {
		t.Fatalf("messages do not explain: %s", b)
	}

	t.Run("HeaderOptional", func(t *testing.T) {
		resp, b := f.do(t, "POST", "/api/v1/stock/import", adminToken, "\ufeffsku,location,on_hand\nA,main,1\nB,back,2\n")
		if resp.StatusCode != 200 || !strings.Contains(string(b), `"imported":2`) {
			t.Fatalf("status=%d: %s", resp.StatusCode, b)
		}
	})
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestServer_InternalErrorHidden(t *testing.T) {
	t.Parallel()
	f := newFakes(t)
	f.inv.StockFn = func(ctx context.Context, sku string) (hub.SKUStock, error) {
		return hub.SKUStock{}, io.ErrUnexpectedEOF
	}
	resp, b := f.do(t, "GET", "/api/v1/skus/A", adminToken, "")
	if resp.StatusCode != 500 || !strings.Contains(string(b), `"Internal error."`) || strings.Contains(string(b), "EOF") {
		t.Fatalf("status=%d: %s", resp.StatusCode, b)
	}
}

func TestServer_Revoke(t *testing.T) {
	t.Parallel()
	f := newFakes(t)
	var revoked atomic.Int64
	f.srv.OnRevoke = func(id int64) { revoked.Store(id) }
	resp, b := f.do(t, "DELETE", "/api/v1/stores/1", adminToken, "")
	if resp.StatusCode != 204 {
		t.Fatalf("status=%d: %s", resp.StatusCode, b)
	}
	if got := revoked.Load(); got != 1 {
		t.Fatalf("OnRevoke got %d, want 1", got)
	}
}

func TestServer_Enrol(t *testing.T) {
	t.Parallel()
	f := newFakes(t)
	resp, b := f.do(t, "POST", "/api/v1/enrol", "join-ok", `{"name":"eu","url":"https://eu.example"}`)
	if resp.StatusCode != 201 {
		t.Fatalf("status=%d: %s", resp.StatusCode, b)
	}
	var cs hubapi.CreatedStore
	if err := json.Unmarshal(b, &cs); err != nil {
		t.Fatal(err)
	}
	if cs.ID != 2 || cs.Token != "swa_y" || cs.Policy != hubapi.PolicyMirror {
		t.Fatalf("got %+v", cs)
	}
}

func TestServer_Probes(t *testing.T) {
	t.Parallel()
	f := newFakes(t)
	if resp, b := f.do(t, "GET", "/healthz", "", ""); resp.StatusCode != 200 {
		t.Fatalf("healthz=%d %s", resp.StatusCode, b)
	}
	if resp, b := f.do(t, "GET", "/readyz", "", ""); resp.StatusCode != 200 {
		t.Fatalf("readyz=%d %s", resp.StatusCode, b)
	}
	f.srv.Ready = func(ctx context.Context) error { return io.EOF }
	if resp, b := f.do(t, "GET", "/readyz", "", ""); resp.StatusCode != 503 {
		t.Fatalf("readyz down=%d %s", resp.StatusCode, b)
	}
}

func TestServer_Metrics(t *testing.T) {
	t.Parallel()
	f := newFakes(t)
	f.do(t, "GET", "/api/v1/skus/NOPE", adminToken, "")
	f.do(t, "GET", "/api/v1/skus/KNOWN", adminToken, "")
	resp, b := f.do(t, "GET", "/metrics", "", "")
	if resp.StatusCode != 200 || !strings.Contains(string(b), `stockwire_hub_http_requests_total{code="404",handler="GET /api/v1/skus/{sku}"} 1`) {
		t.Fatalf("metrics=%d:\n%s", resp.StatusCode, b)
	}
	problems, err := testutil.GatherAndLint(f.reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("metric %s: %s", p.Metric, p.Text)
	}
}

// TestOpenAPI_MatchesRouter checks the document and the router name the same
// paths and methods, both ways.
func TestOpenAPI_MatchesRouter(t *testing.T) {
	t.Parallel()
	f := newFakes(t)
	f.srv.AgentHandler = http.NotFoundHandler()
	var doc struct {
		OpenAPI string                                `json:"openapi"`
		Paths   map[string]map[string]json.RawMessage `json:"paths"`
	}
	resp, b := f.do(t, "GET", "/api/v1/openapi.json", "", "")
	if resp.StatusCode != 200 {
		t.Fatalf("status=%d", resp.StatusCode)
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Fatalf("openapi=%q", doc.OpenAPI)
	}
	documented := map[string]bool{}
	for path, ops := range doc.Paths {
		for method := range ops {
			if method == "parameters" || method == "summary" || method == "description" {
				continue
			}
			documented[strings.ToUpper(method)+" "+path] = true
		}
	}
	routed := map[string]bool{}
	for _, p := range f.srv.Patterns() {
		routed[p] = true
		if !documented[p] {
			t.Errorf("route %q is not in openapi.json", p)
		}
	}
	for p := range documented {
		if !routed[p] {
			t.Errorf("openapi.json documents %q, which is not routed", p)
		}
	}
}

// TestOpenAPI_RefsResolve checks every $ref of the document points at a
// component it defines.
func TestOpenAPI_RefsResolve(t *testing.T) {
	t.Parallel()
	var doc map[string]any
	if err := json.Unmarshal(web.OpenAPI, &doc); err != nil {
		t.Fatal(err)
	}
	components := doc["components"].(map[string]any)
	var walk func(v any)
	n := 0
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			if ref, ok := v["$ref"].(string); ok {
				n++
				parts := strings.Split(strings.TrimPrefix(ref, "#/components/"), "/")
				if len(parts) != 2 {
					t.Errorf("bad $ref %q", ref)
					return
				}
				kind, _ := components[parts[0]].(map[string]any)
				if _, ok := kind[parts[1]]; !ok {
					t.Errorf("$ref %q does not resolve", ref)
				}
			}
			for _, e := range v {
				walk(e)
			}
		case []any:
			for _, e := range v {
				walk(e)
			}
		}
	}
	walk(doc)
	if n == 0 {
		t.Fatal("no $ref found")
	}
}

// TestServer_IntegerErrorsSayWhich: an integer too large for its field is
// out of range, not "not an integer".
func TestServer_IntegerErrorsSayWhich(t *testing.T) {
	t.Parallel()
	f := newFakes(t)
	for body, want := range map[string]string{
		`{"on_hand":12345678901234567890}`:  "on_hand is out of range.",
		`{"on_hand":-12345678901234567890}`: "on_hand is out of range.",
		`{"on_hand":1.5}`:                   "on_hand must be an integer.",
	} {
		resp, b := f.do(t, "PUT", "/api/v1/skus/A/locations/main", adminToken, body)
		var eb hubapi.ErrorBody
		if err := json.Unmarshal(b, &eb); err != nil || resp.StatusCode != 400 || eb.Error.Message != want {
			t.Fatalf("%s: %d %s, want 400 %q", body, resp.StatusCode, b, want)
		}
	}
}
