package postgres_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stockwire/stockwire/hub"
	"github.com/stockwire/stockwire/hub/internal/pgtest"
	"github.com/stockwire/stockwire/hub/postgres"
)

// BenchmarkOrderCommit measures order lines committed per second on a
// cluster with fsync on, with 3 active stores (so every order writes
// events): "spread" orders have 3 lines over 1,000 SKUs, "hot" orders one
// line of the same SKU.
//
//	go test -run '^$' -bench BenchmarkOrderCommit -benchtime 3s ./hub/postgres/
func BenchmarkOrderCommit(b *testing.B) {
	for _, bc := range []struct {
		name  string
		lines int
		hot   bool
	}{{"spread", 3, false}, {"hot", 1, true}} {
		b.Run(bc.name, func(b *testing.B) {
			ctx := context.Background()
			c := pgtest.FsyncCluster(b)
			db, err := postgres.Open(ctx, pgtest.NewDBIn(b, c, true), nil)
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { db.Close() })
			inv, stores, orders := postgres.NewInventoryService(db), postgres.NewStoreService(db), postgres.NewOrderService(db)
			var ids []int64
			for i := range 3 {
				st, _, err := stores.Create(ctx, hub.NewStore{Name: fmt.Sprint("s", i), URL: "https://s.example", Policy: hub.PolicyMirror})
				if err != nil {
					b.Fatal(err)
				}
				ids = append(ids, st.ID)
			}
			counts := make([]hub.Count, 1000)
			for i := range counts {
				counts[i] = hub.Count{SKU: fmt.Sprintf("SKU%04d", i), Location: "main", OnHand: 1_000_000}
			}
			if _, err := inv.Import(ctx, counts); err != nil {
				b.Fatal(err)
			}
			var next atomic.Int64
			b.SetParallelism(2) // 4 writers on 2 cores: more only adds lock queueing
			b.ResetTimer()
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
				for pb.Next() {
					n := next.Add(1)
					lines := make([]hub.OrderLine, bc.lines)
					for i := range lines {
						sku := "SKU0000"
						if !bc.hot {
							sku = fmt.Sprintf("SKU%04d", rng.IntN(1000))
						}
						lines[i] = hub.OrderLine{SKU: sku, Quantity: 1}
					}
					if _, err := orders.ApplyOrderReport(ctx, ids[n%3], hub.OrderReport{
						WooOrderID: n, Status: "processing", DateModified: time.Now(), Lines: lines,
					}); err != nil {
						b.Error(err)
						return
					}
				}
			})
			el := time.Since(start)
			b.ReportMetric(float64(b.N*bc.lines)/el.Seconds(), "lines/s")
		})
	}
}
