package dashboards_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/stockwire/stockwire/shared/pgtest"
	"github.com/stockwire/stockwire/shared/systest"
)

// TestMain runs the throwaway PostgreSQL the hubs' databases live in.
func TestMain(m *testing.M) { pgtest.Main(m, nil) }

// storeName is the one store's name, looked for on the status page.
const storeName = "Lisbon Outlet"

// system is a hub process on a fresh database, one woosim store and its
// agent process.
type system struct {
	hub   *systest.Hub
	agent *systest.Agent
	store *systest.Woosim
}

// startSystem starts the hub, a store seeded with five products the hub
// counts (plus one SKU the store lacks), and the store's agent, and waits
// until the agent's link is up.
func startSystem(t *testing.T) *system {
	t.Helper()
	hub := systest.StartHub(t, systest.HubOptions{DatabaseURL: pgtest.NewEmptyDB(t)})
	const key, secret = "ck_dashboards0000000000000000000000000000", "cs_dashboards0000000000000000000000000000"
	store := systest.StartWoosim(t, systest.WoosimOptions{ConsumerKey: key, ConsumerSecret: secret,
		Products: 5, Stock: 5, WebhookDelay: 50 * time.Millisecond})
	for _, sku := range append(store.SKUs(), "NOT-IN-STORE") {
		hub.MustAPI(http.MethodPut, "/api/v1/skus/"+sku+"/locations/main", map[string]any{"on_hand": 20}, nil)
	}
	_, token := hub.CreateStore(storeName, store.URL, "mirror")
	agent := systest.StartAgent(t, systest.AgentOptions{Hub: hub.URL(), StoreURL: store.URL,
		Token: token, ConsumerKey: key, ConsumerSecret: secret, Args: []string{"--poll-interval", "1s"}})
	hub.WaitConnected(storeName, true)
	return &system{hub: hub, agent: agent, store: store}
}
