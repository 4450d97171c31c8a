package postgres_test

import (
	"testing"

	"github.com/stockwire/stockwire/hub"
)

func TestOrderService_Problems(t *testing.T) {
	t.Parallel()
	e := MustEnv(t)
	st := e.MustStore(t, "a", 0)
	e.MustCount(t, "MUG", "main", 10)
	if ps, err := e.orders.Problems(t.Context(), 0); err != nil || len(ps) != 0 {
		t.Fatalf("problems %+v, %v; want none", ps, err)
	}
	o := e.MustReport(t, st.ID, 7, "processing", t0, hub.OrderLine{SKU: "MUG", Quantity: 1}, hub.OrderLine{SKU: "GHOST", Quantity: 2})
	c, err := e.orders.Cancel(t.Context(), o.ID, "", "admin")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.orders.SettleCommand(t.Context(), st.ID, c.ID, "order 7 is gone"); err != nil {
		t.Fatal(err)
	}
	e.MustAgentState(t, st.ID, hub.AgentState{Connected: true, DeadLetters: 2, WebhookHealth: "failing"})

	ps, err := e.orders.Problems(t.Context(), 0)
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]hub.Problem{}
	for _, p := range ps {
		kinds[p.Kind] = p
	}
	if p := kinds[hub.ProblemParkedLine]; p.SKU != "GHOST" || p.Quantity != 2 || p.WooOrderID != 7 || p.StoreID != st.ID {
		t.Fatalf("parked line %+v", p)
	}
	if p := kinds[hub.ProblemCommandFailed]; p.OrderID != o.ID || p.Detail != "cancellation: order 7 is gone" {
		t.Fatalf("failed command %+v", p)
	}
	if p := kinds[hub.ProblemDeadLetters]; p.StoreID != st.ID || p.Quantity != 2 {
		t.Fatalf("dead letters %+v", p)
	}
	if _, ok := kinds[hub.ProblemWebhooksFailing]; !ok || len(ps) != 4 {
		t.Fatalf("problems %+v, want the four", ps)
	}
}
