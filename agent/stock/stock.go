// Package stock is the agent's stock writer: it applies the hub's changes
// to the store exactly once and keeps the store at the hub's figures.
//
// Changes are coalesced per SKU (deltas summed, highest seq and latest
// target kept) and written as batch updates (≤100 items per request) of
// inventory_delta together with the product meta stockwire_seq = the
// highest seq included, in the same request. A write starts as soon as a
// change arrives; changes arriving while it is in flight go out together
// in the next one. When a write's outcome is unknown (timeout, 5xx after
// sending), the writer re-reads the products and compares their stockwire_seq with
// what it sent; after a restart it reads stockwire_seq before writing and
// drops changes the store already has. AppliedSeq moves as soon as the
// store confirmed a write, and is saved to a small file in the data
// directory (written atomically, fsync'd) at most every SaveEvery and when
// Run ends. The saved figure only tells the hub where to resume after a
// restart: one that lags (kill -9 between saves) makes the hub resend
// changes that the per-product stockwire_seq then filters out, so every
// change still lands exactly once, while a change costs no file write.
//
// A safety net compares store figures with the hub's targets when nothing
// is in flight and no local order is waiting to be reported (Quiet): a
// difference seen on two reads some seconds apart is corrected
// (repairs_total) — a checkout clobbered by WooCommerce's read-modify-write,
// say. ProductChanged, called by the webhook receiver, recognises the
// writer's own writes and turns other unexplained differences into manual
// edits, reverted to the hub's figure unless StoreEdits is "accept".
//
// The hub never echoes a store's own sales as stock to write: once it has
// committed one, it sends the store a change of delta 0 that carries the
// new target, so the writer's idea of the target follows local sales.
//
// Allocate policy (SetAllocate): the store's figure is what the hub granted
// it, and the writer errs on the side of under-selling. Release gives units
// back for a hub reclaim (at most what the store shows, once per reclaim,
// recorded in the product meta stockwire_reclaim), and the safety net only
// ever lowers a figure: raising one on a stale target could sell a unit the
// store was never granted.
package stock

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/stockwire/stockwire/agent"
	"github.com/stockwire/stockwire/agent/wooclient"
	"github.com/stockwire/stockwire/shared/atomicfile"
	"github.com/stockwire/stockwire/shared/backoff"
	"github.com/stockwire/stockwire/shared/wire"
	"github.com/stockwire/stockwire/shared/woo"
)

// MetaKey is the product meta key holding the highest hub sequence written
// to that product.
const MetaKey = "stockwire_seq"

// StoreEdits values.
const (
	EditsRevert = "revert"
	EditsAccept = "accept"
)

// API is the part of *wooclient.Client the writer uses.
type API interface {
	ListProducts(ctx context.Context, q wooclient.ProductQuery) ([]woo.Product, wooclient.Page, error)
	BatchUpdateProducts(ctx context.Context, ups []wooclient.ProductUpdate) ([]wooclient.BatchResult, error)
	BatchUpdateVariations(ctx context.Context, parentID int64, ups []wooclient.ProductUpdate) ([]wooclient.BatchResult, error)
}

var (
	_ API               = (*wooclient.Client)(nil)
	_ agent.StockWriter = (*Writer)(nil)
)

var readFields = []string{"id", "parent_id", "sku", "type", "manage_stock", "stock_quantity", "meta_data"}

// Config configures a Writer. API and DataDir are required.
type Config struct {
	API API
	// DataDir holds the writer's state file (stock-writer.json).
	DataDir string
	// StoreEdits is "revert" (default: manual edits are set back to the
	// hub's figure) or "accept" (the store's figure is adopted).
	StoreEdits string
	// Quiet reports that no local order is waiting to be reported to the
	// hub (the outbox is empty). Nil means always quiet.
	Quiet func() bool
	// Gather is how long changes are gathered before a write starts.
	// Defaults to 0: at once (a burst still coalesces behind the write in
	// flight, without a timer's wake-up and delay on every change).
	Gather time.Duration
	// CheckInterval is the safety net's period. Defaults to 5s.
	CheckInterval time.Duration
	// ConfirmDelay is how far apart the two reads that confirm a
	// difference must be. Defaults to 3s.
	ConfirmDelay time.Duration
	// CheckBatch is how many SKUs the safety net reads per period besides
	// recently written and suspect ones. Defaults to 100 (one request).
	CheckBatch int
	// VerifyDelay is how long the writer waits before reading back a
	// write whose outcome is unknown (the store may still be running it).
	// Defaults to 2s.
	VerifyDelay time.Duration
	// ResolveTTL is how long an unknown SKU stays unknown before it is
	// looked up again. Defaults to 1m.
	ResolveTTL time.Duration
	// SaveEvery bounds how long a moved AppliedSeq waits before it is
	// saved to disk (one fsync'd file write covers every change confirmed
	// meanwhile). Defaults to 10s.
	SaveEvery  time.Duration
	Logger     *slog.Logger
	Registerer prometheus.Registerer
}

// skuState is what the writer knows about one SKU. Guarded by Writer.mu.
type skuState struct {
	sku string

	// Resolution in the store.
	resolved   bool
	resolvedAt time.Time
	skip       string // non-empty: not writable (unknown_sku, ambiguous_sku, unmanaged)
	id, parent int64

	// Store side.
	storeSeq    int64 // all of this SKU's changes ≤ storeSeq are in the store
	seqKnown    bool  // storeSeq was read from the store (or written by us)
	expectQty   int64 // qty the store answered after our last write
	expectValid bool
	writtenAt   time.Time

	// Hub side.
	target    int64
	hasTarget bool
	lastRecv  int64 // highest change seq received for this SKU

	// Pending work.
	changes   []wire.Change
	arrived   []time.Time // arrival of each pending change
	abs       bool        // make the store equal target (snapshot, repair)
	absSeq    int64       // seq the abs write covers (snapshot seq or storeSeq)
	absReason string      // "snapshot", "repair"
	absAt     time.Time   // when the abs work was queued
	inflight  bool
	failures  int

	// Safety net.
	suspect    bool
	suspectQty int64
	suspectAt  time.Time
	manual     bool // the suspicion came from a product webhook
}

func (s *skuState) pending() bool { return len(s.changes) > 0 || s.abs }

// firstPending is the lowest seq still to be written for s.
func (s *skuState) firstPending() int64 {
	if s.abs {
		return s.absSeq
	}
	return s.changes[0].Seq
}

// Writer applies hub changes to the store. Create it with New and run Run.
type Writer struct {
	cfg     Config
	log     *slog.Logger
	metrics *metrics
	path    string
	kick    chan struct{}
	moved   chan struct{} // signalled when AppliedSeq moves; see AppliedChanged
	now     func() time.Time

	mu          sync.Mutex
	skus        map[string]*skuState
	maxRecv     int64 // highest seq received (change or snapshot)
	applied     int64 // AppliedSeq: every change up to it is in the store (or skipped)
	saved       int64 // AppliedSeq as last saved to disk
	checkCursor string
	checks      int64 // safety-net rounds done
	deferred    bool  // a snapshot write waits for local orders to be reported
	allocate    bool  // the store's policy is allocate: repairs only lower
}

type stateFile struct {
	AppliedSeq int64 `json:"applied_seq"`
}

// New loads the writer's state from cfg.DataDir.
func New(cfg Config) (*Writer, error) {
	if cfg.API == nil {
		return nil, errors.New("stock writer: API is required")
	}
	if cfg.DataDir == "" {
		return nil, errors.New("stock writer: DataDir is required")
	}
	switch cfg.StoreEdits {
	case "":
		cfg.StoreEdits = EditsRevert
	case EditsRevert, EditsAccept:
	default:
		return nil, fmt.Errorf("stock writer: StoreEdits %q: want revert or accept", cfg.StoreEdits)
	}
	if cfg.Quiet == nil {
		cfg.Quiet = func() bool { return true }
	}
	if cfg.CheckInterval <= 0 {
		cfg.CheckInterval = 5 * time.Second
	}
	if cfg.ConfirmDelay <= 0 {
		cfg.ConfirmDelay = 3 * time.Second
	}
	if cfg.CheckBatch <= 0 {
		cfg.CheckBatch = 100
	}
	if cfg.VerifyDelay <= 0 {
		cfg.VerifyDelay = 2 * time.Second
	}
	if cfg.ResolveTTL <= 0 {
		cfg.ResolveTTL = time.Minute
	}
	if cfg.SaveEvery <= 0 {
		cfg.SaveEvery = 10 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("stock writer: create data dir: %w", err)
	}
	w := &Writer{
		cfg:   cfg,
		log:   cfg.Logger,
		path:  filepath.Join(cfg.DataDir, "stock-writer.json"),
		kick:  make(chan struct{}, 1),
		moved: make(chan struct{}, 1),
		now:   time.Now,
		skus:  map[string]*skuState{},
	}
	b, err := os.ReadFile(w.path)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return nil, fmt.Errorf("stock writer: read state: %w", err)
	default:
		var st stateFile
		if err := json.Unmarshal(b, &st); err != nil {
			return nil, fmt.Errorf("stock writer: decode state %s: %w", w.path, err)
		}
		w.applied = st.AppliedSeq
	}
	w.saved = w.applied
	w.maxRecv = w.applied
	w.metrics = newMetrics(cfg.Registerer, w)
	return w, nil
}

func (w *Writer) state(sku string) *skuState {
	s, ok := w.skus[sku]
	if !ok {
		s = &skuState{sku: sku}
		w.skus[sku] = s
	}
	return s
}

// AppliedChanged returns a channel that receives a value after AppliedSeq
// moves (several moves may share one value). It is meant for one reader,
// the relay, which reports the figure to the hub.
func (w *Writer) AppliedChanged() <-chan struct{} { return w.moved }

func (w *Writer) signal() {
	select {
	case w.kick <- struct{}{}:
	default:
	}
}

// Apply queues changes (in sequence order). Changes at or below AppliedSeq,
// or already received, are dropped. It does not wait for the writes.
func (w *Writer) Apply(changes []wire.Change) {
	now := w.now()
	w.mu.Lock()
	for _, c := range changes {
		if c.Seq <= w.applied {
			continue
		}
		s := w.state(c.SKU)
		if c.Seq <= s.lastRecv || (s.abs && c.Seq <= s.absSeq) {
			continue
		}
		s.lastRecv = c.Seq
		s.changes = append(s.changes, c)
		s.arrived = append(s.arrived, now)
		s.target, s.hasTarget = c.Target, true
		s.suspect = false
		w.maxRecv = max(w.maxRecv, c.Seq)
	}
	w.mu.Unlock()
	w.signal()
}

// ApplySnapshot makes the store match targets as of seq: pending changes
// up to seq are dropped, and each SKU's store figure is read and set with
// inventory_delta = target − current.
func (w *Writer) ApplySnapshot(seq int64, targets map[string]int64) {
	now := w.now()
	w.mu.Lock()
	for sku, t := range targets {
		s := w.state(sku)
		keep := 0
		for i, c := range s.changes {
			if c.Seq > seq {
				s.changes[keep], s.arrived[keep] = c, s.arrived[i]
				keep++
			}
		}
		s.changes, s.arrived = s.changes[:keep], s.arrived[:keep]
		if keep == 0 {
			s.target = t
		}
		s.hasTarget = true
		s.abs, s.absSeq, s.absReason, s.absAt = true, seq, "snapshot", now
		s.lastRecv = max(s.lastRecv, seq)
		s.suspect = false
	}
	// Pending changes of SKUs absent from the snapshot are covered by it
	// too (the hub's figure for them is what the store has).
	for sku, s := range w.skus {
		if _, ok := targets[sku]; ok {
			continue
		}
		keep := 0
		for i, c := range s.changes {
			if c.Seq > seq {
				s.changes[keep], s.arrived[keep] = c, s.arrived[i]
				keep++
			}
		}
		s.changes, s.arrived = s.changes[:keep], s.arrived[:keep]
		s.lastRecv = max(s.lastRecv, seq)
	}
	w.maxRecv = max(w.maxRecv, seq)
	w.mu.Unlock()
	w.signal()
}

// SetAllocate tells the writer whether the store's policy is allocate (the
// hub says so in its welcome).
func (w *Writer) SetAllocate(on bool) {
	w.mu.Lock()
	w.allocate = on
	w.mu.Unlock()
}

// AppliedSeq returns the highest sequence durably applied to the store
// (the store confirmed every change up to it). What a restart starts from
// is the last saved figure, at most SaveEvery behind.
func (w *Writer) AppliedSeq() int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.applied
}

// Idle reports whether no write is pending or in flight.
func (w *Writer) Idle() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, s := range w.skus {
		if s.pending() || s.inflight {
			return false
		}
	}
	return true
}

// Target returns the writer's idea of the hub's target for sku.
func (w *Writer) Target(sku string) (int64, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	s, ok := w.skus[sku]
	if !ok || !s.hasTarget {
		return 0, false
	}
	return s.target, true
}

// UnknownSKUs returns the SKUs the hub sent that the store does not have
// (or has more than once, or does not manage stock for), sorted.
func (w *Writer) UnknownSKUs() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []string
	for sku, s := range w.skus {
		if s.resolved && s.skip != "" {
			out = append(out, sku)
		}
	}
	sort.Strings(out)
	return out
}

func (w *Writer) unknownCount() int { return len(w.UnknownSKUs()) }

// metaSeq returns the stockwire_seq meta of p.
func metaSeq(p woo.Product) (int64, bool) {
	for _, m := range p.MetaData {
		if m.Key != MetaKey {
			continue
		}
		v := strings.Trim(string(m.Value), `"`)
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return 0, false
		}
		return n, true
	}
	return 0, false
}

// ProductChanged takes a product or variation as a product.updated webhook
// (or any read) shows it. A figure explained by the writer's own write or
// equal to the hub's target is fine; any other difference is suspected as a
// manual edit and re-read after ConfirmDelay, then reverted (or accepted).
func (w *Writer) ProductChanged(ctx context.Context, p woo.Product) error {
	if p.StockQuantity == nil || p.SKU == "" {
		return nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	s, ok := w.skus[p.SKU]
	if !ok || !s.resolved || s.skip != "" || s.id != p.ID || !s.hasTarget {
		return nil
	}
	if s.pending() || s.inflight {
		return nil // the write in progress decides
	}
	q := *p.StockQuantity
	seq, _ := metaSeq(p)
	switch {
	case q == s.target:
		s.suspect = false
	case s.expectValid && seq == s.storeSeq && q == s.expectQty:
		// Our own write's echo; a later local sale will adjust target.
	default:
		if !s.suspect || s.suspectQty != q {
			s.suspect, s.suspectQty, s.suspectAt = true, q, w.now()
		}
		s.manual = true
		// Debug: every sale in this store shows here until the hub has
		// committed its order; the safety net logs what it corrects.
		w.log.Debug("stock differs from hub target", "sku", p.SKU, "product_id", p.ID, "store_qty", q, "target", s.target)
	}
	return nil
}

// deferredRetry is how often a snapshot write held back by unreported local
// orders is tried again.
const deferredRetry = 250 * time.Millisecond

// Run writes queued changes, saves AppliedSeq and runs the safety net
// until ctx ends; it saves AppliedSeq a last time then and returns nil.
// Besides the safety net's ticker it arms a timer only when there is
// something to wait for (a deferred snapshot, an unsaved AppliedSeq): an
// idle agent wakes rarely.
func (w *Writer) Run(ctx context.Context) error {
	defer func() {
		if err := w.save(); err != nil {
			w.log.Warn("save applied seq at exit", "error", err)
		}
	}()
	check := time.NewTicker(w.cfg.CheckInterval)
	defer check.Stop()
	retry := newIdleTimer()
	defer retry.Stop()
	saveT := newIdleTimer()
	defer saveT.Stop()
	var retryC, saveC <-chan time.Time // nil while their timer is not armed
	retryWrite := backoff.Policy{Min: 100 * time.Millisecond, Max: 10 * time.Second}
	failures := 0 // consecutive failed rounds
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-saveC:
			saveC = nil
			if err := w.save(); err != nil {
				w.log.Warn("save applied seq", "error", err)
			}
			saveC = w.arm(saveT, saveC, w.unsaved(), w.cfg.SaveEvery)
			continue
		case <-retryC:
			retryC = nil
		case <-w.kick:
			if backoff.Sleep(ctx, w.cfg.Gather) != nil {
				return nil
			}
		case <-check.C:
			if err := w.check(ctx); err != nil && ctx.Err() == nil {
				w.log.Warn("stock safety net check failed", "error", err)
			}
		}
		for {
			more, err := w.flush(ctx)
			if ctx.Err() != nil {
				return nil
			}
			if err != nil {
				wait := retryWrite.Delay(failures)
				failures++
				w.log.Warn("stock write failed", "error", err, "attempt", failures, "wait", wait)
				if backoff.Sleep(ctx, wait) != nil {
					return nil
				}
				continue
			}
			failures = 0
			if !more {
				break
			}
		}
		w.mu.Lock()
		deferred := w.deferred
		w.mu.Unlock()
		retryC = w.arm(retry, retryC, deferred, deferredRetry)
		saveC = w.arm(saveT, saveC, w.unsaved(), w.cfg.SaveEvery)
	}
}

// newIdleTimer returns a stopped timer for arm.
func newIdleTimer() *time.Timer {
	t := time.NewTimer(time.Hour)
	t.Stop()
	return t
}

// arm starts t for d when want holds and it is not running yet (c is its
// channel while armed, nil otherwise), and returns the channel to wait on.
func (w *Writer) arm(t *time.Timer, c <-chan time.Time, want bool, d time.Duration) <-chan time.Time {
	if !want || c != nil {
		return c
	}
	t.Reset(d)
	return t.C
}

// work is one SKU's write in a round.
type work struct {
	s        *skuState
	n        int   // pending changes taken
	delta    int64 // to write
	seq      int64 // stockwire_seq to write
	target   int64
	arrived  time.Time
	abs      bool
	coalesce int
}

// flush runs one round: it takes every pending SKU, resolves and reads
// those that need it, writes, and persists AppliedSeq. more reports that
// work arrived meanwhile.
func (w *Writer) flush(ctx context.Context) (more bool, err error) {
	ctx = wooclient.Urgent(ctx) // ahead of order polls and safety-net checks
	quiet := w.cfg.Quiet()
	w.mu.Lock()
	w.deferred = false
	var take []*skuState
	var need []string // SKUs to read first
	needSet := map[string]bool{}
	now := w.now()
	for sku, s := range w.skus {
		if !s.pending() || s.inflight {
			continue
		}
		if s.resolved && s.skip != "" && now.Sub(s.resolvedAt) < w.cfg.ResolveTTL {
			w.dropPending(s, s.skip)
			continue
		}
		// A snapshot sets the store to the hub's figure, which does not
		// yet count local orders still waiting to be reported: writing it
		// now would put those sold units back on sale. Wait until they
		// are reported; the hub's events then carry the right target.
		if s.abs && !quiet {
			w.deferred = true
			continue
		}
		s.inflight = true
		take = append(take, s)
		if !s.resolved || s.skip != "" || !s.seqKnown || s.abs {
			need = append(need, sku)
			needSet[sku] = true
		}
	}
	w.mu.Unlock()
	if len(take) == 0 {
		w.advance()
		return false, nil
	}
	// AppliedSeq moves only once the SKUs are no longer in flight: whoever
	// sees it move (a test, the relay) may then hand the writer the store's
	// next figures for them.
	defer func() {
		w.mu.Lock()
		for _, s := range take {
			s.inflight = false
			if s.pending() {
				more = true
			}
		}
		w.mu.Unlock()
		w.advance()
	}()

	reads, err := w.readSKUs(ctx, need)
	if err != nil {
		return false, err
	}

	// Build the writes.
	var works []*work
	w.mu.Lock()
	for _, s := range take {
		if needSet[s.sku] {
			w.resolve(s, reads[s.sku], now)
		}
		if s.skip != "" {
			w.dropPending(s, s.skip)
			continue
		}
		wk := &work{s: s, n: len(s.changes), abs: s.abs, target: s.target}
		if len(s.arrived) > 0 {
			wk.arrived = s.arrived[0]
		}
		if s.abs && !s.absAt.IsZero() && (wk.arrived.IsZero() || s.absAt.Before(wk.arrived)) {
			wk.arrived = s.absAt
		}
		var included int
		for _, c := range s.changes {
			if s.seqKnown && c.Seq <= s.storeSeq {
				continue // already in the store
			}
			included++
			wk.delta += c.Delta
			wk.seq = max(wk.seq, c.Seq)
		}
		if s.abs {
			cur := reads[s.sku]
			if cur.StockQuantity == nil {
				w.dropPending(s, "unmanaged")
				continue
			}
			wk.delta = s.target - *cur.StockQuantity
			wk.seq = max(wk.seq, s.absSeq, s.storeSeq)
		}
		wk.coalesce = max(included-1, 0)
		if wk.delta == 0 && (wk.seq <= s.storeSeq || !s.abs && included == 0) {
			w.finish(s, wk, nil, now)
			continue
		}
		works = append(works, wk)
	}
	w.mu.Unlock()

	// Group: products in one batch, variations per parent.
	groups := map[int64][]*work{}
	for _, wk := range works {
		groups[wk.s.parent] = append(groups[wk.s.parent], wk)
	}
	parents := make([]int64, 0, len(groups))
	for p := range groups {
		parents = append(parents, p)
	}
	sort.Slice(parents, func(i, j int) bool { return parents[i] < parents[j] })
	var firstErr error
	for _, parent := range parents {
		g := groups[parent]
		for start := 0; start < len(g); start += wooclient.MaxBatch {
			chunk := g[start:min(start+wooclient.MaxBatch, len(g))]
			if err := w.write(ctx, parent, chunk); err != nil && firstErr == nil {
				firstErr = err
			}
		}
	}
	return more, firstErr
}

// resolve records what the store said about s (r is zero when the SKU was
// not found). Caller holds mu.
func (w *Writer) resolve(s *skuState, r woo.Product, now time.Time) {
	s.resolved, s.resolvedAt = true, now
	switch {
	case r.ID == -1:
		s.skip = "ambiguous_sku"
	case r.ID == 0:
		s.skip = "unknown_sku"
	case string(r.ManageStock) != "true":
		s.skip = "unmanaged"
	default:
		s.skip = ""
		s.id = r.ID
		s.parent = 0
		if r.Type == "variation" {
			s.parent = r.ParentID
		}
		if seq, ok := metaSeq(r); ok {
			s.storeSeq = max(seq, s.storeSeq)
		}
		s.seqKnown = true
		return
	}
	w.log.Warn("stock sku skipped", "sku", s.sku, "reason", s.skip)
}

// dropPending discards s's pending work. Caller holds mu.
func (w *Writer) dropPending(s *skuState, reason string) {
	n := len(s.changes)
	if s.abs {
		n++
	}
	if n > 0 {
		w.metrics.skipped.WithLabelValues(reason).Add(float64(n))
	}
	s.changes, s.arrived, s.abs = nil, nil, false
}

// finish records a confirmed write (p is the store's answer, nil when
// nothing needed writing). Caller holds mu.
func (w *Writer) finish(s *skuState, wk *work, p *woo.Product, now time.Time) {
	n := min(wk.n, len(s.changes))
	s.changes = append(s.changes[:0:0], s.changes[n:]...)
	s.arrived = append(s.arrived[:0:0], s.arrived[n:]...)
	s.abs = s.abs && !wk.abs
	s.failures = 0
	if p == nil {
		return
	}
	s.storeSeq = max(s.storeSeq, wk.seq)
	s.seqKnown = true
	if p.StockQuantity != nil {
		s.expectQty, s.expectValid = *p.StockQuantity, true
	}
	s.writtenAt = now
	w.metrics.writes.WithLabelValues("ok").Inc()
	w.metrics.coalesced.Add(float64(wk.coalesce))
	if !wk.arrived.IsZero() {
		w.metrics.writeLatency.Observe(now.Sub(wk.arrived).Seconds())
	}
}

// readSKUs reads the given SKUs (100 per request). A SKU found more than
// once maps to ID -1; a SKU not found is absent.
func (w *Writer) readSKUs(ctx context.Context, skus []string) (map[string]woo.Product, error) {
	out := map[string]woo.Product{}
	var list []string
	for _, sku := range skus {
		if strings.Contains(sku, ",") {
			continue // cannot be looked up exactly: reads as unknown
		}
		list = append(list, sku)
	}
	sort.Strings(list)
	for start := 0; start < len(list); start += 100 {
		chunk := list[start:min(start+100, len(list))]
		want := map[string]bool{}
		for _, s := range chunk {
			want[s] = true
		}
		for page := 1; ; page++ {
			ps, pg, err := w.cfg.API.ListProducts(ctx, wooclient.ProductQuery{SKU: strings.Join(chunk, ","), Page: page, PerPage: 100, Fields: readFields})
			if err != nil {
				return nil, fmt.Errorf("read %d skus: %w", len(chunk), err)
			}
			for _, p := range ps {
				if !want[p.SKU] {
					continue
				}
				if prev, dup := out[p.SKU]; dup && prev.ID != p.ID {
					out[p.SKU] = woo.Product{ID: -1}
					continue
				}
				out[p.SKU] = p
			}
			if len(ps) == 0 || page >= pg.TotalPages {
				break
			}
		}
	}
	return out, nil
}

// write sends one batch and records the results.
func (w *Writer) write(ctx context.Context, parent int64, chunk []*work) error {
	ups := make([]wooclient.ProductUpdate, len(chunk))
	for i, wk := range chunk {
		d := wk.delta
		ups[i] = wooclient.ProductUpdate{ID: wk.s.id, InventoryDelta: &d,
			MetaData: []woo.MetaData{{Key: MetaKey, Value: json.RawMessage(strconv.Quote(strconv.FormatInt(wk.seq, 10)))}}}
	}
	w.metrics.batches.Inc()
	var res []wooclient.BatchResult
	var err error
	if parent == 0 {
		res, err = w.cfg.API.BatchUpdateProducts(ctx, ups)
	} else {
		res, err = w.cfg.API.BatchUpdateVariations(ctx, parent, ups)
	}
	now := w.now()
	if err != nil {
		if errors.Is(err, wooclient.ErrOutcomeUnknown) {
			w.metrics.writes.WithLabelValues("unknown_outcome").Add(float64(len(chunk)))
			return w.verify(ctx, chunk)
		}
		return fmt.Errorf("write stock of %d skus: %w", len(chunk), err)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	byID := map[int64]wooclient.BatchResult{}
	for _, r := range res {
		byID[r.ID] = r
	}
	for _, wk := range chunk {
		r, ok := byID[wk.s.id]
		switch {
		case ok && r.Err == nil:
			p := r.Product
			w.finish(wk.s, wk, &p, now)
		default:
			// Refused (e.g. deleted since resolved): look it up again, give
			// up after a few tries.
			w.metrics.writes.WithLabelValues("rejected").Inc()
			wk.s.resolved = false
			wk.s.failures++
			msg := "missing from answer"
			if ok {
				msg = r.Err.Error()
			}
			w.log.Warn("stock write rejected", "sku", wk.s.sku, "product_id", wk.s.id, "error", msg, "attempt", wk.s.failures)
			if wk.s.failures >= 3 {
				w.dropPending(wk.s, "rejected")
			}
		}
	}
	return nil
}

// verify settles writes whose outcome is unknown by reading the products'
// stockwire_seq back: a seq at or above what was sent means applied.
func (w *Writer) verify(ctx context.Context, chunk []*work) error {
	skus := make([]string, len(chunk))
	for i, wk := range chunk {
		skus[i] = wk.s.sku
	}
	if err := backoff.Sleep(ctx, w.cfg.VerifyDelay); err != nil {
		return err
	}
	retryRead := backoff.Policy{Min: w.cfg.VerifyDelay, Max: 10 * time.Second}
	for attempt := 0; ; attempt++ {
		reads, err := w.readSKUs(ctx, skus)
		if err == nil {
			now := w.now()
			w.mu.Lock()
			for _, wk := range chunk {
				p := reads[wk.s.sku]
				seq, _ := metaSeq(p)
				if p.ID > 0 && seq >= wk.seq {
					w.finish(wk.s, wk, &p, now)
					continue
				}
				// Not applied: the changes stay pending and go out again.
				w.metrics.writes.WithLabelValues("not_applied").Inc()
				if p.ID > 0 {
					wk.s.storeSeq = max(wk.s.storeSeq, seq)
					wk.s.seqKnown = true
				}
			}
			w.mu.Unlock()
			return nil
		}
		wait := retryRead.Delay(attempt)
		w.log.Warn("stock write verify failed", "error", err, "attempt", attempt+1, "wait", wait)
		if err := backoff.Sleep(ctx, wait); err != nil {
			return err
		}
	}
}

// advance moves AppliedSeq up to the last seq before the first one still
// pending: every change up to it is in the store (or skipped).
func (w *Writer) advance() {
	w.mu.Lock()
	applied := w.maxRecv
	for _, s := range w.skus {
		if s.pending() {
			applied = min(applied, s.firstPending()-1)
		}
	}
	moved := applied > w.applied
	w.applied = max(w.applied, applied)
	w.mu.Unlock()
	if moved {
		select {
		case w.moved <- struct{}{}:
		default:
		}
	}
}

// unsaved reports whether AppliedSeq moved since it was last saved.
func (w *Writer) unsaved() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.applied > w.saved
}

// save writes AppliedSeq to disk when it moved since the last save. Only
// Run calls it.
func (w *Writer) save() error {
	w.mu.Lock()
	applied, saved := w.applied, w.saved
	w.mu.Unlock()
	if applied <= saved {
		return nil
	}
	b, _ := json.Marshal(stateFile{AppliedSeq: applied})
	if err := atomicfile.Write(w.path, b, 0o600); err != nil {
		return fmt.Errorf("save applied seq %d: %w", applied, err)
	}
	w.mu.Lock()
	w.saved = applied
	w.mu.Unlock()
	return nil
}

// check is the safety net: it reads recently written, suspect and a
// rotating slice of other SKUs, and corrects differences confirmed by two
// reads ConfirmDelay apart while nothing is in flight and Quiet holds.
func (w *Writer) check(ctx context.Context) error {
	defer func() {
		w.mu.Lock()
		w.checks++
		w.mu.Unlock()
	}()
	if !w.cfg.Quiet() {
		return nil
	}
	now := w.now()
	w.mu.Lock()
	var pick []string
	var rest []string
	for sku, s := range w.skus {
		if !s.hasTarget || !s.resolved || s.skip != "" || s.pending() || s.inflight {
			continue
		}
		if s.suspect || now.Sub(s.writtenAt) < 2*w.cfg.ConfirmDelay+w.cfg.CheckInterval {
			pick = append(pick, sku)
		} else {
			rest = append(rest, sku)
		}
	}
	sort.Strings(rest)
	start := sort.SearchStrings(rest, w.checkCursor)
	for n := range min(w.cfg.CheckBatch, len(rest)) {
		sku := rest[(start+n)%len(rest)]
		pick = append(pick, sku)
		w.checkCursor = sku + "\x00"
	}
	w.mu.Unlock()
	if len(pick) == 0 {
		return nil
	}
	reads, err := w.readSKUs(ctx, pick)
	if err != nil {
		return fmt.Errorf("safety net read: %w", err)
	}
	quiet := w.cfg.Quiet()
	now = w.now()
	fix := false
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, sku := range pick {
		s := w.skus[sku]
		p, ok := reads[sku]
		if !ok || p.ID != s.id || p.StockQuantity == nil || s.pending() || s.inflight || !s.hasTarget {
			continue
		}
		q := *p.StockQuantity
		if q == s.target || w.allocate && q < s.target {
			s.suspect, s.manual = false, false
			continue
		}
		if !s.suspect || s.suspectQty != q {
			s.suspect, s.suspectQty, s.suspectAt = true, q, now
			continue
		}
		if now.Sub(s.suspectAt) < w.cfg.ConfirmDelay || !quiet {
			continue
		}
		manual := s.manual
		s.suspect, s.manual = false, false
		if manual && w.cfg.StoreEdits == EditsAccept {
			w.metrics.manualEdits.WithLabelValues("accepted").Inc()
			w.log.Warn("stock manual edit accepted", "sku", sku, "product_id", s.id, "store_qty", q, "target", s.target)
			s.target = q
			continue
		}
		if manual {
			w.metrics.manualEdits.WithLabelValues("reverted").Inc()
			w.log.Warn("stock manual edit reverted", "sku", sku, "product_id", s.id, "store_qty", q, "target", s.target)
		} else {
			w.metrics.repairs.Inc()
			w.log.Warn("stock repaired", "sku", sku, "product_id", s.id, "store_qty", q, "target", s.target)
		}
		s.abs, s.absSeq, s.absReason, s.absAt = true, s.storeSeq, "repair", now
		fix = true
	}
	if fix {
		w.signal()
	}
	return nil
}
