// Package postgrestest runs the hub's tests on shared/pgtest's throwaway
// PostgreSQL with the hub's schema: each test gets a fresh, migrated
// database.
//
//	func TestMain(m *testing.M) { postgrestest.Main(m) }
package postgrestest

import (
	"context"
	"testing"

	"github.com/stockwire/stockwire/hub/postgres"
	"github.com/stockwire/stockwire/shared/pgtest"
)

// Main runs the package's tests on a cluster whose template database holds
// the hub's schema, so that pgtest.NewDB returns a migrated database.
func Main(m *testing.M) { pgtest.Main(m, Migrate) }

// Migrate applies the hub's migrations to the database at dsn.
func Migrate(ctx context.Context, dsn string) error {
	db, err := postgres.Open(ctx, dsn, nil)
	if err != nil {
		return err
	}
	defer db.Close()
	return db.Migrate(ctx)
}
