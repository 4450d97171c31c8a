package agent

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/stockwire/stockwire/shared/backoff"
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

// appliedNotifier is a StockWriter that says when AppliedSeq moves, so the
// relay reports it at once instead of polling for it.
type appliedNotifier interface {
	AppliedChanged() <-chan struct{}
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
	// Commander applies the hub's order commands. Nil leaves them
	// unanswered (the hub sends them again on the next session).
	Commander OrderCommander
	Logger    *slog.Logger
	// Version is the agent's build version, sent in the hello.
	Version string
	// Status fills the periodic status report (outbox figures are added).
	Status func() wire.Status
	// Window bounds unacknowledged reports in flight. Defaults to 256.
	Window int
	// ResendAfter resends reports not acknowledged in this time. Defaults
	// to 30s.
	ResendAfter time.Duration
	// ReportEvery is the least time between two applied-sequence
	// reports: a move is reported at once unless one went out less than
	// ReportEvery ago, and then when ReportEvery has passed. Defaults to
	// 1s, the pace at which the hub records agent states: reporting more
	// often only wakes both ends for figures the hub overwrites.
	ReportEvery time.Duration
	// StatusEvery is the period of status reports, of the check for
	// reports to resend, and of the applied-sequence check for a Writer
	// that does not notify. Defaults to 10s.
	StatusEvery time.Duration
	// ReleasesKept is how many reclaims' answers the relay remembers, to
	// answer a repeat without asking the Releaser. Older ones are
	// forgotten: the Releaser answers their repeats from the store, where
	// it records each release. Defaults to 1,024.
	ReleasesKept int

	wake     chan struct{}
	staged   chan *OutboxEvent           // appended events not yet durable (Staged)
	reclaims *waiting[wire.Reclaim]      // from Handle to the session's release loop
	commands *waiting[wire.OrderCommand] // from Handle to the session's command loop
	// snapshot gathers a chunked snapshot. Owned by the goroutine calling
	// Handle (hubconn's reader).
	snapshot snapshotGather

	mu       sync.Mutex
	inflight map[uint64]time.Time // sent, not yet acked; guarded by mu
	lastSent uint64               // guarded by mu
	released releaseMemo          // guarded by mu
}

// NewRelay returns a relay with defaults.
func NewRelay(ob Outbox, w StockWriter, logger *slog.Logger, version string) *Relay {
	r := &Relay{Outbox: ob, Writer: w, Logger: logger, Version: version,
		Window: 256, ResendAfter: 30 * time.Second, ReportEvery: time.Second, StatusEvery: 10 * time.Second,
		ReleasesKept: 1024, wake: make(chan struct{}, 1), staged: make(chan *OutboxEvent, stagedQueue), reclaims: newWaiting[wire.Reclaim](),
		commands: newWaiting[wire.OrderCommand](),
		inflight: make(map[uint64]time.Time)}
	if rl, ok := w.(Releaser); ok {
		r.Releaser = rl
	}
	return r
}

// stagedQueue bounds the events handed over by Staged and not yet sent;
// beyond it they leave by the outbox's own order, after their commit.
const stagedQueue = 16

// Staged takes an event the outbox is committing (outbox.OnStaged), so
// that the report leaves for the hub during the fsync rather than after
// it. It never blocks. The session sends it only when it is the next event
// in ID order; anything else leaves by the ordinary path after the commit
// (OutboxChanged). A report sent before its commit is safe: the hub
// dedupes; an ack of it waits for the commit (outbox.OnStaged); and if the
// commit fails, the order comes again (WooCommerce retries its webhook,
// the poller finds it).
func (r *Relay) Staged(ev OutboxEvent) {
	select {
	case r.staged <- &ev:
	default:
	}
}

// OutboxChanged wakes the sender after an append. It never blocks.
func (r *Relay) OutboxChanged() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// Hello states what the agent has applied, and that it gathers chunked
// snapshots.
func (r *Relay) Hello() wire.Hello {
	return wire.Hello{LastSeq: r.Writer.AppliedSeq(), Epoch: r.Writer.Epoch(), AgentVersion: r.Version, OutboxDepth: r.Outbox.Len(),
		SnapshotChunks: true}
}

// Handle processes one message from the hub.
func (r *Relay) Handle(ctx context.Context, env wire.Envelope) {
	switch env.Type {
	case wire.TypeWelcome:
		// A new session: what a dropped one left of a snapshot is never
		// completed.
		r.dropPartialSnapshot("link dropped")
		var w wire.Welcome
		if err := wire.DecodePayload(env, &w); err == nil {
			r.Logger.Info("hub welcomed agent", "store_id", w.StoreID, "store", w.StoreName, "policy", w.Policy, "head_seq", w.HeadSeq, "epoch", w.Epoch)
			r.Writer.Welcome(w.Epoch, w.HeadSeq)
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
		if !r.reclaims.push(rc) {
			r.Logger.Warn("too many reclaims waiting; the hub will ask again", "reclaim_id", rc.ID)
		}
	case wire.TypeCommand:
		var c wire.OrderCommand
		if err := wire.DecodePayload(env, &c); err != nil || c.ID <= 0 || c.WooOrderID <= 0 {
			r.Logger.Error("bad order command from hub", "error", err)
			return
		}
		if !r.commands.push(c) {
			r.Logger.Warn("too many order commands waiting; the hub will send it again", "command_id", c.ID)
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
		r.takeSnapshot(s)
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
		// The hub will never accept this report as it is; deleting it could
		// lose an order for good (a change in the hub's validation), so it
		// is parked for an operator to replay.
		if err := r.Outbox.Park(id, a.Error); err != nil {
			r.Logger.Error("park refused order report", "msg_id", id, "error", err)
			return
		}
		r.Logger.Error("hub refused a report; parked in the dead letters", "msg_id", id, "reason", a.Error)
	} else if err := r.Outbox.Ack(id); err != nil {
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
// It wakes on work (an append, an ack, a move of the applied sequence) and
// otherwise only every StatusEvery, so an idle agent costs next to nothing.
func (r *Relay) Session(ctx context.Context, send Sender) {
	r.mu.Lock()
	r.inflight = make(map[uint64]time.Time)
	r.lastSent = 0
	r.mu.Unlock()

	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	wg.Add(2)
	go func() {
		defer wg.Done()
		r.releaseLoop(ctx, send)
	}()
	go func() {
		defer wg.Done()
		r.commandLoop(ctx, send)
	}()

	var moved <-chan struct{} // nil: the Writer does not notify
	if n, ok := r.Writer.(appliedNotifier); ok {
		moved = n.AppliedChanged()
	}
	tick := time.NewTicker(r.StatusEvery)
	defer tick.Stop()
	later := time.NewTimer(time.Hour) // the rate-limited applied report
	later.Stop()
	defer later.Stop()
	var laterC <-chan time.Time // later.C while armed
	rep := appliedReport{seq: -1}
	if send.Send(ctx, wire.TypeStatus, "", r.status()) != nil {
		return
	}
	for {
		if err := r.sendPending(ctx, send); err != nil {
			return
		}
		wait, err := rep.send(ctx, send, r.Writer.AppliedSeq(), r.ReportEvery)
		if err != nil {
			return
		}
		if wait > 0 && laterC == nil {
			later.Reset(wait)
			laterC = later.C
		}
		select {
		case <-ctx.Done():
			return
		case <-r.wake:
		case ev := <-r.staged:
			if err := r.sendStaged(ctx, send, *ev); err != nil {
				return
			}
		case <-moved:
		case <-laterC:
			laterC = nil
		case <-tick.C:
			if send.Send(ctx, wire.TypeStatus, "", r.status()) != nil {
				return
			}
			r.resendStale()
		}
	}
}

// appliedReport is what a session last told the hub of the applied
// sequence. Owned by the Session goroutine.
type appliedReport struct {
	seq int64 // -1 before the first report
	at  time.Time
}

// send reports seq unless it was the last one reported or a report went
// out less than every ago; then it returns how long to wait before trying
// again (0: nothing to wait for).
func (a *appliedReport) send(ctx context.Context, send Sender, seq int64, every time.Duration) (time.Duration, error) {
	if seq == a.seq {
		return 0, nil
	}
	if since := time.Since(a.at); since < every {
		return every - since, nil
	}
	if err := send.Send(ctx, wire.TypeApplied, "", wire.Applied{Seq: seq}); err != nil {
		return 0, err
	}
	a.seq, a.at = seq, time.Now()
	return 0, nil
}

// releaseLoop runs the hub's reclaims one at a time and answers each with
// what was released. A repeated reclaim is answered from memory (and,
// after a restart, from the store by the Releaser) without releasing twice;
// one that fails is left for the hub to ask again.
func (r *Relay) releaseLoop(ctx context.Context, send Sender) {
	for {
		rc, ok := r.reclaims.pop(ctx)
		if !ok {
			return
		}
		if r.Releaser == nil {
			continue
		}
		r.mu.Lock()
		n, done := r.released.get(rc.ID)
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
			r.released.put(rc.ID, n, r.ReleasesKept)
			r.mu.Unlock()
			r.Logger.Info("released units for the hub", "reclaim_id", rc.ID, "sku", rc.SKU, "asked", rc.Units, "released", n)
		}
		if send.Send(ctx, wire.TypeReleased, "", wire.Released{ReclaimID: rc.ID, SKU: rc.SKU, Released: n}) != nil {
			return
		}
	}
}

// commandAttempts bounds the tries of one order command in a session; one
// still failing is left for the hub to send again on the next session.
const commandAttempts = 5

// commandLoop applies the hub's order commands one at a time, in the order
// they came, and answers each once it is applied, or refused for good. A
// command failing otherwise (the store down, say) is tried again with
// backoff.
func (r *Relay) commandLoop(ctx context.Context, send Sender) {
	retry := backoff.Policy{Min: time.Second, Max: 30 * time.Second}
	for {
		c, ok := r.commands.pop(ctx)
		if !ok {
			return
		}
		if r.Commander == nil {
			continue
		}
		var err error
		for attempt := 0; attempt < commandAttempts; attempt++ {
			if err = r.Commander.ApplyCommand(ctx, c); err == nil || errors.Is(err, ErrCommandRefused) || ctx.Err() != nil {
				break
			}
			wait := retry.Delay(attempt)
			r.Logger.Warn("order command failed; trying again", "command_id", c.ID, "kind", c.Kind, "woo_order_id", c.WooOrderID, "error", err, "wait", wait)
			if backoff.Sleep(ctx, wait) != nil {
				return
			}
		}
		done := wire.CommandDone{ID: c.ID}
		switch {
		case ctx.Err() != nil:
			return
		case err == nil:
			r.Logger.Info("order command applied", "command_id", c.ID, "kind", c.Kind, "woo_order_id", c.WooOrderID)
		case errors.Is(err, ErrCommandRefused):
			r.Logger.Error("the store refused an order command", "command_id", c.ID, "kind", c.Kind, "woo_order_id", c.WooOrderID, "error", err)
			done.Error = err.Error()
		default:
			continue // the hub sends it again on the next session
		}
		if send.Send(ctx, wire.TypeDone, "", done) != nil {
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
	st.DeadLetters = r.Outbox.DeadLetterCount()
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

// sendStaged sends ev when it is the next event to send and the window has
// room.
func (r *Relay) sendStaged(ctx context.Context, send Sender, ev OutboxEvent) error {
	r.mu.Lock()
	next := ev.ID == r.lastSent+1 && len(r.inflight) < r.Window
	if next {
		r.inflight[ev.ID] = time.Now()
		r.lastSent = ev.ID
	}
	r.mu.Unlock()
	if !next {
		return nil
	}
	return r.sendEvent(ctx, send, ev)
}

func (r *Relay) sendEvent(ctx context.Context, send Sender, e OutboxEvent) error {
	if e.Edit != nil {
		return send.Send(ctx, wire.TypeEdit, strconv.FormatUint(e.ID, 10), e.Edit)
	}
	return send.Send(ctx, wire.TypeOrder, strconv.FormatUint(e.ID, 10), e.Order)
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
			if err := r.sendEvent(ctx, send, e); err != nil {
				return err
			}
		}
	}
}

// releaseMemo remembers the units released for the most recent reclaims,
// at most a given number of them, forgetting the oldest first. The zero
// value is empty.
type releaseMemo struct {
	units map[int64]int64 // reclaim ID → units released
	order []int64         // the IDs in units, a ring: oldest at next once full
	next  int
}

func (m *releaseMemo) get(id int64) (int64, bool) {
	n, ok := m.units[id]
	return n, ok
}

// put records the answer to reclaim id, forgetting the oldest answer when
// kept are held already.
func (m *releaseMemo) put(id, units int64, kept int) {
	if m.units == nil {
		m.units = make(map[int64]int64)
	}
	if _, ok := m.units[id]; ok {
		m.units[id] = units
		return
	}
	m.units[id] = units
	if len(m.order) < max(kept, 1) {
		m.order = append(m.order, id)
		return
	}
	delete(m.units, m.order[m.next])
	m.order[m.next] = id
	m.next = (m.next + 1) % len(m.order)
}
