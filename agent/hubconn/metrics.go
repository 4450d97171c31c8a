package hubconn

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	connected  prometheus.Gauge
	reconnects prometheus.Counter
	received   *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		connected: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "stockwire", Subsystem: "agent", Name: "hub_connected",
			Help: "1 while the link to the hub is up.",
		}),
		reconnects: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "stockwire", Subsystem: "agent", Name: "hub_reconnects_total",
			Help: "Reconnections to the hub after a failed or lost link.",
		}),
		received: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "stockwire", Subsystem: "agent", Name: "hub_messages_received_total",
			Help: "Messages received from the hub, by type.",
		}, []string{"type"}),
	}
	if reg != nil {
		reg.MustRegister(m.connected, m.reconnects, m.received)
	}
	return m
}
