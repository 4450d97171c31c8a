-- webhook_deliveries is a queue written three rows per order at a
-- thousand orders a second: each foreign key cost every insert a trigger
-- and a FOR KEY SHARE lock on its subscription (three rows shared by all
-- the order transactions). Both references hold by construction instead:
-- a delivery is inserted from the RETURNING of its event's insert and a
-- subscription read in the same statement, DeleteWebhook deletes a
-- subscription's deliveries with it, and events are pruned only once no
-- delivery refers to them.
ALTER TABLE webhook_deliveries DROP CONSTRAINT webhook_deliveries_event_id_fkey;
ALTER TABLE webhook_deliveries DROP CONSTRAINT webhook_deliveries_subscription_id_fkey;
