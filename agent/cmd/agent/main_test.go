package main_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stockwire/stockwire/shared/launch"
	"github.com/stockwire/stockwire/shared/pgtest"
	"github.com/stockwire/stockwire/shared/scrape"
	"github.com/stockwire/stockwire/shared/systest"
	"github.com/stockwire/stockwire/shared/woosim"
	"github.com/stockwire/stockwire/shared/woosim/woosimtest"
)

// TestMain runs the throwaway PostgreSQL the hubs' databases live in.
func TestMain(m *testing.M) { pgtest.Main(m, nil) }

// runAgent runs the agent until it exits by itself and returns its exit
// status and output. An agent still running after 30 s fails t.
func runAgent(t *testing.T, args, env []string) (int, string) {
	t.Helper()
	p := systest.Start(t, "agent", args, env)
	select {
	case <-p.Done():
	case <-time.After(30 * time.Second):
		t.Fatalf("agent still running after 30s, want it to exit; output:\n%s", systest.Output(t, p))
	}
	return p.Cmd.ProcessState.ExitCode(), systest.Output(t, p)
}

// stopAgent sends SIGTERM and wants the agent gone, with status 0, within
// five seconds. It returns the agent's output.
func stopAgent(t *testing.T, p *launch.Proc) string {
	t.Helper()
	if err := p.Cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.Done():
	case <-time.After(5 * time.Second):
		t.Fatalf("agent still running 5s after SIGTERM; output:\n%s", systest.Output(t, p))
	}
	out := systest.Output(t, p)
	if got := p.Cmd.ProcessState.ExitCode(); got != 0 {
		t.Fatalf("exit status after SIGTERM = %d, want 0; output:\n%s", got, out)
	}
	if !strings.Contains(out, `msg="agent stopped"`) {
		t.Fatalf("no 'agent stopped' line after SIGTERM; output:\n%s", out)
	}
	return out
}

// waitHealthy waits until the agent answers /healthz on listen.
func waitHealthy(t *testing.T, p *launch.Proc, listen string) {
	t.Helper()
	systest.WaitHTTP(t, p, "http://"+listen+"/healthz", 60*time.Second)
}

// assertNoSecrets fails t when the output holds any of the secrets, given
// by what they are.
func assertNoSecrets(t *testing.T, out string, secrets map[string]string) {
	t.Helper()
	for what, secret := range secrets {
		if secret == "" {
			t.Fatalf("secret %s is empty: the check would prove nothing", what)
		}
		if strings.Contains(out, secret) {
			t.Errorf("the agent's output holds the %s", what)
		}
	}
}

// metric returns the sum of a metric's series (one per store, and per
// other label) whose labels include labels (pairs of name and value), on
// the agent's /metrics at metricsListen.
func metric(metricsListen, name string, labels ...string) (float64, error) {
	page, err := scrape.Get(context.Background(), nil, "http://"+metricsListen+"/metrics")
	if err != nil {
		return 0, err
	}
	sum, found := page.Sum(name, labels...)
	if !found {
		return 0, fmt.Errorf("no metric %s%v", name, labels)
	}
	return sum, nil
}

// newStore starts a woosim store with a few products and the given keys.
func newStore(t *testing.T, opts woosim.Options) *woosim.Server {
	t.Helper()
	if opts.WebhookDelay == 0 {
		opts.WebhookDelay = 100 * time.Millisecond
	}
	return woosimtest.Start(t, opts, woosim.SeedOptions{Products: 3, Stock: 5, SKUPrefix: "SKU"})
}

// newKeys returns a random consumer key and secret.
func newKeys() (key, secret string) {
	return "ck_" + strings.ToLower(rand.Text()), "cs_" + strings.ToLower(rand.Text())
}

// tlsProxy serves target over HTTPS, as a TLS-terminating proxy in front
// of WordPress does. With forwardProto it says so in X-Forwarded-Proto.
// It returns the proxy's URL and a PEM file of its certificate, for the
// agent's SSL_CERT_FILE.
func tlsProxy(t *testing.T, target string, forwardProto bool) (proxyURL, caFile string) {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httptest.NewTLSServer(&httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
		r.SetURL(u)
		if forwardProto {
			r.SetXForwarded()
		}
	}})
	t.Cleanup(proxy.Close)
	caFile = filepath.Join(t.TempDir(), "proxy-ca.pem")
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: proxy.Certificate().Raw})
	if err := os.WriteFile(caFile, pemBytes, 0o600); err != nil {
		t.Fatal(err)
	}
	return proxy.URL, caFile
}

// startHub starts a hub on a fresh database, stopped when t ends.
func startHub(t *testing.T) *systest.Hub {
	t.Helper()
	return systest.StartHub(t, systest.HubOptions{DatabaseURL: pgtest.NewEmptyDB(t)})
}

// startHubTLS starts a hub serving https with a certificate issued by a
// private CA, and returns it and the CA's PEM file.
func startHubTLS(t *testing.T) (*systest.Hub, string) {
	t.Helper()
	dir := t.TempDir()
	ca, caKey := newCert(t, nil, nil)
	leaf, leafKey := newCert(t, ca, caKey)
	caFile, certFile, keyFile := filepath.Join(dir, "ca.pem"), filepath.Join(dir, "hub.pem"), filepath.Join(dir, "hub-key.pem")
	keyDER, err := x509.MarshalECPrivateKey(leafKey)
	if err != nil {
		t.Fatal(err)
	}
	for path, block := range map[string]*pem.Block{caFile: {Type: "CERTIFICATE", Bytes: ca.Raw},
		certFile: {Type: "CERTIFICATE", Bytes: leaf.Raw}, keyFile: {Type: "EC PRIVATE KEY", Bytes: keyDER}} {
		if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}}
	return systest.StartHub(t, systest.HubOptions{DatabaseURL: pgtest.NewEmptyDB(t),
		TLSCert: certFile, TLSKey: keyFile, HTTP: client}), caFile
}

// newCert returns a CA certificate when parent is nil, else a certificate
// for 127.0.0.1 that parent issues.
func newCert(t *testing.T, parent *x509.Certificate, parentKey *ecdsa.PrivateKey) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: "stockwire test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	if parent == nil {
		parent, parentKey = tmpl, key
	} else {
		tmpl.Subject.CommonName, tmpl.IsCA = "stockwire test hub", false
		tmpl.KeyUsage, tmpl.ExtKeyUsage = x509.KeyUsageDigitalSignature, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1)}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert, key
}

func TestAgent_Help(t *testing.T) {
	t.Parallel()
	code, out := runAgent(t, []string{"--help"}, nil)
	if code != 0 {
		t.Fatalf("exit status = %d, want 0; output:\n%s", code, out)
	}
	for _, flag := range []string{"hub", "token", "join-token", "store-name", "hub-ca", "store-url",
		"consumer-key", "consumer-secret", "rate-limit", "listen", "public-url", "data-dir",
		"poll-interval", "rescan-interval", "store-edits", "webhooks", "log-format", "log-level"} {
		if !strings.Contains(out, "--"+flag+"  [") {
			t.Errorf("help does not list --%s", flag)
		}
	}
	// Every flag listed names its environment variable and says what it is for.
	lines := strings.Split(out, "\n")
	for i, line := range lines {
		name, ok := strings.CutPrefix(line, "  --")
		if !ok {
			continue
		}
		name, env, _ := strings.Cut(name, "  ")
		if want := "[STOCKWIRE_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_")) + "]"; env != want {
			t.Errorf("--%s: environment variable %q, want %q", name, env, want)
		}
		if i+1 == len(lines) || strings.TrimSpace(lines[i+1]) == "" {
			t.Errorf("--%s has no explanation", name)
		}
	}
}

func TestAgent_ConfigErrors(t *testing.T) {
	t.Parallel()
	// Nothing answers here: a configuration error must come before any
	// network access.
	hubURL, storeURL := "http://"+systest.FreeAddr(t), "http://"+systest.FreeAddr(t)
	key, secret := newKeys()
	noCredential := []string{"--hub", hubURL, "--store-url", storeURL, "--consumer-key", key, "--consumer-secret", secret}
	complete := append(slices.Clip(noCredential), "--token", "sw_test_token_1")
	for _, tc := range []struct {
		name string
		args []string
		env  []string
		want string
	}{
		{name: "NoFlags", want: "--hub is required"},
		{name: "NoStoreURL", args: []string{"--hub", hubURL}, want: "--store-url is required"},
		{name: "StoreURLWithoutScheme", args: []string{"--hub", hubURL, "--store-url", "shop.example.com"}, want: `--store-url "shop.example.com": want http(s)://host`},
		{name: "NoConsumerSecret", args: []string{"--hub", hubURL, "--store-url", storeURL, "--consumer-key", key}, want: "--consumer-key and --consumer-secret are required"},
		{name: "JoinTokenWithoutStoreName", args: append(slices.Clip(noCredential), "--join-token", "sw_join_1"), want: "--store-name is required with --join-token"},
		{name: "NoCredential", args: noCredential, want: "no store credential: give --token, or --join-token and --store-name"},
		{name: "UnknownFlag", args: append(slices.Clip(complete), "--frobnicate"), want: "flag provided but not defined: -frobnicate"},
		{name: "BadEnvironmentValue", args: complete, env: []string{"STOCKWIRE_POLL_INTERVAL=often"}, want: "STOCKWIRE_POLL_INTERVAL"},
		{name: "PollIntervalTooShort", args: append(slices.Clip(complete), "--poll-interval", "10ms"), want: "--poll-interval 10ms: at least 500ms"},
		{name: "HubPingIntervalTooShort", args: append(slices.Clip(complete), "--hub-ping-interval", "1ms"), want: "--hub-ping-interval 1ms: at least 100ms"},
		{name: "BadMetricsListen", args: append(slices.Clip(complete), "--metrics-listen", "9464"), want: `--metrics-listen "9464": want host:port`},
		{name: "MetricsOnWebhookListener", args: append(slices.Clip(complete), "--listen", "127.0.0.1:8090", "--metrics-listen", "127.0.0.1:8090"),
			want: `--metrics-listen "127.0.0.1:8090": must differ from --listen`},
		{name: "BadLogLevel", args: append(slices.Clip(complete), "--log-level", "loud"), want: `--log-level "loud"`},
		{name: "BadLogFormat", args: append(slices.Clip(complete), "--log-format", "xml"), want: `--log-format "xml"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			args := append([]string{"--data-dir", t.TempDir()}, tc.args...)
			code, out := runAgent(t, args, tc.env)
			if code == 0 {
				t.Fatalf("exit status 0, want an error; output:\n%s", out)
			}
			if !strings.Contains(out, "agent: ") || !strings.Contains(out, tc.want) {
				t.Fatalf("output does not say %q:\n%s", tc.want, out)
			}
			assertNoSecrets(t, out, map[string]string{"consumer secret": secret})
		})
	}
}

// TestAgent_StartupChecks starts the agent against stores that are wrong in
// every way it can tell apart, with no hub: a start-up error must name the
// problem, and good keys get as far as the hub.
func TestAgent_StartupChecks(t *testing.T) {
	t.Parallel()
	key, secret := newKeys()
	roKey, roSecret := newKeys()
	unknownKey, wrongSecret := newKeys()
	sim := newStore(t, woosim.Options{ConsumerKey: key, ConsumerSecret: secret, TrustProxyHTTPS: true,
		Keys: []woosim.Key{{ConsumerKey: roKey, ConsumerSecret: roSecret, Permissions: woosim.PermRead}}})
	// TLS ends at a proxy; only the second tells WordPress so.
	hidingProxy, hidingCA := tlsProxy(t, sim.URL, false)
	tellingProxy, tellingCA := tlsProxy(t, sim.URL, true)
	notWoo := httptest.NewServer(http.NotFoundHandler())
	t.Cleanup(notWoo.Close)
	hubURL := "http://" + systest.FreeAddr(t)
	const token = "sw_startup_check_token_0123456789"

	for _, tc := range []struct {
		name        string
		storeURL    string
		key, secret string
		caFile      string
		want        string
	}{
		{name: "StoreUnreachable", storeURL: "http://" + systest.FreeAddr(t), key: key, secret: secret,
			want: "store unreachable"},
		{name: "NotWooCommerce", storeURL: notWoo.URL, key: key, secret: secret,
			want: "no WooCommerce REST API at this URL"},
		{name: "UnknownKey", storeURL: sim.URL, key: unknownKey, secret: secret,
			want: "consumer key unknown to the store"},
		{name: "WrongSecret", storeURL: sim.URL, key: key, secret: wrongSecret,
			want: "consumer secret is wrong"},
		{name: "ReadOnlyKey", storeURL: sim.URL, key: roKey, secret: roSecret,
			want: "API key is read-only; it needs read/write permissions"},
		{name: "UnknownKeyOverHTTPS", storeURL: tellingProxy, caFile: tellingCA, key: unknownKey, secret: secret,
			want: "consumer key unknown to the store"},
		{name: "WrongSecretOverHTTPS", storeURL: tellingProxy, caFile: tellingCA, key: key, secret: wrongSecret,
			want: "consumer secret is wrong"},
		{name: "BasicAuthWithoutHTTPS", storeURL: hidingProxy, caFile: hidingCA, key: key, secret: secret,
			want: "store ignores Basic auth: WordPress does not see the request as HTTPS"},
		// Good keys pass the store check, and the agent stops at the hub.
		{name: "HubUnreachable", storeURL: sim.URL, key: key, secret: secret,
			want: "hub " + hubURL + " unreachable"},
		{name: "HubUnreachableAfterHTTPSStore", storeURL: tellingProxy, caFile: tellingCA, key: key, secret: secret,
			want: "hub " + hubURL + " unreachable"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var env []string
			if tc.caFile != "" {
				env = append(env, "SSL_CERT_FILE="+tc.caFile)
			}
			env = append(env, "STOCKWIRE_TOKEN="+token)
			code, out := runAgent(t, []string{"--hub", hubURL, "--store-url", tc.storeURL,
				"--consumer-key", tc.key, "--consumer-secret", tc.secret,
				"--listen", systest.FreeAddr(t), "--metrics-listen", systest.FreeAddr(t), "--data-dir", t.TempDir(), "--log-format", "text"}, env)
			if code == 0 {
				t.Fatalf("exit status 0, want an error; output:\n%s", out)
			}
			if !strings.Contains(out, tc.want) {
				t.Fatalf("output does not say %q:\n%s", tc.want, out)
			}
			assertNoSecrets(t, out, map[string]string{"consumer secret": tc.secret, "store credential": token})
		})
	}
}

// TestAgent_StartWaitsForAFailingStore: a store answering 500 and 429 when
// the agent starts (a bad minute, or the agent restarted in the middle of
// one) is checked again until it answers; the agent then starts and
// writes the hub's figure. A store that does not answer at all still stops
// the start (TestAgent_StartupChecks).
func TestAgent_StartWaitsForAFailingStore(t *testing.T) {
	t.Parallel()
	h := startHub(t)
	key, secret := newKeys()
	sim := newStore(t, woosim.Options{ConsumerKey: key, ConsumerSecret: secret})
	sim.Store.SetFaults(woosim.Faults{ErrorRate: 0.5, RateLimitRate: 0.5})
	sku := sim.Store.SKUs()[0]
	h.MustAPI(http.MethodPut, "/api/v1/skus/"+sku+"/locations/main", map[string]any{"on_hand": 7}, nil)
	_, token := h.CreateStore("bad-minute-shop", sim.URL, "mirror")
	listen := systest.FreeAddr(t)
	p := systest.Start(t, "agent", []string{"--hub", h.URL(), "--store-url", sim.URL, "--listen", listen, "--metrics-listen", "",
		"--data-dir", filepath.Join(t.TempDir(), "agent"), "--log-format", "text"},
		[]string{"STOCKWIRE_TOKEN=" + token, "STOCKWIRE_CONSUMER_KEY=" + key, "STOCKWIRE_CONSUMER_SECRET=" + secret})
	systest.WaitFor(t, 30*time.Second, "the agent checking the store again", func() error {
		if exited, err := p.Exited(); exited {
			t.Fatalf("agent exited (%v) while its store answered errors; output:\n%s", err, systest.Output(t, p))
		}
		if n := strings.Count(systest.Output(t, p), "checking it again"); n < 2 {
			return fmt.Errorf("%d retries logged", n)
		}
		return nil
	})
	sim.Store.SetFaults(woosim.Faults{})
	waitHealthy(t, p, listen)
	systest.WaitFor(t, 30*time.Second, "the hub's figure in the store", func() error {
		if got, _ := sim.Store.StockBySKU(sku); got != 7 {
			return fmt.Errorf("store shows %d, want 7", got)
		}
		return nil
	})
	assertNoSecrets(t, stopAgent(t, p), map[string]string{"consumer secret": secret, "store credential": token})
}

// TestAgent_StartWaitsForAFailingHub: the hub behind a load balancer
// answering 503 while it restarts (or a hub whose database is down
// answering 500) when the agent starts: the agent dials again until the
// hub is back, then serves its store. A hub that does not answer at all
// still stops the start (TestAgent_StartupChecks).
func TestAgent_StartWaitsForAFailingHub(t *testing.T) {
	t.Parallel()
	h := startHub(t)
	target, err := url.Parse(h.URL())
	if err != nil {
		t.Fatal(err)
	}
	var failing atomic.Bool
	failing.Store(true)
	proxy := httputil.NewSingleHostReverseProxy(target)
	lb := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if failing.Load() {
			http.Error(w, "no healthy upstream", http.StatusServiceUnavailable)
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(lb.Close)

	key, secret := newKeys()
	sim := newStore(t, woosim.Options{ConsumerKey: key, ConsumerSecret: secret})
	sku := sim.Store.SKUs()[0]
	h.MustAPI(http.MethodPut, "/api/v1/skus/"+sku+"/locations/main", map[string]any{"on_hand": 6}, nil)
	_, token := h.CreateStore("hub-restarting-shop", sim.URL, "mirror")
	listen := systest.FreeAddr(t)
	p := systest.Start(t, "agent", []string{"--hub", lb.URL, "--store-url", sim.URL, "--listen", listen, "--metrics-listen", "",
		"--data-dir", filepath.Join(t.TempDir(), "agent"), "--log-format", "text"},
		[]string{"STOCKWIRE_TOKEN=" + token, "STOCKWIRE_CONSUMER_KEY=" + key, "STOCKWIRE_CONSUMER_SECRET=" + secret})
	systest.WaitFor(t, 30*time.Second, "the agent dialling the hub again", func() error {
		if exited, err := p.Exited(); exited {
			t.Fatalf("agent exited (%v) while the hub answered 503; output:\n%s", err, systest.Output(t, p))
		}
		if n := strings.Count(systest.Output(t, p), "dialling it again"); n < 2 {
			return fmt.Errorf("%d retries logged", n)
		}
		return nil
	})
	failing.Store(false)
	waitHealthy(t, p, listen)
	systest.WaitFor(t, 30*time.Second, "the hub's figure in the store", func() error {
		if got, _ := sim.Store.StockBySKU(sku); got != 6 {
			return fmt.Errorf("store shows %d, want 6", got)
		}
		return nil
	})
	assertNoSecrets(t, stopAgent(t, p), map[string]string{"consumer secret": secret, "store credential": token})
}

// TestAgent_RestartKeepsUncountedSales: a sale waits in the outbox while
// the hub cannot count it; the agent is SIGKILLed and starts again, and
// still cannot reach the hub. Its saved figures do not hold the sale, yet
// the sale is already off the shelf: the safety net must not take it for a
// lost write and put the sold units back on sale (in an allocate store,
// units never granted).
func TestAgent_RestartKeepsUncountedSales(t *testing.T) {
	t.Parallel()
	h := startHub(t)
	target, err := url.Parse(h.URL())
	if err != nil {
		t.Fatal(err)
	}
	// The agent reaches the hub through a proxy that lets through only
	// the dials the test allows.
	var dials atomic.Int64
	dials.Store(1 << 30)
	proxy := httputil.NewSingleHostReverseProxy(target)
	lb := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v1/agent" && dials.Add(-1) < 0 {
			http.Error(w, "no healthy upstream", http.StatusServiceUnavailable)
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(lb.Close)
	key, secret := newKeys()
	sim := newStore(t, woosim.Options{ConsumerKey: key, ConsumerSecret: secret})
	sku := sim.Store.SKUs()[0]
	h.MustAPI(http.MethodPut, "/api/v1/skus/"+sku+"/locations/main", map[string]any{"on_hand": 10}, nil)
	_, token := h.CreateStore("uncounted-shop", sim.URL, "mirror")
	listen, metricsListen := systest.FreeAddr(t), systest.FreeAddr(t)
	args := []string{"--hub", lb.URL, "--store-url", sim.URL, "--listen", listen, "--metrics-listen", metricsListen,
		"--data-dir", filepath.Join(t.TempDir(), "agent"), "--poll-interval", "500ms", "--log-format", "text"}
	env := []string{"STOCKWIRE_TOKEN=" + token, "STOCKWIRE_CONSUMER_KEY=" + key, "STOCKWIRE_CONSUMER_SECRET=" + secret}
	shows := func(want int64) func() error {
		return func() error {
			if got, _ := sim.Store.StockBySKU(sku); got != want {
				return fmt.Errorf("store shows %d, want %d", got, want)
			}
			return nil
		}
	}

	first := systest.Start(t, "agent", args, env)
	waitHealthy(t, first, listen)
	systest.WaitFor(t, 30*time.Second, "the hub's figure in the store", shows(10))
	h.Stop()
	if _, err := sim.Store.Checkout([]woosim.CheckoutLine{{SKU: sku, Quantity: 3}}); err != nil {
		t.Fatal(err)
	}
	systest.WaitFor(t, 30*time.Second, "the sale in the outbox", func() error {
		if n, err := metric(metricsListen, "stockwire_agent_outbox_events"); err != nil || n != 1 {
			return fmt.Errorf("outbox events %v, %v", n, err)
		}
		return nil
	})
	first.Kill()

	// The hub is back for the start-up probe only.
	h.Start()
	dials.Store(1)
	second := systest.Start(t, "agent", args, env)
	waitHealthy(t, second, listen)
	systest.WaitFor(t, 60*time.Second, "ten safety-net rounds", func() error {
		if n, err := metric(metricsListen, "stockwire_agent_stock_safety_net_rounds_total"); err != nil || n < 10 {
			return fmt.Errorf("%v rounds, %v", n, err)
		}
		return nil
	})
	if err := shows(7)(); err != nil {
		t.Fatalf("after a restart with the sale uncounted: %v; output:\n%s", err, systest.Output(t, second))
	}
	// Once the hub counts it, the store still shows 7, as the hub does.
	dials.Store(1 << 30)
	systest.WaitFor(t, 60*time.Second, "the outbox empty", func() error {
		if n, err := metric(metricsListen, "stockwire_agent_outbox_events"); err != nil || n != 0 {
			return fmt.Errorf("outbox events %v, %v", n, err)
		}
		return nil
	})
	systest.WaitFor(t, 30*time.Second, "the store at the hub's 7", shows(7))
	assertNoSecrets(t, stopAgent(t, second), map[string]string{"consumer secret": secret, "store credential": token})
}

func TestAgent_RevokedCredential(t *testing.T) {
	t.Parallel()
	h := startHub(t)
	key, secret := newKeys()
	sim := newStore(t, woosim.Options{ConsumerKey: key, ConsumerSecret: secret})
	id, token := h.CreateStore("revoked-shop", sim.URL, "mirror")
	h.MustAPI(http.MethodDelete, "/api/v1/stores/"+strconv.FormatInt(id, 10), nil, nil)

	for _, tc := range []struct{ name, token string }{
		{"Revoked", token},
		{"Unknown", "sw_" + strings.Repeat("0", 40)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start, listsBefore := time.Now(), productLists(sim)
			code, out := runAgent(t, []string{"--hub", h.URL(), "--store-url", sim.URL, "--listen", systest.FreeAddr(t), "--metrics-listen", systest.FreeAddr(t),
				"--data-dir", t.TempDir(), "--log-format", "text"},
				[]string{"STOCKWIRE_TOKEN=" + tc.token, "STOCKWIRE_CONSUMER_KEY=" + key, "STOCKWIRE_CONSUMER_SECRET=" + secret})
			if code == 0 {
				t.Fatalf("exit status 0, want an error; output:\n%s", out)
			}
			if want := "hub " + h.URL() + ": hub refused the store credential (unknown or revoked)"; !strings.Contains(out, want) {
				t.Fatalf("output does not say %q:\n%s", want, out)
			}
			// Exiting at once, not retrying with backoff, and before reading
			// the catalog (minutes, in a large store).
			if d := time.Since(start); d > 15*time.Second {
				t.Errorf("took %s to give up, want an exit at once", d)
			}
			if n := productLists(sim) - listsBefore; n > 1 {
				t.Errorf("the agent listed products %d times (the store check is 1) before checking its credential", n)
			}
			assertNoSecrets(t, out, map[string]string{"consumer secret": secret, "store credential": tc.token})
		})
	}
}

// productLists counts the product list requests the store answered.
func productLists(sim *woosim.Server) int64 {
	var n int64
	for route, c := range sim.Store.Stats().Requests {
		if strings.HasPrefix(route, "GET /wp-json/wc/v3/products ") {
			n += c
		}
	}
	return n
}

// Revoking a store cuts its agent off at once; the agent must stop with a
// clear reason rather than retry forever while looking healthy.
func TestAgent_RevokedWhileRunning(t *testing.T) {
	t.Parallel()
	h := startHub(t)
	key, secret := newKeys()
	sim := newStore(t, woosim.Options{ConsumerKey: key, ConsumerSecret: secret})
	id, token := h.CreateStore("revoked-later", sim.URL, "mirror")
	listen := systest.FreeAddr(t)
	p := systest.Start(t, "agent", []string{"--hub", h.URL(), "--store-url", sim.URL, "--listen", listen, "--metrics-listen", systest.FreeAddr(t),
		"--data-dir", t.TempDir(), "--log-format", "text"},
		[]string{"STOCKWIRE_TOKEN=" + token, "STOCKWIRE_CONSUMER_KEY=" + key, "STOCKWIRE_CONSUMER_SECRET=" + secret})
	waitHealthy(t, p, listen)
	h.WaitConnected("revoked-later", true)

	h.MustAPI(http.MethodDelete, "/api/v1/stores/"+strconv.FormatInt(id, 10), nil, nil)
	select {
	case <-p.Done():
	case <-time.After(15 * time.Second):
		t.Fatalf("agent still running 15s after its store was revoked; output:\n%s", systest.Output(t, p))
	}
	out := systest.Output(t, p)
	if code := p.Cmd.ProcessState.ExitCode(); code == 0 {
		t.Fatalf("exit status 0 after revocation, want an error; output:\n%s", out)
	}
	if !strings.Contains(out, "revoked") {
		t.Fatalf("output does not say the credential was revoked:\n%s", out)
	}
	assertNoSecrets(t, out, map[string]string{"consumer secret": secret, "store credential": token})
}

// TestAgent_Enrolment enrols a store with a join token on the first start
// that gets past the store check, then starts it again from the saved
// credential alone, configured entirely from the environment.
func TestAgent_Enrolment(t *testing.T) {
	t.Parallel()
	h := startHub(t)
	key, secret := newKeys()
	sim := newStore(t, woosim.Options{ConsumerKey: key, ConsumerSecret: secret})
	var join struct {
		Token string `json:"token"`
	}
	h.MustAPI(http.MethodPost, "/api/v1/enrolment-tokens", map[string]any{}, &join)
	dataDir := filepath.Join(t.TempDir(), "agent")
	listen := systest.FreeAddr(t)
	keys := []string{"STOCKWIRE_CONSUMER_KEY=" + key, "STOCKWIRE_CONSUMER_SECRET=" + secret}
	const name = "enrolled-shop"

	t.Run("BadKeysKeepTheJoinToken", func(t *testing.T) {
		_, wrongSecret := newKeys()
		code, out := runAgent(t, []string{"--hub", h.URL(), "--store-url", sim.URL, "--listen", listen, "--metrics-listen", systest.FreeAddr(t),
			"--data-dir", dataDir, "--log-format", "text", "--join-token", join.Token, "--store-name", name},
			[]string{"STOCKWIRE_CONSUMER_KEY=" + key, "STOCKWIRE_CONSUMER_SECRET=" + wrongSecret})
		if want := "consumer secret is wrong"; code == 0 || !strings.Contains(out, want) {
			t.Fatalf("exit status %d, want an error saying %q; output:\n%s", code, want, out)
		}
		assertNoSecrets(t, out, map[string]string{"consumer secret": wrongSecret, "join token": join.Token})
		if stores, err := h.StoresNamed(name); err != nil || len(stores) != 0 {
			t.Fatalf("stores named %s: %v, %v; want none before the keys are right", name, stores, err)
		}
	})

	first := systest.Start(t, "agent", []string{"--hub", h.URL(), "--store-url", sim.URL, "--listen", listen, "--metrics-listen", systest.FreeAddr(t),
		"--public-url", "http://" + listen, "--data-dir", dataDir, "--log-format", "text",
		"--join-token", join.Token, "--store-name", name}, keys)
	waitHealthy(t, first, listen)
	h.WaitConnected(name, true)
	// The agent registered its webhooks, with its secret, and answered the ping.
	systest.WaitFor(t, 30*time.Second, "webhook ping answered", func() error {
		if n := sim.Store.Stats().Pings; n == 0 {
			return fmt.Errorf("%d pings", n)
		}
		return nil
	})
	credPath := filepath.Join(dataDir, "credential")
	st, err := os.Stat(credPath)
	if err != nil {
		t.Fatalf("no credential saved: %v", err)
	}
	if got, want := st.Mode().Perm(), os.FileMode(0o600); got != want {
		t.Errorf("credential file mode = %v, want %v", got, want)
	}
	credBytes, err := os.ReadFile(credPath)
	if err != nil {
		t.Fatal(err)
	}
	credential := strings.TrimSpace(string(credBytes))
	if credential == "" || credential == join.Token {
		t.Fatalf("saved credential %q: want the one the hub issued", credential)
	}
	webhookSecret, err := os.ReadFile(filepath.Join(dataDir, "webhook-secret"))
	if err != nil {
		t.Fatal(err)
	}
	secrets := map[string]string{"consumer secret": secret, "join token": join.Token,
		"store credential": credential, "webhook secret": strings.TrimSpace(string(webhookSecret))}
	out := stopAgent(t, first)
	assertNoSecrets(t, out, secrets)
	h.WaitConnected(name, false)

	t.Run("SecondStartNeedsNoJoinToken", func(t *testing.T) {
		second := systest.Start(t, "agent", nil, append([]string{"STOCKWIRE_HUB=" + h.URL(), "STOCKWIRE_STORE_URL=" + sim.URL,
			"STOCKWIRE_LISTEN=" + listen, "STOCKWIRE_PUBLIC_URL=http://" + listen, "STOCKWIRE_DATA_DIR=" + dataDir,
			"STOCKWIRE_LOG_FORMAT=text"}, keys...))
		waitHealthy(t, second, listen)
		h.WaitConnected(name, true) // and still one store of that name: no second enrolment
		assertNoSecrets(t, stopAgent(t, second), secrets)
	})

	t.Run("JoinTokenWorksOnce", func(t *testing.T) {
		code, out := runAgent(t, []string{"--hub", h.URL(), "--store-url", sim.URL, "--listen", systest.FreeAddr(t), "--metrics-listen", systest.FreeAddr(t),
			"--data-dir", t.TempDir(), "--log-format", "text", "--join-token", join.Token, "--store-name", name + "-again"}, keys)
		if code == 0 {
			t.Fatalf("exit status 0, want an error; output:\n%s", out)
		}
		if want := "enrol with hub: 401 Unauthorized: Unknown, used or expired enrolment token."; !strings.Contains(out, want) {
			t.Fatalf("output does not say %q:\n%s", want, out)
		}
		assertNoSecrets(t, out, secrets)
		if stores, err := h.StoresNamed(name + "-again"); err != nil || len(stores) != 0 {
			t.Fatalf("stores named %s-again: %v, %v; want none", name, stores, err)
		}
	})
}

// TestAgent_KillRestart kills the agent with SIGKILL while an order waits in
// its outbox for a hub that is down, then starts it again on the same data
// dir: the outbox reopens with the order, which reaches the hub once, and
// the store converges.
func TestAgent_KillRestart(t *testing.T) {
	t.Parallel()
	h := startHub(t)
	key, secret := newKeys()
	sim := newStore(t, woosim.Options{ConsumerKey: key, ConsumerSecret: secret})
	sku := sim.Store.SKUs()[0]
	h.MustAPI(http.MethodPut, "/api/v1/skus/"+sku+"/locations/main", map[string]any{"on_hand": 10}, nil)
	id, token := h.CreateStore("killed-shop", sim.URL, "mirror")
	listen, metricsListen := systest.FreeAddr(t), systest.FreeAddr(t)
	args := []string{"--hub", h.URL(), "--store-url", sim.URL, "--listen", listen, "--metrics-listen", metricsListen,
		"--data-dir", filepath.Join(t.TempDir(), "agent"), "--poll-interval", "500ms", "--log-format", "text"}
	env := []string{"STOCKWIRE_TOKEN=" + token, "STOCKWIRE_CONSUMER_KEY=" + key, "STOCKWIRE_CONSUMER_SECRET=" + secret}
	secrets := map[string]string{"consumer secret": secret, "store credential": token}
	storeShows := func(want int64) func() error {
		return func() error {
			if got, _ := sim.Store.StockBySKU(sku); got != want {
				return fmt.Errorf("store shows %d of %s, want %d", got, sku, want)
			}
			return nil
		}
	}

	first := systest.Start(t, "agent", args, env)
	waitHealthy(t, first, listen)
	systest.WaitFor(t, 30*time.Second, "hub's figure written to the store", storeShows(10))

	h.Stop()
	// While running, the agent rides out a hub that went away.
	systest.WaitFor(t, 30*time.Second, "agent notices the hub is gone", func() error {
		if !strings.Contains(systest.Output(t, first), `msg="hub link lost"`) {
			return fmt.Errorf("no 'hub link lost' line")
		}
		return nil
	})
	if _, err := sim.Store.Checkout([]woosim.CheckoutLine{{SKU: sku, Quantity: 1}}); err != nil {
		t.Fatal(err)
	}
	systest.WaitFor(t, 30*time.Second, "order in the outbox", func() error {
		if n, err := metric(metricsListen, "stockwire_agent_outbox_events"); err != nil || n != 1 {
			return fmt.Errorf("outbox events %v, %v", n, err)
		}
		return nil
	})
	first.Kill()
	if ws := first.Cmd.ProcessState.Sys().(syscall.WaitStatus); !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("agent ended with %v, want killed by SIGKILL", first.Cmd.ProcessState)
	}
	assertNoSecrets(t, systest.Output(t, first), secrets)

	h.Start()
	second := systest.Start(t, "agent", args, env)
	waitHealthy(t, second, listen)
	if out := systest.Output(t, second); !strings.Contains(out, "outbox_events=1") {
		t.Fatalf("restarted agent does not report the order left in its outbox; output:\n%s", out)
	}
	systest.WaitFor(t, 30*time.Second, "order committed in the hub once", func() error {
		var got struct {
			Committed int64            `json:"committed"`
			Targets   map[string]int64 `json:"targets"`
		}
		if err := h.API(http.MethodGet, "/api/v1/skus/"+sku, nil, &got); err != nil {
			return err
		}
		if target := got.Targets[strconv.FormatInt(id, 10)]; got.Committed != 1 || target != 9 {
			return fmt.Errorf("committed %d, target %d; want 1 and 9", got.Committed, target)
		}
		return nil
	})
	systest.WaitFor(t, 30*time.Second, "outbox drained", func() error {
		if n, err := metric(metricsListen, "stockwire_agent_outbox_events"); err != nil || n != 0 {
			return fmt.Errorf("outbox events %v, %v", n, err)
		}
		return nil
	})
	systest.WaitFor(t, 30*time.Second, "store converged", storeShows(9))
	assertNoSecrets(t, stopAgent(t, second), secrets)
}

// TestAgent_HubCA connects to a hub serving https with a certificate of a
// private CA: refused without --hub-ca, trusted with it.
func TestAgent_HubCA(t *testing.T) {
	t.Parallel()
	h, caFile := startHubTLS(t)
	key, secret := newKeys()
	sim := newStore(t, woosim.Options{ConsumerKey: key, ConsumerSecret: secret})
	_, token := h.CreateStore("tls-shop", sim.URL, "mirror")
	listen := systest.FreeAddr(t)
	args := []string{"--hub", h.URL(), "--store-url", sim.URL, "--listen", listen, "--metrics-listen", systest.FreeAddr(t), "--log-format", "text"}
	env := []string{"STOCKWIRE_TOKEN=" + token, "STOCKWIRE_CONSUMER_KEY=" + key, "STOCKWIRE_CONSUMER_SECRET=" + secret}
	secrets := map[string]string{"consumer secret": secret, "store credential": token}

	t.Run("UnknownAuthority", func(t *testing.T) {
		code, out := runAgent(t, append(slices.Clip(args), "--data-dir", t.TempDir()), env)
		if code == 0 {
			t.Fatalf("exit status 0, want an error; output:\n%s", out)
		}
		if want := "hub " + h.URL() + " unreachable"; !strings.Contains(out, want) || !strings.Contains(out, "certificate signed by unknown authority") {
			t.Fatalf("output does not say %q for an unknown authority:\n%s", want, out)
		}
		assertNoSecrets(t, out, secrets)
	})
	t.Run("NotPEM", func(t *testing.T) {
		notPEM := filepath.Join(t.TempDir(), "ca.pem")
		if err := os.WriteFile(notPEM, []byte("not a certificate\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		code, out := runAgent(t, append(slices.Clip(args), "--data-dir", t.TempDir(), "--hub-ca", notPEM), env)
		if want := "--hub-ca " + notPEM + ": no PEM certificate found"; code == 0 || !strings.Contains(out, want) {
			t.Fatalf("exit status %d, want an error saying %q; output:\n%s", code, want, out)
		}
	})
	t.Run("TrustedWithHubCA", func(t *testing.T) {
		p := systest.Start(t, "agent", append(slices.Clip(args), "--data-dir", t.TempDir()), append(slices.Clip(env), "STOCKWIRE_HUB_CA="+caFile))
		waitHealthy(t, p, listen)
		h.WaitConnected("tls-shop", true)
		assertNoSecrets(t, stopAgent(t, p), secrets)
	})
}
