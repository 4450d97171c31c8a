package web

import (
	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the HTTP API's instruments, labelled by route pattern.
type metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "stockwire_hub_http_requests_total",
			Help: "HTTP requests served by the hub API, by route pattern and status code.",
		}, []string{"handler", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "stockwire_hub_http_request_duration_seconds",
			Help:    "Time the hub API took to serve a request, by route pattern.",
			Buckets: prometheus.DefBuckets,
		}, []string{"handler"}),
	}
	if reg != nil {
		reg.MustRegister(m.requests, m.duration)
	}
	return m
}
