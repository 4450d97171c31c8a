package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/stockwire/stockwire/hub/postgres/postgrestest"
	"github.com/stockwire/stockwire/shared/hubapi"
	"github.com/stockwire/stockwire/shared/pgtest"
	"github.com/stockwire/stockwire/shared/systest"
)

func TestMain(m *testing.M) { postgrestest.Main(m) }

// MustRunMain runs a hub Main on 127.0.0.1:0 over a fresh pgtest database.
func MustRunMain(tb testing.TB, adminToken string) (*Main, *systest.SyncBuffer) {
	tb.Helper()
	m := NewMain()
	stderr := &systest.SyncBuffer{}
	m.Stderr = stderr
	m.Config.Listen = "127.0.0.1:0"
	m.Config.DatabaseURL = pgtest.NewDB(tb)
	m.Config.DataDir = tb.TempDir()
	m.Config.AdminToken = adminToken
	m.Config.LogFormat = "text"
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := m.Run(ctx); err != nil {
		m.Close()
		tb.Fatalf("run hub: %v\n%s", err, stderr)
	}
	tb.Cleanup(func() {
		if err := m.Close(); err != nil {
			tb.Errorf("close hub: %v", err)
		}
	})
	return m, stderr
}

// env is a LookupEnv over a map.
func env(vars map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := vars[k]; return v, ok }
}

const testAdminToken = "test-admin-token-0123456789"

func TestMain_EndToEnd(t *testing.T) {
	m, stderr := MustRunMain(t, testAdminToken)
	base := "http://" + m.Addr()
	lookup := env(map[string]string{"STOCKWIRE_HUB": base, "STOCKWIRE_ADMIN_TOKEN": testAdminToken})
	ctx := t.Context()
	cli := func(t *testing.T, args ...string) string {
		t.Helper()
		var out, errOut bytes.Buffer
		if err := run(ctx, args, &out, &errOut, lookup); err != nil {
			t.Fatalf("hub %s: %v\n%s", strings.Join(args, " "), err, errOut.String())
		}
		return out.String()
	}

	// Create a store through the CLI.
	out := cli(t, "stores", "add", "--name", "eu", "--url", "https://eu.example", "--buffer", "2")
	tok := regexp.MustCompile(`agent token \(shown once\): (\S+)`).FindStringSubmatch(out)
	if tok == nil || !strings.HasPrefix(tok[1], "swa_") {
		t.Fatalf("stores add printed %q", out)
	}
	if strings.Contains(stderr.String(), tok[1]) {
		t.Fatal("the store credential was logged")
	}
	if out := cli(t, "stores", "list"); !strings.Contains(out, "eu") || !strings.Contains(out, "mirror") {
		t.Fatalf("stores list printed %q", out)
	}
	if out := cli(t, "stores", "set", "--max-grant", "30", "--idle-seconds", "20", "1"); !strings.Contains(out, "policy mirror") ||
		!strings.Contains(out, "grants 5..30") || !strings.Contains(out, "idle after 20s") {
		t.Fatalf("stores set printed %q", out)
	}
	if out := cli(t, "stores", "set", "1", "--buffer", "2", "--edit-location", "backroom"); !strings.Contains(out, "policy mirror, buffer 2, edit location backroom") {
		t.Fatalf("stores set printed %q", out)
	}
	if err := run(ctx, []string{"stores", "set", "--min-grant", "0", "1"}, &bytes.Buffer{}, &bytes.Buffer{}, lookup); hubapi.ErrorCode(err) != hubapi.CodeInvalid {
		t.Fatalf("stores set --min-grant 0: %v, want %s", err, hubapi.CodeInvalid)
	}

	// Set counts, then read them back: the SKU as --sku or as the
	// operand, before or after the flags.
	cli(t, "stock", "set", "--sku", "TEE-M", "--location", "main", "--on-hand", "40")
	cli(t, "stock", "set", "TEE-M", "--location", "back", "--on-hand", "5")
	if err := run(ctx, []string{"stock", "set", "TEE-M", "--location", "back"}, &bytes.Buffer{}, &bytes.Buffer{}, lookup); err == nil {
		t.Fatal("stock set without --on-hand: no error")
	}
	var st hubapi.SKUStock
	if err := json.Unmarshal([]byte(cli(t, "stock", "show", "--sku", "TEE-M")), &st); err != nil {
		t.Fatal(err)
	}
	var again hubapi.SKUStock
	if err := json.Unmarshal([]byte(cli(t, "stock", "show", "TEE-M")), &again); err != nil || again.OnHand != st.OnHand {
		t.Fatalf("stock show TEE-M: %+v, %v", again, err)
	}
	for _, group := range []string{"stores", "stock"} {
		var out bytes.Buffer
		if err := run(ctx, []string{group, "--help"}, &out, &bytes.Buffer{}, lookup); err != nil || !strings.Contains(out.String(), "usage: hub "+group) {
			t.Fatalf("hub %s --help: %v, %q", group, err, out.String())
		}
	}
	if got, want := st.OnHand, int64(45); got != want {
		t.Fatalf("OnHand=%d, want %d", got, want)
	}
	if got, want := st.Locations["main"], int64(40); got != want {
		t.Fatalf("Locations[main]=%d, want %d", got, want)
	}
	if got, want := st.Available, int64(45); got != want {
		t.Fatalf("Available=%d, want %d", got, want)
	}
	if len(st.Targets) != 1 {
		t.Fatalf("Targets=%v, want one store", st.Targets)
	}
	for _, v := range st.Targets {
		if got, want := v, int64(43); got != want {
			t.Fatalf("target=%d, want %d (available − buffer)", got, want)
		}
	}

	// Import all or nothing.
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.csv")
	os.WriteFile(bad, []byte("sku,location,on_hand\nTEE-M,main,7\nTEE-L,main,-3\n"), 0o644)
	var o, e bytes.Buffer
	err := run(ctx, []string{"stock", "import", bad}, &o, &e, lookup)
	if got := hubapi.ErrorCode(err); got != hubapi.CodeUnprocessable || !strings.Contains(err.Error(), "line 3") {
		t.Fatalf("bad import: %v", err)
	}
	good := filepath.Join(dir, "good.csv")
	os.WriteFile(good, []byte("TEE-M,main,7\nTEE-L,main,3\n"), 0o644)
	if out := cli(t, "stock", "import", good); !strings.Contains(out, "imported 2") {
		t.Fatalf("import printed %q", out)
	}
	st = hubapi.SKUStock{}
	json.Unmarshal([]byte(cli(t, "stock", "show", "TEE-M")), &st)
	if got, want := st.OnHand, int64(12); got != want {
		t.Fatalf("after import OnHand=%d, want %d", got, want)
	}

	// The store credential cannot call admin routes.
	req, _ := http.NewRequestWithContext(ctx, "GET", base+"/api/v1/skus/TEE-M", nil)
	req.Header.Set("Authorization", "Bearer "+tok[1])
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got, want := resp.StatusCode, http.StatusForbidden; got != want {
		t.Fatalf("store credential status=%d, want %d", got, want)
	}

	// Probes and metrics.
	for _, p := range []string{"/healthz", "/readyz", "/metrics", "/api/v1/openapi.json"} {
		resp, err := http.Get(base + p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("GET %s=%d", p, resp.StatusCode)
		}
	}
	problems, err := testutil.GatherAndLint(m.Registry)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("metric %s: %s", p.Metric, p.Text)
	}
	// Every active store's agent state, labelled by store (no agent here:
	// not connected).
	want := `
# HELP stockwire_hub_store_agent_connected 1 when the store's agent holds a live session with a hub replica.
# TYPE stockwire_hub_store_agent_connected gauge
stockwire_hub_store_agent_connected{store="eu",store_id="1"} 0
`
	if err := testutil.GatherAndCompare(m.Registry, strings.NewReader(want), "stockwire_hub_store_agent_connected"); err != nil {
		t.Fatal(err)
	}
	if n, err := testutil.GatherAndCount(m.Registry, "stockwire_hub_http_requests_total"); err != nil || n == 0 {
		t.Fatalf("stockwire_hub_http_requests_total series=%d, err=%v", n, err)
	}
	if strings.Contains(stderr.String(), testAdminToken) {
		t.Fatal("the admin token was logged")
	}

	// Revoke.
	cli(t, "stores", "revoke", "1")
	if out := cli(t, "stores", "list"); !strings.Contains(out, "revoked") {
		t.Fatalf("stores list after revoke printed %q", out)
	}

	// Close stops serving; a second Close is harmless.
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := http.Get(base + "/healthz"); err == nil {
		t.Fatal("hub still serving after Close")
	}
}

func TestMain_GeneratedAdminToken(t *testing.T) {
	m, stderr := MustRunMain(t, "")
	tok := regexp.MustCompile(`swadm_\S+`).FindString(stderr.String())
	if tok == "" {
		t.Fatalf("no generated token on stderr:\n%s", stderr)
	}
	if got := strings.Count(stderr.String(), tok); got != 1 {
		t.Fatalf("token printed %d times, want once", got)
	}
	req, _ := http.NewRequestWithContext(t.Context(), "GET", "http://"+m.Addr()+"/api/v1/stores", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("status=%d with the generated token", resp.StatusCode)
	}
}

func TestMain_ParseFlags(t *testing.T) {
	t.Parallel()
	t.Run("EnvFallback", func(t *testing.T) {
		m := NewMain()
		m.Stderr = &bytes.Buffer{}
		m.LookupEnv = env(map[string]string{"STOCKWIRE_LISTEN": "127.0.0.1:9999", "DATABASE_URL": "postgres://x/y", "STOCKWIRE_LOG_LEVEL": "debug"})
		if err := m.ParseFlags([]string{"--log-format", "text"}); err != nil {
			t.Fatal(err)
		}
		c := m.Config
		if c.Listen != "127.0.0.1:9999" || c.DatabaseURL != "postgres://x/y" || c.LogLevel != "debug" || c.LogFormat != "text" {
			t.Fatalf("config %+v", c)
		}
	})
	t.Run("FlagBeatsEnv", func(t *testing.T) {
		m := NewMain()
		m.Stderr = &bytes.Buffer{}
		m.LookupEnv = env(map[string]string{"STOCKWIRE_DATABASE_URL": "postgres://env/a", "DATABASE_URL": "postgres://env/b"})
		if err := m.ParseFlags([]string{"--database-url", "postgres://flag/c"}); err != nil {
			t.Fatal(err)
		}
		if got := m.Config.DatabaseURL; got != "postgres://flag/c" {
			t.Fatalf("DatabaseURL=%q", got)
		}
	})
	t.Run("Defaults", func(t *testing.T) {
		m := NewMain()
		m.Stderr = &bytes.Buffer{}
		m.LookupEnv = env(nil)
		if err := m.ParseFlags(nil); err != nil {
			t.Fatal(err)
		}
		if m.Config.Listen != "127.0.0.1:8080" || m.Config.DataDir != "./stockwire-data" {
			t.Fatalf("config %+v", m.Config)
		}
	})
	for _, tt := range []struct {
		name string
		args []string
		want string
	}{
		{"BadLogFormat", []string{"--log-format", "xml"}, "--log-format"},
		{"BadLogLevel", []string{"--log-level", "loud"}, "--log-level"},
		{"HalfTLS", []string{"--tls-cert", "c.pem"}, "--tls-cert"},
		{"BadListen", []string{"--listen", "nope"}, "--listen"},
		{"Extra", []string{"x"}, "unexpected argument"},
		{"ShortAdminToken", []string{"--admin-token", "fifteen-chars-x"}, "at least 16 characters"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			m := NewMain()
			m.Stderr = &bytes.Buffer{}
			m.LookupEnv = env(nil)
			err := m.ParseFlags(tt.args)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err=%v, want mention of %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "fifteen-chars-x") {
				t.Fatalf("err=%v repeats the token", err)
			}
		})
	}
	t.Run("Help", func(t *testing.T) {
		for _, args := range [][]string{{"serve", "--help"}, {"migrate", "--help"}, {"stores", "add", "--help"}, {"stock", "import", "--help"}} {
			var out, errOut bytes.Buffer
			err := run(t.Context(), args, &out, &errOut, env(nil))
			if !errors.Is(err, flag.ErrHelp) || !strings.Contains(errOut.String(), "STOCKWIRE_") {
				t.Fatalf("%v: err=%v\n%s", args, err, errOut.String())
			}
		}
	})
	t.Run("ListenInUse", func(t *testing.T) {
		m, _ := MustRunMain(t, testAdminToken)
		m2 := NewMain()
		m2.Stderr = &bytes.Buffer{}
		m2.Config.Listen = m.Addr()
		m2.Config.DatabaseURL = m.Config.DatabaseURL
		err := m2.Run(t.Context())
		m2.Close()
		if err == nil || !strings.Contains(err.Error(), "listen") {
			t.Fatalf("err=%v, want a listen error", err)
		}
	})
}

func TestVersion(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	if err := run(t.Context(), []string{"version"}, &out, &out, env(nil)); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out.String(), "hub ") || !strings.Contains(out.String(), "go1.") {
		t.Fatalf("version=%q", out.String())
	}
}
