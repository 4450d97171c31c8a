package postgres

import (
	"context"
	"sync"

	"github.com/jmoiron/sqlx"
)

// Prepared statements for the order path. Sent unnamed, a statement is
// parsed and planned at every execution: for the statement that publishes
// an order's stock effect that was 2.6 of its 3.4 ms with 10 stores, more
// than its work. Prepared once per connection, PostgreSQL plans it a few
// times and then keeps a generic plan.
//
// Only the order path uses them (orderbatch.go): its statements are small
// (a batch of at most maxBatch reports), frequent and latency-bound. An
// import of 100,000 counts keeps its one-off plan, made for its sizes.
//
// The statements' texts come from code, not data (a publish statement is
// one of a few dozen variants, by which parts it has), and at most
// maxPrepared are kept; past that, a text runs unprepared.
const maxPrepared = 64

// stmtCache keeps statements prepared on the pool by text. database/sql
// prepares each on a connection the first time a transaction on that
// connection runs it, and keeps it there.
type stmtCache struct {
	db    *sqlx.DB
	mu    sync.Mutex
	stmts map[string]*sqlx.Stmt
}

// in returns q prepared for tx, or nil to run it unprepared: when
// maxPrepared statements are kept and q is not one of them, or when it
// cannot be prepared (the unprepared run then meets the same error).
func (c *stmtCache) in(ctx context.Context, tx *sqlx.Tx, q string) *sqlx.Stmt {
	c.mu.Lock()
	defer c.mu.Unlock()
	st, ok := c.stmts[q]
	if !ok {
		if len(c.stmts) >= maxPrepared {
			return nil
		}
		var err error
		if st, err = c.db.PreparexContext(ctx, q); err != nil {
			return nil
		}
		if c.stmts == nil {
			c.stmts = map[string]*sqlx.Stmt{}
		}
		c.stmts[q] = st
	}
	return tx.StmtxContext(ctx, st)
}

// close closes the kept statements.
func (c *stmtCache) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for q, st := range c.stmts {
		st.Close()
		delete(c.stmts, q)
	}
}

// preparedTx runs statements of one transaction, prepared when it has a
// cache (the order path), unnamed otherwise.
type preparedTx struct {
	*sqlx.Tx
	cache *stmtCache // nil: unprepared
}

func (t preparedTx) exec(ctx context.Context, q string, args ...any) error {
	var err error
	if st := t.stmt(ctx, q); st != nil {
		_, err = st.ExecContext(ctx, args...)
	} else {
		_, err = t.ExecContext(ctx, q, args...)
	}
	return err
}

func (t preparedTx) query(ctx context.Context, q string, args ...any) (*sqlx.Rows, error) {
	if st := t.stmt(ctx, q); st != nil {
		return st.QueryxContext(ctx, args...)
	}
	return t.QueryxContext(ctx, q, args...)
}

func (t preparedTx) selectInto(ctx context.Context, dest any, q string, args ...any) error {
	if st := t.stmt(ctx, q); st != nil {
		return st.SelectContext(ctx, dest, args...)
	}
	return t.SelectContext(ctx, dest, q, args...)
}

func (t preparedTx) stmt(ctx context.Context, q string) *sqlx.Stmt {
	if t.cache == nil {
		return nil
	}
	return t.cache.in(ctx, t.Tx, q)
}
