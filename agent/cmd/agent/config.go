package main

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"time"

	"github.com/stockwire/stockwire/agent/hubconn"
	"github.com/stockwire/stockwire/shared/envflag"
)

// Config is the agent's configuration; every field comes from a flag or its
// STOCKWIRE_* environment variable.
type Config struct {
	// ConfigFile is --config, the stores file of a multi-store agent;
	// empty: one store, from the store flags.
	ConfigFile string

	HubURL    string
	Token     string
	JoinToken string
	StoreName string
	HubCA     string

	StoreURL       string
	ConsumerKey    string
	ConsumerSecret string
	RateLimit      float64

	Listen        string
	MetricsListen string
	PublicURL     string
	DataDir       string

	HubPingInterval time.Duration

	PollInterval   time.Duration
	RescanInterval time.Duration
	StoreEdits     string
	Webhooks       bool

	LogFormat string
	LogLevel  string
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{
		Listen: "127.0.0.1:8090", MetricsListen: "127.0.0.1:9464", DataDir: "./stockwire-agent",
		HubPingInterval: hubconn.DefaultPingInterval,
		PollInterval:    5 * time.Second, RescanInterval: 15 * time.Minute,
		StoreEdits: "revert", Webhooks: true, RateLimit: 20,
		LogFormat: "json", LogLevel: "info",
	}
}

// ParseFlags fills c from args and the environment.
func (c *Config) ParseFlags(args []string) error {
	fs := flag.NewFlagSet("agent", flag.ContinueOnError)
	fs.StringVar(&c.ConfigFile, "config", c.ConfigFile, "YAML file of the stores this agent serves, one logical agent each (see agent/README.md); reloaded on SIGHUP and when it changes. Replaces --store-url, --consumer-key, --consumer-secret, --token, --join-token and --store-name")
	fs.StringVar(&c.HubURL, "hub", c.HubURL, "hub base URL, http(s)://host:port (the WebSocket URL is derived); for hub replicas, a comma-separated list: the agent starts with the first that answers and moves to the next whenever a connection fails or drops (list them in a different order on different agents to spread the load)")
	fs.StringVar(&c.Token, "token", c.Token, "store credential issued by the hub (POST /api/v1/stores)")
	fs.StringVar(&c.JoinToken, "join-token", c.JoinToken, "enrolment token: enrol this store on first start instead of --token")
	fs.StringVar(&c.StoreName, "store-name", c.StoreName, "store name to enrol with --join-token; also the store label of the metrics (default: the store URL's host)")
	fs.StringVar(&c.HubCA, "hub-ca", c.HubCA, "PEM file of a private CA to trust for an https hub")
	fs.DurationVar(&c.HubPingInterval, "hub-ping-interval", c.HubPingInterval, "how often to ping the hub; a hub that leaves a ping unanswered this long is dropped (and the next replica tried), so a frozen hub or a cut network is noticed within twice this")
	fs.StringVar(&c.StoreURL, "store-url", c.StoreURL, "WooCommerce site home URL, e.g. https://shop.example.com, or its REST base (https://example.com/site-a/wp-json/wc/v3)")
	fs.StringVar(&c.ConsumerKey, "consumer-key", c.ConsumerKey, "WooCommerce REST API consumer key (ck_…), read_write")
	fs.StringVar(&c.ConsumerSecret, "consumer-secret", c.ConsumerSecret, "WooCommerce REST API consumer secret (cs_…); prefer the environment")
	fs.Float64Var(&c.RateLimit, "rate-limit", c.RateLimit, "maximum WooCommerce requests per second (per store)")
	fs.StringVar(&c.Listen, "listen", c.Listen, "address for webhooks and /healthz: WooCommerce must reach it, so it is often public")
	fs.StringVar(&c.MetricsListen, "metrics-listen", c.MetricsListen, "address for /metrics (Prometheus) and /healthz, apart from --listen so that metrics need not be public; empty: none")
	fs.StringVar(&c.PublicURL, "public-url", c.PublicURL, "URL at which WooCommerce reaches --listen (webhook delivery); empty: no webhooks, polling only")
	fs.StringVar(&c.DataDir, "data-dir", c.DataDir, "directory for the outbox, credential and state")
	fs.DurationVar(&c.PollInterval, "poll-interval", c.PollInterval, "how often to poll orders modified since the cursor")
	fs.DurationVar(&c.RescanInterval, "rescan-interval", c.RescanInterval, "how often to rescan the whole catalog")
	fs.StringVar(&c.StoreEdits, "store-edits", c.StoreEdits, "manual stock edits in the store: revert (to the hub's figure) or accept")
	fs.BoolVar(&c.Webhooks, "webhooks", c.Webhooks, "register WooCommerce webhooks (polling runs regardless)")
	fs.StringVar(&c.LogFormat, "log-format", c.LogFormat, "json or text")
	fs.StringVar(&c.LogLevel, "log-level", c.LogLevel, "debug, info, warn or error")
	fs.Usage = envflag.Usage(fs, "STOCKWIRE_", "agent: syncs WooCommerce stores with the stockwire hub\n\nUsage: agent --hub URL --token TOKEN --store-url URL --consumer-key K --consumer-secret S [flags]\n"+
		"   or: agent --hub URL --config stores.yaml [flags]\n"+
		"   or: agent dead-letters list|replay [--data-dir DIR]   (see agent dead-letters --help)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	return envflag.Apply(fs, "STOCKWIRE_", os.LookupEnv)
}

// Validate names the first bad field.
func (c *Config) Validate() error {
	if c.HubURL == "" {
		return errors.New("--hub is required")
	}
	if _, err := hubconn.ParseHubURLs(c.HubURL); err != nil {
		return fmt.Errorf("--hub: %w", err)
	}
	if c.HubPingInterval < 100*time.Millisecond {
		return fmt.Errorf("--hub-ping-interval %s: at least 100ms", c.HubPingInterval)
	}
	if c.ConfigFile != "" {
		for _, f := range []struct{ flag, value string }{{"store-url", c.StoreURL}, {"consumer-key", c.ConsumerKey},
			{"consumer-secret", c.ConsumerSecret}, {"token", c.Token}, {"join-token", c.JoinToken}, {"store-name", c.StoreName}} {
			if f.value != "" {
				return fmt.Errorf("--%s: not with --config, which gives it per store", f.flag)
			}
		}
	} else {
		if err := c.singleStore().validate("--"); err != nil {
			return err
		}
		if c.Token == "" && c.JoinToken != "" && c.StoreName == "" {
			return errors.New("--store-name is required with --join-token")
		}
	}
	if c.DataDir == "" {
		return errors.New("--data-dir is required")
	}
	if c.MetricsListen != "" {
		if _, _, err := net.SplitHostPort(c.MetricsListen); err != nil {
			return fmt.Errorf("--metrics-listen %q: want host:port", c.MetricsListen)
		}
		if c.MetricsListen == c.Listen {
			return fmt.Errorf("--metrics-listen %q: must differ from --listen, which is public", c.MetricsListen)
		}
	}
	if c.PollInterval < 500*time.Millisecond {
		return fmt.Errorf("--poll-interval %s: at least 500ms", c.PollInterval)
	}
	if c.PublicURL != "" {
		if u, err := url.Parse(c.PublicURL); err != nil || u.Host == "" {
			return fmt.Errorf("--public-url %q: want http(s)://host[:port]", c.PublicURL)
		}
	}
	if c.LogFormat != "json" && c.LogFormat != "text" {
		return fmt.Errorf("--log-format %q: want json or text", c.LogFormat)
	}
	if err := new(slog.Level).UnmarshalText([]byte(c.LogLevel)); err != nil {
		return fmt.Errorf("--log-level %q: want debug, info, warn or error", c.LogLevel)
	}
	return nil
}

// singleStore is the one store of an agent run without --config: its data
// dir is --data-dir itself and its webhooks arrive at WebhookPath, as
// before agents served several stores.
func (c *Config) singleStore() StoreConfig {
	name := c.StoreName
	if name == "" {
		if u, err := url.Parse(c.StoreURL); err == nil {
			name = u.Host
		}
	}
	return StoreConfig{Name: name, URL: homeURL(c.StoreURL), ConsumerKey: c.ConsumerKey, ConsumerSecret: c.ConsumerSecret,
		Token: c.Token, JoinToken: c.JoinToken, RateLimit: c.RateLimit, StoreEdits: c.StoreEdits,
		DataDir: c.DataDir, WebhookPath: WebhookPath}
}
