// Package outbox is the agent's durable FIFO of order reports, kept in a
// bbolt file in the data directory. An event appended here has been fsynced
// before Append returns, survives kill -9, and leaves only when the hub has
// acknowledged its ID (Ack). An event can be handed to the hub before its
// fsync ends (OnStaged): the hub dedupes, and an event whose commit fails
// is never acknowledged upstream, so it comes again. The outbox also keeps a small "reported" index
// (the last status and date_modified reported per order) so the poller does
// not re-report what a webhook already brought, and named cursors the poller
// advances durably. Reports the hub refused for good are parked in a
// dead-letter bucket (Park) instead of being deleted, so a change in the
// hub's validation never loses an order: an operator lists them and
// replays them into the outbox (DeadLetters, Replay). It knows nothing of
// the network: the Relay in package agent drains it.
package outbox

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	bolt "go.etcd.io/bbolt"

	"github.com/stockwire/stockwire/agent"
	"github.com/stockwire/stockwire/shared/wire"
	"github.com/stockwire/stockwire/shared/woo"
)

var _ agent.Outbox = (*Outbox)(nil)

// ErrOutboxFull is returned by Append when MaxEvents events are waiting.
var ErrOutboxFull = errors.New("outbox full")

// ErrClosed is returned by every method after Close.
var ErrClosed = errors.New("outbox closed")

var (
	bucketEvents = []byte("events")
	bucketSeen   = []byte("seen")
	bucketMeta   = []byte("meta")
	bucketDead   = []byte("dead")
)

// Options tunes an Outbox. The zero value is usable.
type Options struct {
	// MaxEvents bounds the events waiting for the hub. Defaults to 100,000.
	MaxEvents int
	// SeenTTL is how long an order's reported state is remembered for
	// dedupe. Defaults to 48 hours; it must exceed the poller's overlap and
	// first-start lookback.
	SeenTTL time.Duration
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// Registerer receives the outbox metrics; nil registers nothing.
	Registerer prometheus.Registerer
	// Now returns the current time. Defaults to time.Now (tests override).
	Now func() time.Time
}

// Outbox is a bbolt-backed agent.Outbox. It is safe for concurrent use.
type Outbox struct {
	db      *bolt.DB
	opts    Options
	logger  *slog.Logger
	metrics *metrics

	count   atomic.Int64 // events held
	dead    atomic.Int64 // dead letters held
	appends atomic.Int64 // appends since open, for pruning the seen index

	appendMu sync.Mutex // serializes Append so the bound check is exact
	lastID   uint64     // the newest ID given out; guarded by appendMu
	staged   atomic.Pointer[func(agent.OutboxEvent)]

	mu     sync.Mutex // guards level and closed
	level  int        // highest depth threshold index crossed
	closed bool
}

// seenRecord is the value of the "seen" bucket.
type seenRecord struct {
	Status   string    `json:"s"`
	Modified time.Time `json:"m"`
	// Reduced is whether the store holds the order's stock reduced after
	// the reports so far (shared/woo.StockEffect); nil in records written
	// before it was kept, which go by their status.
	Reduced    *bool     `json:"d,omitempty"`
	RecordedAt time.Time `json:"r"`
}

// reduced is rec's Reduced, or for an older record what its status says.
func (rec seenRecord) reduced() bool {
	if rec.Reduced != nil {
		return *rec.Reduced
	}
	_, reduced := woo.StockEffect(false, rec.Status, nil)
	return reduced
}

// thresholds are the fractions of MaxEvents at which a warning is logged.
var thresholds = []float64{0.01, 0.10, 0.50, 0.90}

// Open opens (creating if needed) the outbox file at path. A second process
// opening the same file fails after a second instead of hanging.
func Open(path string, opts Options) (*Outbox, error) {
	if opts.MaxEvents <= 0 {
		opts.MaxEvents = 100_000
	}
	if opts.SeenTTL <= 0 {
		opts.SeenTTL = 48 * time.Hour
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		return nil, fmt.Errorf("open outbox %s: %w", path, err)
	}
	o := &Outbox{db: db, opts: opts, logger: opts.Logger}
	var n, dead int
	err = db.Update(func(tx *bolt.Tx) error {
		for _, name := range [][]byte{bucketEvents, bucketSeen, bucketMeta, bucketDead} {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return err
			}
		}
		n = tx.Bucket(bucketEvents).Stats().KeyN
		o.lastID = tx.Bucket(bucketEvents).Sequence()
		dead = tx.Bucket(bucketDead).Stats().KeyN
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("init outbox %s: %w", path, err)
	}
	o.count.Store(int64(n))
	o.dead.Store(int64(dead))
	o.level = o.levelFor(n)
	if err := o.pruneSeen(); err != nil {
		db.Close()
		return nil, err
	}
	m, err := newMetrics(opts.Registerer, o)
	if err != nil {
		db.Close()
		return nil, err
	}
	o.metrics = m
	if n > 0 {
		o.logger.Info("outbox opened", "events", n, "oldest_age", o.OldestAge().String())
	}
	if dead > 0 {
		o.logger.Error("order reports the hub refused are parked in the outbox; list them with `agent dead-letters list`",
			"dead_letters", dead)
	}
	return o, nil
}

// OnStaged sets fn to receive each appended event once it is written and
// before its commit fsyncs, so that it can leave for the hub meanwhile.
// fn must not block. The event may still be lost if the commit fails (its
// Append then fails, and its ID is never given out again in this
// process); an Ack or Park of it waits for the commit, which holds the
// file's write lock.
func (o *Outbox) OnStaged(fn func(agent.OutboxEvent)) { o.staged.Store(&fn) }

// nextID gives out the next event ID, under appendMu. IDs are counted in
// memory rather than by the bucket's sequence, which a failed commit rolls
// back: an event handed out by OnStaged keeps its ID for good.
func (o *Outbox) nextID(events *bolt.Bucket) (uint64, error) {
	o.lastID++
	return o.lastID, events.SetSequence(o.lastID)
}

// Close closes the file. It is idempotent.
func (o *Outbox) Close() error {
	o.mu.Lock()
	if o.closed {
		o.mu.Unlock()
		return nil
	}
	o.closed = true
	o.mu.Unlock()
	if err := o.db.Close(); err != nil {
		return fmt.Errorf("close outbox: %w", err)
	}
	return nil
}

func (o *Outbox) isClosed() bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.closed
}

func idKey(id uint64) []byte {
	var k [8]byte
	binary.BigEndian.PutUint64(k[:], id)
	return k[:]
}

func orderKey(id int64) []byte { return idKey(uint64(id)) }

// Append stores ord durably (the bbolt commit fsyncs) and returns its ID.
// It also records ord's (status, date_modified) in the reported index when
// that state is not older than the one recorded. Returns ErrOutboxFull when
// MaxEvents events are waiting, and nothing is stored then.
func (o *Outbox) Append(ctx context.Context, ord wire.Order) (uint64, error) {
	id, err := o.append(ctx, agent.OutboxEvent{Order: ord}, func(tx *bolt.Tx, now time.Time) error {
		return recordSeen(tx.Bucket(bucketSeen), ord, now)
	})
	if err != nil {
		return 0, fmt.Errorf("append order %d: %w", ord.WooOrderID, err)
	}
	return id, nil
}

// AppendEdit stores a hand edit the agent accepted in the store, for the
// hub, as Append does an order report.
func (o *Outbox) AppendEdit(ctx context.Context, e wire.StoreEdit) (uint64, error) {
	id, err := o.append(ctx, agent.OutboxEvent{Edit: &e}, nil)
	if err != nil {
		return 0, fmt.Errorf("append store edit of %s: %w", e.SKU, err)
	}
	return id, nil
}

// append stores ev durably with a new ID, and runs also (when set) in the
// same transaction. It wraps ErrOutboxFull and ErrClosed.
func (o *Outbox) append(ctx context.Context, ev agent.OutboxEvent, also func(tx *bolt.Tx, now time.Time) error) (uint64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	if o.isClosed() {
		return 0, ErrClosed
	}
	now := o.opts.Now().UTC()
	var id uint64
	o.appendMu.Lock()
	defer o.appendMu.Unlock()
	err := o.db.Update(func(tx *bolt.Tx) error {
		if o.count.Load() >= int64(o.opts.MaxEvents) {
			return ErrOutboxFull
		}
		b := tx.Bucket(bucketEvents)
		seq, err := o.nextID(b)
		if err != nil {
			return err
		}
		ev.ID, ev.AppendedAt = seq, now
		v, err := json.Marshal(ev)
		if err != nil {
			return err
		}
		if err := b.Put(idKey(seq), v); err != nil {
			return err
		}
		if also != nil {
			if err := also(tx, now); err != nil {
				return err
			}
		}
		id = seq
		if fn := o.staged.Load(); fn != nil {
			(*fn)(ev)
		}
		return nil
	})
	if errors.Is(err, ErrOutboxFull) {
		if o.metrics != nil {
			o.metrics.full.Inc()
		}
		o.logger.Error("outbox full, report not stored", "max_events", o.opts.MaxEvents)
		return 0, ErrOutboxFull
	}
	if err != nil {
		return 0, err
	}
	n := o.count.Add(1)
	o.checkDepth(int(n))
	if o.appends.Add(1)%1024 == 0 {
		if err := o.pruneSeen(); err != nil {
			o.logger.Warn("prune reported index", "error", err)
		}
	}
	return id, nil
}

func recordSeen(b *bolt.Bucket, ord wire.Order, now time.Time) error {
	k := orderKey(ord.WooOrderID)
	var old seenRecord
	if v := b.Get(k); v != nil && json.Unmarshal(v, &old) == nil && old.Modified.After(ord.DateModified) {
		return nil // keep the newer state
	}
	_, reduced := woo.StockEffect(old.reduced(), ord.Status, ord.StockReduced)
	v, err := json.Marshal(seenRecord{Status: ord.Status, Modified: ord.DateModified.UTC(), Reduced: &reduced, RecordedAt: now})
	if err != nil {
		return err
	}
	return b.Put(k, v)
}

// Seen returns the newest state reported for orderID.
func (o *Outbox) Seen(orderID int64) (agent.Reported, bool) {
	if o.isClosed() {
		return agent.Reported{}, false
	}
	var rec seenRecord
	ok := false
	_ = o.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketSeen).Get(orderKey(orderID))
		if v != nil && json.Unmarshal(v, &rec) == nil {
			ok = true
		}
		return nil
	})
	if !ok {
		return agent.Reported{}, false
	}
	return agent.Reported{Status: rec.Status, Modified: rec.Modified, StockReduced: rec.reduced()}, true
}

// pruneSeen drops reported-index entries older than SeenTTL.
func (o *Outbox) pruneSeen() error {
	cutoff := o.opts.Now().UTC().Add(-o.opts.SeenTTL)
	err := o.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketSeen)
		var stale [][]byte
		err := b.ForEach(func(k, v []byte) error {
			var rec seenRecord
			if json.Unmarshal(v, &rec) != nil || rec.RecordedAt.Before(cutoff) {
				stale = append(stale, append([]byte(nil), k...))
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, k := range stale {
			if err := b.Delete(k); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("prune reported index: %w", err)
	}
	return nil
}

// After returns up to n events with ID > after, oldest first.
func (o *Outbox) After(after uint64, n int) ([]agent.OutboxEvent, error) {
	if o.isClosed() {
		return nil, ErrClosed
	}
	var out []agent.OutboxEvent
	err := o.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketEvents).Cursor()
		for k, v := c.Seek(idKey(after + 1)); k != nil && len(out) < n; k, v = c.Next() {
			var ev agent.OutboxEvent
			if err := json.Unmarshal(v, &ev); err != nil {
				return fmt.Errorf("decode event %d: %w", binary.BigEndian.Uint64(k), err)
			}
			out = append(out, ev)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read events after %d: %w", after, err)
	}
	return out, nil
}

// Ack removes the event with id; an unknown id is not an error.
func (o *Outbox) Ack(id uint64) error {
	if o.isClosed() {
		return ErrClosed
	}
	var removed bool
	err := o.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketEvents)
		if b.Get(idKey(id)) == nil {
			return nil
		}
		removed = true
		return b.Delete(idKey(id))
	})
	if err != nil {
		return fmt.Errorf("ack event %d: %w", id, err)
	}
	if removed {
		n := o.count.Add(-1)
		o.checkDepth(int(n))
	}
	return nil
}

// DeadLetter is an order report the hub refused for good, parked with the
// hub's reason.
type DeadLetter struct {
	Event    agent.OutboxEvent `json:"event"`
	Reason   string            `json:"reason"`
	ParkedAt time.Time         `json:"parked_at"`
}

// Park moves the event with id to the dead-letter bucket with the hub's
// reason, in one transaction: it leaves the outbox (the relay stops sending
// it) and is kept until replayed. An unknown id is not an error.
func (o *Outbox) Park(id uint64, reason string) error {
	if o.isClosed() {
		return ErrClosed
	}
	var parked bool
	err := o.db.Update(func(tx *bolt.Tx) error {
		events := tx.Bucket(bucketEvents)
		v := events.Get(idKey(id))
		if v == nil {
			return nil
		}
		var ev agent.OutboxEvent
		if err := json.Unmarshal(v, &ev); err != nil {
			return fmt.Errorf("decode event: %w", err)
		}
		dl, err := json.Marshal(DeadLetter{Event: ev, Reason: reason, ParkedAt: o.opts.Now().UTC()})
		if err != nil {
			return err
		}
		if err := tx.Bucket(bucketDead).Put(idKey(id), dl); err != nil {
			return err
		}
		parked = true
		return events.Delete(idKey(id))
	})
	if err != nil {
		return fmt.Errorf("park event %d: %w", id, err)
	}
	if parked {
		o.dead.Add(1)
		n := o.count.Add(-1)
		o.checkDepth(int(n))
	}
	return nil
}

// DeadLetters returns every parked report, oldest first.
func (o *Outbox) DeadLetters() ([]DeadLetter, error) {
	if o.isClosed() {
		return nil, ErrClosed
	}
	var out []DeadLetter
	err := o.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketDead).ForEach(func(k, v []byte) error {
			var dl DeadLetter
			if err := json.Unmarshal(v, &dl); err != nil {
				return fmt.Errorf("decode dead letter %d: %w", binary.BigEndian.Uint64(k), err)
			}
			out = append(out, dl)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("read dead letters: %w", err)
	}
	return out, nil
}

// DeadLetterCount returns the number of parked reports.
func (o *Outbox) DeadLetterCount() int { return int(o.dead.Load()) }

// Replay moves every parked report back into the outbox, under new IDs at
// its end, in one transaction, and returns how many it moved. When they do
// not all fit under MaxEvents it returns ErrOutboxFull and moves none.
func (o *Outbox) Replay() (int, error) {
	if o.isClosed() {
		return 0, ErrClosed
	}
	now := o.opts.Now().UTC()
	var moved int
	o.appendMu.Lock()
	defer o.appendMu.Unlock()
	err := o.db.Update(func(tx *bolt.Tx) error {
		dead, events := tx.Bucket(bucketDead), tx.Bucket(bucketEvents)
		n := dead.Stats().KeyN
		if o.count.Load()+int64(n) > int64(o.opts.MaxEvents) {
			return ErrOutboxFull
		}
		var keys [][]byte
		err := dead.ForEach(func(k, v []byte) error {
			var dl DeadLetter
			if err := json.Unmarshal(v, &dl); err != nil {
				return fmt.Errorf("decode dead letter %d: %w", binary.BigEndian.Uint64(k), err)
			}
			seq, err := o.nextID(events)
			if err != nil {
				return err
			}
			ev := agent.OutboxEvent{ID: seq, Order: dl.Event.Order, AppendedAt: now}
			b, err := json.Marshal(ev)
			if err != nil {
				return err
			}
			keys = append(keys, append([]byte(nil), k...))
			return events.Put(idKey(seq), b)
		})
		if err != nil {
			return err
		}
		for _, k := range keys {
			if err := dead.Delete(k); err != nil {
				return err
			}
		}
		moved = len(keys)
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("replay dead letters: %w", err)
	}
	o.dead.Add(-int64(moved))
	n := o.count.Add(int64(moved))
	o.checkDepth(int(n))
	return moved, nil
}

// Span returns the IDs of the oldest and the newest event held, 0 and 0
// when empty.
func (o *Outbox) Span() (oldest, newest uint64) {
	if o.isClosed() {
		return 0, 0
	}
	_ = o.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketEvents).Cursor()
		if k, _ := c.First(); k != nil {
			oldest = binary.BigEndian.Uint64(k)
		}
		if k, _ := c.Last(); k != nil {
			newest = binary.BigEndian.Uint64(k)
		}
		return nil
	})
	return oldest, newest
}

// Len returns the number of events held.
func (o *Outbox) Len() int { return int(o.count.Load()) }

// OldestAge returns the age of the oldest event, 0 when empty.
func (o *Outbox) OldestAge() time.Duration {
	if o.isClosed() {
		return 0
	}
	var at time.Time
	_ = o.db.View(func(tx *bolt.Tx) error {
		_, v := tx.Bucket(bucketEvents).Cursor().First()
		if v == nil {
			return nil
		}
		var ev struct {
			AppendedAt time.Time `json:"appended_at"`
		}
		if json.Unmarshal(v, &ev) == nil {
			at = ev.AppendedAt
		}
		return nil
	})
	if at.IsZero() {
		return 0
	}
	if d := o.opts.Now().Sub(at); d > 0 {
		return d
	}
	return 0
}

// Cursor returns the named cursor, ok false when it was never saved.
func (o *Outbox) Cursor(name string) (t time.Time, ok bool, err error) {
	if o.isClosed() {
		return time.Time{}, false, ErrClosed
	}
	err = o.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketMeta).Get([]byte("cursor/" + name))
		if v == nil {
			return nil
		}
		ok = true
		return t.UnmarshalText(v)
	})
	if err != nil {
		return time.Time{}, false, fmt.Errorf("load cursor %s: %w", name, err)
	}
	return t, ok, nil
}

// SetCursor saves the named cursor durably.
func (o *Outbox) SetCursor(name string, t time.Time) error {
	if o.isClosed() {
		return ErrClosed
	}
	v, err := t.UTC().MarshalText()
	if err != nil {
		return fmt.Errorf("save cursor %s: %w", name, err)
	}
	err = o.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketMeta).Put([]byte("cursor/"+name), v)
	})
	if err != nil {
		return fmt.Errorf("save cursor %s: %w", name, err)
	}
	return nil
}

func (o *Outbox) levelFor(n int) int {
	lvl := 0
	for i, f := range thresholds {
		if float64(n) >= f*float64(o.opts.MaxEvents) {
			lvl = i + 1
		}
	}
	return lvl
}

// checkDepth logs once each time the depth crosses a threshold upward, and
// once when it falls back below the first one.
func (o *Outbox) checkDepth(n int) {
	lvl := o.levelFor(n)
	o.mu.Lock()
	prev := o.level
	o.level = lvl
	o.mu.Unlock()
	switch {
	case lvl > prev:
		o.logger.Warn("outbox growing, hub not acknowledging", "events", n,
			"max_events", o.opts.MaxEvents, "percent_full", int(thresholds[lvl-1]*100))
	case lvl == 0 && prev > 0:
		o.logger.Info("outbox drained", "events", n)
	}
}
