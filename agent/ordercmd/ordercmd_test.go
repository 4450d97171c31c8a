package ordercmd_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/stockwire/stockwire/agent"
	"github.com/stockwire/stockwire/agent/ordercmd"
	"github.com/stockwire/stockwire/agent/wooclient"
	"github.com/stockwire/stockwire/agent/wooclient/wooclienttest"
	"github.com/stockwire/stockwire/shared/wire"
	"github.com/stockwire/stockwire/shared/woo"
	"github.com/stockwire/stockwire/shared/woosim"
	"github.com/stockwire/stockwire/shared/woosim/woosimtest"
)

// rig is a woosim store with two products (stock 10 each), an order of
// both (2 × SKU-000001, 1 × SKU-000002, processing) and an applier on a
// fresh registry.
type rig struct {
	sim     *woosim.Server
	client  *wooclient.Client
	applier *ordercmd.Applier
	reg     *prometheus.Registry
	order   int64
}

func mustRig(t *testing.T, wrap func(ordercmd.API) ordercmd.API) *rig {
	t.Helper()
	sim := woosimtest.Start(t, woosim.Options{Logger: slog.New(slog.DiscardHandler)}, woosim.SeedOptions{Products: 2, Stock: 10})
	c := wooclienttest.New(t, sim)
	var api ordercmd.API = c
	if wrap != nil {
		api = wrap(c)
	}
	reg := prometheus.NewRegistry()
	a, err := ordercmd.New(api, slog.New(slog.NewTextHandler(t.Output(), nil)), reg)
	if err != nil {
		t.Fatal(err)
	}
	id, err := sim.Store.Checkout([]woosim.CheckoutLine{{SKU: "SKU-000001", Quantity: 2}, {SKU: "SKU-000002", Quantity: 1}})
	if err != nil {
		t.Fatal(err)
	}
	return &rig{sim: sim, client: c, applier: a, reg: reg, order: id}
}

func (r *rig) mustApply(t *testing.T, c wire.OrderCommand) {
	t.Helper()
	if err := r.applier.ApplyCommand(t.Context(), c); err != nil {
		t.Fatal(err)
	}
}

func (r *rig) mustOrder(t *testing.T) woo.Order {
	t.Helper()
	o, err := r.client.GetOrder(t.Context(), r.order)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// notes returns how many notes of the order read text (customer or
// private as customer says).
func (r *rig) notes(t *testing.T, text string, customer bool) int {
	t.Helper()
	notes, err := r.client.ListOrderNotes(t.Context(), r.order)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, x := range notes {
		if x.Note == text && x.CustomerNote == customer {
			n++
		}
	}
	return n
}

func (r *rig) count(kind, result string) float64 {
	m, err := r.reg.Gather()
	if err != nil {
		panic(err)
	}
	for _, f := range m {
		if f.GetName() != "stockwire_agent_order_commands_total" {
			continue
		}
		for _, s := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range s.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["kind"] == kind && labels["result"] == result {
				return s.GetCounter().GetValue()
			}
		}
	}
	return 0
}

func metaString(t *testing.T, o woo.Order, key string) string {
	t.Helper()
	v, ok := o.Meta(key)
	if !ok {
		t.Fatalf("order %d has no meta %s", o.ID, key)
	}
	var s string
	if err := json.Unmarshal(v, &s); err != nil {
		t.Fatalf("meta %s=%s: %v", key, v, err)
	}
	return s
}

func tracking(t *testing.T, o woo.Order) []ordercmd.TrackingItem {
	t.Helper()
	v, ok := o.Meta(ordercmd.MetaTracking)
	if !ok {
		return nil
	}
	var items []ordercmd.TrackingItem
	if err := json.Unmarshal(v, &items); err != nil {
		t.Fatalf("meta %s=%s: %v", ordercmd.MetaTracking, v, err)
	}
	return items
}

func TestApplier_ERPReference(t *testing.T) {
	t.Parallel()
	r := mustRig(t, nil)
	cmd := wire.OrderCommand{ID: 8, WooOrderID: r.order, Kind: wire.CommandERPReference,
		ERP: &wire.ERPReference{System: "netsuite", Reference: "SO-1234"}}
	const note = "ERP reference (netsuite): SO-1234"

	t.Run("OK", func(t *testing.T) {
		r.mustApply(t, cmd)
		o := r.mustOrder(t)
		if got, want := metaString(t, o, ordercmd.MetaERPReference), "SO-1234"; got != want {
			t.Fatalf("%s=%q, want %q", ordercmd.MetaERPReference, got, want)
		}
		if got, want := metaString(t, o, ordercmd.MetaERPSystem), "netsuite"; got != want {
			t.Fatalf("%s=%q, want %q", ordercmd.MetaERPSystem, got, want)
		}
		if got, want := metaString(t, o, ordercmd.MarkerKey(8)), "applied"; got != want {
			t.Fatalf("marker=%q, want %q", got, want)
		}
		if got, want := o.Status, "processing"; got != want {
			t.Fatalf("Status=%q, want %q", got, want)
		}
		if got, want := r.notes(t, note, false), 1; got != want {
			t.Fatalf("notes %q=%d, want %d", note, got, want)
		}
	})

	t.Run("Repeat", func(t *testing.T) {
		before := r.mustOrder(t)
		r.mustApply(t, cmd)
		after := r.mustOrder(t)
		if got, want := r.notes(t, note, false), 1; got != want {
			t.Fatalf("notes %q=%d, want %d", note, got, want)
		}
		if got, want := len(after.MetaData), len(before.MetaData); got != want {
			t.Fatalf("len(MetaData)=%d, want %d", got, want)
		}
		if got, want := *after.DateModifiedGMT, *before.DateModifiedGMT; got != want {
			t.Fatalf("date_modified_gmt=%s, want %s: the repeat wrote to the order", got, want)
		}
		if got, want := r.count(wire.CommandERPReference, "applied"), 1.0; got != want {
			t.Fatalf("applied=%v, want %v", got, want)
		}
		if got, want := r.count(wire.CommandERPReference, "repeat"), 1.0; got != want {
			t.Fatalf("repeat=%v, want %v", got, want)
		}
	})
}

func TestApplier_Fulfilment(t *testing.T) {
	t.Parallel()
	r := mustRig(t, nil)
	shipped := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	partial := wire.OrderCommand{ID: 7, WooOrderID: r.order, Kind: wire.CommandFulfilment, Shipment: &wire.Shipment{
		Carrier: "DHL", TrackingNumber: "JD0146", TrackingURL: "https://www.dhl.com/track?id=JD0146&lang=en", ShippedAt: shipped,
		Lines: []wire.ShipmentLine{{SKU: "SKU-000001", Quantity: 2}}}}
	rest := wire.OrderCommand{ID: 9, WooOrderID: r.order, Kind: wire.CommandFulfilment, Shipment: &wire.Shipment{
		Carrier: "UPS", TrackingNumber: "1Z999", ShippedAt: shipped.Add(time.Hour),
		Lines: []wire.ShipmentLine{{SKU: "SKU-000002", Quantity: 1}}, Complete: true}}
	const partialNote = "Part of your order has shipped with DHL (Product 1 × 2). Tracking number: JD0146 Track it: https://www.dhl.com/track?id=JD0146&lang=en"
	const restNote = "Part of your order has shipped with UPS (Product 2 × 1). Tracking number: 1Z999"

	t.Run("Partial", func(t *testing.T) {
		r.mustApply(t, partial)
		o := r.mustOrder(t)
		if got, want := o.Status, "processing"; got != want {
			t.Fatalf("Status=%q, want %q", got, want)
		}
		items := tracking(t, o)
		want := ordercmd.TrackingItem{CustomTrackingProvider: "DHL", CustomTrackingLink: "https://www.dhl.com/track?id=JD0146&lang=en",
			TrackingNumber: "JD0146", DateShipped: "1796551200", TrackingID: "stockwire-7"}
		if len(items) != 1 || items[0] != want {
			t.Fatalf("tracking=%+v, want [%+v]", items, want)
		}
		if got, want := r.notes(t, partialNote, true), 1; got != want {
			t.Fatalf("customer notes %q=%d, want %d", partialNote, got, want)
		}
	})

	t.Run("Complete", func(t *testing.T) {
		r.mustApply(t, rest)
		o := r.mustOrder(t)
		if got, want := o.Status, "completed"; got != want {
			t.Fatalf("Status=%q, want %q", got, want)
		}
		items := tracking(t, o)
		if len(items) != 2 || items[0].TrackingID != "stockwire-7" || items[1].TrackingID != "stockwire-9" || items[1].CustomTrackingProvider != "UPS" {
			t.Fatalf("tracking=%+v, want the DHL entry then the UPS one", items)
		}
		if got, want := r.notes(t, restNote, true), 1; got != want {
			t.Fatalf("customer notes %q=%d, want %d", restNote, got, want)
		}
		if got, want := r.notes(t, "Order status changed from Processing to Completed.", false), 1; got != want {
			t.Fatalf("status notes=%d, want %d", got, want)
		}
	})

	t.Run("Repeat", func(t *testing.T) {
		r.mustApply(t, partial)
		r.mustApply(t, rest)
		o := r.mustOrder(t)
		if got, want := len(tracking(t, o)), 2; got != want {
			t.Fatalf("tracking entries=%d, want %d", got, want)
		}
		if got, want := o.Status, "completed"; got != want {
			t.Fatalf("Status=%q, want %q", got, want)
		}
		if r.notes(t, partialNote, true) != 1 || r.notes(t, restNote, true) != 1 {
			t.Fatal("a repeat added a note again")
		}
		if got, want := r.count(wire.CommandFulfilment, "repeat"), 2.0; got != want {
			t.Fatalf("repeat=%v, want %v", got, want)
		}
	})

	t.Run("WholeOrder", func(t *testing.T) {
		r := mustRig(t, nil)
		r.mustApply(t, wire.OrderCommand{ID: 1, WooOrderID: r.order, Kind: wire.CommandFulfilment,
			Shipment: &wire.Shipment{Carrier: "DHL", TrackingNumber: "N1", ShippedAt: shipped, Complete: true}})
		if got, want := r.mustOrder(t).Status, "completed"; got != want {
			t.Fatalf("Status=%q, want %q", got, want)
		}
		if got, want := r.notes(t, "Your order has shipped with DHL. Tracking number: N1", true), 1; got != want {
			t.Fatalf("customer notes=%d, want %d", got, want)
		}
	})
}

func TestApplier_Cancellation(t *testing.T) {
	t.Parallel()
	r := mustRig(t, nil)
	stock := func() (int64, int64) {
		a, _ := r.sim.Store.StockBySKU("SKU-000001")
		b, _ := r.sim.Store.StockBySKU("SKU-000002")
		return a, b
	}
	if a, b := stock(); a != 8 || b != 9 {
		t.Fatalf("stock after checkout %d, %d, want 8, 9", a, b)
	}
	cmd := wire.OrderCommand{ID: 3, WooOrderID: r.order, Kind: wire.CommandCancellation, Reason: "customer asked"}
	const note = "Cancelled by the ERP: customer asked"

	t.Run("OK", func(t *testing.T) {
		r.mustApply(t, cmd)
		if got, want := r.mustOrder(t).Status, "cancelled"; got != want {
			t.Fatalf("Status=%q, want %q", got, want)
		}
		if a, b := stock(); a != 10 || b != 10 {
			t.Fatalf("stock %d, %d, want 10, 10", a, b)
		}
		if got, want := r.notes(t, note, false), 1; got != want {
			t.Fatalf("notes %q=%d, want %d", note, got, want)
		}
	})

	t.Run("Repeat", func(t *testing.T) {
		r.mustApply(t, cmd)
		if a, b := stock(); a != 10 || b != 10 {
			t.Fatalf("stock %d, %d, want 10, 10", a, b)
		}
		if got, want := r.notes(t, note, false), 1; got != want {
			t.Fatalf("notes %q=%d, want %d", note, got, want)
		}
	})

	t.Run("AlreadyCancelled", func(t *testing.T) {
		// Another command for the order cancelled in the store: only the
		// marker is written.
		r.mustApply(t, wire.OrderCommand{ID: 4, WooOrderID: r.order, Kind: wire.CommandCancellation, Reason: "again"})
		o := r.mustOrder(t)
		if got, want := metaString(t, o, ordercmd.MarkerKey(4)), "applied"; got != want {
			t.Fatalf("marker=%q, want %q", got, want)
		}
		if got := r.notes(t, "Cancelled by the ERP: again", false); got != 0 {
			t.Fatalf("notes=%d, want 0", got)
		}
		if a, b := stock(); a != 10 || b != 10 {
			t.Fatalf("stock %d, %d, want 10, 10", a, b)
		}
	})
}

// failingPut fails UpdateOrder while fail is set, as if the agent died
// between adding the note and writing the order.
type failingPut struct {
	ordercmd.API
	fail atomic.Bool
	puts atomic.Int64
}

var errCrash = errors.New("agent killed")

func (f *failingPut) UpdateOrder(ctx context.Context, id int64, u wooclient.OrderUpdate) (woo.Order, error) {
	f.puts.Add(1)
	if f.fail.Load() {
		return woo.Order{}, errCrash
	}
	return f.API.UpdateOrder(ctx, id, u)
}

func TestApplier_CrashBeforePut(t *testing.T) {
	t.Parallel()
	api := &failingPut{}
	api.fail.Store(true)
	r := mustRig(t, func(c ordercmd.API) ordercmd.API { api.API = c; return api })
	cmd := wire.OrderCommand{ID: 5, WooOrderID: r.order, Kind: wire.CommandFulfilment,
		Shipment: &wire.Shipment{Carrier: "DHL", TrackingNumber: "N5", Complete: true}}
	const note = "Your order has shipped with DHL. Tracking number: N5"

	err := r.applier.ApplyCommand(t.Context(), cmd)
	if !errors.Is(err, errCrash) || errors.Is(err, agent.ErrCommandRefused) {
		t.Fatalf("err=%v, want the PUT's error, not a refusal", err)
	}
	o := r.mustOrder(t)
	if _, ok := o.Meta(ordercmd.MarkerKey(5)); ok || o.Status != "processing" || len(tracking(t, o)) != 0 {
		t.Fatalf("order changed without its PUT: status %s, meta %+v", o.Status, o.MetaData)
	}
	if got, want := r.notes(t, note, true), 1; got != want {
		t.Fatalf("notes after the crash=%d, want %d", got, want)
	}
	if got, want := r.count(wire.CommandFulfilment, "error"), 1.0; got != want {
		t.Fatalf("error=%v, want %v", got, want)
	}

	api.fail.Store(false)
	r.mustApply(t, cmd)
	o = r.mustOrder(t)
	if got, want := o.Status, "completed"; got != want {
		t.Fatalf("Status=%q, want %q", got, want)
	}
	if got, want := len(tracking(t, o)), 1; got != want {
		t.Fatalf("tracking entries=%d, want %d", got, want)
	}
	if got, want := r.notes(t, note, true), 1; got != want {
		t.Fatalf("notes after the retry=%d, want %d", got, want)
	}
	if got, want := api.puts.Load(), int64(2); got != want {
		t.Fatalf("PUTs=%d, want %d", got, want)
	}
}

// TestApplier_NoteAsStored: the note a crashed attempt left, as WordPress
// may have stored it (entities, backslashes gone), is not added again.
func TestApplier_NoteAsStored(t *testing.T) {
	t.Parallel()
	r := mustRig(t, nil)
	const stored = "Cancelled by the ERP: out of stock &amp; no ETA, see C:tickets"
	if _, err := r.client.CreateOrderNote(t.Context(), r.order, stored, false); err != nil {
		t.Fatal(err)
	}
	r.mustApply(t, wire.OrderCommand{ID: 1, WooOrderID: r.order, Kind: wire.CommandCancellation, Reason: `out of stock & no ETA, see C:\tickets`})
	if got, want := r.notes(t, stored, false), 1; got != want {
		t.Fatalf("stored notes=%d, want %d", got, want)
	}
	if got := r.notes(t, `Cancelled by the ERP: out of stock & no ETA, see C:\tickets`, false); got != 0 {
		t.Fatalf("notes added again=%d, want 0", got)
	}
}

func TestApplier_Refused(t *testing.T) {
	t.Parallel()
	r := mustRig(t, nil)
	for _, tt := range []struct {
		name string
		cmd  wire.OrderCommand
		kind string
	}{
		{"UnknownOrder", wire.OrderCommand{ID: 1, WooOrderID: 999999, Kind: wire.CommandCancellation}, wire.CommandCancellation},
		{"UnknownKind", wire.OrderCommand{ID: 2, WooOrderID: r.order, Kind: "refund"}, "unknown"},
		{"NoShipment", wire.OrderCommand{ID: 3, WooOrderID: r.order, Kind: wire.CommandFulfilment}, wire.CommandFulfilment},
		{"NoReference", wire.OrderCommand{ID: 4, WooOrderID: r.order, Kind: wire.CommandERPReference}, wire.CommandERPReference},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := r.applier.ApplyCommand(t.Context(), tt.cmd)
			if !errors.Is(err, agent.ErrCommandRefused) {
				t.Fatalf("err=%v, want ErrCommandRefused", err)
			}
			if got, want := r.count(tt.kind, "refused"), 1.0; got != want {
				t.Fatalf("refused{kind=%s}=%v, want %v", tt.kind, got, want)
			}
		})
	}
	if !errors.Is(r.applier.ApplyCommand(t.Context(), wire.OrderCommand{ID: 5, WooOrderID: 999999, Kind: wire.CommandCancellation}),
		wooclient.ErrOrderNotFound) {
		t.Fatal("the refusal of an unknown order does not carry wooclient.ErrOrderNotFound")
	}

	t.Run("Trash", func(t *testing.T) {
		if err := r.sim.Store.SetOrderStatus(r.order, "trash"); err != nil {
			t.Fatal(err)
		}
		err := r.applier.ApplyCommand(t.Context(), wire.OrderCommand{ID: 6, WooOrderID: r.order, Kind: wire.CommandCancellation})
		if !errors.Is(err, agent.ErrCommandRefused) {
			t.Fatalf("err=%v, want ErrCommandRefused", err)
		}
	})
}

func TestApplier_Transient(t *testing.T) {
	t.Parallel()
	r := mustRig(t, nil)
	r.sim.Store.SetFaults(woosim.Faults{ErrorRate: 1, ErrorStatus: 503})
	err := r.applier.ApplyCommand(t.Context(), wire.OrderCommand{ID: 1, WooOrderID: r.order, Kind: wire.CommandCancellation})
	if err == nil || errors.Is(err, agent.ErrCommandRefused) {
		t.Fatalf("err=%v, want a transient error", err)
	}
	var se *wooclient.StatusError
	var ae *woo.APIError
	if !errors.As(err, &se) && !errors.As(err, &ae) {
		t.Fatalf("err=%v, want the store's 503", err)
	}
	r.sim.Store.SetFaults(woosim.Faults{})
	r.mustApply(t, wire.OrderCommand{ID: 1, WooOrderID: r.order, Kind: wire.CommandCancellation})
	if got, want := r.count(wire.CommandCancellation, "error"), 1.0; got != want {
		t.Fatalf("error=%v, want %v", got, want)
	}
}

func TestApplier_Metrics(t *testing.T) {
	t.Parallel()
	r := mustRig(t, nil)
	r.mustApply(t, wire.OrderCommand{ID: 1, WooOrderID: r.order, Kind: wire.CommandCancellation})
	problems, err := testutil.GatherAndLint(r.reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		if strings.HasPrefix(p.Metric, "stockwire_agent_order_command") {
			t.Errorf("%s: %s", p.Metric, p.Text)
		}
	}
}
