package console

import (
	"net/http"

	"github.com/stockwire/stockwire/hub"
)

// feedLength is how many of the newest orders the orders page shows.
const feedLength = 30

// orderView is one order on the orders page: its lines, the statuses its
// store reported and the ERP's answers (commands) for it.
type orderView struct {
	hub.Order
	StoreName string
	History   []hub.OrderStatusChange
	Commands  []hub.OrderCommand
	// ERP is the order's newest ERP reference, nil before the ERP sent one.
	ERP *hub.ERPReference
}

func (c *Console) ordersPage(r *http.Request, s session) (string, any, error) {
	ctx := r.Context()
	ids, err := c.Queries.RecentOrderIDs(ctx, feedLength)
	if err != nil {
		return "", nil, err
	}
	names, err := c.storeNames(r)
	if err != nil {
		return "", nil, err
	}
	commands, _ := c.Orders.(hub.OrderCommandService)
	views := make([]orderView, 0, len(ids))
	for _, id := range ids {
		o, err := c.Orders.Order(ctx, id)
		if err != nil {
			return "", nil, err
		}
		v := orderView{Order: o, StoreName: names[o.StoreID]}
		if v.History, err = c.Queries.StatusHistory(ctx, id); err != nil {
			return "", nil, err
		}
		if commands != nil {
			if v.Commands, err = commands.Commands(ctx, id); err != nil {
				return "", nil, err
			}
		}
		for _, cmd := range v.Commands {
			if cmd.Kind == hub.CommandERPReference && cmd.ERP != nil {
				v.ERP = cmd.ERP
			}
		}
		views = append(views, v)
	}
	return "orders", views, nil
}

// storeNames maps store ids to names, revoked stores included.
func (c *Console) storeNames(r *http.Request) (map[int64]string, error) {
	stores, err := c.Stores.Stores(r.Context())
	if err != nil {
		return nil, err
	}
	names := make(map[int64]string, len(stores))
	for _, st := range stores {
		names[st.ID] = st.Name
	}
	return names, nil
}
