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
