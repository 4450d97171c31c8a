package webhook

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/stockwire/stockwire/shared/promreg"
)

type metrics struct {
	received    *prometheus.CounterVec
	sigFailures prometheus.Counter
	lag         prometheus.Histogram
}

// newMetrics builds the receiver's metrics on reg (nil: none).
func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	set := promreg.NewSet(reg)
	m := &metrics{
		received: promreg.Add(set, prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "stockwire", Subsystem: "agent", Name: "webhooks_received_total",
			Help: "Webhook requests received from the store, by topic and result.",
		}, []string{"topic", "result"})),
		sigFailures: promreg.Add(set, prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "stockwire", Subsystem: "agent", Name: "webhook_signature_failures_total",
			Help: "Webhook requests refused because their HMAC signature did not match.",
		})),
		lag: promreg.Add(set, prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: "stockwire", Subsystem: "agent", Name: "webhook_lag_seconds",
			Help:    "Time from an order's date_modified to its webhook delivery.",
			Buckets: []float64{0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 900},
		})),
	}
	if err := set.Err(); err != nil {
		return nil, fmt.Errorf("register webhook metrics: %w", err)
	}
	return m, nil
}
