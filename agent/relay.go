package agent

import (
	"context"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/stockwire/stockwire/shared/wire"
)

// Sender sends one message on the live hub link.
type Sender interface {
	Send(ctx context.Context, typ, id string, v any) error
}

// Releaser gives units back for the hub's reclaims (allocate policy): at
// most units of sku, at most what the store has, once per reclaim id; it
// returns what it released.
type Releaser interface {
	Release(ctx context.Context, id int64, sku string, units int64) (int64, error)
}

// allocator is a StockWriter that adapts to the allocate policy.
type allocator interface {
	SetAllocate(on bool)
}

// Relay joins the hub link to the store: it drains the outbox to the hub
// (an event leaves the outbox only on the hub's ack), hands the hub's stock
// changes to the StockWriter, runs the hub's reclaims through the Releaser
// and reports progress. It implements hubconn.Handler.
type Relay struct {
	Outbox Outbox
	Writer StockWriter
	// Releaser runs reclaims; NewRelay sets it when Writer is one. Nil
	// ignores reclaims (the hub asks again on the next session).
	Releaser Releaser
	Logger   *slog.Logger
	// Version is the agent's build version, sent in the hello.
	Version string
	// Status fills the periodic status report (outbox figures are added).
	Status func() wire.Status
	// Window bounds unacknowledged reports in flight. Defaults to 256.
	Window int
	// ResendAfter resends reports not acknowledged in this time. Defaults
	// to 30s.
	ResendAfter time.Duration
	// ReportEvery is the period of applied-sequence and status reports.
	// Defaults to 250ms (applied) and 40 ticks (status).
	ReportEvery time.Duration

	wake     chan struct{}
	reclaims chan wire.Reclaim // from Handle to the session's release loop

	mu       sync.Mutex
	inflight map[uint64]time.Time // sent, not yet acked; guarded by mu
	lastSent uint64               // guarded by mu
	released map[int64]int64      // reclaim ID → units released; guarded by mu
}

// NewRelay returns a relay with defaults.
func NewRelay(ob Outbox, w StockWriter, logger *slog.Logger, version string) *Relay {
	r := &Relay{Outbox: ob, Writer: w, Logger: logger, Version: version,
		Window: 256, ResendAfter: 30 * time.Second, ReportEvery: 250 * time.Millisecond,
		wake: make(chan struct{}, 1), reclaims: make(chan wire.Reclaim, 1024),
		inflight: make(map[uint64]time.Time), released: make(map[int64]int64)}
	if rl, ok := w.(Releaser); ok {
		r.Releaser = rl
	}
	return r
}

// OutboxChanged wakes the sender after an append. It never blocks.
func (r *Relay) OutboxChanged() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// Hello states what the agent has applied.
func (r *Relay) Hello() wire.Hello {
	return wire.Hello{LastSeq: r.Writer.AppliedSeq(), AgentVersion: r.Version, OutboxDepth: r.Outbox.Len()}
}

// Handle processes one message from the hub.
func (r *Relay) Handle(ctx context.Context, env wire.Envelope) {
	switch env.Type {
	case wire.TypeWelcome:
		var w wire.Welcome
		if err := wire.DecodePayload(env, &w); err == nil {
			r.Logger.Info("hub welcomed agent", "store_id", w.StoreID, "store", w.StoreName, "policy", w.Policy, "head_seq", w.HeadSeq)
			if a, ok := r.Writer.(allocator); ok {
				a.SetAllocate(w.Policy == "allocate")
			}
		}
	case wire.TypeReclaim:
		var rc wire.Reclaim
		if err := wire.DecodePayload(env, &rc); err != nil || rc.SKU == "" || rc.Units < 0 {
			r.Logger.Error("bad reclaim from hub", "error", err)
			return
		}
		select {
		case r.reclaims <- rc:
		default:
			r.Logger.Warn("too many reclaims waiting; the hub will ask again", "reclaim_id", rc.ID)
		}
	case wire.TypeChanges:
		var c wire.Changes
		if err := wire.DecodePayload(env, &c); err != nil {
			r.Logger.Error("bad changes from hub", "error", err)
			return
		}
		r.Writer.Apply(c.Changes)
	case wire.TypeSnapshot:
		var s wire.Snapshot
		if err := wire.DecodePayload(env, &s); err != nil {
			r.Logger.Error("bad snapshot from hub", "error", err)
			return
		}
		r.Writer.ApplySnapshot(s.Seq, s.Targets)
	case wire.TypeAck:
		r.handleAck(env)
	case wire.TypeError:
		var e wire.Error
		_ = wire.DecodePayload(env, &e)
		r.Logger.Error("hub reported an error", "code", e.Code, "message", e.Message)
	default:
		r.Logger.Debug("unknown message type skipped", "msg_type", env.Type)
	}
}

func (r *Relay) handleAck(env wire.Envelope) {
	id, err := strconv.ParseUint(env.ID, 10, 64)
	if err != nil {
		r.Logger.Warn("ack with a bad id", "msg_id", env.ID)
		return
	}
	var a wire.Ack
	_ = wire.DecodePayload(env, &a)
	if a.Error != "" {
		// The hub will never accept this report; keeping it would block
		// nothing (the window moves on) but would be resent forever.
		r.Logger.Error("hub refused an order report", "msg_id", id, "error", a.Error)
	}
	if err := r.Outbox.Ack(id); err != nil {
		r.Logger.Error("ack outbox event", "msg_id", id, "error", err)
		return
	}
	r.mu.Lock()
	delete(r.inflight, id)
	r.mu.Unlock()
	r.OutboxChanged()
}

// Session runs while the link is up: it sends outbox events within the
// window, resends stale ones, and reports the applied sequence and status.
func (r *Relay) Session(ctx context.Context, send Sender) {
	r.mu.Lock()
	r.inflight = make(map[uint64]time.Time)
	r.lastSent = 0
	r.mu.Unlock()

	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	wg.Add(1)
	go func() {
		defer wg.Done()
		r.releaseLoop(ctx, send)
	}()

	tick := time.NewTicker(r.ReportEvery)
	defer tick.Stop()
	var reportedSeq int64 = -1
	ticks := 0
	for {
		if err := r.sendPending(ctx, send); err != nil {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-r.wake:
		case <-tick.C:
			ticks++
			if seq := r.Writer.AppliedSeq(); seq != reportedSeq {
				if send.Send(ctx, wire.TypeApplied, "", wire.Applied{Seq: seq}) != nil {
					return
				}
				reportedSeq = seq
			}
			if ticks%40 == 1 {
				if send.Send(ctx, wire.TypeStatus, "", r.status()) != nil {
					return
				}
			}
			r.resendStale()
		}
	}
}

// releaseLoop runs the hub's reclaims one at a time and answers each with
// what was released. A repeated reclaim is answered from memory (and,
// after a restart, from the store by the Releaser) without releasing twice;
// one that fails is left for the hub to ask again.
func (r *Relay) releaseLoop(ctx context.Context, send Sender) {
	for {
		var rc wire.Reclaim
		select {
		case <-ctx.Done():
			return
		case rc = <-r.reclaims:
		}
		if r.Releaser == nil {
			continue
		}
		r.mu.Lock()
		n, done := r.released[rc.ID]
		r.mu.Unlock()
		if !done {
			var err error
			n, err = r.Releaser.Release(ctx, rc.ID, rc.SKU, rc.Units)
			if err != nil {
				if ctx.Err() == nil {
					r.Logger.Warn("release for the hub failed; it will ask again", "reclaim_id", rc.ID, "sku", rc.SKU, "error", err)
				}
				continue
			}
			r.mu.Lock()
			r.released[rc.ID] = n
			r.mu.Unlock()
			r.Logger.Info("released units for the hub", "reclaim_id", rc.ID, "sku", rc.SKU, "asked", rc.Units, "released", n)
		}
		if send.Send(ctx, wire.TypeReleased, "", wire.Released{ReclaimID: rc.ID, SKU: rc.SKU, Released: n}) != nil {
			return
		}
	}
}

func (r *Relay) status() wire.Status {
	var st wire.Status
	if r.Status != nil {
		st = r.Status()
	}
	st.OutboxDepth = r.Outbox.Len()
	st.OutboxOldestS = r.Outbox.OldestAge().Seconds()
	return st
}

// resendStale rewinds the cursor when a sent report waited too long for its
// ack (lost on a half-dead link); the hub dedupes.
func (r *Relay) resendStale() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, at := range r.inflight {
		if time.Since(at) > r.ResendAfter {
			r.inflight = make(map[uint64]time.Time)
			r.lastSent = 0
			return
		}
	}
}

func (r *Relay) sendPending(ctx context.Context, send Sender) error {
	for {
		r.mu.Lock()
		room := r.Window - len(r.inflight)
		after := r.lastSent
		r.mu.Unlock()
		if room <= 0 {
			return nil
		}
		events, err := r.Outbox.After(after, room)
		if err != nil {
			r.Logger.Error("read outbox", "error", err)
			return nil
		}
		if len(events) == 0 {
			return nil
		}
		for _, e := range events {
			r.mu.Lock()
			r.inflight[e.ID] = time.Now()
			r.lastSent = e.ID
			r.mu.Unlock()
			if err := send.Send(ctx, wire.TypeOrder, strconv.FormatUint(e.ID, 10), e.Order); err != nil {
				return err
			}
		}
	}
}
