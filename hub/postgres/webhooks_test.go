package postgres_test

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/stockwire/stockwire/hub"
	"github.com/stockwire/stockwire/hub/postgres"
)

func MustWebhook(tb testing.TB, s *postgres.WebhookService, events ...string) hub.Webhook {
	tb.Helper()
	w, secret, err := s.CreateWebhook(tb.Context(), hub.NewWebhook{URL: "https://erp.example/hook", Events: events, Enabled: true})
	if err != nil {
		tb.Fatal(err)
	}
	if len(secret) < 40 || secret[:6] != hub.WebhookSecretPrefix {
		tb.Fatalf("secret %d bytes, want whsec_…", len(secret))
	}
	return w
}

func TestWebhookService_Create(t *testing.T) {
	t.Parallel()
	e := MustEnv(t)
	s := postgres.NewWebhookService(e.db)
	for _, tc := range []struct {
		name, field string
		w           hub.NewWebhook
	}{
		{"NoURL", "url", hub.NewWebhook{Events: []string{hub.EventOrderCreated}}},
		{"FTP", "url", hub.NewWebhook{URL: "ftp://erp.example/", Events: []string{hub.EventOrderCreated}}},
		{"Relative", "url", hub.NewWebhook{URL: "/hook", Events: []string{hub.EventOrderCreated}}},
		{"Credentials", "url", hub.NewWebhook{URL: "https://u:p@erp.example/", Events: []string{hub.EventOrderCreated}}},
		{"NoEvents", "events", hub.NewWebhook{URL: "https://erp.example/"}},
		{"UnknownEvent", "events", hub.NewWebhook{URL: "https://erp.example/", Events: []string{"order.exploded"}}},
		{"Twice", "events", hub.NewWebhook{URL: "https://erp.example/", Events: []string{hub.EventOrderCreated, hub.EventOrderCreated}}},
	} {
		t.Run("Err"+tc.name, func(t *testing.T) {
			_, _, err := s.CreateWebhook(t.Context(), tc.w)
			var he *hub.Error
			if !errors.As(err, &he) || he.Code != hub.EINVALID || he.Field != tc.field {
				t.Fatalf("err=%v, want EINVALID on %s", err, tc.field)
			}
		})
	}
	if list, err := s.Webhooks(t.Context()); err != nil || len(list) != 0 {
		t.Fatalf("after bad input: %d webhooks, err %v; want none", len(list), err)
	}
	t.Run("OK", func(t *testing.T) {
		w := MustWebhook(t, s, hub.EventOrderCreated)
		off := false
		got, err := s.UpdateWebhook(t.Context(), w.ID, hub.WebhookUpdate{Enabled: &off, Events: []string{hub.EventOrderUpdated}})
		if err != nil {
			t.Fatal(err)
		}
		if got.Enabled || len(got.Events) != 1 || got.Events[0] != hub.EventOrderUpdated || got.URL != w.URL {
			t.Fatalf("updated=%+v", got)
		}
		if err := s.DeleteWebhook(t.Context(), w.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Webhook(t.Context(), w.ID); hub.ErrorCode(err) != hub.ENOTFOUND {
			t.Fatalf("after delete err=%v, want ENOTFOUND", err)
		}
	})
}

// TestWebhookService_Outbox: an order report writes its event and a
// delivery per interested subscription in its own transaction; claims
// keep one order's deliveries in order and never hand one out twice.
func TestWebhookService_Outbox(t *testing.T) {
	t.Parallel()
	e := MustEnv(t)
	s := postgres.NewWebhookService(e.db)
	st := e.MustStore(t, "a", 0)
	e.MustCount(t, "MUG", "main", 10)

	// No subscription: no event.
	report := func(woo int64, status string, at time.Time) {
		t.Helper()
		if _, err := e.orders.ApplyOrderReport(t.Context(), st.ID, hub.OrderReport{
			WooOrderID: woo, Status: status, DateModified: at, Lines: []hub.OrderLine{{SKU: "MUG", Quantity: 1}},
		}); err != nil {
			t.Fatal(err)
		}
	}
	report(1, "processing", t0)
	all := MustWebhook(t, s, hub.EventOrderCreated, hub.EventOrderUpdated, hub.EventOrderCancelled)
	created := MustWebhook(t, s, hub.EventOrderCreated)
	report(2, "processing", t0)
	report(2, "processing", t0) // duplicate: no event
	report(2, "cancelled", t0.Add(time.Second))
	report(1, "completed", t0.Add(time.Second))

	list, err := s.Deliveries(t.Context(), hub.DeliveryFilter{}, hub.Page{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, d := range list {
		got = append(got, d.Event.Type)
	}
	want := []string{hub.EventOrderCreated, hub.EventOrderCreated, hub.EventOrderCancelled, hub.EventOrderUpdated}
	if len(list) != len(want) || list[0].SubscriptionID != all.ID || list[1].SubscriptionID != created.ID {
		t.Fatalf("deliveries %v (%+v), want %v", got, list, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("deliveries %v, want %v", got, want)
		}
	}
	var o hub.Order
	if err := json.Unmarshal(list[2].Event.Data, &o); err != nil {
		t.Fatal(err)
	}
	if o.WooOrderID != 2 || o.Status != "cancelled" || o.StockState != hub.OrderStateReleased || o.UpdatedAt.IsZero() {
		t.Fatalf("cancelled snapshot %+v", o)
	}

	// First claim: order 2's created (both subscriptions) and order 1's
	// updated; order 2's cancelled waits for its created.
	c1, err := s.ClaimDeliveries(t.Context(), 10, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if len(c1) != 3 {
		t.Fatalf("first claim %d deliveries, want 3", len(c1))
	}
	for _, a := range c1 {
		if a.Delivery.ID == list[2].ID {
			t.Fatal("claimed a delivery before its order's earlier one")
		}
		if a.URL != "https://erp.example/hook" || a.Secret == "" || a.Delivery.Attempts != 1 {
			t.Fatalf("attempt %+v", a.Delivery)
		}
	}
	if c2, err := s.ClaimDeliveries(t.Context(), 10, time.Minute); err != nil || len(c2) != 0 {
		t.Fatalf("second claim %d deliveries, err %v; want none while leased", len(c2), err)
	}
	var res []hub.WebhookResult
	for _, a := range c1 {
		res = append(res, hub.WebhookResult{DeliveryID: a.Delivery.ID, State: hub.DeliveryDelivered, Status: 200})
	}
	if _, err := s.FinishDeliveries(t.Context(), res, time.Hour); err != nil {
		t.Fatal(err)
	}
	c3, err := s.ClaimDeliveries(t.Context(), 10, time.Minute)
	if err != nil || len(c3) != 1 || c3[0].Delivery.ID != list[2].ID {
		t.Fatalf("third claim %+v, err %v; want the cancellation", c3, err)
	}

	// Dead, listed, replayed with the same message id.
	if _, err := s.FinishDeliveries(t.Context(), []hub.WebhookResult{{DeliveryID: c3[0].Delivery.ID, State: hub.DeliveryDead, Status: 400, Error: "400 Bad Request"}}, time.Hour); err != nil {
		t.Fatal(err)
	}
	dead, err := s.Deliveries(t.Context(), hub.DeliveryFilter{State: hub.DeliveryDead}, hub.Page{Limit: 10})
	if err != nil || len(dead) != 1 || dead[0].LastStatus != 400 {
		t.Fatalf("dead %+v, err %v", dead, err)
	}
	if _, err := s.ReplayDelivery(t.Context(), list[0].ID); hub.ErrorCode(err) != hub.ECONFLICT {
		t.Fatalf("replay of a delivered one: err=%v, want ECONFLICT", err)
	}
	r, err := s.ReplayDelivery(t.Context(), dead[0].ID)
	if err != nil || r.State != hub.DeliveryPending || r.MessageID != dead[0].MessageID {
		t.Fatalf("replayed %+v, err %v", r, err)
	}
	if stats, err := s.QueueStats(t.Context()); err != nil || stats.Pending != 1 || stats.Dead != 0 {
		t.Fatalf("stats %+v, err %v", stats, err)
	}

	// Pruning: nothing is old enough for a day's keep; with none kept,
	// the three delivered go, with the events left without deliveries,
	// and the pending one stays with its event.
	if n, err := s.PruneDelivered(t.Context(), 24*time.Hour); err != nil || n != 0 {
		t.Fatalf("pruned %d, err %v; want none younger than a day", n, err)
	}
	if n, err := s.PruneDelivered(t.Context(), -time.Second); err != nil || n != 3 {
		t.Fatalf("pruned %d, err %v; want the 3 delivered", n, err)
	}
	left, err := s.Deliveries(t.Context(), hub.DeliveryFilter{}, hub.Page{Limit: 100})
	if err != nil || len(left) != 1 || left[0].ID != list[2].ID || left[0].State != hub.DeliveryPending {
		t.Fatalf("left %+v, err %v; want the pending cancellation", left, err)
	}
	var events []string
	e.MustSelect(t, &events, `SELECT type FROM webhook_events ORDER BY id`)
	if len(events) != 1 || events[0] != hub.EventOrderCancelled {
		t.Fatalf("events left %v, want the cancellation's", events)
	}
}

// TestWebhookService_RetryHoldsBackSuccessors: when a delivery is
// retried later, its order's later deliveries to that subscription wait
// as long (they could not go first anyway), and another order's do not.
func TestWebhookService_RetryHoldsBackSuccessors(t *testing.T) {
	t.Parallel()
	e := MustEnv(t)
	s := postgres.NewWebhookService(e.db)
	st := e.MustStore(t, "a", 0)
	e.MustCount(t, "MUG", "main", 10)
	MustWebhook(t, s, hub.EventOrderCreated, hub.EventOrderUpdated)
	for _, r := range []struct {
		woo    int64
		status string
		sec    int
	}{{1, "processing", 0}, {1, "completed", 1}, {1, "refunded", 2}, {2, "processing", 0}} {
		if _, err := e.orders.ApplyOrderReport(t.Context(), st.ID, hub.OrderReport{
			WooOrderID: r.woo, Status: r.status, DateModified: t0.Add(time.Duration(r.sec) * time.Second),
			Lines: []hub.OrderLine{{SKU: "MUG", Quantity: 1}},
		}); err != nil {
			t.Fatal(err)
		}
	}
	c, err := s.ClaimDeliveries(t.Context(), 10, time.Minute)
	if err != nil || len(c) != 2 {
		t.Fatalf("claimed %d, err %v; want each order's first", len(c), err)
	}
	retry := time.Now().Add(time.Hour).Truncate(time.Microsecond)
	var results []hub.WebhookResult
	for _, a := range c {
		r := hub.WebhookResult{DeliveryID: a.Delivery.ID, State: hub.DeliveryDelivered, Status: 204}
		if a.Delivery.Event.Type == hub.EventOrderCreated && results == nil { // order 1's: its endpoint failed
			r = hub.WebhookResult{DeliveryID: a.Delivery.ID, State: hub.DeliveryPending, Status: 503, NextAttempt: retry}
		}
		results = append(results, r)
	}
	if _, err := s.FinishDeliveries(t.Context(), results, time.Hour); err != nil {
		t.Fatal(err)
	}
	var next []time.Time
	e.MustSelect(t, &next, `SELECT next_attempt_at FROM webhook_deliveries WHERE state = 'pending' AND order_key = 'order:' || (
		SELECT id FROM orders WHERE woo_order_id = 1) ORDER BY id`)
	if len(next) != 3 {
		t.Fatalf("order 1 has %d pending deliveries, want 3", len(next))
	}
	for i, at := range next {
		if !at.Equal(retry) {
			t.Fatalf("order 1's delivery %d is next due at %s, want with its first at %s", i, at, retry)
		}
	}
	if c, err := s.ClaimDeliveries(t.Context(), 10, time.Minute); err != nil || len(c) != 0 {
		t.Fatalf("claimed %d, err %v; want nothing due", len(c), err)
	}
}

// TestWebhookService_DeleteTakesItsDeliveries: deleting a subscription
// deletes its deliveries, pending or not, and leaves the others'.
func TestWebhookService_DeleteTakesItsDeliveries(t *testing.T) {
	t.Parallel()
	e := MustEnv(t)
	s := postgres.NewWebhookService(e.db)
	st := e.MustStore(t, "a", 0)
	e.MustCount(t, "MUG", "main", 10)
	gone, kept := MustWebhook(t, s, hub.EventOrderCreated), MustWebhook(t, s, hub.EventOrderCreated)
	for woo := range int64(3) {
		if _, err := e.orders.ApplyOrderReport(t.Context(), st.ID, hub.OrderReport{
			WooOrderID: woo + 1, Status: "processing", DateModified: t0, Lines: []hub.OrderLine{{SKU: "MUG", Quantity: 1}},
		}); err != nil {
			t.Fatal(err)
		}
	}
	c, err := s.ClaimDeliveries(t.Context(), 1, time.Minute)
	if err != nil || len(c) != 1 {
		t.Fatalf("claimed %d, err %v", len(c), err)
	}
	if _, err := s.FinishDeliveries(t.Context(), []hub.WebhookResult{{DeliveryID: c[0].Delivery.ID, State: hub.DeliveryDelivered, Status: 204}}, time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteWebhook(t.Context(), gone.ID); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		sub  int64
		want int
	}{{gone.ID, 0}, {kept.ID, 3}} {
		list, err := s.Deliveries(t.Context(), hub.DeliveryFilter{SubscriptionID: tc.sub}, hub.Page{Limit: 100})
		if err != nil || len(list) != tc.want {
			t.Fatalf("subscription %d: %d deliveries, err %v; want %d", tc.sub, len(list), err, tc.want)
		}
	}
}

func TestWebhookService_DisableAfter(t *testing.T) {
	t.Parallel()
	e := MustEnv(t)
	s := postgres.NewWebhookService(e.db)
	st := e.MustStore(t, "a", 0)
	w := MustWebhook(t, s, hub.EventOrderCreated)
	for i := range 2 {
		if _, err := e.orders.ApplyOrderReport(t.Context(), st.ID, hub.OrderReport{WooOrderID: int64(i + 1), Status: "pending", DateModified: t0}); err != nil {
			t.Fatal(err)
		}
	}
	fail := func() []int64 {
		t.Helper()
		c, err := s.ClaimDeliveries(t.Context(), 1, time.Minute)
		if err != nil || len(c) != 1 {
			t.Fatalf("claim %d, err %v", len(c), err)
		}
		disabled, err := s.FinishDeliveries(t.Context(), []hub.WebhookResult{{DeliveryID: c[0].Delivery.ID, State: hub.DeliveryPending, Status: 503}}, time.Microsecond)
		if err != nil {
			t.Fatal(err)
		}
		return disabled
	}
	if d := fail(); len(d) != 0 {
		t.Fatalf("first failure disabled %v", d)
	}
	if d := fail(); len(d) != 1 || d[0] != w.ID {
		t.Fatalf("second failure disabled %v, want [%d]", d, w.ID)
	}
	got, err := s.Webhook(t.Context(), w.ID)
	if err != nil || got.Enabled || got.DisabledReason == "" {
		t.Fatalf("webhook %+v, err %v; want disabled with a reason", got, err)
	}
	if c, err := s.ClaimDeliveries(t.Context(), 10, 0); err != nil || len(c) != 0 {
		t.Fatalf("claimed %d from a disabled webhook, err %v", len(c), err)
	}
}

// TestWebhookService_StockChanged: changes of a SKU's available are
// recorded in their transactions and coalesced into one stock.changed
// per SKU per interval, with the latest figure and the one sent before.
func TestWebhookService_StockChanged(t *testing.T) {
	t.Parallel()
	e := MustEnv(t)
	s := postgres.NewWebhookService(e.db)
	e.MustCount(t, "MUG", "main", 5) // no subscription yet: not recorded
	if n, err := s.QueueStockChanges(t.Context(), time.Hour); err != nil || n != 0 {
		t.Fatalf("queued %d, err %v; want none without a subscription", n, err)
	}
	MustWebhook(t, s, hub.EventStockChanged)
	MustWebhook(t, s, hub.EventOrderCreated) // not interested
	e.MustCount(t, "MUG", "main", 10)
	e.MustCount(t, "MUG", "main", 12)
	e.MustCount(t, "TEE", "main", 3)
	if n, err := s.QueueStockChanges(t.Context(), time.Hour); err != nil || n != 2 {
		t.Fatalf("queued %d, err %v; want one per SKU", n, err)
	}
	e.MustCount(t, "MUG", "main", 7)
	if n, err := s.QueueStockChanges(t.Context(), time.Hour); err != nil || n != 0 {
		t.Fatalf("queued %d within the interval, err %v; want none", n, err)
	}
	e.MustCount(t, "TEE", "main", 3) // unchanged: nothing to send
	if n, err := s.QueueStockChanges(t.Context(), 0); err != nil || n != 1 {
		t.Fatalf("queued %d after the interval, err %v; want MUG's", n, err)
	}
	list, err := s.Deliveries(t.Context(), hub.DeliveryFilter{}, hub.Page{Limit: 10})
	if err != nil || len(list) != 3 {
		t.Fatalf("deliveries %+v, err %v; want 3 to the stock.changed subscription", list, err)
	}
	var got []hub.StockChange
	for _, d := range list {
		var c hub.StockChange
		if err := json.Unmarshal(d.Event.Data, &c); err != nil || d.Event.Type != hub.EventStockChanged {
			t.Fatalf("event %+v: %v", d.Event, err)
		}
		got = append(got, c)
	}
	if got[0].SKU != "MUG" || got[0].Available != 12 || got[0].PreviousAvailable != nil ||
		got[1].SKU != "TEE" || got[1].Available != 3 ||
		got[2].SKU != "MUG" || got[2].Available != 7 || got[2].PreviousAvailable == nil || *got[2].PreviousAvailable != 12 {
		t.Fatalf("stock changes %+v", got)
	}
}

// TestWebhookService_StockLow: an event each time available falls below
// the reorder point, none while it stays below.
func TestWebhookService_StockLow(t *testing.T) {
	t.Parallel()
	e := MustEnv(t)
	s := postgres.NewWebhookService(e.db)
	MustWebhook(t, s, hub.EventStockLow)
	e.MustCount(t, "MUG", "main", 10)
	five, minus := int64(5), int64(-1)
	if err := s.SetReorderPoint(t.Context(), "NOPE", &five); hub.ErrorCode(err) != hub.ENOTFOUND {
		t.Fatalf("unknown SKU: err=%v, want ENOTFOUND", err)
	}
	if err := s.SetReorderPoint(t.Context(), "MUG", &minus); hub.ErrorCode(err) != hub.EINVALID {
		t.Fatalf("negative: err=%v, want EINVALID", err)
	}
	if err := s.SetReorderPoint(t.Context(), "MUG", &five); err != nil {
		t.Fatal(err)
	}
	for _, n := range []int64{6, 4, 3, 9, 2} { // falls at 4 and at 2
		e.MustCount(t, "MUG", "main", n)
	}
	list, err := s.Deliveries(t.Context(), hub.DeliveryFilter{}, hub.Page{Limit: 10})
	if err != nil || len(list) != 2 {
		t.Fatalf("deliveries %+v, err %v; want 2", list, err)
	}
	var got []hub.StockLow
	for _, d := range list {
		var l hub.StockLow
		if err := json.Unmarshal(d.Event.Data, &l); err != nil || d.Event.Type != hub.EventStockLow {
			t.Fatalf("event %+v: %v", d.Event, err)
		}
		got = append(got, l)
	}
	if got[0] != (hub.StockLow{SKU: "MUG", Available: 4, ReorderPoint: 5}) || got[1] != (hub.StockLow{SKU: "MUG", Available: 2, ReorderPoint: 5}) {
		t.Fatalf("stock.low %+v", got)
	}
	if err := s.SetReorderPoint(t.Context(), "MUG", nil); err != nil {
		t.Fatal(err)
	}
	e.MustCount(t, "MUG", "main", 9)
	e.MustCount(t, "MUG", "main", 1)
	if list, _ := s.Deliveries(t.Context(), hub.DeliveryFilter{}, hub.Page{Limit: 10}); len(list) != 2 {
		t.Fatalf("%d deliveries after the reorder point was removed, want 2", len(list))
	}
}

// TestWebhookService_AgentDown: one store.agent_down per outage of a
// store's agent, again after it reconnected and went.
func TestWebhookService_AgentDown(t *testing.T) {
	t.Parallel()
	e := MustEnv(t)
	s := postgres.NewWebhookService(e.db)
	MustWebhook(t, s, hub.EventAgentDown)
	st := e.MustStore(t, "eu", 0)
	queue := func(after time.Duration) int {
		t.Helper()
		n, err := s.QueueAgentDown(t.Context(), after)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := queue(time.Hour); n != 0 {
		t.Fatalf("queued %d for a store just created, want 0", n)
	}
	if n := queue(0); n != 1 {
		t.Fatalf("queued %d, want 1", n)
	}
	if n := queue(0); n != 0 {
		t.Fatalf("queued %d again in the same outage, want 0", n)
	}
	seen := time.Now()
	e.MustAgentState(t, st.ID, hub.AgentState{Connected: true, LastSeen: &seen})
	if n := queue(0); n != 0 {
		t.Fatalf("queued %d while connected, want 0", n)
	}
	e.MustAgentState(t, st.ID, hub.AgentState{Connected: false, LastSeen: &seen})
	if n := queue(0); n != 1 {
		t.Fatalf("queued %d for the second outage, want 1", n)
	}
	list, err := s.Deliveries(t.Context(), hub.DeliveryFilter{}, hub.Page{Limit: 10})
	if err != nil || len(list) != 2 {
		t.Fatalf("deliveries %+v, err %v", list, err)
	}
	var a hub.AgentDown
	if err := json.Unmarshal(list[1].Event.Data, &a); err != nil || a.StoreID != st.ID || a.StoreName != "eu" || a.LastSeen == nil {
		t.Fatalf("agent down %+v, err %v", a, err)
	}
}

// The senders' idle polls cost one statement: the claim's transaction
// runs only when a delivery is due.
func TestWebhookService_IdleClaimIsOneStatement(t *testing.T) {
	t.Parallel()
	e := MustEnv(t)
	reg := prometheus.NewRegistry()
	e.db.Register(reg)
	s := postgres.NewWebhookService(e.db)
	st := e.MustStore(t, "a", 0)
	MustWebhook(t, s, hub.EventOrderCreated)
	ops := func() (checks, claims uint64) {
		t.Helper()
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			if mf.GetName() != "stockwire_hub_db_query_duration_seconds" {
				continue
			}
			for _, m := range mf.GetMetric() {
				for _, l := range m.GetLabel() {
					switch {
					case l.GetName() == "op" && l.GetValue() == "deliveries_due":
						checks = m.GetHistogram().GetSampleCount()
					case l.GetName() == "op" && l.GetValue() == "claim_deliveries":
						claims = m.GetHistogram().GetSampleCount()
					}
				}
			}
		}
		return checks, claims
	}
	for range 3 {
		if c, err := s.ClaimDeliveries(t.Context(), 10, time.Minute); err != nil || len(c) != 0 {
			t.Fatalf("claimed %d from an empty queue, err %v", len(c), err)
		}
	}
	if checks, claims := ops(); checks != 3 || claims != 0 {
		t.Fatalf("3 idle polls: %d checks and %d claim transactions, want 3 and 0", checks, claims)
	}
	if _, err := e.orders.ApplyOrderReport(t.Context(), st.ID, hub.OrderReport{WooOrderID: 1, Status: "pending", DateModified: t0}); err != nil {
		t.Fatal(err)
	}
	if c, err := s.ClaimDeliveries(t.Context(), 10, time.Minute); err != nil || len(c) != 1 {
		t.Fatalf("claimed %d with one delivery due, err %v", len(c), err)
	}
	if _, claims := ops(); claims != 1 {
		t.Fatalf("%d claim transactions, want 1", claims)
	}
}
