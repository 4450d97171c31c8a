package postgres

import (
	"fmt"

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
	for _, c := range []prometheus.Collector{m.queryDuration, inUse} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register db metrics: %w", err)
		}
	}
	return m, nil
}
