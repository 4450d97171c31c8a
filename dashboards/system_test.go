package dashboards_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stockwire/stockwire/shared/hubapi"
	"github.com/stockwire/stockwire/shared/launch"
	"github.com/stockwire/stockwire/shared/pgcluster"
	"github.com/stockwire/stockwire/shared/woosim"
)

// The tests share one private PostgreSQL cluster (hub/internal/pgtest is
// internal to hub/, so this package runs hub/pgcluster itself, as pgtest
// does) and one build of the binaries.
var (
	cluster    *pgcluster.Cluster
	clusterErr error
	databases  atomic.Int64

	buildOnce sync.Once
	binDir    string
	buildErr  error
)

func TestMain(m *testing.M) { os.Exit(run(m)) }

func run(m *testing.M) int {
	root, err := os.MkdirTemp("", "stockwire-dashboards-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(root)
	// As root the server runs as the postgres user, which must get through.
	if err := os.Chmod(root, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	cluster, clusterErr = pgcluster.Start(ctx, filepath.Join(root, "pg"), nil, pgcluster.WithFsync(false))
	cancel()
	if clusterErr == nil {
		defer cluster.Kill()
	}
	binDir = filepath.Join(root, "bin")
	return m.Run()
}

// newDatabase returns the DSN of a fresh database for t. A cluster that did
// not start fails the test.
func newDatabase(t *testing.T) string {
	t.Helper()
	if clusterErr != nil {
		t.Fatalf("private PostgreSQL did not start (run .ci/ensure-packages postgresql): %v", clusterErr)
	}
	name := fmt.Sprintf("dashboards_%d", databases.Add(1))
	if err := cluster.CreateDatabase(t.Context(), name); err != nil {
		t.Fatal(err)
	}
	return cluster.DSN(name)
}

// binaries builds the module's commands once per test binary. Without the
// race detector: these processes are observed from outside here, and the
// end-to-end tests (shared/e2e) run them with it.
func binaries(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		buildErr = launch.Build(ctx, "..", binDir, false)
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binDir
}

const adminToken = "dashboards-test-admin-token-0123456789"

// storeName is the one store's name, looked for on the status page.
const storeName = "Lisbon Outlet"

// system is a hub process on a fresh database, one woosim store and its
// agent process.
type system struct {
	t         *testing.T
	dir       string
	hubAddr   string
	agentAddr string
	hub       *launch.Proc
	agent     *launch.Proc
	store     *woosim.Server
	storeID   int64
}

// startSystem starts the hub, a store seeded with five products the hub
// counts (plus one SKU the store lacks), and the store's agent, and waits
// until the agent's link is up.
func startSystem(t *testing.T) *system {
	t.Helper()
	bin := binaries(t)
	s := &system{t: t, dir: t.TempDir(), hubAddr: freeAddr(t), agentAddr: freeAddr(t)}

	hub, err := launch.Start("hub", filepath.Join(bin, "hub"), []string{"serve",
		"--listen", s.hubAddr, "--database-url", newDatabase(t), "--admin-token", adminToken,
		"--data-dir", filepath.Join(s.dir, "hub"), "--log-format", "text"}, nil,
		filepath.Join(s.dir, "hub.log"), nil)
	if err != nil {
		t.Fatal(err)
	}
	s.hub = hub
	t.Cleanup(func() { hub.Stop(10 * time.Second) })
	t.Cleanup(func() {
		if t.Failed() {
			s.dumpLogs()
		}
	})
	s.waitHTTP(hub, "http://"+s.hubAddr+"/readyz")

	const key, secret = "ck_dashboards0000000000000000000000000000", "cs_dashboards0000000000000000000000000000"
	store, err := woosim.Start(woosim.Options{ConsumerKey: key, ConsumerSecret: secret, WebhookDelay: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(store.Close)
	s.store = store
	if err := store.Store.Seed(woosim.SeedOptions{Products: 5, Stock: 5, SKUPrefix: "SKU"}); err != nil {
		t.Fatal(err)
	}
	for _, sku := range append(store.Store.SKUs(), "NOT-IN-STORE") {
		s.api(http.MethodPut, "/api/v1/skus/"+sku+"/locations/main", map[string]any{"on_hand": 20}, nil)
	}
	var created struct {
		ID    int64  `json:"id"`
		Token string `json:"token"`
	}
	s.api(http.MethodPost, "/api/v1/stores", map[string]any{"name": storeName, "url": store.URL, "policy": "mirror", "buffer": 0}, &created)
	s.storeID = created.ID

	agent, err := launch.Start("agent", filepath.Join(bin, "agent"), []string{
		"--hub", "http://" + s.hubAddr, "--store-url", store.URL,
		"--listen", s.agentAddr, "--public-url", "http://" + s.agentAddr,
		"--data-dir", filepath.Join(s.dir, "agent"), "--poll-interval", "1s", "--log-format", "text"},
		[]string{"STOCKWIRE_TOKEN=" + created.Token, "STOCKWIRE_CONSUMER_KEY=" + key, "STOCKWIRE_CONSUMER_SECRET=" + secret},
		filepath.Join(s.dir, "agent.log"), nil)
	if err != nil {
		t.Fatal(err)
	}
	s.agent = agent
	t.Cleanup(func() { agent.Stop(10 * time.Second) })
	s.waitHTTP(agent, "http://"+s.agentAddr+"/healthz")

	waitFor(t, 30*time.Second, "the hub sees the agent connected", func() error {
		var st struct {
			Agent struct {
				Connected bool `json:"connected"`
			} `json:"agent"`
		}
		if err := s.tryAPI(http.MethodGet, fmt.Sprintf("/api/v1/stores/%d", s.storeID), nil, &st); err != nil {
			return err
		}
		if !st.Agent.Connected {
			return fmt.Errorf("store %d: agent not connected", s.storeID)
		}
		return nil
	})
	return s
}

func (s *system) waitHTTP(p *launch.Proc, url string) {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(s.t.Context(), 60*time.Second)
	defer cancel()
	if err := p.WaitHTTP(ctx, url); err != nil {
		s.t.Fatal(err)
	}
}

func (s *system) dumpLogs() {
	for _, p := range []*launch.Proc{s.hub, s.agent} {
		if p == nil {
			continue
		}
		b, _ := os.ReadFile(p.Log)
		if len(b) > 6000 {
			b = b[len(b)-6000:]
		}
		s.t.Logf("--- last lines of %s ---\n%s", p.Log, b)
	}
}

// api calls the hub's admin API and decodes the answer into out.
func (s *system) api(method, path string, body, out any) {
	s.t.Helper()
	if err := s.tryAPI(method, path, body, out); err != nil {
		s.t.Fatal(err)
	}
}

func (s *system) tryAPI(method, path string, body, out any) error {
	c := hubapi.Client{BaseURL: "http://" + s.hubAddr, AdminToken: adminToken}
	return c.DoJSON(s.t.Context(), method, path, body, out)
}

func freeAddr(t *testing.T) string {
	t.Helper()
	addr, err := launch.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	return addr
}

// waitFor polls cond until it returns nil, failing the test with its last
// error once timeout has passed.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() error) {
	t.Helper()
	if err := launch.Poll(t.Context(), timeout, what, cond); err != nil {
		t.Fatal(err)
	}
}
