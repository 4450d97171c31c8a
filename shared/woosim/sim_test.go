package woosim_test

import (
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stockwire/stockwire/shared/woosim"
)

func TestSimFaultsAndStats(t *testing.T) {
	srv := start(t, woosim.Options{WebhookDelay: time.Hour})
	if err := srv.Store.Seed(woosim.SeedOptions{Products: 2, Stock: 3}); err != nil {
		t.Fatal(err)
	}
	c := newClient(t, srv)
	// Bad fault input is refused and changes nothing.
	if r := c.send(jsonReq(t, "POST", srv.URL+"/sim/faults", `{"error_rate":2}`)); r.status != 400 {
		t.Fatalf("bad faults: %d", r.status)
	}
	if r := c.send(jsonReq(t, "POST", srv.URL+"/sim/faults", `{"error_rat":1}`)); r.status != 400 {
		t.Fatalf("unknown fault field: %d", r.status)
	}
	if r := c.send(jsonReq(t, "POST", srv.URL+"/sim/faults", `{"error_rate":1,"error_status":503}`)); r.status != 200 {
		t.Fatalf("set faults: %d %s", r.status, r.body)
	}
	if r := c.do("GET", "/products", nil, nil); r.status != 503 {
		t.Fatalf("with error_rate 1: %d", r.status)
	}
	// /sim is not subject to faults.
	if r := c.send(jsonReq(t, "POST", srv.URL+"/sim/checkout", `{"line_items":[{"sku":"SKU-000001","quantity":2}]}`)); r.status != 201 {
		t.Fatalf("checkout: %d %s", r.status, r.body)
	}
	srv.Store.SetFaults(woosim.Faults{RateLimitRate: 1, ErrorRate: 1})
	if r := c.do("GET", "/products", nil, nil); r.status != 429 || r.header.Get("Retry-After") != "1" {
		t.Fatalf("with rate_limit_rate 1: %d, Retry-After %q", r.status, r.header.Get("Retry-After"))
	}
	srv.Store.SetFaults(woosim.Faults{LatencyMS: 50})
	t0 := time.Now()
	c.must(200, "GET", "/products", nil, nil)
	if d := time.Since(t0); d < 50*time.Millisecond {
		t.Fatalf("latency fault: answered in %v", d)
	}
	srv.Store.SetFaults(woosim.Faults{})
	if r := c.send(jsonReq(t, "POST", srv.URL+"/sim/admin-edit", `{"sku":"SKU-000002","stock_quantity":40}`)); r.status != 200 {
		t.Fatalf("admin-edit: %d %s", r.status, r.body)
	}
	if q := stock(t, srv.Store, "SKU-000002"); q != 40 {
		t.Fatalf("admin edit stock %d", q)
	}
	r := c.send(mustReq(t, "GET", srv.URL+"/sim/stats"))
	var st woosim.Stats
	r.json(t, &st)
	if st.CheckoutsAccepted != 1 || st.Requests["GET /wp-json/wc/v3/products 503"] != 1 || st.Requests["GET /wp-json/wc/v3/products 200"] != 1 {
		t.Fatalf("stats %+v", st)
	}
	// Unknown routes answer rest_no_route.
	if r := c.do("GET", "/nothing", url.Values{}, nil); r.status != 404 || !strings.Contains(string(r.body), "rest_no_route") {
		t.Fatalf("no route: %d %s", r.status, r.body)
	}
}

// TestRaceWindowFault shows the lost update WooCommerce's read-modify-write
// allows when a checkout lands inside an inventory_delta update, and that
// without the fault both apply.
func TestRaceWindowFault(t *testing.T) {
	for _, window := range []int{0, 200} {
		srv := start(t, woosim.Options{WebhookDelay: time.Hour})
		if err := srv.Store.Seed(woosim.SeedOptions{Products: 1, Stock: 10}); err != nil {
			t.Fatal(err)
		}
		srv.Store.SetFaults(woosim.Faults{RaceWindowMS: window})
		inWindow := make(chan struct{})
		woosim.SetRaceReadHook(srv.Store, func() { close(inWindow) })
		c := newClient(t, srv)
		pid, _ := srv.Store.ProductIDBySKU("SKU-000001")
		done := make(chan struct{})
		go func() {
			defer close(done)
			c.must(200, "PUT", p("/products/%d", pid), nil, map[string]any{"inventory_delta": 5})
		}()
		if window > 0 {
			<-inWindow // the update has read the stock and sits in its window
		} else {
			<-done
		}
		if _, err := srv.Store.Checkout([]woosim.CheckoutLine{{SKU: "SKU-000001", Quantity: 1}}); err != nil {
			t.Fatal(err)
		}
		<-done
		want := int64(14)
		if window > 0 {
			want = 15 // the checkout's reduction was overwritten
		}
		if q := stock(t, srv.Store, "SKU-000001"); q != want {
			t.Fatalf("window %d: stock %d, want %d", window, q, want)
		}
	}
}
