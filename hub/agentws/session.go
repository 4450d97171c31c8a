package agentws

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
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

	stopOnce sync.Once

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
		queue: make(chan outgoing, srv.SendQueue),
		wake:  make(chan struct{}, 1),
	}
}

func (ss *session) wakeUp() {
	select {
	case ss.wake <- struct{}{}:
	default:
	}
}

// stop ends the session with a close frame; safe from any goroutine.
func (ss *session) stop(reason string, code websocket.StatusCode, text string) {
	ss.stopOnce.Do(func() {
		ss.srv.metrics.disconnects.WithLabelValues(reason).Inc()
		ss.cancel(fmt.Errorf("%s", reason))
		go ss.conn.Close(code, text)
	})
}

// enqueue queues a message without blocking; a full queue drops the session.
func (ss *session) enqueue(typ, id string, v any) {
	data, err := wire.Encode(typ, id, v)
	if err != nil {
		panic(err) // our own payload types always encode
	}
	select {
	case ss.queue <- outgoing{typ: typ, data: data}:
	default:
		ss.logger.Warn("agent too slow, dropping session", "queue", cap(ss.queue))
		ss.stop("slow", websocket.StatusTryAgainLater, "send queue full; reconnect and resume")
	}
}

// run drives the session to its end. It returns after every goroutine it
// started has ended.
func (ss *session) run() {
	defer ss.cancel(nil)
	hello, err := ss.readHello()
	if err != nil {
		ss.logger.Warn("agent hello", "error", err)
		ss.stop("protocol", websocket.StatusPolicyViolation, err.Error())
		return
	}
	head, err := ss.srv.Events.HeadSeq(ss.ctx, ss.store.ID)
	if err != nil {
		ss.logger.Error("read head sequence", "error", err)
		ss.stop("error", websocket.StatusInternalError, "internal error")
		return
	}
	now := time.Now()
	ss.setState(func(st *hub.AgentState) {
		*st = hub.AgentState{Connected: true, LastSeen: &now, AppliedSeq: hello.LastSeq,
			OutboxDepth: hello.OutboxDepth, Replica: ss.srv.Replica}
	})
	ss.flushState()
	ss.logger.Info("agent connected", "last_seq", hello.LastSeq, "head_seq", head, "agent_version", hello.AgentVersion)
	ss.enqueue(wire.TypeWelcome, "", wire.Welcome{StoreID: ss.store.ID, StoreName: ss.store.Name,
		Policy: string(ss.store.Policy), HeadSeq: head})

	var wg sync.WaitGroup
	wg.Add(3)
	go func() { defer wg.Done(); ss.writeLoop() }()
	go func() { defer wg.Done(); ss.pump(hello.LastSeq, head) }()
	go func() { defer wg.Done(); ss.heartbeat() }()

	err = ss.readLoop()
	ss.cancel(err)
	wg.Wait()

	ss.setState(func(st *hub.AgentState) { st.Connected = false })
	ss.flushState()
	if cause := context.Cause(ss.ctx); isNormalClose(err) || errors.Is(cause, err) {
		ss.logger.Info("agent disconnected", "reason", cause)
	} else {
		ss.logger.Warn("agent disconnected", "error", err)
	}
}

func (ss *session) readHello() (wire.Hello, error) {
	ctx, cancel := context.WithTimeout(ss.ctx, ss.srv.HelloTimeout)
	defer cancel()
	_, data, err := ss.conn.Read(ctx)
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

// readLoop handles agent messages until the connection ends.
func (ss *session) readLoop() error {
	for {
		_, data, err := ss.conn.Read(ss.ctx)
		if err != nil {
			return err
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
		case wire.TypeOrder:
			ss.handleOrder(env)
		case wire.TypeApplied:
			var a wire.Applied
			if err := wire.DecodePayload(env, &a); err == nil {
				ss.setState(func(st *hub.AgentState) { st.AppliedSeq = a.Seq })
			}
		case wire.TypeReleased:
			ss.handleReleased(env)
		case wire.TypeStatus:
			var st wire.Status
			if err := wire.DecodePayload(env, &st); err == nil {
				ss.setState(func(s *hub.AgentState) { s.OutboxDepth = st.OutboxDepth })
			}
		default:
			ss.srv.metrics.unknown.Inc()
			ss.logger.Debug("unknown message type skipped", "msg_type", env.Type)
			continue
		}
		ss.srv.metrics.received.WithLabelValues(env.Type).Inc()
	}
}

// handleOrder commits one order report and acknowledges it. A report the
// hub can never accept is acknowledged with an error so the agent stops
// resending it; a transient failure is not acknowledged and will be resent.
func (ss *session) handleOrder(env wire.Envelope) {
	var o wire.Order
	if err := wire.DecodePayload(env, &o); err != nil {
		ss.enqueue(wire.TypeAck, env.ID, wire.Ack{Error: err.Error()})
		return
	}
	r := hub.OrderReport{WooOrderID: o.WooOrderID, Number: o.Number, Status: o.Status,
		DateModified: o.DateModified, Raw: o.Raw}
	for _, l := range o.Lines {
		r.Lines = append(r.Lines, hub.OrderLine{SKU: l.SKU, Quantity: l.Quantity,
			ProductID: l.ProductID, VariationID: l.VariationID})
	}
	start := time.Now()
	_, err := ss.srv.Orders.ApplyOrderReport(ss.ctx, ss.store.ID, r)
	ss.srv.metrics.orderDuration.Observe(time.Since(start).Seconds())
	switch hub.ErrorCode(err) {
	case "":
		ss.enqueue(wire.TypeAck, env.ID, wire.Ack{})
	case hub.EINVALID:
		ss.logger.Warn("order report refused", "order_id", o.WooOrderID, "error", err)
		ss.enqueue(wire.TypeAck, env.ID, wire.Ack{Error: hub.ErrorMessage(err)})
	default:
		if ss.ctx.Err() == nil {
			ss.logger.Error("apply order report", "order_id", o.WooOrderID, "error", err)
		}
	}
}

// writeLoop drains the send queue.
func (ss *session) writeLoop() {
	for {
		select {
		case <-ss.ctx.Done():
			return
		case m := <-ss.queue:
			ctx, cancel := context.WithTimeout(ss.ctx, ss.srv.WriteTimeout)
			err := ss.conn.Write(ctx, websocket.MessageText, m.data)
			cancel()
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

// heartbeat pings the agent and writes the agent state now and then.
func (ss *session) heartbeat() {
	ping := time.NewTicker(ss.srv.PingInterval)
	defer ping.Stop()
	state := time.NewTicker(time.Second)
	defer state.Stop()
	for {
		select {
		case <-ss.ctx.Done():
			return
		case <-state.C:
			ss.flushState()
		case <-ping.C:
			ctx, cancel := context.WithTimeout(ss.ctx, ss.srv.WriteTimeout)
			err := ss.conn.Ping(ctx)
			cancel()
			if err != nil {
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

// flushState writes the agent state if it changed. It outlives the session
// context so the final "disconnected" is recorded.
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
	if err := ss.srv.Stores.RecordAgentState(ctx, ss.store.ID, st); err != nil {
		ss.logger.Warn("record agent state", "error", err)
	}
}
