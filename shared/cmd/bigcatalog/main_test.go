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
