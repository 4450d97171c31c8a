package webhooks

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/stockwire/stockwire/hub"
)

type metrics struct {
	deliveries *prometheus.CounterVec
	latency    prometheus.Histogram
	disabled   prometheus.Counter
}

func newMetrics(reg prometheus.Registerer, queue hub.WebhookQueue) *metrics {
	m := &metrics{
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "stockwire", Subsystem: "hub", Name: "webhook_deliveries_total",
			Help: "Webhook delivery attempts by result: delivered, failed (retried later) or dead.",
		}, []string{"result"}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: "stockwire", Subsystem: "hub", Name: "webhook_delivery_latency_seconds",
			Help:    "Time from the event's commit to its delivery, retries included.",
			Buckets: []float64{0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800, 3600, 21600, 86400},
		}),
		disabled: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "stockwire", Subsystem: "hub", Name: "webhooks_disabled_total",
			Help: "Webhook subscriptions this replica disabled because their endpoint kept failing.",
		}),
	}
	for _, r := range []string{"delivered", "failed", "dead"} {
		m.deliveries.WithLabelValues(r)
	}
	if reg != nil {
		reg.MustRegister(m.deliveries, m.latency, m.disabled, &queueCollector{queue: queue})
	}
	return m
}

// queueCollector reads the queue's figures from the database at scrape
// time. Every replica reports the same figures: aggregate them with max.
type queueCollector struct{ queue hub.WebhookQueue }

var (
	queueDesc = prometheus.NewDesc("stockwire_hub_webhook_queue_deliveries",
		"Webhook deliveries waiting (pending) or given up (dead), in the database all replicas share.", []string{"state"}, nil)
	oldestDesc = prometheus.NewDesc("stockwire_hub_webhook_oldest_pending_age_seconds",
		"Age of the oldest pending webhook delivery; 0 when none is pending.", nil, nil)
	disabledDesc = prometheus.NewDesc("stockwire_hub_webhooks_disabled",
		"Webhook subscriptions the hub disabled because their endpoint kept failing.", nil, nil)
)

func (c *queueCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- queueDesc
	ch <- oldestDesc
	ch <- disabledDesc
}

func (c *queueCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	st, err := c.queue.QueueStats(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(queueDesc, err)
		return
	}
	ch <- prometheus.MustNewConstMetric(queueDesc, prometheus.GaugeValue, float64(st.Pending), hub.DeliveryPending)
	ch <- prometheus.MustNewConstMetric(queueDesc, prometheus.GaugeValue, float64(st.Dead), hub.DeliveryDead)
	ch <- prometheus.MustNewConstMetric(oldestDesc, prometheus.GaugeValue, st.OldestPendingAge.Seconds())
	ch <- prometheus.MustNewConstMetric(disabledDesc, prometheus.GaugeValue, float64(st.Disabled))
}
