-- What each store's agent last reported of its dead letters (order reports
-- the hub refused, parked until an operator replays them) and of its
-- store's webhooks ('unknown', 'ok', 'failing', 'off'; '' until an agent
-- that reports it has connected).
ALTER TABLE stores
    ADD COLUMN dead_letters   integer NOT NULL DEFAULT 0,
    ADD COLUMN webhook_health text NOT NULL DEFAULT '';
