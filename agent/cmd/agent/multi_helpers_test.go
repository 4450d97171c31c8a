package main_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stockwire/stockwire/shared/launch"
	"github.com/stockwire/stockwire/shared/scrape"
	"github.com/stockwire/stockwire/shared/systest"
	"github.com/stockwire/stockwire/shared/woosim"
)

// shop is one store of a multi-store agent: a woosim store and its entry
// in the agent's --config.
type shop struct {
	name string
	sim  *woosim.Server
	// url is what the entry gives: the store's home URL, or its REST base.
	url         string
	key, secret string
	// token or joinToken is its credential.
	token, joinToken string
	// secretEnv, when set, names the variable the entry reads the consumer
	// secret from.
	secretEnv string
	id        int64 // at the hub
}

// newShop starts a woosim store named name, with the products of newStore.
func newShop(t *testing.T, name string) *shop {
	t.Helper()
	key, secret := newKeys()
	sim := newStore(t, woosim.Options{ConsumerKey: key, ConsumerSecret: secret})
	return &shop{name: name, sim: sim, url: sim.URL, key: key, secret: secret}
}

// multisite serves the stores of a WordPress multisite network on one
// host, each under /<name>/ (its REST base /<name>/wp-json/wc/v3), and
// points each shop's entry at its REST base.
func multisite(t *testing.T, shops ...*shop) {
	t.Helper()
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	for _, s := range shops {
		mux.Handle("/"+s.name+"/", http.StripPrefix("/"+s.name, s.sim.Store))
		home := srv.URL + "/" + s.name
		s.sim.Store.SetHomeURL(home) // what WordPress signs OAuth requests against
		s.url = home + "/wp-json/wc/v3"
	}
}

// register creates the shop's store at the hub and takes its credential.
func (s *shop) register(h *systest.Hub) {
	s.id, s.token = h.CreateStore(s.name, s.url, "mirror")
}

// writeStores writes the agent's stores file, replacing it whole (as an
// editor saving it does) so that the agent never reads half of it.
func writeStores(t *testing.T, path string, shops ...*shop) {
	t.Helper()
	var b strings.Builder
	b.WriteString("# stores of one agent\nstores:\n")
	for _, s := range shops {
		fmt.Fprintf(&b, "  - name: %s\n    url: %s\n    consumer_key: %s\n", s.name, s.url, s.key)
		if s.secretEnv != "" {
			fmt.Fprintf(&b, "    consumer_secret_env: %s\n", s.secretEnv)
		} else {
			fmt.Fprintf(&b, "    consumer_secret: %s\n", s.secret)
		}
		if s.token != "" {
			fmt.Fprintf(&b, "    token: %s\n", s.token)
		} else {
			fmt.Fprintf(&b, "    join_token: %s\n", s.joinToken)
		}
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// multiAgent is an agent process serving the stores of a --config file.
type multiAgent struct {
	proc                  *launch.Proc
	listen, metricsListen string
	config, dataDir       string
	hub                   *systest.Hub
	env                   []string
}

// newMultiAgent prepares an agent for hub serving the stores of its
// config file (written with writeStores before start); env is added to its
// environment.
func newMultiAgent(t *testing.T, h *systest.Hub, env ...string) *multiAgent {
	t.Helper()
	dir := t.TempDir()
	return &multiAgent{listen: systest.FreeAddr(t), metricsListen: systest.FreeAddr(t), config: filepath.Join(dir, "stores.yaml"),
		dataDir: filepath.Join(dir, "agent"), hub: h, env: env}
}

// start starts the agent and waits until it answers /healthz.
func (a *multiAgent) start(t *testing.T) {
	t.Helper()
	a.proc = systest.Start(t, "agent", []string{"--hub", a.hub.URL(), "--config", a.config,
		"--listen", a.listen, "--metrics-listen", a.metricsListen, "--public-url", "http://" + a.listen,
		"--data-dir", a.dataDir, "--poll-interval", "500ms", "--log-format", "text"}, a.env)
	waitHealthy(t, a.proc, a.listen)
}

// hup sends the agent SIGHUP.
func (a *multiAgent) hup(t *testing.T) {
	t.Helper()
	if err := a.proc.Cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
}

// storeMetric is the value of the agent's metric name for store, "" when
// it has no such series.
func (a *multiAgent) storeMetric(name, store string) (string, error) {
	return a.metric(name, "store", store)
}

// metric is the value of the agent's metric name summed over its series
// whose labels include labels (pairs of name and value), "" when it has
// none.
func (a *multiAgent) metric(name string, labels ...string) (string, error) {
	page, err := scrape.Get(context.Background(), nil, "http://"+a.metricsListen+"/metrics")
	if err != nil {
		return "", err
	}
	v, found := page.Sum(name, labels...)
	if !found {
		return "", nil
	}
	return strconv.FormatFloat(v, 'f', -1, 64), nil
}

// waitStoreMetric waits until the agent shows want for store's metric.
func (a *multiAgent) waitStoreMetric(t *testing.T, name, store, want string) {
	t.Helper()
	systest.WaitFor(t, 60*time.Second, fmt.Sprintf("%s{store=%q} = %s", name, store, want), func() error {
		got, err := a.storeMetric(name, store)
		if err != nil {
			return err
		}
		if got != want {
			return fmt.Errorf("%s{store=%q} = %q", name, store, got)
		}
		return nil
	})
}

// skuState is the hub's view of one SKU.
type skuState struct {
	Committed int64            `json:"committed"`
	Targets   map[string]int64 `json:"targets"`
}

// hubSKU reads the hub's view of sku.
func hubSKU(h *systest.Hub, sku string) (skuState, error) {
	var got skuState
	err := h.API(http.MethodGet, "/api/v1/skus/"+sku, nil, &got)
	return got, err
}

// waitShows waits until every shop shows want units of sku.
func waitShows(t *testing.T, sku string, want int64, shops ...*shop) {
	t.Helper()
	for _, s := range shops {
		systest.WaitFor(t, 60*time.Second, fmt.Sprintf("%s shows %d of %s", s.name, want, sku), func() error {
			if got, _ := s.sim.Store.StockBySKU(sku); got != want {
				return fmt.Errorf("%s shows %d", s.name, got)
			}
			return nil
		})
	}
}

// waitCommitted waits until the hub has committed want units of sku.
func waitCommitted(t *testing.T, h *systest.Hub, sku string, want int64) {
	t.Helper()
	systest.WaitFor(t, 60*time.Second, fmt.Sprintf("hub committed %d of %s", want, sku), func() error {
		got, err := hubSKU(h, sku)
		if err != nil {
			return err
		}
		if got.Committed != want {
			return fmt.Errorf("committed %d", got.Committed)
		}
		return nil
	})
}

// checkout buys quantity units of sku in the shop.
func (s *shop) checkout(t *testing.T, sku string, quantity int64) {
	t.Helper()
	if _, err := s.sim.Store.Checkout([]woosim.CheckoutLine{{SKU: sku, Quantity: quantity}}); err != nil {
		t.Fatalf("checkout in %s: %v", s.name, err)
	}
}

// setOnHand sets the hub's on-hand count of sku at location main.
func setOnHand(h *systest.Hub, sku string, n int64) {
	h.MustAPI(http.MethodPut, "/api/v1/skus/"+sku+"/locations/main", map[string]any{"on_hand": n}, nil)
}

// getJSON decodes the JSON answer of GET url into out.
func getJSON(url string, out any) error {
	resp, err := http.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(out)
}
