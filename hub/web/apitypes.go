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
			Replica: a.Replica,
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
	}
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
