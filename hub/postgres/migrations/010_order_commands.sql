-- The ERP's answers for a store's orders (its reference, a shipment, a
-- cancellation), waiting for the store's agent to apply them to the
-- WooCommerce order. A command is pending until the agent says it is
-- applied, or failed with the store's error; the hub sends pending commands
-- on every session of the store.
CREATE TABLE order_commands (
    id         bigserial PRIMARY KEY,
    order_id   bigint NOT NULL REFERENCES orders (id),
    store_id   bigint NOT NULL REFERENCES stores (id),
    kind       text NOT NULL CHECK (kind IN ('erp_reference', 'fulfilment', 'cancellation')),
    payload    jsonb NOT NULL,
    state      text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'applied', 'failed')),
    error      text NOT NULL DEFAULT '',
    actor      text NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL DEFAULT now(),
    settled_at timestamptz
);

CREATE INDEX order_commands_pending ON order_commands (store_id, id) WHERE state = 'pending';
CREATE INDEX order_commands_order ON order_commands (order_id, id);
