package main

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/stockwire/stockwire/hub"
	"github.com/stockwire/stockwire/hub/agentws"
	"github.com/stockwire/stockwire/hub/console"
	"github.com/stockwire/stockwire/hub/postgres"
	"github.com/stockwire/stockwire/hub/web"
	"github.com/stockwire/stockwire/hub/webhooks"
	"github.com/stockwire/stockwire/shared/atomicfile"
	"github.com/stockwire/stockwire/shared/backoff"
	"github.com/stockwire/stockwire/shared/envflag"
	"github.com/stockwire/stockwire/shared/pgcluster"
)

// envPrefix prefixes every flag's environment variable.
const envPrefix = "STOCKWIRE_"

// Config is what `hub serve` and `hub migrate` need.
type Config struct {
	// Listen is the HTTP address. Defaults to 127.0.0.1:8080.
	Listen string
	// MetricsListen, when set, is the address of a plain HTTP listener
	// serving only /metrics, which Listen then does not serve. Empty (the
	// default) serves /metrics on Listen.
	MetricsListen string
	// DataDir holds the private PostgreSQL cluster (under pg/) when
	// DatabaseURL is empty, and AdminTokenFile. Defaults to
	// ./stockwire-data.
	DataDir string
	// DatabaseURL is a PostgreSQL DSN. Empty starts a private cluster.
	DatabaseURL string
	// AdminToken is the admin API token. Empty keeps the stored one, or
	// generates one on first start and prints it once to stderr. The
	// token in effect, when known in clear, is also written to
	// AdminTokenFile under DataDir for the CLI.
	AdminToken string
	// LogFormat is json (default) or text; LogLevel debug, info, warn or
	// error.
	LogFormat, LogLevel string
	// TLSCert and TLSKey serve HTTPS when both are set.
	TLSCert, TLSKey string
	// ReplicaName names this process in agent state (GET /api/v1/stores).
	// Defaults to the host name and process id, unique among replicas on
	// one host.
	ReplicaName string
	// ShutdownTimeout bounds the graceful HTTP shutdown. Defaults to 10s.
	ShutdownTimeout time.Duration
	// RebalanceInterval is the period of the allocate policy's sweep
	// (grants to stores left below their low-water mark, reclaims from
	// stores gone idle). Defaults to 1s.
	RebalanceInterval time.Duration
	// RetainPersonalData is how long orders keep their personal data
	// (names, addresses, emails, phones, customer note). Zero (the
	// default) keeps it.
	RetainPersonalData time.Duration
	// RetentionInterval is how often the retention job runs. Defaults to
	// 1h.
	RetentionInterval time.Duration
	// Webhooks tunes the outbound webhook sender (hub/webhooks).
	Webhooks WebhookConfig
}

// WebhookConfig tunes the outbound webhook sender.
type WebhookConfig struct {
	// Workers is the number of claim loops per replica. Defaults to 8.
	Workers int
	// Batch is how many deliveries a loop claims and sends at once.
	// Defaults to 100.
	Batch int
	// Timeout bounds one attempt. Defaults to 10s.
	Timeout time.Duration
	// Schedule is the delays between attempts, comma separated. Defaults
	// to 5s,30s,2m,10m,1h,6h.
	Schedule string
	// DisableAfter disables a subscription whose endpoint has failed
	// every attempt for this long. Defaults to 24h.
	DisableAfter time.Duration
	// PollInterval is how often the idle sender looks for due deliveries.
	// Defaults to 100ms.
	PollInterval time.Duration
	// Keep is how long delivered deliveries are kept. Defaults to 7 days.
	Keep time.Duration
}

// schedule parses Schedule.
func (c WebhookConfig) schedule() ([]time.Duration, error) {
	var out []time.Duration
	for _, f := range strings.Split(c.Schedule, ",") {
		d, err := time.ParseDuration(strings.TrimSpace(f))
		if err != nil || d <= 0 {
			return nil, fmt.Errorf("%q is not a positive duration", f)
		}
		out = append(out, d)
	}
	return out, nil
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	host, _ := os.Hostname()
	return Config{
		Listen:            "127.0.0.1:8080",
		DataDir:           "./stockwire-data",
		LogFormat:         "json",
		LogLevel:          "info",
		ReplicaName:       fmt.Sprintf("%s-%d", host, os.Getpid()),
		ShutdownTimeout:   10 * time.Second,
		RebalanceInterval: time.Second,
		RetentionInterval: time.Hour,
		Webhooks: WebhookConfig{
			Workers: 8, Batch: 100, Timeout: 10 * time.Second, Schedule: "5s,30s,2m,10m,1h,6h",
			DisableAfter: 24 * time.Hour, PollInterval: 100 * time.Millisecond, Keep: 7 * 24 * time.Hour,
		},
	}
}

// Validate names the first bad field.
func (c Config) Validate() error {
	switch {
	case c.Listen == "":
		return errors.New("config: --listen is required")
	case c.DatabaseURL == "" && c.DataDir == "":
		return errors.New("config: --data-dir is required without --database-url")
	case c.LogFormat != "json" && c.LogFormat != "text":
		return fmt.Errorf("config: --log-format must be json or text, not %q", c.LogFormat)
	case (c.TLSCert == "") != (c.TLSKey == ""):
		return errors.New("config: --tls-cert and --tls-key go together")
	case c.ShutdownTimeout <= 0:
		return errors.New("config: --shutdown-timeout must be positive")
	case c.RebalanceInterval <= 0:
		return errors.New("config: --rebalance-interval must be positive")
	case c.RetainPersonalData < 0:
		return errors.New("config: --retain-personal-data must not be negative")
	case c.RetainPersonalData > 0 && c.RetentionInterval <= 0:
		return errors.New("config: the retention interval must be positive")
	case c.Webhooks.Workers < 1:
		return errors.New("config: --webhook-workers must be at least 1")
	case c.Webhooks.Batch < 1 || c.Webhooks.Batch > 1000:
		return errors.New("config: --webhook-batch must be between 1 and 1000")
	case c.Webhooks.Timeout <= 0:
		return errors.New("config: --webhook-timeout must be positive")
	case c.Webhooks.DisableAfter <= 0:
		return errors.New("config: --webhook-disable-after must be positive")
	case c.Webhooks.PollInterval <= 0:
		return errors.New("config: --webhook-poll-interval must be positive")
	case c.Webhooks.Keep <= 0:
		return errors.New("config: --webhook-keep must be positive")
	}
	if _, err := c.Webhooks.schedule(); err != nil {
		return fmt.Errorf("config: --webhook-schedule: %w", err)
	}
	if c.AdminToken != "" {
		if err := hub.ValidateAdminToken(c.AdminToken); err != nil {
			return fmt.Errorf("config: --admin-token: %s", hub.ErrorMessage(err))
		}
	}
	if _, err := parseLevel(c.LogLevel); err != nil {
		return fmt.Errorf("config: --log-level: %w", err)
	}
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		return fmt.Errorf("config: --listen %q: %w", c.Listen, err)
	}
	if c.MetricsListen != "" {
		if _, _, err := net.SplitHostPort(c.MetricsListen); err != nil {
			return fmt.Errorf("config: --metrics-listen %q: %w", c.MetricsListen, err)
		}
	}
	return nil
}

func parseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return 0, fmt.Errorf("unknown level %q", s)
	}
	return l, nil
}

// Main is the hub process: its config and everything it opened, in build
// order. Fields are set by Run; Close releases them in reverse.
type Main struct {
	Config Config
	// Stderr receives the generated admin token. Defaults to os.Stderr.
	Stderr io.Writer
	// LookupEnv reads the environment. Defaults to os.LookupEnv.
	LookupEnv func(string) (string, bool)

	Logger   *slog.Logger
	Registry *prometheus.Registry
	Cluster  *pgcluster.Cluster // nil with a database URL
	DB       *postgres.DB

	Inventory hub.InventoryService
	Stores    hub.StoreService
	Orders    hub.OrderService
	Events    hub.EventService
	Sessions  *postgres.SessionService
	Admin     *postgres.AdminAuth
	// Allocation runs the allocate policy (grants, reclaims, policy
	// changes).
	Allocation hub.AllocationService
	// Webhooks keeps the webhook subscriptions and the delivery outbox.
	Webhooks *postgres.WebhookService

	// Link is closed after the HTTP server and before the database; the
	// agent link (hub/agentws) goes here. See wireLink.
	Link io.Closer

	Web *web.Server
	// Console is the operator console the web server serves at /.
	Console *console.Console

	ln        net.Listener
	metricsLn net.Listener // nil without MetricsListen
	servers   []*http.Server
	serving   sync.WaitGroup // the servers' goroutines
	// served is closed when the first server stopped serving; serveErr
	// then holds why (nil after a shutdown).
	served     chan struct{}
	servedOnce sync.Once
	serveErr   error
	closers    []func() error // in build order; guarded by closeMu
	closeMu    sync.Mutex
}

// NewMain returns a Main with the default config.
func NewMain() *Main {
	return &Main{Config: DefaultConfig(), Stderr: os.Stderr, LookupEnv: os.LookupEnv}
}

// ParseFlags reads `hub serve` flags, then the environment for those not
// given.
func (m *Main) ParseFlags(args []string) error { return m.parseFlags("serve", args) }

func (m *Main) parseFlags(cmd string, args []string) error {
	fs := flag.NewFlagSet("hub "+cmd, flag.ContinueOnError)
	fs.SetOutput(m.Stderr)
	c := &m.Config
	fs.StringVar(&c.DataDir, "data-dir", c.DataDir, "directory of the private PostgreSQL cluster (used without --database-url) and of the CLI's copy of the admin token")
	fs.StringVar(&c.DatabaseURL, "database-url", c.DatabaseURL, "PostgreSQL URL (also DATABASE_URL); empty runs a private cluster in --data-dir")
	fs.StringVar(&c.LogFormat, "log-format", c.LogFormat, "log format: json or text")
	fs.StringVar(&c.LogLevel, "log-level", c.LogLevel, "log level: debug, info, warn or error")
	synopsis := "usage: hub migrate [flags]\n\nApply the database schema and exit."
	if cmd == "serve" {
		synopsis = "usage: hub serve [flags]\n\nRun the hub: HTTP API under /api/v1, agent link at /v1/agent, /metrics."
		fs.StringVar(&c.Listen, "listen", c.Listen, "HTTP listen address")
		fs.StringVar(&c.MetricsListen, "metrics-listen", c.MetricsListen, "address of a plain HTTP listener serving only /metrics (then not served on --listen); empty serves /metrics on --listen")
		fs.StringVar(&c.AdminToken, "admin-token", c.AdminToken, "admin API token; empty keeps the stored one or generates one, printed once; a given or generated token is written to <data-dir>/admin-token (0600) for the CLI")
		fs.StringVar(&c.TLSCert, "tls-cert", c.TLSCert, "TLS certificate file (with --tls-key)")
		fs.StringVar(&c.TLSKey, "tls-key", c.TLSKey, "TLS key file (with --tls-cert)")
		fs.StringVar(&c.ReplicaName, "replica-name", c.ReplicaName, "name of this hub replica in agent state (default host-pid); replicas share --database-url behind any load balancer")
		fs.DurationVar(&c.ShutdownTimeout, "shutdown-timeout", c.ShutdownTimeout, "graceful shutdown limit")
		fs.DurationVar(&c.RebalanceInterval, "rebalance-interval", c.RebalanceInterval, "period of the allocate policy's grant and reclaim sweep")
		fs.Var((*retention)(&c.RetainPersonalData), "retain-personal-data", "erase orders' names, addresses, emails, phones and customer note once older than this (90d, or a duration such as 2160h); empty keeps them")
		fs.IntVar(&c.Webhooks.Workers, "webhook-workers", c.Webhooks.Workers, "outbound webhook claim loops per replica")
		fs.IntVar(&c.Webhooks.Batch, "webhook-batch", c.Webhooks.Batch, "outbound webhook deliveries a loop claims and sends at once")
		fs.DurationVar(&c.Webhooks.Timeout, "webhook-timeout", c.Webhooks.Timeout, "limit of one outbound webhook attempt")
		fs.StringVar(&c.Webhooks.Schedule, "webhook-schedule", c.Webhooks.Schedule, "delays between outbound webhook attempts, comma separated; after the last a delivery is dead")
		fs.DurationVar(&c.Webhooks.DisableAfter, "webhook-disable-after", c.Webhooks.DisableAfter, "disable a webhook whose endpoint has failed every attempt for this long")
		fs.DurationVar(&c.Webhooks.PollInterval, "webhook-poll-interval", c.Webhooks.PollInterval, "how often the idle webhook sender looks for due deliveries")
		fs.DurationVar(&c.Webhooks.Keep, "webhook-keep", c.Webhooks.Keep, "how long delivered webhook deliveries are kept (dead and pending ones stay)")
	}
	fs.Usage = envflag.Usage(fs, envPrefix, synopsis)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if err := envflag.Apply(fs, envPrefix, m.LookupEnv); err != nil {
		return err
	}
	if c.DatabaseURL == "" {
		if v, ok := m.LookupEnv("DATABASE_URL"); ok {
			c.DatabaseURL = v
		}
	}
	return c.Validate()
}

func (m *Main) onClose(fn func() error) {
	m.closeMu.Lock()
	m.closers = append(m.closers, fn)
	m.closeMu.Unlock()
}

// open builds logger, registry, cluster (if needed) and database, and
// migrates.
func (m *Main) open(ctx context.Context) error {
	if err := m.Config.Validate(); err != nil {
		return err
	}
	level, _ := parseLevel(m.Config.LogLevel)
	opts := &slog.HandlerOptions{Level: level}
	if m.Config.LogFormat == "text" {
		m.Logger = slog.New(slog.NewTextHandler(m.Stderr, opts))
	} else {
		m.Logger = slog.New(slog.NewJSONHandler(m.Stderr, opts))
	}

	m.Registry = prometheus.NewRegistry()
	m.Registry.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		collectors.NewBuildInfoCollector(),
	)

	dsn := m.Config.DatabaseURL
	if dsn == "" {
		dir := filepath.Join(m.Config.DataDir, "pg")
		c, err := pgcluster.Start(ctx, dir, m.Logger.With("component", "pgcluster"), pgcluster.WithFsync(true))
		if err != nil {
			return fmt.Errorf("start private postgres in %s: %w", dir, err)
		}
		m.Cluster = c
		m.onClose(c.Stop)
		if err := c.CreateDatabase(ctx, "stockwire"); err != nil {
			return fmt.Errorf("create database stockwire: %w", err)
		}
		dsn = c.DSN("stockwire")
		m.Logger.Info("private postgres started", "data_dir", dir, "socket_dir", c.SockDir)
	}
	db, err := openWhenReady(ctx, dsn, m.Logger)
	if err != nil {
		return err
	}
	m.DB = db
	m.onClose(db.Close)
	if err := db.Migrate(ctx); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	return nil
}

// Migrate opens the database, applies the schema and returns.
func (m *Main) Migrate(ctx context.Context) error {
	if err := m.open(ctx); err != nil {
		return err
	}
	m.Logger.Info("database migrated")
	return nil
}

// Run builds everything, listens and starts serving, then returns. Addr
// gives the bound address; Served tells when serving stopped; Close stops.
//
// The TLS key pair is loaded and the address bound before anything else is
// opened, so a bad certificate or a busy port fails at once, without
// starting a cluster or migrating.
func (m *Main) Run(ctx context.Context) error {
	if err := m.Config.Validate(); err != nil {
		return err
	}
	var tlsConfig *tls.Config
	if m.Config.TLSCert != "" {
		cert, err := tls.LoadX509KeyPair(m.Config.TLSCert, m.Config.TLSKey)
		if err != nil {
			return fmt.Errorf("load tls key pair: %w", err)
		}
		tlsConfig = &tls.Config{Certificates: []tls.Certificate{cert}}
	}
	ln, err := m.listen("--listen", m.Config.Listen)
	if err != nil {
		return err
	}
	m.ln = ln
	if m.Config.MetricsListen != "" {
		if m.metricsLn, err = m.listen("--metrics-listen", m.Config.MetricsListen); err != nil {
			return err
		}
	}

	if err := m.open(ctx); err != nil {
		return err
	}
	m.DB.Register(m.Registry)

	m.Inventory = postgres.NewInventoryService(m.DB)
	m.Stores = postgres.NewStoreService(m.DB)
	m.Orders = postgres.NewOrderService(m.DB)
	events, err := postgres.NewEventService(ctx, m.DB)
	if err != nil {
		return err
	}
	m.Events = events
	m.Sessions = postgres.NewSessionService(m.DB)
	m.Admin = postgres.NewAdminAuth(m.DB)
	m.Allocation = postgres.NewAllocationService(m.DB)
	m.Webhooks = postgres.NewWebhookService(m.DB)

	generated, err := m.Admin.Ensure(ctx, m.Config.AdminToken)
	if err != nil {
		return fmt.Errorf("ensure admin token: %w", err)
	}
	m.keepAdminToken(cmp.Or(generated, m.Config.AdminToken))
	if generated != "" {
		// Shown once, never logged.
		fmt.Fprintf(m.Stderr, "\nGenerated admin token (shown once, store it now):\n\n    %s\n\n", generated)
	}

	// The web server serves the registry at /metrics only if it can
	// gather from it.
	var webReg prometheus.Registerer = m.Registry
	if m.metricsLn != nil {
		webReg = registerOnly{m.Registry}
	}
	m.Web = web.NewServer(m.Logger.With("component", "web"), webReg)
	m.Web.Inventory, m.Web.Stores, m.Web.Orders, m.Web.Admin = m.Inventory, m.Stores, m.Orders, m.Admin
	m.Web.Allocation = m.Allocation
	m.Web.Webhooks = m.Webhooks
	m.Web.Ready = m.DB.Ping
	m.startWebhooks()
	m.mountConsole()

	if err := m.wireLink(ctx); err != nil {
		return err
	}
	m.startRetention(ctx)

	m.served = make(chan struct{})
	m.onClose(m.shutdownHTTP)
	m.onClose(m.Console.Close) // runs first: ends the event streams Shutdown would wait for
	m.serve("http", ln, m.Web, tlsConfig)
	m.Logger.Info("hub listening", "addr", ln.Addr().String(), "tls", tlsConfig != nil, "replica", m.Config.ReplicaName)
	if m.metricsLn != nil {
		metrics := http.NewServeMux()
		metrics.Handle("GET /metrics", promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{}))
		m.serve("metrics", m.metricsLn, metrics, nil)
		m.Logger.Info("metrics listening", "addr", m.metricsLn.Addr().String())
	}
	return nil
}

// AdminTokenFile is the file under the data dir where `hub serve` keeps the
// operator's copy of the admin token in effect (mode 0600), which the CLI
// reads when given no token. The database keeps only its hash.
const AdminTokenFile = "admin-token"

// keepAdminToken writes tok, the admin token in effect, to AdminTokenFile
// under the data dir, so that the CLI on this machine finds it. A token the
// hub does not know in clear (kept from an earlier start) leaves the file
// as it is. Failing to write only warns: a generated token is printed too.
func (m *Main) keepAdminToken(tok string) {
	if tok == "" || m.Config.DataDir == "" {
		return
	}
	path := filepath.Join(m.Config.DataDir, AdminTokenFile)
	err := os.MkdirAll(m.Config.DataDir, 0o700)
	if err == nil {
		err = atomicfile.Write(path, []byte(tok+"\n"), 0o600)
	}
	if err != nil {
		m.Logger.Warn("write admin token file", "path", path, "error", err)
		return
	}
	m.Logger.Info("admin token kept for the cli", "path", path)
}

// registerOnly hides a registry's Gatherer side, so that the web server
// does not serve it.
type registerOnly struct{ prometheus.Registerer }

// listen binds addr, given by the flag name; Close closes the listener unless a
// server did.
func (m *Main) listen(name, addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if errors.Is(err, syscall.EADDRINUSE) {
		return nil, fmt.Errorf("%s %s is in use (another hub?); nothing was started: %w", name, addr, err)
	} else if err != nil {
		return nil, fmt.Errorf("%s %s: %w", name, addr, err)
	}
	m.onClose(func() error {
		if err := ln.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			return fmt.Errorf("close listener %s: %w", addr, err)
		}
		return nil
	})
	return ln, nil
}

// serve serves h on ln (with TLS when tlsConfig is set, which holds the
// key pair) in a goroutine that shutdownHTTP waits for. The first server
// to stop closes Served.
func (m *Main) serve(name string, ln net.Listener, h http.Handler, tlsConfig *tls.Config) {
	srv := &http.Server{
		Handler:           h,
		TLSConfig:         tlsConfig,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(m.Logger.Handler(), slog.LevelWarn),
	}
	m.servers = append(m.servers, srv)
	m.serving.Go(func() {
		var err error
		if tlsConfig != nil {
			err = srv.ServeTLS(ln, "", "")
		} else {
			err = srv.Serve(ln)
		}
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		} else {
			err = fmt.Errorf("serve %s on %s: %w", name, ln.Addr(), err)
		}
		m.servedOnce.Do(func() {
			m.serveErr = err
			close(m.served)
		})
	})
}

// Served is closed when a server (HTTP, metrics) has stopped serving, on
// its own (ServeErr says why) or after Close. Valid once Run has returned
// nil.
func (m *Main) Served() <-chan struct{} { return m.served }

// ServeErr is why the first server stopped serving, nil after Close.
// Valid once Served is closed.
func (m *Main) ServeErr() error {
	<-m.served
	return m.serveErr
}

// wireLink builds the agent link (hub/agentws), mounts it, and feeds it the
// notifications of every replica (PostgreSQL LISTEN): stock changes, and
// session claims and revocations, so that a store keeps one live session
// whichever replica its agent reaches. It also prunes old store events.
// Close shuts it down after the HTTP server and before the database.
func (m *Main) wireLink(ctx context.Context) error {
	link := agentws.NewServer(m.Stores, m.Events, m.Orders, m.Sessions, m.Logger.With("component", "agentws"), m.Registry)
	link.Replica = m.Config.ReplicaName
	m.Web.AgentHandler = link
	m.Web.OnRevoke = func(storeID int64) {
		link.Disconnect(storeID)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := m.Sessions.AnnounceRevoked(ctx, storeID); err != nil {
			// The other replicas notice at their next resync instead.
			m.Logger.Warn("announce revocation to other replicas", "store_id", storeID, "error", err)
		}
	}

	lctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := m.DB.Listen(lctx, func(storeIDs []int64) {
			link.Notify(storeIDs)
			m.Console.Notify()
		}); err != nil && lctx.Err() == nil {
			m.Logger.Error("listen for stock changes", "error", err)
		}
	})
	wg.Go(func() {
		if err := m.Sessions.Listen(lctx, link.SessionNotice); err != nil && lctx.Err() == nil {
			m.Logger.Error("listen for agent sessions", "error", err)
		}
	})
	wg.Go(func() { every(lctx, 30*time.Second, m.expireSilentAgents) })
	if events, ok := m.Events.(*postgres.EventService); ok {
		wg.Go(func() { every(lctx, 10*time.Minute, func(ctx context.Context) { m.pruneEvents(ctx, events) }) })
	}
	var rebalanceFailures int
	wg.Go(func() {
		every(lctx, m.Config.RebalanceInterval, func(ctx context.Context) { m.rebalance(ctx, &rebalanceFailures) })
	})
	m.Link = closerFunc(func() error {
		cancel()
		wg.Wait()
		return link.Close()
	})
	m.onClose(m.Link.Close)
	return nil
}

// startWebhooks runs the outbound webhook sender until Close, which stops
// it (recording the outcomes of the attempts in flight) before the
// database closes.
func (m *Main) startWebhooks() {
	c := m.Config.Webhooks
	s := webhooks.New(m.Webhooks, web.WebhookPayload, m.Logger.With("component", "webhooks"), m.Registry)
	s.Workers, s.Batch, s.Timeout, s.DisableAfter, s.PollInterval = c.Workers, c.Batch, c.Timeout, c.DisableAfter, c.PollInterval
	s.Keep = c.Keep
	s.Schedule, _ = c.schedule() // checked by Validate
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { s.Run(ctx) })
	wg.Go(func() {
		if err := m.Webhooks.Listen(ctx, s.Wake); err != nil && ctx.Err() == nil {
			// The loops still poll every --webhook-poll-interval.
			m.Logger.Error("listen for webhook deliveries", "error", err)
		}
	})
	m.onClose(func() error {
		cancel()
		wg.Wait()
		return nil
	})
}

// every calls fn every d until ctx is done.
func every(ctx context.Context, d time.Duration, fn func(ctx context.Context)) {
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			fn(ctx)
		}
	}
}

// expireSilentAgents marks disconnected the stores whose agent state has
// not been refreshed for a minute: the replica that held the session died
// (kill -9) and the agent did not come back to another.
func (m *Main) expireSilentAgents(ctx context.Context) {
	if n, err := m.Sessions.ExpireSilent(ctx, time.Minute); err != nil && ctx.Err() == nil {
		m.Logger.Warn("expire silent agents", "error", err)
	} else if n > 0 {
		m.Logger.Info("silent agents marked disconnected", "stores", n)
	}
}

// pruneEvents keeps the newest events of each store; an agent further
// behind gets a snapshot instead of a replay.
func (m *Main) pruneEvents(ctx context.Context, events *postgres.EventService) {
	if n, err := events.Prune(ctx, 100_000); err != nil && ctx.Err() == nil {
		m.Logger.Warn("prune store events", "error", err)
	} else if n > 0 {
		m.Logger.Info("pruned store events", "deleted", n)
	}
}

// rebalance runs the allocate policy's sweep (every RebalanceInterval):
// time alone makes a store idle, so grants and reclaims cannot wait for
// the next stock change. Every replica runs it; the SKU locks serialise
// them. failures counts the consecutive failed sweeps, for the log.
func (m *Main) rebalance(ctx context.Context, failures *int) {
	if _, err := m.Allocation.Rebalance(ctx); err != nil && ctx.Err() == nil {
		*failures++
		if *failures == 1 || *failures%60 == 0 {
			m.Logger.Warn("allocation rebalance", "error", err, "consecutive_errors", *failures)
		}
	} else if *failures > 0 {
		m.Logger.Info("allocation rebalance recovered", "consecutive_errors", *failures)
		*failures = 0
	}
}

type closerFunc func() error

func (f closerFunc) Close() error { return f() }

// shutdownHTTP stops accepting, waits for requests up to ShutdownTimeout,
// and waits for the serve goroutines. Why serving stopped is ServeErr's.
func (m *Main) shutdownHTTP() error {
	ctx, cancel := context.WithTimeout(context.Background(), m.Config.ShutdownTimeout)
	defer cancel()
	var errs []error
	for _, srv := range m.servers {
		if err := srv.Shutdown(ctx); err != nil {
			srv.Close()
			errs = append(errs, fmt.Errorf("shut down http: %w", err))
		}
	}
	m.serving.Wait()
	return errors.Join(errs...)
}

// MetricsAddr is the bound metrics address, valid after Run; empty without
// MetricsListen.
func (m *Main) MetricsAddr() string {
	if m.metricsLn == nil {
		return ""
	}
	return m.metricsLn.Addr().String()
}

// Addr is the bound listen address, valid after Run.
func (m *Main) Addr() string {
	if m.ln == nil {
		return ""
	}
	return m.ln.Addr().String()
}

// Close releases everything in reverse build order: HTTP server, link,
// database, private cluster. It is idempotent.
func (m *Main) Close() error {
	m.closeMu.Lock()
	closers := m.closers
	m.closers = nil
	m.closeMu.Unlock()
	var errs []error
	for i := len(closers) - 1; i >= 0; i-- {
		if err := closers[i](); err != nil {
			errs = append(errs, err)
		}
	}
	if m.Logger != nil && len(closers) > 0 {
		m.Logger.Info("hub stopped")
	}
	return errors.Join(errs...)
}

// version describes the build from its embedded information.
func version() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "hub (unknown build)"
	}
	v := bi.Main.Version
	var rev, dirty string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				dirty = "+dirty"
			}
		}
	}
	parts := []string{"hub", v}
	if rev != "" {
		parts = append(parts, "rev "+rev+dirty)
	}
	return strings.Join(append(parts, bi.GoVersion), " ")
}

// databaseWait bounds how long the hub waits at start for a database that
// cannot be reached yet: restarting, recovering from a crash, or started
// after the hub (a compose file, a reboot).
const databaseWait = 2 * time.Minute

// openWhenReady opens the database, again with backoff while it is
// unavailable (postgres.Unavailable), for up to databaseWait. Other errors
// (a wrong password or database name) end the start at once.
func openWhenReady(ctx context.Context, dsn string, logger *slog.Logger) (*postgres.DB, error) {
	deadline := time.Now().Add(databaseWait)
	retry := backoff.Policy{Min: 200 * time.Millisecond, Max: 5 * time.Second}
	for attempt := 0; ; attempt++ {
		db, err := postgres.Open(ctx, dsn, logger)
		if err == nil || !postgres.Unavailable(err) || time.Now().After(deadline) {
			return db, err
		}
		d := retry.Delay(attempt)
		logger.Warn("database not reachable yet; trying again", "attempt", attempt+1, "retry_in", d.Round(time.Millisecond), "error", err)
		if backoff.Sleep(ctx, d) != nil {
			return nil, err
		}
	}
}
