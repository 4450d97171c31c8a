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
	"runtime/debug"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/sync/errgroup"

	"github.com/stockwire/stockwire/agent"
	"github.com/stockwire/stockwire/agent/outbox"
	"github.com/stockwire/stockwire/agent/stock"
	"github.com/stockwire/stockwire/agent/wooclient"
	"github.com/stockwire/stockwire/shared/wire"
)

// WebhookPath is where the agent receives WooCommerce deliveries.
const WebhookPath = "/webhooks/woocommerce"

// missedWebhookWindow is how long the webhook of an order the poll found
// may still take before the agent says it never came: WooCommerce delivers
// from WP-Cron, often seconds and sometimes a minute late.
const missedWebhookWindow = 5 * time.Minute

// lateWebhookWindow is how long the webhook of an order the poll found may
// take before the stock writer stops trusting the echoes of its writes to
// name every change (stock.Writer.WebhookLate): a store with the plugin
// delivers within a second.
const lateWebhookWindow = 10 * time.Second

// Main is the agent process: it keeps what it opened so that Close can
// release it in reverse order.
type Main struct {
	Config Config
	Logger *slog.Logger

	reg    *prometheus.Registry
	hubTLS *tls.Config // for an https hub with --hub-ca; nil: the system's roots
	// pools shares an HTTP connection pool among the stores of one host.
	pools wooclient.Pools
	// single is the store of an agent run without --config; fleet runs
	// those of --config. One of them is nil.
	single *storeAgent
	fleet  *fleet
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
// returned (the hub refused the credential of the single store, the HTTP
// server failed); Close then returns the reason.
func (m *Main) Failed() <-chan struct{} { return m.failed }

// Run validates the configuration and starts every part in the
// background. With one store (no --config) it checks the store and the
// hub first and returns a clear error when the agent cannot start; with
// --config each store starts, and starts again after a failure, on its
// own.
func (m *Main) Run(ctx context.Context) error {
	c := m.Config
	if err := c.Validate(); err != nil {
		return err
	}
	var stores []StoreConfig
	if c.ConfigFile != "" {
		var err error
		if stores, err = loadStores(c.ConfigFile, c, os.LookupEnv); err != nil {
			return err
		}
	}
	m.Logger = newLogger(c.LogFormat, c.LogLevel)
	logger := m.Logger
	if err := os.MkdirAll(c.DataDir, 0o700); err != nil {
		return fmt.Errorf("data dir: %w", err)
	}

	m.reg = prometheus.NewRegistry()
	m.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		collectors.NewBuildInfoCollector())
	var err error
	if m.hubTLS, err = loadCA(c.HubCA); err != nil {
		return err
	}

	// The webhook listener must be reachable by WooCommerce, often from
	// the internet: it serves nothing else that a stranger could read.
	mux := http.NewServeMux()
	var storesHealth func() []storeHealth
	if c.ConfigFile == "" {
		if m.single, err = m.openStore(ctx, c.singleStore()); err != nil {
			return err
		}
		mux.Handle("POST "+WebhookPath, m.single.receiver)
		storesHealth = func() []storeHealth { return []storeHealth{m.single.health()} }
	} else {
		m.fleet = newFleet(m)
		mux.Handle("POST "+WebhookPath+"/{store}", m.fleet)
		storesHealth = m.fleet.health
	}
	healthz := func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(newHealth(storesHealth()))
	}
	mux.HandleFunc("GET /healthz", healthz)
	m.ln, err = net.Listen("tcp", c.Listen)
	if err != nil {
		return fmt.Errorf("listen %s: %w", c.Listen, err)
	}
	m.server = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: time.Minute}
	if c.MetricsListen != "" {
		metricsMux := http.NewServeMux()
		metricsMux.Handle("GET /metrics", promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg}))
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
	if m.single != nil {
		g.Go(func() error { return m.single.run(gctx) })
	} else {
		m.fleet.apply(gctx, stores)
		g.Go(func() error { return m.watchConfig(gctx) })
	}
	logger.Info("agent started", "listen", m.ln.Addr().String(), "metrics_listen", m.MetricsAddr(), "hub", c.HubURL, "stores", len(storesHealth()))
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
	if m.fleet != nil {
		m.fleet.stop()
		m.fleet = nil
	}
	if m.single != nil {
		errs = append(errs, m.single.close())
		m.single = nil
	}
	if started {
		m.Logger.Info("agent stopped")
	}
	return errors.Join(errs...)
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
	prev, _ := n.Outbox.Seen(o.WooOrderID)
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
