package orders

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/stockwire/stockwire/agent"
	"github.com/stockwire/stockwire/agent/wooclient"
	"github.com/stockwire/stockwire/shared/wire"
	"github.com/stockwire/stockwire/shared/woo"
)

// Lister is what the poller needs of the store's REST client
// (*wooclient.Client implements it): pages of orders, cut to PollFields
// or whole.
type Lister interface {
	ListOrders(ctx context.Context, q wooclient.OrderQuery) ([]woo.Order, wooclient.Page, error)
}

// Outbox is what the poller needs of the outbox (*outbox.Outbox implements
// it): durable appends, the reported index, and a durable cursor.
type Outbox interface {
	Append(ctx context.Context, o wire.Order) (uint64, error)
	Seen(orderID int64) (agent.Reported, bool)
	Cursor(name string) (time.Time, bool, error)
	SetCursor(name string, t time.Time) error
}

// CursorName is the outbox cursor the poller keeps.
const CursorName = "orders.modified"

// PollFields is the _fields list that tells whether an order must be
// reported; one that must is then read whole (GET /orders/{id}) once.
var PollFields = []string{"id", "number", "status", "date_created_gmt", "date_modified_gmt", "line_items"}

// Poller lists orders modified since its cursor every Interval and reports
// every order whose (status, date_modified) was not reported yet, so an
// order whose webhook never came is reported within one interval. Finding
// one is normal (a webhook often lands a second after the poll) and only
// counted; when webhooks are expected (WebhookWindow), an order whose
// webhook has still not come WebhookWindow after the poll found it is
// logged as a warning. Create it with NewPoller; change the tunables before
// the first Run or PollOnce, never afterwards.
type Poller struct {
	// Client lists orders.
	Client Lister
	// Outbox receives reports and keeps the cursor.
	Outbox Outbox
	// Interval between polls. Defaults to 5 s.
	Interval time.Duration
	// Overlap is subtracted from the cursor for each query: modified_after
	// is strict and second-grained, and a save may commit after a later
	// one. Defaults to 10 s.
	Overlap time.Duration
	// Lookback is how far back the first poll of a new data dir reaches.
	// Defaults to 1 h.
	Lookback time.Duration
	// PerPage is the page size (1–100). Defaults to 100.
	PerPage int
	// Status restricts the statuses listed; empty means WooCommerce's "any".
	Status []string
	// WebhookWindow is how long the webhook of an order the poll found
	// unreported may still take before the poller says it never came.
	// Zero (the default) expects no webhooks: nothing is tracked, as when
	// the agent polls alone.
	WebhookWindow time.Duration
	// OnMissedWebhook is called for each order whose webhook did not come
	// within WebhookWindow. Optional.
	OnMissedWebhook func(orderID int64)
	// WebhookLate is a shorter wait than WebhookWindow: OnWebhookLate is
	// called once for each order whose webhook has not come WebhookLate
	// after the poll found it (lost, or queued for WP-Cron). Zero: never.
	WebhookLate   time.Duration
	OnWebhookLate func(orderID int64)
	Logger        *slog.Logger
	// Now is the clock. Defaults to time.Now.
	Now func() time.Time

	metrics *metrics
	mu      sync.Mutex // serializes polls
	// storeClock is the store's clock when the last settled poll ran its
	// first query (wooclient.Page.QueryTime); zero while unknown. Guarded by mu. The next poll
	// starts from it when it is past the cursor, so that a store where
	// nothing changes does not answer every poll with its last orders
	// again. It is kept in memory only: the durable cursor moves with the
	// orders, and costs an fsync, only when they change.
	storeClock time.Time
	// caughtUp is set once a poll has completed.
	caughtUp atomic.Bool

	webhooksMu sync.Mutex // guards the fields below
	// since is when the first poll ran: an order modified before it may
	// have had its webhook sent while the agent was down, never to come.
	since time.Time
	// awaiting holds the orders the poll reported, waiting for their
	// webhook.
	awaiting map[int64]awaitedWebhook
	// delivered holds the order webhooks of the last WebhookWindow, so
	// that a webhook landing while the poll reports the same order is not
	// taken for a missing one.
	delivered map[int64]awaitedWebhook
}

// awaitedWebhook is an order's state and when the poller or a webhook saw
// it; late is set once OnWebhookLate was called for it.
type awaitedWebhook struct {
	modified time.Time
	at       time.Time
	late     bool
}

// maxAwaited bounds the orders waiting for their webhook; beyond it new
// ones are not tracked (they are still reported and counted).
const maxAwaited = 10_000

// NewPoller returns a poller of client's orders into ob, with its metrics
// on reg (nil: none) and the default tunables. A nil logger is
// slog.Default().
func NewPoller(client Lister, ob Outbox, logger *slog.Logger, reg prometheus.Registerer) (*Poller, error) {
	if client == nil || ob == nil {
		return nil, errors.New("order poller: client and outbox are required")
	}
	if logger == nil {
		logger = slog.Default()
	}
	m, err := newMetrics(reg)
	if err != nil {
		return nil, err
	}
	return &Poller{Client: client, Outbox: ob, Logger: logger, metrics: m, Now: time.Now,
		Interval: 5 * time.Second, Overlap: 10 * time.Second, Lookback: time.Hour, PerPage: 100,
		awaiting: map[int64]awaitedWebhook{}, delivered: map[int64]awaitedWebhook{}}, nil
}

// WebhookDelivered records that a webhook brought o (wire it to
// webhook.Handler.OnOrder), so that the poller does not wait for it.
func (p *Poller) WebhookDelivered(o wire.Order) {
	if p.WebhookWindow <= 0 {
		return
	}
	p.webhooksMu.Lock()
	defer p.webhooksMu.Unlock()
	if a, ok := p.awaiting[o.WooOrderID]; ok && !o.DateModified.Before(a.modified) {
		delete(p.awaiting, o.WooOrderID)
	}
	if d, ok := p.delivered[o.WooOrderID]; !ok || o.DateModified.After(d.modified) {
		p.delivered[o.WooOrderID] = awaitedWebhook{modified: o.DateModified, at: p.Now()}
	}
}

// awaitWebhook starts waiting for the webhook of rep, which the poll is
// about to report, unless it came already or cannot come.
func (p *Poller) awaitWebhook(rep wire.Order) {
	if p.WebhookWindow <= 0 {
		return
	}
	p.webhooksMu.Lock()
	defer p.webhooksMu.Unlock()
	if rep.DateModified.Before(p.since) {
		return
	}
	if d, ok := p.delivered[rep.WooOrderID]; ok && !d.modified.Before(rep.DateModified) {
		return
	}
	a, ok := p.awaiting[rep.WooOrderID]
	if !ok && len(p.awaiting) >= maxAwaited {
		return
	}
	if !ok {
		a.at = p.Now()
	}
	a.modified = latest(a.modified, rep.DateModified)
	p.awaiting[rep.WooOrderID] = a
}

// missedWebhooks passes the webhooks awaited for WebhookLate to
// OnWebhookLate, and ends the wait for those older than WebhookWindow:
// they are logged together, and each counted and passed to
// OnMissedWebhook.
func (p *Poller) missedWebhooks() {
	if p.WebhookWindow <= 0 {
		return
	}
	now := p.Now()
	p.webhooksMu.Lock()
	var missed, late []int64
	for id, a := range p.awaiting {
		if p.WebhookLate > 0 && !a.late && now.Sub(a.at) >= p.WebhookLate {
			a.late = true
			p.awaiting[id] = a
			late = append(late, id)
		}
		if now.Sub(a.at) >= p.WebhookWindow {
			missed = append(missed, id)
			delete(p.awaiting, id)
		}
	}
	for id, d := range p.delivered {
		if now.Sub(d.at) >= p.WebhookWindow {
			delete(p.delivered, id)
		}
	}
	p.webhooksMu.Unlock()
	if p.OnWebhookLate != nil {
		slices.Sort(late)
		for _, id := range late {
			p.OnWebhookLate(id)
		}
	}
	if len(missed) == 0 {
		return
	}
	// One line per poll, not per order: a store losing a share of its
	// webhooks would otherwise log hundreds of lines a minute.
	slices.Sort(missed)
	shown := missed[:min(len(missed), maxMissedShown)]
	p.Logger.Warn("no webhook came for orders the poll found", "orders", len(missed), "order_ids", shown, "waited", p.WebhookWindow.String())
	for _, id := range missed {
		p.metrics.missed.Inc()
		if p.OnMissedWebhook != nil {
			p.OnMissedWebhook(id)
		}
	}
}

// maxMissedShown bounds the order ids a missed-webhook warning lists.
const maxMissedShown = 10

// Run polls every Interval until ctx ends; it returns nil then. A failed
// poll is logged (rate-limited) and retried at the next tick.
func (p *Poller) Run(ctx context.Context) error {
	p.Logger.Info("order poller started", "interval", p.Interval.String())
	t := time.NewTicker(p.Interval)
	defer t.Stop()
	consecutive := 0
	for {
		_, err := p.PollOnce(ctx)
		switch {
		case err == nil:
			if consecutive > 0 {
				p.Logger.Info("order poll recovered", "consecutive_errors", consecutive)
			}
			consecutive = 0
		case ctx.Err() != nil:
			return nil
		default:
			consecutive++
			// Log the first failures, then one in ten.
			if consecutive <= 3 || consecutive%10 == 0 {
				p.Logger.Warn("order poll failed", "consecutive_errors", consecutive, "error", err)
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// PollOnce lists the orders modified since the cursor, or since the store's
// clock at the last poll when that is later (minus Overlap), reports those
// not yet reported, and advances the cursor once every report is durable.
// It returns how many orders it reported.
func (p *Poller) PollOnce(ctx context.Context) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	start := p.Now()
	p.webhooksMu.Lock()
	if p.since.IsZero() {
		p.since = start
	}
	p.webhooksMu.Unlock()
	n, err := p.poll(ctx)
	p.missedWebhooks()
	p.metrics.duration.Observe(p.Now().Sub(start).Seconds())
	if err != nil {
		p.metrics.errors.Inc()
	} else {
		p.caughtUp.Store(true)
	}
	return n, err
}

// CaughtUp reports whether a poll has completed since the poller was
// made: every order the store took before then is in the outbox. Until
// then the store may hold sales that neither the outbox nor the hub knows
// of (orders taken while the agent was down, or before it first started).
func (p *Poller) CaughtUp() bool { return p.caughtUp.Load() }

// maxPasses bounds the passes one poll makes while orders keep moving under
// its page numbers.
const maxPasses = 3

func (p *Poller) poll(ctx context.Context) (int, error) {
	cursor, ok, err := p.Outbox.Cursor(CursorName)
	if err != nil {
		return 0, fmt.Errorf("poll orders: %w", err)
	}
	if !ok {
		cursor = p.Now().UTC().Add(-p.Lookback).Truncate(time.Second)
		p.Logger.Info("order poller starting from lookback", "cursor", cursor.Format(time.RFC3339))
	}
	after := latest(cursor, p.storeClock).Add(-p.Overlap)
	reported := 0
	for pass := 1; ; pass++ {
		res, err := p.pass(ctx, after)
		reported += res.reported
		if err != nil {
			return reported, err
		}
		if !res.unsettled {
			if res.newest.After(cursor) || !ok {
				if err := p.Outbox.SetCursor(CursorName, latest(cursor, res.newest)); err != nil {
					return reported, fmt.Errorf("save order cursor: %w", err)
				}
			}
			p.storeClock = latest(p.storeClock, res.queried)
			return reported, nil
		}
		if pass == maxPasses {
			// Keep the cursor: the next poll reads the same window again.
			p.Logger.Info("orders kept changing while paged; cursor held", "passes", pass)
			return reported, nil
		}
	}
}

// passResult is what one pass over the orders modified after a time found.
type passResult struct {
	reported int
	// newest is the newest modification date seen.
	newest time.Time
	// queried is the store's clock when the pass ran its first query
	// (wooclient.Page.QueryTime); zero when the store sent no Date header.
	queried time.Time
	// unsettled is true when the pass may have skipped an order: an order
	// read on an earlier page was modified (it moved to the end) or one
	// left the list while the pass turned page numbers, so every later
	// row shifted up a place.
	unsettled bool
}

// pass lists every order modified after the given time, oldest-modified
// first, and reports those not yet reported.
func (p *Poller) pass(ctx context.Context, after time.Time) (passResult, error) {
	var res passResult
	seen := map[int64]time.Time{}
	page, total, numbered, moved := 1, 0, false, false
	perPage := min(max(p.PerPage, 1), 100) // a short page must mean the last one
	// Keyset paging: after each full page the next query starts just
	// before the page's newest date, so an order modified while we page
	// (it moves to the end) cannot make another slide into a page already
	// read. Page numbers are used only when a whole page shares one
	// second; then a moved or vanished order is noticed and the pass is
	// marked unsettled.
	for query := 1; query <= 100_000; query++ {
		sent := time.Now()
		list, pg, err := p.Client.ListOrders(ctx, wooclient.OrderQuery{
			ModifiedAfter: after, Page: page, PerPage: perPage, Fields: PollFields, Status: p.Status,
		})
		if err != nil {
			return res, fmt.Errorf("poll orders after %s page %d: %w", FormatDate(after), page, err)
		}
		if query == 1 {
			res.queried = pg.QueryTime(sent)
		}
		if page > 1 && pg.Total < total {
			res.unsettled = true
		}
		total = pg.Total
		var last time.Time
		var unreported []wire.Order
		for _, o := range list {
			rep, err := FromWoo(o, SourcePoll)
			if errors.Is(err, ErrIgnored) {
				continue
			}
			if err != nil {
				p.Logger.Warn("skip unreadable order", "order_id", o.ID, "error", err)
				continue
			}
			if prev, ok := seen[rep.WooOrderID]; ok && !prev.Equal(rep.DateModified) {
				moved = true
			}
			seen[rep.WooOrderID] = rep.DateModified
			last = latest(last, rep.DateModified)
			res.newest = latest(res.newest, rep.DateModified)
			if !p.alreadyReported(rep) {
				unreported = append(unreported, rep)
			}
		}
		unreported, err = p.whole(ctx, unreported)
		if err != nil {
			return res, fmt.Errorf("poll orders: %w", err)
		}
		for _, rep := range unreported {
			// Before the append: a webhook landing meanwhile ends the wait.
			p.awaitWebhook(rep)
			if _, err := p.Outbox.Append(ctx, rep); err != nil {
				return res, fmt.Errorf("report polled order %d: %w", rep.WooOrderID, err)
			}
			res.reported++
			p.metrics.catchup.Inc()
			p.Logger.Debug("poll found unreported order", "order_id", rep.WooOrderID, "status", rep.Status)
		}
		if len(list) < perPage {
			break
		}
		if next := last.Add(-time.Second); next.After(after) {
			after, page = next, 1
		} else {
			page++
			numbered = true
		}
	}
	res.unsettled = res.unsettled || moved && numbered
	return res, nil
}

// whole reads the orders a _fields poll found unreported (reps, at most a
// page of 100) in full, in one request, so that their reports carry
// everything the hub keeps, and returns those reports: each order as read
// now, which may be newer. An order gone meanwhile or no longer
// reportable keeps the state the list showed.
func (p *Poller) whole(ctx context.Context, reps []wire.Order) ([]wire.Order, error) {
	if len(reps) == 0 {
		return reps, nil
	}
	ids := make([]int64, len(reps))
	for i, rep := range reps {
		ids[i] = rep.WooOrderID
	}
	list, _, err := p.Client.ListOrders(ctx, wooclient.OrderQuery{Include: ids, PerPage: len(ids)})
	if err != nil {
		return nil, fmt.Errorf("read %d orders whole: %w", len(ids), err)
	}
	byID := make(map[int64]woo.Order, len(list))
	for _, o := range list {
		byID[o.ID] = o
	}
	for i, rep := range reps {
		o, ok := byID[rep.WooOrderID]
		if !ok {
			continue
		}
		full, err := FromWooFull(o, SourcePoll)
		if err != nil || full.DateModified.Before(rep.DateModified) {
			p.Logger.Debug("keep the listed state of an order", "order_id", rep.WooOrderID, "error", err)
			continue
		}
		reps[i] = full
	}
	return reps, nil
}

func latest(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// alreadyReported is true when the reported index holds this state or a
// newer one.
func (p *Poller) alreadyReported(rep wire.Order) bool {
	seen, ok := p.Outbox.Seen(rep.WooOrderID)
	if !ok {
		return false
	}
	if seen.Modified.After(rep.DateModified) {
		return true
	}
	return seen.Modified.Equal(rep.DateModified) && seen.Status == rep.Status
}
