-- What the store's agent last said of the hand edits it set back to the
-- hub's figure since it started (wire.Status.EditsReverted): the console
-- shows a drifting store by it.
ALTER TABLE stores ADD COLUMN edits_reverted bigint NOT NULL DEFAULT 0;
