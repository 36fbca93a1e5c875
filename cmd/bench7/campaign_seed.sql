-- A shop with N linked customers (N is the one bind parameter). Re-runnable.
DELETE FROM shops WHERE domain = 'bench-campaign.myshopify.com';
INSERT INTO shops (domain, name, installed_at, created_at, updated_at) VALUES ('bench-campaign.myshopify.com', 'Bench', now(), now(), now());
INSERT INTO customers (shop_id, shopify_id, email, created_at, updated_at) SELECT (SELECT id FROM shops WHERE domain = 'bench-campaign.myshopify.com'), g, 'b' || g || '@example.com', now(), now() FROM generate_series(1, ?) g;
INSERT INTO line_links (shop_id, customer_id, line_user_id, friend, linked_at, created_at, updated_at) SELECT shop_id, id, 'U' || md5(id::text), true, now(), now(), now() FROM customers WHERE shop_id = (SELECT id FROM shops WHERE domain = 'bench-campaign.myshopify.com');
-- What the store's link writers keep in customers.link_state (migration 0056: 2 = friend).
UPDATE customers SET link_state = 2 WHERE shop_id = (SELECT id FROM shops WHERE domain = 'bench-campaign.myshopify.com');
ANALYZE;
