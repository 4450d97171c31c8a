package e2e_test

import (
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lib/pq"

	"github.com/stockwire/stockwire/shared/pgtest"
	"github.com/stockwire/stockwire/shared/systest"
)

// The store's epoch: stockwire_seq markers left in the products by an
// earlier registration of the store, or by a history the hub lost, never
// make an agent skip a change. Without epochs the agent took the hub's
// new changes for ones the store already had, and each reached the store
// only through the safety net's repair, seconds later.

// TestMirror_StoreReRegisteredOverUsedCatalog: a store is removed from the
// hub and added again (a new store id, its sequence starting over) while
// its products keep the markers of the first registration.
func TestMirror_StoreReRegisteredOverUsedCatalog(t *testing.T) {
	s := newSystem(t, 1, 1, 100)
	st := s.stores[0]
	sku := st.sim.Store.SKUs()[0]
	// The first registration writes its markers up to a sequence the
	// second one will take a while to reach.
	for i := range 20 {
		s.hub.MustAPI(http.MethodPut, "/api/v1/skus/"+sku+"/locations/main", map[string]any{"on_hand": 101 + i}, nil)
	}
	systest.WaitFor(t, 30*time.Second, "the store at the hub's figure", s.converged)
	st.agent.Kill()
	s.hub.MustAPI(http.MethodDelete, "/api/v1/stores/"+strconv.FormatInt(st.id, 10), nil, nil)

	// Registered again, with a new agent (new data dir).
	st.name = "store-0-again"
	st.id, st.token = s.hub.CreateStore(st.name, st.sim.URL, "mirror")
	key := fmt.Sprintf("%040d", st.idx)
	st.agent = systest.StartAgent(t, systest.AgentOptions{Name: st.name, Hub: s.hubURLs(st.idx), StoreURL: st.sim.URL,
		Token: st.token, ConsumerKey: "ck_" + key, ConsumerSecret: "cs_" + key, Args: []string{"--poll-interval", "1s"}})
	systest.WaitFor(t, 30*time.Second, "the re-registered store at the hub's figure", s.converged)
	for i := range 5 {
		s.hub.MustAPI(http.MethodPut, "/api/v1/skus/"+sku+"/locations/main", map[string]any{"on_hand": 50 + i}, nil)
		systest.WaitFor(t, 30*time.Second, "the change in the store", s.converged)
	}
	if n := agentMetric(t, st.agent, "stockwire_agent_stock_repairs_total"); n != 0 {
		t.Fatalf("the agent repaired %v figures: changes were skipped for the old registration's markers", n)
	}
}

// TestMirror_HubRestoredFromBackup: the hub's database goes back to an
// earlier copy while the agent has applied changes past it. The hub draws
// a new epoch, and the changes it numbers anew reach the store.
func TestMirror_HubRestoredFromBackup(t *testing.T) {
	s := newSystem(t, 1, 1, 100)
	st := s.stores[0]
	sku := st.sim.Store.SKUs()[0]
	systest.WaitFor(t, 30*time.Second, "the store at the hub's figure", s.converged)

	s.hub.Kill()
	backup := copyDatabase(t, s.dsn, "")
	s.hub.Start()
	for i := range 10 {
		s.hub.MustAPI(http.MethodPut, "/api/v1/skus/"+sku+"/locations/main", map[string]any{"on_hand": 120 + i}, nil)
	}
	systest.WaitFor(t, 30*time.Second, "the store at the hub's figure", s.converged)
	var before []systest.HubStore
	before, err := s.hub.Stores()
	if err != nil {
		t.Fatal(err)
	}

	// Restore, then change the SKU again: the hub hands out numbers the
	// agent and the store's markers have seen.
	s.hub.Kill()
	copyDatabase(t, backup, s.dsn)
	s.hub.Start()
	s.hub.WaitConnected(st.name, true)
	for i := range 5 {
		s.hub.MustAPI(http.MethodPut, "/api/v1/skus/"+sku+"/locations/main", map[string]any{"on_hand": 60 + i}, nil)
		systest.WaitFor(t, 30*time.Second, "the change in the store", s.converged)
	}
	if n := agentMetric(t, st.agent, "stockwire_agent_stock_repairs_total"); n != 0 {
		t.Fatalf("the agent repaired %v figures: changes were skipped for markers of the lost history", n)
	}
	if out := systest.Output(t, s.hub.Proc); !strings.Contains(out, "drew a new epoch") {
		t.Fatalf("the hub did not draw a new epoch (applied before the restore: %+v)", before)
	}
}

// copyDatabase copies the database of srcDSN, which nothing may be
// connected to, into the database of dstDSN (dropped first), or into a
// new database when dstDSN is empty; it returns the copy's DSN.
func copyDatabase(t *testing.T, srcDSN, dstDSN string) string {
	t.Helper()
	c := pgtest.Cluster(t)
	src := dbName(t, srcDSN)
	dst := src + "_backup"
	if dstDSN != "" {
		dst = dbName(t, dstDSN)
	}
	admin, err := sql.Open("postgres", c.DSN("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if _, err := admin.ExecContext(ctx, "DROP DATABASE IF EXISTS "+pq.QuoteIdentifier(dst)+" WITH (FORCE)"); err != nil {
		t.Fatal(err)
	}
	// The killed hub's sessions end when PostgreSQL notices: until then
	// the source is busy.
	systest.WaitFor(t, 20*time.Second, "copy of "+src, func() error {
		_, err := admin.ExecContext(ctx, "CREATE DATABASE "+pq.QuoteIdentifier(dst)+" TEMPLATE "+pq.QuoteIdentifier(src))
		return err
	})
	if dstDSN == "" {
		t.Cleanup(func() {
			admin, err := sql.Open("postgres", c.DSN("postgres"))
			if err == nil {
				defer admin.Close()
				_, _ = admin.Exec("DROP DATABASE IF EXISTS " + pq.QuoteIdentifier(dst) + " WITH (FORCE)")
			}
		})
	}
	return strings.Replace(srcDSN, "dbname="+src, "dbname="+dst, 1)
}

func dbName(t *testing.T, dsn string) string {
	t.Helper()
	for _, f := range strings.Fields(dsn) {
		if name, ok := strings.CutPrefix(f, "dbname="); ok {
			return name
		}
	}
	t.Fatalf("no dbname in %q", dsn)
	return ""
}

// agentMetric returns the sum of a counter or gauge the agent exposes.
func agentMetric(t *testing.T, a *systest.Agent, name string) float64 {
	t.Helper()
	v, _, err := scrapeMetric(a.MetricsListen, name)
	if err != nil {
		t.Fatal(err)
	}
	return v
}
