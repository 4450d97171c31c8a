-- A store's epoch names its change sequence: the stockwire_seq markers the
-- agent writes into products carry it, so that a marker left by an earlier
-- registration of the store, or by a history the hub lost (a database
-- restored from a backup), never stands for a change of this one. Every
-- store gets its own at creation; the hub draws a new one when an agent
-- shows it the sequence went back.
ALTER TABLE stores
    ADD COLUMN epoch text NOT NULL DEFAULT substr(md5(gen_random_uuid()::text), 1, 16),
    -- Where a hand edit accepted in the store (agent --store-edits=accept)
    -- is counted in the hub's stock.
    ADD COLUMN edit_location text NOT NULL DEFAULT 'main';
