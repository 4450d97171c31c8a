package wooclient

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/stockwire/stockwire/shared/promreg"
)

type metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	retries  prometheus.Counter
	deferred prometheus.Gauge
}

// newMetrics builds the client's metrics on reg (nil: none). Several
// clients on one registry share them.
func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	set := promreg.NewSet(reg)
	m := &metrics{
		requests: promreg.Add(set, prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "stockwire", Subsystem: "agent", Name: "woo_requests_total",
			Help: "WooCommerce REST requests sent, by route pattern and HTTP status code.",
		}, []string{"route", "code"})),
		duration: promreg.Add(set, prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "stockwire", Subsystem: "agent", Name: "woo_request_duration_seconds",
			Help:    "Duration of one WooCommerce REST request attempt, by route pattern.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"route"})),
		retries: promreg.Add(set, prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "stockwire", Subsystem: "agent", Name: "woo_retries_total",
			Help: "WooCommerce REST request attempts that were retried.",
		})),
		deferred: promreg.Add(set, prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "stockwire", Subsystem: "agent", Name: "woo_deferred_requests",
			Help: "Requests (order polls, safety-net checks, scans) held back for the rate limit's reserve for stock writes.",
		})),
	}
	if err := set.Err(); err != nil {
		return nil, fmt.Errorf("register store client metrics: %w", err)
	}
	return m, nil
}
