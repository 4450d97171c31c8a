// Package hubconn is the agent's end of the link: it dials the hub's
// WebSocket endpoint with the store credential, says hello, hands every
// message to its Handler and reconnects with capped exponential backoff and
// jitter whenever the link drops. It pings the hub every PingInterval and
// drops a link whose hub stays silent (a frozen process, a network
// partition), which TCP alone would notice only after many minutes. Given
// several hub replicas, it moves to the next one whenever a connection
// fails or drops. A session the hub ends with wire.CloseRevoked stops it.
// It knows nothing of the outbox or the store; the agent.Relay does that
// work.
package hubconn

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/stockwire/stockwire/agent"
	"github.com/stockwire/stockwire/shared/backoff"
	"github.com/stockwire/stockwire/shared/wire"
)

// ErrUnauthorized means the hub refused the store credential: unknown or
// revoked. A human must act (enrol again or use a new token).
var ErrUnauthorized = errors.New("hub refused the store credential (unknown or revoked)")

// ErrHubFailing means a hub answered the dial with a server error (5xx):
// it is there, but cannot serve now (its database down, say).
var ErrHubFailing = errors.New("hub answered with a server error")

// Handler is what the client drives. Hello is asked before every
// connection; Session runs while the link is up and must return when ctx
// ends; Handle gets every message after the hello, in order.
type Handler interface {
	Hello() wire.Hello
	Session(ctx context.Context, send agent.Sender)
	Handle(ctx context.Context, env wire.Envelope)
}

// Client keeps the link to the hub up.
type Client struct {
	// HubURL is the hub's base URL (http or https), or a comma-separated
	// list of the base URLs of hub replicas sharing one database. The
	// client starts with the first and moves to the next whenever a
	// connection attempt fails or the link drops. The WebSocket URL is
	// derived from each.
	HubURL string
	// Token is the store credential; never logged.
	Token   string
	Handler Handler
	Logger  *slog.Logger
	// TLSConfig trusts a private CA for an https hub (nil: system roots).
	TLSConfig *tls.Config
	// Backoff spaces reconnections: a random wait up to Min·2^n after n
	// failed attempts, at most Max. Defaults to 250ms and 30s.
	Backoff backoff.Policy
	// WriteTimeout bounds one write. Defaults to 10s.
	WriteTimeout time.Duration
	// PingInterval is the time between two pings of the hub; a ping not
	// answered within PingInterval drops the link, so a silent hub is
	// noticed within twice PingInterval. Defaults to 10s.
	PingInterval time.Duration

	metrics *metrics
	// current indexes the hub URL the next connection tries. Owned by the
	// goroutine calling Probe and Run.
	current int
}

// New returns a client with defaults for the hub (or hub replicas) at
// hubURL, a comma-separated list of base URLs. It returns an error for a
// bad URL.
func New(hubURL, token string, h Handler, logger *slog.Logger, reg prometheus.Registerer) (*Client, error) {
	if _, err := ParseHubURLs(hubURL); err != nil {
		return nil, err
	}
	m, err := newMetrics(reg)
	if err != nil {
		return nil, err
	}
	return &Client{HubURL: hubURL, Token: token, Handler: h, Logger: logger,
		Backoff: backoff.Policy{Min: 250 * time.Millisecond, Max: 30 * time.Second}, WriteTimeout: 10 * time.Second,
		PingInterval: DefaultPingInterval, metrics: m}, nil
}

// DefaultPingInterval is Client.PingInterval's default.
const DefaultPingInterval = 10 * time.Second

// ErrHubSilent means the hub did not answer a ping in time: the link was
// dropped as dead.
var ErrHubSilent = errors.New("hub did not answer a ping")

// ParseHubURLs splits a comma-separated list of hub base URLs and checks
// each.
func ParseHubURLs(list string) ([]string, error) {
	var urls []string
	for u := range strings.SplitSeq(list, ",") {
		u = strings.TrimSpace(u)
		if u == "" {
			return nil, fmt.Errorf("hub url list %q: empty entry", list)
		}
		if _, err := WebSocketURL(u); err != nil {
			return nil, err
		}
		urls = append(urls, u)
	}
	return urls, nil
}

// WebSocketURL derives the link URL from a hub base URL.
func WebSocketURL(hubURL string) (string, error) {
	u, err := url.Parse(hubURL)
	if err != nil {
		return "", fmt.Errorf("parse hub url: %w", err)
	}
	switch u.Scheme {
	case "http":
		u.Scheme = "ws"
	case "https":
		u.Scheme = "wss"
	case "ws", "wss":
	default:
		return "", fmt.Errorf("hub url %q: scheme must be http or https", hubURL)
	}
	if u.Host == "" {
		return "", fmt.Errorf("hub url %q: missing host", hubURL)
	}
	u.Path = strings.TrimSuffix(u.Path, "/") + wire.AgentPath
	u.RawQuery = ""
	return u.String(), nil
}

// Run keeps the link up until ctx ends. It returns ErrUnauthorized as soon
// as the hub refuses the credential (HTTP 401) or closes the session with
// wire.CloseRevoked: retrying cannot help, a human must act, and an agent
// that stays up looking healthy would hide it.
func (c *Client) Run(ctx context.Context) error {
	urls, err := ParseHubURLs(c.HubURL)
	if err != nil {
		return err
	}
	failures := 0 // attempts since the link was last up
	for {
		hubURL := urls[c.current%len(urls)]
		connected, err := c.runOnce(ctx, hubURL)
		if ctx.Err() != nil {
			return nil
		}
		if errors.Is(err, ErrUnauthorized) {
			return err
		}
		if connected {
			failures = 0
			c.Logger.Warn("hub link lost", "error", err)
		} else {
			failures++
			if failures == 1 || failures%10 == 0 {
				c.Logger.Warn("hub unreachable", "hub", hubURL, "consecutive_errors", failures, "error", err)
			}
		}
		c.current = (c.current + 1) % len(urls)
		c.metrics.reconnects.Inc()
		if backoff.Sleep(ctx, c.Backoff.Delay(failures)) != nil {
			return nil
		}
	}
}

// Probe dials the hub, trying each URL in turn until one answers, and
// hangs up: the agent's start-up check. Run then starts with the URL that
// answered. A refused credential is returned at once (every replica shares
// the same stores).
func (c *Client) Probe(ctx context.Context) error {
	urls, err := ParseHubURLs(c.HubURL)
	if err != nil {
		return err
	}
	var errs []error
	for i, hubURL := range urls {
		conn, err := c.dial(ctx, hubURL)
		if errors.Is(err, ErrUnauthorized) {
			return err
		} else if err != nil {
			errs = append(errs, err)
			continue
		}
		conn.Close(websocket.StatusNormalClosure, "probe")
		c.current = i
		return nil
	}
	return errors.Join(errs...)
}

func (c *Client) dial(ctx context.Context, hubURL string) (*websocket.Conn, error) {
	wsURL, err := WebSocketURL(hubURL)
	if err != nil {
		return nil, err
	}
	hc := &http.Client{Timeout: 15 * time.Second}
	if c.TLSConfig != nil {
		hc.Transport = &http.Transport{TLSClientConfig: c.TLSConfig}
	}
	dctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	conn, resp, err := websocket.Dial(dctx, wsURL, &websocket.DialOptions{
		HTTPClient:   hc,
		HTTPHeader:   http.Header{"Authorization": {"Bearer " + c.Token}},
		Subprotocols: []string{wire.Subprotocol},
	})
	if resp != nil && resp.StatusCode == http.StatusUnauthorized {
		return nil, ErrUnauthorized
	}
	if resp != nil && resp.StatusCode >= 500 {
		return nil, fmt.Errorf("dial %s: %w: %w", wsURL, ErrHubFailing, err)
	}
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", wsURL, err)
	}
	if conn.Subprotocol() != wire.Subprotocol {
		conn.Close(websocket.StatusPolicyViolation, "agent speaks "+wire.Subprotocol)
		return nil, fmt.Errorf("hub does not speak %s", wire.Subprotocol)
	}
	conn.SetReadLimit(wire.MaxMessageBytes)
	return conn, nil
}

// runOnce runs one connection to hubURL; connected reports whether the
// hello went through.
func (c *Client) runOnce(ctx context.Context, hubURL string) (connected bool, err error) {
	conn, err := c.dial(ctx, hubURL)
	if err != nil {
		return false, err
	}
	defer conn.CloseNow()
	s := &sender{conn: conn, timeout: c.WriteTimeout}
	if err := s.Send(ctx, wire.TypeHello, "", c.Handler.Hello()); err != nil {
		return false, fmt.Errorf("send hello: %w", err)
	}
	c.metrics.connected.Set(1)
	defer c.metrics.connected.Set(0)
	c.Logger.Info("hub connected", "hub", hubURL)

	sctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); c.Handler.Session(sctx, s) }()
	silent := make(chan error, 1) // why the ping loop dropped the link
	go func() {
		defer wg.Done()
		if err := c.pingLoop(sctx, conn); err != nil {
			silent <- err
			conn.CloseNow() // ends the read below
		}
	}()
	defer func() { cancel(); wg.Wait() }()

	// Reading with ctx would drop the socket when ctx ends; instead the hub
	// gets a close frame and the read ends with the handshake. The read
	// may end before Close returns: runOnce waits for it.
	closed := make(chan struct{})
	stopClosing := context.AfterFunc(ctx, func() {
		defer close(closed)
		conn.Close(websocket.StatusGoingAway, "agent shutting down")
	})
	defer func() {
		if !stopClosing() {
			<-closed
		}
	}()
	for {
		_, data, err := conn.Read(context.Background())
		if err != nil {
			if ctx.Err() != nil {
				return true, ctx.Err()
			}
			select {
			case err := <-silent:
				return true, err
			default:
			}
			if websocket.CloseStatus(err) == websocket.StatusCode(wire.CloseRevoked) {
				return true, fmt.Errorf("%w: %w", ErrUnauthorized, err)
			}
			return true, err
		}
		env, err := wire.Decode(data)
		if err != nil {
			c.Logger.Warn("malformed message from hub", "error", err)
			continue
		}
		c.metrics.received.WithLabelValues(env.Type).Inc()
		c.Handler.Handle(ctx, env)
	}
}

// pingLoop pings the hub every PingInterval until ctx ends (it returns nil
// then) or a ping goes unanswered for PingInterval. The read loop must be
// running: it is what takes in the pong.
func (c *Client) pingLoop(ctx context.Context, conn *websocket.Conn) error {
	t := time.NewTicker(c.PingInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		pctx, cancel := context.WithTimeout(ctx, c.PingInterval)
		err := conn.Ping(pctx)
		cancel()
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%w within %s: %w", ErrHubSilent, c.PingInterval, err)
		}
	}
}

// sender serialises writes on one connection.
type sender struct {
	mu      sync.Mutex
	conn    *websocket.Conn
	timeout time.Duration
}

func (s *sender) Send(ctx context.Context, typ, id string, v any) error {
	data, err := wire.Encode(typ, id, v)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conn.Write(ctx, websocket.MessageText, data)
}
