-- 1M customers, 5M orders (one item each), 30% linked. Run on a migrated, empty database.
INSERT INTO shops (domain, name, installed_at, created_at, updated_at) VALUES ('bench.myshopify.com', 'Bench', now(), now(), now());
INSERT INTO customers (shop_id, shopify_id, email, first_name, tags, region, birthday, accepts_marketing, created_at, updated_at)
SELECT 1, g, 'c' || g || '@example.com', 'C' || g,
  CASE WHEN g % 10 = 0 THEN 'vip,wholesale' WHEN g % 7 = 0 THEN 'newsletter' ELSE '' END,
  (ARRAY['Tokyo','Osaka','Hokkaido','Kyoto','Fukuoka','Aichi'])[1 + g % 6],
  '19' || (60 + g % 40) || '-' || lpad((1 + g % 12)::text, 2, '0') || '-' || lpad((1 + g % 28)::text, 2, '0'),
  g % 3 <> 0, now() - (g % 1000) * interval '1 day', now()
FROM generate_series(1, 1000000) g;
INSERT INTO orders (shop_id, shopify_id, customer_id, name, currency, total_price, subtotal_price, financial_status, discount_codes, ordered_at, created_at, updated_at)
SELECT 1, g, 1 + (g * 7919) % 1000000, '#' || g, 'JPY', 1000 + (g % 50) * 200, 1000 + (g % 50) * 200, 'paid',
  CASE WHEN g % 50 = 0 THEN 'WELCOME10' ELSE '' END,
  now() - ((g * 31) % 1000) * interval '1 day', now(), now()
FROM generate_series(1::bigint, 5000000::bigint) g;
INSERT INTO order_items (order_id, product_id, title, vendor, quantity, price, customer_id)
SELECT id, 1000 + id % 500, 'Product ' || (id % 500), 'Vendor ' || (id % 40), 1, total_price, customer_id FROM orders;
UPDATE customers c SET orders_count = s.n, total_spent = s.total, first_order_at = s.first, last_order_at = s.last
FROM (SELECT customer_id, count(*) n, sum(total_price) total, min(ordered_at) first, max(ordered_at) last FROM orders GROUP BY customer_id) s
WHERE c.id = s.customer_id;
INSERT INTO line_links (shop_id, customer_id, line_user_id, friend, blocked, linked_at, created_at, updated_at)
SELECT 1, id, 'U' || md5(id::text), true, id % 97 = 0, now(), now(), now() FROM customers WHERE id % 10 < 3;
-- The store keeps customers.link_state with line_links (migration 0056); a seed writing line_links itself sets it too.
UPDATE customers c SET link_state = CASE WHEN l.blocked THEN 3 WHEN l.friend THEN 2 ELSE 1 END FROM line_links l WHERE l.customer_id = c.id AND l.unlinked_at IS NULL;
-- VACUUM, not only ANALYZE: a live database is autovacuumed, and without the
-- visibility map "bought vendor X" cannot use its index-only scans and reads
-- all 5M orders (5-6 s at load 20 here; with the funnel in the same request
-- that nears the 10 s segment timeout, which answers 422).
VACUUM (ANALYZE);
