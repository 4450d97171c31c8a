package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"
	"golang.org/x/time/rate"

	"github.com/stockwire/stockwire/agent"
	"github.com/stockwire/stockwire/agent/catalog"
	"github.com/stockwire/stockwire/agent/hooks"
	"github.com/stockwire/stockwire/agent/hubconn"
	"github.com/stockwire/stockwire/agent/ordercmd"
	"github.com/stockwire/stockwire/agent/orders"
	"github.com/stockwire/stockwire/agent/outbox"
	"github.com/stockwire/stockwire/agent/stock"
	"github.com/stockwire/stockwire/agent/webhook"
	"github.com/stockwire/stockwire/agent/wooclient"
	"github.com/stockwire/stockwire/shared/backoff"
	"github.com/stockwire/stockwire/shared/wire"
	"github.com/stockwire/stockwire/shared/woo"
)

// storeAgent is one logical agent: everything that serves one store, with
// nothing shared with the other stores of the process but the registry,
// the logger, the HTTP listener and the connection pool of its host. Its
// own store client (rate limit, retries, timeouts), outbox, hub session
// and goroutines keep one store's trouble its own.
type storeAgent struct {
	cfg     StoreConfig
	logger  *slog.Logger
	metrics *storeRegisterer
	outbox  *outbox.Outbox
	// releaseHTTP gives back the connection pool of the store's host.
	releaseHTTP func()
	// receiver takes the store's webhook deliveries.
	receiver http.Handler
	// webhookHealth is what the agent knows of the store's webhooks.
	webhookHealth func() string
	// webhookMode is how the store delivers them, judged from their lag.
	webhookMode func() hooks.DeliveryMode
	// parts run until the context ends or one fails.
	parts []func(context.Context) error
}

// openStore checks the store and the hub, enrols the store when it has no
// credential yet, and builds its parts; run starts them. It returns a
// clear error when the store cannot be served.
func (m *Main) openStore(ctx context.Context, c StoreConfig) (_ *storeAgent, err error) {
	logger := m.Logger.With("store", c.Name)
	st := &storeAgent{cfg: c, logger: logger, metrics: newStoreRegisterer(m.reg, c.Name)}
	defer func() {
		if err != nil {
			st.close()
		}
	}()
	reg := st.metrics
	if err := os.MkdirAll(c.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	hubHTTP := &http.Client{Timeout: 15 * time.Second}
	if m.hubTLS != nil {
		hubHTTP.Transport = &http.Transport{TLSClientConfig: m.hubTLS}
	}
	token, err := savedCredential(c)
	if err != nil {
		return nil, err
	}

	storeHTTP, release, err := m.pools.Client(c.URL)
	if err != nil {
		return nil, err
	}
	st.releaseHTTP = release
	client, err := wooclient.New(wooclient.Config{BaseURL: c.URL, ConsumerKey: c.ConsumerKey, ConsumerSecret: c.ConsumerSecret,
		HTTPClient: storeHTTP, RateLimit: rate.Limit(c.RateLimit), Burst: max(1, int(c.RateLimit)), Logger: logger, Registerer: reg})
	if err != nil {
		return nil, err
	}
	if err := checkStore(ctx, client, logger); err != nil {
		return nil, fmt.Errorf("store %s: %w", c.URL, err)
	}
	if token == "" {
		// Only now that the store is known good: a join token works once.
		if token, err = enrol(ctx, m.Config.HubURL, c, hubHTTP); err != nil {
			return nil, err
		}
	}

	ob, err := outbox.Open(filepath.Join(c.DataDir, "outbox.db"), outbox.Options{Logger: logger, Registerer: reg})
	if err != nil {
		return nil, err
	}
	st.outbox = ob

	// One SKU map: the catalog scan fills it in the background, the stock
	// writer looks up on demand what it must write before the scan has
	// got there.
	skus := catalog.NewMap()
	cat, err := catalog.New(catalog.Config{API: client, Map: skus, RescanInterval: m.Config.RescanInterval, Logger: logger, Registerer: reg})
	if err != nil {
		return nil, err
	}
	// A checkout whose webhook is late, or an order the store took while
	// the agent was down, is in neither the outbox nor the hub until the
	// poller has found it: the store is not quiet before the first poll.
	var poller *orders.Poller // made below; read only once the writer runs
	var notify *notifyingOutbox
	var reportEdit func(context.Context, wire.StoreEdit) error
	if c.StoreEdits == stock.EditsAccept {
		reportEdit = func(ctx context.Context, e wire.StoreEdit) error {
			_, err := notify.AppendEdit(ctx, e)
			return err
		}
	}
	// The events stored before this start: the writer does not know
	// their sales (see stock.Config.CaughtUp).
	_, stored := ob.Span()
	writer, err := stock.New(stock.Config{API: client, SKUs: skus, DataDir: c.DataDir, StoreEdits: c.StoreEdits, ReportEdit: reportEdit,
		Quiet: func() bool { return poller.CaughtUp() && ob.Len() == 0 },
		CaughtUp: func() bool {
			oldest, _ := ob.Span()
			return poller.CaughtUp() && (oldest == 0 || oldest > stored)
		},
		Reported: ob.Seen,
		Logger:   logger, Registerer: reg})
	if err != nil {
		return nil, err
	}

	// What the agent knows of its webhooks; set before anything runs.
	st.webhookHealth = func() string { return wire.WebhookHealthOff }
	st.webhookMode = func() hooks.DeliveryMode { return hooks.DeliveryMode{Mode: hooks.ModePolling} }
	if err := hooks.RegisterModeMetric(reg, func() string { return st.webhookMode().Mode }); err != nil {
		return nil, err
	}
	relay := agent.NewRelay(ob, writer, logger, version())
	ob.OnStaged(relay.Staged)
	if relay.Commander, err = ordercmd.New(client, logger, reg); err != nil {
		return nil, err
	}
	relay.Status = func() wire.Status {
		status := wire.Status{CatalogSKUs: cat.Len(), WebhookHealth: st.webhookHealth(), EditsReverted: writer.EditsReverted()}
		status.WebhooksOK = status.WebhookHealth == wire.WebhookHealthOK
		for _, is := range cat.Issues() {
			switch is.Kind {
			case catalog.IssueDuplicateSKU:
				status.DuplicateSKUs++
			default:
				status.UnknownSKUs++
			}
		}
		return status
	}
	notify = &notifyingOutbox{Outbox: ob, relay: relay, writer: writer}
	if err := restorePendingEdits(ob, writer); err != nil {
		return nil, err
	}

	link, err := hubconn.New(m.Config.HubURL, token, relay, logger, reg)
	if err != nil {
		return nil, fmt.Errorf("--hub: %w", err)
	}
	link.TLSConfig = m.hubTLS
	link.PingInterval = m.Config.HubPingInterval
	if err := probeHub(ctx, link, logger); errors.Is(err, hubconn.ErrUnauthorized) {
		return nil, fmt.Errorf("hub %s: %w", m.Config.HubURL, err)
	} else if err != nil {
		return nil, fmt.Errorf("hub %s unreachable: %w", m.Config.HubURL, err)
	}
	secret, err := loadOrCreateSecret(c.DataDir, "webhook-secret")
	if err != nil {
		return nil, err
	}
	var manager *hooks.Manager
	if m.Config.Webhooks && m.Config.PublicURL != "" {
		if manager, err = hooks.NewManager(client, strings.TrimSuffix(m.Config.PublicURL, "/")+c.WebhookPath, secret, logger); err != nil {
			return nil, err
		}
	} else {
		logger.Warn("webhooks off: orders are reported by polling alone", "poll_interval", m.Config.PollInterval.String())
	}
	receiver, err := webhook.NewHandler(secret, notify, logger, reg)
	if err != nil {
		return nil, err
	}
	receiver.FullErr = outbox.ErrOutboxFull
	receiver.OnProduct = func(ctx context.Context, topic string, p woo.Product) {
		if topic == woo.TopicProductDeleted {
			// It carries only the id; the writer reads the SKU afresh
			// before its next write (the map no longer says where it is).
			skus.Remove(p.ID)
			return
		}
		if err := cat.Update(ctx, p); err != nil {
			logger.Warn("catalog update from webhook", "error", err)
		}
		if err := writer.ProductChanged(ctx, p); err != nil {
			logger.Warn("stock check after product webhook", "error", err)
		}
	}
	// The echo of the writer's own write leaves the catalog and the
	// writer as they are: nothing to do.
	receiver.IsEcho = func(p woo.Product) bool { return writer.Echo(p) && skus.Holds(p) }
	if manager != nil {
		receiver.OnPing = manager.Pinged
		receiver.OnDelivery = manager.Delivered
	}
	st.receiver = receiver
	poller, err = orders.NewPoller(client, notify, logger, reg)
	if err != nil {
		return nil, err
	}
	poller.Interval = m.Config.PollInterval
	if manager != nil {
		receiver.OnOrder = poller.WebhookDelivered
		poller.WebhookWindow = missedWebhookWindow
		poller.OnMissedWebhook = manager.MissedDelivery
		poller.WebhookLate = lateWebhookWindow
		poller.OnWebhookLate = func(int64) { writer.WebhookLate() }
		st.webhookHealth = manager.Health
		receiver.OnOrderLag = manager.Lag
		st.webhookMode = manager.Mode
	}

	// The scan runs in the background (a large catalog takes minutes),
	// and only once the hub took the credential.
	st.parts = []func(context.Context) error{link.Run, writer.Run, poller.Run, cat.Run}
	if manager != nil {
		st.parts = append(st.parts, manager.Run)
	}
	logger.Info("store started", "store_url", c.URL, "outbox_events", ob.Len(), "applied_seq", writer.AppliedSeq(),
		"webhook_mode", st.webhookMode())
	return st, nil
}

// run runs the store's parts until ctx ends (nil) or one of them fails.
func (a *storeAgent) run(ctx context.Context) error {
	g, ctx := errgroup.WithContext(ctx)
	for _, part := range a.parts {
		g.Go(func() error { return part(ctx) })
	}
	return g.Wait()
}

// close releases what openStore opened, once run has returned: the
// store's series leave /metrics before its outbox closes.
func (a *storeAgent) close() error {
	a.metrics.unregisterAll()
	if a.releaseHTTP != nil {
		a.releaseHTTP()
		a.releaseHTTP = nil
	}
	if a.outbox == nil {
		return nil
	}
	err := a.outbox.Close()
	a.outbox = nil
	return err
}

// health is the store's part of /healthz.
func (a *storeAgent) health() storeHealth {
	mode := a.webhookMode()
	return storeHealth{Name: a.cfg.Name, Status: "running", OutboxEvents: a.outbox.Len(), DeadLetters: a.outbox.DeadLetterCount(),
		Webhooks: a.webhookHealth(), WebhookMode: mode.Mode, WebhookLagP50: mode.LagP50.Seconds(), WebhookAdvice: mode.Advice}
}

// startRetry paces the start-up checks of a store or a hub that answers
// with errors.
var startRetry = backoff.Policy{Min: time.Second, Max: 30 * time.Second}

// retryAtStart runs check, again with backoff while failing(err) says the
// other side answered but could not serve (its bad minute, a database
// restarting), logging what. Any other error, or ctx ending, ends it.
func retryAtStart(ctx context.Context, logger *slog.Logger, what string, check func() error, failing func(error) bool) error {
	for attempt := 0; ; attempt++ {
		err := check()
		if err == nil || !failing(err) {
			return err
		}
		d := startRetry.Delay(attempt)
		logger.Warn(what, "attempt", attempt+1, "retry_in", d.Round(time.Millisecond), "err", err)
		if backoff.Sleep(ctx, d) != nil {
			return err
		}
	}
}

// probeHub runs the start-up dial of the hub, again while a hub replica
// answers with a server error (its database restarting, say): an agent
// restarted then waits for it. No answer at all, or a refused credential,
// stops the start at once.
func probeHub(ctx context.Context, link *hubconn.Client, logger *slog.Logger) error {
	return retryAtStart(ctx, logger, "the hub answers with errors; dialling it again",
		func() error { return link.Probe(ctx) },
		func(err error) bool {
			return errors.Is(err, hubconn.ErrHubFailing) && !errors.Is(err, hubconn.ErrUnauthorized)
		})
}

// checkStore runs the store's start-up check, again while the store answers
// but fails (5xx, 429): an agent restarted while its store has a bad minute
// waits for it instead of exiting. A store that does not answer at all, or
// refuses the URL, key or permissions, stops the start at once, since that
// is a setting to fix.
func checkStore(ctx context.Context, client *wooclient.Client, logger *slog.Logger) error {
	return retryAtStart(ctx, logger, "the store answers with errors; checking it again",
		func() error { return client.Check(ctx) }, wooclient.StoreAnsweredError)
}
