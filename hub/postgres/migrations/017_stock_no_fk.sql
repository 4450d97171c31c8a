-- The rows a stock transaction writes, a hundred thousand at a time in an
-- import: each foreign key cost every row a trigger and a FOR KEY SHARE
-- lock on the row it names (an import of 100,000 counts with 3 stores spent
-- about 7 of its 12 s in them). The references hold by construction
-- instead: every SKU row they name is created and locked earlier in the
-- same transaction (stockTx.lock), every location in the statement that
-- writes its stock, stores are revoked rather than deleted, and nothing
-- deletes SKUs or locations.
ALTER TABLE ledger DROP CONSTRAINT ledger_sku_fkey;
ALTER TABLE stock DROP CONSTRAINT stock_sku_fkey;
ALTER TABLE stock DROP CONSTRAINT stock_location_fkey;
ALTER TABLE store_targets DROP CONSTRAINT store_targets_store_id_fkey;
ALTER TABLE store_targets DROP CONSTRAINT store_targets_sku_fkey;
ALTER TABLE store_events DROP CONSTRAINT store_events_store_id_fkey;

-- Only adjustments and store edits carry an idempotency key: the unique
-- constraint indexed a NULL for every other ledger row (every count of an
-- import, every order line), a B-tree insertion each for nothing.
ALTER TABLE ledger DROP CONSTRAINT ledger_idempotency_key_key;
CREATE UNIQUE INDEX ledger_idempotency_key ON ledger (idempotency_key) WHERE idempotency_key IS NOT NULL;

-- An import's recount updates every row of these tables in one
-- transaction. With pages half full, each new row version fits on its
-- page beside the old one (a HOT update: no new index entry, and the old
-- version pruned later without a vacuum of the index); full pages made
-- every one a new index entry too. The tables take twice the space.
ALTER TABLE skus SET (fillfactor = 50);
ALTER TABLE stock SET (fillfactor = 50);
ALTER TABLE store_targets SET (fillfactor = 50);
