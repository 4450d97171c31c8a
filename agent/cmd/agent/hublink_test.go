package main_test

import (
	"flag"
	"fmt"
	"net/http"
	"syscall"
	"testing"
	"time"

	"github.com/stockwire/stockwire/shared/pgtest"
	"github.com/stockwire/stockwire/shared/systest"
	"github.com/stockwire/stockwire/shared/woosim"
)

// hubPingInterval is the agent's --hub-ping-interval in
// TestAgent_FrozenHubReplica. Run with -args -hub-ping-interval=10s (the
// default) for the figure of a production agent.
var hubPingInterval = flag.Duration("hub-ping-interval", 500*time.Millisecond, "the agent's --hub-ping-interval in TestAgent_FrozenHubReplica")

// A hub replica frozen with SIGSTOP keeps the agent's TCP connection open
// but answers nothing: the agent must notice within a few ping intervals,
// move to the other replica and take the hub's changes from it again.
func TestAgent_FrozenHubReplica(t *testing.T) {
	t.Parallel()
	dsn := pgtest.NewEmptyDB(t)
	frozen := systest.StartHub(t, systest.HubOptions{DatabaseURL: dsn, Name: "replica-a"})
	other := systest.StartHub(t, systest.HubOptions{DatabaseURL: dsn, Name: "replica-b"})
	key, secret := newKeys()
	sim := newStore(t, woosim.Options{ConsumerKey: key, ConsumerSecret: secret})
	sku := sim.Store.SKUs()[0]
	frozen.MustAPI(http.MethodPut, "/api/v1/skus/"+sku+"/locations/main", map[string]any{"on_hand": 10}, nil)
	_, token := frozen.CreateStore("frozen-hub-shop", sim.URL, "mirror")
	listen := systest.FreeAddr(t)
	p := systest.Start(t, "agent", []string{"--hub", frozen.URL() + "," + other.URL(), "--store-url", sim.URL,
		"--listen", listen, "--metrics-listen", systest.FreeAddr(t), "--data-dir", t.TempDir(), "--log-format", "text",
		"--hub-ping-interval", hubPingInterval.String()},
		[]string{"STOCKWIRE_TOKEN=" + token, "STOCKWIRE_CONSUMER_KEY=" + key, "STOCKWIRE_CONSUMER_SECRET=" + secret})
	waitHealthy(t, p, listen)
	storeShows := func(want int64) func() error {
		return func() error {
			if got, _ := sim.Store.StockBySKU(sku); got != want {
				return fmt.Errorf("store shows %d of %s, want %d", got, sku, want)
			}
			return nil
		}
	}
	systest.WaitFor(t, 30*time.Second, "hub's figure written to the store", storeShows(10))
	systest.WaitFor(t, 30*time.Second, "agent connected to replica-a", func() error {
		stores, err := other.Stores()
		if err != nil {
			return err
		}
		if len(stores) != 1 || !stores[0].Agent.Connected || stores[0].Agent.Replica != "replica-a" {
			return fmt.Errorf("stores: %+v", stores)
		}
		return nil
	})

	// Thaw it before the rig stops it (a stopped process ignores SIGTERM).
	t.Cleanup(func() { frozen.Proc.Cmd.Process.Signal(syscall.SIGCONT) })
	if err := frozen.Proc.Cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	stopped := time.Now()
	other.MustAPI(http.MethodPut, "/api/v1/skus/"+sku+"/locations/main", map[string]any{"on_hand": 20}, nil)
	systest.WaitFor(t, 3**hubPingInterval+30*time.Second, "the change made on replica-b written to the store", storeShows(20))
	t.Logf("figure: with --hub-ping-interval %s, the store received changes again %s after its hub replica was frozen",
		*hubPingInterval, time.Since(stopped).Round(time.Millisecond))
}
