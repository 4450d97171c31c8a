package wooclient_test

import (
	"encoding/json"
	"errors"
	"log/slog"
	"testing"

	"github.com/stockwire/stockwire/agent/wooclient"
	"github.com/stockwire/stockwire/agent/wooclient/wooclienttest"
	"github.com/stockwire/stockwire/shared/woo"
	"github.com/stockwire/stockwire/shared/woosim"
	"github.com/stockwire/stockwire/shared/woosim/woosimtest"
)

func TestClient_Orders(t *testing.T) {
	t.Parallel()
	sim := woosimtest.Start(t, woosim.Options{Logger: slog.New(slog.DiscardHandler)}, woosim.SeedOptions{Products: 1, Stock: 10})
	c := wooclienttest.New(t, sim)
	id, err := sim.Store.Checkout([]woosim.CheckoutLine{{SKU: "SKU-000001", Quantity: 2}})
	if err != nil {
		t.Fatal(err)
	}

	t.Run("UpdateOrder", func(t *testing.T) {
		completed := "completed"
		o, err := c.UpdateOrder(t.Context(), id, wooclient.OrderUpdate{Status: &completed, MetaData: []woo.MetaData{
			{Key: "_stockwire_erp_reference", Value: json.RawMessage(`"SO-1"`)},
			{Key: "_list", Value: json.RawMessage(`[{"a":1}]`)},
		}})
		if err != nil {
			t.Fatal(err)
		}
		if got, want := o.Status, "completed"; got != want {
			t.Fatalf("Status=%q, want %q", got, want)
		}
		// A second write replaces by key.
		if _, err := c.UpdateOrder(t.Context(), id, wooclient.OrderUpdate{MetaData: []woo.MetaData{
			{Key: "_stockwire_erp_reference", Value: json.RawMessage(`"SO-2"`)},
		}}); err != nil {
			t.Fatal(err)
		}
		o, err = c.GetOrder(t.Context(), id)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := len(o.MetaData), 2; got != want {
			t.Fatalf("len(MetaData)=%d, want %d: %+v", got, want, o.MetaData)
		}
		if v, _ := o.Meta("_stockwire_erp_reference"); string(v) != `"SO-2"` {
			t.Fatalf("_stockwire_erp_reference=%s, want \"SO-2\"", v)
		}
		if v, _ := o.Meta("_list"); string(v) != `[{"a":1}]` {
			t.Fatalf("_list=%s, want [{\"a\":1}]", v)
		}
	})

	t.Run("Notes", func(t *testing.T) {
		n, err := c.CreateOrderNote(t.Context(), id, "Shipped.", true)
		if err != nil {
			t.Fatal(err)
		}
		if n.ID == 0 || n.Note != "Shipped." || !n.CustomerNote || n.Author != "WooCommerce" || n.DateCreatedGMT == "" {
			t.Fatalf("note=%+v", n)
		}
		notes, err := c.ListOrderNotes(t.Context(), id)
		if err != nil {
			t.Fatal(err)
		}
		var found, status bool
		for _, x := range notes {
			found = found || x.ID == n.ID && x.CustomerNote
			status = status || x.Note == "Order status changed from Processing to Completed." && !x.CustomerNote
		}
		if !found || !status {
			t.Fatalf("notes=%+v, want the customer note and the status change", notes)
		}
	})

	t.Run("ErrOrderNotFound", func(t *testing.T) {
		const missing = 999999
		_, err := c.GetOrder(t.Context(), missing)
		if !errors.Is(err, wooclient.ErrOrderNotFound) {
			t.Fatalf("GetOrder err=%v, want ErrOrderNotFound", err)
		}
		var ae *woo.APIError
		if !errors.As(err, &ae) || ae.Data.Status != 404 {
			t.Fatalf("GetOrder err=%v, want a 404 *woo.APIError", err)
		}
		if _, err := c.UpdateOrder(t.Context(), missing, wooclient.OrderUpdate{}); !errors.Is(err, wooclient.ErrOrderNotFound) {
			t.Fatalf("UpdateOrder err=%v, want ErrOrderNotFound", err)
		}
		if _, err := c.ListOrderNotes(t.Context(), missing); !errors.Is(err, wooclient.ErrOrderNotFound) {
			t.Fatalf("ListOrderNotes err=%v, want ErrOrderNotFound", err)
		}
		if _, err := c.CreateOrderNote(t.Context(), missing, "x", false); !errors.Is(err, wooclient.ErrOrderNotFound) {
			t.Fatalf("CreateOrderNote err=%v, want ErrOrderNotFound", err)
		}
	})
}
