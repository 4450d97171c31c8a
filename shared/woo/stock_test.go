package woo_test

import (
	"encoding/json"
	"testing"

	"github.com/stockwire/stockwire/shared/woo"
)

func TestStockReduced(t *testing.T) {
	t.Parallel()
	line := func(key, value string) woo.LineItem {
		return woo.LineItem{Quantity: 2, MetaData: []woo.MetaData{{Key: "size", Value: json.RawMessage(`"S"`)}, {Key: key, Value: json.RawMessage(value)}}}
	}
	for _, tc := range []struct {
		name  string
		lines []woo.LineItem
		want  bool
	}{
		{"no lines", nil, false},
		{"string quantity", []woo.LineItem{line("_reduced_stock", `"2"`)}, true},
		{"number quantity", []woo.LineItem{line("_reduced_stock", `1`)}, true},
		// A refund that restocked every unit leaves "0".
		{"all restocked", []woo.LineItem{line("_reduced_stock", `"0"`)}, false},
		{"other meta only", []woo.LineItem{line("_restock_refunded_items", `"2"`)}, false},
		{"one line of two", []woo.LineItem{line("size", `"M"`), line("_reduced_stock", `"1"`)}, true},
		{"not a number", []woo.LineItem{line("_reduced_stock", `"yes"`)}, false},
	} {
		if got := woo.StockReduced(tc.lines); got != tc.want {
			t.Errorf("%s: StockReduced=%v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestStockEffect(t *testing.T) {
	t.Parallel()
	yes, no := new(true), new(false)
	for _, tc := range []struct {
		was     bool
		status  string
		reduced *bool
		sign    int64
		after   bool
	}{
		// The statuses that move stock decide alone, whatever a read
		// taken mid-request says.
		{false, "processing", no, -1, true},
		{false, "on-hold", nil, -1, true},
		{true, "completed", yes, 0, true},
		{true, "cancelled", yes, +1, false},
		{false, "pending", nil, 0, false},
		// The others move nothing by themselves; the line items tell what
		// happened on the way.
		{false, "refunded", yes, -1, true}, // sold, then refunded, before any report
		{true, "refunded", yes, 0, true},   // refunded without a restock
		{true, "refunded", no, +1, false},  // a refund restocked every unit
		{false, "failed", no, 0, false},
		{true, "failed", nil, 0, true},    // not known: as before
		{true, "trash", nil, 0, true},     // a deleted order's report carries no lines
		{false, "shipped", yes, -1, true}, // an extension's status
	} {
		sign, after := woo.StockEffect(tc.was, tc.status, tc.reduced)
		if sign != tc.sign || after != tc.after {
			t.Errorf("StockEffect(%v, %s, %v)=%d, %v; want %d, %v", tc.was, tc.status, fmtBool(tc.reduced), sign, after, tc.sign, tc.after)
		}
	}
}

func fmtBool(b *bool) string {
	if b == nil {
		return "nil"
	}
	if *b {
		return "true"
	}
	return "false"
}
