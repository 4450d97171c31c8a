package outbox

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/stockwire/stockwire/shared/promreg"
)

type metrics struct {
	full prometheus.Counter
}

// newMetrics builds the outbox's metrics on reg (nil: none). The depth
// figures read o at scrape time.
func newMetrics(reg prometheus.Registerer, o *Outbox) (*metrics, error) {
	set := promreg.NewSet(reg)
	m := &metrics{
		full: promreg.Add(set, prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "stockwire", Subsystem: "agent", Name: "outbox_full_rejections_total",
			Help: "Order reports refused because the outbox reached its bound.",
		})),
	}
	set.Own(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: "stockwire", Subsystem: "agent", Name: "outbox_events",
		Help: "Order reports waiting in the outbox for the hub's acknowledgement.",
	}, func() float64 { return float64(o.Len()) }))
	set.Own(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: "stockwire", Subsystem: "agent", Name: "outbox_oldest_event_age_seconds",
		Help: "Age of the oldest order report waiting in the outbox.",
	}, func() float64 { return o.OldestAge().Seconds() }))
	set.Own(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: "stockwire", Subsystem: "agent", Name: "outbox_dead_letters",
		Help: "Order reports the hub refused for good, parked until an operator replays them.",
	}, func() float64 { return float64(o.DeadLetterCount()) }))
	set.Own(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: "stockwire", Subsystem: "agent", Name: "outbox_capacity_events",
		Help: "Maximum number of order reports the outbox holds.",
	}, func() float64 { return float64(o.opts.MaxEvents) }))
	if err := set.Err(); err != nil {
		return nil, fmt.Errorf("register outbox metrics: %w", err)
	}
	return m, nil
}
