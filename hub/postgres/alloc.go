package postgres

import (
	"context"
	"fmt"
	"math"
	"sort"
	"strconv"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/stockwire/stockwire/hub"
)

// Allocate policy (issue 6). Per SKU and allocate store, store_allocations
// holds what the store was granted and has not sold or released. Every
// stock transaction (stockTx.finish) loads the allocations of the SKUs it
// changes, applies each selling store's local effect to its allocation (a
// sale or a release lowers it, a restock raises it), then rebalances: it
// grants from the pool to stores below their low-water mark and, when the
// pool cannot cover them, asks idle stores to give units back (reclaims).
// The SKU row locks serialise all of this per SKU. A deferred constraint
// trigger (migration 003) refuses at commit any grant that would make
// Σ allocated + committed exceed on_hand − safety_stock.

// rateWindow is the time constant of the decayed sales rate that sizes
// grants: a sale of q units adds q/rateWindow units per second, which then
// decays by e every rateWindow.
const rateWindow = 30 * time.Second

// allocStore is one active allocate store as the rebalancer sees it.
type allocStore struct {
	id        int64
	connected bool
	params    hub.AllocationParams
}

// allocRow is one store_allocations row.
type allocRow struct {
	storeID    int64
	allocated  int64
	reclaiming int64
	granted    int64
	oversold   int64
	rate       float64 // units per second as of rateAt
	rateAt     time.Time
	lastSale   time.Time // zero: never
	grantedAt  time.Time // zero: never
	dirty      bool
}

// rateAt returns the decayed sales rate at now.
func (r *allocRow) rateNow(now time.Time) float64 {
	dt := now.Sub(r.rateAt)
	if dt <= 0 {
		return r.rate
	}
	return r.rate * math.Exp(-dt.Seconds()/rateWindow.Seconds())
}

// busyAt is the last time the store sold or received the SKU.
func (r *allocRow) busyAt() time.Time {
	if r.lastSale.After(r.grantedAt) {
		return r.lastSale
	}
	return r.grantedAt
}

// newReclaim is a reclaim decided in this transaction.
type newReclaim struct {
	storeID int64
	sku     string
	units   int64
	reason  string
}

// allocState is a stock transaction's view of the allocate policy.
type allocState struct {
	stores   map[int64]*allocStore          // active allocate stores; nil until loaded
	rows     map[string]map[int64]*allocRow // by SKU, then store
	reclaims []newReclaim
}

func (a *allocState) row(sku string, storeID int64) *allocRow {
	m := a.rows[sku]
	if m == nil {
		m = map[int64]*allocRow{}
		a.rows[sku] = m
	}
	r := m[storeID]
	if r == nil {
		r = &allocRow{storeID: storeID}
		m[storeID] = r
	}
	return r
}

// held is Σ allocated of sku over every store.
func (a *allocState) held(sku string) int64 {
	var n int64
	for _, r := range a.rows[sku] {
		n += r.allocated
	}
	return n
}

// loadAlloc reads the active allocate stores (once) and the allocation rows
// of the given SKUs not read yet. The SKUs are locked by the caller or the
// stores lock is held exclusively.
func (s *stockTx) loadAlloc(skus []string) error {
	a := &s.alloc
	if a.stores == nil {
		var rows []struct {
			ID        int64 `db:"id"`
			Connected bool  `db:"connected"`
			hub.AllocationParams
		}
		if err := s.tx.SelectContext(s.ctx, &rows, `SELECT id, connected, alloc_low_water AS lowwater, alloc_min_grant AS mingrant,
				alloc_max_grant AS maxgrant, alloc_cover_seconds AS coverseconds, alloc_idle_seconds AS idleseconds
			FROM stores WHERE status = 'active' AND policy = 'allocate' ORDER BY id`); err != nil {
			return fmt.Errorf("load allocate stores: %w", err)
		}
		a.stores = make(map[int64]*allocStore, len(rows))
		for _, r := range rows {
			a.stores[r.ID] = &allocStore{id: r.ID, connected: r.Connected, params: r.AllocationParams}
		}
		a.rows = map[string]map[int64]*allocRow{}
	}
	var want []string
	for _, k := range skus {
		if _, ok := a.rows[k]; !ok {
			want = append(want, k)
			a.rows[k] = map[int64]*allocRow{}
		}
	}
	if len(want) == 0 {
		return nil
	}
	var rows []struct {
		StoreID    int64      `db:"store_id"`
		SKU        string     `db:"sku"`
		Allocated  int64      `db:"allocated"`
		Reclaiming int64      `db:"reclaiming"`
		Granted    int64      `db:"granted"`
		Oversold   int64      `db:"oversold"`
		Rate       float64    `db:"sales_rate"`
		RateAt     time.Time  `db:"rate_at"`
		LastSale   *time.Time `db:"last_sale_at"`
		GrantedAt  *time.Time `db:"granted_at"`
	}
	if err := s.tx.SelectContext(s.ctx, &rows, `SELECT store_id, sku, allocated, reclaiming, granted, oversold, sales_rate, rate_at, last_sale_at, granted_at
		FROM store_allocations WHERE sku = ANY($1)`, pq.Array(want)); err != nil {
		return fmt.Errorf("load allocations: %w", err)
	}
	for _, r := range rows {
		row := a.row(r.SKU, r.StoreID)
		row.allocated, row.reclaiming, row.granted, row.oversold = r.Allocated, r.Reclaiming, r.Granted, r.Oversold
		row.rate, row.rateAt = r.Rate, r.RateAt
		if r.LastSale != nil {
			row.lastSale = *r.LastSale
		}
		if r.GrantedAt != nil {
			row.grantedAt = *r.GrantedAt
		}
	}
	return nil
}

// applyLocal moves the stores' local effects (their own sales, restocks or
// releases, already done to their shelves) into their allocations. A sale
// beyond the allocation (a store that was mirror when it sold, or a bug)
// is counted as oversold, never hidden, and never compensated upwards.
func (s *stockTx) applyLocal(now time.Time) {
	for k, v := range s.local {
		if v == 0 || s.alloc.stores[k.store] == nil {
			continue
		}
		r := s.alloc.row(k.sku, k.store)
		if v < 0 && !s.releasing {
			r.rate = r.rateNow(now) + float64(-v)/rateWindow.Seconds()
			r.rateAt, r.lastSale = now, now
		}
		r.allocated += v
		if r.allocated < 0 {
			// The store showed more than the hub granted it. Count it,
			// and echo only what the allocation covered: a compensating
			// event would put the excess back on its shelf.
			r.oversold += -r.allocated
			s.local[k] = v - r.allocated
			r.allocated = 0
		}
		r.dirty = true
	}
}

// idle reports whether the store neither sold nor received the row's SKU
// for its IdleSeconds.
func (st *allocStore) idle(r *allocRow, now time.Time) bool {
	return now.Sub(r.busyAt()) >= time.Duration(st.params.IdleSeconds)*time.Second
}

// grantSize is what one grant to a store gives: its recent sales over
// CoverSeconds, within [MinGrant, MaxGrant].
func grantSize(st *allocStore, r *allocRow, now time.Time) int64 {
	n := int64(math.Ceil(r.rateNow(now) * float64(st.params.CoverSeconds)))
	return min(max(n, st.params.MinGrant), st.params.MaxGrant)
}

// rebalance decides grants and reclaims for skus (all locked and loaded).
func (s *stockTx) rebalance(skus []string, now time.Time) {
	a := &s.alloc
	if len(a.stores) == 0 {
		return
	}
	ids := make([]int64, 0, len(a.stores))
	for id := range a.stores {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	for _, k := range skus {
		sk := s.skus[k]
		if sk == nil {
			continue
		}
		pool := sk.available() - a.held(k)
		if pool < 0 {
			s.reclaimExposure(k, ids, -pool, now)
			continue
		}
		// Grants, fastest sellers first. A store below its low-water mark
		// that has not sold for IdleSeconds needs nothing more: it keeps
		// what it has (and gives it back when others need it), unless it
		// has nothing at all (every store gets a first chunk to sell).
		var needy []*allocStore
		for _, id := range ids {
			st := a.stores[id]
			r := a.row(k, id)
			if st.connected && r.allocated < st.params.LowWater && r.reclaiming == 0 && (r.allocated == 0 || !st.idle(r, now)) {
				needy = append(needy, st)
			}
		}
		sort.SliceStable(needy, func(i, j int) bool {
			return a.row(k, needy[i].id).rateNow(now) > a.row(k, needy[j].id).rateNow(now)
		})
		var unmet int64
		served := map[int64]bool{}
		for _, st := range needy {
			r := a.row(k, st.id)
			want := grantSize(st, r, now)
			g := min(pool, want)
			if g > 0 {
				r.allocated += g
				r.granted += g
				r.grantedAt = now
				r.dirty = true
				pool -= g
			}
			unmet += want - g
			served[st.id] = true
		}
		if unmet > 0 {
			s.reclaimIdle(k, ids, served, unmet, now)
		}
	}
}

// reclaimIdle asks connected stores that have been idle for their
// IdleSeconds for up to unmet units (less what is already being asked),
// longest idle first.
func (s *stockTx) reclaimIdle(sku string, ids []int64, needy map[int64]bool, unmet int64, now time.Time) {
	a := &s.alloc
	var donors []int64
	for _, id := range ids {
		st, r := a.stores[id], a.row(sku, id)
		if !st.connected {
			continue
		}
		unmet -= r.reclaiming
		if !needy[id] && st.idle(r, now) && r.allocated-r.reclaiming > 0 {
			donors = append(donors, id)
		}
	}
	sort.SliceStable(donors, func(i, j int) bool {
		return a.row(sku, donors[i]).busyAt().Before(a.row(sku, donors[j]).busyAt())
	})
	for _, id := range donors {
		if unmet <= 0 {
			return
		}
		r := a.row(sku, id)
		free := r.allocated - r.reclaiming
		n := min(free, unmet)
		if free-n < a.stores[id].params.LowWater {
			n = free // what would be left is too little to keep an idle store busy
		}
		s.addReclaim(sku, r, n, "idle")
		unmet -= n
	}
}

// reclaimExposure asks connected stores for the units by which they and the
// committed orders exceed stock, less what is already being asked; idle
// stores first.
func (s *stockTx) reclaimExposure(sku string, ids []int64, short int64, now time.Time) {
	a := &s.alloc
	var donors []int64
	for _, id := range ids {
		r := a.row(sku, id)
		short -= r.reclaiming
		if a.stores[id].connected && r.allocated-r.reclaiming > 0 {
			donors = append(donors, id)
		}
	}
	sort.SliceStable(donors, func(i, j int) bool {
		return a.row(sku, donors[i]).busyAt().Before(a.row(sku, donors[j]).busyAt())
	})
	for _, id := range donors {
		if short <= 0 {
			return
		}
		r := a.row(sku, id)
		n := min(r.allocated-r.reclaiming, short)
		s.addReclaim(sku, r, n, "exposure")
		short -= n
	}
}

func (s *stockTx) addReclaim(sku string, r *allocRow, n int64, reason string) {
	r.reclaiming += n
	r.dirty = true
	s.alloc.reclaims = append(s.alloc.reclaims, newReclaim{storeID: r.storeID, sku: sku, units: n, reason: reason})
}

// writeAlloc adds to b the upsert of the changed allocation rows and the
// insert of new reclaims, and returns the ids of stores with new reclaims
// (to be notified).
func (s *stockTx) writeAlloc(b *stmt) []int64 {
	a := &s.alloc
	var (
		stores                                   []int64
		skus, lastSale, grantedAt                []string
		allocated, reclaiming, granted, oversold []int64
		rates                                    []float64
		rateAt                                   []string
	)
	ts := func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format(time.RFC3339Nano)
	}
	for k, m := range a.rows {
		for id, r := range m {
			if !r.dirty {
				continue
			}
			if r.rateAt.IsZero() {
				r.rateAt = time.Now()
			}
			stores, skus = append(stores, id), append(skus, k)
			allocated, reclaiming, granted, oversold = append(allocated, r.allocated), append(reclaiming, r.reclaiming), append(granted, r.granted), append(oversold, r.oversold)
			rates, rateAt = append(rates, r.rate), append(rateAt, ts(r.rateAt))
			lastSale, grantedAt = append(lastSale, ts(r.lastSale)), append(grantedAt, ts(r.grantedAt))
			r.dirty = false
		}
	}
	if len(stores) > 0 {
		b.with("upd_alloc", `INSERT INTO store_allocations (store_id, sku, allocated, reclaiming, granted, oversold, sales_rate, rate_at, last_sale_at, granted_at)
			SELECT store_id, sku, allocated, reclaiming, granted, oversold, rate, rate_at::timestamptz, NULLIF(last_sale, '')::timestamptz, NULLIF(granted_at, '')::timestamptz
			FROM unnest(`+b.arg(pq.Array(stores))+`::bigint[], `+b.arg(pq.Array(skus))+`::text[], `+b.arg(pq.Array(allocated))+`::bigint[], `+
			b.arg(pq.Array(reclaiming))+`::bigint[], `+b.arg(pq.Array(granted))+`::bigint[], `+b.arg(pq.Array(oversold))+`::bigint[], `+
			b.arg(pq.Array(rates))+`::float8[], `+b.arg(pq.Array(rateAt))+`::text[], `+b.arg(pq.Array(lastSale))+`::text[], `+b.arg(pq.Array(grantedAt))+`::text[])
				AS v(store_id, sku, allocated, reclaiming, granted, oversold, rate, rate_at, last_sale, granted_at)
			ON CONFLICT (store_id, sku) DO UPDATE SET allocated = EXCLUDED.allocated, reclaiming = EXCLUDED.reclaiming,
				granted = EXCLUDED.granted, oversold = EXCLUDED.oversold, sales_rate = EXCLUDED.sales_rate, rate_at = EXCLUDED.rate_at,
				last_sale_at = EXCLUDED.last_sale_at, granted_at = EXCLUDED.granted_at`)
	}
	if len(a.reclaims) == 0 {
		return nil
	}
	n := len(a.reclaims)
	ids, rskus, units, reasons := make([]int64, n), make([]string, n), make([]int64, n), make([]string, n)
	seen := map[int64]bool{}
	var notify []int64
	for i, rc := range a.reclaims {
		ids[i], rskus[i], units[i], reasons[i] = rc.storeID, rc.sku, rc.units, rc.reason
		if !seen[rc.storeID] {
			seen[rc.storeID] = true
			notify = append(notify, rc.storeID)
		}
	}
	b.with("ins_reclaims", `INSERT INTO reclaims (store_id, sku, units, reason)
		SELECT * FROM unnest(`+b.arg(pq.Array(ids))+`::bigint[], `+b.arg(pq.Array(rskus))+`::text[], `+b.arg(pq.Array(units))+`::bigint[], `+b.arg(pq.Array(reasons))+`::text[])`)
	a.reclaims = nil
	sort.Slice(notify, func(i, j int) bool { return notify[i] < notify[j] })
	return notify
}

// allocArrays returns, for the SKUs given, every allocation row as
// parallel arrays (store, SKU, allocated) for the target computation.
func (s *stockTx) allocArrays(skus []string) (stores []int64, names []string, allocated []int64) {
	for _, k := range skus {
		for id, r := range s.alloc.rows[k] {
			stores, names, allocated = append(stores, id), append(names, k), append(allocated, r.allocated)
		}
	}
	return stores, names, allocated
}

var _ hub.AllocationService = (*AllocationService)(nil)

// AllocationService implements hub.AllocationService.
type AllocationService struct {
	db *DB
	// Batch bounds the SKUs one Rebalance transaction examines. Defaults
	// to 200.
	Batch int
}

// NewAllocationService returns the allocation service on db.
func NewAllocationService(db *DB) *AllocationService { return &AllocationService{db: db, Batch: 200} }

// Configure sets a store's policy, buffer and allocate parameters under the
// exclusive stores lock (no stock transaction in flight). A store leaving
// allocate gives its units back to the pool at once and its pending
// reclaims are cancelled: as a mirror store it shows the pool anyway. A
// store entering allocate starts with nothing; the next rebalance grants
// it its first chunk. Every store's targets move with it, as events.
func (s *AllocationService) Configure(ctx context.Context, id int64, set hub.StoreSettings) (hub.Store, error) {
	if !set.Policy.Valid() {
		return hub.Store{}, hub.FieldErrorf("policy", hub.EINVALID, "Policy must be mirror or allocate.")
	}
	if set.Buffer < 0 {
		return hub.Store{}, hub.FieldErrorf("buffer", hub.EINVALID, "Buffer must not be negative.")
	}
	if err := set.Allocation.Validate(); err != nil {
		return hub.Store{}, err
	}
	var st hub.Store
	err := s.db.tx(ctx, "configure_store", nil, func(tx *sqlx.Tx) error {
		var err error
		st, err = configureStore(ctx, tx, id, set)
		return err
	})
	if err != nil {
		return hub.Store{}, fmt.Errorf("configure store %d: %w", id, translate(err))
	}
	return st, nil
}

func configureStore(ctx context.Context, tx *sqlx.Tx, id int64, set hub.StoreSettings) (hub.Store, error) {
	if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, lockStores); err != nil {
		return hub.Store{}, fmt.Errorf("lock stores: %w", err)
	}
	var old hub.Policy
	if err := tx.GetContext(ctx, &old, `SELECT policy FROM stores WHERE id = $1`, id); err != nil {
		if isNoRows(err) {
			return hub.Store{}, hub.Errorf(hub.ENOTFOUND, "Store %d not found.", id)
		}
		return hub.Store{}, fmt.Errorf("load store: %w", err)
	}
	p := set.Allocation
	if _, err := tx.ExecContext(ctx, `UPDATE stores SET policy = $2, buffer = $3, alloc_low_water = $4, alloc_min_grant = $5,
		alloc_max_grant = $6, alloc_cover_seconds = $7, alloc_idle_seconds = $8 WHERE id = $1`,
		id, set.Policy, set.Buffer, p.LowWater, p.MinGrant, p.MaxGrant, p.CoverSeconds, p.IdleSeconds); err != nil {
		return hub.Store{}, fmt.Errorf("update store: %w", err)
	}
	retargetAll := old != set.Policy
	if retargetAll {
		// Every replica ends this store's session at commit, so that its
		// agent starts over under the new policy.
		if _, err := tx.ExecContext(ctx, `SELECT pg_notify($1, $2)`, SessionChannel, "policy:"+strconv.FormatInt(id, 10)); err != nil {
			return hub.Store{}, fmt.Errorf("announce policy change: %w", err)
		}
	}
	if old == hub.PolicyAllocate && set.Policy != hub.PolicyAllocate {
		if _, err := tx.ExecContext(ctx, `UPDATE reclaims SET status = 'cancelled', settled_at = now() WHERE store_id = $1 AND status = 'pending'`, id); err != nil {
			return hub.Store{}, fmt.Errorf("cancel reclaims: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE store_allocations SET allocated = 0, reclaiming = 0 WHERE store_id = $1`, id); err != nil {
			return hub.Store{}, fmt.Errorf("return allocations: %w", err)
		}
	}
	scope := id
	if retargetAll {
		scope = 0
	}
	if err := retarget(ctx, tx, scope, true); err != nil {
		return hub.Store{}, err
	}
	return loadStore(ctx, tx, id)
}

// Rebalance examines the SKUs where an allocate store is below its
// low-water mark while units are in the pool or held by other stores, or
// where stores hold more than stock (exposure), and grants or reclaims.
// Time alone makes a store idle, so this runs periodically besides the
// rebalancing every stock transaction does for the SKUs it changes.
func (s *AllocationService) Rebalance(ctx context.Context) (int, error) {
	var skus []string
	err := s.db.db.SelectContext(ctx, &skus, `
		WITH st AS (SELECT id, alloc_low_water FROM stores WHERE status = 'active' AND policy = 'allocate' AND connected),
		tot AS (SELECT sku, sum(allocated) AS held, sum(allocated - reclaiming) AS free FROM store_allocations GROUP BY sku)
		SELECT k.sku FROM skus k LEFT JOIN tot ON tot.sku = k.sku
		WHERE EXISTS (SELECT 1 FROM st)
		AND (k.on_hand - k.committed - k.safety_stock - COALESCE(tot.held, 0) < 0
			OR (k.on_hand - k.committed - k.safety_stock - COALESCE(tot.held, 0) > 0 OR COALESCE(tot.free, 0) > 0)
				AND EXISTS (SELECT 1 FROM st LEFT JOIN store_allocations a ON a.store_id = st.id AND a.sku = k.sku
					WHERE COALESCE(a.allocated, 0) < st.alloc_low_water AND COALESCE(a.reclaiming, 0) = 0))
		ORDER BY k.sku`)
	if err != nil {
		return 0, fmt.Errorf("rebalance: find skus: %w", err)
	}
	batch := max(s.Batch, 1)
	for start := 0; start < len(skus); start += batch {
		chunk := skus[start:min(start+batch, len(skus))]
		err := s.db.tx(ctx, "rebalance", nil, func(tx *sqlx.Tx) error {
			st, err := newStockTx(ctx, tx)
			if err != nil {
				return err
			}
			if err := st.lock(chunk, false); err != nil {
				return err
			}
			st.rebalanceAlso = chunk
			return st.finish()
		})
		if err != nil {
			return start, fmt.Errorf("rebalance %d skus: %w", len(chunk), translate(err))
		}
	}
	return len(skus), nil
}

// PendingReclaims returns the store's unsettled reclaims, oldest first.
func (s *OrderService) PendingReclaims(ctx context.Context, storeID int64) ([]hub.Reclaim, error) {
	defer s.db.observe("pending_reclaims", time.Now())
	out := []hub.Reclaim{}
	if err := s.db.db.SelectContext(ctx, &out, `SELECT id, store_id AS storeid, sku, units FROM reclaims
		WHERE store_id = $1 AND status = 'pending' ORDER BY id`, storeID); err != nil {
		return nil, fmt.Errorf("pending reclaims of store %d: %w", storeID, err)
	}
	return out, nil
}

// ConfirmRelease settles a pending reclaim: the released units leave the
// store's allocation (they already left its shelf, so nothing is echoed)
// and return to the pool, and the rest of the request lapses (the store
// had sold those units; its orders count them). A release for a reclaim
// cancelled meanwhile (the store left allocate) is compensated with an
// event that puts the units back on its shelf.
func (s *OrderService) ConfirmRelease(ctx context.Context, storeID int64, rel hub.Release) error {
	if rel.Released < 0 {
		return hub.FieldErrorf("released", hub.EINVALID, "released must not be negative.")
	}
	err := s.db.tx(ctx, "confirm_release", nil, func(tx *sqlx.Tx) error {
		st, err := newStockTx(ctx, tx)
		if err != nil {
			return err
		}
		var rc struct {
			SKU    string `db:"sku"`
			Units  int64  `db:"units"`
			Status string `db:"status"`
		}
		if err := tx.GetContext(ctx, &rc, `SELECT sku, units, status FROM reclaims WHERE id = $1 AND store_id = $2`, rel.ReclaimID, storeID); err != nil {
			if isNoRows(err) {
				return nil // unknown to this store: nothing to settle
			}
			return fmt.Errorf("load reclaim: %w", err)
		}
		if rc.Status == "confirmed" {
			return nil
		}
		if err := st.lock([]string{rc.SKU}, false); err != nil {
			return err
		}
		// Re-read under the SKU lock: a concurrent confirmation of the same
		// reclaim waited for it.
		if err := tx.GetContext(ctx, &rc.Status, `SELECT status FROM reclaims WHERE id = $1`, rel.ReclaimID); err != nil {
			return fmt.Errorf("reload reclaim: %w", err)
		}
		if rc.Status == "confirmed" {
			return nil
		}
		released := min(rel.Released, rc.Units)
		if rc.Status == "pending" {
			if err := st.loadAlloc([]string{rc.SKU}); err != nil {
				return err
			}
			if st.alloc.stores[storeID] != nil {
				r := st.alloc.row(rc.SKU, storeID)
				r.reclaiming = max(r.reclaiming-rc.Units, 0)
				r.dirty = true
			}
		}
		if _, err := tx.ExecContext(ctx, `UPDATE reclaims SET status = 'confirmed', released = $2, settled_at = now() WHERE id = $1`,
			rel.ReclaimID, released); err != nil {
			return fmt.Errorf("settle reclaim: %w", err)
		}
		st.releasing = true
		st.local[localKey{storeID, rc.SKU}] = -released
		return st.finish()
	})
	if err != nil {
		return fmt.Errorf("confirm release of reclaim %d by store %d: %w", rel.ReclaimID, storeID, translate(err))
	}
	return nil
}
