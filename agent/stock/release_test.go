package stock_test

import (
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/stockwire/stockwire/shared/woosim"
)

func mustStock(tb testing.TB, srv *woosim.Server, sku string) int64 {
	tb.Helper()
	q, ok := srv.Store.StockBySKU(sku)
	if !ok {
		tb.Fatalf("%s not in the store", sku)
	}
	return q
}

func TestWriter_Release(t *testing.T) {
	srv := mustSim(t, 3)
	dir := t.TempDir()
	r := mustWriter(t, srv.URL, dir, nil)
	ctx := t.Context()
	a, b := srv.Store.SKUs()[0], srv.Store.SKUs()[1]

	t.Run("AtMostOncePerReclaim", func(t *testing.T) {
		n, err := r.w.Release(ctx, 1, a, 4)
		if err != nil || n != 4 {
			t.Fatalf("Release=%d, %v; want 4", n, err)
		}
		if got := mustStock(t, srv, a); got != 996 {
			t.Fatalf("store shows %d, want 996", got)
		}
		// The same reclaim again (lost answer): same figure, nothing released.
		if n, err := r.w.Release(ctx, 1, a, 4); err != nil || n != 4 || mustStock(t, srv, a) != 996 {
			t.Fatalf("repeat: Release=%d, %v, store %d", n, err, mustStock(t, srv, a))
		}
		// An older reclaim than the product's last is answered with 0.
		if n, err := r.w.Release(ctx, 0, a, 4); err == nil && n != 0 {
			t.Fatalf("older reclaim released %d", n)
		}
	})

	t.Run("NoMoreThanTheStoreHas", func(t *testing.T) {
		n, err := r.w.Release(ctx, 2, a, 5000)
		if err != nil || n != 996 {
			t.Fatalf("Release=%d, %v; want 996", n, err)
		}
		if got := mustStock(t, srv, a); got != 0 {
			t.Fatalf("store shows %d, want 0", got)
		}
		if n, err := r.w.Release(ctx, 3, a, 5); err != nil || n != 0 {
			t.Fatalf("release from an empty shelf: %d, %v", n, err)
		}
	})

	t.Run("CheckoutRacingTheReleaseKeepsItsUnit", func(t *testing.T) {
		if _, err := r.w.Release(ctx, 4, b, 997); err != nil { // leave 3
			t.Fatal(err)
		}
		// A checkout lands between the writer's read and its write.
		var once sync.Once
		srv.Store.SetOnRequest(func(req *http.Request) {
			if req.Method == http.MethodPost && strings.HasSuffix(req.URL.Path, "/batch") {
				once.Do(func() {
					if _, err := srv.Store.Checkout([]woosim.CheckoutLine{{SKU: b, Quantity: 1}}); err != nil {
						t.Error(err)
					}
				})
			}
		})
		defer srv.Store.SetOnRequest(nil)
		n, err := r.w.Release(ctx, 5, b, 3)
		if err != nil {
			t.Fatal(err)
		}
		// 3 on the shelf, 1 sold meanwhile: 2 released, none below zero,
		// nothing both sold and returned.
		if got := mustStock(t, srv, b); n != 2 || got != 0 {
			t.Fatalf("released %d, store shows %d; want 2 and 0", n, got)
		}
	})

	t.Run("RestartAnswersFromTheStore", func(t *testing.T) {
		r.stop()
		r2 := mustWriter(t, srv.URL, dir, nil)
		if n, err := r2.w.Release(ctx, 5, b, 3); err != nil || n != 2 {
			t.Fatalf("after restart: Release=%d, %v; want 2 from the product meta", n, err)
		}
		if got := mustStock(t, srv, b); got != 0 {
			t.Fatalf("store shows %d, want 0", got)
		}
	})
}
