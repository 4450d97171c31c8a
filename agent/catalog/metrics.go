package catalog

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/stockwire/stockwire/shared/promreg"
)

type metrics struct {
	scans        *prometheus.CounterVec
	scanDuration prometheus.Histogram
	scanRead     prometheus.Gauge
}

// newMetrics builds the catalog's metrics on reg (nil: none). The SKU and
// issue counts and whether a scan completed read c's map at scrape time.
func newMetrics(reg prometheus.Registerer, c *Catalog) (*metrics, error) {
	set := promreg.NewSet(reg)
	m := &metrics{
		scans: promreg.Add(set, prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "stockwire", Subsystem: "agent", Name: "catalog_scans_total",
			Help: "Full catalog scans, by result.",
		}, []string{"result"})),
		scanDuration: promreg.Add(set, prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: "stockwire", Subsystem: "agent", Name: "catalog_scan_duration_seconds",
			Help:    "Duration of a successful full catalog scan.",
			Buckets: prometheus.ExponentialBuckets(0.1, 2, 14),
		})),
		scanRead: promreg.Add(set, prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "stockwire", Subsystem: "agent", Name: "catalog_scan_read_items",
			Help: "Products and variations read by the catalog scan in progress, or by the last one.",
		})),
	}
	set.Own(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: "stockwire", Subsystem: "agent", Name: "catalog_skus",
		Help: "SKUs mapped to a product or variation.",
	}, func() float64 { return float64(c.Len()) }))
	set.Own(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: "stockwire", Subsystem: "agent", Name: "catalog_scan_complete",
		Help: "1 once a full catalog scan has filled the SKU map, 0 while the first one runs.",
	}, func() float64 {
		if c.Complete() {
			return 1
		}
		return 0
	}))
	set.Own(&issueCollector{c: c, desc: prometheus.NewDesc("stockwire_agent_catalog_issues",
		"Catalog items left unmapped, by kind (empty, duplicate or inherited SKU).", []string{"kind"}, nil)})
	if err := set.Err(); err != nil {
		return nil, fmt.Errorf("register catalog metrics: %w", err)
	}
	return m, nil
}

// issueCollector counts issues at scrape time.
type issueCollector struct {
	c    *Catalog
	desc *prometheus.Desc
}

func (ic *issueCollector) Describe(ch chan<- *prometheus.Desc) { ch <- ic.desc }

func (ic *issueCollector) Collect(ch chan<- prometheus.Metric) {
	counts := map[IssueKind]int{IssueEmptySKU: 0, IssueDuplicateSKU: 0, IssueInheritedSKU: 0}
	for _, is := range ic.c.Issues() {
		counts[is.Kind]++
	}
	for k, n := range counts {
		ch <- prometheus.MustNewConstMetric(ic.desc, prometheus.GaugeValue, float64(n), string(k))
	}
}
