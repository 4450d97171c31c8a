package webhook

import (
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/stockwire/stockwire/shared/promreg"
)

type metrics struct {
	received    *prometheus.CounterVec
	sigFailures prometheus.Counter
	lag         prometheus.Histogram
}

func newMetrics(reg prometheus.Registerer, logger *slog.Logger) *metrics {
	m := &metrics{
		received: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "stockwire", Subsystem: "agent", Name: "webhooks_received_total",
			Help: "Webhook requests received from the store, by topic and result.",
		}, []string{"topic", "result"}),
		sigFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "stockwire", Subsystem: "agent", Name: "webhook_signature_failures_total",
			Help: "Webhook requests refused because their HMAC signature did not match.",
		}),
		lag: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: "stockwire", Subsystem: "agent", Name: "webhook_lag_seconds",
			Help:    "Time from an order's date_modified to its webhook delivery.",
			Buckets: []float64{0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 900},
		}),
	}
	if reg == nil {
		return m
	}
	m.received = register(reg, logger, m.received)
	m.sigFailures = register(reg, logger, m.sigFailures)
	m.lag = register(reg, logger, m.lag)
	return m
}

// register registers c, reusing an identical collector already registered.
func register[C prometheus.Collector](reg prometheus.Registerer, logger *slog.Logger, c C) C {
	c, err := promreg.Reuse(reg, c)
	if err != nil {
		logger.Error("register webhook metrics", "error", err)
	}
	return c
}
