package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/stockwire/stockwire/hub"
)

// The order service is also the link's hub.ReclaimService: a release, like
// an order, is a store's report of stock leaving its shelf.
var _ hub.ReclaimService = (*OrderService)(nil)

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
		st, err := newStockTx(ctx, s.db, tx)
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
				r.Reclaiming = max(r.Reclaiming-rc.Units, 0)
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
