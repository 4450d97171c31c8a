package postgres

import (
	"fmt"
	"sort"
	"time"

	"github.com/lib/pq"

	"github.com/stockwire/stockwire/hub"
)

// Allocate policy in a stock transaction. Per SKU and allocate store,
// store_allocations holds what the store was granted and has not sold or
// released. Every stock transaction (stockTx.finish) loads the allocations
// of the SKUs it changes, applies each selling store's local effect to its
// allocation (a sale or a release lowers it, a restock raises it), then
// rebalances: hub.PlanAllocation decides the grants from the pool to
// stores below their low-water mark and, when the pool cannot cover them,
// the reclaims from idle stores. The SKU row locks serialise all of this
// per SKU. A deferred constraint trigger (migration 003) refuses at commit
// any grant that would make Σ allocated + committed exceed on_hand −
// safety_stock.

// allocStore is one active allocate store as the rebalancer sees it.
type allocStore struct {
	id        int64
	connected bool
	params    hub.AllocationParams
}

// allocRow is one store_allocations row: the store's hub.Holding (its
// store fields unset) and the running totals of what it was granted and
// sold beyond its allocation.
type allocRow struct {
	hub.Holding
	granted  int64
	oversold int64
	dirty    bool
}

// holding is the row as the policy sees it, with st's fields.
func (r *allocRow) holding(st *allocStore) hub.Holding {
	h := r.Holding
	h.Connected, h.Params = st.connected, st.params
	return h
}

// allocState is a stock transaction's view of the allocate policy.
type allocState struct {
	stores   map[int64]*allocStore          // active allocate stores; nil until loaded
	rows     map[string]map[int64]*allocRow // by SKU, then store
	reclaims []newReclaim
}

// newReclaim is a reclaim decided in this transaction.
type newReclaim struct {
	sku string
	hub.PlannedReclaim
}

func (a *allocState) row(sku string, storeID int64) *allocRow {
	m := a.rows[sku]
	if m == nil {
		m = map[int64]*allocRow{}
		a.rows[sku] = m
	}
	r := m[storeID]
	if r == nil {
		r = &allocRow{Holding: hub.Holding{StoreID: storeID}}
		m[storeID] = r
	}
	return r
}

// held is Σ allocated of sku over every store.
func (a *allocState) held(sku string) int64 {
	var n int64
	for _, r := range a.rows[sku] {
		n += r.Allocated
	}
	return n
}

// loadAlloc reads the active allocate stores (once) and the allocation rows
// of the given SKUs not read yet, in one statement. The SKUs are locked by
// the caller or the stores lock is held exclusively.
func (s *stockTx) loadAlloc(skus []string) error {
	a := &s.alloc
	withStores := a.stores == nil
	if withStores {
		a.stores = map[int64]*allocStore{}
		a.rows = map[string]map[int64]*allocRow{}
	}
	var want []string
	for _, k := range skus {
		if _, ok := a.rows[k]; !ok {
			want = append(want, k)
			a.rows[k] = map[int64]*allocRow{}
		}
	}
	if !withStores && len(want) == 0 {
		return nil
	}
	q := `SELECT store_id, sku, allocated, reclaiming, granted, oversold, sales_rate, rate_at, last_sale_at, granted_at,
			false AS connected, 0 AS lowwater, 0 AS mingrant, 0 AS maxgrant, 0 AS coverseconds, 0 AS idleseconds
		FROM store_allocations WHERE sku = ANY($1)`
	if withStores {
		// A store's row has no SKU.
		q = `SELECT id AS store_id, NULL AS sku, 0 AS allocated, 0 AS reclaiming, 0 AS granted, 0 AS oversold, 0 AS sales_rate,
				'epoch'::timestamptz AS rate_at, NULL AS last_sale_at, NULL AS granted_at,
				connected, alloc_low_water AS lowwater, alloc_min_grant AS mingrant, alloc_max_grant AS maxgrant,
				alloc_cover_seconds AS coverseconds, alloc_idle_seconds AS idleseconds
			FROM stores WHERE status = 'active' AND policy = 'allocate'
			UNION ALL ` + q
	}
	var rows []struct {
		StoreID    int64      `db:"store_id"`
		SKU        *string    `db:"sku"`
		Allocated  int64      `db:"allocated"`
		Reclaiming int64      `db:"reclaiming"`
		Granted    int64      `db:"granted"`
		Oversold   int64      `db:"oversold"`
		Rate       float64    `db:"sales_rate"`
		RateAt     time.Time  `db:"rate_at"`
		LastSale   *time.Time `db:"last_sale_at"`
		GrantedAt  *time.Time `db:"granted_at"`
		Connected  bool       `db:"connected"`
		hub.AllocationParams
	}
	if err := s.tx.selectInto(s.ctx, &rows, q, pq.Array(want)); err != nil {
		return fmt.Errorf("load allocate stores and allocations: %w", err)
	}
	for _, r := range rows {
		if r.SKU == nil {
			a.stores[r.StoreID] = &allocStore{id: r.StoreID, connected: r.Connected, params: r.AllocationParams}
			continue
		}
		row := a.row(*r.SKU, r.StoreID)
		row.Allocated, row.Reclaiming, row.granted, row.oversold = r.Allocated, r.Reclaiming, r.Granted, r.Oversold
		row.SalesRate, row.RateAt = r.Rate, r.RateAt
		if r.LastSale != nil {
			row.LastSale = *r.LastSale
		}
		if r.GrantedAt != nil {
			row.GrantedAt = *r.GrantedAt
		}
	}
	return nil
}

// applyLocal moves the stores' local effects (their own sales, restocks or
// releases, already done to their shelves) into their allocations. A sale
// beyond the allocation is counted as oversold, never hidden, and never
// compensated upwards.
func (s *stockTx) applyLocal(now time.Time) {
	for k, v := range s.local {
		if v == 0 || s.alloc.stores[k.store] == nil {
			continue
		}
		r := s.alloc.row(k.sku, k.store)
		if over := r.TakeLocal(v, v < 0 && !s.releasing, now); over > 0 {
			// The store showed more than the hub granted it. Count it,
			// and echo only what the allocation covered: a compensating
			// event would put the excess back on its shelf.
			r.oversold += over
			s.local[k] = v + over
		}
		r.dirty = true
	}
}

// rebalance applies hub.PlanAllocation to skus (all locked and loaded):
// grants move units from the pool into allocations at once, reclaims are
// written for the agents to run.
func (s *stockTx) rebalance(skus []string, now time.Time) {
	a := &s.alloc
	if len(a.stores) == 0 {
		return
	}
	for _, k := range skus {
		sk := s.skus[k]
		if sk == nil {
			continue
		}
		holdings := make([]hub.Holding, 0, len(a.stores))
		for id, st := range a.stores {
			holdings = append(holdings, a.row(k, id).holding(st))
		}
		plan := hub.PlanAllocation(sk.available()-a.held(k), holdings, now)
		for _, g := range plan.Grants {
			r := a.row(k, g.StoreID)
			r.Allocated += g.Units
			r.granted += g.Units
			r.GrantedAt = now
			r.dirty = true
		}
		for _, rc := range plan.Reclaims {
			r := a.row(k, rc.StoreID)
			r.Reclaiming += rc.Units
			r.dirty = true
			a.reclaims = append(a.reclaims, newReclaim{sku: k, PlannedReclaim: rc})
		}
	}
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
			if r.RateAt.IsZero() {
				r.RateAt = time.Now()
			}
			stores, skus = append(stores, id), append(skus, k)
			allocated, reclaiming, granted, oversold = append(allocated, r.Allocated), append(reclaiming, r.Reclaiming), append(granted, r.granted), append(oversold, r.oversold)
			rates, rateAt = append(rates, r.SalesRate), append(rateAt, ts(r.RateAt))
			lastSale, grantedAt = append(lastSale, ts(r.LastSale)), append(grantedAt, ts(r.GrantedAt))
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
		ids[i], rskus[i], units[i], reasons[i] = rc.StoreID, rc.sku, rc.Units, rc.Reason
		if !seen[rc.StoreID] {
			seen[rc.StoreID] = true
			notify = append(notify, rc.StoreID)
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
			stores, names, allocated = append(stores, id), append(names, k), append(allocated, r.Allocated)
		}
	}
	return stores, names, allocated
}
