-- A store's own names for the hub's SKUs, where they differ (the ERP's
-- SKU is the hub's). The link translates both ways: stock changes go out
-- under the store's name, and its orders come in under the hub's.
CREATE TABLE sku_aliases (
    store_id  bigint NOT NULL REFERENCES stores (id),
    store_sku text NOT NULL,
    sku       text NOT NULL,
    PRIMARY KEY (store_id, store_sku),
    UNIQUE (store_id, sku)
);

-- Order lines parked for a SKU the hub does not know, listed among the
-- problems (GET /api/v1/problems) until someone acts.
CREATE INDEX order_lines_parked ON order_lines (order_id) WHERE error <> '';
