package agentws_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/stockwire/stockwire/hub"
	"github.com/stockwire/stockwire/hub/agentws"
	"github.com/stockwire/stockwire/shared/systest"
	"github.com/stockwire/stockwire/shared/wire"
)

// Two replicas on one database: a store's newest session, on either,
// closes the older one on the other, and only the live one records the
// agent state.
func TestReplicas_OneLiveSessionPerStore(t *testing.T) {
	t.Parallel()
	a := MustEnv(t, nil)
	b := a.MustReplica(t, "replica-b", nil)
	st, cred := a.MustStore(t, "eu")
	a.MustCount(t, "A", 10)

	agentState := func() (hub.AgentState, error) {
		got, err := a.stores.Store(t.Context(), st.ID)
		return got.Agent, err
	}
	wantLive := func(replica string, applied int64) {
		t.Helper()
		systest.WaitFor(t, 5*time.Second, "agent state of the live session", func() error {
			s, err := agentState()
			if err != nil {
				return err
			}
			if !s.Connected || s.Replica != replica || s.AppliedSeq != applied {
				return fmt.Errorf("agent state %+v, want connected on %s with applied %d", s, replica, applied)
			}
			return nil
		})
	}

	onA := a.MustConnect(t, cred)
	onA.hello(0)
	onA.next(wire.TypeSnapshot, nil)
	wantLive("test-replica", 0)

	onB := b.MustConnect(t, cred)
	onB.hello(1)
	if ce := onA.closed(2 * time.Second); ce.Code != websocket.StatusPolicyViolation || ce.Reason != "replaced by a newer session of this store" {
		t.Fatalf("the session on replica A closed with %v %q", ce.Code, ce.Reason)
	}
	onB.send(wire.TypeApplied, "", wire.Applied{Seq: 1})
	wantLive("replica-b", 1)
	// Replica A's session ended after B's began: its end must not show the
	// store disconnected.
	systest.WaitFor(t, 5*time.Second, "replica A's session gone", func() error {
		if a.srv.Connected(st.ID) {
			return fmt.Errorf("still connected on A")
		}
		return nil
	})
	if s, err := agentState(); err != nil || !s.Connected || s.Replica != "replica-b" {
		t.Fatalf("agent state after the old session ended: %+v %v", s, err)
	}

	// A change made anywhere reaches the agent on B.
	a.MustCount(t, "A", 12)
	if got := onB.changesThrough(2); got[len(got)-1].Target != 12 {
		t.Fatalf("agent on B got %+v", got)
	}

	// Back to A: B's session goes.
	again := a.MustConnect(t, cred)
	again.hello(2)
	if ce := onB.closed(2 * time.Second); ce.Reason != "replaced by a newer session of this store" {
		t.Fatalf("the session on replica B closed with %v %q", ce.Code, ce.Reason)
	}
	again.send(wire.TypeApplied, "", wire.Applied{Seq: 2})
	wantLive("test-replica", 2)
	systest.WaitFor(t, 5*time.Second, "replica B's session gone", func() error {
		if b.srv.Connected(st.ID) {
			return fmt.Errorf("still connected on B")
		}
		return nil
	})
}

// A session that never heard the newer claim's notice finds out from
// PostgreSQL at its next resync.
func TestReplicas_LostNoticeCaughtByResync(t *testing.T) {
	t.Parallel()
	a := MustEnv(t, func(s *agentws.Server) { s.ResyncInterval = 100 * time.Millisecond })
	st, cred := a.MustStore(t, "eu")
	onA := a.MustConnect(t, cred)
	onA.hello(0)
	systest.WaitFor(t, 5*time.Second, "session claimed", func() error {
		if claim, err := a.sessions.LiveClaim(t.Context(), st.ID); err != nil || claim == 0 {
			return fmt.Errorf("claim %d, %v", claim, err)
		}
		return nil
	})
	// Another replica's claim whose notice never arrives: no listener hears
	// this one, as if the replica's listener was down.
	if _, err := a.sessions.ClaimSession(t.Context(), st.ID, "replica-gone"); err != nil {
		t.Fatal(err)
	}
	if ce := onA.closed(3 * time.Second); ce.Reason != "replaced by a newer session of this store" {
		t.Fatalf("closed with %v %q", ce.Code, ce.Reason)
	}
}

// A revocation on one replica cuts the store's session on another at once.
func TestReplicas_RevokeReachesOtherReplica(t *testing.T) {
	t.Parallel()
	a := MustEnv(t, nil)
	b := a.MustReplica(t, "replica-b", nil)
	st, cred := a.MustStore(t, "eu")
	onB := b.MustConnect(t, cred)
	onB.hello(0)
	onB.next(wire.TypeSnapshot, nil)

	// What replica A's revoke handler does.
	if err := a.stores.Revoke(t.Context(), st.ID); err != nil {
		t.Fatal(err)
	}
	a.srv.Disconnect(st.ID)
	if err := a.sessions.AnnounceRevoked(t.Context(), st.ID); err != nil {
		t.Fatal(err)
	}
	if ce := onB.closed(2 * time.Second); ce.Code != websocket.StatusCode(wire.CloseRevoked) || ce.Reason != "store credential revoked" {
		t.Fatalf("closed with %v %q", ce.Code, ce.Reason)
	}
	// A claim after the revocation is refused.
	if _, err := a.sessions.ClaimSession(t.Context(), st.ID, "late"); hub.ErrorCode(err) != hub.EUNAUTHORIZED {
		t.Fatalf("claim after revocation: %v, want unauthorized", err)
	}
}
