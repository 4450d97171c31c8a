package orders

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/stockwire/stockwire/shared/promreg"
)

type metrics struct {
	catchup  prometheus.Counter
	missed   prometheus.Counter
	errors   prometheus.Counter
	duration prometheus.Histogram
}

// newMetrics builds the poller's metrics on reg (nil: none).
func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	set := promreg.NewSet(reg)
	m := &metrics{
		catchup: promreg.Add(set, prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "stockwire", Subsystem: "agent", Name: "poll_catchup_total",
			Help: "Orders the poll reported because no webhook had brought their state.",
		})),
		missed: promreg.Add(set, prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "stockwire", Subsystem: "agent", Name: "poll_webhooks_missed_total",
			Help: "Orders the poll reported whose webhook still had not come within the window.",
		})),
		errors: promreg.Add(set, prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "stockwire", Subsystem: "agent", Name: "poll_errors_total",
			Help: "Order polls that failed.",
		})),
		duration: promreg.Add(set, prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: "stockwire", Subsystem: "agent", Name: "poll_duration_seconds",
			Help:    "Duration of one order poll, all pages.",
			Buckets: prometheus.ExponentialBuckets(0.01, 2.5, 10),
		})),
	}
	if err := set.Err(); err != nil {
		return nil, fmt.Errorf("register poll metrics: %w", err)
	}
	return m, nil
}
