package outbox

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	full prometheus.Counter
}

func newMetrics(reg prometheus.Registerer, o *Outbox) (*metrics, error) {
	m := &metrics{
		full: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "stockwire", Subsystem: "agent", Name: "outbox_full_rejections_total",
			Help: "Order reports refused because the outbox reached its bound.",
		}),
	}
	if reg == nil {
		return m, nil
	}
	cs := []prometheus.Collector{
		m.full,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: "stockwire", Subsystem: "agent", Name: "outbox_events",
			Help: "Order reports waiting in the outbox for the hub's acknowledgement.",
		}, func() float64 { return float64(o.Len()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: "stockwire", Subsystem: "agent", Name: "outbox_oldest_event_age_seconds",
			Help: "Age of the oldest order report waiting in the outbox.",
		}, func() float64 { return o.OldestAge().Seconds() }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: "stockwire", Subsystem: "agent", Name: "outbox_capacity_events",
			Help: "Maximum number of order reports the outbox holds.",
		}, func() float64 { return float64(o.opts.MaxEvents) }),
	}
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register outbox metrics: %w", err)
		}
	}
	return m, nil
}
