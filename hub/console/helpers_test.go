package console_test

import (
	"context"
	"database/sql"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stockwire/stockwire/hub"
	"github.com/stockwire/stockwire/hub/console"
	"github.com/stockwire/stockwire/hub/postgres"
	"github.com/stockwire/stockwire/hub/postgres/postgrestest"
	"github.com/stockwire/stockwire/hub/web"
	"github.com/stockwire/stockwire/shared/pgtest"
)

func TestMain(m *testing.M) { postgrestest.MainNoLeaks(m) }

const adminToken = "console-test-admin-token-0123"

// clock is a settable time for session expiry.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// testConsole is a console on the real services of a fresh database,
// served by hub/web as the hub serves it.
type testConsole struct {
	dsn     string
	console *console.Console
	web     *web.Server
	inv     *postgres.InventoryService
	stores  *postgres.StoreService
	admin   *postgres.AdminAuth
	clock   *clock
	ts      *httptest.Server
}

func MustConsole(t *testing.T, tls bool) *testConsole {
	t.Helper()
	logger := slog.New(slog.NewTextHandler(t.Output(), nil))
	dsn := pgtest.NewDB(t)
	db, err := postgres.Open(t.Context(), dsn, logger)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	admin := postgres.NewAdminAuth(db)
	if _, err := admin.Ensure(t.Context(), adminToken); err != nil {
		t.Fatal(err)
	}
	tc := &testConsole{dsn: dsn, inv: postgres.NewInventoryService(db), stores: postgres.NewStoreService(db),
		admin: admin, clock: &clock{now: time.Now()}}
	orders := postgres.NewOrderService(db)
	tc.web = web.NewServer(logger, nil)
	tc.web.AuthFailureBurst = 3
	tc.web.Inventory, tc.web.Stores, tc.web.Orders, tc.web.Admin = tc.inv, tc.stores, orders, admin
	c := console.New(logger)
	svc := postgres.NewConsoleService(db)
	c.Admin, c.Sessions, c.Queries = admin, svc, svc
	c.Stores, c.Inventory, c.Orders = tc.stores, tc.inv, orders
	c.Allocation, c.Webhooks = postgres.NewAllocationService(db), postgres.NewWebhookService(db)
	c.Limiter = tc.web.AuthFailures()
	c.Now = tc.clock.Now
	c.PollInterval = 50 * time.Millisecond
	c.Register(tc.web.Mount)
	tc.console = c
	if tls {
		tc.ts = httptest.NewTLSServer(tc.web)
	} else {
		tc.ts = httptest.NewServer(tc.web)
	}
	t.Cleanup(tc.ts.Close)
	t.Cleanup(func() { c.Close() })
	return tc
}

// MustExec runs a statement on the console's database, for state no
// service of the test sets (what an agent reported).
func (tc *testConsole) MustExec(t *testing.T, query string, args ...any) {
	t.Helper()
	db, err := sql.Open("postgres", tc.dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.ExecContext(t.Context(), query, args...); err != nil {
		t.Fatal(err)
	}
}

// browser is an HTTP client with a cookie jar that does not follow
// redirects, so that tests see them.
type browser struct {
	t      *testing.T
	client *http.Client
	base   string
}

func (tc *testConsole) Browser(t *testing.T) *browser {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	client := tc.ts.Client()
	client = &http.Client{Transport: client.Transport, Jar: jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return &browser{t: t, client: client, base: tc.ts.URL}
}

// Do sends a request as a same-origin browser would (Origin on POST) and
// returns the answer with its body.
func (b *browser) Do(method, path string, form url.Values) (*http.Response, string) {
	b.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequestWithContext(b.t.Context(), method, b.base+path, body)
	if err != nil {
		b.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", b.base)
	}
	resp, err := b.client.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		b.t.Fatal(err)
	}
	return resp, string(data)
}

// MustLogin logs in with the admin token.
func (b *browser) MustLogin() {
	b.t.Helper()
	resp, body := b.Do("POST", "/login", url.Values{"token": {adminToken}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/" {
		b.t.Fatalf("login: %d %s: %s", resp.StatusCode, resp.Header.Get("Location"), body)
	}
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// MustCSRF returns the CSRF token of a page's forms.
func (b *browser) MustCSRF(path string) string {
	b.t.Helper()
	resp, body := b.Do("GET", path, nil)
	m := csrfField.FindStringSubmatch(body)
	if resp.StatusCode != http.StatusOK || m == nil {
		b.t.Fatalf("GET %s: %d, no csrf field: %s", path, resp.StatusCode, body)
	}
	return m[1]
}

// MustStore creates a mirror store.
func (tc *testConsole) MustStore(t *testing.T, name string, buffer int64) hub.Store {
	t.Helper()
	st, _, err := tc.stores.Create(t.Context(), hub.NewStore{Name: name, URL: "https://" + name + ".example", Policy: hub.PolicyMirror, Buffer: buffer})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// waitCtx bounds a wait generously: the machine is shared.
func waitCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}
