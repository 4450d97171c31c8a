-- One live agent session per store across hub replicas. Each new
-- session claims its store with a number from agent_session_claims: the
-- newest claim is the live session, and only the live session may record
-- the store's agent state (stores.connected, last_seen, ...). Every claim is
-- announced on the channel stockwire_sessions, and the replica holding an
-- older session of that store closes it.
CREATE SEQUENCE agent_session_claims;

CREATE TABLE agent_sessions (
    store_id   bigint PRIMARY KEY REFERENCES stores (id),
    claim      bigint NOT NULL,
    replica    text NOT NULL,
    started_at timestamptz NOT NULL DEFAULT now()
);
