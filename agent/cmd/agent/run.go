package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
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
	"github.com/stockwire/stockwire/shared/wire"
	"github.com/stockwire/stockwire/shared/woo"
)

// WebhookPath is where the agent receives WooCommerce deliveries.
const WebhookPath = "/webhooks/woocommerce"

// missedWebhookWindow is how long the webhook of an order the poll found
// may still take before the agent says it never came: WooCommerce delivers
// from WP-Cron, often seconds and sometimes a minute late.
const missedWebhookWindow = 5 * time.Minute

// Main is the agent process: it keeps what it opened so that Close can
// release it in reverse order.
type Main struct {
	Config Config
	Logger *slog.Logger

	outbox *outbox.Outbox
	server *http.Server
	ln     net.Listener
	// metricsServer and metricsLn serve /metrics on --metrics-listen; nil
	// when it is empty.
	metricsServer *http.Server
	metricsLn     net.Listener
	cancel        context.CancelFunc
	group         *errgroup.Group
	failed        <-chan struct{} // closed when a part stops on its own; Close says why
}

// NewMain returns a Main with the default configuration.
func NewMain() *Main { return &Main{Config: DefaultConfig()} }

// Addr returns the listen address once Run has returned.
func (m *Main) Addr() string { return m.ln.Addr().String() }

// MetricsAddr returns the metrics listen address once Run has returned,
// "" when there is none.
func (m *Main) MetricsAddr() string {
	if m.metricsLn == nil {
		return ""
	}
	return m.metricsLn.Addr().String()
}

// Failed is closed when a part of the agent stopped on its own after Run
// returned (the hub refused the credential, the HTTP server failed); Close
// then returns the reason.
func (m *Main) Failed() <-chan struct{} { return m.failed }

// Run validates the configuration, checks the store and the hub, and starts
// every part in the background. It returns a clear error when the agent
// cannot start.
func (m *Main) Run(ctx context.Context) error {
	c := m.Config
	if err := c.Validate(); err != nil {
		return err
	}
	m.Logger = newLogger(c.LogFormat, c.LogLevel)
	logger := m.Logger
	if err := os.MkdirAll(c.DataDir, 0o700); err != nil {
		return fmt.Errorf("data dir: %w", err)
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		collectors.NewBuildInfoCollector())

	hubTLS, err := loadCA(c.HubCA)
	if err != nil {
		return err
	}
	hubHTTP := &http.Client{Timeout: 15 * time.Second}
	if hubTLS != nil {
		hubHTTP.Transport = &http.Transport{TLSClientConfig: hubTLS}
	}
	token, err := savedCredential(c)
	if err != nil {
		return err
	}

	client, err := wooclient.New(wooclient.Config{BaseURL: c.StoreURL, ConsumerKey: c.ConsumerKey, ConsumerSecret: c.ConsumerSecret,
		RateLimit: rate.Limit(c.RateLimit), Burst: max(1, int(c.RateLimit)), Logger: logger, Registerer: reg})
	if err != nil {
		return err
	}
	if err := client.Check(ctx); err != nil {
		return fmt.Errorf("store %s: %w", c.StoreURL, err)
	}
	if token == "" {
		// Only now that the store is known good: a join token works once.
		if token, err = enrol(ctx, c, hubHTTP); err != nil {
			return err
		}
	}

	ob, err := outbox.Open(filepath.Join(c.DataDir, "outbox.db"), outbox.Options{Logger: logger, Registerer: reg})
	if err != nil {
		return err
	}
	m.outbox = ob

	// One SKU map: the catalog scan fills it in the background, the stock
	// writer looks up on demand what it must write before the scan has
	// got there.
	skus := catalog.NewMap()
	cat, err := catalog.New(catalog.Config{API: client, Map: skus, RescanInterval: c.RescanInterval, Logger: logger, Registerer: reg})
	if err != nil {
		return err
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
	writer, err := stock.New(stock.Config{API: client, SKUs: skus, DataDir: c.DataDir, StoreEdits: c.StoreEdits, ReportEdit: reportEdit,
		Quiet: func() bool { return poller.CaughtUp() && ob.Len() == 0 },
		Reported: func(id int64) (string, bool) {
			status, _, ok := ob.Seen(id)
			return status, ok
		},
		Logger: logger, Registerer: reg})
	if err != nil {
		return err
	}

	// What the agent knows of its webhooks; set before anything runs.
	webhookHealth := func() string { return wire.WebhookHealthOff }
	webhookMode := func() hooks.DeliveryMode { return hooks.DeliveryMode{Mode: hooks.ModePolling} }
	if err := hooks.RegisterModeMetric(reg, func() string { return webhookMode().Mode }); err != nil {
		return err
	}
	relay := agent.NewRelay(ob, writer, logger, version())
	if relay.Commander, err = ordercmd.New(client, logger, reg); err != nil {
		return err
	}
	relay.Status = func() wire.Status {
		st := wire.Status{CatalogSKUs: cat.Len(), WebhookHealth: webhookHealth()}
		st.WebhooksOK = st.WebhookHealth == wire.WebhookHealthOK
		for _, is := range cat.Issues() {
			switch is.Kind {
			case catalog.IssueDuplicateSKU:
				st.DuplicateSKUs++
			default:
				st.UnknownSKUs++
			}
		}
		return st
	}
	notify = &notifyingOutbox{Outbox: ob, relay: relay, writer: writer}
	if err := restorePendingEdits(ob, writer); err != nil {
		return err
	}

	link, err := hubconn.New(c.HubURL, token, relay, logger, reg)
	if err != nil {
		return fmt.Errorf("--hub: %w", err)
	}
	link.TLSConfig = hubTLS
	link.PingInterval = c.HubPingInterval
	if err := link.Probe(ctx); errors.Is(err, hubconn.ErrUnauthorized) {
		return fmt.Errorf("hub %s: %w", c.HubURL, err)
	} else if err != nil {
		return fmt.Errorf("hub %s unreachable: %w", c.HubURL, err)
	}
	secret, err := loadOrCreateSecret(c.DataDir, "webhook-secret")
	if err != nil {
		return err
	}
	var manager *hooks.Manager
	if c.Webhooks && c.PublicURL != "" {
		if manager, err = hooks.NewManager(client, strings.TrimSuffix(c.PublicURL, "/")+WebhookPath, secret, logger); err != nil {
			return err
		}
	} else {
		logger.Warn("webhooks off: orders are reported by polling alone", "poll_interval", c.PollInterval.String())
	}
	receiver, err := webhook.NewHandler(secret, notify, logger, reg)
	if err != nil {
		return err
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
	if manager != nil {
		receiver.OnPing = manager.Pinged
		receiver.OnDelivery = manager.Delivered
	}
	poller, err = orders.NewPoller(client, notify, logger, reg)
	if err != nil {
		return err
	}
	poller.Interval = c.PollInterval
	if manager != nil {
		receiver.OnOrder = poller.WebhookDelivered
		poller.WebhookWindow = missedWebhookWindow
		poller.OnMissedWebhook = manager.MissedDelivery
		webhookHealth = manager.Health
		receiver.OnOrderLag = manager.Lag
		webhookMode = manager.Mode
	}

	healthz := func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		mode := webhookMode()
		json.NewEncoder(w).Encode(health{Status: "ok", OutboxEvents: ob.Len(), DeadLetters: ob.DeadLetterCount(),
			Webhooks: webhookHealth(), WebhookMode: mode.Mode, WebhookLagP50: mode.LagP50.Seconds(), WebhookAdvice: mode.Advice})
	}
	// The webhook listener must be reachable by WooCommerce, often from
	// the internet: it serves nothing else that a stranger could read.
	mux := http.NewServeMux()
	mux.Handle("POST "+WebhookPath, receiver)
	mux.HandleFunc("GET /healthz", healthz)
	m.ln, err = net.Listen("tcp", c.Listen)
	if err != nil {
		return fmt.Errorf("listen %s: %w", c.Listen, err)
	}
	m.server = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: time.Minute}
	if c.MetricsListen != "" {
		metricsMux := http.NewServeMux()
		metricsMux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
		metricsMux.HandleFunc("GET /healthz", healthz)
		if m.metricsLn, err = net.Listen("tcp", c.MetricsListen); err != nil {
			m.ln.Close()
			return fmt.Errorf("--metrics-listen %s: %w", c.MetricsListen, err)
		}
		m.metricsServer = &http.Server{Handler: metricsMux, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: time.Minute}
	}

	gctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	m.cancel = cancel
	g, gctx := errgroup.WithContext(gctx)
	m.group = g
	m.failed = gctx.Done()
	g.Go(func() error {
		if err := m.server.Serve(m.ln); !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	})
	if m.metricsServer != nil {
		g.Go(func() error {
			if err := m.metricsServer.Serve(m.metricsLn); !errors.Is(err, http.ErrServerClosed) {
				return err
			}
			return nil
		})
	}
	g.Go(func() error { return link.Run(gctx) })
	g.Go(func() error { return writer.Run(gctx) })
	g.Go(func() error { return poller.Run(gctx) })
	// The scan runs in the background (a large catalog takes minutes),
	// and only once the hub took the credential.
	g.Go(func() error { return cat.Run(gctx) })
	if manager != nil {
		g.Go(func() error { return manager.Run(gctx) })
	}
	logger.Info("agent started", "listen", m.ln.Addr().String(), "metrics_listen", m.MetricsAddr(), "store", c.StoreURL, "hub", c.HubURL,
		"outbox_events", ob.Len(), "applied_seq", writer.AppliedSeq(), "webhook_mode", webhookMode())
	return nil
}

// Close stops every part and waits for them. It is idempotent.
func (m *Main) Close() error {
	started := m.cancel != nil
	var errs []error
	for _, srv := range []**http.Server{&m.server, &m.metricsServer} {
		if *srv != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			errs = append(errs, (*srv).Shutdown(ctx))
			cancel()
			*srv = nil
		}
	}
	if m.cancel != nil {
		m.cancel()
		errs = append(errs, m.group.Wait())
		m.cancel = nil
	}
	if m.outbox != nil {
		errs = append(errs, m.outbox.Close())
		m.outbox = nil
	}
	if started {
		m.Logger.Info("agent stopped")
	}
	return errors.Join(errs...)
}

// health is the answer of /healthz. The agent answers 200 while it runs;
// the figures say what needs a human.
type health struct {
	Status       string `json:"status"`
	OutboxEvents int    `json:"outbox_events"`
	// DeadLetters counts the order reports the hub refused, parked in the
	// outbox (`agent dead-letters list|replay`).
	DeadLetters int `json:"dead_letters"`
	// Webhooks is what the agent knows of the store's webhooks: unknown,
	// ok, failing or off (wire.WebhookHealth…).
	Webhooks string `json:"webhooks"`
	// WebhookMode is how the store delivers webhooks, judged from their
	// lag: sync (the must-use plugin), async (WooCommerce's default
	// queue), polling (none arrive) or unknown (too few measured yet).
	WebhookMode string `json:"webhook_mode"`
	// WebhookLagP50 is the median lag of the recent order deliveries in
	// seconds, 0 while none was measured.
	WebhookLagP50 float64 `json:"webhook_lag_p50_seconds"`
	// WebhookAdvice says what to do about the mode, when anything.
	WebhookAdvice string `json:"webhook_advice,omitempty"`
}

// notifyingOutbox tells the stock writer of each order before appending it
// (the writer counts the store's own sales until the hub has), and wakes
// the relay after a durable append (of an order or of a hand edit the
// writer accepted), so a report leaves for the hub at once.
type notifyingOutbox struct {
	*outbox.Outbox
	relay  *agent.Relay
	writer *stock.Writer
}

func (n *notifyingOutbox) Append(ctx context.Context, o wire.Order) (uint64, error) {
	prev, _, _ := n.Outbox.Seen(o.WooOrderID)
	// The writer counts the sale before it is durable: from then on the
	// relay may send it at any moment (a window freed by an ack, not only
	// this wake-up), and the hub's count of it must not reach the writer
	// first. A failed append comes back through the order poll, which the
	// writer's own record of the order does not count twice.
	n.writer.OrderReported(o, prev)
	id, err := n.Outbox.Append(ctx, o)
	if err == nil {
		n.relay.OutboxChanged()
	}
	return id, err
}

// restorePendingEdits tells the writer of the accepted edits the outbox
// held when the agent last stopped.
func restorePendingEdits(ob *outbox.Outbox, w *stock.Writer) error {
	events, err := ob.After(0, ob.Len())
	if err != nil {
		return fmt.Errorf("read outbox: %w", err)
	}
	for _, e := range events {
		if e.Edit != nil {
			w.EditPending(*e.Edit)
		}
	}
	return nil
}

// AppendEdit stores a hand edit the writer accepted and wakes the relay.
func (n *notifyingOutbox) AppendEdit(ctx context.Context, e wire.StoreEdit) (uint64, error) {
	id, err := n.Outbox.AppendEdit(ctx, e)
	if err == nil {
		n.relay.OutboxChanged()
	}
	return id, err
}

func loadCA(path string) (*tls.Config, error) {
	if path == "" {
		return nil, nil
	}
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--hub-ca: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("--hub-ca %s: no PEM certificate found", path)
	}
	return &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}, nil
}

func newLogger(format, level string) *slog.Logger {
	var lv slog.Level
	_ = lv.UnmarshalText([]byte(level))
	opts := &slog.HandlerOptions{Level: lv}
	if format == "text" {
		return slog.New(slog.NewTextHandler(os.Stderr, opts))
	}
	return slog.New(slog.NewJSONHandler(os.Stderr, opts))
}

func version() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "devel"
}
