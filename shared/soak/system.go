package soak

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/stockwire/stockwire/shared/benchenv"
	"github.com/stockwire/stockwire/shared/hubapi"
	"github.com/stockwire/stockwire/shared/launch"
	"github.com/stockwire/stockwire/shared/scrape"
	"github.com/stockwire/stockwire/shared/woosim"
)

const adminToken = "soak-admin-token-0123456789abcdef"

// system is the hub replicas on one database, the stores and their agents.
type system struct {
	env      *benchenv.Env
	cfg      Config
	dsn      string
	replicas []*process
	stores   []*store
	skus     []string
	http     *http.Client
	res      *Result
	start    time.Time // when the traffic started
}

// since is the time into the traffic.
func (s *system) since() time.Duration { return time.Since(s.start).Round(100 * time.Millisecond) }

// store is one woosim store and its agent.
type store struct {
	idx    int
	name   string
	policy string
	id     int64
	sim    *woosim.Server
	agent  *process
	key    string // the consumer key and secret's common part
	recent recentOrders
	stats  storeStats
}

// process is a hub or agent that the soak kills and starts again; an exit
// it did not cause is counted as a crash.
type process struct {
	name   string
	bin    string
	args   []string
	env    []string
	log    string
	health string // URL answering 200 once the process is up

	mu      sync.Mutex
	proc    *launch.Proc
	killing bool // the soak is killing it: its exit is no crash
	kills   int
	crashes []string
}

// start starts the process and waits until it answers its health URL.
func (p *process) start(ctx context.Context) error {
	lp, err := launch.Start(p.name, p.bin, p.args, p.env, p.log, nil)
	if err != nil {
		return err
	}
	p.mu.Lock()
	p.proc = lp
	p.killing = false
	p.mu.Unlock()
	go p.watch(lp)
	wctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	return lp.WaitHTTP(wctx, p.health)
}

// watch records an exit the soak did not cause.
func (p *process) watch(lp *launch.Proc) {
	<-lp.Done()
	_, err := lp.Exited()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.proc == lp && !p.killing {
		p.crashes = append(p.crashes, fmt.Sprintf("%s exited at %s: %v (log %s)", p.name, time.Now().Format("15:04:05"), err, p.log))
	}
}

// kill SIGKILLs the process.
func (p *process) kill() {
	p.mu.Lock()
	lp := p.proc
	p.killing = true
	p.kills++
	p.mu.Unlock()
	if lp != nil {
		_ = lp.Kill()
	}
}

// running reports whether the process is up, and its pid.
func (p *process) running() (int, bool) {
	p.mu.Lock()
	lp := p.proc
	p.mu.Unlock()
	if lp == nil {
		return 0, false
	}
	if exited, _ := lp.Exited(); exited {
		return 0, false
	}
	return lp.Cmd.Process.Pid, true
}

// ensure starts the process again when it is not running (after a kill or
// a crash), as a supervisor would.
func (p *process) ensure(ctx context.Context) error {
	if _, ok := p.running(); ok {
		return nil
	}
	return p.start(ctx)
}

func (p *process) stop() {
	p.mu.Lock()
	lp := p.proc
	p.killing = true
	p.mu.Unlock()
	if lp != nil {
		_ = lp.Stop(10 * time.Second)
	}
}

// counts returns the kills and the crashes so far.
func (p *process) counts() (kills int, crashes []string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.kills, append([]string(nil), p.crashes...)
}

// startSystem starts the replicas on a new database, counts every SKU,
// registers the stores and starts their agents, and waits until every
// store shows the hub's figures.
func startSystem(ctx context.Context, env *benchenv.Env, cfg Config) (*system, error) {
	if err := env.Cluster.CreateDatabase(ctx, "soak"); err != nil {
		return nil, err
	}
	s := &system{env: env, cfg: cfg, dsn: env.Cluster.DSN("soak"), http: &http.Client{Timeout: 30 * time.Second}}
	for i := range cfg.Replicas {
		addr, err := launch.FreeAddr()
		if err != nil {
			return nil, err
		}
		name := fmt.Sprintf("replica-%d", i)
		p := &process{name: name, bin: env.Bin("hub"), log: env.Path("logs", name+".log"), health: "http://" + addr + "/readyz",
			args: []string{"serve", "--listen", addr, "--database-url", s.dsn, "--admin-token", adminToken,
				"--replica-name", name, "--data-dir", env.Path(name), "--log-format", "text"}}
		if err := p.start(ctx); err != nil {
			s.close()
			return nil, err
		}
		s.replicas = append(s.replicas, p)
	}
	for i := range cfg.Mirror + cfg.Allocate {
		if err := s.addStore(i); err != nil {
			s.close()
			return nil, err
		}
	}
	s.skus = s.stores[0].sim.Store.SKUs()
	for _, sku := range s.skus {
		if err := s.api(ctx, http.MethodPut, "/api/v1/skus/"+sku+"/locations/main", map[string]any{"on_hand": cfg.InitialStock}, nil); err != nil {
			s.close()
			return nil, err
		}
	}
	for _, st := range s.stores {
		if err := s.startAgent(ctx, st); err != nil {
			s.close()
			return nil, err
		}
	}
	err := launch.PollEvery(ctx, 2*time.Minute, 200*time.Millisecond, "every store shows the hub's figures", func() error {
		_, err := s.difference(ctx)
		return err
	})
	if err != nil {
		s.close()
		return nil, err
	}
	return s, nil
}

func (s *system) addStore(i int) error {
	st := &store{idx: i, name: fmt.Sprintf("store-%d", i), policy: "mirror", key: fmt.Sprintf("%040d", i)}
	if i >= s.cfg.Mirror {
		st.policy = "allocate"
	}
	sim, err := woosim.Start(woosim.Options{ConsumerKey: "ck_" + st.key, ConsumerSecret: "cs_" + st.key, WebhookDelay: s.cfg.WebhookDelay})
	if err != nil {
		return err
	}
	st.sim = sim
	s.stores = append(s.stores, st)
	// Every store starts empty: the first sync writes every figure.
	return sim.Store.Seed(woosim.SeedOptions{Products: s.cfg.SKUs, Stock: 0, SKUPrefix: "SOAK-"})
}

// startAgent registers st with the hub and starts its agent, which is given
// every replica, its own first.
func (s *system) startAgent(ctx context.Context, st *store) error {
	var out struct {
		ID    int64  `json:"id"`
		Token string `json:"token"`
	}
	if err := s.api(ctx, http.MethodPost, "/api/v1/stores", map[string]any{"name": st.name, "url": st.sim.URL, "policy": st.policy}, &out); err != nil {
		return err
	}
	st.id = out.ID
	listen, err := launch.FreeAddr()
	if err != nil {
		return err
	}
	metrics, err := launch.FreeAddr()
	if err != nil {
		return err
	}
	hubs := make([]string, len(s.replicas))
	for i := range s.replicas {
		hubs[i] = s.replicas[(st.idx+i)%len(s.replicas)].baseURL()
	}
	st.agent = &process{name: st.name, bin: s.env.Bin("agent"), log: s.env.Path("logs", st.name+".log"),
		health: "http://" + listen + "/healthz",
		args: []string{"--hub", strings.Join(hubs, ","), "--store-url", st.sim.URL, "--listen", listen,
			"--metrics-listen", metrics, "--public-url", "http://" + listen, "--data-dir", s.env.Path("agents", st.name),
			"--poll-interval", s.cfg.PollInterval.String(), "--rate-limit", strconv.FormatFloat(s.cfg.RateLimit, 'f', -1, 64),
			"--log-format", "text"},
		env: []string{"STOCKWIRE_TOKEN=" + out.Token, "STOCKWIRE_CONSUMER_KEY=ck_" + st.key, "STOCKWIRE_CONSUMER_SECRET=cs_" + st.key}}
	return st.agent.start(ctx)
}

// baseURL is a hub replica's base URL.
func (p *process) baseURL() string {
	return strings.TrimSuffix(p.health, "/readyz")
}

// metricsURL is the URL of an agent's or a hub's /metrics.
func (p *process) metricsURL() string {
	for i, a := range p.args {
		if a == "--metrics-listen" && i+1 < len(p.args) {
			return "http://" + p.args[i+1] + "/metrics"
		}
	}
	return p.baseURL() + "/metrics"
}

func (s *system) close() {
	for _, st := range s.stores {
		if st.agent != nil {
			st.agent.stop()
		}
		st.sim.Close()
	}
	for _, r := range s.replicas {
		r.stop()
	}
}

// api calls the admin API of the first replica that answers: a replica
// being killed or PostgreSQL being down is retried until ctx ends, so the
// callers' requests must be idempotent.
func (s *system) api(ctx context.Context, method, path string, body, out any) error {
	var errs []error
	for attempt := 0; ; attempt++ {
		r := s.replicas[attempt%len(s.replicas)]
		c := hubapi.Client{BaseURL: r.baseURL(), AdminToken: adminToken, HTTP: s.http}
		err := c.DoJSON(ctx, method, path, body, out)
		if err == nil {
			return nil
		}
		var ae *hubapi.Error
		if errors.As(err, &ae) && !retryable[ae.Code] {
			return err
		}
		errs = append(errs[max(0, len(errs)-3):], err)
		if attempt%20 == 19 {
			s.cfg.Logf("%s %s: still failing after %d attempts: %v", method, path, attempt+1, err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s %s: %w (last errors: %v)", method, path, ctx.Err(), errors.Join(errs...))
		case <-time.After(time.Duration(min(attempt, 10)) * 50 * time.Millisecond):
		}
	}
}

// retryable are the API's error codes that a second try may not meet.
var retryable = map[string]bool{hubapi.CodeInternal: true, hubapi.CodeUnavailable: true, hubapi.CodeTooManyRequests: true}

// hubSKUs returns the hub's view of every SKU.
func (s *system) hubSKUs(ctx context.Context) (map[string]hubapi.SKUStock, error) {
	out := map[string]hubapi.SKUStock{}
	after := ""
	for {
		var page hubapi.SKUList
		if err := s.api(ctx, http.MethodGet, "/api/v1/skus?limit=1000&after="+after, nil, &page); err != nil {
			return nil, err
		}
		for _, k := range page.SKUs {
			out[k.SKU] = k
		}
		if page.Next == "" {
			return out, nil
		}
		after = page.Next
	}
}

// difference returns the hub's SKUs and the first way a store's stock
// differs from the hub's target for it.
func (s *system) difference(ctx context.Context) (map[string]hubapi.SKUStock, error) {
	hs, err := s.hubSKUs(ctx)
	if err != nil {
		return nil, err
	}
	for _, sku := range s.skus {
		k, ok := hs[sku]
		if !ok {
			return hs, fmt.Errorf("the hub does not list %s", sku)
		}
		for _, st := range s.stores {
			want, ok := k.Targets[strconv.FormatInt(st.id, 10)]
			got, _ := st.sim.Store.StockBySKU(sku)
			if !ok || got != want {
				return hs, fmt.Errorf("%s: %s shows %d, the hub's target is %d", sku, st.name, got, want)
			}
		}
	}
	return hs, nil
}

// agentHealth is the part of an agent's /healthz the soak checks.
type agentHealth struct {
	Status       string `json:"status"`
	OutboxEvents int    `json:"outbox_events"`
	DeadLetters  int    `json:"dead_letters"`
}

func (s *system) agentHealth(ctx context.Context, st *store) (agentHealth, error) {
	var h agentHealth
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, st.agent.health, nil)
	if err != nil {
		return h, err
	}
	resp, err := s.http.Do(req)
	if err != nil {
		return h, err
	}
	defer resp.Body.Close()
	// 503 still carries the figures.
	err = json.NewDecoder(resp.Body).Decode(&h)
	return h, err
}

// goroutines reads go_goroutines from the process's /metrics.
func (s *system) goroutines(ctx context.Context, p *process) (int, error) {
	page, err := scrape.Get(ctx, s.http, p.metricsURL())
	if err != nil {
		return 0, err
	}
	n, ok := page.Sum("go_goroutines")
	if !ok {
		return 0, fmt.Errorf("no go_goroutines in %s", p.metricsURL())
	}
	return int(n), nil
}
