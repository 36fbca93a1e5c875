-- Issue 14: "bought vendor / product X" without joining orders. An item
-- carries the customer of its order while that order counts as a purchase
-- (not cancelled), NULL otherwise (no customer, or cancelled), so that
-- segment.purchased() asks order_items alone: a sampled customer is one
-- index probe, and the exact count reads only the index.
-- Every writer of order_items sets it (store.OrderItem.CustomerID, set by
-- UpsertOrderIfNewer and the history import); a change of an order's
-- customer or its cancellation goes through those same upserts.
ALTER TABLE order_items ADD COLUMN customer_id BIGINT;
-- dialect: postgres
UPDATE order_items oi SET customer_id = o.customer_id FROM orders o
  WHERE o.id = oi.order_id AND o.cancelled_at IS NULL AND o.customer_id IS NOT NULL;
-- dialect: sqlite
UPDATE order_items SET customer_id = (SELECT o.customer_id FROM orders o
  WHERE o.id = order_items.order_id AND o.cancelled_at IS NULL);
-- dialect: both
-- The segment indexes of 0006 (vendor, order_id) and (product_id,
-- order_id) served the join to orders, their only readers; these replace
-- them, so an order written maintains as many indexes as before.
DROP INDEX order_items_vendor_order;
DROP INDEX order_items_product_order;
CREATE INDEX order_items_vendor_customer ON order_items (vendor, customer_id) WHERE customer_id IS NOT NULL;
CREATE INDEX order_items_product_customer ON order_items (product_id, customer_id) WHERE customer_id IS NOT NULL;
