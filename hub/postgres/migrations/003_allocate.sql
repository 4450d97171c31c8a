-- Allocate policy: per store and SKU, the units granted to an
-- allocate store and not yet sold there; reclaims asked of stores, settled
-- by what their agents report they released.

-- Per-store parameters of the allocate policy.
ALTER TABLE stores
    ADD COLUMN alloc_low_water     bigint  NOT NULL DEFAULT 2   CHECK (alloc_low_water >= 0),
    ADD COLUMN alloc_min_grant     bigint  NOT NULL DEFAULT 5   CHECK (alloc_min_grant >= 1),
    ADD COLUMN alloc_max_grant     bigint  NOT NULL DEFAULT 50,
    ADD COLUMN alloc_cover_seconds integer NOT NULL DEFAULT 60  CHECK (alloc_cover_seconds >= 1),
    ADD COLUMN alloc_idle_seconds  integer NOT NULL DEFAULT 300 CHECK (alloc_idle_seconds >= 1),
    ADD CONSTRAINT stores_alloc_grant_range CHECK (alloc_max_grant >= alloc_min_grant);

CREATE TABLE store_allocations (
    store_id     bigint NOT NULL REFERENCES stores (id),
    sku          text   NOT NULL REFERENCES skus (sku),
    allocated    bigint NOT NULL DEFAULT 0 CHECK (allocated >= 0),  -- granted, not yet sold, not released
    reclaiming   bigint NOT NULL DEFAULT 0 CHECK (reclaiming >= 0), -- asked back, not yet confirmed
    granted      bigint NOT NULL DEFAULT 0,                         -- every unit ever granted (grows only)
    oversold     bigint NOT NULL DEFAULT 0,                         -- units the store sold beyond its allocation
    sales_rate   double precision NOT NULL DEFAULT 0,               -- units per second, as of rate_at
    rate_at      timestamptz NOT NULL DEFAULT now(),
    last_sale_at timestamptz,
    granted_at   timestamptz,
    PRIMARY KEY (store_id, sku)
);
CREATE INDEX store_allocations_sku ON store_allocations (sku);

CREATE TABLE reclaims (
    id         bigserial PRIMARY KEY,
    store_id   bigint NOT NULL REFERENCES stores (id),
    sku        text   NOT NULL REFERENCES skus (sku),
    units      bigint NOT NULL CHECK (units > 0),
    reason     text   NOT NULL CHECK (reason IN ('idle', 'exposure')),
    status     text   NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'confirmed', 'cancelled')),
    released   bigint CHECK (released >= 0 AND released <= units),
    created_at timestamptz NOT NULL DEFAULT now(),
    settled_at timestamptz
);
CREATE INDEX reclaims_pending ON reclaims (store_id, id) WHERE status = 'pending';

-- The escrow invariant: a transaction that grants units to a store commits
-- only if, for that SKU, Σ allocated + committed ≤ on_hand − safety_stock.
-- Checked at commit (deferred) so that it sees every change of the
-- transaction. Sales, releases and counts are never refused: a count that
-- lowers on_hand below what stores hold is exposure, reclaimed, not undone.
CREATE FUNCTION stockwire_check_grant() RETURNS trigger
    LANGUAGE plpgsql AS $$
DECLARE
    excess bigint;
BEGIN
    IF TG_OP = 'UPDATE' AND NEW.granted <= OLD.granted THEN
        RETURN NULL;
    END IF;
    IF TG_OP = 'INSERT' AND NEW.granted = 0 THEN
        RETURN NULL;
    END IF;
    SELECT (SELECT COALESCE(sum(a.allocated), 0) FROM store_allocations a WHERE a.sku = NEW.sku)
           + k.committed - (k.on_hand - k.safety_stock)
      INTO excess FROM skus k WHERE k.sku = NEW.sku;
    IF excess > 0 THEN
        RAISE EXCEPTION 'grant of % to store % exceeds stock by % units', NEW.sku, NEW.store_id, excess
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END
$$;

CREATE CONSTRAINT TRIGGER store_allocations_grant_within_stock
    AFTER INSERT OR UPDATE ON store_allocations
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION stockwire_check_grant();

-- stockwire_target is still the one place that says what a store shows: a
-- mirror store shows the pool (what no allocate store holds and no order
-- committed) less its buffer; an allocate store shows its allocation.
DROP FUNCTION stockwire_target(text, bigint, bigint);
CREATE FUNCTION stockwire_target(policy text, pool bigint, buffer bigint, allocated bigint) RETURNS bigint
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN CASE policy
        WHEN 'allocate' THEN allocated
        ELSE pool - buffer
    END;
