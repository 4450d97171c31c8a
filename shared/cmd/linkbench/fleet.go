package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/stockwire/stockwire/shared/launch"
	"github.com/stockwire/stockwire/shared/procstat"
	"github.com/stockwire/stockwire/shared/woosim"
)

// shop is one simulated WooCommerce store, served in-process, with its
// agent running as a process.
type shop struct {
	idx   int
	name  string
	url   string
	store *woosim.Store
	srv   *http.Server

	id    int64  // hub store id
	token string // agent credential
	agent *launch.Proc
}

// startShop serves a woosim store on loopback. onWrite, when set, is
// installed with the store's SetOnStockWrite before the store serves anything.
func (b *bench) startShop(idx int, seed woosim.SeedOptions, onWrite func(skus []string, at time.Time)) (*shop, error) {
	key := fmt.Sprintf("%040d", idx)
	delay := b.cfg.WebhookDelay
	if delay == 0 {
		delay = -1 // woosim's "none"; zero would be its 1s default
	}
	st := woosim.NewStore(woosim.Options{ConsumerKey: "ck_" + key, ConsumerSecret: "cs_" + key, WebhookDelay: delay})
	st.SetOnStockWrite(onWrite)
	if err := st.Seed(seed); err != nil {
		st.Close()
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		st.Close()
		return nil, err
	}
	s := &shop{idx: idx, name: fmt.Sprintf("store-%d", idx), url: "http://" + ln.Addr().String(), store: st,
		srv: &http.Server{Handler: st, ReadHeaderTimeout: 10 * time.Second}}
	st.SetHomeURL(s.url)
	go s.srv.Serve(ln)
	return s, nil
}

func (s *shop) close() {
	if s.agent != nil {
		s.agent.Stop(15 * time.Second)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := s.srv.Shutdown(ctx); err != nil {
		s.srv.Close()
	}
	s.store.Close()
}

// fleet is a hub's stores, each with an agent, or all served by one
// agent process (Fleet.OneAgent).
type fleet struct {
	hub   *hubProc
	shops []*shop
	agent *launch.Proc // the one agent of every shop; nil: one per shop
}

// startFleet starts n stores holding the same seeded catalog, counts every
// SKU at onHand in the hub, enrols the stores and starts their agents, and
// waits until every agent is connected and every store shows the hub's
// figures. onWrite(i) gives store i's OnStockWrite hook (nil: none).
func (b *bench) startFleet(ctx context.Context, h *hubProc, n int, oneAgent bool, seed woosim.SeedOptions, onHand int64,
	onWrite func(i int) func(skus []string, at time.Time)) (*fleet, error) {
	f := &fleet{hub: h}
	for i := range n {
		var hook func([]string, time.Time)
		if onWrite != nil {
			hook = onWrite(i)
		}
		s, err := b.startShop(i, seed, hook)
		if err != nil {
			f.close()
			return nil, err
		}
		f.shops = append(f.shops, s)
	}
	if err := h.countAll(ctx, f.shops[0].store.SKUs(), onHand); err != nil {
		f.close()
		return nil, err
	}
	for _, s := range f.shops {
		id, token, err := h.createStore(ctx, s.name, s.url)
		if err != nil {
			f.close()
			return nil, err
		}
		s.id, s.token = id, token
	}

	if oneAgent {
		b.logf("starting one agent for %d stores", n)
		p, err := b.startMultiAgent(ctx, h, f.shops)
		if err != nil {
			f.close()
			return nil, err
		}
		f.agent = p
	} else if err := b.startAgents(ctx, h, f.shops); err != nil {
		f.close()
		return nil, err
	}
	if err := f.waitSynced(ctx, 2*time.Minute); err != nil {
		f.close()
		return nil, err
	}
	return f, nil
}

// startAgents starts an agent process for every shop.
func (b *bench) startAgents(ctx context.Context, h *hubProc, shops []*shop) error {
	b.logf("starting %d agents", len(shops))
	addrs := make([]string, len(shops))
	for i := range addrs {
		addr, err := launch.FreeAddr()
		if err != nil {
			return err
		}
		addrs[i] = addr
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	for i, s := range shops {
		g.Go(func() error {
			p, err := b.startAgent(gctx, h, s, addrs[i])
			s.agent = p // each goroutine owns its shop
			return err
		})
	}
	return g.Wait()
}

// countAll sets every SKU's count, a few requests at a time.
func (h *hubProc) countAll(ctx context.Context, skus []string, onHand int64) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	for _, sku := range skus {
		g.Go(func() error { return h.setOnHand(gctx, sku, onHand) })
	}
	return g.Wait()
}

// startAgent runs s's agent listening on listen and waits until it
// answers.
func (b *bench) startAgent(ctx context.Context, h *hubProc, s *shop, listen string) (*launch.Proc, error) {
	key := fmt.Sprintf("%040d", s.idx)
	p, err := launch.Start(s.name, b.binary("agent"), []string{
		"--hub", h.base, "--store-url", s.url,
		"--listen", listen, "--metrics-listen", "", "--public-url", "http://" + listen,
		"--data-dir", b.path(fmt.Sprintf("agents-%d", b.hubs), s.name),
		"--poll-interval", b.cfg.PollInterval.String(), "--log-format", "text"},
		[]string{"STOCKWIRE_TOKEN=" + s.token, "STOCKWIRE_CONSUMER_KEY=ck_" + key, "STOCKWIRE_CONSUMER_SECRET=cs_" + key},
		b.path("logs", fmt.Sprintf("agents-%d", b.hubs), s.name+".log"), nil)
	if err != nil {
		return nil, err
	}
	wctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := p.WaitHTTP(wctx, "http://"+listen+"/healthz"); err != nil {
		p.Kill()
		return nil, err
	}
	// Another process may have taken the port meanwhile and answered.
	if exited, err := p.Exited(); exited {
		return nil, fmt.Errorf("agent of %s exited at start: %v (log %s)", s.name, err, p.Log)
	}
	return p, nil
}

// waitSynced polls until every agent is connected and every store shows
// the hub's target for every SKU.
func (f *fleet) waitSynced(ctx context.Context, timeout time.Duration) error {
	return launch.Poll(ctx, timeout, "agents connected and stores at the hub's figures", func() error {
		connected, err := f.hub.agentStates(ctx)
		if err != nil {
			return err
		}
		for _, s := range f.shops {
			if !connected[s.id] {
				return fmt.Errorf("agent of %s not connected", s.name)
			}
		}
		return f.converged(ctx)
	})
}

// converged reports the first store figure that differs from the hub's
// target.
func (f *fleet) converged(ctx context.Context) error {
	stock, err := f.hub.stock(ctx)
	if err != nil {
		return err
	}
	return f.convergedTo(stock)
}

// convergedTo reports the first store figure that differs from the hub's
// target in stock.
func (f *fleet) convergedTo(stock []skuStock) error {
	for _, sk := range stock {
		for _, s := range f.shops {
			want, ok := sk.target(s.id)
			if !ok {
				return fmt.Errorf("%s: no hub target for %s", sk.SKU, s.name)
			}
			if got, ok := s.store.StockBySKU(sk.SKU); !ok || got != want {
				return fmt.Errorf("%s: %s shows %d, hub target %d", sk.SKU, s.name, got, want)
			}
		}
	}
	return nil
}

// agentMemory returns the memory of every agent process.
func (f *fleet) agentMemory() ([]procstat.Memory, error) {
	var out []procstat.Memory
	for _, pid := range f.agentPIDs() {
		m, err := procstat.ReadMemory(pid)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, nil
}

func (f *fleet) agentPIDs() []int {
	if f.agent != nil {
		return []int{f.agent.Cmd.Process.Pid}
	}
	pids := make([]int, len(f.shops))
	for i, s := range f.shops {
		pids[i] = s.agent.Cmd.Process.Pid
	}
	return pids
}

// close stops the agents (in parallel) and then the stores.
func (f *fleet) close() {
	if f.agent != nil {
		f.agent.Stop(15 * time.Second)
	}
	var wg sync.WaitGroup
	for _, s := range f.shops {
		wg.Go(s.close)
	}
	wg.Wait()
}
