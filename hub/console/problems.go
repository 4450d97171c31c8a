package console

import (
	"net/http"

	"github.com/stockwire/stockwire/hub"
)

// problemsData feeds problems.html.
type problemsData struct {
	Problems         []problemView
	DeadDeliveries   []hub.WebhookDelivery
	DisabledWebhooks []hub.Webhook
	Webhooks         bool
}

// problemView is one problem with its store's name and what to do.
type problemView struct {
	hub.Problem
	StoreName string
	// Remedy says what fixes it where the console has no button for it.
	Remedy string
}

// problemLimit bounds each list on the problems page.
const problemLimit = 100

func (c *Console) problemsPage(r *http.Request, s session) (string, any, error) {
	ctx := r.Context()
	names, err := c.storeNames(r)
	if err != nil {
		return "", nil, err
	}
	var d problemsData
	if ps, ok := c.Orders.(hub.ProblemService); ok {
		list, err := ps.Problems(ctx, problemLimit)
		if err != nil {
			return "", nil, err
		}
		for _, p := range list {
			d.Problems = append(d.Problems, problemView{Problem: p, StoreName: names[p.StoreID], Remedy: remedy(p.Kind)})
		}
	}
	if c.Webhooks != nil {
		d.Webhooks = true
		if d.DeadDeliveries, err = c.Webhooks.Deliveries(ctx, hub.DeliveryFilter{State: hub.DeliveryDead}, hub.Page{Limit: problemLimit}); err != nil {
			return "", nil, err
		}
		hooks, err := c.Webhooks.Webhooks(ctx)
		if err != nil {
			return "", nil, err
		}
		for _, h := range hooks {
			if !h.Enabled {
				d.DisabledWebhooks = append(d.DisabledWebhooks, h)
			}
		}
	}
	return "problems", d, nil
}

// remedy says how a problem the console cannot fix itself is fixed.
func remedy(kind string) string {
	switch kind {
	case hub.ProblemParkedLine:
		return "Add the SKU (a count) or an alias for it (PUT /api/v1/stores/{id}/sku-aliases); the line then counts."
	case hub.ProblemCommandFailed:
		return "Fix the order in the store, then send the ERP's answer again."
	case hub.ProblemDeadLetters:
		return "On the store's agent: agent dead-letters list, then agent dead-letters replay."
	case hub.ProblemWebhooksFailing:
		return "Check the store's webhooks (WooCommerce > Settings > Advanced > Webhooks); the agent re-enables them, orders arrive by polling meanwhile."
	}
	return ""
}

// replayDelivery makes a dead webhook delivery pending again.
func (c *Console) replayDelivery(w http.ResponseWriter, r *http.Request, s session) error {
	if c.Webhooks == nil {
		return hub.Errorf(hub.ENOTFOUND, "This hub sends no webhooks.")
	}
	id, err := pathID(r)
	if err != nil {
		return err
	}
	if _, err := c.Webhooks.ReplayDelivery(r.Context(), id); err != nil {
		return err
	}
	c.Logger.Info("console replayed webhook delivery", "delivery_id", id)
	http.Redirect(w, r, "/problems", http.StatusSeeOther)
	return nil
}

// replayDead makes every dead webhook delivery pending again.
func (c *Console) replayDead(w http.ResponseWriter, r *http.Request, s session) error {
	if c.Webhooks == nil {
		return hub.Errorf(hub.ENOTFOUND, "This hub sends no webhooks.")
	}
	n, err := c.Webhooks.ReplayDead(r.Context(), 0)
	if err != nil {
		return err
	}
	c.Logger.Info("console replayed dead webhook deliveries", "replayed", n)
	http.Redirect(w, r, "/problems", http.StatusSeeOther)
	return nil
}

// enableWebhook enables a webhook subscription the hub disabled.
func (c *Console) enableWebhook(w http.ResponseWriter, r *http.Request, s session) error {
	if c.Webhooks == nil {
		return hub.Errorf(hub.ENOTFOUND, "This hub sends no webhooks.")
	}
	id, err := pathID(r)
	if err != nil {
		return err
	}
	enabled := true
	if _, err := c.Webhooks.UpdateWebhook(r.Context(), id, hub.WebhookUpdate{Enabled: &enabled}); err != nil {
		return err
	}
	c.Logger.Info("console enabled webhook", "webhook_id", id)
	http.Redirect(w, r, "/problems", http.StatusSeeOther)
	return nil
}
