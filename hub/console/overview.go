package console

import (
	"net/http"
	"time"

	"github.com/stockwire/stockwire/hub"
)

// countCap bounds the lists the overview counts; beyond it, it says "N+".
const countCap = 1000

// overviewData feeds overview.html.
type overviewData struct {
	StoresUp, StoresDown  int
	OrdersToday           int64
	UnitsToday            int64
	Problems              int
	DeliveriesFailing     int
	DeliveriesDead        int
	Capped                int // countCap, for the template's "N+"
	HasProblems, Webhooks bool
	Since                 time.Time
}

func (c *Console) overview(r *http.Request, s session) (string, any, error) {
	ctx := r.Context()
	stores, err := c.Stores.Stores(ctx)
	if err != nil {
		return "", nil, err
	}
	d := overviewData{Capped: countCap}
	for _, st := range stores {
		if st.Status != hub.StoreActive {
			continue
		}
		if st.Agent.Connected {
			d.StoresUp++
		} else {
			d.StoresDown++
		}
	}
	now := c.Now().UTC()
	d.Since = time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	if d.OrdersToday, d.UnitsToday, err = c.Queries.SalesSince(ctx, d.Since); err != nil {
		return "", nil, err
	}
	if ps, ok := c.Orders.(hub.ProblemService); ok {
		list, err := ps.Problems(ctx, countCap)
		if err != nil {
			return "", nil, err
		}
		d.HasProblems, d.Problems = true, len(list)
	}
	if c.Webhooks != nil {
		d.Webhooks = true
		if d.DeliveriesFailing, d.DeliveriesDead, err = c.deliveryCounts(r); err != nil {
			return "", nil, err
		}
	}
	return "overview", d, nil
}

// deliveryCounts counts webhook deliveries still being retried after a
// failed attempt, and dead ones, up to countCap each.
func (c *Console) deliveryCounts(r *http.Request) (failing, dead int, err error) {
	pending, err := c.Webhooks.Deliveries(r.Context(), hub.DeliveryFilter{State: hub.DeliveryPending}, hub.Page{Limit: countCap})
	if err != nil {
		return 0, 0, err
	}
	for _, d := range pending {
		if d.Attempts > 0 {
			failing++
		}
	}
	deadList, err := c.Webhooks.Deliveries(r.Context(), hub.DeliveryFilter{State: hub.DeliveryDead}, hub.Page{Limit: countCap})
	if err != nil {
		return 0, 0, err
	}
	return failing, len(deadList), nil
}
