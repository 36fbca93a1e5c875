-- Issue 14: "days since last order" and the built-in VIP segment counted
-- exactly without reading the customer rows. Every segment, and the win-back
-- automation (DormantSince), asks for customers that are not redacted, so
-- the (shop_id, last_order_at) index of 0006 becomes partial on them; on
-- PostgreSQL it also carries orders_count and total_spent (VIP: 5+ orders
-- or 50,000+ spent, ordered in 180 days) for an index-only count. The
-- covered columns mostly change together with last_order_at (a new order),
-- which this index already held; edits of the profile stay HOT updates.
DROP INDEX customers_shop_last_order;
-- dialect: postgres
CREATE INDEX customers_live_last_order ON customers (shop_id, last_order_at) INCLUDE (orders_count, total_spent) WHERE redacted_at IS NULL;
-- dialect: sqlite
CREATE INDEX customers_live_last_order ON customers (shop_id, last_order_at) WHERE redacted_at IS NULL;
-- dialect: both
