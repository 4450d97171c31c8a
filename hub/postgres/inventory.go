package postgres

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/stockwire/stockwire/hub"
)

var _ hub.InventoryService = (*InventoryService)(nil)

// InventoryService implements hub.InventoryService.
type InventoryService struct {
	db *DB
}

// NewInventoryService returns the inventory service on db.
func NewInventoryService(db *DB) *InventoryService { return &InventoryService{db: db} }

func checkCount(prefix string, c hub.Count) error {
	if err := hub.ValidateName(prefix+"sku", c.SKU); err != nil {
		return err
	}
	if err := hub.ValidateName(prefix+"location", c.Location); err != nil {
		return err
	}
	if c.OnHand < 0 {
		return hub.FieldErrorf(prefix+"on_hand", hub.EINVALID, "A count must not be negative.")
	}
	return nil
}

func countReason(c hub.Count) string {
	if c.Reason == "" {
		return "count"
	}
	return c.Reason
}

// SetCount records a physical count of one SKU at one location.
func (s *InventoryService) SetCount(ctx context.Context, c hub.Count) (hub.SKUStock, error) {
	if err := checkCount("", c); err != nil {
		return hub.SKUStock{}, err
	}
	var out hub.SKUStock
	err := s.db.tx(ctx, "set_count", nil, func(tx *sqlx.Tx) error {
		st, err := newStockTx(ctx, s.db, tx)
		if err != nil {
			return err
		}
		if err := st.lock([]string{c.SKU}, true); err != nil {
			return err
		}
		if err := st.setOnHands([]hub.Count{c}, ""); err != nil {
			return err
		}
		if err := st.finish(); err != nil {
			return err
		}
		out, err = loadStock(ctx, tx, c.SKU)
		return err
	})
	if err != nil {
		return hub.SKUStock{}, fmt.Errorf("set count %s@%s: %w", c.SKU, c.Location, translate(err))
	}
	return out, nil
}

// Adjust applies a relative change of on_hand idempotently.
func (s *InventoryService) Adjust(ctx context.Context, a hub.Adjustment) (hub.LedgerEntry, error) {
	if err := hub.ValidateName("sku", a.SKU); err != nil {
		return hub.LedgerEntry{}, err
	}
	if err := hub.ValidateName("location", a.Location); err != nil {
		return hub.LedgerEntry{}, err
	}
	if a.Delta == 0 {
		return hub.LedgerEntry{}, hub.FieldErrorf("delta", hub.EINVALID, "An adjustment must change stock.")
	}
	if err := hub.ValidateIdempotencyKey(a.IdempotencyKey); err != nil {
		return hub.LedgerEntry{}, err
	}
	reason := a.Reason
	if reason == "" {
		reason = "adjustment"
	}
	var id int64
	err := s.db.tx(ctx, "adjust", nil, func(tx *sqlx.Tx) error {
		if a.IdempotencyKey != "" {
			// Serialise users of the same key, then look for an earlier use.
			if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(hashtextextended($1, 7))`, a.IdempotencyKey); err != nil {
				return fmt.Errorf("lock idempotency key: %w", err)
			}
			var prev hub.LedgerEntry
			err := tx.GetContext(ctx, &prev, `SELECT `+ledgerCols+` FROM ledger WHERE idempotency_key = $1`, a.IdempotencyKey)
			if err == nil {
				if prev.SKU != a.SKU || prev.Location != a.Location || prev.After-prev.Before != a.Delta || prev.Reason != reason {
					return hub.FieldErrorf("idempotency_key", hub.ECONFLICT, "This idempotency key was used for a different adjustment.")
				}
				id = prev.ID
				return nil
			} else if !isNoRows(err) {
				return fmt.Errorf("look up idempotency key: %w", err)
			}
		}
		st, err := newStockTx(ctx, s.db, tx)
		if err != nil {
			return err
		}
		if err := st.lock([]string{a.SKU}, a.Delta > 0); err != nil {
			return err
		}
		if st.skus[a.SKU] == nil {
			return hub.FieldErrorf("sku", hub.ENOTFOUND, "Unknown SKU %q.", a.SKU)
		}
		before, err := st.onHandAt(a.SKU, a.Location)
		if err != nil {
			return err
		}
		if before+a.Delta < 0 {
			return hub.FieldErrorf("delta", hub.EINVALID, "The adjustment would make on hand negative (%d on hand).", before)
		}
		if err := st.writeOnHand(a.SKU, a.Location, before, before+a.Delta, ledgerRow{reason: reason, key: a.IdempotencyKey, actor: a.Actor}); err != nil {
			return err
		}
		if err := st.finish(); err != nil {
			return err
		}
		if err := tx.GetContext(ctx, &id, `SELECT currval('ledger_id_seq')`); err != nil {
			return fmt.Errorf("read ledger id: %w", err)
		}
		return nil
	})
	if err != nil {
		return hub.LedgerEntry{}, fmt.Errorf("adjust %s@%s: %w", a.SKU, a.Location, translate(err))
	}
	var e hub.LedgerEntry
	if err := s.db.db.GetContext(ctx, &e, `SELECT `+ledgerCols+` FROM ledger WHERE id = $1`, id); err != nil {
		return hub.LedgerEntry{}, fmt.Errorf("read ledger entry %d: %w", id, translate(err))
	}
	return e, nil
}

// SetSafetyStock sets the units held back from every store.
func (s *InventoryService) SetSafetyStock(ctx context.Context, sku string, n int64, actor string) (hub.SKUStock, error) {
	if err := hub.ValidateName("sku", sku); err != nil {
		return hub.SKUStock{}, err
	}
	if n < 0 {
		return hub.SKUStock{}, hub.FieldErrorf("safety_stock", hub.EINVALID, "Safety stock must not be negative.")
	}
	var out hub.SKUStock
	err := s.db.tx(ctx, "set_safety_stock", nil, func(tx *sqlx.Tx) error {
		st, err := newStockTx(ctx, s.db, tx)
		if err != nil {
			return err
		}
		if err := st.lock([]string{sku}, false); err != nil {
			return err
		}
		if st.skus[sku] == nil {
			return hub.FieldErrorf("sku", hub.ENOTFOUND, "Unknown SKU %q.", sku)
		}
		if st.skus[sku].SafetyStock != n {
			st.setSafety(sku, n, ledgerRow{reason: "safety_stock", actor: actor})
			if err := st.finish(); err != nil {
				return err
			}
		}
		out, err = loadStock(ctx, tx, sku)
		return err
	})
	if err != nil {
		return hub.SKUStock{}, fmt.Errorf("set safety stock %s: %w", sku, translate(err))
	}
	return out, nil
}

// Import applies counts all or nothing.
func (s *InventoryService) Import(ctx context.Context, counts []hub.Count) (int, error) {
	skus := make([]string, 0, len(counts))
	for i, c := range counts {
		if err := checkCount("counts["+strconv.Itoa(i)+"].", c); err != nil {
			return 0, err
		}
		skus = append(skus, c.SKU)
	}
	if len(counts) == 0 {
		return 0, nil
	}
	err := s.db.tx(ctx, "import", nil, func(tx *sqlx.Tx) error {
		// The publish statement sorts and hashes a row per count and
		// store (300,000 for 100,000 counts and 3 stores); at the default
		// 4 MB they spill to disk.
		if _, err := tx.ExecContext(ctx, `SET LOCAL work_mem = '64MB'`); err != nil {
			return fmt.Errorf("set work_mem: %w", err)
		}
		st, err := newStockTx(ctx, s.db, tx)
		if err != nil {
			return err
		}
		if err := st.lock(skus, true); err != nil {
			return err
		}
		if err := st.setOnHands(counts, "import"); err != nil {
			return err
		}
		return st.finish()
	})
	if err != nil {
		return 0, fmt.Errorf("import %d counts: %w", len(counts), translate(err))
	}
	return len(counts), nil
}

// Stock returns one SKU.
func (s *InventoryService) Stock(ctx context.Context, sku string) (hub.SKUStock, error) {
	defer s.db.observe("stock", time.Now())
	out, err := loadStock(ctx, s.db.db, sku)
	if err != nil {
		return hub.SKUStock{}, fmt.Errorf("load stock %s: %w", sku, translate(err))
	}
	return out, nil
}

// ListStock pages SKUs ordered by name; the cursor is the last SKU.
func (s *InventoryService) ListStock(ctx context.Context, p hub.Page) ([]hub.SKUStock, error) {
	defer s.db.observe("list_stock", time.Now())
	limit := pageLimit(p.Limit)
	var rows []skuRow
	if err := s.db.db.SelectContext(ctx, &rows, `SELECT sku, on_hand, committed, safety_stock FROM skus WHERE sku > $1 ORDER BY sku LIMIT $2`, p.After, limit); err != nil {
		return nil, fmt.Errorf("list stock: %w", err)
	}
	out := make([]hub.SKUStock, len(rows))
	names := make([]string, len(rows))
	idx := map[string]int{}
	for i, r := range rows {
		out[i] = stockOf(r)
		names[i] = r.SKU
		idx[r.SKU] = i
	}
	if len(rows) == 0 {
		return out, nil
	}
	var locs []struct {
		SKU      string `db:"sku"`
		Location string `db:"location"`
		OnHand   int64  `db:"on_hand"`
	}
	if err := s.db.db.SelectContext(ctx, &locs, `SELECT sku, location, on_hand FROM stock WHERE sku = ANY($1)`, pq.Array(names)); err != nil {
		return nil, fmt.Errorf("list stock locations: %w", err)
	}
	for _, l := range locs {
		out[idx[l.SKU]].Locations[l.Location] = l.OnHand
	}
	var tg []struct {
		SKU     string `db:"sku"`
		StoreID int64  `db:"store_id"`
		Target  int64  `db:"target"`
	}
	if err := s.db.db.SelectContext(ctx, &tg, `SELECT t.sku, t.store_id, t.target FROM store_targets t JOIN stores s ON s.id = t.store_id
		WHERE s.status = 'active' AND t.sku = ANY($1)`, pq.Array(names)); err != nil {
		return nil, fmt.Errorf("list stock targets: %w", err)
	}
	for _, t := range tg {
		out[idx[t.SKU]].Targets[strconv.FormatInt(t.StoreID, 10)] = t.Target
	}
	var al []struct {
		SKU       string `db:"sku"`
		StoreID   int64  `db:"store_id"`
		Allocated int64  `db:"allocated"`
	}
	if err := s.db.db.SelectContext(ctx, &al, `SELECT sku, store_id, allocated FROM store_allocations WHERE sku = ANY($1) AND allocated <> 0`, pq.Array(names)); err != nil {
		return nil, fmt.Errorf("list stock allocations: %w", err)
	}
	for _, a := range al {
		addAllocated(&out[idx[a.SKU]], a.StoreID, a.Allocated)
	}
	return out, nil
}

// Ledger pages ledger entries by id, optionally for one SKU.
func (s *InventoryService) Ledger(ctx context.Context, sku string, p hub.Page) ([]hub.LedgerEntry, error) {
	defer s.db.observe("ledger", time.Now())
	var after int64
	if p.After != "" {
		v, err := strconv.ParseInt(p.After, 10, 64)
		if err != nil || v < 0 {
			return nil, hub.FieldErrorf("after", hub.EINVALID, "Bad cursor.")
		}
		after = v
	}
	out := []hub.LedgerEntry{}
	if err := s.db.db.SelectContext(ctx, &out, `SELECT `+ledgerCols+` FROM ledger WHERE id > $1 AND ($2 = '' OR sku = $2) ORDER BY id LIMIT $3`,
		after, sku, pageLimit(p.Limit)); err != nil {
		return nil, fmt.Errorf("list ledger: %w", err)
	}
	return out, nil
}

const ledgerCols = `id AS "id", sku AS "sku", location AS "location", quantity AS "quantity", before AS "before", after AS "after",
	reason AS "reason", reference AS "reference", COALESCE(idempotency_key, '') AS "idempotencykey", actor AS "actor", created_at AS "createdat"`

func pageLimit(n int) int {
	if n <= 0 || n > 1000 {
		if n <= 0 {
			return 100
		}
		return 1000
	}
	return n
}

func stockOf(r skuRow) hub.SKUStock {
	return hub.SKUStock{
		SKU: r.SKU, OnHand: r.OnHand, Committed: r.Committed, SafetyStock: r.SafetyStock,
		Available: r.available(), Locations: map[string]int64{}, Targets: map[string]int64{},
		Allocated: map[string]int64{}, Pool: r.available(),
	}
}

// addAllocated records one store's allocation in st: the pool shrinks by
// it, and exposure is how far the pool is below zero.
func addAllocated(st *hub.SKUStock, storeID, n int64) {
	if n != 0 {
		st.Allocated[strconv.FormatInt(storeID, 10)] = n
	}
	st.Pool -= n
	st.Exposure = max(-st.Pool, 0)
}

func loadStock(ctx context.Context, q sqlx.QueryerContext, sku string) (hub.SKUStock, error) {
	var r skuRow
	if err := sqlx.GetContext(ctx, q, &r, `SELECT sku, on_hand, committed, safety_stock FROM skus WHERE sku = $1`, sku); err != nil {
		if isNoRows(err) {
			return hub.SKUStock{}, hub.FieldErrorf("sku", hub.ENOTFOUND, "Unknown SKU %q.", sku)
		}
		return hub.SKUStock{}, err
	}
	out := stockOf(r)
	rows, err := q.QueryxContext(ctx, `SELECT location, on_hand FROM stock WHERE sku = $1`, sku)
	if err != nil {
		return hub.SKUStock{}, err
	}
	for rows.Next() {
		var loc string
		var n int64
		if err := rows.Scan(&loc, &n); err != nil {
			rows.Close()
			return hub.SKUStock{}, err
		}
		out.Locations[loc] = n
	}
	rows.Close()
	rows, err = q.QueryxContext(ctx, `SELECT t.store_id, t.target FROM store_targets t JOIN stores s ON s.id = t.store_id WHERE s.status = 'active' AND t.sku = $1`, sku)
	if err != nil {
		return hub.SKUStock{}, err
	}
	for rows.Next() {
		var id, t int64
		if err := rows.Scan(&id, &t); err != nil {
			rows.Close()
			return hub.SKUStock{}, err
		}
		out.Targets[strconv.FormatInt(id, 10)] = t
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return hub.SKUStock{}, err
	}
	rows, err = q.QueryxContext(ctx, `SELECT store_id, allocated FROM store_allocations WHERE sku = $1 AND allocated <> 0`, sku)
	if err != nil {
		return hub.SKUStock{}, err
	}
	defer rows.Close()
	for rows.Next() {
		var id, n int64
		if err := rows.Scan(&id, &n); err != nil {
			return hub.SKUStock{}, err
		}
		addAllocated(&out, id, n)
	}
	return out, rows.Err()
}
