package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/stockwire/stockwire/shared/hubapi"
	"github.com/stockwire/stockwire/shared/launch"
	"github.com/stockwire/stockwire/shared/woosim"
)

// demoStore is one simulated store and its agent.
type demoStore struct {
	name   string
	policy string
	id     int64
	token  string
	sim    *woosim.Server
	agent  *launch.Proc
	listen string
	// metricsListen is the agent's --metrics-listen.
	metricsListen string
}

type demo struct {
	cfg    config
	hubURL string
	admin  string
	hub    *launch.Proc
	stores []*demoStore
	skus   []string
}

func run(ctx context.Context, cfg config) error {
	for _, bin := range []string{"hub", "agent"} {
		if _, err := os.Stat(filepath.Join(cfg.BinDir, bin)); err != nil {
			return fmt.Errorf("binary %s not found in %s: run `make demo` (it builds them)", bin, cfg.BinDir)
		}
	}
	if err := os.RemoveAll(filepath.Join(cfg.DataDir, "agents")); err != nil {
		return err
	}
	if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
		return err
	}
	d := &demo{cfg: cfg, hubURL: "http://" + cfg.HubListen, admin: randomToken()}
	defer d.shutdown()
	if err := d.start(ctx); err != nil {
		return err
	}
	d.banner()

	rctx := ctx
	if cfg.Duration > 0 {
		var cancel context.CancelFunc
		rctx, cancel = context.WithTimeout(ctx, cfg.Duration)
		defer cancel()
	}
	tctx := rctx
	if cfg.TrafficFor > 0 {
		var cancel context.CancelFunc
		tctx, cancel = context.WithTimeout(rctx, cfg.TrafficFor)
		defer cancel()
	}
	traffic := newTraffic(d)
	trafficDone := make(chan struct{})
	go func() {
		defer close(trafficDone)
		traffic.run(tctx)
		if rctx.Err() == nil {
			fmt.Println("\ntraffic stopped: watch the stores settle to the hub's figures (Ctrl-C stops everything)")
		}
	}()
	d.report(rctx, traffic)
	<-trafficDone
	fmt.Println("\nstopping: agents, then the hub (and its PostgreSQL) …")
	return nil
}

func (d *demo) start(ctx context.Context) error {
	fmt.Println("starting the hub (first start creates its private PostgreSQL cluster) …")
	// A fresh hub (database included) per run keeps the demo repeatable.
	hubDir := filepath.Join(d.cfg.DataDir, "hub")
	_ = os.RemoveAll(hubDir)
	hub, err := launch.Start("hub", filepath.Join(d.cfg.BinDir, "hub"), []string{"serve",
		"--listen", d.cfg.HubListen, "--data-dir", hubDir, "--log-format", "text"},
		// The admin token goes through the environment, where ps does not
		// show it.
		[]string{"STOCKWIRE_ADMIN_TOKEN=" + d.admin}, filepath.Join(d.cfg.DataDir, "hub.log"), nil)
	if err != nil {
		return err
	}
	d.hub = hub
	wctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	if err := hub.WaitHTTP(wctx, d.hubURL+"/readyz"); err != nil {
		return err
	}

	for i := range d.cfg.Stores + d.cfg.Allocate {
		sim, err := woosim.Start(woosim.Options{WebhookDelay: time.Second})
		if err != nil {
			return err
		}
		sim.Store.Seed(woosim.SeedOptions{Products: d.cfg.SKUs, Variable: 2, VariationsPer: 3, Stock: 0, SKUPrefix: "DEMO"})
		d.stores = append(d.stores, &demoStore{name: storeNames[i%len(storeNames)] + suffix(i), sim: sim})
	}
	// Variable products' parents carry a SKU but no stock of their own: the
	// ERP counts the variations.
	for _, sku := range d.stores[0].sim.Store.SKUs() {
		if _, managed := d.stores[0].sim.Store.StockBySKU(sku); managed {
			d.skus = append(d.skus, sku)
		}
	}

	fmt.Printf("loading the ERP's counts for %d SKUs into the hub …\n", len(d.skus))
	for i, sku := range d.skus {
		if err := d.api(ctx, http.MethodPut, "/api/v1/skus/"+sku+"/locations/main", map[string]any{"on_hand": 40 + i%3*10}, nil); err != nil {
			return err
		}
		if err := d.api(ctx, http.MethodPut, "/api/v1/skus/"+sku+"/locations/east", map[string]any{"on_hand": 20}, nil); err != nil {
			return err
		}
	}
	for i, st := range d.stores {
		var out struct {
			ID    int64  `json:"id"`
			Token string `json:"token"`
		}
		buffer := 0
		if i == 1 {
			buffer = 2 // this store keeps 2 units back as a safety margin
		}
		st.policy = "mirror"
		if i >= d.cfg.Stores {
			st.policy = "allocate" // sells only what the hub granted it
		}
		if err := d.api(ctx, http.MethodPost, "/api/v1/stores", map[string]any{"name": st.name, "url": st.sim.URL, "policy": st.policy, "buffer": buffer}, &out); err != nil {
			return err
		}
		st.id, st.token = out.ID, out.Token
		if err := d.startAgent(ctx, st); err != nil {
			return err
		}
	}
	return nil
}

var storeNames = []string{"eu-shop", "us-shop", "wholesale", "outlet", "kids", "pro"}

func suffix(i int) string {
	if i < len(storeNames) {
		return ""
	}
	return fmt.Sprintf("-%d", i/len(storeNames)+1)
}

func (d *demo) startAgent(ctx context.Context, st *demoStore) error {
	addr, err := launch.FreeAddr()
	if err != nil {
		return err
	}
	st.listen = addr
	if st.metricsListen, err = launch.FreeAddr(); err != nil {
		return err
	}
	p, err := launch.Start(st.name, filepath.Join(d.cfg.BinDir, "agent"), []string{
		"--hub", d.hubURL, "--store-url", st.sim.URL, "--listen", addr, "--metrics-listen", st.metricsListen, "--public-url", "http://" + addr,
		"--data-dir", filepath.Join(d.cfg.DataDir, "agents", st.name), "--poll-interval", "2s",
		"--log-format", "text"},
		// Secrets go through the environment, not the command line.
		[]string{"STOCKWIRE_TOKEN=" + st.token, "STOCKWIRE_CONSUMER_KEY=" + st.sim.Store.ConsumerKey(),
			"STOCKWIRE_CONSUMER_SECRET=" + st.sim.Store.ConsumerSecret()},
		filepath.Join(d.cfg.DataDir, st.name+".log"), nil)
	if err != nil {
		return err
	}
	st.agent = p
	wctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	return p.WaitHTTP(wctx, "http://"+addr+"/healthz")
}

func (d *demo) banner() {
	fmt.Printf(`
stockwire demo is running.
  console      %[1]s/      (log in with the admin token %[2]s)
  hub API      %[1]s/api/v1/skus      (Authorization: Bearer %[2]s)
  stores       %[1]s/api/v1/stores
  order feed   %[1]s/api/v1/orders
  hub metrics  %[1]s/metrics
  status page  %[1]s/status      (the admin token as a header: curl -H "Authorization: Bearer %[2]s" %[1]s/status,
                                      or a browser extension that sets it)
  logs         %[3]s/*.log
`, d.hubURL, d.admin, d.cfg.DataDir)
	for _, st := range d.stores {
		fmt.Printf("  %-10s   %-8s   store %s   agent metrics http://%s/metrics\n", st.name, st.policy, st.sim.URL, st.metricsListen)
	}
	fmt.Println("\nCtrl-C stops everything.")
}

func (d *demo) shutdown() {
	for _, st := range d.stores {
		if st.agent != nil {
			st.agent.Stop(10 * time.Second)
		}
	}
	if d.hub != nil {
		d.hub.Stop(30 * time.Second)
	}
	for _, st := range d.stores {
		st.sim.Close()
	}
}

// api calls the hub's admin API.
func (d *demo) api(ctx context.Context, method, path string, body, out any) error {
	c := hubapi.Client{BaseURL: d.hubURL, AdminToken: d.admin}
	return c.DoJSON(ctx, method, path, body, out)
}

func randomToken() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return "demo-" + hex.EncodeToString(b)
}
