package postgres

import (
	"context"
	"fmt"
	"strconv"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/stockwire/stockwire/hub"
)

var _ hub.SKUAliasService = (*StoreService)(nil)

// MaxAliases bounds one store's aliases.
const MaxAliases = 200_000

// SetAliases replaces the store's aliases in one transaction, draws a new
// epoch for its sequence (the names its agent knows change) and ends its
// session at commit, so that the agent starts over with a snapshot under
// the new names.
func (s *StoreService) SetAliases(ctx context.Context, storeID int64, aliases []hub.SKUAlias) error {
	if err := checkAliases(aliases); err != nil {
		return err
	}
	storeSKUs := make([]string, len(aliases))
	skus := make([]string, len(aliases))
	for i, a := range aliases {
		storeSKUs[i], skus[i] = a.StoreSKU, a.SKU
	}
	err := s.db.tx(ctx, "set_aliases", nil, func(tx *sqlx.Tx) error {
		if _, err := drawEpoch(ctx, tx, storeID); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM sku_aliases WHERE store_id = $1`, storeID); err != nil {
			return fmt.Errorf("delete aliases: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO sku_aliases (store_id, store_sku, sku)
			SELECT $1, a, b FROM unnest($2::text[], $3::text[]) AS v(a, b)`, storeID, pq.Array(storeSKUs), pq.Array(skus)); err != nil {
			return fmt.Errorf("insert aliases: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `SELECT pg_notify($1, $2)`, SessionChannel, "restart:"+strconv.FormatInt(storeID, 10)); err != nil {
			return fmt.Errorf("announce: %w", err)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("set aliases of store %d: %w", storeID, translate(err))
	}
	return nil
}

// checkAliases refuses a name the hub would refuse as a SKU, and a name
// twice on either side: a translation must go both ways.
func checkAliases(aliases []hub.SKUAlias) error {
	if len(aliases) > MaxAliases {
		return hub.FieldErrorf("aliases", hub.EINVALID, "At most %d aliases per store.", MaxAliases)
	}
	storeSeen := make(map[string]bool, len(aliases))
	hubSeen := make(map[string]bool, len(aliases))
	for i, a := range aliases {
		if err := hub.ValidateName("store_sku", a.StoreSKU); err != nil {
			return hub.FieldErrorf("aliases", hub.EINVALID, "Alias %d: %s", i+1, hub.ErrorMessage(err))
		}
		if err := hub.ValidateName("sku", a.SKU); err != nil {
			return hub.FieldErrorf("aliases", hub.EINVALID, "Alias %d: %s", i+1, hub.ErrorMessage(err))
		}
		if storeSeen[a.StoreSKU] {
			return hub.FieldErrorf("aliases", hub.EINVALID, "Alias %d: store SKU %q is given twice.", i+1, a.StoreSKU)
		}
		if hubSeen[a.SKU] {
			return hub.FieldErrorf("aliases", hub.EINVALID, "Alias %d: SKU %q is given twice.", i+1, a.SKU)
		}
		storeSeen[a.StoreSKU], hubSeen[a.SKU] = true, true
	}
	return nil
}

// Aliases lists the store's aliases by store SKU.
func (s *StoreService) Aliases(ctx context.Context, storeID int64) ([]hub.SKUAlias, error) {
	var exists bool
	if err := s.db.db.GetContext(ctx, &exists, `SELECT EXISTS (SELECT 1 FROM stores WHERE id = $1)`, storeID); err != nil {
		return nil, fmt.Errorf("aliases of store %d: %w", storeID, translate(err))
	}
	if !exists {
		return nil, hub.Errorf(hub.ENOTFOUND, "Store %d not found.", storeID)
	}
	out := []hub.SKUAlias{}
	if err := s.db.db.SelectContext(ctx, &out, `SELECT store_sku AS "storesku", sku AS "sku" FROM sku_aliases WHERE store_id = $1 ORDER BY store_sku`, storeID); err != nil {
		return nil, fmt.Errorf("aliases of store %d: %w", storeID, translate(err))
	}
	return out, nil
}
