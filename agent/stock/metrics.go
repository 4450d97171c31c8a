package stock

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	writes       *prometheus.CounterVec
	batches      prometheus.Counter
	coalesced    prometheus.Counter
	repairs      prometheus.Counter
	manualEdits  *prometheus.CounterVec
	skipped      *prometheus.CounterVec
	writeLatency prometheus.Histogram
	released     prometheus.Counter
}

func newMetrics(reg prometheus.Registerer, w *Writer) *metrics {
	m := &metrics{
		writes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "stockwire_agent_stock_writes_total",
			Help: "Per-SKU stock writes sent to the store, by result (ok, rejected, unknown_outcome, not_applied).",
		}, []string{"result"}),
		batches: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "stockwire_agent_stock_batches_total",
			Help: "Batch stock update requests sent to the store.",
		}),
		coalesced: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "stockwire_agent_stock_writes_coalesced_total",
			Help: "Hub changes folded into another change's write to the same SKU.",
		}),
		repairs: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "stockwire_agent_stock_repairs_total",
			Help: "Store figures that stayed off the hub's target with nothing in flight and were corrected.",
		}),
		manualEdits: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "stockwire_agent_stock_manual_edits_total",
			Help: "Stock edits made in the store by hand, by action (reverted, accepted).",
		}, []string{"action"}),
		skipped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "stockwire_agent_stock_skipped_changes_total",
			Help: "Hub changes not written, by reason (unknown_sku, ambiguous_sku, unmanaged, rejected, duplicate).",
		}, []string{"reason"}),
		writeLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "stockwire_agent_stock_write_latency_seconds",
			Help:    "Time from a change's arrival to the store confirming its write.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}),
		released: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "stockwire_agent_stock_released_units_total",
			Help: "Units taken out of the store for the hub's reclaims (allocate policy).",
		}),
	}
	if reg != nil {
		reg.MustRegister(m.writes, m.batches, m.coalesced, m.repairs, m.manualEdits, m.skipped, m.writeLatency, m.released,
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{
				Name: "stockwire_agent_stock_unknown_skus",
				Help: "SKUs the hub sent that the store does not have (or has more than once).",
			}, func() float64 { return float64(w.unknownCount()) }),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{
				Name: "stockwire_agent_stock_applied_seq",
				Help: "Highest hub change sequence durably applied to the store.",
			}, func() float64 { return float64(w.AppliedSeq()) }),
		)
	}
	return m
}
