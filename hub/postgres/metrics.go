package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	queryDuration *prometheus.HistogramVec
}

func newMetrics(reg prometheus.Registerer, db *sqlx.DB) (*metrics, error) {
	m := &metrics{
		queryDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "stockwire",
			Subsystem: "hub",
			Name:      "db_query_duration_seconds",
			Help:      "Duration of hub database operations, including retries.",
			Buckets:   []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"op"}),
	}
	inUse := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: "stockwire",
		Subsystem: "hub",
		Name:      "db_connections_in_use",
		Help:      "Connections of the hub's pool currently in use.",
	}, func() float64 { return float64(db.Stats().InUse) })
	for _, c := range []prometheus.Collector{m.queryDuration, inUse, &allocCollector{db: db}} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register db metrics: %w", err)
		}
	}
	return m, nil
}

// allocCollector reads the allocate policy's figures at scrape time.
type allocCollector struct {
	db *sqlx.DB
}

var (
	exposureDesc = prometheus.NewDesc("stockwire_hub_allocation_exposure_units",
		"Units by which allocations and committed orders exceed on hand less safety stock, summed over SKUs, until reclaims settle it.", nil, nil)
	oversoldDesc = prometheus.NewDesc("stockwire_hub_allocation_oversold_units",
		"Units allocate stores sold beyond their allocation, summed over stores and SKUs.", nil, nil)
	allocatedDesc = prometheus.NewDesc("stockwire_hub_allocated_units",
		"Units granted to allocate stores and not yet sold or released.", nil, nil)
	reclaimsDesc = prometheus.NewDesc("stockwire_hub_reclaims_pending",
		"Reclaims asked of stores and not yet confirmed.", nil, nil)
)

func (c *allocCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- exposureDesc
	ch <- oversoldDesc
	ch <- allocatedDesc
	ch <- reclaimsDesc
}

func (c *allocCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var v struct {
		Exposure  int64 `db:"exposure"`
		Oversold  int64 `db:"oversold"`
		Allocated int64 `db:"allocated"`
		Reclaims  int64 `db:"reclaims"`
	}
	err := c.db.GetContext(ctx, &v, `
		WITH tot AS (SELECT sku, sum(allocated) AS held, sum(oversold) AS oversold FROM store_allocations GROUP BY sku)
		SELECT COALESCE(sum(GREATEST(tot.held + k.committed - (k.on_hand - k.safety_stock), 0)), 0)::bigint AS exposure,
			COALESCE(sum(tot.oversold), 0)::bigint AS oversold, COALESCE(sum(tot.held), 0)::bigint AS allocated,
			(SELECT count(*) FROM reclaims WHERE status = 'pending') AS reclaims
		FROM tot JOIN skus k ON k.sku = tot.sku`)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(exposureDesc, fmt.Errorf("read allocation figures: %w", err))
		return
	}
	ch <- prometheus.MustNewConstMetric(exposureDesc, prometheus.GaugeValue, float64(v.Exposure))
	ch <- prometheus.MustNewConstMetric(oversoldDesc, prometheus.GaugeValue, float64(v.Oversold))
	ch <- prometheus.MustNewConstMetric(allocatedDesc, prometheus.GaugeValue, float64(v.Allocated))
	ch <- prometheus.MustNewConstMetric(reclaimsDesc, prometheus.GaugeValue, float64(v.Reclaims))
}
