package agentws

import (
	"cmp"
	"slices"
	"time"

	"github.com/coder/websocket"

	"github.com/stockwire/stockwire/hub"
	"github.com/stockwire/stockwire/shared/wire"
)

// pump sends the agent what it has not applied: first a replay from lastSeq
// (or a snapshot when resume is false: the agent is new, in another epoch
// or ahead of the hub; or when it is too far behind), then new changes
// whenever the session is woken.
func (ss *session) pump(resume bool, lastSeq, head int64) {
	sent := lastSeq
	if !resume || head-lastSeq > ss.srv.SnapshotAfter || lastSeq == 0 {
		var ok bool
		if sent, ok = ss.sendSnapshot(); !ok {
			return
		}
	}
	resync := time.NewTicker(ss.srv.ResyncInterval)
	defer resync.Stop()
	woken := time.Now()
	reclaims := newReclaimState(ss)
	commands := map[int64]bool{} // sent in this session
	ss.commands.Store(true)
	// The replay after hello is sent change by change: the agent may have
	// written some of these changes to its store before it last stopped,
	// without recording them (it then finds them in the store's sequence
	// meta), and a merged change would make it write them again.
	coalesce := false
	for {
		var ok bool
		if sent, ok = ss.drain(sent, woken, coalesce); !ok {
			return
		}
		coalesce = true
		ss.sendReclaims(reclaims)
		if ss.commands.Swap(false) {
			ss.sendCommands(commands)
		}
		select {
		case <-ss.ctx.Done():
			return
		case <-ss.wake:
			woken = time.Now()
			if ss.recheck.Swap(false) && !ss.stillLive() {
				return
			}
		case <-resync.C:
			woken = time.Now()
			st, err := ss.srv.Stores.Store(ss.ctx, ss.store.ID)
			if err == nil && st.Status != hub.StoreActive || hub.ErrorCode(err) == hub.ENOTFOUND {
				ss.stop("revoked", websocket.StatusCode(wire.CloseRevoked), "store credential revoked")
				return
			}
			if err == nil && st.Policy != ss.store.Policy { // the notice was lost
				ss.logger.Info("store policy changed; ending the session so the agent starts over", "from", ss.store.Policy, "to", st.Policy)
				ss.stop("policy", websocket.StatusTryAgainLater, "store policy changed; reconnect")
				return
			}
			if err == nil && st.Epoch != ss.epochNow { // the notice was lost
				ss.logger.Info("store's sequence started over (its SKU aliases changed); ending the session so the agent starts over")
				ss.stop("policy", websocket.StatusTryAgainLater, "store settings changed; reconnect")
				return
			}
			if !ss.stillLive() {
				return
			}
			ss.commands.Store(true) // a notice may have been lost
		}
	}
}

// stillLive checks in PostgreSQL that this session still holds its store's
// claim, for when a notice from another replica was lost, and stops the
// session if not.
func (ss *session) stillLive() bool {
	live, err := ss.srv.Sessions.LiveClaim(ss.ctx, ss.store.ID)
	if err != nil {
		if ss.ctx.Err() == nil {
			ss.logger.Warn("read live claim", "error", err)
		}
		return true // the next resync tries again
	}
	ss.superseded(live)
	return ss.ctx.Err() == nil
}

// drain sends every stored event after `sent`, coalesced per SKU within a
// batch when coalesce is set, and returns the new high-water mark.
func (ss *session) drain(sent int64, woken time.Time, coalesce bool) (int64, bool) {
	for {
		events, err := ss.srv.Events.EventsAfter(ss.ctx, ss.store.ID, sent, ss.srv.BatchSize)
		if hub.ErrorCode(err) == hub.ECONFLICT {
			return ss.sendSnapshot()
		} else if err != nil {
			if ss.ctx.Err() == nil {
				ss.logger.Error("read store events", "after", sent, "error", err)
				ss.stop("error", websocket.StatusInternalError, "internal error")
			}
			return sent, false
		}
		if len(events) == 0 {
			return sent, true
		}
		changes := ss.changesOf(events, coalesce)
		if !ss.enqueue(wire.TypeChanges, "", wire.Changes{Changes: changes}) {
			return sent, false
		}
		ss.srv.metrics.changesPushed.Add(float64(len(changes)))
		ss.srv.metrics.pushLagSeconds.Observe(time.Since(woken).Seconds())
		sent = events[len(events)-1].Seq
		if len(events) < ss.srv.BatchSize {
			return sent, true
		}
	}
}

// sendSnapshot sends every target of the store as of its head, in chunks
// to an agent that gathers them (its hello said so), whole to one that
// predates chunks, and returns the snapshot's sequence.
func (ss *session) sendSnapshot() (int64, bool) {
	start := time.Now()
	seq, targets, err := ss.srv.Events.Snapshot(ss.ctx, ss.store.ID)
	if err != nil {
		if ss.ctx.Err() == nil {
			ss.logger.Error("read snapshot", "error", err)
			ss.stop("error", websocket.StatusInternalError, "internal error")
		}
		return 0, false
	}
	targets = ss.names.targets(targets)
	if !ss.snapshotChunks {
		data, err := wire.Encode(wire.TypeSnapshot, "", wire.Snapshot{Seq: seq, Targets: targets})
		if err != nil {
			panic(err) // our own payload types always encode
		}
		ss.logger.Info("sending snapshot", "seq", seq, "skus", len(targets), "chunks", 1)
		if len(data) > wire.MaxMessageBytes {
			// The agent's read will fail, and it will reconnect for the
			// same snapshot: only a newer agent can take it.
			ss.logger.Error("snapshot too large for an agent that predates chunked snapshots; upgrade the agent",
				"seq", seq, "skus", len(targets), "bytes", len(data), "limit_bytes", wire.MaxMessageBytes, "agent_version", ss.agentVersion)
		}
		return seq, ss.enqueueEncoded(wire.TypeSnapshot, data)
	}
	chunks := wire.SplitSnapshot(seq, targets, ss.srv.SnapshotChunkSKUs, ss.srv.SnapshotChunkBytes)
	ss.logger.Info("sending snapshot", "seq", seq, "skus", len(targets), "chunks", len(chunks))
	for _, c := range chunks {
		if !ss.enqueue(wire.TypeSnapshot, "", c) {
			return seq, false
		}
	}
	ss.logger.Debug("snapshot queued", "seq", seq, "duration", time.Since(start).String())
	return seq, true
}

// Coalesce merges events to one SKU into one change: deltas add up, and the
// change carries the last sequence and target. The changes are in sequence
// order, that is, in the order of each SKU's last event.
func Coalesce(events []hub.Event) []wire.Change {
	index := make(map[string]int, len(events))
	out := make([]wire.Change, 0, len(events))
	for _, e := range events {
		if i, ok := index[e.SKU]; ok {
			out[i].Delta += e.Delta
			out[i].Seq = e.Seq
			out[i].Target = e.Target
			continue
		}
		index[e.SKU] = len(out)
		out = append(out, wire.Change{Seq: e.Seq, SKU: e.SKU, Delta: e.Delta, Target: e.Target})
	}
	slices.SortFunc(out, func(a, b wire.Change) int { return cmp.Compare(a.Seq, b.Seq) })
	return out
}
