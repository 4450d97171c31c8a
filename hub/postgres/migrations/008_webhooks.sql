-- Outbound webhooks (issue 13, item 2): subscriptions, and an outbox of
-- events and their deliveries written in the transaction that causes them.
-- (007 is taken by other work in progress.)

-- secret is kept in clear, unlike agent credentials (stored hashed): the
-- hub must sign every delivery with it, HMAC needs the key itself, so a
-- hash would be useless. Encrypting it at rest is out of scope for now; it
-- is never logged and never returned after creation.
CREATE TABLE webhook_subscriptions (
    id              bigserial PRIMARY KEY,
    url             text NOT NULL,
    events          text[] NOT NULL,
    description     text NOT NULL DEFAULT '',
    enabled         boolean NOT NULL DEFAULT true,
    disabled_reason text NOT NULL DEFAULT '',
    secret          text NOT NULL,
    -- start of the current run of failed attempts; NULL after a success
    failing_since   timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);

-- data is the domain snapshot of what the event is about (an order);
-- order_key names it ('order:<hub order id>').
-- created_at is the causing transaction's now(), the start of the
-- committed → delivered latency.
CREATE TABLE webhook_events (
    id         bigserial PRIMARY KEY,
    type       text NOT NULL,
    order_key  text NOT NULL,
    data       jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- One row per (event, subscription). order_key ('order:<id>') orders the
-- deliveries of one subscription: one is due only when no earlier pending
-- one has the same key. next_attempt_at doubles as the lease of a claimed
-- delivery (see hub/webhooks).
CREATE TABLE webhook_deliveries (
    id              bigserial PRIMARY KEY,
    event_id        bigint NOT NULL REFERENCES webhook_events (id),
    subscription_id bigint NOT NULL REFERENCES webhook_subscriptions (id) ON DELETE CASCADE,
    order_key       text NOT NULL,
    state           text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'delivered', 'dead')),
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_status     integer NOT NULL DEFAULT 0,
    last_error      text NOT NULL DEFAULT '',
    created_at      timestamptz NOT NULL DEFAULT now(),
    delivered_at    timestamptz
);

CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE state = 'pending';
CREATE INDEX webhook_deliveries_key ON webhook_deliveries (subscription_id, order_key, id) WHERE state = 'pending';
CREATE INDEX webhook_deliveries_dead ON webhook_deliveries (id) WHERE state = 'dead';

-- Wakes the delivery workers of every replica (postgres.WebhookService.
-- Listen) once per statement that queued deliveries; notifications are
-- sent at commit, and repeats within a transaction are folded into one.
CREATE FUNCTION stockwire_webhooks_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM queued) THEN
        PERFORM pg_notify('stockwire_webhooks', '');
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER webhook_deliveries_notify AFTER INSERT ON webhook_deliveries
    REFERENCING NEW TABLE AS queued FOR EACH STATEMENT EXECUTE FUNCTION stockwire_webhooks_notify();

-- stock.changed is coalesced per SKU: every transaction that changes a
-- SKU's available records the new figure here (only while some enabled
-- subscription wants stock.changed), and the senders turn each SKU whose
-- figure differs from the one last sent into one event, at most once per
-- SKU per interval (postgres.WebhookService.QueueStockChanges).
CREATE TABLE webhook_stock_changes (
    sku            text PRIMARY KEY,
    available      bigint NOT NULL,
    sent_available bigint,      -- NULL until the first event
    changed_at     timestamptz NOT NULL DEFAULT now(),
    sent_at        timestamptz
);

-- stock.low: a SKU's available fell below its reorder point (NULL: none).
-- The event is written by the transaction that makes it fall.
ALTER TABLE skus ADD COLUMN reorder_point bigint CHECK (reorder_point >= 0);

-- store.agent_down: a store whose agent has been disconnected for a while
-- gets one event per outage; down is reset once it is connected again
-- (postgres.WebhookService.QueueAgentDown).
CREATE TABLE webhook_agent_down (
    store_id bigint PRIMARY KEY REFERENCES stores (id),
    down     boolean NOT NULL
);
