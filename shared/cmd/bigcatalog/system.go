package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/stockwire/stockwire/shared/benchenv"
	"github.com/stockwire/stockwire/shared/hubapi"
	"github.com/stockwire/stockwire/shared/launch"
	"github.com/stockwire/stockwire/shared/scrape"
	"github.com/stockwire/stockwire/shared/woosim"
)

const adminToken = "bigcatalog-admin-token-0123456789"

func openEnv(ctx context.Context, cfg Config) (*benchenv.Env, error) {
	return benchenv.Open(ctx, benchenv.Options{Name: "bigcatalog", Logf: progress})
}

// requests counts one store's WooCommerce requests by kind.
type requests struct {
	scan   atomic.Int64 // catalog scan: product pages and variation pages
	reads  atomic.Int64 // reads by SKU (?sku=a,b,…)
	writes atomic.Int64 // batch updates
	other  atomic.Int64 // order polls, safety-net checks, webhooks, …
}

func (rq *requests) count(r *http.Request) {
	p, q := r.URL.Path, r.URL.Query()
	switch {
	case r.Method == http.MethodPost && strings.HasSuffix(p, "/batch"):
		rq.writes.Add(1)
	case r.Method != http.MethodGet:
		rq.other.Add(1)
	case strings.HasSuffix(p, "/variations"):
		rq.scan.Add(1)
	case strings.HasSuffix(p, "/products") && q.Get("sku") != "":
		rq.reads.Add(1)
	case strings.HasSuffix(p, "/products") && q.Get("modified_after") == "":
		rq.scan.Add(1)
	default:
		rq.other.Add(1)
	}
}

// store is one simulated store and its agent.
type store struct {
	name    string
	sim     *woosim.Server
	metrics string // the agent's --metrics-listen
	agent   *launch.Proc
	reqs    requests
	synced  time.Duration // from the agents' start to showing every hub figure
}

// result is one run's figures.
type result struct {
	stores      int
	importTook  time.Duration
	synced      []time.Duration
	scan        []int64
	reads       []int64
	writes      []int64
	other       []int64
	agentHWM    []int64 // kB
	agentRSS    []int64 // kB
	hubHWM      int64
	hubRSS      int64
	convergeErr error
}

// skuList is every SKU a store holds stock for, and the hub's count of
// each: never the store's starting figure, so that each takes a write.
func skuList(cfg Config) (skus []string, counts []int64) {
	for i := 1; i <= cfg.SKUs-3*cfg.Variable; i++ {
		skus = append(skus, fmt.Sprintf("SKU-%06d", i))
	}
	for i := 1; i <= cfg.Variable; i++ {
		for j := 1; j <= 3; j++ {
			skus = append(skus, fmt.Sprintf("SKU-V%06d-%d", i, j))
		}
	}
	counts = make([]int64, len(skus))
	for i := range skus {
		counts[i] = int64(cfg.StoreStock + 1 + i%97)
	}
	return skus, counts
}

// measure runs one sync of n stores on a fresh database and hub.
func measure(ctx context.Context, env *benchenv.Env, cfg Config, run, n int) (res result, err error) {
	res.stores = n
	db := fmt.Sprintf("bigcatalog%d", run)
	if err := env.Cluster.CreateDatabase(ctx, db); err != nil {
		return res, err
	}
	hubAddr, err := launch.FreeAddr()
	if err != nil {
		return res, err
	}
	hub, err := launch.Start("hub", env.Bin("hub"), []string{"serve", "--listen", hubAddr, "--database-url", env.Cluster.DSN(db),
		"--admin-token", adminToken, "--data-dir", env.Path(db, "hub"), "--log-format", "text"}, nil, env.Path("logs", db, "hub.log"), nil)
	if err != nil {
		return res, err
	}
	defer hub.Stop(10 * time.Second)
	api := &hubapi.Client{BaseURL: "http://" + hubAddr, AdminToken: adminToken}
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	err = hub.WaitHTTP(wctx, "http://"+hubAddr+"/readyz")
	cancel()
	if err != nil {
		return res, err
	}

	skus, counts := skuList(cfg)
	var csv bytes.Buffer
	csv.WriteString("sku,location,on_hand\n")
	for i, sku := range skus {
		fmt.Fprintf(&csv, "%s,main,%d\n", sku, counts[i])
	}
	progress("%d stores: importing %d counts", n, len(skus))
	start := time.Now()
	if err := api.Do(ctx, http.MethodPost, "/api/v1/stock/import", "text/csv", &csv, nil); err != nil {
		return res, fmt.Errorf("import: %w", err)
	}
	res.importTook = time.Since(start)
	progress("imported in %s; seeding %d stores", res.importTook.Round(time.Millisecond), n)

	var stores []*store
	defer func() {
		for _, st := range stores {
			if st.agent != nil {
				st.agent.Stop(10 * time.Second)
			}
			st.sim.Close()
		}
	}()
	for i := range n {
		st, err := startStore(cfg, i)
		if err != nil {
			return res, err
		}
		stores = append(stores, st)
	}
	start = time.Now()
	for i, st := range stores {
		if err := startAgent(ctx, env, api, cfg, db, i, st); err != nil {
			return res, err
		}
	}
	progress("%d agents started at --rate-limit %g; waiting for every store to show the hub's %d figures", n, cfg.RateLimit, len(skus))
	res.convergeErr = launch.PollEvery(ctx, cfg.Timeout, time.Second, "every store shows the hub's figures", func() error {
		waiting := 0
		for _, st := range stores {
			if st.synced > 0 {
				continue
			}
			off := 0
			for i, sku := range skus {
				if q, _ := st.sim.Store.StockBySKU(sku); q != counts[i] {
					off++
				}
			}
			if off == 0 {
				st.synced = time.Since(start)
				progress("%s shows every figure after %s", st.name, st.synced.Round(time.Millisecond))
				continue
			}
			waiting += off
		}
		if waiting > 0 {
			return fmt.Errorf("%d figures still off", waiting)
		}
		return nil
	})
	// The figures count the whole first sync: wait for the catalog scans
	// to complete too.
	scanErr := launch.PollEvery(ctx, cfg.Timeout, time.Second, "every catalog scan complete", func() error {
		for _, st := range stores {
			if v, err := metric(ctx, st.metrics, "stockwire_agent_catalog_scan_complete"); err != nil || v != 1 {
				return fmt.Errorf("%s: scan not complete (%v)", st.name, err)
			}
		}
		return nil
	})
	for _, st := range stores {
		res.synced = append(res.synced, st.synced)
		res.scan = append(res.scan, st.reqs.scan.Load())
		res.reads = append(res.reads, st.reqs.reads.Load())
		res.writes = append(res.writes, st.reqs.writes.Load())
		res.other = append(res.other, st.reqs.other.Load())
		hwm, rss := memory(st.agent)
		res.agentHWM, res.agentRSS = append(res.agentHWM, hwm), append(res.agentRSS, rss)
	}
	res.hubHWM, res.hubRSS = memory(hub)
	return res, scanErr
}

func startStore(cfg Config, i int) (*store, error) {
	key := fmt.Sprintf("%040d", i)
	sim, err := woosim.Start(woosim.Options{ConsumerKey: "ck_" + key, ConsumerSecret: "cs_" + key})
	if err != nil {
		return nil, err
	}
	st := &store{name: fmt.Sprintf("store-%d", i), sim: sim}
	sim.Store.SetOnRequest(st.reqs.count)
	if err := sim.Store.Seed(woosim.SeedOptions{Products: cfg.SKUs - 3*cfg.Variable, Variable: cfg.Variable, Stock: cfg.StoreStock}); err != nil {
		sim.Close()
		return nil, err
	}
	return st, nil
}

func startAgent(ctx context.Context, env *benchenv.Env, api *hubapi.Client, cfg Config, db string, i int, st *store) error {
	var out struct {
		Token string `json:"token"`
	}
	if err := api.DoJSON(ctx, http.MethodPost, "/api/v1/stores", map[string]any{"name": st.name, "url": st.sim.URL, "policy": "mirror"}, &out); err != nil {
		return err
	}
	listen, err := launch.FreeAddr()
	if err != nil {
		return err
	}
	if st.metrics, err = launch.FreeAddr(); err != nil {
		return err
	}
	key := fmt.Sprintf("%040d", i)
	if st.agent, err = launch.Start(st.name, env.Bin("agent"), []string{
		"--hub", api.BaseURL, "--store-url", st.sim.URL, "--listen", listen, "--metrics-listen", st.metrics, "--public-url", "http://" + listen,
		"--data-dir", env.Path(db, st.name), "--rate-limit", strconv.FormatFloat(cfg.RateLimit, 'f', -1, 64), "--log-format", "text"},
		[]string{"STOCKWIRE_TOKEN=" + out.Token, "STOCKWIRE_CONSUMER_KEY=ck_" + key, "STOCKWIRE_CONSUMER_SECRET=cs_" + key},
		env.Path("logs", db, st.name+".log"), nil); err != nil {
		return err
	}
	wctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	return st.agent.WaitHTTP(wctx, "http://"+listen+"/healthz")
}

// memory returns p's peak and current resident set (VmHWM, VmRSS) in kB.
func memory(p *launch.Proc) (hwm, rss int64) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", p.Cmd.Process.Pid))
	if err != nil {
		return 0, 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		switch k {
		case "VmHWM":
			hwm = n
		case "VmRSS":
			rss = n
		}
	}
	return hwm, rss
}

// metric returns the value of the agent's metric named name (its one
// store's series).
func metric(ctx context.Context, addr, name string) (float64, error) {
	page, err := scrape.Get(ctx, nil, "http://"+addr+"/metrics")
	if err != nil {
		return 0, err
	}
	v, ok := page.Sum(name)
	if !ok {
		return 0, fmt.Errorf("no %s", name)
	}
	return v, nil
}

// report prints a table: one row per store of each run.
func report(w io.Writer, cfg Config, results []result) {
	fmt.Fprintf(w, "bigcatalog: %d SKUs per store (%d variations of %d variable products), agents at --rate-limit %g, default GOGC/GOMEMLIMIT\n",
		cfg.SKUs, 3*cfg.Variable, cfg.Variable, cfg.RateLimit)
	fmt.Fprintf(w, "write budget 1.05 × SKUs/100 = %.0f requests per store\n", 1.05*float64(cfg.SKUs)/100)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "stores\timport\tstore\tsynced after\tscan req\treads\twrites\tother\tagent VmHWM\tagent VmRSS\thub VmHWM\thub VmRSS\t")
	for _, r := range results {
		for i := range r.synced {
			synced := "NOT"
			if r.synced[i] > 0 {
				synced = r.synced[i].Round(100 * time.Millisecond).String()
			}
			fmt.Fprintf(tw, "%d\t%s\t%d\t%s\t%d\t%d\t%d\t%d\t%s\t%s\t%s\t%s\t\n", r.stores, r.importTook.Round(10*time.Millisecond), i, synced,
				r.scan[i], r.reads[i], r.writes[i], r.other[i], mb(r.agentHWM[i]), mb(r.agentRSS[i]), mb(r.hubHWM), mb(r.hubRSS))
		}
		if r.convergeErr != nil {
			fmt.Fprintf(tw, "%d\t\t\tNOT CONVERGED: %v\t\t\t\t\t\t\t\t\t\n", r.stores, r.convergeErr)
		}
	}
	tw.Flush()
}

func mb(kb int64) string { return fmt.Sprintf("%.1f MB", float64(kb)/1024) }
