package postgres_test

import (
	"context"
	"testing"

	"golang.org/x/sync/errgroup"

	"github.com/stockwire/stockwire/hub/postgres"
	"github.com/stockwire/stockwire/hub/postgres/postgrestest"
	"github.com/stockwire/stockwire/shared/pgtest"
)

func TestMain(m *testing.M) { postgrestest.MainNoLeaks(m) }

// MustOpen opens a fresh migrated database.
func MustOpen(tb testing.TB) *postgres.DB {
	tb.Helper()
	db, _ := MustOpenDSN(tb)
	return db
}

// MustOpenDSN opens a fresh migrated database and returns its DSN too.
func MustOpenDSN(tb testing.TB) (*postgres.DB, string) {
	tb.Helper()
	dsn := pgtest.NewDB(tb)
	db, err := postgres.Open(context.Background(), dsn, pgtest.Logger(tb))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	return db, dsn
}

func TestDB_MigrateConcurrently(t *testing.T) {
	t.Parallel()
	dsn := pgtest.NewEmptyDB(t)
	var g errgroup.Group
	for range 2 {
		g.Go(func() error {
			db, err := postgres.Open(t.Context(), dsn, pgtest.Logger(t))
			if err != nil {
				return err
			}
			defer db.Close()
			if err := db.Migrate(t.Context()); err != nil {
				return err
			}
			return db.Migrate(t.Context())
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	db, err := postgres.Open(t.Context(), dsn, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Ping(t.Context()); err != nil {
		t.Fatal(err)
	}
}
