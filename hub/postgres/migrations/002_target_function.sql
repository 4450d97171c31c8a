-- stockwire_target is the one place that says what a store shows for a SKU:
-- available − buffer, not clamped at 0 (a negative target means oversold and
-- keeps relative deltas adding up). allocate is treated like mirror until
-- escrow lands.
CREATE FUNCTION stockwire_target(policy text, available bigint, buffer bigint) RETURNS bigint
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN CASE policy
        WHEN 'mirror' THEN available - buffer
        WHEN 'allocate' THEN available - buffer
        ELSE available - buffer
    END;
