// Package woosim is a WooCommerce store simulator: the REST API v3 subset a
// sync agent uses (OAuth 1.0a, products, variations, orders with their
// meta_data and notes, refunds, webhooks, batch endpoints), webhook delivery with WooCommerce's signatures,
// pacing, coalescing and failure rules, stock moved on the order status
// transitions WooCommerce uses, and a /sim/ API for tests, the demo and
// benchmarks (storefront checkout, admin edits, fault injection, stats).
//
// Tests start a store in-process with Start; the woosim command serves many.
// State is in memory, guarded by one lock per store.
//
// The /sim/ API (no auth, never subject to faults):
//
//	POST /sim/checkout      {"line_items":[{"sku","quantity"}]} → 201 {"order_id"} | 409 {"code":"out_of_stock"}
//	POST /sim/admin-edit    {"sku","stock_quantity"}  hand edit, fires product.updated
//	POST /sim/order-status  {"id","status"}           as wp-admin, moves stock, fires order.updated
//	GET|POST /sim/faults    Faults as JSON
//	GET  /sim/stats         Stats as JSON
//	POST /sim/flush-webhooks (also GET /wp-cron.php)  deliver what is queued now
package woosim

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"math/big"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/stockwire/stockwire/shared/woo"
)

// Key permissions, as WooCommerce stores them.
const (
	PermRead      = "read"
	PermWrite     = "write"
	PermReadWrite = "read_write"
)

// Key is one REST API key.
type Key struct {
	ConsumerKey    string
	ConsumerSecret string
	Permissions    string // read, write or read_write (default)
}

// Options configure a Store.
type Options struct {
	ConsumerKey    string // generated when empty
	ConsumerSecret string // generated when empty
	Keys           []Key  // extra keys
	// WebhookDelay is how long an event waits before delivery (Action
	// Scheduler's pace). Default 1s; a negative value means zero.
	WebhookDelay time.Duration
	// HomeURL is the store's home URL (OAuth base string, webhook source);
	// default the listen URL.
	HomeURL string
	// TrustProxyHTTPS treats requests with X-Forwarded-Proto: https as
	// HTTPS (Basic auth and query-string keys are then accepted).
	TrustProxyHTTPS bool
	// RefusePrivateWebhooks acts as wp_safe_remote_request: deliveries to
	// loopback/private hosts or ports other than 80, 443, 8080 fail.
	RefusePrivateWebhooks bool
	Logger                *slog.Logger
	Now                   func() time.Time
	// WebhookTimeout bounds one delivery (WooCommerce: 60s).
	WebhookTimeout time.Duration
}

// SeedOptions describe a generated catalog.
type SeedOptions struct {
	Products      int    // simple products
	Variable      int    // variable products
	VariationsPer int    // variations per variable product (default 3)
	Stock         int    // initial stock of each simple product and variation
	SKUPrefix     string // default "SKU"
}

// CheckoutLine is one line of a storefront checkout.
type CheckoutLine struct {
	SKU      string `json:"sku"`
	Quantity int64  `json:"quantity"`
}

// Faults are injected into one store's behaviour.
type Faults struct {
	ErrorRate   float64 `json:"error_rate"`   // share of REST requests answered with ErrorStatus
	ErrorStatus int     `json:"error_status"` // default 500
	LatencyMS   int     `json:"latency_ms"`   // added to every REST request
	TimeoutRate float64 `json:"timeout_rate"` // share of REST requests that hang until the client gives up
	// RateLimitRate is the share of REST requests answered 429 with
	// Retry-After: 1, as a host's rate limiter does, on top of ErrorRate.
	RateLimitRate   float64 `json:"rate_limit_rate"`
	DropWebhookRate float64 `json:"drop_webhook_rate"`
	WebhookDelayMS  int     `json:"webhook_delay_ms"` // overrides Options.WebhookDelay when > 0
	// RaceWindowMS opens WooCommerce's read-modify-write window in
	// inventory_delta and stock_quantity updates: the read and the write
	// are that far apart and a checkout can slip in between.
	RaceWindowMS int `json:"race_window_ms"`
}

// Stats are counters of one store.
type Stats struct {
	Requests          map[string]int64 `json:"requests"` // "METHOD /route status" → count
	StockWrites       int64            `json:"stock_writes"`
	WebhooksDelivered int64            `json:"webhooks_delivered"`
	WebhooksFailed    int64            `json:"webhooks_failed"`
	WebhooksDropped   int64            `json:"webhooks_dropped"`
	Pings             int64            `json:"pings"`
	CheckoutsAccepted int64            `json:"checkouts_accepted"`
	CheckoutsRefused  int64            `json:"checkouts_refused"`
}

type apiKey struct {
	secret string
	perms  string
}

// Store is one simulated WooCommerce store. It is an http.Handler.
type Store struct {
	onRequest    atomic.Pointer[func(r *http.Request)]
	onStockWrite atomic.Pointer[func(skus []string, at time.Time)]

	opts   Options
	logger *slog.Logger
	mux    *http.ServeMux
	client *http.Client

	keys map[string]apiKey // HMAC-SHA256(ck, "wc-api") hex → key

	nonceMu sync.Mutex
	nonces  map[string]int64 // ck hash + nonce → timestamp

	mu         sync.Mutex
	home       string
	nextID     int64
	nextItem   int64
	nextMeta   int64
	nextNote   int64 // order note (comment) ids
	products   map[int64]*product
	topIDs     []int64 // top-level products in id order
	topOrdered bool    // topIDs are also in date_created order
	topTrashed int     // top-level products in the trash
	skus       map[string]int64
	orders     map[int64]*order
	orderIDs   []int64
	webhooks   map[int64]*webhook
	faults     Faults
	stats      Stats
	pending    map[deliveryKey]*time.Timer
	closed     bool
	// raceReadHook runs after the race window read (tests).
	raceReadHook func()
	// stopCtx is cancelled by Close: in-flight deliveries end.
	stopCtx      context.Context
	stopFunc     context.CancelFunc
	generatedKey bool
	deliverWG    sync.WaitGroup
	runners      chan struct{} // one token per delivery running; see deliveryRunners
}

// NewStore builds a store with opts (the defaults filled in).
func NewStore(opts Options) *Store {
	generated := opts.ConsumerKey == ""
	if opts.ConsumerKey == "" {
		opts.ConsumerKey = "ck_" + randHex(20)
	}
	if opts.ConsumerSecret == "" {
		opts.ConsumerSecret = "cs_" + randHex(20)
	}
	if opts.WebhookDelay == 0 {
		opts.WebhookDelay = time.Second
	} else if opts.WebhookDelay < 0 {
		opts.WebhookDelay = 0
	}
	if opts.WebhookTimeout <= 0 {
		opts.WebhookTimeout = 60 * time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	s := &Store{
		opts:         opts,
		generatedKey: generated,
		logger:       logger,
		keys:         map[string]apiKey{},
		nonces:       map[string]int64{},
		home:         opts.HomeURL,
		nextID:       10,
		topOrdered:   true,
		nextItem:     1,
		nextMeta:     100,
		products:     map[int64]*product{},
		skus:         map[string]int64{},
		orders:       map[int64]*order{},
		webhooks:     map[int64]*webhook{},
		pending:      map[deliveryKey]*time.Timer{},
		runners:      make(chan struct{}, deliveryRunners),
		stats:        Stats{Requests: map[string]int64{}},
	}
	s.keys[hashKey(opts.ConsumerKey)] = apiKey{secret: opts.ConsumerSecret, perms: PermReadWrite}
	for _, k := range opts.Keys {
		p := k.Permissions
		if p == "" {
			p = PermReadWrite
		}
		s.keys[hashKey(k.ConsumerKey)] = apiKey{secret: k.ConsumerSecret, perms: p}
	}
	s.client = &http.Client{
		Timeout: opts.WebhookTimeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
		Transport: newWebhookTransport(opts.RefusePrivateWebhooks),
	}
	s.stopCtx, s.stopFunc = context.WithCancel(context.Background())
	s.routes()
	return s
}

// ConsumerKey returns the store's main consumer key.
func (s *Store) ConsumerKey() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.opts.ConsumerKey
}

// ConsumerSecret returns the store's main consumer secret.
func (s *Store) ConsumerSecret() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.opts.ConsumerSecret
}

// SetHomeURL sets the home URL (Start does it when Options.HomeURL is empty).
func (s *Store) SetHomeURL(u string) {
	s.mu.Lock()
	s.home = u
	s.mu.Unlock()
}

// SetFaults replaces the injected faults.
func (s *Store) SetFaults(f Faults) {
	s.mu.Lock()
	s.faults = f
	s.mu.Unlock()
}

// Faults returns the injected faults.
func (s *Store) Faults() Faults {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.faults
}

// Stats returns a copy of the counters.
func (s *Store) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stats
	st.Requests = make(map[string]int64, len(s.stats.Requests))
	for k, v := range s.stats.Requests {
		st.Requests[k] = v
	}
	return st
}

// Close stops pending webhook deliveries and waits for running ones.
func (s *Store) Close() {
	s.mu.Lock()
	s.closed = true
	for k, t := range s.pending {
		if t.Stop() {
			s.deliverWG.Done()
		}
		delete(s.pending, k)
	}
	s.mu.Unlock()
	s.stopFunc()
	s.deliverWG.Wait()
}

func hashKey(ck string) string {
	m := hmac.New(sha256.New, []byte("wc-api"))
	m.Write([]byte(ck))
	return hex.EncodeToString(m.Sum(nil))
}

func randHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return hex.EncodeToString(b)
}

func randString(n int) string {
	const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	b := make([]byte, n)
	for i := range b {
		v, err := rand.Int(rand.Reader, big.NewInt(int64(len(alphabet))))
		if err != nil {
			panic(err)
		}
		b[i] = alphabet[v.Int64()]
	}
	return string(b)
}

func fmtDate(t time.Time) string { return t.UTC().Format(woo.DateLayout) }

func fmtDatePtr(t *time.Time) *string {
	if t == nil {
		return nil
	}
	v := fmtDate(*t)
	return &v
}

// SetOnRequest installs f (nil: none) to be called at the start of every
// request. It may be called while the store serves.
func (s *Store) SetOnRequest(f func(r *http.Request)) {
	if f == nil {
		s.onRequest.Store(nil)
		return
	}
	s.onRequest.Store(&f)
}

// SetOnStockWrite installs f (nil: none) to be called when a
// product/variation update or batch that changes stock arrives, with the
// SKUs it changes. It may be called while the store serves.
func (s *Store) SetOnStockWrite(f func(skus []string, at time.Time)) {
	if f == nil {
		s.onStockWrite.Store(nil)
		return
	}
	s.onStockWrite.Store(&f)
}
