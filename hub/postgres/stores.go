package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/stockwire/stockwire/hub"
)

var _ hub.StoreService = (*StoreService)(nil)

// StoreService implements hub.StoreService.
type StoreService struct {
	db *DB
}

// NewStoreService returns the store service on db.
func NewStoreService(db *DB) *StoreService { return &StoreService{db: db} }

// withDefaults fills in what a new store leaves out: policy mirror and the
// default allocate parameters.
func withDefaults(s hub.NewStore) hub.NewStore {
	if s.Policy == "" {
		s.Policy = hub.PolicyMirror
	}
	if s.Allocation == nil {
		p := hub.DefaultAllocationParams()
		s.Allocation = &p
	}
	return s
}

// Create adds a store and returns its agent credential, shown once.
func (s *StoreService) Create(ctx context.Context, ns hub.NewStore) (hub.Store, string, error) {
	ns = withDefaults(ns)
	if err := ns.Validate(); err != nil {
		return hub.Store{}, "", err
	}
	var st hub.Store
	var cred string
	err := s.db.tx(ctx, "create_store", nil, func(tx *sqlx.Tx) error {
		var err error
		st, cred, err = createStore(ctx, tx, ns)
		return err
	})
	if err != nil {
		return hub.Store{}, "", fmt.Errorf("create store %q: %w", ns.Name, translateStoreErr(err))
	}
	return st, cred, nil
}

func translateStoreErr(err error) error {
	if isUniqueViolation(err) {
		return hub.FieldErrorf("name", hub.ECONFLICT, "A store with this name exists.")
	}
	return translate(err)
}

// createStore inserts the store, its credential, its sequence and a target
// for every SKU (no events: the agent's first connection gets a snapshot).
func createStore(ctx context.Context, tx *sqlx.Tx, ns hub.NewStore) (hub.Store, string, error) {
	if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, lockStores); err != nil {
		return hub.Store{}, "", fmt.Errorf("lock stores: %w", err)
	}
	var id int64
	p := ns.Allocation
	if err := tx.GetContext(ctx, &id, `INSERT INTO stores (name, url, policy, buffer, alloc_low_water, alloc_min_grant, alloc_max_grant,
			alloc_cover_seconds, alloc_idle_seconds) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id`,
		ns.Name, ns.URL, ns.Policy, ns.Buffer, p.LowWater, p.MinGrant, p.MaxGrant, p.CoverSeconds, p.IdleSeconds); err != nil {
		return hub.Store{}, "", err
	}
	cred, hash := newToken(hub.StoreCredentialPrefix)
	if _, err := tx.ExecContext(ctx, `INSERT INTO store_credentials (token_hash, store_id) VALUES ($1, $2)`, hash, id); err != nil {
		return hub.Store{}, "", fmt.Errorf("store credential: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO store_seq (store_id) VALUES ($1)`, id); err != nil {
		return hub.Store{}, "", fmt.Errorf("store sequence: %w", err)
	}
	if err := retarget(ctx, tx, id, false); err != nil {
		return hub.Store{}, "", err
	}
	st, err := loadStore(ctx, tx, id)
	return st, cred, err
}

// retarget recomputes every SKU's target for one store. The caller holds the
// stores lock exclusively, so no stock transaction is in flight.
func retarget(ctx context.Context, tx *sqlx.Tx, storeID int64, withEvents bool) error {
	var rows []skuRow
	if err := tx.SelectContext(ctx, &rows, `SELECT sku, on_hand, committed, safety_stock FROM skus ORDER BY sku`); err != nil {
		return fmt.Errorf("load skus: %w", err)
	}
	st := newStockTxLocked(ctx, nil, tx)
	names := make([]string, len(rows))
	for i := range rows {
		st.skus[rows[i].SKU] = &rows[i]
		names[i] = rows[i].SKU
	}
	return st.publish(names, storeID, withEvents)
}

const storeCols = `s.id, s.name, s.url, s.policy, s.buffer, s.status, s.created_at, s.epoch, s.edit_location,
	s.connected, s.last_seen, s.applied_seq, s.outbox_depth, s.dead_letters, s.webhook_health, s.edits_reverted, s.replica, COALESCE(q.head, 0),
	s.alloc_low_water, s.alloc_min_grant, s.alloc_max_grant, s.alloc_cover_seconds, s.alloc_idle_seconds`

func scanStore(sc interface{ Scan(...any) error }) (hub.Store, error) {
	var st hub.Store
	var last *time.Time
	err := sc.Scan(&st.ID, &st.Name, &st.URL, &st.Policy, &st.Buffer, &st.Status, &st.CreatedAt, &st.Epoch, &st.EditLocation,
		&st.Agent.Connected, &last, &st.Agent.AppliedSeq, &st.Agent.OutboxDepth, &st.Agent.DeadLetters, &st.Agent.WebhookHealth, &st.Agent.EditsReverted, &st.Agent.Replica, &st.Agent.HeadSeq,
		&st.Allocation.LowWater, &st.Allocation.MinGrant, &st.Allocation.MaxGrant, &st.Allocation.CoverSeconds, &st.Allocation.IdleSeconds)
	if err != nil {
		return hub.Store{}, err
	}
	st.Agent.LastSeen = last
	st.Agent.SeqLag = max(st.Agent.HeadSeq-st.Agent.AppliedSeq, 0)
	return st, nil
}

func loadStore(ctx context.Context, q sqlx.QueryerContext, id int64) (hub.Store, error) {
	st, err := scanStore(q.QueryRowxContext(ctx, `SELECT `+storeCols+` FROM stores s LEFT JOIN store_seq q ON q.store_id = s.id WHERE s.id = $1`, id))
	if isNoRows(err) {
		return hub.Store{}, hub.Errorf(hub.ENOTFOUND, "Store %d not found.", id)
	}
	return st, err
}

// Stores lists every store with its agent state.
func (s *StoreService) Stores(ctx context.Context) ([]hub.Store, error) {
	defer s.db.observe("stores", time.Now())
	rows, err := s.db.db.QueryContext(ctx, `SELECT `+storeCols+` FROM stores s LEFT JOIN store_seq q ON q.store_id = s.id ORDER BY s.id`)
	if err != nil {
		return nil, fmt.Errorf("list stores: %w", err)
	}
	defer rows.Close()
	out := []hub.Store{}
	for rows.Next() {
		st, err := scanStore(rows)
		if err != nil {
			return nil, fmt.Errorf("list stores: %w", err)
		}
		out = append(out, st)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list stores: %w", err)
	}
	return out, nil
}

// Store returns one store.
func (s *StoreService) Store(ctx context.Context, id int64) (hub.Store, error) {
	defer s.db.observe("store", time.Now())
	st, err := loadStore(ctx, s.db.db, id)
	if err != nil {
		return hub.Store{}, fmt.Errorf("load store %d: %w", id, translate(err))
	}
	return st, nil
}

// Revoke disables a store and its credential at once.
func (s *StoreService) Revoke(ctx context.Context, id int64) error {
	err := s.db.tx(ctx, "revoke_store", nil, func(tx *sqlx.Tx) error {
		if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, lockStores); err != nil {
			return fmt.Errorf("lock stores: %w", err)
		}
		res, err := tx.ExecContext(ctx, `UPDATE stores SET status = 'revoked', revoked_at = COALESCE(revoked_at, now()), connected = false WHERE id = $1`, id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return hub.Errorf(hub.ENOTFOUND, "Store %d not found.", id)
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM store_credentials WHERE store_id = $1`, id)
		return err
	})
	if err != nil {
		return fmt.Errorf("revoke store %d: %w", id, translate(err))
	}
	return nil
}

// CreateEnrolmentToken returns a one-use join token valid for ttl.
func (s *StoreService) CreateEnrolmentToken(ctx context.Context, ttl time.Duration) (string, time.Time, error) {
	defer s.db.observe("create_enrolment_token", time.Now())
	if ttl <= 0 {
		return "", time.Time{}, hub.FieldErrorf("ttl", hub.EINVALID, "The token lifetime must be positive.")
	}
	tok, hash := newToken(hub.JoinTokenPrefix)
	var exp time.Time
	if err := s.db.db.GetContext(ctx, &exp, `INSERT INTO enrolment_tokens (token_hash, expires_at) VALUES ($1, now() + $2 * interval '1 microsecond') RETURNING expires_at`,
		hash, ttl.Microseconds()); err != nil {
		return "", time.Time{}, fmt.Errorf("create enrolment token: %w", err)
	}
	return tok, exp, nil
}

// Enrol spends a join token and creates the store. A rejected store (bad
// input, taken name) leaves the token unspent.
func (s *StoreService) Enrol(ctx context.Context, joinToken string, ns hub.NewStore) (hub.Store, string, error) {
	ns = withDefaults(ns)
	if err := ns.Validate(); err != nil {
		return hub.Store{}, "", err
	}
	var st hub.Store
	var cred string
	err := s.db.tx(ctx, "enrol", nil, func(tx *sqlx.Tx) error {
		var hash string
		err := tx.GetContext(ctx, &hash, `UPDATE enrolment_tokens SET used_at = now()
			WHERE token_hash = $1 AND used_at IS NULL AND expires_at > now() RETURNING token_hash`, hashToken(joinToken))
		if isNoRows(err) {
			return hub.Errorf(hub.EUNAUTHORIZED, "Unknown, used or expired enrolment token.")
		} else if err != nil {
			return fmt.Errorf("spend token: %w", err)
		}
		st, cred, err = createStore(ctx, tx, ns)
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `UPDATE enrolment_tokens SET store_id = $2 WHERE token_hash = $1`, hash, st.ID)
		return err
	})
	if err != nil {
		return hub.Store{}, "", fmt.Errorf("enrol store %q: %w", ns.Name, translateStoreErr(err))
	}
	return st, cred, nil
}

// AuthenticateAgent returns the active store owning the credential.
func (s *StoreService) AuthenticateAgent(ctx context.Context, token string) (hub.Store, error) {
	defer s.db.observe("authenticate_agent", time.Now())
	var id int64
	err := s.db.db.GetContext(ctx, &id, `SELECT c.store_id FROM store_credentials c JOIN stores s ON s.id = c.store_id
		WHERE c.token_hash = $1 AND s.status = 'active'`, hashToken(token))
	if isNoRows(err) {
		return hub.Store{}, hub.Errorf(hub.EUNAUTHORIZED, "Invalid agent credential.")
	} else if err != nil {
		return hub.Store{}, fmt.Errorf("authenticate agent: %w", err)
	}
	st, err := loadStore(ctx, s.db.db, id)
	if err != nil {
		return hub.Store{}, fmt.Errorf("authenticate agent: %w", translate(err))
	}
	return st, nil
}
