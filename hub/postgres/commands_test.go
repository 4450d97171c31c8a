package postgres_test

import (
	"testing"

	"github.com/stockwire/stockwire/hub"
)

func TestOrderCommands_SettledOnce(t *testing.T) {
	t.Parallel()
	e := MustEnv(t)
	st := e.MustStore(t, "a", 0)
	e.MustCount(t, "MUG", "main", 10)
	o := e.MustReport(t, st.ID, 7, "processing", t0, hub.OrderLine{SKU: "MUG", Quantity: 2})

	c, err := e.orders.SetERPReference(t.Context(), o.ID, hub.ERPReference{System: "netsuite", Reference: "SO-1234"}, "admin")
	if err != nil {
		t.Fatal(err)
	}
	if c.State != hub.CommandPending || c.WooOrderID != 7 || c.StoreID != st.ID || c.ERP == nil || c.ERP.Reference != "SO-1234" {
		t.Fatalf("command %+v", c)
	}
	pending, err := e.orders.PendingCommands(t.Context(), st.ID)
	if err != nil || len(pending) != 1 || pending[0].ID != c.ID {
		t.Fatalf("pending %+v, %v; want the one command", pending, err)
	}
	// Another store's answer settles nothing.
	other := e.MustStore(t, "b", 0)
	if _, settled, err := e.orders.SettleCommand(t.Context(), other.ID, c.ID, ""); err != nil || settled {
		t.Fatalf("another store settled it: %v %v", settled, err)
	}
	got, settled, err := e.orders.SettleCommand(t.Context(), st.ID, c.ID, "")
	if err != nil || !settled || got.State != hub.CommandApplied || got.SettledAt == nil {
		t.Fatalf("settle: %+v %v %v", got, settled, err)
	}
	// A repeated answer, even a failure, changes nothing.
	if _, settled, err := e.orders.SettleCommand(t.Context(), st.ID, c.ID, "order gone"); err != nil || settled {
		t.Fatalf("settled twice: %v %v", settled, err)
	}
	list, err := e.orders.Commands(t.Context(), o.ID)
	if err != nil || len(list) != 1 || list[0].State != hub.CommandApplied {
		t.Fatalf("commands %+v, %v", list, err)
	}
	if pending, _ := e.orders.PendingCommands(t.Context(), st.ID); len(pending) != 0 {
		t.Fatalf("still pending: %+v", pending)
	}
	_, err = e.orders.Commands(t.Context(), 9999)
	wantCode(t, err, hub.ENOTFOUND)
}

func TestOrderCommands_PartialShipments(t *testing.T) {
	t.Parallel()
	e := MustEnv(t)
	st := e.MustStore(t, "a", 0)
	e.MustCount(t, "MUG", "main", 10)
	e.MustCount(t, "TEE", "main", 10)
	o := e.MustReport(t, st.ID, 7, "processing", t0, hub.OrderLine{SKU: "MUG", Quantity: 2}, hub.OrderLine{SKU: "TEE", Quantity: 1})

	ship := func(lines ...hub.ShipmentLine) (hub.Order, hub.OrderCommand, error) {
		return e.orders.Ship(t.Context(), o.ID, hub.Shipment{Carrier: "DHL", TrackingNumber: "JD01", Lines: lines}, "admin")
	}
	_, _, err := ship(hub.ShipmentLine{SKU: "CUP", Quantity: 1})
	wantCode(t, err, hub.EINVALID)
	_, _, err = ship(hub.ShipmentLine{SKU: "MUG", Quantity: 3})
	wantCode(t, err, hub.EINVALID)

	got, c, err := ship(hub.ShipmentLine{SKU: "MUG", Quantity: 2})
	if err != nil {
		t.Fatal(err)
	}
	if got.StockState != hub.OrderStateCommitted || c.Shipment == nil || c.Shipment.Complete || c.Shipment.ShippedAt.IsZero() {
		t.Fatalf("after a partial shipment: order %s, command %+v", got.StockState, c.Shipment)
	}
	if s := e.MustStock(t, "MUG"); s.OnHand != 10 || s.Committed != 2 {
		t.Fatalf("MUG after a partial shipment: %+v, want on hand 10, committed 2", s)
	}
	got, c, err = ship(hub.ShipmentLine{SKU: "TEE", Quantity: 1})
	if err != nil {
		t.Fatal(err)
	}
	if got.StockState != hub.OrderStateFulfilled || !c.Shipment.Complete {
		t.Fatalf("after the last shipment: order %s, complete %v", got.StockState, c.Shipment.Complete)
	}
	if s := e.MustStock(t, "MUG"); s.OnHand != 8 || s.Committed != 0 {
		t.Fatalf("MUG once shipped: %+v, want on hand 8, committed 0", s)
	}
	// Nothing is left to ship, and a shipped order cannot be cancelled.
	_, _, err = ship(hub.ShipmentLine{SKU: "TEE", Quantity: 1})
	wantCode(t, err, hub.EINVALID)
	_, err = e.orders.Cancel(t.Context(), o.ID, "too late", "admin")
	wantCode(t, err, hub.ECONFLICT)
	if pending, _ := e.orders.PendingCommands(t.Context(), st.ID); len(pending) != 2 {
		t.Fatalf("pending %+v, want the two shipments", pending)
	}
}

func TestOrderCommands_CancelLeavesStockToTheStoresReport(t *testing.T) {
	t.Parallel()
	e := MustEnv(t)
	st := e.MustStore(t, "a", 0)
	e.MustCount(t, "MUG", "main", 10)
	o := e.MustReport(t, st.ID, 7, "processing", t0, hub.OrderLine{SKU: "MUG", Quantity: 2})
	c, err := e.orders.Cancel(t.Context(), o.ID, "customer asked", "admin")
	if err != nil || c.Kind != hub.CommandCancellation || c.Reason != "customer asked" {
		t.Fatalf("cancel: %+v %v", c, err)
	}
	if s := e.MustStock(t, "MUG"); s.Committed != 2 {
		t.Fatalf("committed %d before the store cancelled, want 2", s.Committed)
	}
	// The store cancels it and the agent reports it: released once.
	e.MustReport(t, st.ID, 7, "cancelled", t0.Add(1), hub.OrderLine{SKU: "MUG", Quantity: 2})
	e.MustReport(t, st.ID, 7, "cancelled", t0.Add(2), hub.OrderLine{SKU: "MUG", Quantity: 2})
	if s := e.MustStock(t, "MUG"); s.Committed != 0 || s.Available != 10 {
		t.Fatalf("after the store's cancellation: %+v", s)
	}
	// A shipment of a cancelled order is refused.
	_, _, err = e.orders.Ship(t.Context(), o.ID, hub.Shipment{Carrier: "DHL", TrackingNumber: "JD01"}, "admin")
	wantCode(t, err, hub.ECONFLICT)
}
