// The echoes of the writer's writes: while the store's webhooks bring
// them, the safety net reads the modified products every SweepInterval;
// once one does not come, every round again.

package stock_test

import (
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stockwire/stockwire/agent/stock"
	"github.com/stockwire/stockwire/shared/systest"
	"github.com/stockwire/stockwire/shared/wire"
	"github.com/stockwire/stockwire/shared/woo"
)

func TestWriter_EchoesPaceTheModifiedRead(t *testing.T) {
	t.Parallel()
	srv := mustSim(t, 2)
	var looks atomic.Int64 // the safety net's reads of modified products
	srv.Store.SetOnRequest(func(r *http.Request) {
		if r.URL.Query().Has("modified_after") && strings.HasSuffix(r.URL.Path, "/products") {
			looks.Add(1)
		}
	})
	const sweep = time.Second
	r := mustWriter(t, srv.URL, t.TempDir(), func(c *stock.Config) {
		c.SweepInterval, c.EchoWindow = sweep, 300*time.Millisecond
	})
	// echo delivers the product.updated webhook of the SKU's write, as the
	// receiver hands it to the writer.
	echo := func(s string) {
		id, _ := srv.Store.ProductIDBySKU(s)
		q := stockOf(t, srv, s)
		r.w.Echo(woo.Product{ID: id, SKU: s, StockQuantity: &q})
	}
	late := func() float64 { return counter(t, r.reg, "stockwire_agent_stock_echoes_late_total") }
	// looksOver counts the looks during n safety-net rounds.
	looksOver := func(n int64) (rounds, got int64, took time.Duration) {
		start, l0, c0 := time.Now(), looks.Load(), r.w.Checks()
		waitChecks(t, r.w, c0+n)
		return r.w.Checks() - c0, looks.Load() - l0, time.Since(start)
	}

	// The first write's webhook comes before its answer reaches the
	// writer (a store delivering at the end of the request), the second's
	// after it.
	srv.Store.SetOnStockWrite(func(skus []string, _ time.Time) {
		for _, s := range skus {
			echo(s)
		}
	})
	r.w.Apply([]wire.Change{{Seq: 1, SKU: sku(1), Delta: -5, Target: 995}})
	waitApplied(t, r.w, 1)
	srv.Store.SetOnStockWrite(nil)
	waitChecks(t, r.w, r.w.Checks()+10) // past the echo window
	if n := late(); n != 0 {
		t.Fatalf("echoes late=%v after a webhook that came during its write, want 0", n)
	}
	r.w.Apply([]wire.Change{{Seq: 2, SKU: sku(1), Delta: -5, Target: 990}})
	waitApplied(t, r.w, 2)
	echo(sku(1))
	rounds, got, took := looksOver(20)
	if most := int64(took/sweep) + 1; got > most {
		t.Fatalf("%d looks in %d rounds over %s while every echo came, want at most %d (one a sweep)", got, rounds, took, most)
	}
	if n := late(); n != 0 {
		t.Fatalf("echoes late=%v, want 0", n)
	}

	// A write whose echo never comes: every round looks again.
	r.w.Apply([]wire.Change{{Seq: 3, SKU: sku(2), Delta: 5, Target: 1005}})
	waitApplied(t, r.w, 3)
	systest.WaitFor(t, waitTimeout, "the echo found late", func() error {
		if n := late(); n != 1 {
			return fmt.Errorf("echoes late=%v, want 1", n)
		}
		return nil
	})
	if rounds, got, _ := looksOver(10); got < rounds-1 {
		t.Fatalf("%d looks in %d rounds after an echo did not come, want one a round", got, rounds)
	}
}
