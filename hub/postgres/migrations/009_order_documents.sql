-- The whole order (issue 13). document is the normalised order
-- (hub.OrderDocument's JSON) that GET /api/v1/orders serves; a few of its
-- fields are copied into columns to query by. personal_erased_at is set
-- when the retention job erased the order's personal data: from then on
-- reports keep it erased.
ALTER TABLE orders
    ADD COLUMN document           jsonb,
    ADD COLUMN date_created       timestamptz,
    ADD COLUMN currency           text NOT NULL DEFAULT '',
    ADD COLUMN total              numeric, -- exact, as the decimal string WooCommerce sent
    ADD COLUMN customer_id        bigint NOT NULL DEFAULT 0,
    ADD COLUMN personal_erased_at timestamptz;

-- The retention job's scan: orders not erased yet, oldest first.
CREATE INDEX orders_personal_due ON orders (COALESCE(date_created, created_at))
    WHERE personal_erased_at IS NULL;

-- stockwire_erase_address blanks every field of an address but its country.
CREATE FUNCTION stockwire_erase_address(a jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
    SELECT jsonb_build_object('first_name', '', 'last_name', '', 'company', '', 'address_1', '', 'address_2', '',
        'city', '', 'state', '', 'postcode', '', 'country', COALESCE(a ->> 'country', ''), 'email', '', 'phone', '')
$$;

-- stockwire_erase_personal returns an order document without its personal
-- data (customer name, email and phone, the addresses, the customer note);
-- the stock facts (lines, quantities, status, totals) stay.
CREATE FUNCTION stockwire_erase_personal(doc jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN doc IS NULL THEN NULL ELSE doc || jsonb_build_object(
        'customer', jsonb_build_object('id', COALESCE(doc -> 'customer' -> 'id', '0'::jsonb),
            'first_name', '', 'last_name', '', 'email', '', 'phone', ''),
        'billing', stockwire_erase_address(doc -> 'billing'),
        'shipping', stockwire_erase_address(doc -> 'shipping'),
        'customer_note', '') END
$$;
