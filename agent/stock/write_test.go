// The write path when the store's answer is lost: verified by reading
// stockwire_seq back, and after a restart.

package stock_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stockwire/stockwire/agent/stock"
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
