package web

import (
	"github.com/stockwire/stockwire/hub"
	"github.com/stockwire/stockwire/shared/hubapi"
)

// The API speaks shared/hubapi types; these convert the hub's domain types
// into them. Nil maps and slices stay nil, so the JSON is the domain's.

func apiSKUStock(s hub.SKUStock) hubapi.SKUStock {
	return hubapi.SKUStock{
		SKU: s.SKU, OnHand: s.OnHand, Committed: s.Committed, SafetyStock: s.SafetyStock, Available: s.Available,
		Locations: s.Locations, Targets: s.Targets, Allocated: s.Allocated, Pool: s.Pool, Exposure: s.Exposure,
	}
}

func apiLedgerEntry(e hub.LedgerEntry) hubapi.LedgerEntry {
	return hubapi.LedgerEntry{
		ID: e.ID, SKU: e.SKU, Location: e.Location, Quantity: e.Quantity, Before: e.Before, After: e.After,
		Reason: e.Reason, Reference: e.Reference, IdempotencyKey: e.IdempotencyKey, Actor: e.Actor, CreatedAt: e.CreatedAt,
	}
}

func apiStore(s hub.Store) hubapi.Store {
	a := s.Agent
	return hubapi.Store{
		ID: s.ID, Name: s.Name, URL: s.URL, Policy: string(s.Policy), Buffer: s.Buffer, Status: string(s.Status), CreatedAt: s.CreatedAt,
		EditLocation: s.EditLocation,
		Agent: hubapi.AgentState{
			Connected: a.Connected, LastSeen: a.LastSeen, AppliedSeq: a.AppliedSeq, HeadSeq: a.HeadSeq,
			SeqLag: a.SeqLag, OutboxDepth: a.OutboxDepth, DeadLetters: a.DeadLetters, WebhookHealth: string(a.WebhookHealth),
			EditsReverted: a.EditsReverted, Replica: a.Replica,
		},
		Allocation: hubapi.AllocationParams(s.Allocation),
	}
}

func apiCommand(c hub.OrderCommand) hubapi.OrderCommand {
	out := hubapi.OrderCommand{ID: c.ID, OrderID: c.OrderID, StoreID: c.StoreID, WooOrderID: c.WooOrderID, Kind: c.Kind,
		State: c.State, Error: c.Error, Reason: c.Reason, CreatedAt: c.CreatedAt, SettledAt: c.SettledAt}
	if c.ERP != nil {
		out.ERP = &hubapi.ERPReference{System: c.ERP.System, Reference: c.ERP.Reference}
	}
	if s := c.Shipment; s != nil {
		out.Shipment = &hubapi.Shipment{Carrier: s.Carrier, TrackingNumber: s.TrackingNumber, TrackingURL: s.TrackingURL,
			ShippedAt: s.ShippedAt, Complete: s.Complete}
		for _, l := range s.Lines {
			out.Shipment.Lines = append(out.Shipment.Lines, hubapi.ShipmentLine(l))
		}
	}
	return out
}

func apiOrder(o hub.Order) hubapi.Order {
	var lines []hubapi.OrderLine
	if o.Lines != nil {
		lines = make([]hubapi.OrderLine, len(o.Lines))
		for i, l := range o.Lines {
			lines[i] = hubapi.OrderLine(l)
		}
	}
	return hubapi.Order{
		ID: o.ID, StoreID: o.StoreID, WooOrderID: o.WooOrderID, Number: o.Number, Status: o.Status,
		StockState: o.StockState, Lines: lines, ModifiedAt: o.ModifiedAt, UpdatedAt: o.UpdatedAt,
		Document: apiDocument(o.Document), PersonalDataErasedAt: o.PersonalDataErasedAt,
	}
}

func apiDocument(d *hub.OrderDocument) *hubapi.OrderDocument {
	if d == nil {
		return nil
	}
	return &hubapi.OrderDocument{
		Number: d.Number, Status: d.Status, Currency: d.Currency, PricesIncludeTax: d.PricesIncludeTax, CreatedVia: d.CreatedVia,
		DateCreated: d.DateCreated, DateModified: d.DateModified, DatePaid: d.DatePaid, DateCompleted: d.DateCompleted,
		Customer: hubapi.Customer(d.Customer), Billing: hubapi.Address(d.Billing), Shipping: hubapi.Address(d.Shipping),
		Payment: hubapi.Payment(d.Payment), CustomerNote: d.CustomerNote,
		Lines: apiList(d.Lines, apiDocumentLine), ShippingLines: apiList(d.ShippingLines, apiShippingLine),
		Fees: apiList(d.Fees, apiFee), Coupons: apiList(d.Coupons, apiCoupon),
		TaxLines: apiList(d.TaxLines, apiTaxLine), Refunds: apiList(d.Refunds, apiRefund),
		Totals: hubapi.OrderTotals(d.Totals), MetaData: apiList(d.MetaData, apiMeta),
	}
}

// The hub's document types and the API's have the same fields, so Go
// converts the flat ones directly.
func apiCoupon(c hub.Coupon) hubapi.Coupon   { return hubapi.Coupon(c) }
func apiTaxLine(t hub.DocTax) hubapi.TaxLine { return hubapi.TaxLine(t) }
func apiRefund(r hub.Refund) hubapi.Refund   { return hubapi.Refund(r) }
func apiMeta(m hub.Meta) hubapi.Meta         { return hubapi.Meta(m) }
func apiLineTax(t hub.LineTax) hubapi.LineTax {
	return hubapi.LineTax(t)
}

func apiDocumentLine(l hub.DocLine) hubapi.DocumentLine {
	return hubapi.DocumentLine{ID: l.ID, Name: l.Name, SKU: l.SKU, ProductID: l.ProductID, VariationID: l.VariationID,
		Quantity: l.Quantity, Price: l.Price, Subtotal: l.Subtotal, SubtotalTax: l.SubtotalTax, Total: l.Total,
		TotalTax: l.TotalTax, Discount: l.Discount, TaxClass: l.TaxClass, Taxes: apiList(l.Taxes, apiLineTax),
		Attributes: apiList(l.Attributes, func(a hub.Attr) hubapi.Attribute { return hubapi.Attribute(a) }),
		MetaData:   apiList(l.MetaData, apiMeta)}
}

func apiShippingLine(s hub.DocShip) hubapi.ShippingLine {
	return hubapi.ShippingLine{ID: s.ID, MethodID: s.MethodID, MethodTitle: s.MethodTitle, InstanceID: s.InstanceID,
		Total: s.Total, TotalTax: s.TotalTax, Taxes: apiList(s.Taxes, apiLineTax)}
}

func apiFee(f hub.DocFee) hubapi.Fee {
	return hubapi.Fee{ID: f.ID, Name: f.Name, TaxClass: f.TaxClass, TaxStatus: f.TaxStatus, Total: f.Total,
		TotalTax: f.TotalTax, Taxes: apiList(f.Taxes, apiLineTax)}
}

// apiList converts every element of a list, giving an empty (not nil)
// slice for an empty one: lists answer [] rather than null.
func apiList[T, A any](list []T, conv func(T) A) []A {
	out := make([]A, len(list))
	for i, v := range list {
		out[i] = conv(v)
	}
	return out
}
