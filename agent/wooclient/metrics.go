package wooclient

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/stockwire/stockwire/shared/promreg"
)

type metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	retries  prometheus.Counter
	deferred prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "stockwire_agent_woo_requests_total",
			Help: "WooCommerce REST requests sent, by route pattern and HTTP status code.",
		}, []string{"route", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "stockwire_agent_woo_request_duration_seconds",
			Help:    "Duration of one WooCommerce REST request attempt, by route pattern.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"route"}),
		retries: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "stockwire_agent_woo_retries_total",
			Help: "WooCommerce REST request attempts that were retried.",
		}),
		deferred: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "stockwire_agent_woo_deferred_requests",
			Help: "Requests (order polls, safety-net checks, scans) held back for the rate limit's reserve for stock writes.",
		}),
	}
	if reg != nil {
		m.requests = register(reg, m.requests)
		m.duration = register(reg, m.duration)
		m.retries = register(reg, m.retries)
		m.deferred = register(reg, m.deferred)
	}
	return m
}

// register registers c, reusing an identical collector already registered
// (several clients may share one registry).
func register[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	c, err := promreg.Reuse(reg, c)
	if err != nil {
		panic(err) // a clashing metric is a bug in our own code
	}
	return c
}
