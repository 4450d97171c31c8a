// Package postgrestest runs the hub's tests on shared/pgtest's throwaway
// PostgreSQL with the hub's schema: each test gets a fresh, migrated
// database.
//
//	func TestMain(m *testing.M) { postgrestest.Main(m) }
//
// or postgrestest.MainNoLeaks(m) to also fail on goroutines left behind.
package postgrestest

import (
	"context"
	"fmt"
	"os"
	"testing"

	"go.uber.org/goleak"

	"github.com/stockwire/stockwire/hub/postgres"
	"github.com/stockwire/stockwire/shared/pgtest"
)

// Main runs the package's tests on a cluster whose template database holds
// the hub's schema, so that pgtest.NewDB returns a migrated database.
func Main(m *testing.M) { pgtest.Main(m, Migrate) }

// MainNoLeaks is Main, and fails the run if goroutines are left once the
// tests have ended (goleak): whatever a package starts, its Close must
// stop and wait for.
func MainNoLeaks(m *testing.M, opts ...goleak.Option) {
	pgtest.Main(leakCheck{m: m, opts: opts}, Migrate)
}

// leakCheck runs the tests, then looks for goroutines left behind.
type leakCheck struct {
	m    *testing.M
	opts []goleak.Option
}

func (l leakCheck) Run() int {
	// What runs already (the test cluster's watcher, stopped after this
	// check) is pgtest's, and so is the watcher of the fsync cluster that
	// benchmarks start on demand.
	opts := append(l.opts, goleak.IgnoreCurrent(),
		goleak.IgnoreAnyFunction("github.com/stockwire/stockwire/shared/pgcluster.reapWatcher"))
	code := l.m.Run()
	if code != 0 {
		return code
	}
	if err := goleak.Find(opts...); err != nil {
		fmt.Fprintln(os.Stderr, "goleak: goroutines left after the tests:", err)
		return 1
	}
	return 0
}

// Migrate applies the hub's migrations to the database at dsn.
func Migrate(ctx context.Context, dsn string) error {
	db, err := postgres.Open(ctx, dsn, nil)
	if err != nil {
		return err
	}
	defer db.Close()
	return db.Migrate(ctx)
}
