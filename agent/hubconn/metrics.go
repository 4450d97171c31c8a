package hubconn

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/stockwire/stockwire/shared/promreg"
)

type metrics struct {
	connected  prometheus.Gauge
	reconnects prometheus.Counter
	received   *prometheus.CounterVec
}

// newMetrics builds the link's metrics on reg (nil: none).
func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	set := promreg.NewSet(reg)
	m := &metrics{
		connected: promreg.Add(set, prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "stockwire", Subsystem: "agent", Name: "hub_connected",
			Help: "1 while the link to the hub is up.",
		})),
		reconnects: promreg.Add(set, prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "stockwire", Subsystem: "agent", Name: "hub_reconnects_total",
			Help: "Reconnections to the hub after a failed or lost link.",
		})),
		received: promreg.Add(set, prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "stockwire", Subsystem: "agent", Name: "hub_messages_received_total",
			Help: "Messages received from the hub, by type.",
		}, []string{"type"})),
	}
	if err := set.Err(); err != nil {
		return nil, fmt.Errorf("register hub link metrics: %w", err)
	}
	return m, nil
}
