package agentws

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/stockwire/stockwire/hub"
	"github.com/stockwire/stockwire/shared/wire"
)

// errSlow ends a session whose send queue overflowed.
var errSlow = errors.New("send queue full")

// session is one connected agent.
type session struct {
	srv    *Server
	store  hub.Store
	conn   *websocket.Conn
	logger *slog.Logger

	ctx    context.Context
	cancel context.CancelCauseFunc
	queue  chan outgoing // bounded; drained by the writer goroutine
	wake   chan struct{} // capacity 1; signals new events to the pump
	// reports holds the order reports and releases the reader took and the
	// report worker has not yet committed (see reports.go). Bounded by
	// Server.ReportQueue.
	reports chan wire.Envelope
	// snapshotChunks and agentVersion are the hello's: whether the agent
	// gathers chunked snapshots, and its build. Set by run before the
	// pump starts.
	snapshotChunks bool
	agentVersion   string

	stopOnce  sync.Once
	closeCode websocket.StatusCode // set once by stop, read by close after ctx ends
	closeText string               // close reason sent to the agent; set once by stop
	abrupt    bool                 // the peer is unresponsive: close without handshake

	claimMu sync.Mutex
	claim   int64 // this session's claim on its store, 0 until made; guarded by claimMu
	newest  int64 // newest claim heard of for the store; guarded by claimMu
	// recheck asks the pump to compare claims with PostgreSQL (notices may
	// have been lost).
	recheck atomic.Bool
	// commands asks the pump to send the store's pending order commands.
	commands atomic.Bool
	// names translates SKUs between the hub and the store (aliases.go);
	// set before the session's workers start.
	names skuNames
	// epochNow is the store's epoch this session welcomed the agent in.
	epochNow string

	stateMu sync.Mutex
	state   hub.AgentState // guarded by stateMu
	dirty   bool           // guarded by stateMu
}

type outgoing struct {
	typ  string
	data []byte
	// queuedAt is when a change notification was received, for the push
	// metric; zero for other messages.
	queuedAt time.Time
}

func newSession(srv *Server, store hub.Store, conn *websocket.Conn, remote string) *session {
	ctx, cancel := context.WithCancelCause(srv.ctx)
	return &session{
		srv: srv, store: store, conn: conn,
		logger: srv.Logger.With("store_id", store.ID, "remote_addr", remote),
		ctx:    ctx, cancel: cancel,
		queue:   make(chan outgoing, srv.SendQueue),
		wake:    make(chan struct{}, 1),
		reports: make(chan wire.Envelope, srv.ReportQueue),
	}
}

func (ss *session) wakeUp() {
	select {
	case ss.wake <- struct{}{}:
	default:
	}
}

// stop ends the session: it cancels the session's work and has the closer
// send a close frame with code and text. Only the first call counts; it is
// safe from any goroutine and never blocks.
func (ss *session) stop(reason string, code websocket.StatusCode, text string) {
	ss.stopOnce.Do(func() {
		ss.closeCode, ss.closeText = code, text
		ss.abrupt = reason == "slow" || reason == "heartbeat" || reason == "write"
		ss.srv.metrics.disconnects.WithLabelValues(reason).Inc()
		ss.cancel(errors.New(reason))
	})
}

// superseded records that the store's session with the given claim is live
// (on this replica or another) and stops this session if that claim is
// newer than its own. A claim heard of before this session's own claim
// returned is kept and compared then (see setClaim).
func (ss *session) superseded(claim int64) {
	ss.claimMu.Lock()
	defer ss.claimMu.Unlock()
	ss.newest = max(ss.newest, claim)
	if ss.claim != 0 && ss.newest > ss.claim {
		ss.stop("replaced", websocket.StatusPolicyViolation, "replaced by a newer session of this store")
	}
}

// setClaim sets this session's claim and stops the session if a newer one
// was heard of meanwhile.
func (ss *session) setClaim(claim int64) {
	ss.claimMu.Lock()
	ss.claim = claim
	ss.claimMu.Unlock()
	ss.superseded(claim)
}

func (ss *session) liveClaim() int64 {
	ss.claimMu.Lock()
	defer ss.claimMu.Unlock()
	return ss.claim
}

// closer waits for the session to end and closes the connection. Reads use
// a context that is never cancelled (cancelling a read tears the socket down
// at once), so the close frame and its reason reach the agent first; the
// reader returns once the handshake is over or Close gives up on the peer.
func (ss *session) closer() {
	<-ss.ctx.Done()
	ss.stop("shutdown", websocket.StatusGoingAway, "hub shutting down")
	if ss.abrupt {
		ss.conn.CloseNow()
		return
	}
	ss.conn.Close(ss.closeCode, ss.closeText)
}

// enqueue queues a message. When the queue is full it waits for the writer
// to make room, up to WriteTimeout: an agent catching up on a large change
// is slower than the database, not dead. An agent that takes no message in
// that time is dropped (it reconnects and resumes). Only the session's own
// goroutines wait here; Notify never does. It reports whether the message
// was queued.
func (ss *session) enqueue(typ, id string, v any) bool {
	data, err := wire.Encode(typ, id, v)
	if err != nil {
		panic(err) // our own payload types always encode
	}
	return ss.enqueueEncoded(typ, data)
}

// enqueueEncoded is enqueue for a message already encoded.
func (ss *session) enqueueEncoded(typ string, data []byte) bool {
	m := outgoing{typ: typ, data: data}
	select {
	case ss.queue <- m:
		return true
	default:
	}
	full := time.NewTimer(ss.srv.WriteTimeout)
	defer full.Stop()
	select {
	case ss.queue <- m:
		return true
	case <-ss.ctx.Done():
		return false
	case <-full.C:
		ss.logger.Warn("agent too slow, dropping session", "queue", cap(ss.queue), "duration", ss.srv.WriteTimeout.String())
		ss.stop("slow", websocket.StatusTryAgainLater, "send queue full; reconnect and resume")
		return false
	}
}

// run drives the session to its end. It returns after every goroutine it
// started has ended.
func (ss *session) run() {
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Add(1)
	go func() { defer wg.Done(); ss.closer() }()
	defer ss.stop("closed", websocket.StatusNormalClosure, "")
	defer ss.srv.unregister(ss)

	hello, err := ss.readHello()
	switch {
	case err == nil:
	case ss.ctx.Err() != nil:
		return
	case isNormalClose(err):
		// The agent's start-up probe: it connects and hangs up.
		ss.logger.Debug("agent left before its hello", "error", err)
		ss.stop("closed", websocket.StatusNormalClosure, "")
		return
	default:
		ss.logger.Warn("agent hello", "error", err)
		ss.stop("protocol", websocket.StatusPolicyViolation, closeReason(err.Error()))
		return
	}
	claim, err := ss.srv.Sessions.ClaimSession(ss.ctx, ss.store.ID, ss.srv.Replica)
	if hub.ErrorCode(err) == hub.EUNAUTHORIZED {
		ss.stop("revoked", websocket.StatusCode(wire.CloseRevoked), "store credential revoked")
		return
	} else if err != nil {
		if ss.ctx.Err() == nil {
			ss.logger.Error("claim session", "error", err)
			ss.stop("error", websocket.StatusInternalError, "internal error")
		}
		return
	}
	ss.setClaim(claim)
	ss.snapshotChunks, ss.agentVersion = hello.SnapshotChunks, hello.AgentVersion
	head, err := ss.srv.Events.HeadSeq(ss.ctx, ss.store.ID)
	if err != nil {
		if ss.ctx.Err() == nil {
			ss.logger.Error("read head sequence", "error", err)
			ss.stop("error", websocket.StatusInternalError, "internal error")
		}
		return
	}
	epoch, resume, ok := ss.epoch(hello, head)
	if !ok || !ss.loadNames() {
		return
	}
	ss.epochNow = epoch
	applied := hello.LastSeq
	if !resume {
		applied = 0 // a figure of another epoch says nothing here
	}
	now := time.Now()
	// The hello does not carry the dead letters and webhook health: what
	// the agent last reported stands until its first status report.
	ss.setState(func(st *hub.AgentState) {
		*st = hub.AgentState{Connected: true, LastSeen: &now, AppliedSeq: applied,
			OutboxDepth: hello.OutboxDepth, DeadLetters: ss.store.Agent.DeadLetters,
			WebhookHealth: ss.store.Agent.WebhookHealth, Replica: ss.srv.Replica}
	})
	ss.flushState()
	ss.logger.Info("agent connected", "last_seq", hello.LastSeq, "head_seq", head, "resume", resume, "agent_version", hello.AgentVersion)
	ss.enqueue(wire.TypeWelcome, "", wire.Welcome{StoreID: ss.store.ID, StoreName: ss.store.Name,
		Policy: string(ss.store.Policy), HeadSeq: head, Epoch: epoch})

	var work sync.WaitGroup
	work.Go(ss.writeLoop)
	work.Go(func() { ss.pump(resume, hello.LastSeq, head) })
	work.Go(ss.heartbeat)
	work.Go(ss.commitReports)

	err = ss.readLoop()
	if isNormalClose(err) {
		ss.stop("closed", websocket.StatusNormalClosure, "")
	} else {
		ss.stop("read", websocket.StatusGoingAway, "read failed")
	}
	work.Wait()

	// Only the store's live session (by claim, across replicas) records it.
	ss.setState(func(st *hub.AgentState) { st.Connected = false })
	ss.flushState()
	if cause := context.Cause(ss.ctx); cause.Error() == "read" {
		ss.logger.Warn("agent disconnected", "error", err)
	} else {
		ss.logger.Info("agent disconnected", "reason", cause)
	}
}

// epoch decides whether the agent resumes from its hello's LastSeq: only
// within the store's current epoch, and only when the hub's history holds
// it. An agent ahead of the hub (its database was restored from a backup,
// say) shows that the sequence went back: the hub draws a new epoch, so
// that neither the agent nor its store's stockwire_seq markers take the
// changes the hub numbers anew for ones they already have. It returns the
// epoch to welcome the agent in; ok is false when the session was stopped.
func (ss *session) epoch(hello wire.Hello, head int64) (epoch string, resume, ok bool) {
	epoch = ss.store.Epoch
	if hello.Epoch != epoch {
		if hello.LastSeq > 0 {
			ss.logger.Info("agent comes from another epoch of the store (store re-created, or an agent that predates epochs); sending a snapshot",
				"agent_epoch", hello.Epoch, "epoch", epoch, "last_seq", hello.LastSeq)
		}
		return epoch, false, true
	}
	if hello.LastSeq <= head {
		return epoch, true, true
	}
	epoch, err := ss.srv.Events.NewEpoch(ss.ctx, ss.store.ID)
	if err != nil {
		if ss.ctx.Err() == nil {
			ss.logger.Error("draw a new epoch", "error", err)
			ss.stop("error", websocket.StatusInternalError, "internal error")
		}
		return "", false, false
	}
	ss.logger.Warn("agent is ahead of the hub's history (database restored from a backup?); drew a new epoch, sending a snapshot",
		"last_seq", hello.LastSeq, "head_seq", head, "epoch", epoch)
	return epoch, false, true
}

// closeReason fits text into a close frame (at most 123 bytes).
func closeReason(text string) string {
	if len(text) > 123 {
		return text[:120] + "..."
	}
	return text
}

// readHello waits for the agent's hello; a silent agent is stopped after
// HelloTimeout with a reason it can read.
func (ss *session) readHello() (wire.Hello, error) {
	timer := time.AfterFunc(ss.srv.HelloTimeout, func() {
		ss.logger.Warn("agent sent no hello", "timeout", ss.srv.HelloTimeout.String())
		ss.stop("protocol", websocket.StatusPolicyViolation, "no hello within "+ss.srv.HelloTimeout.String())
	})
	defer timer.Stop()
	_, data, err := ss.conn.Read(context.Background())
	if err != nil {
		return wire.Hello{}, fmt.Errorf("read hello: %w", err)
	}
	env, err := wire.Decode(data)
	if err != nil {
		return wire.Hello{}, err
	}
	if env.Type != wire.TypeHello {
		return wire.Hello{}, fmt.Errorf("first message is %q, want %q", env.Type, wire.TypeHello)
	}
	var h wire.Hello
	if err := wire.DecodePayload(env, &h); err != nil {
		return wire.Hello{}, err
	}
	if h.LastSeq < 0 {
		return wire.Hello{}, fmt.Errorf("hello: negative last_seq")
	}
	return h, nil
}

// readLoop handles agent messages until the connection ends. Once the
// session is stopping it only drains the connection until the close
// handshake ends it. It never waits on the database: order reports and
// releases go to the report worker, so that the reader is always there to
// take the agent's pongs.
func (ss *session) readLoop() error {
	for {
		_, data, err := ss.conn.Read(context.Background())
		if err != nil {
			return err
		}
		if ss.ctx.Err() != nil {
			continue
		}
		env, err := wire.Decode(data)
		if err != nil {
			ss.srv.metrics.received.WithLabelValues("malformed").Inc()
			ss.logger.Warn("malformed message", "error", err)
			continue
		}
		now := time.Now()
		ss.setState(func(st *hub.AgentState) { st.LastSeen = &now })
		switch env.Type {
		case wire.TypeOrder, wire.TypeReleased, wire.TypeEdit, wire.TypeDone:
			ss.takeReport(env)
		case wire.TypeApplied:
			var a wire.Applied
			if err := wire.DecodePayload(env, &a); err == nil {
				ss.setState(func(st *hub.AgentState) { st.AppliedSeq = a.Seq })
			}
		case wire.TypeStatus:
			var st wire.Status
			if err := wire.DecodePayload(env, &st); err == nil {
				ss.setState(func(s *hub.AgentState) {
					s.OutboxDepth, s.DeadLetters, s.WebhookHealth = st.OutboxDepth, st.DeadLetters, webhookHealth(st.WebhookHealth)
					s.EditsReverted = max(st.EditsReverted, 0)
				})
			}
		default:
			ss.srv.metrics.unknown.Inc()
			ss.logger.Debug("unknown message type skipped", "msg_type", env.Type)
			continue
		}
		ss.srv.metrics.received.WithLabelValues(env.Type).Inc()
	}
}

// webhookHealth is the hub's name for the webhook health an agent reports:
// empty from an agent that predates it, unknown for a value this hub does
// not know (from a newer agent), so the metric's label stays bounded.
func webhookHealth(reported string) hub.WebhookHealth {
	switch h := hub.WebhookHealth(reported); h {
	case "", hub.WebhookHealthUnknown, hub.WebhookHealthOK, hub.WebhookHealthFailing, hub.WebhookHealthOff:
		return h
	}
	return hub.WebhookHealthUnknown
}

// writeLoop drains the send queue.
func (ss *session) writeLoop() {
	for {
		select {
		case <-ss.ctx.Done():
			return
		case m := <-ss.queue:
			err := ss.bounded("write", func() error { return ss.conn.Write(context.Background(), websocket.MessageText, m.data) })
			if err != nil {
				if ss.ctx.Err() == nil {
					ss.logger.Warn("write to agent", "msg_type", m.typ, "error", err)
				}
				ss.stop("write", websocket.StatusGoingAway, "write failed")
				return
			}
			ss.srv.metrics.sent.WithLabelValues(m.typ).Inc()
		}
	}
}

// bounded runs a write or ping on the connection and stops the session for
// reason if it takes longer than WriteTimeout; the closer then drops the
// socket, which ends the call. Calls do not take the session's context:
// cancelling a call tears the socket down at once, which would lose the
// close frame of a session stopped for another reason, and would let the
// reader record the agent as the one that failed.
func (ss *session) bounded(reason string, call func() error) error {
	t := time.AfterFunc(ss.srv.WriteTimeout, func() {
		ss.logger.Warn("agent unresponsive", "msg_type", reason, "duration", ss.srv.WriteTimeout.String())
		ss.stop(reason, websocket.StatusGoingAway, reason+" timed out")
	})
	defer t.Stop()
	return call()
}

// heartbeat pings the agent.
func (ss *session) heartbeat() {
	ping := time.NewTicker(ss.srv.PingInterval)
	defer ping.Stop()
	for {
		select {
		case <-ss.ctx.Done():
			return
		case <-ping.C:
			if err := ss.bounded("heartbeat", func() error { return ss.conn.Ping(context.Background()) }); err != nil {
				if ss.ctx.Err() == nil {
					ss.logger.Warn("agent missed heartbeat", "error", err)
				}
				ss.stop("heartbeat", websocket.StatusGoingAway, "heartbeat timeout")
				return
			}
		}
	}
}

func (ss *session) setState(fn func(*hub.AgentState)) {
	ss.stateMu.Lock()
	fn(&ss.state)
	ss.dirty = true
	ss.stateMu.Unlock()
}

// flushState writes the agent state if it changed and this session still
// holds its store's claim; a session that finds it does not is stopped. It
// outlives the session context so the final "disconnected" is recorded.
func (ss *session) flushState() {
	ss.stateMu.Lock()
	st, dirty := ss.state, ss.dirty
	ss.dirty = false
	ss.stateMu.Unlock()
	if !dirty {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ss.ctx), 5*time.Second)
	defer cancel()
	live, err := ss.srv.Sessions.RecordSessionState(ctx, ss.store.ID, ss.liveClaim(), st)
	if err != nil {
		ss.logger.Warn("record agent state", "error", err)
	} else if !live && ss.ctx.Err() == nil {
		ss.stop("replaced", websocket.StatusPolicyViolation, "replaced by a newer session of this store")
	}
}
