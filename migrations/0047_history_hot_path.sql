-- Issue 11: fewer indexes to maintain per order written (the history
-- import writes a shop's whole past at once; webhooks gain too).
-- order_items_product (product_id) is a prefix of order_items_product_order
-- (product_id, order_id), which serves every lookup it served.
DROP INDEX order_items_product;
-- Only orders placed from a checkout have a checkout or cart token (no
-- history order has one); OrderForCheckout, the one reader, asks for a
-- non-empty token, which these partial indexes answer.
DROP INDEX orders_checkout_token;
CREATE INDEX orders_checkout_token ON orders (shop_id, checkout_token) WHERE checkout_token <> '';
DROP INDEX orders_cart_token;
CREATE INDEX orders_cart_token ON orders (shop_id, cart_token) WHERE cart_token <> '';
