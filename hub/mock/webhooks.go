package mock

import (
	"context"

	"github.com/stockwire/stockwire/hub"
)

var _ hub.WebhookService = (*WebhookService)(nil)

// WebhookService is a fake hub.WebhookService.
type WebhookService struct {
	CreateWebhookFn   func(ctx context.Context, w hub.NewWebhook) (hub.Webhook, string, error)
	WebhooksFn        func(ctx context.Context) ([]hub.Webhook, error)
	WebhookFn         func(ctx context.Context, id int64) (hub.Webhook, error)
	UpdateWebhookFn   func(ctx context.Context, id int64, u hub.WebhookUpdate) (hub.Webhook, error)
	DeleteWebhookFn   func(ctx context.Context, id int64) error
	DeliveriesFn      func(ctx context.Context, f hub.DeliveryFilter, p hub.Page) ([]hub.WebhookDelivery, error)
	ReplayDeliveryFn  func(ctx context.Context, id int64) (hub.WebhookDelivery, error)
	ReplayDeadFn      func(ctx context.Context, subscriptionID int64) (int, error)
	SetReorderPointFn func(ctx context.Context, sku string, point *int64) error
}

// CreateWebhook calls CreateWebhookFn.
func (s *WebhookService) CreateWebhook(ctx context.Context, w hub.NewWebhook) (hub.Webhook, string, error) {
	return s.CreateWebhookFn(ctx, w)
}

// Webhooks calls WebhooksFn.
func (s *WebhookService) Webhooks(ctx context.Context) ([]hub.Webhook, error) {
	return s.WebhooksFn(ctx)
}

// Webhook calls WebhookFn.
func (s *WebhookService) Webhook(ctx context.Context, id int64) (hub.Webhook, error) {
	return s.WebhookFn(ctx, id)
}

// UpdateWebhook calls UpdateWebhookFn.
func (s *WebhookService) UpdateWebhook(ctx context.Context, id int64, u hub.WebhookUpdate) (hub.Webhook, error) {
	return s.UpdateWebhookFn(ctx, id, u)
}

// DeleteWebhook calls DeleteWebhookFn.
func (s *WebhookService) DeleteWebhook(ctx context.Context, id int64) error {
	return s.DeleteWebhookFn(ctx, id)
}

// Deliveries calls DeliveriesFn.
func (s *WebhookService) Deliveries(ctx context.Context, f hub.DeliveryFilter, p hub.Page) ([]hub.WebhookDelivery, error) {
	return s.DeliveriesFn(ctx, f, p)
}

// ReplayDelivery calls ReplayDeliveryFn.
func (s *WebhookService) ReplayDelivery(ctx context.Context, id int64) (hub.WebhookDelivery, error) {
	return s.ReplayDeliveryFn(ctx, id)
}

// ReplayDead calls ReplayDeadFn.
func (s *WebhookService) ReplayDead(ctx context.Context, subscriptionID int64) (int, error) {
	return s.ReplayDeadFn(ctx, subscriptionID)
}

// SetReorderPoint calls SetReorderPointFn.
func (s *WebhookService) SetReorderPoint(ctx context.Context, sku string, point *int64) error {
	return s.SetReorderPointFn(ctx, sku, point)
}
