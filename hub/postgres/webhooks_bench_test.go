package postgres_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stockwire/stockwire/hub"
	"github.com/stockwire/stockwire/hub/postgres"
	"github.com/stockwire/stockwire/shared/pgtest"
	"github.com/stockwire/stockwire/shared/procstat"
)

// BenchmarkWebhookQueue measures what the webhook outbox costs
// PostgreSQL (fsync on), per order reported with 0 and 3 subscriptions
// (the events and deliveries the order transaction writes), and per
// delivery claimed and recorded as delivered by 4 concurrent loops of
// ClaimDeliveries(100) and FinishDeliveries: wall time and the cluster's
// CPU time (every backend).
//
//	go test -run '^$' -bench BenchmarkWebhookQueue -benchtime 5000x ./hub/postgres/
func BenchmarkWebhookQueue(b *testing.B) {
	for _, subs := range []int{0, 3} {
		b.Run(fmt.Sprintf("report/subscriptions=%d", subs), func(b *testing.B) {
			q := newQueueBench(b, subs)
			q.measure(b, "order", func() { q.report(b, b.N) })
		})
	}
	b.Run("claim+finish/subscriptions=3", func(b *testing.B) {
		q := newQueueBench(b, 3)
		q.report(b, (b.N+2)/3) // b.N deliveries
		q.measure(b, "delivery", func() { q.drain(b) })
	})
}

type queueBench struct {
	ctx    context.Context
	pgPID  int
	orders *postgres.OrderService
	hooks  *postgres.WebhookService
	store  int64
	next   atomic.Int64
}

func newQueueBench(b *testing.B, subs int) *queueBench {
	ctx := context.Background()
	c := pgtest.FsyncCluster(b)
	pid, err := procstat.PostmasterPID(c.Dir)
	if err != nil {
		b.Fatal(err)
	}
	db, err := postgres.Open(ctx, pgtest.NewDBIn(b, c, true), nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	q := &queueBench{ctx: ctx, pgPID: pid, orders: postgres.NewOrderService(db), hooks: postgres.NewWebhookService(db)}
	st, _, err := postgres.NewStoreService(db).Create(ctx, hub.NewStore{Name: "s", URL: "https://s.example", Policy: hub.PolicyMirror})
	if err != nil {
		b.Fatal(err)
	}
	q.store = st.ID
	counts := make([]hub.Count, 200)
	for i := range counts {
		counts[i] = hub.Count{SKU: fmt.Sprintf("SKU%04d", i), Location: "main", OnHand: 1_000_000_000}
	}
	if _, err := postgres.NewInventoryService(db).Import(ctx, counts); err != nil {
		b.Fatal(err)
	}
	for i := range subs {
		if _, _, err := q.hooks.CreateWebhook(ctx, hub.NewWebhook{URL: fmt.Sprintf("https://erp%d.example/in", i), Enabled: true,
			Events: []string{hub.EventOrderCreated, hub.EventOrderUpdated, hub.EventOrderCancelled}}); err != nil {
			b.Fatal(err)
		}
	}
	return q
}

// measure runs fn, timed, and reports PostgreSQL's CPU time per unit.
func (q *queueBench) measure(b *testing.B, unit string, fn func()) {
	cpu0, err := procstat.ReadTreeCPU(q.pgPID)
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	start := time.Now()
	fn()
	el := time.Since(start)
	b.StopTimer()
	cpu1, err := procstat.ReadTreeCPU(q.pgPID)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/el.Seconds(), unit+"s/s")
	b.ReportMetric(float64(cpu1-cpu0)/float64(time.Microsecond)/float64(b.N), "pg-cpu-µs/"+unit)
}

// report reports n new one-line orders from 4 concurrent reporters.
func (q *queueBench) report(b *testing.B, n int) {
	var wg sync.WaitGroup
	last := q.next.Load() + int64(n)
	for range 4 {
		wg.Go(func() {
			for {
				id := q.next.Add(1)
				if id > last {
					return
				}
				if _, err := q.orders.ApplyOrderReport(q.ctx, q.store, hub.OrderReport{
					WooOrderID: id, Number: fmt.Sprint(id), Status: "processing", DateModified: time.Now(),
					Lines: []hub.OrderLine{{SKU: fmt.Sprintf("SKU%04d", id%200), Quantity: 1}},
				}); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
}

// drain claims and finishes deliveries from 4 loops until none is left.
func (q *queueBench) drain(b *testing.B) {
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for {
				claimed, err := q.hooks.ClaimDeliveries(q.ctx, 100, time.Minute)
				if err != nil {
					b.Error(err)
					return
				}
				if len(claimed) == 0 {
					return
				}
				done := make([]hub.WebhookResult, len(claimed))
				for i, a := range claimed {
					done[i] = hub.WebhookResult{DeliveryID: a.Delivery.ID, State: hub.DeliveryDelivered, Status: 204}
				}
				if _, err := q.hooks.FinishDeliveries(q.ctx, done, 24*time.Hour); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
}
