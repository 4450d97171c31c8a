package postgres

import (
	"context"
	"crypto/subtle"
	"fmt"
	"time"

	"github.com/stockwire/stockwire/hub"
)

var _ hub.AdminAuth = (*AdminAuth)(nil)

// AdminAuth implements hub.AdminAuth with one admin token, stored hashed.
type AdminAuth struct {
	db *DB
}

// NewAdminAuth returns the admin token check on db.
func NewAdminAuth(db *DB) *AdminAuth { return &AdminAuth{db: db} }

// Ensure sets up the admin token. A given token replaces the stored one
// (its hash); with none given and none stored it generates one, stores its
// hash and returns it in clear for the caller to print once; otherwise it
// returns "". Returns EINVALID, changing nothing, for a given token that
// hub.ValidateAdminToken refuses.
func (a *AdminAuth) Ensure(ctx context.Context, token string) (string, error) {
	defer a.db.observe("ensure_admin_token", time.Now())
	if token != "" {
		if err := hub.ValidateAdminToken(token); err != nil {
			return "", fmt.Errorf("set admin token: %w", err)
		}
		if _, err := a.db.db.ExecContext(ctx, `INSERT INTO admin_token (id, token_hash) VALUES (1, $1)
			ON CONFLICT (id) DO UPDATE SET token_hash = EXCLUDED.token_hash, created_at = now()`, hashToken(token)); err != nil {
			return "", fmt.Errorf("store admin token: %w", err)
		}
		return "", nil
	}
	tok, hash := newToken(hub.AdminTokenPrefix)
	res, err := a.db.db.ExecContext(ctx, `INSERT INTO admin_token (id, token_hash) VALUES (1, $1) ON CONFLICT (id) DO NOTHING`, hash)
	if err != nil {
		return "", fmt.Errorf("create admin token: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return "", nil // one exists (maybe another replica just made it)
	}
	return tok, nil
}

// CheckAdminToken returns EUNAUTHORIZED unless token is the admin token.
func (a *AdminAuth) CheckAdminToken(ctx context.Context, token string) error {
	defer a.db.observe("check_admin_token", time.Now())
	var stored string
	err := a.db.db.GetContext(ctx, &stored, `SELECT token_hash FROM admin_token WHERE id = 1`)
	if isNoRows(err) || token == "" {
		return hub.Errorf(hub.EUNAUTHORIZED, "Invalid admin token.")
	} else if err != nil {
		return fmt.Errorf("check admin token: %w", err)
	}
	if subtle.ConstantTimeCompare([]byte(stored), []byte(hashToken(token))) != 1 {
		return hub.Errorf(hub.EUNAUTHORIZED, "Invalid admin token.")
	}
	return nil
}
