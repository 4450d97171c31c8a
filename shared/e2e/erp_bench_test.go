package e2e_test

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/stockwire/stockwire/shared/hubapi"
	"github.com/stockwire/stockwire/shared/woosim"
)

// BenchmarkERP_ReferenceReachesStore measures the ERP's answer on its way
// into the store: from the API call (POST /orders/{id}/erp-reference) to
// the WooCommerce order (woosim) carrying the reference, through the hub,
// the link and the agent, all real processes on loopback. It reports p50
// and p99 in milliseconds; the target is p99 ≤ 1 s.
//
//	go test ./shared/e2e -run '^$' -bench ERP_ -benchtime 200x
func BenchmarkERP_ReferenceReachesStore(b *testing.B) {
	s := newSystem(b, 1, 1, 1_000_000)
	st := s.stores[0]
	sku := st.sim.Store.SKUs()[0]
	wooID, err := st.sim.Store.Checkout([]woosim.CheckoutLine{{SKU: sku, Quantity: 1}})
	if err != nil {
		b.Fatal(err)
	}
	var o hubapi.Order
	deadline := time.Now().Add(30 * time.Second)
	for o.ID == 0 {
		var list hubapi.OrderList
		if err := s.hub.API(http.MethodGet, "/api/v1/orders", nil, &list); err != nil {
			b.Fatal(err)
		}
		for _, x := range list.Orders {
			if x.WooOrderID == wooID {
				o = x
			}
		}
		if time.Now().After(deadline) {
			b.Fatal("the order never reached the hub")
		}
	}
	path := "/api/v1/orders/" + strconv.FormatInt(o.ID, 10) + "/erp-reference"
	var took []time.Duration
	b.ResetTimer()
	for i := range b.N {
		ref := fmt.Sprintf("SO-%d", i)
		start := time.Now()
		s.hub.MustAPI(http.MethodPost, path, hubapi.ERPReference{System: "netsuite", Reference: ref}, nil)
		for {
			wo, _ := st.sim.Store.Order(wooID)
			if v, _ := wo.Meta("_stockwire_erp_reference"); string(v) == strconv.Quote(ref) {
				break
			}
			if time.Since(start) > 30*time.Second {
				b.Fatalf("reference %s never reached the store", ref)
			}
			time.Sleep(time.Millisecond)
		}
		took = append(took, time.Since(start))
	}
	b.StopTimer()
	slices.Sort(took)
	pct := func(p float64) float64 {
		return float64(took[min(len(took)-1, int(p*float64(len(took))))].Microseconds()) / 1000
	}
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
}
