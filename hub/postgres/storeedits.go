package postgres

import (
	"context"
	"fmt"
	"strconv"

	"github.com/jmoiron/sqlx"

	"github.com/stockwire/stockwire/hub"
)

var _ hub.StoreEditService = (*OrderService)(nil)

// storeEditReason is the ledger reason of an accepted hand edit.
const storeEditReason = "store_edit"

// ApplyStoreEdit counts a hand edit a store's agent accepted: To−From on
// the SKU's on hand at the store's edit location, once per edit ID (the
// ledger's idempotency key names the store and the ID). The store's own
// shelf already shows the edit, so it is recorded as the store's local
// effect: its change carries no delta, as for its own sales, while every
// other store gets the difference.
func (s *OrderService) ApplyStoreEdit(ctx context.Context, storeID int64, e hub.StoreEdit) (hub.LedgerEntry, error) {
	if err := checkStoreEdit(e); err != nil {
		return hub.LedgerEntry{}, fmt.Errorf("store edit of %s: %w", e.SKU, err)
	}
	key := "store_edit:" + strconv.FormatInt(storeID, 10) + ":" + e.ID
	var id int64
	err := s.db.tx(ctx, "store_edit", nil, func(tx *sqlx.Tx) error {
		st, err := newStockTx(ctx, s.db, tx)
		if err != nil {
			return err
		}
		// The shared stores lock serialises this with store changes; the
		// SKU lock below serialises repeats of one edit.
		var store struct {
			Status       string `db:"status"`
			EditLocation string `db:"edit_location"`
		}
		if err := tx.GetContext(ctx, &store, `SELECT status, edit_location FROM stores WHERE id = $1`, storeID); err != nil {
			if isNoRows(err) {
				return hub.Errorf(hub.ENOTFOUND, "Store %d not found.", storeID)
			}
			return fmt.Errorf("load store: %w", err)
		}
		if err := st.lock([]string{e.SKU}, false); err != nil {
			return err
		}
		if st.skus[e.SKU] == nil {
			return hub.FieldErrorf("sku", hub.ENOTFOUND, "Unknown SKU %q.", e.SKU)
		}
		err = tx.GetContext(ctx, &id, `SELECT id FROM ledger WHERE idempotency_key = $1`, key)
		if err == nil {
			return nil // counted before
		} else if !isNoRows(err) {
			return fmt.Errorf("look up store edit: %w", err)
		}
		delta := e.To - e.From
		before, err := st.onHandAt(e.SKU, store.EditLocation)
		if err != nil {
			return err
		}
		after := max(before+delta, 0)
		ref := "store:" + strconv.FormatInt(storeID, 10)
		if err := st.writeOnHand(e.SKU, store.EditLocation, before, after,
			ledgerRow{reason: storeEditReason, reference: ref, key: key, actor: "agent:" + ref}); err != nil {
			return err
		}
		if store.Status == string(hub.StoreActive) {
			st.local[localKey{storeID, e.SKU}] += delta
		}
		if err := st.finish(); err != nil {
			return err
		}
		return tx.GetContext(ctx, &id, `SELECT id FROM ledger WHERE idempotency_key = $1`, key)
	})
	if err != nil {
		return hub.LedgerEntry{}, fmt.Errorf("store %d edit of %s: %w", storeID, e.SKU, translate(err))
	}
	var entry hub.LedgerEntry
	if err := s.db.db.GetContext(ctx, &entry, `SELECT `+ledgerCols+` FROM ledger WHERE id = $1`, id); err != nil {
		return hub.LedgerEntry{}, fmt.Errorf("read ledger entry %d: %w", id, translate(err))
	}
	return entry, nil
}

// checkStoreEdit refuses an edit the hub can never count.
func checkStoreEdit(e hub.StoreEdit) error {
	if err := hub.ValidateName("sku", e.SKU); err != nil {
		return err
	}
	if e.ID == "" || len(e.ID) > 64 {
		return hub.FieldErrorf("id", hub.EINVALID, "A store edit needs an id of 1 to 64 bytes.")
	}
	if e.From == e.To {
		return hub.FieldErrorf("to", hub.EINVALID, "A store edit must change stock.")
	}
	if e.To < 0 {
		return hub.FieldErrorf("to", hub.EINVALID, "A store edit cannot set stock below 0.")
	}
	return nil
}
