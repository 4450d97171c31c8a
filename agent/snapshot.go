package agent

import (
	"github.com/stockwire/stockwire/shared/wire"
)

// snapshotGather is a chunked snapshot being received: the chunks so far,
// merged. The zero value gathers nothing.
type snapshotGather struct {
	seq     int64
	chunks  int // the snapshot's number of chunks; 0 when none is gathered
	next    int // the chunk expected next
	targets map[string]int64
}

// takeSnapshot hands a snapshot sent whole to the writer at once, and a
// chunked one only when its last chunk has arrived, all its chunks in
// order: the writer never sees part of a snapshot. A chunk that does not
// follow the one before drops what was gathered; the applied sequence has
// not moved, so the next session brings a new snapshot.
func (r *Relay) takeSnapshot(s wire.Snapshot) {
	if s.Whole() {
		r.dropPartialSnapshot("whole snapshot received")
		r.Logger.Info("snapshot received", "seq", s.Seq, "skus", len(s.Targets))
		r.Writer.ApplySnapshot(s.Seq, s.Targets)
		return
	}
	g := &r.snapshot
	switch {
	case s.Chunks < 2 || s.Chunk < 0 || s.Chunk >= s.Chunks:
		r.dropPartialSnapshot("bad chunk")
		r.Logger.Error("bad snapshot chunk from hub", "seq", s.Seq, "chunk", s.Chunk, "chunks", s.Chunks)
		return
	case s.Chunk == 0:
		r.dropPartialSnapshot("new snapshot started")
		*g = snapshotGather{seq: s.Seq, chunks: s.Chunks, targets: make(map[string]int64, len(s.Targets)*s.Chunks)}
	case g.chunks == 0 || s.Seq != g.seq || s.Chunks != g.chunks || s.Chunk != g.next:
		r.dropPartialSnapshot("chunk out of order")
		r.Logger.Error("snapshot chunk out of order from hub; snapshot dropped until the next session",
			"seq", s.Seq, "chunk", s.Chunk, "chunks", s.Chunks)
		return
	}
	for sku, t := range s.Targets {
		g.targets[sku] = t
	}
	g.next++
	r.Logger.Debug("snapshot chunk received", "seq", s.Seq, "chunk", s.Chunk, "chunks", s.Chunks)
	if !s.Last() {
		return
	}
	seq, targets := g.seq, g.targets
	*g = snapshotGather{}
	r.Logger.Info("snapshot received", "seq", seq, "skus", len(targets), "chunks", s.Chunks)
	r.Writer.ApplySnapshot(seq, targets)
}

// dropPartialSnapshot forgets the chunks gathered so far, if any.
func (r *Relay) dropPartialSnapshot(why string) {
	g := &r.snapshot
	if g.chunks == 0 {
		return
	}
	r.Logger.Warn("partial snapshot dropped", "reason", why, "seq", g.seq, "chunks_received", g.next, "chunks", g.chunks)
	*g = snapshotGather{}
}
