package postgres_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stockwire/stockwire/hub"
	"github.com/stockwire/stockwire/hub/postgres"
	"github.com/stockwire/stockwire/shared/pgcluster"
	"github.com/stockwire/stockwire/shared/pgtest"
)

// BenchmarkOrderCommit measures order lines committed per second on a
// cluster with fsync on, with 3 active stores (so every order writes
// events): "spread" orders have 3 lines over 1,000 SKUs, "hot" orders one
// line of the same SKU. Reports come from 4 or 32 concurrent reporters (a
// hub's agent sessions each report one order at a time; 32 stand for a hub
// with dozens of busy stores), which the order service group-commits.
//
//	go test -run '^$' -bench BenchmarkOrderCommit -benchtime 3s ./hub/postgres/
func BenchmarkOrderCommit(b *testing.B) {
	for _, bc := range []struct {
		name  string
		lines int
		hot   bool
	}{{"spread", 3, false}, {"hot", 1, true}} {
		for _, reporters := range []int{4, 32} {
			b.Run(fmt.Sprintf("%s/reporters=%d", bc.name, reporters), func(b *testing.B) {
				benchOrderCommit(b, bc.lines, bc.hot, reporters)
			})
		}
	}
}

// benchOrders opens a database on the fsync cluster with n mirror stores
// and SKU0000… of skus SKUs counted at 1,000,000 each, and returns its
// order service and the stores' ids.
func benchOrders(b *testing.B, n, skus int) (*postgres.DB, *postgres.OrderService, []int64) {
	ctx := context.Background()
	db, err := postgres.Open(ctx, pgtest.NewDBIn(b, pgtest.FsyncCluster(b), true), nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	stores := postgres.NewStoreService(db)
	var ids []int64
	for i := range n {
		st, _, err := stores.Create(ctx, hub.NewStore{Name: fmt.Sprint("s", i), URL: "https://s.example", Policy: hub.PolicyMirror})
		if err != nil {
			b.Fatal(err)
		}
		ids = append(ids, st.ID)
	}
	counts := make([]hub.Count, skus)
	for i := range counts {
		counts[i] = hub.Count{SKU: fmt.Sprintf("SKU%04d", i), Location: "main", OnHand: 1_000_000}
	}
	if _, err := postgres.NewInventoryService(db).Import(ctx, counts); err != nil {
		b.Fatal(err)
	}
	return db, postgres.NewOrderService(db), ids
}

func benchOrderCommit(b *testing.B, lines int, hot bool, reporters int) {
	ctx := context.Background()
	_, orders, ids := benchOrders(b, 3, 1000)
	var next atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for r := range reporters {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(r), 1))
			for {
				n := next.Add(1)
				if n > int64(b.N) {
					return
				}
				ls := make([]hub.OrderLine, lines)
				for i := range ls {
					sku := "SKU0000"
					if !hot {
						sku = fmt.Sprintf("SKU%04d", rng.IntN(1000))
					}
					ls[i] = hub.OrderLine{SKU: sku, Quantity: 1}
				}
				if _, err := orders.ApplyOrderReport(ctx, ids[n%3], hub.OrderReport{
					WooOrderID: n, Status: "processing", DateModified: time.Now(), Lines: ls,
				}); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	el := time.Since(start)
	b.ReportMetric(float64(b.N*lines)/el.Seconds(), "lines/s")
}

// BenchmarkOrderReport measures the latency of a lone order report (one
// line, with the order's JSON, and an ERP subscribed to order events) with
// 10 and with 100 mirror stores, fsync on: the hub's share of the time
// from a checkout in one store to the write at every other, which
// linkbench measures end to end. Each report waits for the previous one,
// so every transaction runs alone, as at 2 or 20 checkouts a second.
//
//	go test -run '^$' -bench BenchmarkOrderReport -benchtime 2s ./hub/postgres/
func BenchmarkOrderReport(b *testing.B) {
	for _, n := range []int{10, 100} {
		b.Run(fmt.Sprintf("stores=%d", n), func(b *testing.B) {
			ctx := context.Background()
			db, orders, ids := benchOrders(b, n, 200)
			if _, _, err := postgres.NewWebhookService(db).CreateWebhook(ctx, hub.NewWebhook{URL: "https://erp.example/in",
				Events: []string{hub.EventOrderCreated, hub.EventOrderUpdated}, Enabled: true}); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for i := range b.N {
				id := int64(i + 1)
				if _, err := orders.ApplyOrderReport(ctx, ids[i%n], hub.OrderReport{
					WooOrderID: id, Number: strconv.FormatInt(id, 10), Status: "processing", DateModified: time.Now(),
					Lines: []hub.OrderLine{{SKU: fmt.Sprintf("SKU%04d", i%200), Quantity: 1}},
					Raw:   rawOrder(id, "processing", time.Now(), 1),
				}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkCountFanout measures one ERP count change of a SKU shown by
// 1,000 mirror stores: the transaction that recomputes 1,000 targets and
// appends 1,000 events (fsync on). The link's fan-out waits for it.
//
//	go test -run '^$' -bench BenchmarkCountFanout -benchtime 100x ./hub/postgres/
func BenchmarkCountFanout(b *testing.B) {
	ctx := context.Background()
	c := pgtest.FsyncCluster(b)
	db, err := postgres.Open(ctx, pgtest.NewDBIn(b, c, true), nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	inv, stores := postgres.NewInventoryService(db), postgres.NewStoreService(db)
	for i := range 1000 {
		if _, _, err := stores.Create(ctx, hub.NewStore{Name: fmt.Sprint("s", i), URL: "https://s.example", Policy: hub.PolicyMirror}); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for i := range b.N {
		if _, err := inv.SetCount(ctx, hub.Count{SKU: "FAN", Location: "main", OnHand: int64(1000 + i%2)}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkImport100k measures one ERP import of 100,000 counts (a new SKU
// each, then a recount of them all), all or nothing, on a cluster with
// fsync on and 3 active stores, so every count writes a change for each
// store. The target is 5 s or less per import. It reports the mean and
// the slowest import's time (s/import, max-s/import; the first import
// creates the SKUs, the next ones recount them) and the CPU time
// PostgreSQL spent per import (pg-cpu-s/import), which a machine shared
// with other work slows less.
//
//	go test -run '^$' -bench BenchmarkImport100k -benchtime 2x ./hub/postgres/
func BenchmarkImport100k(b *testing.B) {
	ctx := context.Background()
	c := pgtest.FsyncCluster(b)
	db, err := postgres.Open(ctx, pgtest.NewDBIn(b, c, true), nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	inv, stores := postgres.NewInventoryService(db), postgres.NewStoreService(db)
	for i := range 3 {
		if _, _, err := stores.Create(ctx, hub.NewStore{Name: fmt.Sprint("s", i), URL: "https://s.example", Policy: hub.PolicyMirror}); err != nil {
			b.Fatal(err)
		}
	}
	counts := make([]hub.Count, 100_000)
	var pgCPU, wall, slowest time.Duration
	b.ResetTimer()
	for n := range b.N {
		for i := range counts {
			counts[i] = hub.Count{SKU: fmt.Sprintf("SKU-%06d", i), Location: "main", OnHand: int64(100 + n + i%7)}
		}
		start, cpu := time.Now(), clusterCPU(b, c)
		if _, err := inv.Import(ctx, counts); err != nil {
			b.Fatal(err)
		}
		took := time.Since(start)
		wall, slowest = wall+took, max(slowest, took)
		pgCPU += clusterCPU(b, c) - cpu
	}
	b.ReportMetric(wall.Seconds()/float64(b.N), "s/import")
	b.ReportMetric(slowest.Seconds(), "max-s/import")
	b.ReportMetric(pgCPU.Seconds()/float64(b.N), "pg-cpu-s/import")
}

// clusterCPU returns the CPU time c's server processes have used: the
// postmaster's, its children's so far, and that of the children it reaped.
func clusterCPU(tb testing.TB, c *pgcluster.Cluster) time.Duration {
	tb.Helper()
	pidFile, err := os.ReadFile(filepath.Join(c.Dir, "postmaster.pid"))
	if err != nil {
		tb.Fatal(err)
	}
	postmaster, _, _ := strings.Cut(string(pidFile), "\n")
	// Fields of /proc/PID/stat after the command: state, ppid, …; utime,
	// stime, cutime and cstime are the 14th to 17th, in clock ticks
	// (100 a second on Linux).
	stat := func(pid string) []string {
		b, err := os.ReadFile("/proc/" + pid + "/stat")
		if err != nil {
			return nil // ended meanwhile
		}
		_, rest, _ := strings.Cut(string(b), ") ")
		return strings.Fields(rest)
	}
	ticks := func(fields []string, from, to int) (n int64) {
		for _, f := range fields[from-3 : to-2] {
			v, _ := strconv.ParseInt(f, 10, 64)
			n += v
		}
		return n
	}
	total := ticks(stat(postmaster), 14, 17)
	procs, err := os.ReadDir("/proc")
	if err != nil {
		tb.Fatal(err)
	}
	for _, p := range procs {
		if f := stat(p.Name()); len(f) > 14 && f[1] == postmaster {
			total += ticks(f, 14, 15)
		}
	}
	return time.Duration(total) * 10 * time.Millisecond
}
