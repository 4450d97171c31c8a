package main

import (
	"net/http/httptest"
	"testing"
)

// TestRequests_Count: each WooCommerce request the agents send is counted
// under the kind the figures report.
func TestRequests_Count(t *testing.T) {
	var rq requests
	for _, r := range []struct{ method, target string }{
		{"GET", "/wp-json/wc/v3/products?page=3&per_page=100&_fields=id,sku"}, // scan
		{"GET", "/wp-json/wc/v3/products/41/variations?page=1"},               // scan
		{"GET", "/wp-json/wc/v3/products?sku=SKU-000001,SKU-000002"},          // read
		{"POST", "/wp-json/wc/v3/products/batch"},                             // write
		{"POST", "/wp-json/wc/v3/products/41/variations/batch"},               // write
		{"GET", "/wp-json/wc/v3/products?modified_after=2026-12-06T10:00:00"}, // safety net
		{"GET", "/wp-json/wc/v3/orders?modified_after=2026-12-06T10:00:00"},   // order poll
		{"POST", "/wp-json/wc/v3/webhooks"},                                   // hooks
	} {
		rq.count(httptest.NewRequest(r.method, r.target, nil))
	}
	for _, c := range []struct {
		name      string
		got, want int64
	}{{"scan", rq.scan.Load(), 2}, {"reads", rq.reads.Load(), 1}, {"writes", rq.writes.Load(), 2}, {"other", rq.other.Load(), 3}} {
		if c.got != c.want {
			t.Errorf("%s=%d, want %d", c.name, c.got, c.want)
		}
	}
}

func TestConfig_Parse(t *testing.T) {
	c := DefaultConfig()
	if err := c.parse([]string{"-stores", "1,3", "-skus", "300", "-variable", "100"}); err != nil {
		t.Fatal(err)
	}
	if len(c.Stores) != 2 || c.Stores[1] != 3 {
		t.Errorf("Stores=%v, want [1 3]", c.Stores)
	}
	for _, args := range [][]string{{"-stores", "0"}, {"-skus", "299", "-variable", "100"}, {"-rate-limit", "0"}} {
		c := DefaultConfig()
		if err := c.parse(args); err == nil {
			t.Errorf("parse(%q): no error", args)
		}
	}
}

// TestMetricValue reads a series with labels, as the agent labels its own
// with the store, and one without; a longer name sharing the prefix is not
// it.
func TestMetricValue(t *testing.T) {
	const text = `# HELP stockwire_agent_catalog_scan_complete 1 once a full catalog scan has filled the SKU map.
# TYPE stockwire_agent_catalog_scan_complete gauge
stockwire_agent_catalog_scan_complete_total 7
stockwire_agent_catalog_scan_complete{store="127.0.0.1:44959"} 1
go_goroutines 12
`
	for _, c := range []struct {
		name string
		want float64
	}{{"stockwire_agent_catalog_scan_complete", 1}, {"go_goroutines", 12}} {
		if got, err := metricValue(text, c.name); err != nil || got != c.want {
			t.Errorf("metricValue(%s)=%v, %v, want %v", c.name, got, err, c.want)
		}
	}
	if _, err := metricValue(text, "stockwire_agent_outbox_events"); err == nil {
		t.Error("metricValue of an absent series: no error")
	}
}
