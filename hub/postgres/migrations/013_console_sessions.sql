-- Operator console sessions (hub/console): a browser logged in with the
-- admin token holds a random session id in a cookie; only its SHA-256 is
-- kept, so a copy of the database opens no console. Sessions live here,
-- not in a replica's memory, so that any replica behind a load balancer
-- serves them.
-- admin_hash is the admin token's hash at login: a new admin token ends
-- every session begun with the old one.
CREATE TABLE console_sessions (
    id_hash      text PRIMARY KEY,
    admin_hash   text NOT NULL,
    created_at   timestamptz NOT NULL,
    last_seen_at timestamptz NOT NULL
);

CREATE INDEX console_sessions_last_seen ON console_sessions (last_seen_at);

-- The console's overview counts today's orders, its live updates look for
-- the newest order change every few seconds, and its stores page counts
-- each store's accepted hand edits (few, next to the ledger).
CREATE INDEX orders_created_at ON orders (created_at);
CREATE INDEX orders_updated_at ON orders (updated_at);
CREATE INDEX ledger_store_edits ON ledger (idempotency_key) WHERE reason = 'store_edit';
