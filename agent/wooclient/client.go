// Package wooclient is the agent's WooCommerce REST API v3 client: authentication
// (OAuth 1.0a one-legged over http, Basic over https), pagination, batch
// writes split at 100 items, per-attempt timeouts, a request rate limit, and
// retries with capped exponential backoff and jitter on 429, 5xx, timeouts
// and transport errors (honouring Retry-After). Only requests that are safe
// to repeat are retried blindly: a batch carrying inventory_delta whose
// outcome is unknown returns an *OutcomeUnknownError and the caller (the
// stock writer) reads the state back. Check is the start-up probe that tells
// apart the ways a store and its keys can be wrong.
//
// It leaves the meaning of what it reads and writes (SKU maps, stock,
// orders, the ERP's order commands) to agent/catalog, agent/stock,
// agent/orders and agent/ordercmd. Secrets never appear in logs or error
// text.
package wooclient

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"

	"github.com/stockwire/stockwire/shared/backoff"
	"github.com/stockwire/stockwire/shared/woo"
)

// MaxBatch is WooCommerce's default cap on items in one batch request.
const MaxBatch = 100

// maxBody bounds a response body read into memory.
const maxBody = 64 << 20

// Config configures a Client. BaseURL and the key pair are required.
type Config struct {
	// BaseURL is the store's home URL (as WordPress knows it: same scheme
	// and host, e.g. "https://www.shop.example"), without /wp-json. http
	// uses OAuth 1.0a, https uses Basic auth.
	BaseURL        string
	ConsumerKey    string
	ConsumerSecret string
	// HTTPClient sends requests. Defaults to a client with sane transport
	// timeouts; its own Timeout should be 0 (Timeout below applies).
	HTTPClient *http.Client
	// RateLimit is the steady request rate (requests per second). Defaults
	// to 20; rate.Inf disables the limit.
	RateLimit rate.Limit
	// Burst is the limiter's burst. Defaults to 10. A quarter of it is
	// kept for urgent requests (see Urgent).
	Burst int
	// MaxRetries is how many times a retryable failure is retried.
	// Defaults to 4; negative means none.
	MaxRetries int
	// MinBackoff is the ceiling of the first retry delay (the delay is
	// random below it, see shared/backoff). Defaults to 200ms.
	MinBackoff time.Duration
	// MaxBackoff caps the retry delay. Defaults to 10s. A Retry-After
	// header is honoured up to max(MaxBackoff, 2m).
	MaxBackoff time.Duration
	// Timeout bounds one attempt (request and body). Defaults to 30s.
	Timeout time.Duration
	// OAuthInQuery sends the OAuth parameters in the query string instead
	// of the Authorization header (for hosts that strip the header).
	OAuthInQuery bool
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// Registerer receives the client's metrics; nil registers nothing.
	Registerer prometheus.Registerer
}

// Client is a WooCommerce REST API v3 client. It is safe for concurrent use.
type Client struct {
	cfg     Config
	base    string // BaseURL without trailing slash
	basic   bool   // https: Basic auth
	hc      *http.Client
	lim     *rate.Limiter
	reserve float64 // tokens other requests leave to urgent ones
	log     *slog.Logger
	metrics *metrics
	retry   backoff.Policy // from MinBackoff and MaxBackoff
	now     func() time.Time
}

// New checks cfg and returns a Client. It does not contact the store (see
// Check).
func New(cfg Config) (*Client, error) {
	u, err := url.Parse(strings.TrimRight(cfg.BaseURL, "/"))
	if err != nil {
		return nil, fmt.Errorf("parse store url: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("store url %q: want http(s)://host[/path]", cfg.BaseURL)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("store url %q: must not have a query or fragment", cfg.BaseURL)
	}
	if strings.Contains(u.Path, "/wp-json") {
		return nil, fmt.Errorf("store url %q: give the site's home URL, without /wp-json", cfg.BaseURL)
	}
	if cfg.ConsumerKey == "" || cfg.ConsumerSecret == "" {
		return nil, errors.New("consumer key and secret are required")
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = NewHTTPClient(8)
	}
	if cfg.RateLimit == 0 {
		cfg.RateLimit = 20
	}
	if cfg.Burst <= 0 {
		cfg.Burst = 10
	}
	if cfg.MaxRetries == 0 {
		cfg.MaxRetries = 4
	} else if cfg.MaxRetries < 0 {
		cfg.MaxRetries = 0
	}
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = 200 * time.Millisecond
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = 10 * time.Second
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	m, err := newMetrics(cfg.Registerer)
	if err != nil {
		return nil, err
	}
	return &Client{
		cfg:     cfg,
		base:    u.String(),
		basic:   u.Scheme == "https",
		hc:      cfg.HTTPClient,
		lim:     rate.NewLimiter(cfg.RateLimit, cfg.Burst),
		reserve: float64(cfg.Burst / 4),
		log:     cfg.Logger,
		metrics: m,
		retry:   backoff.Policy{Min: cfg.MinBackoff, Max: cfg.MaxBackoff},
		now:     time.Now,
	}, nil
}

// NewHTTPClient returns the HTTP client a Client uses by default: transport
// timeouts, at most maxIdle idle connections kept per host, no limit on
// the connections in use (a store that hangs holds its own requests'
// connections, never another's), and redirects never followed.
func NewHTTPClient(maxIdle int) *http.Client {
	return &http.Client{
		Transport: &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			TLSHandshakeTimeout:   10 * time.Second,
			MaxIdleConnsPerHost:   maxIdle,
			IdleConnTimeout:       90 * time.Second,
			ResponseHeaderTimeout: 60 * time.Second,
			ForceAttemptHTTP2:     true,
		},
		// Never follow redirects: a redirect drops the Authorization
		// header or changes the signed URL; report it instead.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// answerDecoder is an answer that reads itself, without encoding/json.
type answerDecoder interface {
	decodeAnswer(body []byte) error
}

func decodeAnswer(body []byte, out any) error {
	if d, ok := out.(answerDecoder); ok {
		return d.decodeAnswer(body)
	}
	return json.Unmarshal(body, out)
}

type urgentKey struct{}

// Urgent marks the requests made with the returned context as urgent: the
// stock writes and the reads they need. The other requests (order polls,
// safety-net checks, catalog scans, webhook upkeep) leave a quarter of
// the rate limiter's burst to urgent ones, so that a stock write does not
// queue behind them while they use up the store's request budget.
func Urgent(ctx context.Context) context.Context { return context.WithValue(ctx, urgentKey{}, true) }

func isUrgent(ctx context.Context) bool { return ctx.Value(urgentKey{}) != nil }

// deferAtMost bounds how long a request that is not urgent waits for the
// urgent reserve to fill: under a steady stream of writes it then takes
// its turn anyway, so that order polls are slowed, never starved.
const deferAtMost = 2 * time.Second

// wait takes a token from the rate limiter. A request that is not urgent
// first waits until taking one leaves the urgent reserve in the bucket.
func (c *Client) wait(ctx context.Context) error {
	if isUrgent(ctx) || c.reserve == 0 || c.lim.Limit() == rate.Inf {
		return c.lim.Wait(ctx)
	}
	short := func() float64 { return c.reserve + 1 - c.lim.Tokens() }
	if short() > 0 {
		c.metrics.deferred.Inc()
		defer c.metrics.deferred.Dec()
		deadline := c.now().Add(deferAtMost)
		for n := short(); n > 0 && c.now().Before(deadline); n = short() {
			refill := time.Duration(n / float64(c.lim.Limit()) * float64(time.Second))
			if err := backoff.Sleep(ctx, min(refill, deadline.Sub(c.now()))); err != nil {
				return err
			}
		}
	}
	return c.lim.Wait(ctx)
}

// Page is the paging information of a list answer.
type Page struct {
	Total      int // X-WP-Total
	TotalPages int // X-WP-TotalPages
	// Served is the store's clock when it answered (the Date header,
	// whole seconds); zero when the header is missing or unreadable.
	Served time.Time
}

func pageOf(h http.Header) Page {
	t, _ := strconv.Atoi(h.Get("X-WP-Total"))
	tp, _ := strconv.Atoi(h.Get("X-WP-TotalPages"))
	served, _ := http.ParseTime(h.Get("Date"))
	return Page{Total: t, TotalPages: tp, Served: served}
}

// QueryTime is a moment, by the store's clock, no later than when the
// store ran the query of this answer, sent at sent: Served less the time
// since sent and a second (Date is whole seconds). Whatever the store saves
// after it carries a later date_modified, so a modified_after list may
// start from it. Zero when Served is.
func (p Page) QueryTime(sent time.Time) time.Time {
	if p.Served.IsZero() {
		return time.Time{}
	}
	return p.Served.Add(-time.Since(sent) - time.Second)
}

// call is one logical request.
type call struct {
	method string
	path   string // after /wp-json/wc/v3
	route  string // metric label, e.g. "GET /products/{id}"
	query  url.Values
	body   any
	// idempotent requests are retried after they may have reached the
	// store; others only when it surely did not act (429, dial errors).
	idempotent bool
	forceOAuth bool // Check's probe
	oauthHTTP  bool // sign with the http scheme even on https
	retries    *int // overrides cfg.MaxRetries
}

// attemptResult is what one attempt produced.
type attemptResult struct {
	status     int
	body       []byte
	header     http.Header
	err        error // transport error
	sent       bool  // the request may have reached the store
	retryAfter time.Duration
}

// do runs c with retries and decodes a 2xx answer into out (if non-nil).
func (c *Client) do(ctx context.Context, cl call, out any) (http.Header, error) {
	var body []byte
	if cl.body != nil {
		b, err := json.Marshal(cl.body)
		if err != nil {
			return nil, fmt.Errorf("%s: encode body: %w", cl.route, err)
		}
		body = b
	}
	maxRetries := c.cfg.MaxRetries
	if cl.retries != nil {
		maxRetries = *cl.retries
	}
	for attempt := 0; ; attempt++ {
		if err := c.wait(ctx); err != nil {
			return nil, fmt.Errorf("%s: rate limit wait: %w", cl.route, err)
		}
		r := c.attempt(ctx, cl, body)
		if ctx.Err() != nil {
			// The caller gave up; for a write the outcome is unknown.
			if r.sent && !cl.idempotent {
				return nil, &OutcomeUnknownError{Route: cl.route, Err: ctx.Err()}
			}
			return nil, fmt.Errorf("%s: %w", cl.route, ctx.Err())
		}
		var err error
		retryable := false
		switch {
		case r.err != nil:
			err = r.err
			retryable = cl.idempotent || !r.sent
			if !retryable {
				return nil, &OutcomeUnknownError{Route: cl.route, Err: err}
			}
		case r.status >= 200 && r.status < 300:
			if out != nil && len(r.body) > 0 {
				if err := decodeAnswer(r.body, out); err != nil {
					return r.header, fmt.Errorf("%s: decode answer: %w", cl.route, err)
				}
			}
			return r.header, nil
		default:
			err = answerError(cl.route, r.status, r.body)
			switch {
			case r.status == http.StatusTooManyRequests:
				retryable = true // not processed
			case r.status >= 500:
				retryable = cl.idempotent
				if !retryable {
					return r.header, &OutcomeUnknownError{Route: cl.route, Err: err}
				}
			}
			if !retryable {
				return r.header, err
			}
		}
		if attempt >= maxRetries {
			return r.header, fmt.Errorf("%s: giving up after %d attempts: %w", cl.route, attempt+1, err)
		}
		wait := c.retryDelay(attempt, r.retryAfter)
		c.metrics.retries.Inc()
		c.log.Warn("woo request retrying", "route", cl.route, "attempt", attempt+1, "status", r.status, "wait", wait, "error", err)
		if err := backoff.Sleep(ctx, wait); err != nil {
			return nil, fmt.Errorf("%s: %w", cl.route, err)
		}
	}
}

// retryDelay returns the wait before retry attempt+1: the retry policy's
// delay (full jitter, capped at MaxBackoff), or the store's Retry-After
// when longer, itself capped at max(MaxBackoff, 2m).
func (c *Client) retryDelay(attempt int, retryAfter time.Duration) time.Duration {
	d := c.retry.Delay(attempt)
	if retryAfter > 0 {
		d = max(d, min(retryAfter, max(c.cfg.MaxBackoff, 2*time.Minute)))
	}
	return d
}

// attempt sends one request.
func (c *Client) attempt(ctx context.Context, cl call, body []byte) attemptResult {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	endpoint := c.base + woo.APIPrefix + cl.path
	q := url.Values{}
	for k, v := range cl.query {
		q[k] = v
	}
	var authz string
	useOAuth := !c.basic || cl.forceOAuth
	if useOAuth {
		signURL := endpoint
		if cl.oauthHTTP {
			signURL = "http" + strings.TrimPrefix(signURL, "https")
		}
		oauth := c.oauthParams(cl.method, signURL, q)
		if c.cfg.OAuthInQuery {
			for k, v := range oauth {
				q[k] = v
			}
		} else {
			authz = oauthHeader(oauth)
		}
	}
	u := endpoint
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, cl.method, u, rd)
	if err != nil {
		return attemptResult{err: fmt.Errorf("build request: %w", err)}
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "stockwire-agent")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if authz != "" {
		req.Header.Set("Authorization", authz)
	} else if !useOAuth {
		req.SetBasicAuth(c.cfg.ConsumerKey, c.cfg.ConsumerSecret)
	}
	start := time.Now()
	resp, err := c.hc.Do(req)
	if err != nil {
		c.observe(cl.route, "error", start)
		return attemptResult{err: scrub(err), sent: !isDialError(err)}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	c.observe(cl.route, strconv.Itoa(resp.StatusCode), start)
	if err != nil {
		return attemptResult{err: fmt.Errorf("read answer: %w", scrub(err)), sent: true}
	}
	return attemptResult{
		status:     resp.StatusCode,
		body:       b,
		header:     resp.Header,
		sent:       true,
		retryAfter: parseRetryAfter(resp.Header.Get("Retry-After"), c.now()),
	}
}

func (c *Client) observe(route, code string, start time.Time) {
	c.metrics.requests.WithLabelValues(route, code).Inc()
	c.metrics.duration.WithLabelValues(route).Observe(time.Since(start).Seconds())
}

// oauthParams returns the oauth_* parameters, signature included, for a
// request to signURL (no query) with query q.
func (c *Client) oauthParams(method, signURL string, q url.Values) url.Values {
	var nonce [16]byte
	_, _ = rand.Read(nonce[:])
	p := url.Values{
		"oauth_consumer_key":     {c.cfg.ConsumerKey},
		"oauth_nonce":            {hex.EncodeToString(nonce[:])},
		"oauth_signature_method": {"HMAC-SHA256"},
		"oauth_timestamp":        {strconv.FormatInt(c.now().Unix(), 10)},
	}
	all := url.Values{}
	for k, v := range q {
		all[k] = v
	}
	for k, v := range p {
		all[k] = v
	}
	base := woo.SignatureBaseString(method, signURL, all)
	p.Set("oauth_signature", woo.Sign("HMAC-SHA256", c.cfg.ConsumerSecret, base))
	return p
}

// oauthHeader renders p as an "Authorization: OAuth" value.
func oauthHeader(p url.Values) string {
	keys := []string{"oauth_consumer_key", "oauth_nonce", "oauth_signature", "oauth_signature_method", "oauth_timestamp"}
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, k+`="`+woo.RFC3986(p.Get(k))+`"`)
	}
	return "OAuth " + strings.Join(parts, ", ")
}

// scrub drops the URL from a *url.Error: with OAuthInQuery it holds the
// consumer key and signature.
func scrub(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		if ue.Timeout() {
			return fmt.Errorf("%s: timeout: %w", ue.Op, ue.Err)
		}
		return fmt.Errorf("%s: %w", ue.Op, ue.Err)
	}
	return err
}

// isDialError reports whether err happened before the request was written
// (so the store surely did not act on it).
func isDialError(err error) bool {
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Op == "dial" {
		return true
	}
	var de *net.DNSError
	return errors.As(err, &de)
}

// parseRetryAfter reads delay-seconds or an HTTP date.
func parseRetryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(strings.TrimSpace(v)); err == nil {
		if s < 0 {
			return 0
		}
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return d
		}
	}
	return 0
}

// answerError turns a non-2xx answer into an error: *woo.APIError when the
// body is WooCommerce's error JSON, else *StatusError.
func answerError(route string, status int, body []byte) error {
	var ae woo.APIError
	if json.Unmarshal(body, &ae) == nil && ae.Code != "" {
		if ae.Data.Status == 0 {
			ae.Data.Status = status
		}
		return fmt.Errorf("%s: %w", route, &ae)
	}
	snip := string(body)
	if len(snip) > 200 {
		snip = snip[:200]
	}
	return &StatusError{Route: route, Status: status, Body: snip}
}
