-- Delivered webhook deliveries are pruned once older than the hub's
-- --webhook-keep, and events none of whose deliveries is left with them.
CREATE INDEX webhook_deliveries_delivered ON webhook_deliveries (delivered_at) WHERE state = 'delivered';
CREATE INDEX webhook_deliveries_event ON webhook_deliveries (event_id);
