// REST handlers of /webhooks: list, get, create (with its ping), update and
// delete.

package woosim

import (
	"net/http"
)

type webhookInput struct {
	Name        *string `json:"name"`
	Status      *string `json:"status"`
	Topic       *string `json:"topic"`
	DeliveryURL *string `json:"delivery_url"`
	Secret      *string `json:"secret"`
}

func invalidWebhookID(status int) *apiErr {
	return newErr(status, "woocommerce_rest_webhook_invalid_id", "Invalid ID.")
}

func (s *Store) handleWebhookList(w http.ResponseWriter, q *request) *apiErr {
	qv := q.r.URL.Query()
	pp, e := parsePage(qv, "date")
	if e != nil {
		return e
	}
	status := qv.Get("status")
	if status != "" && status != "all" && status != "active" && status != "paused" && status != "disabled" {
		return invalidParam("status", "status is not one of all, active, paused, and disabled.")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var items []listItem
	for _, wh := range s.webhooks {
		if status != "" && status != "all" && wh.Status != status {
			continue
		}
		items = append(items, listItem{id: wh.ID, created: wh.Created, modified: wh.Created, title: wh.Name})
	}
	ids := s.paginate(w, q, items, pp, nil)
	out := make([]*webhookJSON, 0, len(ids))
	for _, id := range ids {
		out = append(out, s.webhookView(s.webhooks[id]))
	}
	s.writeOKLocked(w, q, http.StatusOK, out)
	return nil
}

func (s *Store) handleWebhookGet(w http.ResponseWriter, q *request) *apiErr {
	s.mu.Lock()
	defer s.mu.Unlock()
	wh := s.webhooks[pathID(q.r, "id")]
	if wh == nil {
		return invalidWebhookID(404)
	}
	s.writeOKLocked(w, q, http.StatusOK, s.webhookView(wh))
	return nil
}

func (s *Store) handleWebhookCreate(w http.ResponseWriter, q *request) *apiErr {
	var in webhookInput
	if e := decodeBody(q, &in); e != nil {
		return e
	}
	if in.Topic == nil || !validTopic(*in.Topic) {
		return newErr(400, "woocommerce_rest_shop_webhook_invalid_topic", "Webhook topic is required and must be valid.")
	}
	if in.DeliveryURL == nil || !validDeliveryURL(*in.DeliveryURL) {
		return newErr(400, "woocommerce_rest_shop_webhook_invalid_delivery_url", "Webhook delivery URL must be a valid URL starting with http:// or https://.")
	}
	now := s.opts.Now()
	s.mu.Lock()
	s.nextID++
	wh := &webhook{ID: s.nextID, Status: "active", Topic: *in.Topic, DeliveryURL: *in.DeliveryURL,
		Secret: randString(50), Created: now, PendingPing: true}
	if in.Secret != nil && *in.Secret != "" {
		wh.Secret = *in.Secret
	}
	wh.Name = "Webhook created on " + now.UTC().Format("Jan 02, 2006 @ 03:04 PM")
	if in.Name != nil {
		wh.Name = *in.Name
	}
	s.webhooks[wh.ID] = wh
	s.mu.Unlock()
	ok := s.ping(wh.ID, wh.DeliveryURL)
	s.mu.Lock()
	defer s.mu.Unlock()
	if ok {
		wh.PendingPing = false
	}
	s.writeOKLocked(w, q, http.StatusCreated, s.webhookView(wh))
	return nil
}

func (s *Store) handleWebhookUpdate(w http.ResponseWriter, q *request) *apiErr {
	var in webhookInput
	if e := decodeBody(q, &in); e != nil {
		return e
	}
	if in.Topic != nil && !validTopic(*in.Topic) {
		return newErr(400, "woocommerce_rest_shop_webhook_invalid_topic", "Webhook topic must be valid.")
	}
	if in.DeliveryURL != nil && !validDeliveryURL(*in.DeliveryURL) {
		return newErr(400, "woocommerce_rest_shop_webhook_invalid_delivery_url", "Webhook delivery URL must be a valid URL starting with http:// or https://.")
	}
	if in.Status != nil && *in.Status != "active" && *in.Status != "paused" && *in.Status != "disabled" {
		return invalidParam("status", "status is not one of active, paused, and disabled.")
	}
	s.mu.Lock()
	wh := s.webhooks[pathID(q.r, "id")]
	if wh == nil {
		s.mu.Unlock()
		return invalidWebhookID(400)
	}
	urlChanged := in.DeliveryURL != nil && *in.DeliveryURL != wh.DeliveryURL
	if in.Name != nil {
		wh.Name = *in.Name
	}
	if in.Status != nil {
		wh.Status = *in.Status
	}
	if in.Topic != nil {
		wh.Topic = *in.Topic
	}
	if in.DeliveryURL != nil {
		wh.DeliveryURL = *in.DeliveryURL
	}
	if in.Secret != nil {
		wh.Secret = *in.Secret
	}
	now := s.opts.Now()
	wh.Modified = &now
	doPing := wh.Status == "active" && (urlChanged || wh.PendingPing)
	id, target := wh.ID, wh.DeliveryURL
	s.mu.Unlock()
	if doPing && s.ping(id, target) {
		s.mu.Lock()
		wh.PendingPing = false
		s.mu.Unlock()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.writeOKLocked(w, q, http.StatusOK, s.webhookView(wh))
	return nil
}

func (s *Store) handleWebhookDelete(w http.ResponseWriter, q *request) *apiErr {
	if !forceParam(q) {
		return newErr(501, "woocommerce_rest_trash_not_supported", "Webhooks do not support trashing.")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	wh := s.webhooks[pathID(q.r, "id")]
	if wh == nil {
		return invalidWebhookID(404)
	}
	view := s.webhookView(wh)
	delete(s.webhooks, wh.ID)
	s.writeOKLocked(w, q, http.StatusOK, view)
	return nil
}
