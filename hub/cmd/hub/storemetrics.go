package main

import (
	"context"
	"log/slog"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/stockwire/stockwire/hub"
)

// storeCollector exports each active store's agent state, read from
// PostgreSQL at scrape time so that every replica reports every store the
// same way, wherever its agent is connected.
type storeCollector struct {
	stores    hub.StoreService
	logger    *slog.Logger
	connected *prometheus.Desc
	lag       *prometheus.Desc
	outbox    *prometheus.Desc
	lastSeen  *prometheus.Desc
}

func newStoreCollector(stores hub.StoreService, logger *slog.Logger) *storeCollector {
	labels := []string{"store_id", "store"}
	return &storeCollector{
		stores: stores, logger: logger,
		connected: prometheus.NewDesc("stockwire_hub_store_agent_connected",
			"1 when the store's agent holds a live session with a hub replica.", labels, nil),
		lag: prometheus.NewDesc("stockwire_hub_store_seq_lag",
			"Changes the hub has for the store that its agent has not yet reported applied.", labels, nil),
		outbox: prometheus.NewDesc("stockwire_hub_store_outbox_events",
			"Events waiting in the store agent's outbox, as last reported by the agent.", labels, nil),
		lastSeen: prometheus.NewDesc("stockwire_hub_store_agent_last_seen_timestamp_seconds",
			"When the hub last heard from the store's agent.", labels, nil),
	}
}

func (c *storeCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.connected
	ch <- c.lag
	ch <- c.outbox
	ch <- c.lastSeen
}

func (c *storeCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	stores, err := c.stores.Stores(ctx)
	if err != nil {
		c.logger.Warn("store metrics: list stores", "error", err)
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
		ch <- prometheus.MustNewConstMetric(c.connected, prometheus.GaugeValue, connected, labels...)
		ch <- prometheus.MustNewConstMetric(c.lag, prometheus.GaugeValue, float64(st.Agent.SeqLag), labels...)
		ch <- prometheus.MustNewConstMetric(c.outbox, prometheus.GaugeValue, float64(st.Agent.OutboxDepth), labels...)
		if st.Agent.LastSeen != nil {
			ch <- prometheus.MustNewConstMetric(c.lastSeen, prometheus.GaugeValue, float64(st.Agent.LastSeen.UnixNano())/1e9, labels...)
		}
	}
}
