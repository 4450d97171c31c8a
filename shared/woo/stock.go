package woo

import (
	"encoding/json"
	"strconv"
)

// StockReduced tells from an order's line items whether WooCommerce holds
// its stock reduced: it sets the item meta _reduced_stock to the quantity
// it took off the shelf, lowers it on a refund that restocks the item, and
// deletes it when it puts the stock back (cancelled, pending).
func StockReduced(lines []LineItem) bool {
	for _, li := range lines {
		for _, m := range li.MetaData {
			if m.Key == "_reduced_stock" && metaInt(m.Value) > 0 {
				return true
			}
		}
	}
	return false
}

// metaInt reads a meta value WooCommerce stores as a number or as a string
// of digits; anything else reads as 0.
func metaInt(raw json.RawMessage) int64 {
	var s string
	if json.Unmarshal(raw, &s) != nil {
		s = string(raw)
	}
	n, _ := strconv.ParseInt(s, 10, 64)
	return n
}

// StockEffect is what WooCommerce does to the selling store's stock of an
// order's lines when the order's status becomes status: -1 taken off the
// shelf, +1 put back, 0 nothing, and whether the stock is reduced after.
// wasReduced is whether it was before.
//
// WooCommerce reduces stock when an order enters processing, on-hold or
// completed and restores it when the order goes to cancelled or pending,
// once each (the order flag _order_stock_reduced). Those statuses decide
// alone: a read taken between the status change and the stock change, which
// WooCommerce makes a moment later in the same request, must not count
// against it. Any other status (refunded, failed, trash, an extension's)
// moves no stock by itself, but the order may have got there through a
// reduction nobody reported, or a refund may have restocked it: reduced,
// when known (the line items' _reduced_stock, see StockReduced), says
// which.
func StockEffect(wasReduced bool, status string, reduced *bool) (int64, bool) {
	switch status {
	case "processing", "on-hold", "completed":
		if !wasReduced {
			return -1, true
		}
		return 0, true
	case "cancelled", "pending":
		if wasReduced {
			return +1, false
		}
		return 0, false
	}
	switch {
	case reduced == nil || *reduced == wasReduced:
		return 0, wasReduced
	case *reduced:
		return -1, true
	default:
		return +1, false
	}
}
