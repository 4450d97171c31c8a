package agentws

import (
	"time"

	"github.com/stockwire/stockwire/hub"
	"github.com/stockwire/stockwire/shared/wire"
)

// Allocate policy on the link: the pump sends an allocate store's
// pending reclaims (stock.reclaim) and the report worker (reports.go)
// settles the agent's answers (stock.released). Both go through
// hub.ReclaimService, which the order service implements; without it
// nothing is sent.

// reclaimResend is how long a sent reclaim waits for its answer before it
// is sent again (the answer was lost, or the agent could not reach its
// store); the agent answers a repeat without releasing twice.
const reclaimResend = 30 * time.Second

// reclaimState is what one session's pump remembers of reclaims. Owned by
// the pump goroutine.
// A session keeps the policy it began with: a policy change ends it
// (Server.SessionNotice, or the pump's resync if the notice was lost), so
// that the agent starts over under the new one.
type reclaimState struct {
	sent     map[int64]time.Time // reclaim ID → when sent
	allocate bool
}

func newReclaimState(ss *session) *reclaimState {
	return &reclaimState{sent: map[int64]time.Time{}, allocate: ss.store.Policy == hub.PolicyAllocate}
}

// sendReclaims queues the store's pending reclaims that were not sent in
// the last reclaimResend.
func (ss *session) sendReclaims(st *reclaimState) {
	rs, ok := ss.srv.Orders.(hub.ReclaimService)
	if !ok {
		return
	}
	if !st.allocate {
		return
	}
	now := time.Now()
	pending, err := rs.PendingReclaims(ss.ctx, ss.store.ID)
	if err != nil {
		if ss.ctx.Err() == nil {
			ss.logger.Warn("read pending reclaims", "error", err)
		}
		return
	}
	for _, rc := range pending {
		if at, ok := st.sent[rc.ID]; ok && now.Sub(at) < reclaimResend {
			continue
		}
		st.sent[rc.ID] = now
		ss.logger.Info("asking agent to release units", "reclaim_id", rc.ID, "sku", rc.SKU, "units", rc.Units)
		ss.enqueue(wire.TypeReclaim, "", wire.Reclaim{ID: rc.ID, SKU: ss.names.store(rc.SKU), Units: rc.Units})
	}
}

// changesOf turns stored events into the changes of one message. An
// allocate store gets every event on its own: its agent skips by sequence
// what it already wrote, so a replay after the agent died between writing
// and recording a change must not merge that change with later ones (the
// merged grant would be written twice, and the store could then sell units
// it was never granted). Mirror stores get Coalesce, except in that replay
// (coalesce false), where the same double write would oversell. The policy is the one
// the session began with; a session whose store changes policy ends
// (sendReclaims).
func (ss *session) changesOf(events []hub.Event, coalesce bool) []wire.Change {
	if coalesce && ss.store.Policy != hub.PolicyAllocate {
		return ss.names.changes(Coalesce(events))
	}
	out := make([]wire.Change, len(events))
	for i, e := range events {
		out[i] = wire.Change{Seq: e.Seq, SKU: e.SKU, Delta: e.Delta, Target: e.Target}
	}
	return ss.names.changes(out)
}
