package postgres

import (
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/jmoiron/sqlx"

	"github.com/stockwire/stockwire/hub"
)

// Fast fan-out. A change committed by this process used to reach the
// sessions of this process through PostgreSQL: its notification, then a
// read of the events back (a grouped statement, a millisecond or more on
// a busy machine, on the path of every change to every store). Now the
// publish statement returns the events it wrote; once the transaction
// commits they go into recent, and the sessions of their stores are woken
// at once. A session's read of the events after its last one is answered
// from recent when recent holds the very next ones. The commit's
// notification, when it comes, names each store's newest sequence and is
// dropped for a store whose events recent already holds.
//
// Everything else takes the old path, notification then read: changes
// committed by other replicas, changes too big to return (maxReturned),
// a session that is behind what recent holds, and every store after
// notifications may have been lost or events were pruned.
//
// Why it is safe. Each store's events have consecutive sequences, and are
// committed in sequence order (lockSeq is held until the commit), so a
// run of consecutive events starting right after a session's last one is
// exactly what follows it. A notification is dropped only when recent
// holds a later sequence of the store, which this process committed
// after the notified one and woke the session for: that session then
// reads on from its last event, from recent or, where recent does not
// start right after it, from PostgreSQL.

// maxRecent is how many of a store's newest events recent keeps.
const maxRecent = 256

// maxReturned bounds the events a publish statement returns, and
// maxReturnedSKUs the SKUs of a change whose events it returns: a bigger
// change (an import, a change seen by thousands of stores) takes the old
// path.
const (
	maxReturned     = 5000
	maxReturnedSKUs = 1000
)

// recentEvents is the events this process committed last, per store.
type recentEvents struct {
	mu   sync.Mutex
	runs map[int64][]hub.Event // consecutive sequences, oldest first
	// wake wakes the sessions of stores with new events; nil while no
	// one listens (DB.Listen), and recent is then left empty, so that no
	// notification is dropped that nobody else woke the sessions for.
	wake func(storeIDs []int64)
	// staged holds the events of transactions not committed yet, by
	// transaction.
	staged map[*sqlx.Tx]*stagedEvents
}

// stagedEvents is what one transaction published.
type stagedEvents struct {
	events []hub.Event
	heads  map[int64]int64 // newest sequence per store
}

// listening sets the function that wakes the sessions, or clears it (nil)
// and with it what recent holds.
func (r *recentEvents) listening(wake func(storeIDs []int64)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.wake = wake
	if wake == nil {
		clear(r.runs)
	}
}

// enabled reports whether publish should return its events.
func (r *recentEvents) enabled() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.wake != nil
}

// stage keeps tx's events (sorted by store, then sequence) until tx
// commits (committed) or not (discard).
func (r *recentEvents) stage(tx *sqlx.Tx, events []hub.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.staged == nil {
		r.staged = map[*sqlx.Tx]*stagedEvents{}
	}
	st := r.staged[tx]
	if st == nil {
		st = &stagedEvents{heads: map[int64]int64{}}
		r.staged[tx] = st
	}
	st.events = append(st.events, events...)
	for _, e := range events {
		st.heads[e.StoreID] = max(st.heads[e.StoreID], e.Seq)
	}
}

// discard forgets tx's events: it rolled back.
func (r *recentEvents) discard(tx *sqlx.Tx) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.staged, tx)
}

// commitFailed forgets tx's events, whose commit failed, and wakes their
// stores' sessions to read PostgreSQL: a commit whose answer was lost may
// have happened, and its notification been dropped (notified).
func (r *recentEvents) commitFailed(tx *sqlx.Tx) {
	r.mu.Lock()
	st := r.staged[tx]
	delete(r.staged, tx)
	wake := r.wake
	r.mu.Unlock()
	if st == nil || wake == nil {
		return
	}
	stores := make([]int64, 0, len(st.heads))
	for id := range st.heads {
		stores = append(stores, id)
	}
	slices.Sort(stores)
	wake(stores)
}

// committed adds tx's staged events to the runs and wakes their stores'
// sessions.
func (r *recentEvents) committed(tx *sqlx.Tx) {
	r.mu.Lock()
	st, ok := r.staged[tx]
	delete(r.staged, tx)
	wake := r.wake
	if !ok || wake == nil {
		r.mu.Unlock()
		return
	}
	events := st.events
	if r.runs == nil {
		r.runs = map[int64][]hub.Event{}
	}
	var stores []int64
	for len(events) > 0 {
		id := events[0].StoreID
		n := 1
		for n < len(events) && events[n].StoreID == id {
			n++
		}
		r.append(id, events[:n])
		stores = append(stores, id)
		events = events[n:]
	}
	r.mu.Unlock()
	wake(stores)
}

// append adds one store's new events to its run: after it when they
// follow it, in its place otherwise. Caller holds mu.
func (r *recentEvents) append(storeID int64, events []hub.Event) {
	run := r.runs[storeID]
	if len(run) == 0 || run[len(run)-1].Seq+1 != events[0].Seq {
		run = run[:0]
	}
	run = append(run, events...)
	if over := len(run) - maxRecent; over > 0 {
		run = append(run[:0], run[over:]...)
	}
	r.runs[storeID] = run
}

// after returns up to limit of the store's events after seq `after` when
// recent holds the one right after it, and ok false when it does not.
func (r *recentEvents) after(storeID, after int64, limit int) (events []hub.Event, ok bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	run := r.runs[storeID]
	if len(run) == 0 || after+1 < run[0].Seq || after >= run[len(run)-1].Seq {
		return nil, false
	}
	run = run[after+1-run[0].Seq:]
	return append([]hub.Event(nil), run[:min(limit, len(run))]...), true
}

// notified takes a notification's payload and returns the stores whose
// sessions must read PostgreSQL: nil for "every store" (an empty payload,
// for a change to too many stores to name). The notification of a
// transaction of this process may come before its commit returns: it is
// dropped too, as that commit will wake the sessions.
func (r *recentEvents) notified(payload string) []int64 {
	if payload == "" {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	ids := []int64{}
	for f := range strings.SplitSeq(payload, ",") {
		idText, headText, hasHead := strings.Cut(strings.TrimSpace(f), ":")
		id, err := strconv.ParseInt(idText, 10, 64)
		if err != nil {
			continue
		}
		// Without a head (a reclaim, or a replica of an older version)
		// the notification stands.
		if head, err := strconv.ParseInt(headText, 10, 64); hasHead && err == nil {
			if run := r.runs[id]; len(run) > 0 && head <= run[len(run)-1].Seq || r.committing(id, head) {
				continue
			}
		}
		ids = append(ids, id)
	}
	return ids
}

// committing reports whether a transaction of this process, not yet seen
// to commit, wrote the store's event seq. Caller holds mu.
func (r *recentEvents) committing(storeID, seq int64) bool {
	for _, st := range r.staged {
		if st.heads[storeID] == seq {
			return true
		}
	}
	return false
}

// forget empties recent: after notifications may have been lost, and
// with them the news of events after what it holds; after a prune, so
// that a session behind it gets its snapshot as from PostgreSQL.
func (r *recentEvents) forget() {
	r.mu.Lock()
	defer r.mu.Unlock()
	clear(r.runs)
}
