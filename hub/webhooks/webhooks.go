// Package webhooks delivers the hub's outbound webhooks: it claims due
// deliveries from the outbox (hub.WebhookQueue), signs each per the
// Standard Webhooks specification with the maintained library
// (github.com/standard-webhooks/standard-webhooks/libraries), POSTs it,
// and records the outcome: delivered, retried on its schedule, or dead. It
// owns the retry policy and the delivery metrics; the outbox, its claims
// and the subscriptions are hub/postgres', the body's shape hub/web's
// (Sender.Encode).
//
// # Delivery
//
// At least once. Each delivery has one message id (the webhook-id header)
// for its whole life, so the endpoint dedupes on it. The headers are
// webhook-id, webhook-timestamp (Unix seconds of this attempt) and
// webhook-signature ("v1,<base64 HMAC-SHA256 of id.timestamp.body>").
//
// Outcomes: a 2xx answer delivers. 5xx, 408, 429, a timeout or a
// connection error fail the attempt, which is retried after the next delay
// of Schedule (DefaultSchedule: 5 s, 30 s, 2 min, 10 min, 1 h, 6 h, each
// ±20% jitter), or after Retry-After when a 429 or 503 asks for longer
// (capped at the schedule's longest delay). Once the schedule is spent the
// delivery is dead, listed at GET /api/v1/webhook-deliveries?state=dead
// until someone replays it. Any other answer (a 3xx is not followed, a 4xx
// means the endpoint refuses this body) makes it dead at once. A
// subscription whose attempts have all failed for DisableAfter (24 h) is
// disabled.
//
// # Sharing the work
//
// Every hub replica runs a Sender on the same database. Claims use SELECT …
// FOR UPDATE SKIP LOCKED and lease the claimed rows (see
// postgres.WebhookService.ClaimDeliveries), so replicas never wait on each
// other nor send a delivery twice while its lease holds; a replica that
// dies mid-delivery loses its lease and another sends the delivery again,
// with the same message id. One order's deliveries to one endpoint go in
// order: a delivery is not due while an earlier one of the same order is
// pending.
//
// Not River: the outbox rows must be written by the order transaction
// itself, which already runs on sqlx/lib/pq; River's job insert wants its
// own driver on that transaction and its own schema and migrations, and
// its per-job model has no "not before the previous event of this order"
// rule, which we would still have to build on top. The queue here is three
// tables and two statements.
package webhooks

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/stockwire/stockwire/hub"
	"github.com/stockwire/stockwire/shared/backoff"
)

// DefaultSchedule is the delays between attempts: seven attempts over
// about 7 h 13 min.
var DefaultSchedule = []time.Duration{5 * time.Second, 30 * time.Second, 2 * time.Minute, 10 * time.Minute, time.Hour, 6 * time.Hour}

// Sender claims and sends deliveries until its context ends. Set the
// exported fields before Run.
type Sender struct {
	queue  hub.WebhookQueue
	encode func(hub.WebhookEvent) ([]byte, error)
	logger *slog.Logger

	// Client sends the requests; it must not follow redirects. Defaults
	// to a client that does not and opens at most MaxConnsPerEndpoint
	// connections to one endpoint, all kept for reuse (the standard
	// transport keeps 2 idle, so under load it dialled a new connection
	// for most deliveries: a quarter of the hub's CPU). Run closes its idle
	// connections when it returns.
	Client *http.Client
	// Workers is how many claim loops run. Defaults to 8: a loop waits for
	// the slowest answer of its batch, so several keep a slow endpoint from
	// holding up the others.
	Workers int
	// Batch is how many deliveries one loop claims and sends at once.
	// Defaults to 100 (webhookbench: bigger claims cost the database less).
	Batch int
	// PollInterval is how long the polling loop, idle, waits before
	// claiming again (see idle). Defaults to 100ms.
	PollInterval time.Duration
	// Gather is the least time between two claims of one loop; a loop
	// woken sooner waits for it (see gather). Defaults to 10ms.
	Gather time.Duration
	// Timeout bounds one attempt. Defaults to 10s.
	Timeout time.Duration
	// Schedule is the delays between attempts; a delivery gets
	// len(Schedule)+1 attempts. Defaults to DefaultSchedule.
	Schedule []time.Duration
	// Jitter spreads each delay by ± this fraction. Defaults to 0.2.
	Jitter float64
	// DisableAfter disables a subscription all of whose attempts failed
	// for this long. Defaults to 24h.
	DisableAfter time.Duration
	// StockInterval is how often stock.changed events are made, at most
	// one per SKU per interval with its latest figure, and stores are
	// checked for store.agent_down. Defaults to 1s.
	StockInterval time.Duration
	// AgentDownAfter is how long a store's agent must have been
	// disconnected for store.agent_down. Defaults to 2m.
	AgentDownAfter time.Duration
	// Keep is how long delivered deliveries (and their events) are kept;
	// they are pruned every PruneInterval. Defaults to 7 days and 1h.
	Keep, PruneInterval time.Duration

	metrics *metrics
	// wake carries a Wake to one idle loop; it holds one call, so calls
	// while no loop is idle fold into one. Never closed.
	wake chan struct{}
}

// New returns a Sender over queue. encode makes a delivery's body from its
// event (web.WebhookPayload). Its metrics register with reg (nil for
// none).
func New(queue hub.WebhookQueue, encode func(hub.WebhookEvent) ([]byte, error), logger *slog.Logger, reg prometheus.Registerer) *Sender {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Sender{
		queue: queue, encode: encode, logger: logger,
		Client:  newClient(),
		Workers: 8, Batch: 100, PollInterval: 100 * time.Millisecond, Gather: 10 * time.Millisecond, Timeout: 10 * time.Second,
		Schedule: DefaultSchedule, Jitter: 0.2, DisableAfter: 24 * time.Hour, StockInterval: time.Second, AgentDownAfter: 2 * time.Minute,
		Keep: 7 * 24 * time.Hour, PruneInterval: time.Hour,
		metrics: newMetrics(reg, queue), wake: make(chan struct{}, 1),
	}
}

// MaxConnsPerEndpoint bounds the default client's connections to one
// endpoint (scheme, host and port): more deliveries to it wait for one of
// them, within their Timeout. It keeps a burst from opening hundreds of
// connections to an ERP, and every connection is kept for the next.
const MaxConnsPerEndpoint = 64

func newClient() *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxConnsPerHost, t.MaxIdleConnsPerHost = MaxConnsPerEndpoint, MaxConnsPerEndpoint
	t.MaxIdleConns = 0 // no limit over all endpoints
	return &http.Client{
		Transport:     t,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// Wake rouses one idle loop at once: deliveries were queued (see
// postgres.WebhookService.Listen). Without it they are found within
// PollInterval. A loop that claims a full batch rouses the next, so a
// backlog draws in as many loops as it needs, and a trickle of commits
// keeps one busy instead of sending every loop to claim nothing. It never
// blocks.
func (s *Sender) Wake() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// lease is how long a claim holds: every attempt of a batch runs at once,
// so one Timeout, and as long again and a second for the claim and the
// outcome (statements of milliseconds).
func (s *Sender) lease() time.Duration { return 2*s.Timeout + time.Second }

// Run sends deliveries until ctx ends, then waits for the attempts in
// flight and records their outcomes. It returns nil then.
func (s *Sender) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	for i := range s.Workers {
		wg.Go(func() { s.loop(ctx, i) })
	}
	wg.Go(func() { s.coalesceStock(ctx) })
	wg.Go(func() { s.prune(ctx) })
	wg.Wait()
	s.Client.CloseIdleConnections()
	return nil
}

// errorBackoff spaces claims after the database failed.
var errorBackoff = backoff.Policy{Min: 100 * time.Millisecond, Max: 10 * time.Second}

func (s *Sender) loop(ctx context.Context, worker int) {
	logger := s.logger.With("worker", worker)
	failures := 0
	var claimed time.Time
	for ctx.Err() == nil {
		claimed = s.gather(ctx, claimed)
		n, err := s.round(ctx)
		switch {
		case err != nil && ctx.Err() != nil:
			return
		case err != nil:
			failures++
			if failures == 1 || failures%20 == 0 {
				logger.Warn("webhook delivery round failed", "consecutive_errors", failures, "error", err)
			}
			backoff.Sleep(ctx, errorBackoff.Delay(failures-1))
			continue
		case failures > 0:
			logger.Info("webhook delivery recovered", "consecutive_errors", failures)
			failures = 0
		}
		if n < s.Batch {
			s.idle(ctx, worker == 0)
		}
	}
}

// coalesceStock makes the stock.changed and store.agent_down events
// every StockInterval.
func (s *Sender) coalesceStock(ctx context.Context) {
	t := time.NewTicker(s.StockInterval)
	defer t.Stop()
	failures := 0
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		n, err := s.queue.QueueStockChanges(ctx, s.StockInterval)
		if err == nil {
			var down int
			down, err = s.queue.QueueAgentDown(ctx, s.AgentDownAfter)
			n += down
		}
		switch {
		case err != nil && ctx.Err() != nil:
			return
		case err != nil:
			failures++
			if failures == 1 || failures%60 == 0 {
				s.logger.Warn("stock.changed or store.agent_down events not made", "consecutive_errors", failures, "error", err)
			}
			continue
		case failures > 0:
			s.logger.Info("stock.changed and store.agent_down events made again", "consecutive_errors", failures)
			failures = 0
		}
		if n > 0 {
			s.Wake()
		}
	}
}

// prune deletes the deliveries delivered longer ago than Keep, at start
// and every PruneInterval. Every replica may run it: a batch skips the
// rows another holds.
func (s *Sender) prune(ctx context.Context) {
	t := time.NewTicker(s.PruneInterval)
	defer t.Stop()
	for {
		n, err := s.queue.PruneDelivered(ctx, s.Keep)
		switch {
		case err != nil && ctx.Err() == nil:
			s.logger.Warn("prune delivered webhook deliveries", "error", err)
		case n > 0:
			s.logger.Info("pruned delivered webhook deliveries", "deliveries", n, "older_than", s.Keep.String())
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// gather waits out the rest of Gather since the loop's previous claim,
// and returns the time of the next: a loop kept busy by a stream of
// commits then claims the deliveries of several at once, instead of
// paying a claim and an outcome for each, while a lone order still goes
// out at once.
func (s *Sender) gather(ctx context.Context, previous time.Time) time.Time {
	if wait := s.Gather - time.Since(previous); wait > 0 {
		backoff.Sleep(ctx, wait)
	}
	return time.Now()
}

// idle waits for a Wake. The polling loop also claims again after
// PollInterval (with jitter, so that replicas spread out), for deliveries
// that became due by their schedule or whose Wake was lost; the others
// wait for work it or a commit hands them, so an idle hub claims once per
// PollInterval, not once per loop.
func (s *Sender) idle(ctx context.Context, polling bool) {
	var due <-chan time.Time
	if polling {
		t := time.NewTimer(s.PollInterval/2 + rand.N(s.PollInterval/2+1))
		defer t.Stop()
		due = t.C
	}
	select {
	case <-ctx.Done():
	case <-due:
	case <-s.wake:
	}
}

// round claims one batch, sends it and records the outcomes. It returns
// how many deliveries it claimed.
func (s *Sender) round(ctx context.Context) (int, error) {
	claimed, err := s.queue.ClaimDeliveries(ctx, s.Batch, s.lease())
	if err != nil {
		return 0, err
	}
	if len(claimed) == 0 {
		return 0, nil
	}
	if len(claimed) == s.Batch {
		s.Wake() // there is likely more: another loop takes it meanwhile
	}
	// An event goes to each of its subscriptions, usually in one batch:
	// its body is made once.
	bodies := make(map[int64]encoded, len(claimed))
	for _, a := range claimed {
		if _, ok := bodies[a.Delivery.Event.ID]; !ok {
			body, err := s.encode(a.Delivery.Event)
			bodies[a.Delivery.Event.ID] = encoded{body, err}
		}
	}
	results := make([]*hub.WebhookResult, len(claimed))
	var wg sync.WaitGroup
	for i, a := range claimed {
		wg.Go(func() { results[i] = s.attempt(ctx, a, bodies[a.Delivery.Event.ID]) })
	}
	wg.Wait()
	var done []hub.WebhookResult
	for _, r := range results {
		if r != nil {
			done = append(done, *r)
		}
	}
	// Record what was sent even when ctx ended meanwhile: a delivery
	// recorded as delivered is not sent again. The interrupted ones (nil)
	// go again when their lease ends.
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	disabled, err := s.queue.FinishDeliveries(fctx, done, s.DisableAfter)
	if err != nil {
		return len(claimed), fmt.Errorf("record %d outcomes: %w", len(done), err)
	}
	s.metrics.disabled.Add(float64(len(disabled)))
	for _, id := range disabled {
		s.logger.Error("webhook disabled: its endpoint has failed for too long", "webhook_id", id, "duration", s.DisableAfter)
	}
	return len(claimed), nil
}

// encoded is an event's body, or why it could not be made.
type encoded struct {
	body []byte
	err  error
}

// attempt sends one delivery and says what became of it, or returns nil
// when ctx ended before it had an answer (the attempt does not count).
func (s *Sender) attempt(ctx context.Context, a hub.WebhookAttempt, e encoded) *hub.WebhookResult {
	d := a.Delivery
	// Made only to log: most deliveries log nothing.
	logger := func() *slog.Logger {
		return s.logger.With("delivery_id", d.ID, "webhook_id", d.SubscriptionID, "event_type", d.Event.Type, "attempt", d.Attempts)
	}
	res := &hub.WebhookResult{DeliveryID: d.ID}
	if e.err != nil {
		// A broken invariant of ours; no retry will mend it.
		logger().Error("webhook body not encoded", "error", e.err)
		return s.dead(res, 0, "encode body: "+e.err.Error())
	}
	status, retryAfter, err := s.send(ctx, a, e.body)
	switch {
	case err != nil && ctx.Err() != nil:
		return nil
	case err == nil && status >= 200 && status < 300:
		res.State, res.Status = hub.DeliveryDelivered, status
		s.metrics.deliveries.WithLabelValues("delivered").Inc()
		s.metrics.latency.Observe(time.Since(d.Event.CreatedAt).Seconds())
		if s.logger.Enabled(ctx, slog.LevelDebug) {
			logger().Debug("webhook delivered", "status", status)
		}
		return res
	case err != nil:
		res.Error = err.Error()
	case status == http.StatusTooManyRequests || status == http.StatusRequestTimeout || status >= 500:
		res.Status, res.Error = status, http.StatusText(status)
	default:
		logger().Warn("webhook delivery refused by its endpoint", "status", status)
		return s.dead(res, status, fmt.Sprintf("endpoint answered %d; not retried", status))
	}
	res.Status = status
	if d.Attempts > len(s.Schedule) {
		logger().Warn("webhook delivery dead after its last attempt", "status", status, "error", res.Error)
		return s.dead(res, status, res.Error)
	}
	delay := s.delay(d.Attempts - 1)
	if retryAfter > delay {
		delay = min(retryAfter, s.Schedule[len(s.Schedule)-1])
	}
	res.State, res.NextAttempt = hub.DeliveryPending, time.Now().Add(delay)
	s.metrics.deliveries.WithLabelValues("failed").Inc()
	if s.logger.Enabled(ctx, slog.LevelDebug) {
		logger().Debug("webhook attempt failed", "status", status, "error", res.Error, "retry_in", delay)
	}
	return res
}

func (s *Sender) dead(res *hub.WebhookResult, status int, msg string) *hub.WebhookResult {
	res.State, res.Status, res.Error = hub.DeliveryDead, status, msg
	s.metrics.deliveries.WithLabelValues("dead").Inc()
	return res
}

// delay is the schedule's delay after attempt i (0-based), with jitter.
func (s *Sender) delay(i int) time.Duration {
	d := s.Schedule[min(i, len(s.Schedule)-1)]
	if s.Jitter <= 0 || d <= 0 {
		return d
	}
	spread := time.Duration(float64(d) * s.Jitter)
	return d - spread + rand.N(2*spread+1)
}

// maxAnswerBytes is how much of an answer is read, so that the connection
// can be reused; the rest is dropped.
const maxAnswerBytes = 64 << 10

// send signs and POSTs body. It returns the answer's status and the
// Retry-After it asked for, or the error that left it without one.
func (s *Sender) send(ctx context.Context, a hub.WebhookAttempt, body []byte) (int, time.Duration, error) {
	wh, err := standardwebhooks.NewWebhook(a.Secret)
	if err != nil {
		// Do not wrap: the library's message could quote the secret.
		return 0, 0, errors.New("signing secret unusable")
	}
	now := time.Now()
	sig, err := wh.Sign(a.Delivery.MessageID, now, body)
	if err != nil {
		return 0, 0, errors.New("sign body failed")
	}
	actx, cancel := context.WithTimeout(ctx, s.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(actx, http.MethodPost, a.URL, bytes.NewReader(body))
	if err != nil {
		return 0, 0, fmt.Errorf("build request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "stockwire-hub")
	req.Header.Set(standardwebhooks.HeaderWebhookID, a.Delivery.MessageID)
	req.Header.Set(standardwebhooks.HeaderWebhookTimestamp, strconv.FormatInt(now.Unix(), 10))
	req.Header.Set(standardwebhooks.HeaderWebhookSignature, sig)
	resp, err := s.Client.Do(req)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
			return 0, 0, fmt.Errorf("no answer within %s", s.Timeout)
		}
		// Without the URL, which the delivery already names.
		if ue := (*url.Error)(nil); errors.As(err, &ue) {
			err = ue.Err
		}
		return 0, 0, err
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, maxAnswerBytes))
	resp.Body.Close()
	return resp.StatusCode, retryAfter(resp.Header.Get("Retry-After"), now), nil
}

// retryAfter reads a Retry-After header: seconds or an HTTP date. 0 when
// absent or unreadable.
func retryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64); err == nil && n >= 0 {
		return time.Duration(min(n, 1<<31)) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}
