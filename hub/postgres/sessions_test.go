package postgres_test

import (
	"testing"
	"time"

	"github.com/stockwire/stockwire/hub"
	"github.com/stockwire/stockwire/hub/postgres"
)

func TestSessionService(t *testing.T) {
	t.Parallel()
	e := MustEnv(t)
	sessions := postgres.NewSessionService(e.db)
	ctx := t.Context()
	st := e.MustStore(t, "eu", 0)

	first, err := sessions.ClaimSession(ctx, st.ID, "replica-a")
	if err != nil {
		t.Fatal(err)
	}
	second, err := sessions.ClaimSession(ctx, st.ID, "replica-b")
	if err != nil {
		t.Fatal(err)
	}
	if second <= first {
		t.Fatalf("claims %d then %d: a later claim must be greater", first, second)
	}
	if live, err := sessions.LiveClaim(ctx, st.ID); err != nil || live != second {
		t.Fatalf("LiveClaim=%d, %v; want %d", live, err, second)
	}

	t.Run("OnlyTheLiveClaimRecords", func(t *testing.T) {
		now := time.Now()
		if ok, err := sessions.RecordSessionState(ctx, st.ID, second, hub.AgentState{Connected: true, LastSeen: &now, AppliedSeq: 7, Replica: "replica-b"}); err != nil || !ok {
			t.Fatalf("live claim: %v, %v", ok, err)
		}
		if ok, err := sessions.RecordSessionState(ctx, st.ID, first, hub.AgentState{Connected: false, LastSeen: &now, AppliedSeq: 3, Replica: "replica-a"}); err != nil || ok {
			t.Fatalf("stale claim recorded: %v, %v", ok, err)
		}
		got := mustStore(t, e, st.ID)
		if a := got.Agent; !a.Connected || a.AppliedSeq != 7 || a.Replica != "replica-b" {
			t.Fatalf("agent state %+v, want the live claim's", a)
		}
	})
	t.Run("ExpireSilent", func(t *testing.T) {
		if n, err := sessions.ExpireSilent(ctx, time.Minute); err != nil || n != 0 {
			t.Fatalf("ExpireSilent of a fresh state=%d, %v; want 0", n, err)
		}
		old := time.Now().Add(-2 * time.Minute)
		if _, err := sessions.RecordSessionState(ctx, st.ID, second, hub.AgentState{Connected: true, LastSeen: &old, Replica: "replica-b"}); err != nil {
			t.Fatal(err)
		}
		if n, err := sessions.ExpireSilent(ctx, time.Minute); err != nil || n != 1 {
			t.Fatalf("ExpireSilent=%d, %v; want 1", n, err)
		}
		if mustStore(t, e, st.ID).Agent.Connected {
			t.Fatal("a silent agent still shows connected")
		}
	})
	t.Run("ErrUnauthorized", func(t *testing.T) {
		if err := e.stores.Revoke(ctx, st.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := sessions.ClaimSession(ctx, st.ID, "replica-a"); hub.ErrorCode(err) != hub.EUNAUTHORIZED {
			t.Fatalf("claim of a revoked store: %v", err)
		}
		if _, err := sessions.ClaimSession(ctx, 99999, "replica-a"); hub.ErrorCode(err) != hub.EUNAUTHORIZED {
			t.Fatalf("claim of an unknown store: %v", err)
		}
	})
}

func mustStore(tb testing.TB, e *env, id int64) hub.Store {
	tb.Helper()
	st, err := e.stores.Store(tb.Context(), id)
	if err != nil {
		tb.Fatal(err)
	}
	return st
}
