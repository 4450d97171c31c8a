package postgres

import (
	"slices"
	"testing"

	"github.com/jmoiron/sqlx"

	"github.com/stockwire/stockwire/hub"
)

func events(store, from, to int64) []hub.Event {
	var out []hub.Event
	for seq := from; seq <= to; seq++ {
		out = append(out, hub.Event{StoreID: store, Seq: seq, SKU: "S", Target: seq})
	}
	return out
}

func seqs(evs []hub.Event) []int64 {
	var out []int64
	for _, e := range evs {
		out = append(out, e.Seq)
	}
	return out
}

// TestRecentEvents: what a commit stages is kept per store as a run of
// consecutive sequences and wakes the stores; a read is answered only
// from the event right after the reader's last; a notification is
// dropped only for a store whose run reaches its head.
func TestRecentEvents(t *testing.T) {
	var r recentEvents
	var woken [][]int64
	tx1, tx2, tx3 := &sqlx.Tx{}, &sqlx.Tx{}, &sqlx.Tx{}

	r.stage(tx1, events(1, 1, 1))
	r.committed(tx1)
	if len(woken) != 0 || len(r.runs) != 0 {
		t.Fatal("kept events while no one listens")
	}
	r.listening(func(ids []int64) { woken = append(woken, ids) })

	r.stage(tx1, append(events(1, 5, 6), events(2, 3, 3)...))
	r.stage(tx2, events(1, 7, 7))
	r.discard(tx2) // rolled back
	r.committed(tx1)
	if !slices.Equal(woken[0], []int64{1, 2}) || len(woken) != 1 {
		t.Fatalf("woken %v, want [[1 2]]", woken)
	}
	for _, c := range []struct {
		store, after int64
		want         []int64
		ok           bool
	}{
		{1, 4, []int64{5, 6}, true},
		{1, 5, []int64{6}, true},
		{1, 6, nil, false}, // nothing newer here: PostgreSQL may have some
		{1, 3, nil, false}, // event 4 is not here
		{2, 2, []int64{3}, true},
		{3, 0, nil, false},
	} {
		got, ok := r.after(c.store, c.after, 100)
		if ok != c.ok || !slices.Equal(seqs(got), c.want) {
			t.Errorf("after(%d, %d) = %v %v, want %v %v", c.store, c.after, seqs(got), ok, c.want, c.ok)
		}
	}
	if got, _ := r.after(1, 4, 1); !slices.Equal(seqs(got), []int64{5}) {
		t.Errorf("limit 1: %v", seqs(got))
	}

	// Store 1's next events follow its run; store 2's do not (another
	// replica wrote 4-9): its run starts over.
	r.stage(tx3, append(events(1, 7, 8), events(2, 10, 10)...))
	r.committed(tx3)
	if got, _ := r.after(1, 4, 100); !slices.Equal(seqs(got), []int64{5, 6, 7, 8}) {
		t.Errorf("store 1 run %v", seqs(got))
	}
	if _, ok := r.after(2, 3, 100); ok {
		t.Error("store 2 answered across the gap 4-9")
	}

	for _, c := range []struct {
		payload string
		want    []int64
	}{
		{"1:8,2:10", []int64{}},         // both this process's own
		{"1:6", []int64{}},              // an older one of store 1, also covered
		{"1:9,2:10,3:1", []int64{1, 3}}, // 9 is another replica's
		{"1,2", []int64{1, 2}},          // no heads: a reclaim, or an older replica
		{"", nil},                       // every store
	} {
		if got := r.notified(c.payload); !slices.Equal(got, c.want) || (got == nil) != (c.want == nil) {
			t.Errorf("notified(%q) = %v, want %v", c.payload, got, c.want)
		}
	}

	// The notification of a commit of this process may come before the
	// commit returns: dropped, as the commit wakes the sessions, even
	// when its answer is lost.
	tx5 := &sqlx.Tx{}
	r.stage(tx5, events(4, 1, 2))
	if got := r.notified("4:2,4:1"); len(got) != 1 || got[0] != 4 {
		t.Errorf("notified while committing: %v, want [4] (only 2 is being committed)", got)
	}
	woken = nil
	r.commitFailed(tx5)
	if !slices.Equal(woken[0], []int64{4}) {
		t.Errorf("a failed commit woke %v, want [[4]]", woken)
	}
	if _, ok := r.after(4, 0, 100); ok {
		t.Error("a failed commit's events are kept")
	}

	// A run keeps the newest maxRecent events.
	tx4 := &sqlx.Tx{}
	r.stage(tx4, events(1, 9, 8+maxRecent))
	r.committed(tx4)
	if _, ok := r.after(1, 7, 1); ok {
		t.Error("kept more than maxRecent events")
	}
	if got, ok := r.after(1, 8, 1); !ok || got[0].Seq != 9 {
		t.Errorf("after(1, 8) = %v %v", seqs(got), ok)
	}

	r.forget()
	if got := r.notified("1:8"); !slices.Equal(got, []int64{1}) {
		t.Errorf("after lost notifications: %v", got)
	}
	r.listening(nil)
	r.stage(tx1, events(1, 300, 300))
	r.committed(tx1)
	if len(r.runs) != 0 || len(r.staged) != 0 {
		t.Error("kept events after Listen ended")
	}
}
