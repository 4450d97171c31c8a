// Package orders turns WooCommerce orders into the hub's order reports
// (FromWoo) and polls the store for orders whose webhook never came
// (Poller). It leaves durability to the outbox and the REST details to
// agent/wooclient: both come in through the small interfaces below.
package orders

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/stockwire/stockwire/shared/wire"
	"github.com/stockwire/stockwire/shared/woo"
)

// Report sources.
const (
	SourceWebhook = "webhook"
	SourcePoll    = "poll"
)

// StatusTrash is what an order.deleted delivery is reported as.
const StatusTrash = "trash"

// ErrIgnored is returned by FromWoo for orders the hub must not see:
// checkout drafts (WooCommerce still sends them as order.updated,
// woocommerce/woocommerce#66995) and other draft states.
var ErrIgnored = errors.New("order status ignored")

// Ignored reports whether orders in status are never reported.
func Ignored(status string) bool {
	switch status {
	case "checkout-draft", "draft", "auto-draft":
		return true
	}
	return false
}

// FromWoo converts a WooCommerce order into a report. Lines are keyed by
// variation_id, else product_id (the parent's id for variations), with their
// quantities summed; a null SKU (product gone) becomes "" and keeps the ids.
// date_modified_gmt (else date_created_gmt) is read as UTC. Returns
// ErrIgnored for draft statuses and an error when the order has no usable
// id or date.
func FromWoo(o woo.Order, source string) (wire.Order, error) {
	if o.ID <= 0 {
		return wire.Order{}, fmt.Errorf("convert order: missing id")
	}
	if Ignored(o.Status) {
		return wire.Order{}, fmt.Errorf("convert order %d (%s): %w", o.ID, o.Status, ErrIgnored)
	}
	if o.Status == "" {
		return wire.Order{}, fmt.Errorf("convert order %d: missing status", o.ID)
	}
	ds := o.DateModifiedGMT
	if ds == nil || *ds == "" {
		ds = o.DateCreatedGMT
	}
	if ds == nil || *ds == "" {
		return wire.Order{}, fmt.Errorf("convert order %d: no date_modified_gmt", o.ID)
	}
	mod, err := ParseDate(*ds)
	if err != nil {
		return wire.Order{}, fmt.Errorf("convert order %d: %w", o.ID, err)
	}
	out := wire.Order{
		WooOrderID:   o.ID,
		Number:       o.Number,
		Status:       o.Status,
		DateModified: mod,
		Source:       source,
		Lines:        []wire.OrderLine{},
	}
	index := map[int64]int{}
	for _, li := range o.LineItems {
		key := li.VariationID
		if key == 0 {
			key = li.ProductID
		}
		if i, ok := index[key]; ok && key != 0 {
			out.Lines[i].Quantity += li.Quantity
			if out.Lines[i].SKU == "" && li.SKU != nil {
				out.Lines[i].SKU = *li.SKU
			}
			continue
		}
		line := wire.OrderLine{Quantity: li.Quantity, ProductID: li.ProductID, VariationID: li.VariationID}
		if li.SKU != nil {
			line.SKU = *li.SKU
		}
		index[key] = len(out.Lines)
		out.Lines = append(out.Lines, line)
	}
	reduced := woo.StockReduced(o.LineItems)
	out.StockReduced = &reduced
	return out, nil
}

// MaxRawBytes bounds the order JSON a report carries; the hub refuses
// more (hub.MaxRawOrderBytes). A real order is a few KB.
const MaxRawBytes = 1 << 20

// FromWooFull is FromWoo for an order read whole (a webhook delivery, GET
// /orders/{id}): the report also carries the order as JSON, in
// shared/woo.Order's shape, from which the hub keeps the whole order
// (customer, addresses, prices, totals). That shape leaves out what a sync
// has no use for (customer IP address and user agent, order key, links),
// which also keeps the outbox small. An order whose JSON would exceed
// MaxRawBytes is reported without it.
func FromWooFull(o woo.Order, source string) (wire.Order, error) {
	rep, err := FromWoo(o, source)
	if err != nil {
		return rep, err
	}
	raw, err := json.Marshal(o)
	if err != nil {
		return wire.Order{}, fmt.Errorf("convert order %d: encode: %w", o.ID, err)
	}
	if len(raw) <= MaxRawBytes {
		rep.Raw = raw
	}
	return rep, nil
}

// Deleted is the report for an order.deleted delivery, which carries only
// the id: status "trash", dated at when the delivery arrived.
func Deleted(id int64, at time.Time, source string) wire.Order {
	return wire.Order{
		WooOrderID:   id,
		Number:       fmt.Sprint(id),
		Status:       StatusTrash,
		DateModified: at.UTC().Truncate(time.Second),
		Source:       source,
		Lines:        []wire.OrderLine{},
	}
}

// ParseDate parses a WooCommerce *_gmt date (no offset) as UTC.
func ParseDate(s string) (time.Time, error) {
	t, err := time.ParseInLocation(woo.DateLayout, s, time.UTC)
	if err != nil {
		return time.Time{}, fmt.Errorf("parse date %q: %w", s, err)
	}
	return t, nil
}

// FormatDate formats t as the naive UTC date modified_after expects with
// dates_are_gmt=true.
func FormatDate(t time.Time) string { return t.UTC().Format(woo.DateLayout) }
