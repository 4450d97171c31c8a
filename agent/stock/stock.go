// Package stock is the agent's stock writer: it applies the hub's changes
// to the store exactly once and keeps the store at the hub's figures.
//
// Changes are coalesced per SKU (deltas summed, highest seq and latest
// target kept) and written as batch updates (≤100 items per request) of
// inventory_delta together with the product meta stockwire_seq = the
// highest seq included, in the same request. A write starts as soon as a
// change arrives; changes arriving while it is in flight go out together
// in the next one. A change with nothing to add (the hub's acknowledgement
// of the store's own sale) is not written. When a write's outcome is
// unknown (timeout, 5xx after sending), the writer re-reads the products
// and compares their stockwire_seq with what it sent; after a restart it
// reads stockwire_seq before writing and drops changes the store already
// has. AppliedSeq moves as soon as the store confirmed a write, and is
// saved with the hub's targets to a small file in the data directory
// (written atomically, fsync'd) at most every SaveEvery and when Run ends.
// The saved figure only tells the hub where to resume after a restart: one
// that lags (kill -9 between saves) makes the hub resend changes that the
// per-product stockwire_seq then filters out, so every change still lands
// exactly once, while a change costs no file write.
//
// Where a SKU lives comes from the agent's one SKU map (SKUMap), which the
// catalog scan fills in the background: the writer never waits for it. A
// SKU the map does not hold yet, or places elsewhere than where the writer
// last read it, is read by SKU through the REST API before the write (the
// same read gives the product's stockwire_seq), and the read is recorded
// in the map.
//
// The writer knows at every moment what the store should show for each SKU
// (accounting.go): the hub's target, plus the hub's changes not written
// yet, minus the store's own sales the hub has not counted yet (plus its
// restocks). The store's sales reach the writer through OrderReported as
// they enter the outbox; the hub counts them when it commits the report and
// then sends this store a change whose target moved without a delta to
// write, which is how the writer learns they are counted. The safety net
// (safetynet.go) reads the products modified since its last look every
// CheckInterval (every SweepInterval while the store's webhooks bring the
// echo of each write: echoes.go), the SKUs it suspects every
// CheckInterval, and a rotating slice of the others,
// and compares each with that figure, under any traffic. A difference
// that stays (ConfirmDelay for a store showing too much, ConfirmLowDelay
// for too little, which a late order report also explains for a while) is
// a hand edit or a lost write: it is corrected with a relative write, or,
// for a hand edit under StoreEdits "accept", adopted: the writer counts it
// as the store's own, like a sale, and reports it to the hub through
// ReportEdit (the outbox), and the hub counts it for every store.
//
// Allocate policy (SetAllocate): the store's figure is what the hub granted
// it, and the writer errs on the side of under-selling. Release gives units
// back for a hub reclaim (at most what the store shows, once per reclaim,
// recorded in the product meta stockwire_reclaim). A store below its figure
// once the hub has counted its orders (a REST or wp-admin order that
// skipped WooCommerce's stock check left it negative, say) is raised to it,
// as under mirror.
//
// The files follow those jobs: stock.go the Writer and its Run loop,
// queue.go the hub's changes waiting to be written, write.go the write
// path, accounting.go what the store should show, state.go the state file,
// safetynet.go the safety net, echoes.go how it judges the store's
// webhooks, release.go the reclaims.
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
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/stockwire/stockwire/agent"
	"github.com/stockwire/stockwire/agent/catalog"
	"github.com/stockwire/stockwire/agent/wooclient"
	"github.com/stockwire/stockwire/shared/backoff"
	"github.com/stockwire/stockwire/shared/wire"
	"github.com/stockwire/stockwire/shared/woo"
)

// MetaKey is the product meta key holding the epoch and the highest hub
// sequence written to that product (wire.Marker).
const MetaKey = "stockwire_seq"

// StoreEdits values.
const (
	EditsRevert = "revert"
	EditsAccept = "accept"
)

// API is the part of *wooclient.Client the writer uses.
type API interface {
	ListProducts(ctx context.Context, q wooclient.ProductQuery) ([]woo.Product, wooclient.Page, error)
	ListOrders(ctx context.Context, q wooclient.OrderQuery) ([]woo.Order, wooclient.Page, error)
	BatchUpdateProducts(ctx context.Context, ups []wooclient.ProductUpdate) ([]wooclient.BatchResult, error)
	BatchUpdateVariations(ctx context.Context, parentID int64, ups []wooclient.ProductUpdate) ([]wooclient.BatchResult, error)
}

// SKUMap is the agent's one map of where the store's SKUs live
// (*catalog.Map), filled in the background by the catalog scan. The writer
// looks a SKU up there before it writes, reads by SKU through the REST API
// what it needs and the map does not hold, and records what its reads find.
type SKUMap interface {
	// Lookup returns where sku lives; ok is false when the map holds no
	// single item for it.
	Lookup(sku string) (e catalog.Entry, ok bool)
	// Found records every item a read by SKU showed holding sku.
	Found(sku string, items []woo.Product)
}

var (
	_ API               = (*wooclient.Client)(nil)
	_ SKUMap            = (*catalog.Map)(nil)
	_ agent.StockWriter = (*Writer)(nil)
)

var readFields = []string{"id", "parent_id", "sku", "type", "manage_stock", "stock_quantity", "meta_data"}

// Config configures a Writer. API and DataDir are required.
type Config struct {
	API API
	// SKUs is the agent's SKU map. Defaults to a map of the writer's own.
	SKUs SKUMap
	// DataDir holds the writer's state file (stock-writer.json).
	DataDir string
	// StoreEdits is "revert" (default: manual edits are set back to the
	// hub's figure) or "accept" (the store's figure is adopted and
	// reported to the hub through ReportEdit, which counts it for every
	// store).
	StoreEdits string
	// ReportEdit stores an accepted hand edit durably for the hub (the
	// agent's outbox); required under StoreEdits "accept". An edit it
	// fails to take is not adopted: the safety net finds it again.
	ReportEdit func(ctx context.Context, e wire.StoreEdit) error
	// Quiet reports that no local order is waiting to be reported to the
	// hub (the outbox is empty). A snapshot is written only then, and the
	// count of a SKU's own orders the hub has not counted is reset to zero
	// only after a quiet while without any (it heals a count that a restart
	// or a report the hub refused left off). Nil means always quiet.
	Quiet func() bool
	// CaughtUp reports that the local orders the writer cannot know of
	// have reached the hub: those stored before the writer started (their
	// sales are in the store but not in the writer's counts) and those the
	// store took while the agent was down (an order poll has run since
	// the start). Unlike Quiet it does not wait for orders taken since,
	// which the writer counts: under steady traffic the outbox is seldom
	// empty. The safety net of a mirror store raises no figure before
	// (see LowSettle); that of an allocate store waits for Quiet. Nil
	// means Quiet.
	CaughtUp func() bool
	// Reported returns the state last reported for an order (the outbox
	// remembers it across restarts). The safety net counts an order in
	// the store that neither it nor the writer knows as a sale not
	// reported yet. Nil: the writer's own memory of the orders it took.
	Reported func(orderID int64) (agent.Reported, bool)
	// Gather is how long changes are gathered before a write starts.
	// Defaults to 0: at once (a burst still coalesces behind the write in
	// flight, without a timer's wake-up and delay on every change).
	Gather time.Duration
	// CheckInterval is the safety net's period: it reads the SKUs it
	// suspects, and the products modified since its last look (those every
	// SweepInterval while the echoes of its writes come: echoes.go).
	// Defaults to 1s.
	CheckInterval time.Duration
	// SweepInterval is how often the safety net also reads CheckBatch
	// SKUs in rotation (variations, and edits that left no trace in
	// date_modified). Defaults to 5s.
	SweepInterval time.Duration
	// ConfirmDelay is how long a store figure above what the store should
	// show must stay above it, over at least two reads, before it is
	// corrected. Defaults to 900ms: two reads a second apart.
	ConfirmDelay time.Duration
	// ConfirmLowDelay is the same for a figure below, which a sale not
	// reported yet also explains for a while (the safety net then reads
	// the store's recent orders before it raises a figure). Defaults to
	// 1.9s: three reads a second apart.
	ConfirmLowDelay time.Duration
	// EchoWindow is how long the store's product webhook may take to bring
	// the echo of a write before the write counts as echoless
	// (echoes.go). Defaults to 5s.
	EchoWindow time.Duration
	// CheckBatch is how many SKUs the sweep reads per SweepInterval.
	// Defaults to 100 (one request).
	CheckBatch int
	// VerifyDelay is how long the writer waits before reading back a
	// write whose outcome is unknown (the store may still be running it).
	// Defaults to 2s.
	VerifyDelay time.Duration
	// LowSettle is how long after its start the writer, once it has
	// applied the hub's changes up to the welcome and is CaughtUp, waits
	// before it first raises a figure that looks low: the hub counts the
	// sales it acknowledged just before a restart in changes that follow
	// its acknowledgements (milliseconds after them, in the transaction
	// acknowledged), and the writer no longer remembers those sales.
	// Defaults to 1s.
	LowSettle time.Duration
	// ResolveTTL is how long an unknown SKU stays unknown before it is
	// looked up again. Defaults to 1m.
	ResolveTTL time.Duration
	// RoundSKUs bounds the SKUs one write round takes (each round reads
	// and writes them 100 per request). Defaults to 1,000.
	RoundSKUs int
	// SaveEvery bounds how long a moved AppliedSeq waits before it is
	// saved to disk (one fsync'd file write covers every change confirmed
	// meanwhile). Defaults to 10s.
	SaveEvery  time.Duration
	Logger     *slog.Logger
	Registerer prometheus.Registerer
}

// skuState is what the writer knows about one SKU. Guarded by Writer.mu.
// The writer holds one for every SKU of the store (100,000 in a large
// one), so moments are stamps and the flags sit together at the end.
type skuState struct {
	sku string

	// Resolution in the store.
	resolvedAt stamp
	id, parent int64

	// Store side.
	storeSeq  int64 // all of this SKU's changes ≤ storeSeq are in the store
	writtenAt stamp

	// Hub side.
	target    int64
	targetSeq int64 // seq of the change or snapshot that set target
	lastRecv  int64 // highest change seq received for this SKU

	// The store's own orders the hub has not counted yet (accounting.go).
	sold      int64 // units sold (or released) in the store, not yet counted
	restocked int64 // units put back by cancellations, not yet counted
	ownAt     stamp // last own order (or release, or accepted edit) of this SKU

	// Pending work.
	changes []queued
	absSeq  int64 // seq the abs write covers (snapshot seq)
	absAt   stamp // when the abs work was queued
	fix     int64 // units to add to correct the store (safety net)
	fixAt   stamp // when the fix was queued

	// Safety net: the last read that showed what the store should show,
	// and what it holds of a difference seen since (nil: none).
	agreedAt stamp
	d        *diff

	skip      skipReason // not writable, and why
	failures  int8       // writes the store refused in a row
	resolved  bool
	seqKnown  bool // storeSeq was read from the store (or written by us)
	hasTarget bool
	abs       bool // make the store equal target (snapshot)
	inflight  bool
}

// diff is what the safety net holds of a SKU whose store figure differed
// from what it should show, until a read agrees again: most SKUs, most of
// the time, have none.
type diff struct {
	offs    []offRead // reads showing a difference of one sign, oldest first
	low     int64     // a confirmed figure too low, waiting for the check of unreported orders
	edited  bool      // a product webhook showed the difference: a hand edit
	lowEdit bool      // low is a hand edit
	// editLeft: a hand edit was reverted and no read agreed since; what
	// is left of it (a correction sized short while sales landed between
	// its reads) is the same edit.
	editLeft bool
}

// diff returns s's difference record, made when s has none.
func (s *skuState) diff() *diff {
	if s.d == nil {
		s.d = &diff{}
	}
	return s.d
}

// queued is a hub change waiting to be written, and when it arrived.
type queued struct {
	wire.Change
	at stamp
}

// skipReason says why a SKU is not written: the store has no such SKU, has
// it more than once, or does not manage its stock.
type skipReason uint8

const (
	skipNone skipReason = iota
	skipUnknown
	skipAmbiguous
	skipUnmanaged
)

// String is the reason as the skipped-writes metric and the log name it.
func (r skipReason) String() string {
	return [...]string{"", "unknown_sku", "ambiguous_sku", "unmanaged"}[r]
}

// stamp is a moment in 8 bytes instead of time.Time's 24: Unix
// nanoseconds, 0 for none. It keeps no monotonic reading.
type stamp int64

func stampOf(t time.Time) stamp {
	if t.IsZero() {
		return 0
	}
	return stamp(t.UnixNano())
}

// Time returns the moment, the zero time for none.
func (s stamp) Time() time.Time {
	if s == 0 {
		return time.Time{}
	}
	return time.Unix(0, int64(s))
}

// offRead is one read showing a difference.
type offRead struct {
	at  time.Time
	gap int64
}

func (s *skuState) pending() bool { return len(s.changes) > 0 || s.abs || s.fix != 0 }

// firstPending is the lowest seq still to be written for s.
func (s *skuState) firstPending() int64 {
	if len(s.changes) > 0 {
		return s.changes[0].Seq
	}
	return s.storeSeq + 1 // a fix holds back no change
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

	mu   sync.Mutex
	skus map[string]*skuState
	// work holds every SKU with work pending (and some whose work is
	// done, until flush or advance finds them idle), so that neither walks
	// the whole catalog for each change. Apply, ApplySnapshot and the
	// safety net's repairs add to it.
	work        map[*skuState]struct{}
	maxRecv     int64 // highest seq received (change or snapshot)
	applied     int64 // AppliedSeq: every change up to it is in the store (or skipped)
	saved       int64 // AppliedSeq as last saved to disk
	checkCursor string
	checks      int64     // safety-net rounds done
	sweptAt     time.Time // last rotating read; owned by Run
	modCursor   time.Time // where the safety net's next modified read starts (readModified); owned by Run
	lookedAt    time.Time // the safety net's last modified read; owned by Run
	// lookEvery is the period of the safety net's modified reads:
	// CheckInterval, or SweepInterval while the echoes come (echoes.go).
	lookEvery time.Duration
	echoes    echoWatch
	held      int // SKUs whose snapshot write waits for local orders to be reported
	// absOrder is the last snapshot's SKUs in SKU order, for its writes
	// in rounds; those written are dropped from its front.
	absOrder []*skuState
	// absBase is AppliedSeq when the snapshot being written came.
	absBase  int64
	epoch    string // the store's epoch AppliedSeq counts in (epoch.go)
	head     int64  // the hub's head sequence at welcome
	welcomed bool   // head is known
	// settledAt is when the writer was first caught up with the welcome
	// and quiet; lowsOpen is set LowSettle after it, for good.
	settledAt time.Time
	lowsOpen  bool
	// staleMarkerSeen: a marker ahead of the hub's sequence was logged.
	staleMarkerSeen bool
	allocate        bool // the store's policy is allocate
	dirty           bool // targets changed since the state file was saved

	edits []wire.StoreEdit // hand edits accepted, for ReportEdit after the round
	// editsReverted counts the hand edits set back since the start, for
	// the agent's status to the hub (EditsReverted).
	editsReverted atomic.Int64
	orders        map[int64]orderSeen // the store's orders taken lately, by WooCommerce id
	ordersPruned  time.Time
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
	case EditsRevert:
	case EditsAccept:
		if cfg.ReportEdit == nil {
			return nil, errors.New("stock writer: StoreEdits accept needs ReportEdit")
		}
	default:
		return nil, fmt.Errorf("stock writer: StoreEdits %q: want revert or accept", cfg.StoreEdits)
	}
	if cfg.SKUs == nil {
		cfg.SKUs = catalog.NewMap()
	}
	if cfg.Reported == nil {
		cfg.Reported = func(int64) (agent.Reported, bool) { return agent.Reported{}, false }
	}
	if cfg.Quiet == nil {
		cfg.Quiet = func() bool { return true }
	}
	if cfg.CaughtUp == nil {
		cfg.CaughtUp = cfg.Quiet
	}
	if cfg.CheckInterval <= 0 {
		cfg.CheckInterval = time.Second
	}
	if cfg.SweepInterval <= 0 {
		cfg.SweepInterval = 5 * time.Second
	}
	if cfg.EchoWindow <= 0 {
		cfg.EchoWindow = 5 * time.Second
	}
	if cfg.ConfirmDelay <= 0 {
		cfg.ConfirmDelay = 900 * time.Millisecond
	}
	if cfg.ConfirmLowDelay <= 0 {
		cfg.ConfirmLowDelay = 1900 * time.Millisecond
	}
	if cfg.CheckBatch <= 0 {
		cfg.CheckBatch = 100
	}
	if cfg.LowSettle <= 0 {
		cfg.LowSettle = time.Second
	}
	if cfg.VerifyDelay <= 0 {
		cfg.VerifyDelay = 2 * time.Second
	}
	if cfg.ResolveTTL <= 0 {
		cfg.ResolveTTL = time.Minute
	}
	if cfg.RoundSKUs <= 0 {
		cfg.RoundSKUs = 1000
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
		cfg:       cfg,
		log:       cfg.Logger,
		path:      filepath.Join(cfg.DataDir, "stock-writer.json"),
		kick:      make(chan struct{}, 1),
		moved:     make(chan struct{}, 1),
		now:       time.Now,
		skus:      map[string]*skuState{},
		work:      map[*skuState]struct{}{},
		orders:    map[int64]orderSeen{},
		echoes:    newEchoWatch(),
		lookEvery: cfg.CheckInterval,
	}
	err := w.load()
	if err != nil {
		return nil, err
	}
	w.saved = w.applied
	w.maxRecv = w.applied
	if w.metrics, err = newMetrics(cfg.Registerer, w); err != nil {
		return nil, err
	}
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

// UnknownSKUs returns the SKUs the hub sent that the store does not have
// (or has more than once, or does not manage stock for), sorted.
func (w *Writer) UnknownSKUs() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []string
	for sku, s := range w.skus {
		if s.resolved && s.skip != skipNone {
			out = append(out, sku)
		}
	}
	sort.Strings(out)
	return out
}

func (w *Writer) unknownCount() int { return len(w.UnknownSKUs()) }

// heldCount is the number of SKUs whose snapshot write waits for the
// store's local orders to be reported.
func (w *Writer) heldCount() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.held
}

// metaString returns a meta value that is a JSON string (or a bare
// number) as text.
func metaString(v json.RawMessage) string {
	var str string
	if json.Unmarshal(v, &str) == nil {
		return str
	}
	return string(v)
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
		deferred := w.held > 0
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
