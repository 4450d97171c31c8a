package agentws

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/stockwire/stockwire/hub"
	"github.com/stockwire/stockwire/shared/promreg"
)

// metrics are the link's instruments.
type metrics struct {
	connected      prometheus.Gauge
	received       *prometheus.CounterVec
	sent           *prometheus.CounterVec
	unknown        prometheus.Counter
	disconnects    *prometheus.CounterVec
	changesPushed  prometheus.Counter
	orderDuration  prometheus.Histogram
	pushLagSeconds prometheus.Histogram
	// reportsDeferred counts reports not taken because their session's
	// report queue was full.
	reportsDeferred prometheus.Counter
	// commands counts order commands settled by agents, by kind and
	// state; commandLatency is their time from the ERP's call to the
	// agent's answer.
	commands       *prometheus.CounterVec
	commandLatency *prometheus.HistogramVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		connected: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "stockwire", Subsystem: "hub", Name: "agents_connected",
			Help: "Agent sessions currently connected to this hub process.",
		}),
		received: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "stockwire", Subsystem: "hub", Name: "agent_messages_received_total",
			Help: "Messages received from agents, by type.",
		}, []string{"type"}),
		sent: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "stockwire", Subsystem: "hub", Name: "agent_messages_sent_total",
			Help: "Messages sent to agents, by type.",
		}, []string{"type"}),
		unknown: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "stockwire", Subsystem: "hub", Name: "agent_messages_unknown_total",
			Help: "Messages of unknown type received from agents and skipped.",
		}),
		disconnects: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "stockwire", Subsystem: "hub", Name: "agent_disconnects_total",
			Help: "Agent sessions ended, by reason.",
		}, []string{"reason"}),
		changesPushed: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "stockwire", Subsystem: "hub", Name: "stock_changes_pushed_total",
			Help: "Stock changes pushed to agents after coalescing.",
		}),
		orderDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: "stockwire", Subsystem: "hub", Name: "order_report_duration_seconds",
			Help:    "Time to commit one order report from an agent.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
		}),
		reportsDeferred: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "stockwire", Subsystem: "hub", Name: "agent_reports_deferred_total",
			Help: "Order reports and releases not taken because the session's report queue was full; the agent sends them again.",
		}),
		pushLagSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: "stockwire", Subsystem: "hub", Name: "push_wake_duration_seconds",
			Help:    "Time from a change notification to its changes being queued for an agent.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16),
		}),
		commands: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "stockwire", Subsystem: "hub", Name: "order_commands_settled_total",
			Help: "Order commands (ERP reference, fulfilment, cancellation) the stores' agents settled, by kind and state (applied, failed).",
		}, []string{"kind", "state"}),
		commandLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "stockwire", Subsystem: "hub", Name: "order_command_seconds",
			Help:    "Time from an order command's API call to its store's agent applying it, by kind.",
			Buckets: []float64{.05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300, 3600},
		}, []string{"kind"}),
	}
	set := promreg.NewSet(reg)
	m.connected = promreg.Add(set, m.connected)
	m.received = promreg.Add(set, m.received)
	m.sent = promreg.Add(set, m.sent)
	m.unknown = promreg.Add(set, m.unknown)
	m.disconnects = promreg.Add(set, m.disconnects)
	m.changesPushed = promreg.Add(set, m.changesPushed)
	m.orderDuration = promreg.Add(set, m.orderDuration)
	m.pushLagSeconds = promreg.Add(set, m.pushLagSeconds)
	m.reportsDeferred = promreg.Add(set, m.reportsDeferred)
	m.commands = promreg.Add(set, m.commands)
	m.commandLatency = promreg.Add(set, m.commandLatency)
	// Every kind and outcome has a series from the start, so that a rate
	// or an alert over them works before the first command.
	for _, kind := range []string{hub.CommandERPReference, hub.CommandFulfilment, hub.CommandCancellation} {
		for _, state := range []string{hub.CommandApplied, hub.CommandFailed} {
			m.commands.WithLabelValues(kind, state)
		}
		m.commandLatency.WithLabelValues(kind)
	}
	if err := set.Err(); err != nil {
		panic(err) // a clashing metric is a bug in our own code
	}
	return m
}
