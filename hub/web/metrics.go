package web

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/stockwire/stockwire/shared/promreg"
)

// metrics are the HTTP API's instruments, labelled by route pattern.
type metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "stockwire", Subsystem: "hub", Name: "http_requests_total",
			Help: "HTTP requests served by the hub API, by route pattern and status code.",
		}, []string{"handler", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "stockwire", Subsystem: "hub", Name: "http_request_duration_seconds",
			Help:    "Time the hub API took to serve a request, by route pattern.",
			Buckets: prometheus.DefBuckets,
		}, []string{"handler"}),
	}
	set := promreg.NewSet(reg)
	m.requests = promreg.Add(set, m.requests)
	m.duration = promreg.Add(set, m.duration)
	if err := set.Err(); err != nil {
		panic(err) // a clashing metric is a bug in our own code
	}
	return m
}
