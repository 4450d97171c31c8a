// Package hooks registers and looks after the agent's own WooCommerce
// webhooks through the REST API: it creates the missing ones with the
// agent's secret, re-enables paused ones, recreates those WooCommerce
// disabled after delivery failures (re-enabling would keep the failure
// count), and removes stale ones of its own (same name prefix, another
// delivery URL). It also judges whether deliveries arrive (Health): unknown
// until something shows it; ok only from a signed delivery (the ping is
// unsigned, so anyone could send it); failing when the ping never follows
// a registration or the poll finds an order whose webhook never came. When
// they fail it says plainly why that usually happens and how to fix it; the
// agent keeps working on polling alone meanwhile. From the lag of the
// order deliveries it judges the store's delivery mode (Mode): synchronous
// with the must-use plugin, WooCommerce's default async queue, or polling
// only, and recommends the plugin when deliveries are slow. Receiving
// deliveries is agent/webhook's job.
package hooks

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/stockwire/stockwire/shared/backoff"
	"github.com/stockwire/stockwire/shared/wire"
	"github.com/stockwire/stockwire/shared/woo"
)

// Client is what the manager needs of the store's REST client
// (*woo.Client implements it).
type Client interface {
	ListWebhooks(ctx context.Context) ([]woo.Webhook, error)
	CreateWebhook(ctx context.Context, w woo.Webhook) (woo.Webhook, error)
	UpdateWebhook(ctx context.Context, id int64, w woo.Webhook) (woo.Webhook, error)
	DeleteWebhook(ctx context.Context, id int64) error
}

// DefaultTopics are the topics the agent registers.
var DefaultTopics = []string{
	woo.TopicOrderCreated, woo.TopicOrderUpdated, woo.TopicOrderDeleted, woo.TopicOrderRestored,
	woo.TopicProductCreated, woo.TopicProductUpdated, woo.TopicProductDeleted,
}

// FixHint is logged when the store does not reach the agent.
const FixHint = "WordPress refuses webhook delivery to loopback/private hosts and to ports other than 80, 443 and 8080: " +
	"give the agent a public --public-url on one of those ports, or allow the host with the " +
	"http_request_host_is_external filter (and the port with http_allowed_safe_ports); " +
	"webhooks also wait for WP-Cron unless agent/wordpress/stockwire-sync-webhooks.php is installed as a must-use plugin. " +
	"Orders are still reported by polling meanwhile."

// Manager keeps the agent's webhooks registered. Create it with
// NewManager; change the tunables before the first Ensure or Run, never
// afterwards. Its methods are safe for concurrent use.
type Manager struct {
	// Client talks to the store.
	Client Client
	// DeliveryURL is where the store posts deliveries (the agent's public
	// URL + /webhooks/woocommerce).
	DeliveryURL string
	// Secret signs deliveries. Never logged.
	Secret string
	// Name prefixes the webhooks' names ("stockwire order.created"); other
	// webhooks with this prefix are the agent's own. Defaults to
	// "stockwire".
	Name string
	// Topics to register. Defaults to DefaultTopics.
	Topics []string
	// Interval between Ensure runs in Run. Defaults to 2 minutes.
	Interval time.Duration
	// Patience is how long after registering Run waits for a ping or a
	// delivery before saying webhooks do not arrive. Defaults to 2 minutes.
	Patience time.Duration
	Logger   *slog.Logger
	// Now is the clock. Defaults to time.Now.
	Now func() time.Time

	mu sync.Mutex // guards the fields below
	// synced holds the ids whose secret this process has set.
	synced map[int64]bool
	// ours maps our webhook ids to topics, as of the last Ensure.
	ours map[int64]string
	// since is when this process last created, recreated or re-enabled a
	// webhook, after which WooCommerce pings; zero while it has only found
	// its webhooks in place (a restart), when no ping comes.
	since time.Time
	// lastPing and lastDelivery are when the receiver last saw one.
	lastPing, lastDelivery time.Time
	// disabledSeen counts webhooks WooCommerce disabled, found by Ensure.
	disabledSeen int
	// failing is set when deliveries were shown not to arrive, and
	// cleared by the next signed delivery.
	failing bool
	warned  bool
	// lost counts the orders the poll found without their webhook while
	// other deliveries kept arriving (some lost, not all), since
	// lostLogged, when that was last said.
	lost       int
	lostLogged time.Time
	// lags are the recent order deliveries' lags, oldest first, at most
	// lagWindow (see Lag); wholeSeconds is set while every date_modified
	// they came from was a whole second.
	lags         []time.Duration
	wholeSeconds bool
	// judged is the mode judged from the lags (see judge); contrary
	// counts the deliveries in a row whose lags said otherwise.
	judged   string
	contrary int
}

// NewManager returns a manager of the webhooks that make client's store
// post to deliveryURL, signed with secret, with the default tunables. A nil
// logger is slog.Default().
func NewManager(client Client, deliveryURL, secret string, logger *slog.Logger) (*Manager, error) {
	if client == nil || deliveryURL == "" || secret == "" {
		return nil, errors.New("webhook manager: client, delivery URL and secret are required")
	}
	if logger == nil {
		logger = slog.Default()
	}
	return &Manager{Client: client, DeliveryURL: deliveryURL, Secret: secret, Logger: logger,
		Name: "stockwire", Topics: DefaultTopics, Interval: 2 * time.Minute, Patience: 2 * time.Minute, Now: time.Now,
		synced: map[int64]bool{}, ours: map[int64]string{}, judged: ModeUnknown}, nil
}

// WebhookName is the name the manager gives the webhook of topic.
func (m *Manager) WebhookName(topic string) string {
	return m.Name + " " + topic
}

func (m *Manager) isOurs(w woo.Webhook) bool {
	return w.Name == m.Name || strings.HasPrefix(w.Name, m.Name+" ")
}

// Result says what one Ensure changed.
type Result struct {
	Created, Reenabled, Recreated, Deleted, Kept int
}

// Ensure makes the store hold exactly one active webhook of the agent per
// topic, pointing at DeliveryURL with Secret. It is idempotent; run it at
// start and periodically.
func (m *Manager) Ensure(ctx context.Context) (Result, error) {
	var res Result
	start := m.Now()
	all, err := m.Client.ListWebhooks(ctx)
	if err != nil {
		return res, fmt.Errorf("ensure webhooks: %w", err)
	}
	sort.Slice(all, func(i, j int) bool { return all[i].ID < all[j].ID })
	want := map[string]bool{}
	for _, t := range m.Topics {
		want[t] = true
	}
	have := map[string]woo.Webhook{}
	for _, w := range all {
		if !m.isOurs(w) {
			continue
		}
		_, dup := have[w.Topic]
		if w.DeliveryURL != m.DeliveryURL || !want[w.Topic] || dup {
			if err := m.Client.DeleteWebhook(ctx, w.ID); err != nil {
				return res, fmt.Errorf("ensure webhooks: remove stale %d: %w", w.ID, err)
			}
			m.Logger.Info("stale webhook removed", "webhook_id", w.ID, "topic", w.Topic)
			res.Deleted++
			continue
		}
		have[w.Topic] = w
	}
	ours := map[int64]string{}
	registered := false
	for _, topic := range m.Topics {
		w, ok := have[topic]
		switch {
		case !ok:
			nw, err := m.create(ctx, topic)
			if err != nil {
				return res, err
			}
			ours[nw.ID] = topic
			res.Created++
			registered = true
		case w.Status == "disabled":
			// WooCommerce disabled it after repeated delivery failures.
			// Re-enabling keeps the failure count (one more failure would
			// disable it again), so start afresh.
			if err := m.Client.DeleteWebhook(ctx, w.ID); err != nil {
				return res, fmt.Errorf("ensure webhooks: remove disabled %d: %w", w.ID, err)
			}
			nw, err := m.create(ctx, topic)
			if err != nil {
				return res, err
			}
			m.Logger.Warn("webhook disabled by woocommerce, recreated", "webhook_id", nw.ID, "topic", topic, "old_webhook_id", w.ID)
			m.mu.Lock()
			m.disabledSeen++
			m.mu.Unlock()
			ours[nw.ID] = topic
			res.Recreated++
			registered = true
		default:
			upd := woo.Webhook{}
			if w.Status != "active" {
				upd.Status = "active"
			}
			m.mu.Lock()
			needSecret := !m.synced[w.ID]
			m.mu.Unlock()
			if needSecret {
				// The secret is write-only; set it once per process so a
				// webhook left by an earlier data dir signs with ours.
				upd.Secret = m.Secret
			}
			if upd != (woo.Webhook{}) {
				if _, err := m.Client.UpdateWebhook(ctx, w.ID, upd); err != nil {
					return res, fmt.Errorf("ensure webhooks: update %d: %w", w.ID, err)
				}
				m.mu.Lock()
				m.synced[w.ID] = true
				m.mu.Unlock()
			}
			if upd.Status != "" {
				m.Logger.Warn("webhook re-enabled", "webhook_id", w.ID, "topic", topic, "status_was", w.Status)
				res.Reenabled++
				registered = true
			} else {
				res.Kept++
			}
			ours[w.ID] = topic
		}
	}
	m.mu.Lock()
	m.ours = ours
	if registered {
		m.since = start
	}
	m.mu.Unlock()
	if res.Created+res.Recreated+res.Reenabled+res.Deleted > 0 {
		m.Logger.Info("webhooks ensured", "created", res.Created, "recreated", res.Recreated,
			"reenabled", res.Reenabled, "deleted", res.Deleted, "kept", res.Kept)
	}
	return res, nil
}

func (m *Manager) create(ctx context.Context, topic string) (woo.Webhook, error) {
	nw, err := m.Client.CreateWebhook(ctx, woo.Webhook{
		Name: m.WebhookName(topic), Status: "active", Topic: topic, DeliveryURL: m.DeliveryURL, Secret: m.Secret,
	})
	if err != nil {
		// A create whose outcome is unknown may have landed: the next
		// Ensure lists it and removes any duplicate.
		return woo.Webhook{}, fmt.Errorf("ensure webhooks: create %s: %w", topic, err)
	}
	m.mu.Lock()
	m.synced[nw.ID] = true
	m.mu.Unlock()
	m.Logger.Info("webhook registered", "webhook_id", nw.ID, "topic", topic)
	return nw, nil
}

// Pinged records the ping of webhook id (wire it to webhook.Handler.OnPing).
// The ping is unsigned: it shows that the store reaches the agent after a
// registration, never that webhooks are healthy.
func (m *Manager) Pinged(id int64) {
	m.mu.Lock()
	m.lastPing = m.Now()
	m.mu.Unlock()
}

// Delivered records a signed delivery (wire it to
// webhook.Handler.OnDelivery).
func (m *Manager) Delivered(topic string, id int64) {
	m.mu.Lock()
	first := m.lastDelivery.IsZero()
	m.lastDelivery = m.Now()
	warned := m.warned
	m.warned, m.failing = false, false
	m.mu.Unlock()
	if first || warned {
		m.Logger.Info("webhook deliveries arriving", "topic", topic, "webhook_id", id)
	}
}

// MissedDelivery records that the poll found an order whose webhook never
// came (wire it to orders.Poller.OnMissedWebhook): webhooks are failing
// until the next signed delivery. When no delivery came within Patience,
// the first miss logs why that usually happens. When deliveries still
// arrive, some are lost (a store whose queue drops some): that is said
// once per Patience with the count, so that a store losing a share of its
// webhooks does not flap between an error and "arriving" at every order.
func (m *Manager) MissedDelivery(orderID int64) {
	m.mu.Lock()
	m.failing = true
	now := m.Now()
	var notReaching, lost bool
	var count int
	if !m.lastDelivery.IsZero() && now.Sub(m.lastDelivery) < m.Patience {
		m.lost++
		if lost = now.Sub(m.lostLogged) >= m.Patience; lost {
			count, m.lost, m.lostLogged = m.lost, 0, now
		}
	} else {
		notReaching = !m.warned
		m.warned = true
	}
	m.mu.Unlock()
	switch {
	case notReaching:
		m.Logger.Error("webhooks from the store do not reach the agent",
			"delivery_url", m.DeliveryURL, "order_id", orderID, "fix", FixHint)
	case lost:
		m.Logger.Warn("some webhooks from the store are lost; the order poll finds their orders",
			"orders_without_webhook", count, "order_id", orderID, "per", m.Patience.String())
	}
}

// Health says what is known of the deliveries: wire.WebhookHealthUnknown
// until a signed delivery, a ping that never came or a missed order says
// otherwise, then wire.WebhookHealthOK or wire.WebhookHealthFailing.
func (m *Manager) Health() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	switch {
	case m.failing:
		return wire.WebhookHealthFailing
	case !m.lastDelivery.IsZero():
		return wire.WebhookHealthOK
	}
	return wire.WebhookHealthUnknown
}

// reached reports whether the store has reached the agent (a ping or a
// delivery) since the webhooks were last registered. Caller holds mu.
func (m *Manager) reached() bool {
	return !m.since.IsZero() && (!m.lastPing.Before(m.since) || !m.lastDelivery.Before(m.since))
}

// check logs once, plainly, when nothing has arrived within Patience of
// registering the webhooks. Webhooks found in place (a restart) send no
// ping: then only deliveries and missed orders tell.
func (m *Manager) check() {
	m.mu.Lock()
	if m.since.IsZero() || m.warned || m.Now().Sub(m.since) < m.Patience {
		m.mu.Unlock()
		return
	}
	ok := m.reached()
	if !ok {
		m.warned, m.failing = true, true
	}
	m.mu.Unlock()
	if !ok {
		m.Logger.Error("webhooks from the store do not reach the agent",
			"delivery_url", m.DeliveryURL, "waited", m.Patience.String(), "fix", FixHint)
	}
}

// Run calls Ensure now and every Interval until ctx ends, retrying a failed
// Ensure with capped backoff, and says once when webhooks do not arrive.
// It returns nil when ctx ends.
func (m *Manager) Run(ctx context.Context) error {
	retry := backoff.Policy{Min: time.Second, Max: m.Interval}
	consecutive := 0
	for {
		wait := m.Interval
		if _, err := m.Ensure(ctx); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			wait = retry.Delay(consecutive)
			consecutive++
			if consecutive <= 3 || consecutive%10 == 0 {
				m.Logger.Warn("ensure webhooks failed", "consecutive_errors", consecutive, "error", err)
			}
		} else {
			if consecutive > 0 {
				m.Logger.Info("ensure webhooks recovered", "consecutive_errors", consecutive)
			}
			consecutive = 0
		}
		tick := max(min(wait, m.Patience/4), time.Millisecond) // a ticker needs d > 0
		deadline := time.NewTimer(wait)
		ticker := time.NewTicker(tick)
	loop:
		for {
			select {
			case <-ctx.Done():
				deadline.Stop()
				ticker.Stop()
				return nil
			case <-ticker.C:
				m.check()
			case <-deadline.C:
				break loop
			}
		}
		ticker.Stop()
	}
}
