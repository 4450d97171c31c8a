package ordercmd

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/stockwire/stockwire/shared/promreg"
)

// Results of applying a command, the values of the result label.
const (
	resultApplied = "applied" // changed the order
	resultRepeat  = "repeat"  // found already applied
	resultRefused = "refused" // refused for good (agent.ErrCommandRefused)
	resultError   = "error"   // failed, to be applied again
)

type metrics struct {
	commands *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

// newMetrics builds the applier's metrics on reg (nil: none).
func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	set := promreg.NewSet(reg)
	m := &metrics{
		commands: promreg.Add(set, prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "stockwire", Subsystem: "agent", Name: "order_commands_total",
			Help: "Order commands from the hub by kind and result (applied, repeat, refused, error).",
		}, []string{"kind", "result"})),
		duration: promreg.Add(set, prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "stockwire", Subsystem: "agent", Name: "order_command_duration_seconds",
			Help:    "Time to apply one order command to the store, its requests included.",
			Buckets: prometheus.ExponentialBuckets(0.01, 2.5, 10),
		}, []string{"kind"})),
	}
	if err := set.Err(); err != nil {
		return nil, fmt.Errorf("register order command metrics: %w", err)
	}
	return m, nil
}
