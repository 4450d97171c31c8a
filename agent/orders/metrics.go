package orders

import (
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/stockwire/stockwire/shared/promreg"
)

type metrics struct {
	catchup  prometheus.Counter
	errors   prometheus.Counter
	duration prometheus.Histogram
}

func newMetrics(reg prometheus.Registerer, logger *slog.Logger) *metrics {
	m := &metrics{
		catchup: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "stockwire", Subsystem: "agent", Name: "poll_catchup_total",
			Help: "Orders the poll reported because no webhook had brought their state.",
		}),
		errors: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "stockwire", Subsystem: "agent", Name: "poll_errors_total",
			Help: "Order polls that failed.",
		}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: "stockwire", Subsystem: "agent", Name: "poll_duration_seconds",
			Help:    "Duration of one order poll, all pages.",
			Buckets: prometheus.ExponentialBuckets(0.01, 2.5, 10),
		}),
	}
	if reg == nil {
		return m
	}
	m.catchup = register(reg, logger, m.catchup)
	m.errors = register(reg, logger, m.errors)
	m.duration = register(reg, logger, m.duration)
	return m
}

// register registers c, reusing an identical collector already registered.
func register[C prometheus.Collector](reg prometheus.Registerer, logger *slog.Logger, c C) C {
	c, err := promreg.Reuse(reg, c)
	if err != nil {
		logger.Error("register poll metrics", "error", err)
	}
	return c
}
