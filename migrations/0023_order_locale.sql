-- The language the buyer shopped in (the order's customer_locale): the best
-- signal for the message language when the customer record has none.
ALTER TABLE orders ADD COLUMN locale TEXT NOT NULL DEFAULT '';
