package postgres

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/stockwire/stockwire/hub"
	"github.com/stockwire/stockwire/shared/promreg"
)

// metrics are the database's instruments; the figures that live in
// PostgreSQL (allocations, stores' agent state) are read at scrape time.
type metrics struct {
	queryDuration *prometheus.HistogramVec
}

func newMetrics(reg prometheus.Registerer, db *DB) *metrics {
	m := &metrics{
		queryDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "stockwire",
			Subsystem: "hub",
			Name:      "db_query_duration_seconds",
			Help:      "Duration of hub database operations, including retries.",
			Buckets:   []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"op"}),
	}
	set := promreg.NewSet(reg)
	m.queryDuration = promreg.Add(set, m.queryDuration)
	set.Own(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: "stockwire",
		Subsystem: "hub",
		Name:      "db_connections_in_use",
		Help:      "Connections of the hub's pool currently in use.",
	}, func() float64 { return float64(db.db.Stats().InUse) }))
	set.Own(&allocCollector{db: db})
	set.Own(&storeCollector{stores: NewStoreService(db), db: db})
	if err := set.Err(); err != nil {
		panic(err) // a clashing metric is a bug in our own code
	}
	return m
}

// allocCollector reads the allocate policy's figures at scrape time.
type allocCollector struct {
	db *DB
}

var (
	exposureDesc = prometheus.NewDesc("stockwire_hub_allocation_exposure_units",
		"Units by which allocations and committed orders exceed on hand less safety stock, summed over SKUs, until reclaims settle it.", nil, nil)
	oversoldDesc = prometheus.NewDesc("stockwire_hub_allocation_oversold_units",
		"Units allocate stores sold beyond their allocation, summed over stores and SKUs.", nil, nil)
	allocatedDesc = prometheus.NewDesc("stockwire_hub_allocated_units",
		"Units granted to allocate stores and not yet sold or released.", nil, nil)
	reclaimsDesc = prometheus.NewDesc("stockwire_hub_reclaims_pending",
		"Reclaims asked of stores and not yet confirmed.", nil, nil)
)

func (c *allocCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- exposureDesc
	ch <- oversoldDesc
	ch <- allocatedDesc
	ch <- reclaimsDesc
}

func (c *allocCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var v struct {
		Exposure  int64 `db:"exposure"`
		Oversold  int64 `db:"oversold"`
		Allocated int64 `db:"allocated"`
		Reclaims  int64 `db:"reclaims"`
	}
	err := c.db.db.GetContext(ctx, &v, `
		WITH tot AS (SELECT sku, sum(allocated) AS held, sum(oversold) AS oversold FROM store_allocations GROUP BY sku)
		SELECT COALESCE(sum(GREATEST(tot.held + k.committed - (k.on_hand - k.safety_stock), 0)), 0)::bigint AS exposure,
			COALESCE(sum(tot.oversold), 0)::bigint AS oversold, COALESCE(sum(tot.held), 0)::bigint AS allocated,
			(SELECT count(*) FROM reclaims WHERE status = 'pending') AS reclaims
		FROM tot JOIN skus k ON k.sku = tot.sku`)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(exposureDesc, fmt.Errorf("read allocation figures: %w", err))
		return
	}
	ch <- prometheus.MustNewConstMetric(exposureDesc, prometheus.GaugeValue, float64(v.Exposure))
	ch <- prometheus.MustNewConstMetric(oversoldDesc, prometheus.GaugeValue, float64(v.Oversold))
	ch <- prometheus.MustNewConstMetric(allocatedDesc, prometheus.GaugeValue, float64(v.Allocated))
	ch <- prometheus.MustNewConstMetric(reclaimsDesc, prometheus.GaugeValue, float64(v.Reclaims))
}

// storeCollector exports each active store's agent state, read from
// PostgreSQL at scrape time so that every replica reports every store the
// same way, wherever its agent is connected.
type storeCollector struct {
	stores *StoreService
	db     *DB
}

var (
	storeLabels        = []string{"store_id", "store"}
	agentConnectedDesc = prometheus.NewDesc("stockwire_hub_store_agent_connected",
		"1 when the store's agent holds a live session with a hub replica.", storeLabels, nil)
	seqLagDesc = prometheus.NewDesc("stockwire_hub_store_seq_lag",
		"Changes the hub has for the store that its agent has not yet reported applied.", storeLabels, nil)
	outboxDesc = prometheus.NewDesc("stockwire_hub_store_outbox_events",
		"Events waiting in the store agent's outbox, as last reported by the agent.", storeLabels, nil)
	lastSeenDesc = prometheus.NewDesc("stockwire_hub_store_agent_last_seen_timestamp_seconds",
		"When the hub last heard from the store's agent.", storeLabels, nil)
	deadLettersDesc = prometheus.NewDesc("stockwire_hub_store_dead_letters",
		"Order reports the hub refused, parked in the store agent's outbox until replayed, as last reported by the agent.", storeLabels, nil)
	webhookHealthDesc = prometheus.NewDesc("stockwire_hub_store_webhook_health",
		"1 for the webhook health the store's agent last reported (unknown, ok, failing, off), 0 for the others.",
		append(slices.Clone(storeLabels), "health"), nil)
)

// webhookHealths are the values of stockwire_hub_store_webhook_health's
// health label.
var webhookHealths = []hub.WebhookHealth{hub.WebhookHealthUnknown, hub.WebhookHealthOK, hub.WebhookHealthFailing, hub.WebhookHealthOff}

func (c *storeCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- agentConnectedDesc
	ch <- seqLagDesc
	ch <- outboxDesc
	ch <- lastSeenDesc
	ch <- deadLettersDesc
	ch <- webhookHealthDesc
}

// Collect reports nothing when the stores cannot be read, and logs why:
// the scrape goes on with the other metrics.
func (c *storeCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	stores, err := c.stores.Stores(ctx)
	if err != nil {
		c.db.logger.Warn("store metrics: list stores", "error", err)
		return
	}
	for _, st := range stores {
		if st.Status != hub.StoreActive {
			continue
		}
		labels := []string{strconv.FormatInt(st.ID, 10), st.Name}
		connected := 0.0
		if st.Agent.Connected {
			connected = 1
		}
		ch <- prometheus.MustNewConstMetric(agentConnectedDesc, prometheus.GaugeValue, connected, labels...)
		ch <- prometheus.MustNewConstMetric(seqLagDesc, prometheus.GaugeValue, float64(st.Agent.SeqLag), labels...)
		ch <- prometheus.MustNewConstMetric(outboxDesc, prometheus.GaugeValue, float64(st.Agent.OutboxDepth), labels...)
		ch <- prometheus.MustNewConstMetric(deadLettersDesc, prometheus.GaugeValue, float64(st.Agent.DeadLetters), labels...)
		// An agent that predates webhook health reports none: no series.
		if st.Agent.WebhookHealth != "" {
			for _, h := range webhookHealths {
				current := 0.0
				if h == st.Agent.WebhookHealth {
					current = 1
				}
				ch <- prometheus.MustNewConstMetric(webhookHealthDesc, prometheus.GaugeValue, current, append(labels, string(h))...)
			}
		}
		if st.Agent.LastSeen != nil {
			ch <- prometheus.MustNewConstMetric(lastSeenDesc, prometheus.GaugeValue, float64(st.Agent.LastSeen.UnixNano())/1e9, labels...)
		}
	}
}
