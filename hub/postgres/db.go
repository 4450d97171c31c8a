// Package postgres implements the hub's services (hub.InventoryService,
// hub.StoreService, hub.OrderService, hub.ReclaimService,
// hub.AllocationService, hub.EventService, hub.SessionService,
// hub.AdminAuth) on PostgreSQL with sqlx and lib/pq. It owns the schema
// (embedded, numbered, forward-only migrations), every query and
// transaction, and the translation of driver errors into *hub.Error at its
// edge. It knows nothing of HTTP or WebSocket.
//
// Every transaction that changes a SKU's available figure recomputes the
// targets of that SKU for every active store in the same transaction, writes
// the per-store change events and notifies the channel stockwire_events once
// at commit, so that every hub replica listening (DB.Listen) wakes its agent
// sessions.
//
// Allocate policy (migration 003): the same transactions keep each
// allocate store's allocation per SKU (granted, not yet sold or released)
// and, under the SKU row locks, carry out the grants and reclaims that
// hub.PlanAllocation decides (alloc.go); a deferred trigger refuses any
// grant that would make Σ allocated + committed exceed on_hand −
// safety_stock. AllocationService (allocation.go) changes policies and
// sweeps; the order service settles the agents' releases (reclaims.go). stockwire_target still says
// what every store shows: mirror stores the pool less their buffer, never
// below 0 (migration 005), allocate stores their allocation.
package postgres

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/stockwire/stockwire/hub"
	"github.com/stockwire/stockwire/shared/backoff"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// NotifyChannel is the LISTEN/NOTIFY channel carrying the comma separated
// ids of stores that have new events; an empty payload (too many stores for
// one notification) means every store.
const NotifyChannel = "stockwire_events"

// Advisory lock keys.
const (
	lockMigrate = 0x5357_4d49_4752 // "SWMIGR"
	// lockStores is taken shared by every stock-changing transaction and
	// exclusive by store creation and updates, so a store never misses a
	// change committed while its targets are being computed.
	lockStores = 0x5357_5354_4f52
	// lockSeq is taken by every transaction that writes the stores'
	// sequence rows, before it touches the first: event writers take turns
	// (they mostly would anyway, since a change reaches every mirror store)
	// and may then lock those rows in any order.
	lockSeq = 0x5357_5345_5120 // "SWSEQ "
)

// DB is the hub's connection pool.
type DB struct {
	db     *sqlx.DB
	dsn    string
	logger *slog.Logger

	// MaxRetries is how many times a transaction is retried after a
	// serialization failure or deadlock. Defaults to 5.
	MaxRetries int

	metrics *metrics // nil until Register
	// life owns the services' batch goroutines (group.go); Close ends
	// them before it closes the pool.
	life *lifetime
	// prepared keeps the order path's statements (prepared.go).
	prepared stmtCache
	// recent is the events this process committed last (recent.go).
	recent recentEvents
}

// Open connects to dsn and checks the connection.
func Open(ctx context.Context, dsn string, logger *slog.Logger) (*DB, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	sdb, err := sqlx.Open("postgres", withBinaryParameters(dsn))
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	sdb.SetMaxOpenConns(32)
	sdb.SetMaxIdleConns(32)
	sdb.SetConnMaxIdleTime(5 * time.Minute)
	if err := sdb.PingContext(ctx); err != nil {
		sdb.Close()
		return nil, fmt.Errorf("ping database: %w", err)
	}
	return &DB{db: sdb, dsn: dsn, logger: logger, MaxRetries: 5, life: newLifetime(), prepared: stmtCache{db: sdb}}, nil
}

// withBinaryParameters turns on lib/pq's binary_parameters, which sends
// parse, bind and execute in one round trip instead of two. Every []byte
// parameter is then sent as binary, so text and JSON go as strings.
func withBinaryParameters(dsn string) string {
	if strings.Contains(dsn, "binary_parameters") {
		return dsn
	}
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		if strings.Contains(dsn, "?") {
			return dsn + "&binary_parameters=yes"
		}
		return dsn + "?binary_parameters=yes"
	}
	return strings.TrimSpace(dsn) + " binary_parameters=yes"
}

// Close cancels the services' batches in flight and waits for them, then
// closes the pool. Requests made after it fail.
func (db *DB) Close() error {
	db.life.close()
	db.prepared.close()
	if err := db.db.Close(); err != nil {
		return fmt.Errorf("close database: %w", err)
	}
	return nil
}

// Ping checks the database answers.
func (db *DB) Ping(ctx context.Context) error {
	if err := db.db.PingContext(ctx); err != nil {
		return fmt.Errorf("ping database: %w", err)
	}
	return nil
}

// SetMaxOpenConns bounds the pool. Defaults to 32.
func (db *DB) SetMaxOpenConns(n int) {
	db.db.SetMaxOpenConns(n)
	db.db.SetMaxIdleConns(n)
}

// Migrate applies the embedded migrations not applied yet, each in its own
// transaction, under a session advisory lock so that hubs starting at once
// take turns.
func (db *DB) Migrate(ctx context.Context) error {
	names, err := fs.Glob(migrationFS, "migrations/*.sql")
	if err != nil {
		return fmt.Errorf("list migrations: %w", err)
	}
	sort.Strings(names)

	conn, err := db.db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("migrate: get connection: %w", err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_lock($1)`, lockMigrate); err != nil {
		return fmt.Errorf("migrate: lock: %w", err)
	}
	defer conn.ExecContext(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, lockMigrate)

	if _, err := conn.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    text PRIMARY KEY,
		applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
		return fmt.Errorf("migrate: create schema_migrations: %w", err)
	}
	for _, name := range names {
		version := strings.TrimSuffix(strings.TrimPrefix(name, "migrations/"), ".sql")
		var n int
		if err := conn.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations WHERE version = $1`, version).Scan(&n); err != nil {
			return fmt.Errorf("migrate %s: check: %w", version, err)
		}
		if n > 0 {
			continue
		}
		body, err := fs.ReadFile(migrationFS, name)
		if err != nil {
			return fmt.Errorf("migrate %s: read: %w", version, err)
		}
		tx, err := conn.BeginTx(ctx, nil)
		if err != nil {
			return fmt.Errorf("migrate %s: begin: %w", version, err)
		}
		if _, err := tx.ExecContext(ctx, string(body)); err != nil {
			tx.Rollback()
			return fmt.Errorf("migrate %s: %w", version, err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version) VALUES ($1)`, version); err != nil {
			tx.Rollback()
			return fmt.Errorf("migrate %s: record: %w", version, err)
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("migrate %s: commit: %w", version, err)
		}
		db.logger.Info("migration applied", "version", version)
	}
	return nil
}

// Listen calls fn with the ids of stores that have new events, as
// transactions (in this process or another replica) commit them: this
// process's own at their commit, the others' when PostgreSQL notifies them
// (recent.go). After the connection to PostgreSQL is re-established it
// calls fn(nil), meaning "notifications may have been lost: check every
// store". It blocks until ctx is done and returns nil then. One Listen at
// a time.
func (db *DB) Listen(ctx context.Context, fn func(storeIDs []int64)) error {
	db.recent.listening(fn)
	defer db.recent.listening(nil)
	return db.listen(ctx, NotifyChannel, func(payload *string) {
		if payload == nil {
			db.recent.forget()
			fn(nil)
			return
		}
		if ids := db.recent.notified(*payload); ids == nil || len(ids) > 0 {
			fn(ids)
		}
	})
}

// listen calls fn with the payload of every notification on channel until
// ctx is done, and with nil after the connection was re-established
// (notifications may have been lost). It returns nil when ctx is done, once
// the listener's goroutines (pq's and its pings) have ended.
func (db *DB) listen(ctx context.Context, channel string, fn func(payload *string)) error {
	logger := db.logger.With("channel", channel)
	l := pq.NewListener(db.dsn, 100*time.Millisecond, 10*time.Second, func(ev pq.ListenerEventType, err error) {
		switch ev {
		case pq.ListenerEventDisconnected:
			logger.Warn("listener disconnected", "error", err)
		case pq.ListenerEventReconnected:
			logger.Info("listener reconnected")
		case pq.ListenerEventConnectionAttemptFailed:
			logger.Warn("listener connection attempt failed", "error", err)
		}
	})
	// A ping waits for its answer, which pq's goroutine reads while it
	// also delivers notifications: pings run on their own goroutine, one
	// at a time, so that this loop keeps taking notifications.
	var pinging sync.WaitGroup
	var pingBusy atomic.Bool
	defer func() {
		l.Close()
		for range l.Notify { // closed when pq's goroutine ends
		}
		pinging.Wait()
	}()
	if err := l.Listen(channel); err != nil {
		return fmt.Errorf("listen %s: %w", channel, err)
	}
	ping := time.NewTicker(30 * time.Second)
	defer ping.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case n := <-l.Notify:
			if n == nil {
				fn(nil)
			} else {
				fn(&n.Extra)
			}
		case <-ping.C:
			if pingBusy.CompareAndSwap(false, true) {
				pinging.Go(func() {
					defer pingBusy.Store(false)
					l.Ping() // a dead connection is noticed and reconnected
				})
			}
		}
	}
}

// tx runs fn in a transaction, retrying serialization failures and
// deadlocks, and records its duration under op.
func (db *DB) tx(ctx context.Context, op string, opts *sql.TxOptions, fn func(tx *sqlx.Tx) error) error {
	start := time.Now()
	defer db.observe(op, start)
	var err error
	for attempt := 0; ; attempt++ {
		err = db.tryTx(ctx, opts, fn)
		if err == nil || attempt >= db.MaxRetries || !retryable(err) {
			return err
		}
		db.logger.Debug("retrying transaction", "op", op, "attempt", attempt+1, "error", err)
		if backoff.Sleep(ctx, txRetryBackoff.Delay(attempt)) != nil {
			return err
		}
	}
}

// txRetryBackoff spaces the retries of a transaction that lost a
// serialization race or a deadlock, with jitter so that the losers do not
// meet again.
var txRetryBackoff = backoff.Policy{Min: time.Millisecond, Max: 20 * time.Millisecond}

func (db *DB) tryTx(ctx context.Context, opts *sql.TxOptions, fn func(tx *sqlx.Tx) error) error {
	tx, err := db.db.BeginTxx(ctx, opts)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		db.recent.discard(tx)
		return err
	}
	if err := tx.Commit(); err != nil {
		db.recent.commitFailed(tx)
		return fmt.Errorf("commit: %w", err)
	}
	db.recent.committed(tx)
	return nil
}

// Unavailable reports whether err means the database cannot be reached
// now but may be soon: no server at the address (restarting, or not
// started yet), a server still starting or recovering from a crash, or
// out of connections. A wrong password or database name is not.
func Unavailable(err error) bool {
	var pqe *pq.Error
	if errors.As(err, &pqe) {
		return pqe.Code.Class() == "08" || pqe.Code.Class() == "57" || pqe.Code.Class() == "53"
	}
	var ne net.Error
	return errors.As(err, &ne) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ENOENT) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
}

func retryable(err error) bool {
	var pqe *pq.Error
	if errors.As(err, &pqe) {
		switch pqe.Code.Name() {
		case "serialization_failure", "deadlock_detected":
			return true
		}
	}
	return false
}

func (db *DB) observe(op string, start time.Time) {
	if db.metrics != nil {
		db.metrics.queryDuration.WithLabelValues(op).Observe(time.Since(start).Seconds())
	}
}

// translate turns driver errors into hub errors at the package edge.
func translate(err error) error {
	if err == nil {
		return nil
	}
	var he *hub.Error
	if errors.As(err, &he) {
		return he
	}
	if errors.Is(err, sql.ErrNoRows) {
		return hub.Errorf(hub.ENOTFOUND, "Not found.")
	}
	var pqe *pq.Error
	if errors.As(err, &pqe) && pqe.Code.Name() == "unique_violation" {
		return hub.Errorf(hub.ECONFLICT, "Already exists.")
	}
	return err
}

// Register registers the database metrics with reg: query durations, pool
// use, and the figures read at scrape time (allocations, each active
// store's agent state). Call it before the first query.
func (db *DB) Register(reg prometheus.Registerer) {
	db.metrics = newMetrics(reg, db)
}
