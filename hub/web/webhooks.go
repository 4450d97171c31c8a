package web

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"

	"github.com/stockwire/stockwire/hub"
	"github.com/stockwire/stockwire/shared/hubapi"
)

// The webhook subscriptions and deliveries API (issue 13, item 2). The
// delivery itself is hub/webhooks'; the body it sends is WebhookPayload's,
// so that an order event carries the same order shape as GET
// /api/v1/orders.

// maxWebhookBodyBytes bounds a subscription request: a URL, a few event
// names and a description fit in far less.
const maxWebhookBodyBytes = 16 << 10

func (s *Server) webhooks() (hub.WebhookService, error) {
	if s.Webhooks == nil {
		return nil, hub.Errorf(hub.ENOTFOUND, "Webhooks are not enabled on this hub.")
	}
	return s.Webhooks, nil
}

// decodeSmallJSON is decodeJSON with a body limit below MaxJSONBytes.
func (s *Server) decodeSmallJSON(w http.ResponseWriter, r *http.Request, limit int64, v any) error {
	if r.ContentLength > limit {
		return hub.Errorf(hub.ETOOLARGE, "Request body is larger than %d bytes.", limit)
	}
	r.Body = http.MaxBytesReader(w, r.Body, limit)
	return s.decodeJSON(w, r, v)
}

func (s *Server) handleCreateWebhook(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.webhooks()
	if err != nil {
		return err
	}
	var req hubapi.NewWebhookRequest
	if err := s.decodeSmallJSON(w, r, maxWebhookBodyBytes, &req); err != nil {
		return err
	}
	enabled := req.Enabled == nil || *req.Enabled
	wh, secret, err := svc.CreateWebhook(r.Context(), hub.NewWebhook{URL: req.URL, Events: req.Events, Description: req.Description, Enabled: enabled})
	if err != nil {
		return err
	}
	w.Header().Set("Location", fmt.Sprintf("/api/v1/webhooks/%d", wh.ID))
	w.Header().Set("Cache-Control", "no-store") // the secret
	writeJSON(w, http.StatusCreated, hubapi.WebhookCreated{Webhook: apiWebhook(wh), Secret: secret})
	return nil
}

func (s *Server) handleListWebhooks(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.webhooks()
	if err != nil {
		return err
	}
	list, err := svc.Webhooks(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, hubapi.WebhookList{Webhooks: apiList(list, apiWebhook)})
	return nil
}

func (s *Server) handleGetWebhook(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.webhooks()
	if err != nil {
		return err
	}
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	wh, err := svc.Webhook(r.Context(), id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, apiWebhook(wh))
	return nil
}

func (s *Server) handleUpdateWebhook(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.webhooks()
	if err != nil {
		return err
	}
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	var req hubapi.WebhookUpdateRequest
	if err := s.decodeSmallJSON(w, r, maxWebhookBodyBytes, &req); err != nil {
		return err
	}
	if req.URL == nil && req.Events == nil && req.Description == nil && req.Enabled == nil {
		return hub.Errorf(hub.EINVALID, "Nothing to change: give url, events, description or enabled.")
	}
	wh, err := svc.UpdateWebhook(r.Context(), id, hub.WebhookUpdate{URL: req.URL, Events: req.Events, Description: req.Description, Enabled: req.Enabled})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, apiWebhook(wh))
	return nil
}

func (s *Server) handleDeleteWebhook(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.webhooks()
	if err != nil {
		return err
	}
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	if err := svc.DeleteWebhook(r.Context(), id); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// webhookFilter reads the optional webhook_id query parameter.
func webhookFilter(r *http.Request) (int64, error) {
	v := r.URL.Query().Get("webhook_id")
	if v == "" {
		return 0, nil
	}
	id, err := strconv.ParseInt(v, 10, 64)
	if err != nil || id < 1 {
		return 0, hub.FieldErrorf("webhook_id", hub.EINVALID, "webhook_id must be a positive integer.")
	}
	return id, nil
}

func (s *Server) handleListDeliveries(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.webhooks()
	if err != nil {
		return err
	}
	p, err := s.page(r)
	if err != nil {
		return err
	}
	sub, err := webhookFilter(r)
	if err != nil {
		return err
	}
	list, err := svc.Deliveries(r.Context(), hub.DeliveryFilter{State: r.URL.Query().Get("state"), SubscriptionID: sub}, p)
	if err != nil {
		return err
	}
	out := hubapi.WebhookDeliveryList{Deliveries: apiList(list, apiDelivery)}
	if len(list) == p.Limit {
		out.Next = strconv.FormatInt(list[len(list)-1].ID, 10)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) handleReplayDelivery(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.webhooks()
	if err != nil {
		return err
	}
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	d, err := svc.ReplayDelivery(r.Context(), id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, apiDelivery(d))
	return nil
}

func (s *Server) handleReplayDead(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.webhooks()
	if err != nil {
		return err
	}
	sub, err := webhookFilter(r)
	if err != nil {
		return err
	}
	n, err := svc.ReplayDead(r.Context(), sub)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, hubapi.ReplayResult{Replayed: n})
	return nil
}

func (s *Server) handleSetReorderPoint(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.webhooks()
	if err != nil {
		return err
	}
	sku := r.PathValue("sku")
	if err := hub.ValidateName("sku", sku); err != nil {
		return err
	}
	var req hubapi.ReorderPointRequest
	if err := s.decodeSmallJSON(w, r, maxWebhookBodyBytes, &req); err != nil {
		return err
	}
	if req.SKU != "" && req.SKU != sku {
		return hub.FieldErrorf("sku", hub.EINVALID, "sku in the body must be the path's or absent.")
	}
	if err := svc.SetReorderPoint(r.Context(), sku, req.ReorderPoint); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, hubapi.ReorderPointRequest{SKU: sku, ReorderPoint: req.ReorderPoint})
	return nil
}

func apiWebhook(wh hub.Webhook) hubapi.Webhook {
	return hubapi.Webhook{
		ID: wh.ID, URL: wh.URL, Events: wh.Events, Description: wh.Description, Enabled: wh.Enabled,
		DisabledReason: wh.DisabledReason, FailingSince: wh.FailingSince, CreatedAt: wh.CreatedAt, UpdatedAt: wh.UpdatedAt,
	}
}

func apiDelivery(d hub.WebhookDelivery) hubapi.WebhookDelivery {
	out := hubapi.WebhookDelivery{
		ID: d.ID, MessageID: d.MessageID, WebhookID: d.SubscriptionID, EventType: d.Event.Type, State: d.State,
		Attempts: d.Attempts, LastStatus: d.LastStatus, LastError: d.LastError, CreatedAt: d.CreatedAt,
		DeliveredAt: d.DeliveredAt, EventCreatedAt: d.Event.CreatedAt,
	}
	if d.State == hub.DeliveryPending {
		next := d.NextAttemptAt
		out.NextAttemptAt = &next
	}
	return out
}

// WebhookPayload is the body of a delivery of e: a hubapi.WebhookPayload
// whose data is the API shape of the event's snapshot (for order.*, the
// order exactly as GET /api/v1/orders shows it; for stock.changed a
// hubapi.StockChange, for stock.low a hubapi.StockLow, for store.agent_down a
// hubapi.AgentDown). hub/webhooks calls it
// for every attempt; a snapshot never changes, so neither does the body.
func WebhookPayload(e hub.WebhookEvent) ([]byte, error) {
	var data any
	switch e.Type {
	case hub.EventOrderCreated, hub.EventOrderUpdated, hub.EventOrderCancelled:
		var o hub.Order
		if err := json.Unmarshal(e.Data, &o); err != nil {
			return nil, fmt.Errorf("decode event %d snapshot: %w", e.ID, err)
		}
		data = apiOrder(o)
	case hub.EventStockChanged:
		var c hub.StockChange
		if err := json.Unmarshal(e.Data, &c); err != nil {
			return nil, fmt.Errorf("decode event %d snapshot: %w", e.ID, err)
		}
		data = hubapi.StockChange{SKU: c.SKU, Available: c.Available, PreviousAvailable: c.PreviousAvailable}
	case hub.EventStockLow:
		var l hub.StockLow
		if err := json.Unmarshal(e.Data, &l); err != nil {
			return nil, fmt.Errorf("decode event %d snapshot: %w", e.ID, err)
		}
		data = hubapi.StockLow(l)
	case hub.EventAgentDown:
		var a hub.AgentDown
		if err := json.Unmarshal(e.Data, &a); err != nil {
			return nil, fmt.Errorf("decode event %d snapshot: %w", e.ID, err)
		}
		data = hubapi.AgentDown(a)
	default:
		return nil, fmt.Errorf("encode event %d: unknown type %q", e.ID, e.Type)
	}
	raw, err := json.Marshal(data)
	if err != nil {
		return nil, fmt.Errorf("encode event %d data: %w", e.ID, err)
	}
	return json.Marshal(hubapi.WebhookPayload{Type: e.Type, Timestamp: e.CreatedAt.UTC(), Data: raw})
}
