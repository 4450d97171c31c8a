package catalog

import (
	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	scans        *prometheus.CounterVec
	scanDuration prometheus.Histogram
}

func newMetrics(reg prometheus.Registerer, c *Catalog) *metrics {
	m := &metrics{
		scans: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "stockwire_agent_catalog_scans_total",
			Help: "Full catalog scans, by result.",
		}, []string{"result"}),
		scanDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "stockwire_agent_catalog_scan_duration_seconds",
			Help:    "Duration of a successful full catalog scan.",
			Buckets: prometheus.ExponentialBuckets(0.1, 2, 14),
		}),
	}
	if reg != nil {
		reg.MustRegister(m.scans, m.scanDuration,
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{
				Name: "stockwire_agent_catalog_skus",
				Help: "SKUs mapped to a product or variation.",
			}, func() float64 { return float64(c.Len()) }),
			&issueCollector{c: c, desc: prometheus.NewDesc("stockwire_agent_catalog_issues",
				"Catalog items left unmapped, by kind (empty, duplicate or inherited SKU).", []string{"kind"}, nil)},
		)
	}
	return m
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
