package postgres_test

import (
	"testing"
)

// MustTerminateBackends ends every other server process on the test's
// database, as a PostgreSQL restart or a failover would.
func (e *env) MustTerminateBackends(tb testing.TB) {
	tb.Helper()
	e.MustSQL(tb, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
		WHERE datname = current_database() AND pid <> pg_backend_pid()`)
}

// The events query is prepared once, on the pool: a lost connection must
// not leave it failing. The first read after the backends died already
// works (database/sql prepares it again on a new connection).
func TestEventService_ReadsAfterConnectionsLost(t *testing.T) {
	t.Parallel()
	e := MustEnv(t)
	st := e.MustStore(t, "eu", 0)
	e.MustCount(t, "TEE", "main", 5)
	if got := len(e.MustEvents(t, st.ID)); got != 1 {
		t.Fatalf("events=%d, want 1", got)
	}
	for round := range 3 {
		e.MustTerminateBackends(t)
		ev, err := e.events.EventsAfter(t.Context(), st.ID, 0, 100)
		if err != nil {
			t.Fatalf("round %d: read after the backends were terminated: %v", round, err)
		}
		if len(ev) != 1 {
			t.Fatalf("round %d: events=%d, want 1", round, len(ev))
		}
	}
}

// A schema change under a prepared statement (a newer replica migrated)
// makes PostgreSQL refuse the statement on every connection that prepared
// it ("cached plan must not change result type"): the service must
// prepare it again rather than fail until restarted.
func TestEventService_ReadsAfterSchemaChange(t *testing.T) {
	t.Parallel()
	e := MustEnv(t)
	st := e.MustStore(t, "eu", 0)
	e.MustCount(t, "TEE", "main", 5)
	e.MustEvents(t, st.ID)
	e.MustSQL(t, `ALTER TABLE store_events ALTER COLUMN sku TYPE varchar(300)`)
	for round := range 3 {
		if _, err := e.events.EventsAfter(t.Context(), st.ID, 0, 100); err != nil {
			t.Fatalf("round %d: read after a schema change: %v", round, err)
		}
	}
}
