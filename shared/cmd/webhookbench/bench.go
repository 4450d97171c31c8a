package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/stockwire/stockwire/shared/benchenv"
	"github.com/stockwire/stockwire/shared/hubapi"
	"github.com/stockwire/stockwire/shared/launch"
	"github.com/stockwire/stockwire/shared/procstat"
	"github.com/stockwire/stockwire/shared/wire"
)

// adminToken is the admin API token of every hub the command starts.
const adminToken = "webhookbench-admin-token-0123456789"

// bench owns the work directory, the binaries and the PostgreSQL cluster.
type bench struct {
	cfg      Config
	progress io.Writer
	env      *benchenv.Env
	keepLogs bool // set when a run failed
	runs     int
}

func newBench(ctx context.Context, cfg Config, progress io.Writer) (*bench, error) {
	b := &bench{cfg: cfg, progress: progress}
	env, err := benchenv.Open(ctx, benchenv.Options{Name: "webhookbench", Fsync: cfg.Fsync, Logf: b.logf})
	if err != nil {
		return nil, err
	}
	b.env = env
	return b, nil
}

func (b *bench) close() { b.env.Close(b.cfg.Keep || b.keepLogs) }

func (b *bench) logf(format string, args ...any) {
	fmt.Fprintf(b.progress, "%s webhookbench: %s\n", time.Now().UTC().Format("15:04:05"), fmt.Sprintf(format, args...))
}

// run measures one run on a fresh database and hub: orders at rate,
// reported round robin by the stores, each delivered to every endpoint.
func (b *bench) run(ctx context.Context, name string, orders int, rate float64, endpoints int) (Result, error) {
	b.runs++
	res := Result{Name: name, Endpoints: endpoints}
	b.logf("%s: %d orders at %g/s to %d endpoint(s)", name, orders, rate, endpoints)
	dbname := fmt.Sprintf("webhookbench_%d", b.runs)
	if err := b.env.Cluster.CreateDatabase(ctx, dbname); err != nil {
		return res, err
	}
	addr, err := launch.FreeAddr()
	if err != nil {
		return res, err
	}
	hubName := fmt.Sprintf("hub-%d", b.runs)
	proc, err := launch.Start(hubName, b.env.Bin("hub"), append([]string{"serve",
		"--listen", addr, "--database-url", b.env.Cluster.DSN(dbname), "--admin-token", adminToken,
		"--data-dir", b.env.Path(hubName), "--log-format", "text", "--log-level", "warn"}, b.cfg.HubArgs...), nil,
		b.env.Path("logs", hubName+".log"), nil)
	if err != nil {
		return res, err
	}
	defer proc.Stop(15 * time.Second)
	base := "http://" + addr
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := proc.WaitHTTP(wctx, base+"/readyz"); err != nil {
		return res, err
	}
	api := hubapi.Client{BaseURL: base, AdminToken: adminToken}

	var csv strings.Builder
	for i := range b.cfg.SKUs {
		fmt.Fprintf(&csv, "SKU-%04d,main,%d\n", i, 10_000_000)
	}
	if err := api.Do(ctx, "POST", "/api/v1/stock/import", "text/csv", strings.NewReader(csv.String()), nil); err != nil {
		return res, fmt.Errorf("import stock: %w", err)
	}
	var eps []*endpoint
	defer func() {
		for _, e := range eps {
			e.close()
		}
	}()
	for range endpoints {
		e, err := startEndpoint()
		if err != nil {
			return res, err
		}
		eps = append(eps, e)
		var created hubapi.WebhookCreated
		if err := api.DoJSON(ctx, "POST", "/api/v1/webhooks", hubapi.NewWebhookRequest{URL: e.url,
			Events: []string{hubapi.EventOrderCreated, hubapi.EventOrderUpdated, hubapi.EventOrderCancelled}}, &created); err != nil {
			return res, fmt.Errorf("subscribe: %w", err)
		}
		if e.wh, err = standardwebhooks.NewWebhook(created.Secret); err != nil {
			return res, err
		}
	}
	var stores []*fakeAgent
	defer func() {
		for _, s := range stores {
			s.close()
		}
	}()
	for i := range b.cfg.Stores {
		var cs hubapi.CreatedStore
		if err := api.DoJSON(ctx, "POST", "/api/v1/stores", hubapi.NewStoreRequest{Name: fmt.Sprintf("store-%d", i), URL: fmt.Sprintf("https://store-%d.example", i)}, &cs); err != nil {
			return res, fmt.Errorf("create store: %w", err)
		}
		s, err := dialAgent(ctx, "ws"+strings.TrimPrefix(base, "http")+wire.AgentPath, cs.Token)
		if err != nil {
			return res, err
		}
		stores = append(stores, s)
	}

	pgPID, err := procstat.PostmasterPID(b.env.Cluster.Dir)
	if err != nil {
		return res, err
	}
	c0, err := readCosts(proc.Cmd.Process.Pid, pgPID)
	if err != nil {
		return res, err
	}
	start := time.Now()
	if err := send(ctx, stores, orders, rate, b.cfg.SKUs); err != nil {
		return res, err
	}
	var lastAck time.Time
	for _, s := range stores {
		if err := s.waitAcks(ctx, 60*time.Second); err != nil {
			return res, err
		}
		if t := s.lastAck(); t.After(lastAck) {
			lastAck = t
		}
	}
	res.Orders, res.Sending = orders, lastAck.Sub(start)
	b.logf("%s: %d orders committed in %s; waiting for the deliveries", name, orders, res.Sending.Round(time.Millisecond))

	want := orders
	err = launch.PollEvery(ctx, 60*time.Second, 50*time.Millisecond, "every delivery", func() error {
		for _, e := range eps {
			if n := e.count(); n < want {
				return fmt.Errorf("endpoint has %d of %d deliveries", n, want)
			}
		}
		return nil
	})
	var lastDelivery time.Time
	for _, e := range eps {
		lat, last, dupes, bad := e.results()
		if bad > 0 {
			return res, fmt.Errorf("%d deliveries failed verification", bad)
		}
		res.Latencies = append(res.Latencies, lat...)
		res.Dupes += dupes
		res.Missing += want - len(lat)
		if last.After(lastDelivery) {
			lastDelivery = last
		}
	}
	if err != nil {
		b.logf("%s: %v", name, err)
	}
	res.Drain = max(lastDelivery.Sub(lastAck), 0)
	c1, err := readCosts(proc.Cmd.Process.Pid, pgPID)
	if err != nil {
		return res, err
	}
	res.HubCPU, res.PostgresCPU, res.BenchCPU = c1.hub-c0.hub, c1.postgres-c0.postgres, c1.bench-c0.bench
	res.MachineBusy = procstat.Busy(c0.machine, c1.machine)
	return res, nil
}

// costs are cumulative CPU times at one moment.
type costs struct {
	hub, postgres, bench time.Duration
	machine              procstat.MachineTicks
}

func readCosts(hubPID, pgPID int) (costs, error) {
	var c costs
	var err error
	if c.hub, err = procstat.ReadCPU(hubPID); err != nil {
		return c, err
	}
	if c.postgres, err = procstat.ReadTreeCPU(pgPID); err != nil {
		return c, err
	}
	if c.bench, err = procstat.ReadCPU(os.Getpid()); err != nil {
		return c, err
	}
	c.machine, err = procstat.ReadMachineCPU()
	return c, err
}

// send reports orders at rate, round robin over the stores, each a new
// processing order with one line.
func send(ctx context.Context, stores []*fakeAgent, orders int, rate float64, skus int) error {
	start := time.Now()
	t := time.NewTicker(2 * time.Millisecond)
	defer t.Stop()
	sent := 0
	for sent < orders {
		due := min(orders, int(time.Since(start).Seconds()*rate)+1)
		for ; sent < due; sent++ {
			s := stores[sent%len(stores)]
			woo := int64(sent/len(stores) + 1)
			o := wire.Order{WooOrderID: woo, Number: strconv.FormatInt(woo, 10), Status: "processing", DateModified: time.Now().UTC(),
				Lines: []wire.OrderLine{{SKU: fmt.Sprintf("SKU-%04d", sent%skus), Quantity: 1, ProductID: 1}}, Source: "webhook"}
			if err := s.report(ctx, o); err != nil {
				return err
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
	return nil
}

// window is how many reports a fake agent leaves unacknowledged at most,
// below the hub's per-session report queue (256): a report the hub has no
// room for is dropped, for the agent to send again, and the real agent's
// outbox does that; the fake one waits instead.
const window = 128

// fakeAgent is a store's agent on the link: it says hello, reports orders
// and notes their acknowledgements, and reads (and drops) everything else.
type fakeAgent struct {
	conn     *websocket.Conn
	inFlight chan struct{} // one token per unacknowledged report
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	writeMu  sync.Mutex

	sent    atomic.Int64
	acked   atomic.Int64
	failed  atomic.Int64
	lastAt  atomic.Int64 // unix nanoseconds of the last ack
	errText atomic.Value // string: the first refusal
}

func dialAgent(ctx context.Context, wsURL, token string) (*fakeAgent, error) {
	dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	conn, _, err := websocket.Dial(dctx, wsURL, &websocket.DialOptions{
		HTTPHeader:   http.Header{"Authorization": {"Bearer " + token}},
		Subprotocols: []string{wire.Subprotocol},
	})
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", wsURL, err)
	}
	conn.SetReadLimit(wire.MaxMessageBytes)
	hello, err := wire.Encode(wire.TypeHello, "", wire.Hello{AgentVersion: "webhookbench"})
	if err != nil {
		conn.CloseNow()
		return nil, err
	}
	if err := conn.Write(dctx, websocket.MessageText, hello); err != nil {
		conn.CloseNow()
		return nil, fmt.Errorf("send hello: %w", err)
	}
	rctx, rcancel := context.WithCancel(context.WithoutCancel(ctx))
	a := &fakeAgent{conn: conn, cancel: rcancel, inFlight: make(chan struct{}, window)}
	a.wg.Go(func() { a.read(rctx) })
	return a, nil
}

func (a *fakeAgent) report(ctx context.Context, o wire.Order) error {
	select {
	case a.inFlight <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	id := strconv.FormatInt(a.sent.Add(1), 10)
	msg, err := wire.Encode(wire.TypeOrder, id, o)
	if err != nil {
		return err
	}
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	a.writeMu.Lock()
	defer a.writeMu.Unlock()
	if err := a.conn.Write(wctx, websocket.MessageText, msg); err != nil {
		return fmt.Errorf("report order: %w", err)
	}
	return nil
}

func (a *fakeAgent) read(ctx context.Context) {
	for {
		_, data, err := a.conn.Read(ctx)
		if err != nil {
			return
		}
		env, err := wire.Decode(data)
		if err != nil || env.Type != wire.TypeAck {
			continue
		}
		var ack wire.Ack
		if wire.DecodePayload(env, &ack) == nil && ack.Error != "" {
			a.failed.Add(1)
			a.errText.CompareAndSwap(nil, ack.Error)
		}
		a.acked.Add(1)
		a.lastAt.Store(time.Now().UnixNano())
		<-a.inFlight
	}
}

func (a *fakeAgent) lastAck() time.Time { return time.Unix(0, a.lastAt.Load()) }

// waitAcks waits until every report is acknowledged, and fails if the hub
// refused one.
func (a *fakeAgent) waitAcks(ctx context.Context, timeout time.Duration) error {
	err := launch.PollEvery(ctx, timeout, 10*time.Millisecond, "order acknowledgements", func() error {
		if got, want := a.acked.Load(), a.sent.Load(); got < want {
			return fmt.Errorf("%d of %d acknowledged", got, want)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if n := a.failed.Load(); n > 0 {
		return fmt.Errorf("hub refused %d order reports: %v", n, a.errText.Load())
	}
	return nil
}

func (a *fakeAgent) close() {
	a.conn.Close(websocket.StatusNormalClosure, "")
	a.cancel()
	a.wg.Wait()
}

// endpoint is an ERP endpoint on loopback: it verifies each delivery's
// signature and notes, per webhook-id, its latency from the payload's
// timestamp (the commit).
type endpoint struct {
	url string
	wh  *standardwebhooks.Webhook // set before the first delivery
	srv *http.Server
	ln  net.Listener

	mu    sync.Mutex
	seen  map[string]time.Duration
	dupes int
	bad   int
	last  time.Time
}

func startEndpoint() (*endpoint, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	e := &endpoint{url: "http://" + ln.Addr().String() + "/erp", ln: ln, seen: map[string]time.Duration{}}
	e.srv = &http.Server{Handler: http.HandlerFunc(e.serve), ReadHeaderTimeout: 10 * time.Second}
	go e.srv.Serve(ln)
	return e, nil
}

func (e *endpoint) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	now := time.Now()
	if err != nil {
		return
	}
	if err := e.wh.Verify(body, r.Header); err != nil {
		e.mu.Lock()
		e.bad++
		e.mu.Unlock()
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	var p hubapi.WebhookPayload
	if err := json.Unmarshal(body, &p); err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	id := r.Header.Get("webhook-id")
	e.mu.Lock()
	if _, ok := e.seen[id]; ok {
		e.dupes++
	} else {
		e.seen[id] = now.Sub(p.Timestamp)
		e.last = now
	}
	e.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

func (e *endpoint) count() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.seen)
}

func (e *endpoint) results() (lat []time.Duration, last time.Time, dupes, bad int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, d := range e.seen {
		lat = append(lat, d)
	}
	return lat, e.last, e.dupes, e.bad
}

func (e *endpoint) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	e.srv.Shutdown(ctx)
}
