package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/stockwire/stockwire/agent/stock"
)

// StoreConfig is what one logical agent needs of its store: one entry of
// --config, or the single-store flags. It is comparable, so that a reload
// restarts only the stores whose entry changed.
type StoreConfig struct {
	// Name names the store: its data dir under --data-dir, its webhook
	// path /webhooks/woocommerce/<name>, its `store` metric label, and
	// the name it enrols with.
	Name string
	// URL is the site's home URL; a REST base (…/wp-json/wc/v3) is cut
	// back to it.
	URL            string
	ConsumerKey    string
	ConsumerSecret string
	Token          string
	JoinToken      string
	RateLimit      float64
	StoreEdits     string
	// DataDir holds the store's outbox, credential and state.
	DataDir string
	// WebhookPath is where its deliveries arrive on --listen.
	WebhookPath string
	// file is true for an entry of --config, false for the flags.
	file bool
}

// storeNameRE is what a store name may be: it goes into a path, a
// directory name and a metric label.
var storeNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)

// restBase is the suffix of a WooCommerce REST base URL.
const restBase = "/wp-json/wc/v3"

// homeURL returns the site's home URL for a home URL or a REST base
// (https://host/site-a/wp-json/wc/v3: a multisite network's site).
func homeURL(raw string) string {
	u := strings.TrimRight(raw, "/")
	return strings.TrimRight(strings.TrimSuffix(u, restBase), "/")
}

// storesFile is the shape of --config.
type storesFile struct {
	Stores []storeEntry `yaml:"stores"`
}

// storeEntry is one store of --config. A secret is given in the file or,
// with the _env form, named by the environment variable holding it.
type storeEntry struct {
	Name              string   `yaml:"name"`
	URL               string   `yaml:"url"`
	ConsumerKey       string   `yaml:"consumer_key"`
	ConsumerKeyEnv    string   `yaml:"consumer_key_env"`
	ConsumerSecret    string   `yaml:"consumer_secret"`
	ConsumerSecretEnv string   `yaml:"consumer_secret_env"`
	Token             string   `yaml:"token"`
	TokenEnv          string   `yaml:"token_env"`
	JoinToken         string   `yaml:"join_token"`
	JoinTokenEnv      string   `yaml:"join_token_env"`
	RateLimit         *float64 `yaml:"rate_limit"`
	StoreEdits        string   `yaml:"store_edits"`
}

// loadStores reads the --config file at path. Entries take the defaults
// of c (rate limit, store edits) and their data dir under c.DataDir.
// Errors name the file and line.
func loadStores(path string, c Config, lookupEnv func(string) (string, bool)) ([]StoreConfig, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--config: %w", err)
	}
	return parseStores(path, b, c, lookupEnv)
}

// parseStores is loadStores on the file's content b.
func parseStores(path string, b []byte, c Config, lookupEnv func(string) (string, bool)) ([]StoreConfig, error) {
	var file storesFile
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&file); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	// The same document again as nodes, for the line of each entry.
	var lines struct {
		Stores []yaml.Node `yaml:"stores"`
	}
	_ = yaml.Unmarshal(b, &lines)
	if len(file.Stores) == 0 {
		return nil, fmt.Errorf("%s: no stores", path)
	}
	seen := map[string]int{}
	stores := make([]StoreConfig, 0, len(file.Stores))
	for i, e := range file.Stores {
		line := 0
		if i < len(lines.Stores) {
			line = lines.Stores[i].Line
		}
		sc, err := e.resolve(c, lookupEnv)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: store %q: %w", path, line, e.Name, err)
		}
		if first, dup := seen[sc.Name]; dup {
			return nil, fmt.Errorf("%s:%d: store %q: name already used on line %d", path, line, sc.Name, first)
		}
		seen[sc.Name] = line
		stores = append(stores, sc)
	}
	return stores, nil
}

// resolve checks the entry and reads the secrets it names.
func (e storeEntry) resolve(c Config, lookupEnv func(string) (string, bool)) (StoreConfig, error) {
	sc := StoreConfig{Name: e.Name, URL: homeURL(e.URL), RateLimit: c.RateLimit, StoreEdits: c.StoreEdits, file: true}
	if e.RateLimit != nil {
		sc.RateLimit = *e.RateLimit
	}
	if e.StoreEdits != "" {
		sc.StoreEdits = e.StoreEdits
	}
	for _, s := range []struct {
		field, value, env string
		dst               *string
	}{
		{"consumer_key", e.ConsumerKey, e.ConsumerKeyEnv, &sc.ConsumerKey},
		{"consumer_secret", e.ConsumerSecret, e.ConsumerSecretEnv, &sc.ConsumerSecret},
		{"token", e.Token, e.TokenEnv, &sc.Token},
		{"join_token", e.JoinToken, e.JoinTokenEnv, &sc.JoinToken},
	} {
		switch {
		case s.value != "" && s.env != "":
			return sc, fmt.Errorf("%s and %s_env: give one", s.field, s.field)
		case s.env != "":
			v, ok := lookupEnv(s.env)
			if !ok || v == "" {
				return sc, fmt.Errorf("%s_env: environment variable %s is not set", s.field, s.env)
			}
			*s.dst = v
		default:
			*s.dst = s.value
		}
	}
	sc.DataDir = filepath.Join(c.DataDir, sc.Name)
	sc.WebhookPath = WebhookPath + "/" + sc.Name
	if !storeNameRE.MatchString(sc.Name) {
		return sc, errors.New("name: want 1 to 63 of a-z, 0-9, _ and -, starting with a letter or digit")
	}
	return sc, sc.validate("")
}

// validate names the first bad field; flag is "--" for the single-store
// flags, "" for an entry of --config.
func (sc StoreConfig) validate(flag string) error {
	// name is how the user gave the field: a flag or a key of the file.
	name := func(flagName, key string) string {
		if flag != "" {
			return flag + flagName
		}
		return key
	}
	if sc.URL == "" {
		return fmt.Errorf("%s is required", name("store-url", "url"))
	}
	if u, err := url.Parse(sc.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%s %q: want http(s)://host", name("store-url", "url"), sc.URL)
	}
	if sc.ConsumerKey == "" || sc.ConsumerSecret == "" {
		return fmt.Errorf("%s and %s are required", name("consumer-key", "consumer_key"), name("consumer-secret", "consumer_secret"))
	}
	if sc.RateLimit <= 0 {
		return fmt.Errorf("%s %v: must be positive", name("rate-limit", "rate_limit"), sc.RateLimit)
	}
	if sc.StoreEdits != stock.EditsRevert && sc.StoreEdits != stock.EditsAccept {
		return fmt.Errorf("%s %q: want revert or accept", name("store-edits", "store_edits"), sc.StoreEdits)
	}
	return nil
}
