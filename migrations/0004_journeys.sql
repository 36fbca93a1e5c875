-- Journeys (issue 5): checkout lines for cart reminders, and the lookups
-- that cancel a cart reminder when the order for its checkout arrives.
ALTER TABLE checkouts ADD COLUMN items TEXT NOT NULL DEFAULT '[]';
ALTER TABLE checkouts ADD COLUMN locale TEXT NOT NULL DEFAULT '';
CREATE INDEX checkouts_cart ON checkouts (shop_id, cart_token);
CREATE INDEX orders_checkout_token ON orders (shop_id, checkout_token);
CREATE INDEX orders_cart_token ON orders (shop_id, cart_token);
CREATE INDEX messages_customer_kind ON messages (customer_id, kind, status);
