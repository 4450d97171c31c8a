package postgres

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/stockwire/stockwire/hub"
)

var _ hub.SessionService = (*SessionService)(nil)

// SessionChannel is the LISTEN/NOTIFY channel on which replicas announce
// agent sessions: "claim:<store id>:<claim>" when a session claims its
// store, "revoke:<store id>" when a store's credential is revoked,
// "policy:<store id>" when its policy changed and "restart:<store id>" when
// its SKU aliases did (its session must start over either way),
// and "commands:<store id>" when order commands for the store were queued.
const SessionChannel = "stockwire_sessions"

// SessionService implements hub.SessionService on the agent_sessions table
// (migration 004) and the channel SessionChannel.
type SessionService struct {
	db *DB
	// states groups the sessions' state writes (group.go): every session
	// writes its agent's state every second it changed.
	states group[*stateReq]
}

// NewSessionService returns the session service on db.
func NewSessionService(db *DB) *SessionService {
	s := &SessionService{db: db}
	s.states = group[*stateReq]{life: db.life, take: onePerKey(500, func(q *stateReq) int64 { return q.storeID }), run: s.writeStates,
		fail: func(q *stateReq, err error) { q.done <- reply[bool]{err: err} }}
	return s
}

// stateReq is one session's state write, waiting for its group.
type stateReq struct {
	storeID, claim int64
	st             hub.AgentState
	done           chan reply[bool] // buffered
}

// stateWriteTimeout bounds one grouped state write.
const stateWriteTimeout = 10 * time.Second

// ClaimSession makes a new session its store's live one. The store's row is
// locked first, so a claim and a revocation are serialised: a claim that
// commits after the revocation sees it and is refused.
func (s *SessionService) ClaimSession(ctx context.Context, storeID int64, replica string) (int64, error) {
	var claim int64
	err := s.db.tx(ctx, "claim_session", nil, func(tx *sqlx.Tx) error {
		var status string
		err := tx.GetContext(ctx, &status, `SELECT status FROM stores WHERE id = $1 FOR UPDATE`, storeID)
		if isNoRows(err) || err == nil && status != string(hub.StoreActive) {
			return hub.Errorf(hub.EUNAUTHORIZED, "Store %d is not active.", storeID)
		} else if err != nil {
			return fmt.Errorf("lock store: %w", err)
		}
		if err := tx.GetContext(ctx, &claim, `INSERT INTO agent_sessions (store_id, claim, replica)
			VALUES ($1, nextval('agent_session_claims'), $2)
			ON CONFLICT (store_id) DO UPDATE SET claim = EXCLUDED.claim, replica = EXCLUDED.replica, started_at = now()
			RETURNING claim`, storeID, replica); err != nil {
			return fmt.Errorf("claim: %w", err)
		}
		_, err = tx.ExecContext(ctx, `SELECT pg_notify($1, $2)`, SessionChannel, fmt.Sprintf("claim:%d:%d", storeID, claim))
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("claim session of store %d: %w", storeID, translate(err))
	}
	return claim, nil
}

// LiveClaim returns the store's live claim, 0 when it has none.
func (s *SessionService) LiveClaim(ctx context.Context, storeID int64) (int64, error) {
	defer s.db.observe("live_claim", time.Now())
	var claim int64
	err := s.db.db.GetContext(ctx, &claim, `SELECT claim FROM agent_sessions WHERE store_id = $1`, storeID)
	if err != nil && !isNoRows(err) {
		return 0, fmt.Errorf("live claim of store %d: %w", storeID, err)
	}
	return claim, nil
}

// RecordSessionState stores the agent state if claim is the store's live
// session. HeadSeq and SeqLag are derived and ignored.
func (s *SessionService) RecordSessionState(ctx context.Context, storeID, claim int64, a hub.AgentState) (bool, error) {
	q := &stateReq{storeID: storeID, claim: claim, st: a, done: make(chan reply[bool], 1)}
	s.states.submit(q)
	live, err := await(ctx, q.done)
	if err != nil {
		return false, fmt.Errorf("record agent state of store %d: %w", storeID, err)
	}
	return live, nil
}

// writeStates writes a group of agent states in one statement.
func (s *SessionService) writeStates(ctx context.Context, batch []*stateReq) {
	defer s.db.observe("record_agent_state", time.Now())
	ctx, cancel := context.WithTimeout(ctx, stateWriteTimeout)
	defer cancel()
	n := len(batch)
	ids, claims, applied, depth := make([]int64, n), make([]int64, n), make([]int64, n), make([]int64, n)
	connected, seen, replica := make([]bool, n), make([]sql.NullString, n), make([]string, n)
	deadLetters, webhookHealth, reverted := make([]int64, n), make([]string, n), make([]int64, n)
	for i, q := range batch {
		ids[i], claims[i], applied[i], depth[i] = q.storeID, q.claim, q.st.AppliedSeq, int64(q.st.OutboxDepth)
		connected[i], replica[i] = q.st.Connected, q.st.Replica
		deadLetters[i], webhookHealth[i], reverted[i] = int64(q.st.DeadLetters), string(q.st.WebhookHealth), q.st.EditsReverted
		if q.st.LastSeen != nil {
			seen[i] = sql.NullString{String: q.st.LastSeen.Format(time.RFC3339Nano), Valid: true}
		}
	}
	var live []int64
	err := s.db.db.SelectContext(ctx, &live, `UPDATE stores s SET connected = v.connected, last_seen = v.seen,
			applied_seq = v.applied, outbox_depth = v.depth, replica = v.replica,
			dead_letters = v.dead_letters, webhook_health = v.webhook_health, edits_reverted = v.edits_reverted
		FROM unnest($1::bigint[], $2::bigint[], $3::boolean[], $4::timestamptz[], $5::bigint[], $6::integer[], $7::text[],
				$8::integer[], $9::text[], $10::bigint[])
			AS v(id, claim, connected, seen, applied, depth, replica, dead_letters, webhook_health, edits_reverted)
		JOIN agent_sessions a ON a.store_id = v.id AND a.claim = v.claim
		WHERE s.id = v.id
		RETURNING s.id`,
		pq.Array(ids), pq.Array(claims), pq.Array(connected), pq.Array(seen), pq.Array(applied), pq.Array(depth), pq.Array(replica),
		pq.Array(deadLetters), pq.Array(webhookHealth), pq.Array(reverted))
	for _, q := range batch {
		if err != nil {
			q.done <- reply[bool]{err: err}
		} else {
			q.done <- reply[bool]{val: slices.Contains(live, q.storeID)}
		}
	}
}

// AnnounceRevoked tells every replica to end the store's session.
func (s *SessionService) AnnounceRevoked(ctx context.Context, storeID int64) error {
	if _, err := s.db.db.ExecContext(ctx, `SELECT pg_notify($1, $2)`, SessionChannel, "revoke:"+strconv.FormatInt(storeID, 10)); err != nil {
		return fmt.Errorf("announce revocation of store %d: %w", storeID, err)
	}
	return nil
}

// Listen calls fn with every session notice of every replica (this one
// included) until ctx is done; then it returns nil. After the connection to
// PostgreSQL is re-established it calls fn with a zero notice: notices may
// have been lost.
func (s *SessionService) Listen(ctx context.Context, fn func(hub.SessionNotice)) error {
	return s.db.listen(ctx, SessionChannel, func(payload *string) {
		if payload == nil {
			fn(hub.SessionNotice{})
		} else if notice, ok := parseSessionNotice(*payload); ok {
			fn(notice)
		} else {
			s.db.logger.Warn("malformed session notice", "channel", SessionChannel, "payload", *payload)
		}
	})
}

func parseSessionNotice(payload string) (hub.SessionNotice, bool) {
	f := strings.Split(payload, ":")
	switch {
	case len(f) == 3 && f[0] == "claim":
		id, err1 := strconv.ParseInt(f[1], 10, 64)
		claim, err2 := strconv.ParseInt(f[2], 10, 64)
		return hub.SessionNotice{StoreID: id, Claim: claim}, err1 == nil && err2 == nil && id > 0 && claim > 0
	case len(f) == 2 && f[0] == "revoke":
		id, err := strconv.ParseInt(f[1], 10, 64)
		return hub.SessionNotice{StoreID: id, Revoked: true}, err == nil && id > 0
	case len(f) == 2 && (f[0] == "policy" || f[0] == "restart"):
		id, err := strconv.ParseInt(f[1], 10, 64)
		return hub.SessionNotice{StoreID: id, PolicyChanged: f[0] == "policy", Restart: f[0] == "restart"}, err == nil && id > 0
	case len(f) == 2 && f[0] == "commands":
		id, err := strconv.ParseInt(f[1], 10, 64)
		return hub.SessionNotice{StoreID: id, Commands: true}, err == nil && id > 0
	}
	return hub.SessionNotice{}, false
}

// ExpireSilent marks disconnected every store whose agent state says
// connected but has not been refreshed for silentFor: the replica holding
// its session died without recording the end (kill -9, lost host) and the
// agent has not come back. A live session refreshes the state whenever its
// agent reports (agents report at least every few seconds) and sets it back.
// It returns how many stores it marked.
func (s *SessionService) ExpireSilent(ctx context.Context, silentFor time.Duration) (int64, error) {
	defer s.db.observe("expire_silent_agents", time.Now())
	res, err := s.db.db.ExecContext(ctx, `UPDATE stores SET connected = false
		WHERE connected AND (last_seen IS NULL OR last_seen < now() - $1 * interval '1 millisecond')`, silentFor.Milliseconds())
	if err != nil {
		return 0, fmt.Errorf("expire silent agents: %w", err)
	}
	n, _ := res.RowsAffected()
	return n, nil
}
