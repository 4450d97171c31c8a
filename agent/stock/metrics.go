package stock

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/stockwire/stockwire/shared/promreg"
)

type metrics struct {
	writes       *prometheus.CounterVec
	batches      prometheus.Counter
	coalesced    prometheus.Counter
	repairs      prometheus.Counter
	manualEdits  *prometheus.CounterVec
	skipped      *prometheus.CounterVec
	writeLatency prometheus.Histogram
	released     prometheus.Counter
	staleMarkers prometheus.Counter
	echoesLate   prometheus.Counter
}

// newMetrics builds the writer's metrics on reg (nil: none). The unknown
// SKUs and the applied sequence read w at scrape time.
func newMetrics(reg prometheus.Registerer, w *Writer) (*metrics, error) {
	set := promreg.NewSet(reg)
	m := &metrics{
		writes: promreg.Add(set, prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "stockwire", Subsystem: "agent", Name: "stock_writes_total",
			Help: "Per-SKU stock writes sent to the store, by result (ok, rejected, unknown_outcome, not_applied).",
		}, []string{"result"})),
		batches: promreg.Add(set, prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "stockwire", Subsystem: "agent", Name: "stock_batches_total",
			Help: "Batch stock update requests sent to the store.",
		})),
		coalesced: promreg.Add(set, prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "stockwire", Subsystem: "agent", Name: "stock_writes_coalesced_total",
			Help: "Hub changes folded into another change's write to the same SKU.",
		})),
		repairs: promreg.Add(set, prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "stockwire", Subsystem: "agent", Name: "stock_repairs_total",
			Help: "Store figures that stayed off the hub's target with nothing in flight and were corrected.",
		})),
		manualEdits: promreg.Add(set, prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "stockwire", Subsystem: "agent", Name: "stock_manual_edits_total",
			Help: "Stock edits made in the store by hand, by action (reverted, accepted).",
		}, []string{"action"})),
		skipped: promreg.Add(set, prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "stockwire", Subsystem: "agent", Name: "stock_skipped_changes_total",
			Help: "Hub changes not written, by reason (unknown_sku, ambiguous_sku, unmanaged, rejected, duplicate).",
		}, []string{"reason"})),
		writeLatency: promreg.Add(set, prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: "stockwire", Subsystem: "agent", Name: "stock_write_latency_seconds",
			Help:    "Time from a change's arrival to the store confirming its write.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		})),
		released: promreg.Add(set, prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "stockwire", Subsystem: "agent", Name: "stock_released_units_total",
			Help: "Units taken out of the store for the hub's reclaims (allocate policy).",
		})),
		staleMarkers: promreg.Add(set, prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "stockwire", Subsystem: "agent", Name: "stock_stale_markers_total",
			Help: "Product stockwire_seq markers ignored for being ahead of the hub's sequence (the hub lost history).",
		})),
		echoesLate: promreg.Add(set, prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "stockwire", Subsystem: "agent", Name: "stock_echoes_late_total",
			Help: "Writes whose product.updated webhook did not come within the echo window (a lost or queued webhook); after one, the safety net reads the modified products every round for a minute instead of every sweep.",
		})),
	}
	set.Own(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: "stockwire", Subsystem: "agent", Name: "stock_unknown_skus",
		Help: "SKUs the hub sent that the store does not have (or has more than once).",
	}, func() float64 { return float64(w.unknownCount()) }))
	set.Own(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: "stockwire", Subsystem: "agent", Name: "stock_applied_seq",
		Help: "Highest hub change sequence durably applied to the store.",
	}, func() float64 { return float64(w.AppliedSeq()) }))
	set.Own(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: "stockwire", Subsystem: "agent", Name: "stock_writes_held",
		Help: "SKUs whose snapshot write waits until the store's own orders are reported to the hub.",
	}, func() float64 { return float64(w.heldCount()) }))
	set.Own(prometheus.NewCounterFunc(prometheus.CounterOpts{
		Namespace: "stockwire", Subsystem: "agent", Name: "stock_safety_net_rounds_total",
		Help: "Rounds of the safety net that compares the store's figures with what it should show (one a second when it runs).",
	}, func() float64 {
		w.mu.Lock()
		defer w.mu.Unlock()
		return float64(w.checks)
	}))
	if err := set.Err(); err != nil {
		return nil, fmt.Errorf("register stock writer metrics: %w", err)
	}
	return m, nil
}
