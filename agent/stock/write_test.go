// The write path when the store's answer is lost: verified by reading
// stockwire_seq back, and after a restart.

package stock_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stockwire/stockwire/agent/stock"
	"github.com/stockwire/stockwire/shared/systest"
	"github.com/stockwire/stockwire/shared/wire"
)

// lossyProxy forwards to the store; when dropAfter is set the next batch is
// applied by the store but answered 502, when dropBefore it is answered
// 502 without reaching the store.
type lossyProxy struct {
	store      http.Handler
	dropAfter  atomic.Bool
	dropBefore atomic.Bool
}

func (p *lossyProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasSuffix(r.URL.Path, "/batch") {
		if p.dropBefore.CompareAndSwap(true, false) {
			http.Error(w, "bad gateway", 502)
			return
		}
		if p.dropAfter.CompareAndSwap(true, false) {
			p.store.ServeHTTP(httptest.NewRecorder(), r)
			http.Error(w, "bad gateway", 502)
			return
		}
	}
	p.store.ServeHTTP(w, r)
}

func TestWriter_UnknownOutcome(t *testing.T) {
	t.Parallel()
	srv := mustSim(t, 3)
	proxy := &lossyProxy{store: srv.Store}
	front := httptest.NewServer(proxy)
	t.Cleanup(front.Close)
	srv.Store.SetHomeURL(front.URL)
	dir := t.TempDir()

	t.Run("VerifiedApplied", func(t *testing.T) {
		r := mustWriter(t, front.URL, dir, nil)
		proxy.dropAfter.Store(true)
		r.w.Apply([]wire.Change{{Seq: 1, SKU: sku(1), Delta: -5, Target: 995}})
		waitApplied(t, r.w, 1)
		if got := stockOf(t, srv, sku(1)); got != 995 {
			t.Fatalf("stock=%d, want 995 (applied once)", got)
		}
		proxy.dropBefore.Store(true)
		r.w.Apply([]wire.Change{{Seq: 2, SKU: sku(1), Delta: -5, Target: 990}})
		waitApplied(t, r.w, 2)
		if got := stockOf(t, srv, sku(1)); got != 990 {
			t.Fatalf("stock=%d, want 990 (resent once)", got)
		}
		if got := counter(t, r.reg, "stockwire_agent_stock_writes_total", "result", "unknown_outcome"); got != 2 {
			t.Fatalf("unknown outcomes=%v, want 2", got)
		}
		r.stop()
	})
	t.Run("CrashRestart", func(t *testing.T) {
		// The writer dies after the store applied seq 3 but before it
		// learnt so: AppliedSeq stays 2.
		r := mustWriter(t, front.URL, dir, func(c *stock.Config) { c.VerifyDelay = time.Hour })
		if got := r.w.AppliedSeq(); got != 2 {
			t.Fatalf("AppliedSeq after restart=%d, want 2", got)
		}
		proxy.dropAfter.Store(true)
		r.w.Apply([]wire.Change{{Seq: 3, SKU: sku(1), Delta: -7, Target: 983}, {Seq: 4, SKU: sku(2), Delta: 1, Target: 1001}})
		waitStock(t, srv, sku(1), 983)
		waitStock(t, srv, sku(2), 1001)
		r.stop()
		if got := r.w.AppliedSeq(); got != 2 {
			t.Fatalf("AppliedSeq=%d, want 2 (outcome never confirmed)", got)
		}
		// The hub resends from AppliedSeq; the new writer reads
		// stockwire_seq and writes only what is missing.
		r2 := mustWriter(t, front.URL, dir, nil)
		if got := r2.w.AppliedSeq(); got != 2 {
			t.Fatalf("AppliedSeq after restart=%d, want 2", got)
		}
		r2.w.Apply([]wire.Change{{Seq: 3, SKU: sku(1), Delta: -7, Target: 983}, {Seq: 4, SKU: sku(2), Delta: 1, Target: 1001}, {Seq: 5, SKU: sku(1), Delta: 3, Target: 986}})
		waitApplied(t, r2.w, 5)
		if got := stockOf(t, srv, sku(1)); got != 986 {
			t.Fatalf("stock=%d, want 986 (seq 3 not applied twice)", got)
		}
		if got := stockOf(t, srv, sku(2)); got != 1001 {
			t.Fatalf("stock=%d, want 1001", got)
		}
	})
}

// roundsOf200 makes rounds of 200 SKUs, and leaves the safety net out of
// the count of reads.
func roundsOf200(c *stock.Config) { c.RoundSKUs, c.CheckInterval = 200, time.Hour }

// TestWriter_SnapshotInRounds: a snapshot larger than RoundSKUs goes out
// in rounds, each reading and writing its SKUs 100 per request, and a
// hub change that arrives meanwhile is written too. A writer restarted on
// a store that has part of the snapshot reads every SKU again but writes
// only what is left.
func TestWriter_SnapshotInRounds(t *testing.T) {
	srv := mustSim(t, 450)
	dir := t.TempDir()
	r := mustWriter(t, srv.URL, dir, roundsOf200)
	targets := map[string]int64{}
	for i := 1; i <= 450; i++ {
		targets[sku(i)] = int64(i)
	}
	batches := func() int64 { return srv.Store.Stats().Requests["POST /wp-json/wc/v3/products/batch 200"] }
	reads := func() int64 { return srv.Store.Stats().Requests["GET /wp-json/wc/v3/products 200"] }
	r.w.ApplySnapshot(5, targets)
	r.w.Apply([]wire.Change{{Seq: 6, SKU: sku(450), Delta: -1, Target: 449}})
	waitApplied(t, r.w, 6)
	for s, want := range targets {
		if s == sku(450) {
			want = 449
		}
		if got := stockOf(t, srv, s); got != want {
			t.Fatalf("%s stock=%d, want %d", s, got, want)
		}
	}
	// Rounds of 200, 200 and 50 SKUs: 2 + 2 + 1 requests each way.
	if got := batches(); got != 5 {
		t.Errorf("batch writes=%d, want 5 (stats %v)", got, srv.Store.Stats().Requests)
	}
	if got := reads(); got != 5 {
		t.Errorf("reads=%d, want 5", got)
	}
	r.stop()

	// A writer restarted without its state file (killed in its first
	// sync) is sent the snapshot again; the store already shows 400 of its
	// figures, and their stockwire_seq say so.
	for i := 1; i <= 50; i++ {
		if err := srv.Store.AdminEdit(sku(i), 1000); err != nil {
			t.Fatal(err)
		}
	}
	wrote, read := batches(), reads()
	again := mustWriter(t, srv.URL, t.TempDir(), roundsOf200)
	targets[sku(450)] = 449
	again.w.ApplySnapshot(6, targets)
	waitApplied(t, again.w, 6)
	for s, want := range targets {
		if got := stockOf(t, srv, s); got != want {
			t.Fatalf("%s stock=%d, want %d", s, got, want)
		}
	}
	if got := batches() - wrote; got != 1 {
		t.Errorf("batch writes after the restart=%d, want 1 (50 SKUs left)", got)
	}
	if got := reads() - read; got != 5 {
		t.Errorf("reads after the restart=%d, want 5", got)
	}
}

// TestWriter_AppliedSeqWaitsForSnapshot: while a snapshot's writes are
// pending, AppliedSeq stays where it was when the snapshot came, even as
// later changes of other SKUs are written: a restart must make the hub
// send the snapshot again, not resume past it.
func TestWriter_AppliedSeqWaitsForSnapshot(t *testing.T) {
	srv := mustSim(t, 3)
	var quiet atomic.Bool
	r := mustWriter(t, srv.URL, t.TempDir(), func(c *stock.Config) { c.Quiet = quiet.Load })
	r.w.Apply([]wire.Change{{Seq: 1, SKU: sku(1), Delta: -1, Target: 999}})
	waitApplied(t, r.w, 1)
	r.w.ApplySnapshot(5, map[string]int64{sku(2): 7})
	r.w.Apply([]wire.Change{{Seq: 6, SKU: sku(3), Delta: -2, Target: 998}})
	waitStock(t, srv, sku(3), 998)
	systest.WaitFor(t, waitTimeout, "the snapshot held", func() error {
		if !r.w.Deferred() {
			return errors.New("not held")
		}
		return nil
	})
	if got := r.w.AppliedSeq(); got != 1 {
		t.Fatalf("AppliedSeq=%d with the snapshot not written, want 1 (where it was when the snapshot came)", got)
	}
	quiet.Store(true)
	waitApplied(t, r.w, 6)
	waitStock(t, srv, sku(2), 7)
}
