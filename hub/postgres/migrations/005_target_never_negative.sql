-- A store never shows a negative figure because of the hub: a mirror
-- store's target is max(0, pool − buffer). An event's delta stays "new
-- target − previous target − what the store did itself", so the deltas a
-- store receives plus its own sales still add up to its target: a store
-- that sold more than it had (on its own, or in a checkout racing the hub's
-- last change) may show a negative figure until the hub counts that sale,
-- and the event then brings it back to its target, never below 0.
CREATE OR REPLACE FUNCTION stockwire_target(policy text, pool bigint, buffer bigint, allocated bigint) RETURNS bigint
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN CASE policy
        WHEN 'allocate' THEN allocated
        ELSE GREATEST(0, pool - buffer)
    END;

-- Targets the old function left negative are raised to 0, and each active
-- store is sent the difference as an event, so that its relative updates
-- keep adding up. Sequence rows are written under lockSeq, as publish does.
SELECT pg_advisory_xact_lock(91634524311840); -- lockSeq

WITH neg AS (
    SELECT t.store_id, t.sku, t.target,
           row_number() OVER (PARTITION BY t.store_id ORDER BY t.sku) AS ord
    FROM store_targets t JOIN stores s ON s.id = t.store_id
    WHERE t.target < 0 AND s.status = 'active'
), cnt AS (
    SELECT store_id, count(*) AS n FROM neg GROUP BY store_id
), seq AS (
    UPDATE store_seq q SET head = q.head + cnt.n FROM cnt
    WHERE q.store_id = cnt.store_id
    RETURNING q.store_id, q.head - cnt.n AS head
), ev AS (
    INSERT INTO store_events (store_id, seq, sku, delta, target)
    SELECT neg.store_id, seq.head + neg.ord, neg.sku, -neg.target, 0
    FROM neg JOIN seq USING (store_id)
)
UPDATE store_targets t SET target = 0
FROM neg WHERE t.store_id = neg.store_id AND t.sku = neg.sku;
