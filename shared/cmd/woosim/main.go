// Command woosim serves one or more simulated WooCommerce stores on
// loopback and prints a JSON manifest of their URLs and keys. Every flag
// falls back to a WOOSIM_* environment variable: --consumer-secret reads
// WOOSIM_CONSUMER_SECRET.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/stockwire/stockwire/shared/envflag"
	"github.com/stockwire/stockwire/shared/woosim"
)

// envPrefix starts the environment variable of every flag. The command's
// own prefix, not STOCKWIRE_, so that the agent's or hub's environment
// (STOCKWIRE_LISTEN, STOCKWIRE_CONSUMER_KEY) does not reach a woosim run
// beside them.
const envPrefix = "WOOSIM_"

// Config is the command's configuration; every field comes from a flag or
// its WOOSIM_* environment variable.
type Config struct {
	Listen          string
	Stores          int
	ConsumerKey     string
	ConsumerSecret  string
	SeedProducts    int
	SeedVariable    int
	SeedStock       int
	Manifest        string
	TLS             bool
	TrustProxyHTTPS bool
	WebhookDelay    time.Duration
	RefusePrivate   bool
	LogLevel        string
	State           string
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{Listen: "127.0.0.1:0", Stores: 1, SeedStock: 100, WebhookDelay: time.Second, LogLevel: "info"}
}

// Validate names the first bad field.
func (c Config) Validate() error {
	if c.Stores < 1 || c.Stores > 1000 {
		return fmt.Errorf("stores: %d not in 1..1000", c.Stores)
	}
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	if c.SeedProducts < 0 || c.SeedVariable < 0 || c.SeedStock < 0 {
		return errors.New("seed-products, seed-variable, seed-stock: must not be negative")
	}
	if c.Stores > 1 && (c.ConsumerKey != "" || c.ConsumerSecret != "") {
		return errors.New("consumer-key: only with --stores 1 (keys are generated per store)")
	}
	return nil
}

// ManifestStore is one store in the manifest.
type ManifestStore struct {
	URL            string `json:"url"`
	ConsumerKey    string `json:"consumer_key"`
	ConsumerSecret string `json:"consumer_secret"`
}

// Main runs the stores.
type Main struct {
	Config Config
	Stdout io.Writer
	// LookupEnv reads the environment. Defaults to os.LookupEnv.
	LookupEnv func(string) (string, bool)
	Logger    *slog.Logger
	Servers   []*woosim.Server
}

// NewMain returns a Main with defaults.
func NewMain() *Main {
	return &Main{Config: DefaultConfig(), Stdout: os.Stdout, LookupEnv: os.LookupEnv}
}

// ParseFlags reads args into m.Config, then the environment for the flags
// not given.
func (m *Main) ParseFlags(args []string) error {
	fs := flag.NewFlagSet("woosim", flag.ContinueOnError)
	c := &m.Config
	fs.StringVar(&c.Listen, "listen", c.Listen, "address of the first store (port 0: chosen)")
	fs.IntVar(&c.Stores, "stores", c.Stores, "number of stores, on consecutive ports")
	fs.StringVar(&c.ConsumerKey, "consumer-key", c.ConsumerKey, "consumer key (ck_…), generated when empty")
	fs.StringVar(&c.ConsumerSecret, "consumer-secret", c.ConsumerSecret, "consumer secret (cs_…), generated when empty; prefer the environment")
	fs.IntVar(&c.SeedProducts, "seed-products", c.SeedProducts, "simple products to create")
	fs.IntVar(&c.SeedVariable, "seed-variable", c.SeedVariable, "variable products (3 variations each) to create")
	fs.IntVar(&c.SeedStock, "seed-stock", c.SeedStock, "stock of each seeded product and variation")
	fs.StringVar(&c.Manifest, "manifest", c.Manifest, "write the JSON manifest here instead of stdout")
	fs.BoolVar(&c.TLS, "tls", c.TLS, "serve HTTPS with a generated self-signed certificate")
	fs.BoolVar(&c.TrustProxyHTTPS, "trust-proxy-https", c.TrustProxyHTTPS, "treat X-Forwarded-Proto: https as HTTPS")
	fs.DurationVar(&c.WebhookDelay, "webhook-delay", c.WebhookDelay, "delay before webhook delivery")
	fs.BoolVar(&c.RefusePrivate, "refuse-private-webhooks", c.RefusePrivate, "refuse webhook targets on loopback/private hosts, as WordPress does")
	fs.StringVar(&c.State, "state", c.State, "persist state in this file across restarts (FILE.N for store N > 1); saved on shutdown")
	fs.StringVar(&c.LogLevel, "log-level", c.LogLevel, "debug, info, warn or error")
	fs.Usage = envflag.Usage(fs, envPrefix, "woosim: serve simulated WooCommerce stores and print their URLs and keys as JSON\n\nUsage: woosim [flags]")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	return envflag.Apply(fs, envPrefix, m.LookupEnv)
}

// Run starts the stores and writes the manifest.
func (m *Main) Run(ctx context.Context) error {
	if err := m.Config.Validate(); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	if m.Logger == nil {
		var lvl slog.Level
		if err := lvl.UnmarshalText([]byte(m.Config.LogLevel)); err != nil {
			return fmt.Errorf("log-level: %w", err)
		}
		m.Logger = slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: lvl}))
	}
	c := m.Config
	host, portStr, _ := net.SplitHostPort(c.Listen)
	port, _ := strconv.Atoi(portStr)
	var manifest []ManifestStore
	for i := range c.Stores {
		addr := net.JoinHostPort(host, "0")
		if port != 0 {
			addr = net.JoinHostPort(host, strconv.Itoa(port+i))
		}
		opts := woosim.Options{ConsumerKey: c.ConsumerKey, ConsumerSecret: c.ConsumerSecret, WebhookDelay: c.WebhookDelay,
			TrustProxyHTTPS: c.TrustProxyHTTPS, RefusePrivateWebhooks: c.RefusePrivate,
			Logger: m.Logger.With("store", i+1)}
		if c.WebhookDelay == 0 {
			opts.WebhookDelay = -1
		}
		srv, err := woosim.Listen(addr, opts, c.TLS)
		if err != nil {
			_ = m.Close()
			return fmt.Errorf("start store %d: %w", i+1, err)
		}
		m.Servers = append(m.Servers, srv)
		if c.State != "" {
			loaded, err := srv.Store.LoadState(m.statePath(i))
			if err != nil {
				_ = m.Close()
				return fmt.Errorf("store %d: %w", i+1, err)
			}
			if loaded {
				manifest = append(manifest, ManifestStore{URL: srv.URL, ConsumerKey: srv.Store.ConsumerKey(), ConsumerSecret: srv.Store.ConsumerSecret()})
				m.Logger.Info("store started", "store", i+1, "url", srv.URL, "state", "loaded")
				continue
			}
		}
		if err := srv.Store.Seed(woosim.SeedOptions{Products: c.SeedProducts, Variable: c.SeedVariable, Stock: c.SeedStock}); err != nil {
			_ = m.Close()
			return fmt.Errorf("seed store %d: %w", i+1, err)
		}
		manifest = append(manifest, ManifestStore{URL: srv.URL, ConsumerKey: srv.Store.ConsumerKey(), ConsumerSecret: srv.Store.ConsumerSecret()})
		m.Logger.Info("store started", "store", i+1, "url", srv.URL)
	}
	b, err := json.MarshalIndent(map[string]any{"stores": manifest}, "", "  ")
	if err != nil {
		return fmt.Errorf("encode manifest: %w", err)
	}
	b = append(b, '\n')
	if c.Manifest != "" {
		if err := os.WriteFile(c.Manifest, b, 0o600); err != nil {
			return fmt.Errorf("write manifest: %w", err)
		}
		return nil
	}
	_, err = m.Stdout.Write(b)
	return err
}

func (m *Main) statePath(i int) string {
	if i == 0 {
		return m.Config.State
	}
	return m.Config.State + "." + strconv.Itoa(i+1)
}

// Close stops every store, saving state when asked; it is idempotent.
func (m *Main) Close() error {
	var errs []error
	for i, s := range m.Servers {
		s.Close()
		if m.Config.State != "" {
			if err := s.Store.SaveState(m.statePath(i)); err != nil {
				errs = append(errs, err)
			}
		}
	}
	m.Servers = nil
	return errors.Join(errs...)
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	m := NewMain()
	if err := m.ParseFlags(os.Args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return
		}
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	if err := m.Run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	<-ctx.Done()
	if err := m.Close(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
