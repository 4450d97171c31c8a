package postgres

import (
	"context"
	"fmt"
	"strconv"

	"github.com/jmoiron/sqlx"

	"github.com/stockwire/stockwire/hub"
)

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
		alloc_max_grant = $6, alloc_cover_seconds = $7, alloc_idle_seconds = $8, edit_location = COALESCE(NULLIF($9, ''), edit_location) WHERE id = $1`,
		id, set.Policy, set.Buffer, p.LowWater, p.MinGrant, p.MaxGrant, p.CoverSeconds, p.IdleSeconds, set.EditLocation); err != nil {
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
			st, err := newStockTx(ctx, s.db, tx)
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
