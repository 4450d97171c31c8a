-- Stock: SKUs, locations, on_hand per location and the append-only ledger.
CREATE TABLE skus (
    sku          text PRIMARY KEY,
    on_hand      bigint NOT NULL DEFAULT 0, -- Σ stock.on_hand, kept in the same transaction
    committed    bigint NOT NULL DEFAULT 0,
    safety_stock bigint NOT NULL DEFAULT 0 CHECK (safety_stock >= 0),
    created_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE locations (
    name       text PRIMARY KEY,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE stock (
    sku      text NOT NULL REFERENCES skus (sku),
    location text NOT NULL REFERENCES locations (name),
    on_hand  bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (sku, location)
);

CREATE TABLE ledger (
    id              bigserial PRIMARY KEY,
    sku             text NOT NULL REFERENCES skus (sku),
    location        text NOT NULL DEFAULT '',
    quantity        text NOT NULL CHECK (quantity IN ('on_hand', 'committed', 'safety_stock')),
    before          bigint NOT NULL,
    after           bigint NOT NULL,
    reason          text NOT NULL,
    reference       text NOT NULL DEFAULT '',
    idempotency_key text UNIQUE,
    actor           text NOT NULL DEFAULT '',
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ledger_sku_id ON ledger (sku, id);

-- Stores and their agents.
CREATE TABLE stores (
    id           bigserial PRIMARY KEY,
    name         text NOT NULL UNIQUE,
    url          text NOT NULL,
    policy       text NOT NULL CHECK (policy IN ('mirror', 'allocate')),
    buffer       bigint NOT NULL DEFAULT 0 CHECK (buffer >= 0),
    status       text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'revoked')),
    created_at   timestamptz NOT NULL DEFAULT now(),
    revoked_at   timestamptz,
    connected    boolean NOT NULL DEFAULT false,
    last_seen    timestamptz,
    applied_seq  bigint NOT NULL DEFAULT 0,
    outbox_depth integer NOT NULL DEFAULT 0,
    replica      text NOT NULL DEFAULT ''
);

CREATE TABLE store_credentials (
    token_hash text PRIMARY KEY, -- SHA-256 hex of the credential
    store_id   bigint NOT NULL REFERENCES stores (id),
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE enrolment_tokens (
    token_hash text PRIMARY KEY,
    expires_at timestamptz NOT NULL,
    used_at    timestamptz,
    store_id   bigint REFERENCES stores (id),
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE admin_token (
    id         integer PRIMARY KEY CHECK (id = 1),
    token_hash text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- Orders. feed_pos comes from order_feed.pos, bumped in the writing
-- transaction: see OrderService.Orders.
CREATE TABLE order_feed (
    id  integer PRIMARY KEY CHECK (id = 1),
    pos bigint NOT NULL
);
INSERT INTO order_feed VALUES (1, 0);

CREATE TABLE orders (
    id            bigserial PRIMARY KEY,
    store_id      bigint NOT NULL REFERENCES stores (id),
    woo_order_id  bigint NOT NULL,
    number        text NOT NULL DEFAULT '',
    status        text NOT NULL DEFAULT '',
    stock_state   text NOT NULL DEFAULT 'none',
    woo_reduced   boolean NOT NULL DEFAULT false,
    date_modified timestamptz, -- NULL until the first report
    raw           jsonb,
    feed_pos      bigint NOT NULL DEFAULT 0,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (store_id, woo_order_id)
);
CREATE INDEX orders_feed_pos ON orders (feed_pos);

CREATE TABLE order_lines (
    order_id     bigint NOT NULL REFERENCES orders (id),
    line_no      integer NOT NULL,
    sku          text NOT NULL,
    quantity     bigint NOT NULL,
    product_id   bigint NOT NULL DEFAULT 0,
    variation_id bigint NOT NULL DEFAULT 0,
    error        text NOT NULL DEFAULT '',
    PRIMARY KEY (order_id, line_no)
);

CREATE TABLE order_status_history (
    id            bigserial PRIMARY KEY,
    order_id      bigint NOT NULL REFERENCES orders (id),
    status        text NOT NULL,
    date_modified timestamptz NOT NULL,
    applied       boolean NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX order_status_history_order ON order_status_history (order_id);

-- What each store should show, and the per-store change stream.
CREATE TABLE store_targets (
    store_id bigint NOT NULL REFERENCES stores (id),
    sku      text NOT NULL REFERENCES skus (sku),
    target   bigint NOT NULL,
    PRIMARY KEY (store_id, sku)
);

CREATE TABLE store_seq (
    store_id       bigint PRIMARY KEY REFERENCES stores (id),
    head           bigint NOT NULL DEFAULT 0,
    pruned_through bigint NOT NULL DEFAULT 0 -- events with seq <= this may be gone
);

CREATE TABLE store_events (
    store_id   bigint NOT NULL REFERENCES stores (id),
    seq        bigint NOT NULL,
    sku        text NOT NULL,
    delta      bigint NOT NULL,
    target     bigint NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (store_id, seq)
);
