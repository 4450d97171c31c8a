package main

import "testing"

// TestSyncCheck: a store figure reads in sync when it is what the hub's
// target says once the store's own orders the hub has not seen are allowed
// for; off by more, it reads out of sync with the difference; while the
// agent is behind the hub, settling.
func TestSyncCheck(t *testing.T) {
	t.Parallel()
	pending := map[int64]pendingOrder{
		// Sold 2 of A; the hub has not seen the order.
		1: {demoOrder: demoOrder{sku: "A", quantity: 2}},
		// Sold 1 of A, then cancelled; the hub saw it processing only.
		2: {demoOrder: demoOrder{sku: "A", quantity: 1, cancelled: true}, seenBefore: "processing"},
		// Sold 3 of B and cancelled before the hub saw it: no effect.
		3: {demoOrder: demoOrder{sku: "B", quantity: 3, cancelled: true}},
	}
	seenBefore := func(_ int64, o pendingOrder) string { return o.seenBefore }
	for _, tt := range []struct {
		name          string
		sku           string
		got           int64
		before, after int64 // the hub's targets
		behind        bool
		want          string
	}{
		{"InSync", "C", 10, 10, 10, false, "in sync 1/1 SKUs"},
		{"OwnOrdersInFlight", "A", 9, 10, 10, false, "in sync 1/1 SKUs"},
		{"CancelledBeforeSeen", "B", 10, 10, 10, false, "in sync 1/1 SKUs"},
		{"TargetMovedWhileRead", "C", 8, 9, 7, false, "in sync 1/1 SKUs"},
		{"HandEdit", "C", 17, 10, 10, false, "in sync 0/1 SKUs, OUT OF SYNC: C +7"},
		{"OffBeyondInFlight", "A", 6, 10, 10, false, "in sync 0/1 SKUs, OUT OF SYNC: A -3"},
		{"OffBeyondMovingTarget", "C", 5, 9, 7, false, "in sync 0/1 SKUs, OUT OF SYNC: C -2"},
		{"AgentBehind", "C", 12, 10, 10, true, "in sync 0/1 SKUs, 1 settling (hub changes not applied yet)"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var c syncCheck
			c.add(tt.sku, tt.got, expectedFigure(tt.before, tt.sku, pending, seenBefore), expectedFigure(tt.after, tt.sku, pending, seenBefore), tt.behind)
			if got := c.verdict(1); got != tt.want {
				t.Fatalf("verdict=%q, want %q", got, tt.want)
			}
		})
	}
}
