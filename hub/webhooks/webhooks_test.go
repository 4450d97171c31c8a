package webhooks_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/stockwire/stockwire/hub"
	"github.com/stockwire/stockwire/hub/postgres"
	"github.com/stockwire/stockwire/hub/postgres/postgrestest"
	"github.com/stockwire/stockwire/hub/web"
	"github.com/stockwire/stockwire/hub/webhooks"
	"github.com/stockwire/stockwire/shared/hubapi"
	"github.com/stockwire/stockwire/shared/pgtest"
)

func TestMain(m *testing.M) { postgrestest.MainNoLeaks(m) }

// env is a fresh database with one store, a SKU and the services the
// tests drive.
type env struct {
	dsn    string
	db     *postgres.DB
	orders *postgres.OrderService
	hooks  *postgres.WebhookService
	store  hub.Store
}

func MustEnv(tb testing.TB) *env {
	tb.Helper()
	dsn := pgtest.NewDB(tb)
	e := &env{dsn: dsn, db: MustOpen(tb, dsn)}
	e.orders, e.hooks = postgres.NewOrderService(e.db), postgres.NewWebhookService(e.db)
	st, _, err := postgres.NewStoreService(e.db).Create(tb.Context(), hub.NewStore{Name: "eu", URL: "https://eu.example", Policy: hub.PolicyMirror})
	if err != nil {
		tb.Fatal(err)
	}
	e.store = st
	if _, err := postgres.NewInventoryService(e.db).SetCount(tb.Context(), hub.Count{SKU: "MUG", Location: "main", OnHand: 1 << 30, Actor: "test"}); err != nil {
		tb.Fatal(err)
	}
	return e
}

// MustOpen opens another pool on the database, as another hub replica.
func MustOpen(tb testing.TB, dsn string) *postgres.DB {
	tb.Helper()
	db, err := postgres.Open(tb.Context(), dsn, nil)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}

var t0 = time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)

// MustReport reports order woo in status at second sec after t0.
func (e *env) MustReport(tb testing.TB, woo int64, status string, sec int) {
	tb.Helper()
	if _, err := e.orders.ApplyOrderReport(tb.Context(), e.store.ID, hub.OrderReport{
		WooOrderID: woo, Number: strconv.FormatInt(woo, 10), Status: status, DateModified: t0.Add(time.Duration(sec) * time.Second),
		Lines: []hub.OrderLine{{SKU: "MUG", Quantity: 1}},
	}); err != nil {
		tb.Fatal(err)
	}
}

// MustSubscribe subscribes c to every order event.
func (e *env) MustSubscribe(tb testing.TB, c *consumer) hub.Webhook {
	tb.Helper()
	w, secret, err := e.hooks.CreateWebhook(tb.Context(), hub.NewWebhook{URL: c.URL(), Enabled: true,
		Events: []string{hub.EventOrderCreated, hub.EventOrderUpdated, hub.EventOrderCancelled}})
	if err != nil {
		tb.Fatal(err)
	}
	c.setSecret(secret)
	return w
}

// received is one delivery a consumer accepted.
type received struct {
	MsgID string
	Type  string
	Order hubapi.Order
}

// consumer is an ERP endpoint on loopback. It verifies every request with
// the Standard Webhooks library and answers with what answer says (2xx by
// default), recording the deliveries it accepted.
type consumer struct {
	t  testing.TB
	ts *httptest.Server

	mu       sync.Mutex
	secret   string
	answer   func(r *http.Request, msgID string) int // nil: 204
	accepted []received
	requests int
	times    map[string]int // accepted per message id
	conns    atomic.Int64   // connections opened to it
}

func MustConsumer(tb testing.TB) *consumer {
	c := &consumer{t: tb, times: map[string]int{}}
	c.ts = httptest.NewUnstartedServer(http.HandlerFunc(c.serve))
	c.ts.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			c.conns.Add(1)
		}
	}
	c.ts.Start()
	tb.Cleanup(c.ts.Close)
	return c
}

func (c *consumer) URL() string { return c.ts.URL + "/erp/in" }

func (c *consumer) setSecret(s string) {
	c.mu.Lock()
	c.secret = s
	c.mu.Unlock()
}

func (c *consumer) setAnswer(f func(r *http.Request, msgID string) int) {
	c.mu.Lock()
	c.answer = f
	c.mu.Unlock()
}

func (c *consumer) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return
	}
	c.mu.Lock()
	secret, answer := c.secret, c.answer
	c.requests++
	c.mu.Unlock()
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		c.t.Errorf("consumer secret: %v", err)
		return
	}
	if err := wh.Verify(body, r.Header); err != nil {
		c.t.Errorf("signature of %s: %v", r.Header.Get("webhook-id"), err)
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	msgID := r.Header.Get("webhook-id")
	status := http.StatusNoContent
	if answer != nil {
		status = answer(r, msgID)
	}
	if status < 300 {
		var p struct {
			Type string       `json:"type"`
			Data hubapi.Order `json:"data"`
		}
		if err := json.Unmarshal(body, &p); err != nil {
			c.t.Errorf("payload %s: %v", body, err)
		}
		c.mu.Lock()
		c.accepted = append(c.accepted, received{MsgID: msgID, Type: p.Type, Order: p.Data})
		c.times[msgID]++
		c.mu.Unlock()
	}
	w.WriteHeader(status)
}

// snapshot returns what was accepted so far.
func (c *consumer) snapshot() ([]received, map[string]int, int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	times := make(map[string]int, len(c.times))
	for k, v := range c.times {
		times[k] = v
	}
	return append([]received(nil), c.accepted...), times, c.requests
}

// MustRun runs s until the test ends.
func MustRun(tb testing.TB, s *webhooks.Sender) context.CancelFunc {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.Run(ctx)
	}()
	stop := func() {
		cancel()
		<-done
	}
	tb.Cleanup(stop)
	return stop
}

func newSender(tb testing.TB, q hub.WebhookQueue, reg prometheus.Registerer) *webhooks.Sender {
	s := webhooks.New(q, web.WebhookPayload, slog.New(slog.NewTextHandler(tb.Output(), &slog.HandlerOptions{Level: slog.LevelWarn})), reg)
	s.Schedule = []time.Duration{5 * time.Millisecond, 10 * time.Millisecond, 20 * time.Millisecond, 40 * time.Millisecond}
	s.PollInterval = 5 * time.Millisecond
	s.Timeout = 5 * time.Second
	return s
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(tb testing.TB, what string, d time.Duration, cond func() bool) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(tb.Context(), d)
	defer cancel()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-ctx.Done():
			tb.Fatalf("timed out waiting for %s", what)
		case <-tick.C:
		}
	}
}

func (e *env) stats(tb testing.TB) hub.WebhookQueueStats {
	tb.Helper()
	st, err := e.hooks.QueueStats(tb.Context())
	if err != nil {
		tb.Fatal(err)
	}
	return st
}

// checkInOrder fails unless, per order, the consumer first accepted the
// deliveries in the order they were made (message ids ascend), and every
// message id in want was accepted.
func checkInOrder(tb testing.TB, got []received, want int) {
	tb.Helper()
	first := map[string]bool{}
	last := map[int64]int64{} // order id → last message number
	for _, r := range got {
		if first[r.MsgID] {
			continue
		}
		first[r.MsgID] = true
		n, err := strconv.ParseInt(strings.TrimPrefix(r.MsgID, "msg_"), 10, 64)
		if err != nil {
			tb.Fatalf("message id %q", r.MsgID)
		}
		if n < last[r.Order.ID] {
			tb.Fatalf("order %d: %s (%s) after msg_%d", r.Order.ID, r.MsgID, r.Type, last[r.Order.ID])
		}
		last[r.Order.ID] = n
	}
	if len(first) != want {
		tb.Fatalf("accepted %d distinct deliveries, want %d", len(first), want)
	}
}

// TestSender_OutageThenRecovery: an endpoint that fails every request
// gets each delivery len(Schedule)+1 times, one order's in order, then
// they are dead; replayed once it recovers, every one arrives, in order per
// order. Then an endpoint failing each first attempt (503, then 429 with
// Retry-After) gets everything by retries alone.
func TestSender_OutageThenRecovery(t *testing.T) {
	t.Parallel()
	e := MustEnv(t)
	c := MustConsumer(t)
	c.setAnswer(func(*http.Request, string) int { return http.StatusServiceUnavailable })
	w := e.MustSubscribe(t, c)
	reg := prometheus.NewRegistry()
	s := newSender(t, e.hooks, reg)
	MustRun(t, s)

	const orders = 10
	for i := range int64(orders) {
		e.MustReport(t, 100+i, "pending", 0)
		e.MustReport(t, 100+i, "processing", 1)
		e.MustReport(t, 100+i, "cancelled", 2)
	}
	const events = 3 * orders
	waitFor(t, "every delivery dead", 30*time.Second, func() bool {
		st := e.stats(t)
		return st.Pending == 0 && st.Dead == events
	})
	if got, _, n := c.snapshot(); len(got) != 0 || n != events*(len(s.Schedule)+1) {
		t.Fatalf("during the outage: %d accepted, %d requests; want 0 and %d", len(got), n, events*(len(s.Schedule)+1))
	}
	dead, err := e.hooks.Deliveries(t.Context(), hub.DeliveryFilter{State: hub.DeliveryDead, SubscriptionID: w.ID}, hub.Page{Limit: 100})
	if err != nil || len(dead) != events || dead[0].Attempts != len(s.Schedule)+1 || dead[0].LastStatus != 503 {
		t.Fatalf("dead %d (first %+v), err %v", len(dead), dead[0], err)
	}

	c.setAnswer(nil)
	if n, err := e.hooks.ReplayDead(t.Context(), 0); err != nil || n != events {
		t.Fatalf("replayed %d, err %v", n, err)
	}
	waitFor(t, "the replayed deliveries", 30*time.Second, func() bool {
		_, times, _ := c.snapshot()
		return len(times) == events
	})
	got, _, _ := c.snapshot()
	checkInOrder(t, got, events)
	if got[0].Order.WooOrderID < 100 || got[0].Order.Lines[0].SKU != "MUG" {
		t.Fatalf("first payload %+v", got[0])
	}

	// Each delivery's first attempt fails, alternately 503 and 429.
	failed := map[string]bool{}
	var mu sync.Mutex
	c.setAnswer(func(r *http.Request, msgID string) int {
		mu.Lock()
		defer mu.Unlock()
		if failed[msgID] {
			return http.StatusOK
		}
		failed[msgID] = true
		if len(failed)%2 == 0 {
			return http.StatusServiceUnavailable
		}
		return http.StatusTooManyRequests
	})
	for i := range int64(orders) {
		e.MustReport(t, 200+i, "processing", 0)
		e.MustReport(t, 200+i, "completed", 1)
	}
	waitFor(t, "deliveries after transient failures", 30*time.Second, func() bool {
		_, times, _ := c.snapshot()
		return len(times) == events+2*orders
	})
	got, _, _ = c.snapshot()
	checkInOrder(t, got, events+2*orders)
	waitFor(t, "an empty queue", 10*time.Second, func() bool { st := e.stats(t); return st.Pending == 0 && st.Dead == 0 })

	if n := deliveries(t, reg, "delivered"); n != events+2*orders {
		t.Fatalf("delivered counter %v, want %d", n, events+2*orders)
	}
	if problems, err := testutil.GatherAndLint(reg); err != nil || len(problems) > 0 {
		t.Fatalf("lint: %v %+v", err, problems)
	}
	if got := testutil.CollectAndCount(reg, "stockwire_hub_webhook_delivery_latency_seconds"); got != 1 {
		t.Fatalf("latency histogram series %d", got)
	}
}

// deliveries returns the deliveries counter of one result.
func deliveries(tb testing.TB, reg *prometheus.Registry, result string) float64 {
	tb.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		tb.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "stockwire_hub_webhook_deliveries_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			if m.GetLabel()[0].GetValue() == result {
				return m.GetCounter().GetValue()
			}
		}
	}
	tb.Fatalf("no deliveries counter for %s", result)
	return 0
}

// TestSender_TwoReplicas: two senders on two pools of one database (two
// hub replicas) deliver each of many deliveries exactly once.
func TestSender_TwoReplicas(t *testing.T) {
	t.Parallel()
	e := MustEnv(t)
	c1, c2 := MustConsumer(t), MustConsumer(t)
	e.MustSubscribe(t, c1)
	e.MustSubscribe(t, c2)
	for _, db := range []*postgres.DB{e.db, MustOpen(t, e.dsn)} {
		s := newSender(t, postgres.NewWebhookService(db), nil)
		s.Batch = 10
		MustRun(t, s)
	}
	const orders = 150
	for i := range int64(orders) {
		e.MustReport(t, 1+i, "processing", 0)
		e.MustReport(t, 1+i, "completed", 1)
	}
	for _, c := range []*consumer{c1, c2} {
		waitFor(t, "every delivery", 30*time.Second, func() bool {
			_, times, _ := c.snapshot()
			return len(times) == 2*orders
		})
	}
	waitFor(t, "an empty queue", 10*time.Second, func() bool { return e.stats(t).Pending == 0 })
	for _, c := range []*consumer{c1, c2} {
		got, times, n := c.snapshot()
		if n != 2*orders {
			t.Fatalf("%d requests for %d deliveries", n, 2*orders)
		}
		for id, k := range times {
			if k != 1 {
				t.Fatalf("%s delivered %d times", id, k)
			}
		}
		checkInOrder(t, got, 2*orders)
	}
}

// TestSender_KilledMidDelivery: a sender stopped while its request is in
// flight records nothing; once its lease ends another sender delivers it,
// with the same webhook-id.
func TestSender_KilledMidDelivery(t *testing.T) {
	t.Parallel()
	e := MustEnv(t)
	c := MustConsumer(t)
	e.MustSubscribe(t, c)
	inFlight := make(chan string, 1)
	var ids []string
	var mu sync.Mutex
	c.setAnswer(func(r *http.Request, msgID string) int {
		mu.Lock()
		ids = append(ids, msgID)
		first := len(ids) == 1
		mu.Unlock()
		if first {
			inFlight <- msgID
			<-r.Context().Done()                 // the sender dies before an answer
			return http.StatusServiceUnavailable // to nobody: not accepted
		}
		return http.StatusOK
	})
	a := newSender(t, e.hooks, nil)
	a.Timeout = 500 * time.Millisecond // lease: 2 s
	stopA := MustRun(t, a)
	e.MustReport(t, 1, "processing", 0)
	var msgID string
	select {
	case msgID = <-inFlight:
	case <-time.After(30 * time.Second):
		t.Fatal("no delivery reached the consumer")
	}
	stopA()
	list, err := e.hooks.Deliveries(t.Context(), hub.DeliveryFilter{}, hub.Page{Limit: 10})
	if err != nil || len(list) != 1 || list[0].State != hub.DeliveryPending || list[0].Attempts != 1 {
		t.Fatalf("after the kill: %+v, err %v", list, err)
	}

	b := newSender(t, e.hooks, nil)
	MustRun(t, b)
	waitFor(t, "the redelivery", 30*time.Second, func() bool {
		_, times, _ := c.snapshot()
		return times[msgID] == 1
	})
	mu.Lock()
	defer mu.Unlock()
	if len(ids) != 2 || ids[0] != ids[1] {
		t.Fatalf("webhook-ids %v, want the same twice", ids)
	}
	d, err := e.hooks.Deliveries(t.Context(), hub.DeliveryFilter{}, hub.Page{Limit: 10})
	if err != nil || d[0].Attempts != 2 {
		t.Fatalf("delivery %+v, err %v", d, err)
	}
	waitFor(t, "delivered state", 10*time.Second, func() bool {
		d, err := e.hooks.Deliveries(t.Context(), hub.DeliveryFilter{State: hub.DeliveryDelivered}, hub.Page{Limit: 10})
		return err == nil && len(d) == 1
	})
}

// TestSender_RefusedAndDisabled: a 4xx kills a delivery at once; an
// endpoint failing for DisableAfter is disabled, counted and left alone.
func TestSender_RefusedAndDisabled(t *testing.T) {
	t.Parallel()
	e := MustEnv(t)
	c := MustConsumer(t)
	c.setAnswer(func(*http.Request, string) int { return http.StatusBadRequest })
	w := e.MustSubscribe(t, c)
	reg := prometheus.NewRegistry()
	s := newSender(t, e.hooks, reg)
	s.Schedule = []time.Duration{time.Millisecond}
	s.DisableAfter = time.Microsecond
	MustRun(t, s)
	e.MustReport(t, 1, "processing", 0)
	waitFor(t, "a dead delivery", 30*time.Second, func() bool { return e.stats(t).Dead == 1 })
	if _, _, n := c.snapshot(); n != 1 {
		t.Fatalf("%d requests for a refused delivery, want 1", n)
	}

	// The refusal started the failure clock; the next failing round, in
	// a later transaction, finds it older than DisableAfter.
	c.setAnswer(func(*http.Request, string) int { return http.StatusInternalServerError })
	e.MustReport(t, 2, "processing", 0)
	waitFor(t, "the subscription disabled", 30*time.Second, func() bool {
		wh, err := e.hooks.Webhook(t.Context(), w.ID)
		return err == nil && !wh.Enabled && wh.DisabledReason != ""
	})
	// The counter moves once the disabling transaction has returned.
	waitFor(t, "the disabled metrics", 10*time.Second, func() bool {
		return testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP stockwire_hub_webhooks_disabled Webhook subscriptions the hub disabled because their endpoint kept failing.
# TYPE stockwire_hub_webhooks_disabled gauge
stockwire_hub_webhooks_disabled 1
# HELP stockwire_hub_webhooks_disabled_total Webhook subscriptions this replica disabled because their endpoint kept failing.
# TYPE stockwire_hub_webhooks_disabled_total counter
stockwire_hub_webhooks_disabled_total 1
`), "stockwire_hub_webhooks_disabled", "stockwire_hub_webhooks_disabled_total") == nil
	})
}

// TestSender_ReusesConnections: a backlog of deliveries to one endpoint,
// claimed by several loops at once, goes over at most MaxConnsPerEndpoint
// connections, each reused (the standard transport kept 2 idle and dialled
// one per delivery beyond them).
func TestSender_ReusesConnections(t *testing.T) {
	t.Parallel()
	e := MustEnv(t)
	c := MustConsumer(t)
	e.MustSubscribe(t, c)
	const orders = 200
	for i := range int64(orders) {
		e.MustReport(t, 1+i, "processing", 0)
	}
	MustRun(t, newSender(t, e.hooks, nil))
	waitFor(t, "every delivery", 60*time.Second, func() bool {
		got, _, _ := c.snapshot()
		return len(got) == orders
	})
	if n := c.conns.Load(); n > webhooks.MaxConnsPerEndpoint {
		t.Fatalf("%d deliveries opened %d connections, want at most %d", orders, n, webhooks.MaxConnsPerEndpoint)
	}
}

// TestSender_WakesOnCommit: with polling out of the picture, a committed
// order's delivery goes out because the commit notifies the sender.
func TestSender_WakesOnCommit(t *testing.T) {
	t.Parallel()
	e := MustEnv(t)
	c := MustConsumer(t)
	e.MustSubscribe(t, c)
	s := newSender(t, e.hooks, nil)
	s.PollInterval = time.Hour
	MustRun(t, s)
	ctx, cancel := context.WithCancel(context.Background())
	listening := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- e.hooks.Listen(ctx, func() {
			select {
			case <-listening:
			default:
				close(listening) // the first call: after LISTEN (re)connected
			}
			s.Wake()
		})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	// pq announces the established connection only on a reconnect, so
	// wait for LISTEN by committing until a wake arrives.
	for i := int64(1); ; i++ {
		e.MustReport(t, i, "processing", 0)
		select {
		case <-listening:
		case <-time.After(100 * time.Millisecond):
			continue
		}
		break
	}
	e.MustReport(t, 1000, "processing", 0)
	waitFor(t, "the woken delivery", 10*time.Second, func() bool {
		got, _, _ := c.snapshot()
		return slices.ContainsFunc(got, func(r received) bool { return r.Order.WooOrderID == 1000 })
	})
}

// TestSender_StockChanged: a burst of counts of one SKU reaches the
// endpoint as stock.changed events, the last carrying the final figure.
func TestSender_StockChanged(t *testing.T) {
	t.Parallel()
	e := MustEnv(t)
	c := MustConsumer(t)
	w, secret, err := e.hooks.CreateWebhook(t.Context(), hub.NewWebhook{URL: c.URL(), Events: []string{hub.EventStockChanged}, Enabled: true})
	if err != nil {
		t.Fatal(err)
	}
	c.setSecret(secret)
	s := newSender(t, e.hooks, nil)
	s.StockInterval = 500 * time.Millisecond // far longer than 20 counts take
	MustRun(t, s)
	inv := postgres.NewInventoryService(e.db)
	for n := range int64(20) {
		if _, err := inv.SetCount(t.Context(), hub.Count{SKU: "TEE", Location: "main", OnHand: 100 + n, Actor: "test"}); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "the final figure", 10*time.Second, func() bool {
		list, err := e.hooks.Deliveries(t.Context(), hub.DeliveryFilter{State: hub.DeliveryDelivered, SubscriptionID: w.ID}, hub.Page{Limit: 100})
		if err != nil || len(list) == 0 {
			return false
		}
		b, err := web.WebhookPayload(list[len(list)-1].Event)
		if err != nil {
			t.Fatal(err)
		}
		var p struct{ Data hubapi.StockChange }
		if err := json.Unmarshal(b, &p); err != nil {
			t.Fatal(err)
		}
		return p.Data.SKU == "TEE" && p.Data.Available == 119
	})
	got, _, _ := c.snapshot()
	if len(got) == 0 || len(got) >= 20 || got[0].Type != hub.EventStockChanged {
		t.Fatalf("%d deliveries for 20 counts (want coalesced, at least one): %+v", len(got), got)
	}
}
