// Package agentws is the hub's end of the link: the WebSocket endpoint agents
// connect to. It authenticates a store credential, keeps one live session per
// store, replays or snapshots what the agent missed, pushes new changes the
// moment PostgreSQL announces them, and commits the agent's order reports
// through the order core before acknowledging them.
//
// Each session has a reader (the HTTP handler goroutine), a writer draining a
// bounded send queue, a pump that turns stored events into messages, a
// report worker that commits the agent's order reports (the reader never
// waits on the database, so it always takes the heartbeat's pongs) and a
// heartbeat. A session whose queue is full is dropped, never waited for: the
// agent reconnects and resumes from its last applied sequence, so a slow
// agent never stalls the others. It leaves storage to hub.EventService and
// HTTP routing to hub/web.
package agentws

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/stockwire/stockwire/hub"
	"github.com/stockwire/stockwire/shared/wire"
)

// Server accepts agent sessions. Exported fields are tunables, set before the
// first connection.
type Server struct {
	Stores   hub.StoreService
	Events   hub.EventService
	Orders   hub.OrderService
	Sessions hub.SessionService
	Logger   *slog.Logger

	// Replica names this hub process in the stores' agent state.
	Replica string
	// SendQueue bounds each session's outgoing messages. Defaults to 256. A
	// session whose queue stays full for WriteTimeout is dropped.
	SendQueue int
	// ReportQueue bounds each session's order reports and releases read
	// and not yet committed. Defaults to 256, the agent's window of reports
	// in flight. A report that finds it full is not acknowledged, and the
	// agent sends it again.
	ReportQueue int
	// PingInterval is the heartbeat period. Defaults to 15s; a ping not
	// answered within WriteTimeout ends the session.
	PingInterval time.Duration
	// WriteTimeout bounds one write or ping. Defaults to 10s.
	WriteTimeout time.Duration
	// HelloTimeout bounds the wait for the agent's hello. Defaults to 10s.
	HelloTimeout time.Duration
	// SnapshotAfter is the lag (in sequence numbers) beyond which a
	// reconnecting agent gets a snapshot instead of a replay. Defaults to
	// 10,000.
	SnapshotAfter int64
	// SnapshotChunkSKUs and SnapshotChunkBytes bound each message of a
	// snapshot sent in chunks (to an agent that gathers them): at most
	// that many targets, and about that many bytes of them. Default to
	// wire.SnapshotChunkSKUs and wire.SnapshotChunkBytes.
	SnapshotChunkSKUs  int
	SnapshotChunkBytes int
	// BatchSize bounds the events read and sent in one message. Defaults to
	// 1,000.
	BatchSize int
	// ResyncInterval makes each session look for missed changes even
	// without a notification, and re-check its credential. Defaults to 30s.
	ResyncInterval time.Duration
	// StateInterval is how often the agents' states (last seen, applied
	// sequence, outbox depth) are written, all sessions at once so that
	// the group commit makes one statement of them. Defaults to 1s.
	StateInterval time.Duration

	metrics *metrics
	ctx     context.Context
	cancel  context.CancelFunc

	mu        sync.Mutex
	sessions  map[int64]*session // by store ID; guarded by mu
	closed    bool               // guarded by mu
	wg        sync.WaitGroup
	stateLoop sync.Once // starts flushStates with the first session
}

// NewServer returns a server using the given services.
func NewServer(stores hub.StoreService, events hub.EventService, orders hub.OrderService, sessions hub.SessionService,
	logger *slog.Logger, reg prometheus.Registerer) *Server {
	ctx, cancel := context.WithCancel(context.Background())
	return &Server{
		Stores: stores, Events: events, Orders: orders, Sessions: sessions, Logger: logger,
		SendQueue: 256, ReportQueue: 256, PingInterval: 15 * time.Second, WriteTimeout: 10 * time.Second,
		HelloTimeout: 10 * time.Second, SnapshotAfter: 10_000, BatchSize: 1000,
		SnapshotChunkSKUs: wire.SnapshotChunkSKUs, SnapshotChunkBytes: wire.SnapshotChunkBytes,
		ResyncInterval: 30 * time.Second, StateInterval: time.Second,
		metrics: newMetrics(reg),
		ctx:     ctx, cancel: cancel,
		sessions: make(map[int64]*session),
	}
}

// ServeHTTP authenticates the store credential and runs the session until
// either side ends it.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if s.isClosed() {
		writeError(w, http.StatusServiceUnavailable, "hub shutting down")
		return
	}
	token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || token == "" {
		writeError(w, http.StatusUnauthorized, "missing store credential")
		return
	}
	store, err := s.Stores.AuthenticateAgent(r.Context(), token)
	if hub.ErrorCode(err) == hub.EUNAUTHORIZED {
		writeError(w, http.StatusUnauthorized, "unknown or revoked store credential")
		return
	} else if err != nil {
		s.Logger.Error("authenticate agent", "error", err)
		writeError(w, http.StatusInternalServerError, "internal error")
		return
	}

	c, err := websocket.Accept(w, r, &websocket.AcceptOptions{Subprotocols: []string{wire.Subprotocol}})
	if err != nil {
		s.Logger.Warn("websocket accept", "store_id", store.ID, "error", err)
		return
	}
	defer c.CloseNow()
	if c.Subprotocol() != wire.Subprotocol {
		s.Logger.Warn("agent offered no supported protocol version", "store_id", store.ID,
			"offered", r.Header.Get("Sec-WebSocket-Protocol"))
		s.metrics.disconnects.WithLabelValues("protocol").Inc()
		c.Close(websocket.StatusPolicyViolation, "unsupported protocol version: this hub speaks "+wire.Subprotocol)
		return
	}
	c.SetReadLimit(wire.MaxMessageBytes)

	sess := newSession(s, store, c, r.RemoteAddr)
	if !s.register(sess) {
		c.Close(websocket.StatusGoingAway, "hub shutting down")
		return
	}
	defer s.wg.Done()
	sess.run()
}

// register makes sess the store's live session, closing the one it replaces,
// and counts it in wg.
func (s *Server) register(sess *session) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.wg.Add(1)
	s.stateLoop.Do(func() { s.wg.Go(s.flushStates) })
	if old := s.sessions[sess.store.ID]; old != nil {
		old.stop("replaced", websocket.StatusPolicyViolation, "replaced by a newer session of this store")
	}
	s.sessions[sess.store.ID] = sess
	s.metrics.connected.Set(float64(len(s.sessions)))
	return true
}

// unregister removes sess and reports whether it was still the store's live
// session (not replaced by a newer one).
func (s *Server) unregister(sess *session) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	live := s.sessions[sess.store.ID] == sess
	if live {
		delete(s.sessions, sess.store.ID)
	}
	s.metrics.connected.Set(float64(len(s.sessions)))
	return live
}

// flushStates writes the state of every session that changed, every
// StateInterval, until the server closes. The sessions flush together, so
// their writes share one statement instead of one each per second.
func (s *Server) flushStates() {
	tick := time.NewTicker(s.StateInterval)
	defer tick.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-tick.C:
		}
		s.mu.Lock()
		sessions := make([]*session, 0, len(s.sessions))
		for _, sess := range s.sessions {
			sessions = append(sessions, sess)
		}
		s.mu.Unlock()
		var wg sync.WaitGroup
		for _, sess := range sessions {
			wg.Go(sess.flushState)
		}
		wg.Wait()
	}
}

// Notify wakes the sessions of the given stores so they push their new
// changes; nil wakes every session (after a lost notification).
func (s *Server) Notify(storeIDs []int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if storeIDs == nil {
		for _, sess := range s.sessions {
			sess.wakeUp()
		}
		return
	}
	for _, id := range storeIDs {
		if sess := s.sessions[id]; sess != nil {
			sess.wakeUp()
		}
	}
}

// SessionNotice acts on what a replica (this one or another) announced: a
// newer claim closes this replica's older session of the store, a
// revocation or a policy change closes the store's session (the agent
// reconnects under the new policy), new order commands are sent by the
// store's session, and a zero notice (notices may have been lost) has
// every session check its claim and its commands in PostgreSQL.
func (s *Server) SessionNotice(n hub.SessionNotice) {
	if n.Revoked {
		s.Disconnect(n.StoreID)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if n.PolicyChanged || n.Restart {
		if sess := s.sessions[n.StoreID]; sess != nil {
			what := "store policy"
			if n.Restart {
				what = "store's SKU aliases"
			}
			sess.logger.Info(what + " changed; ending the session so the agent starts over")
			sess.stop("policy", websocket.StatusTryAgainLater, what+" changed; reconnect")
		}
		return
	}
	if n.StoreID == 0 {
		for _, sess := range s.sessions {
			sess.recheck.Store(true)
			sess.commands.Store(true)
			sess.wakeUp()
		}
		return
	}
	if n.Commands {
		if sess := s.sessions[n.StoreID]; sess != nil {
			sess.commands.Store(true)
			sess.wakeUp()
		}
		return
	}
	if sess := s.sessions[n.StoreID]; sess != nil {
		sess.superseded(n.Claim)
	}
}

// Disconnect ends the store's session at once (its credential was revoked).
func (s *Server) Disconnect(storeID int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sess := s.sessions[storeID]; sess != nil {
		sess.stop("revoked", websocket.StatusCode(wire.CloseRevoked), "store credential revoked")
	}
}

// Connected reports whether the store has a live session on this process.
func (s *Server) Connected(storeID int64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sessions[storeID] != nil
}

func (s *Server) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// Close ends every session and waits for them. It is idempotent.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	for _, sess := range s.sessions {
		sess.stop("shutdown", websocket.StatusGoingAway, "hub shutting down")
	}
	s.mu.Unlock()
	s.cancel()
	s.wg.Wait()
	return nil
}

func writeError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	code := hub.EUNAUTHORIZED
	if status >= 500 {
		code = hub.EINTERNAL
	}
	_, _ = w.Write([]byte(`{"error":{"code":"` + code + `","message":"` + msg + `"}}`))
}

// isNormalClose reports whether err is an expected end of a session.
func isNormalClose(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) {
		return true
	}
	switch websocket.CloseStatus(err) {
	case websocket.StatusNormalClosure, websocket.StatusGoingAway:
		return true
	}
	return false
}
