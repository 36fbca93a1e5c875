-- History for the campaign shop: {{messages}} sent messages spread over its
-- customers and the past year, and {{past}} past campaigns to every linked
-- customer, all sent. Run after campaign_seed.sql.
WITH s AS MATERIALIZED (SELECT sh.id, (SELECT MIN(id) FROM customers WHERE shop_id = sh.id) AS first, (SELECT COUNT(*) FROM customers WHERE shop_id = sh.id) AS n
  FROM shops sh WHERE sh.domain = 'bench-campaign.myshopify.com')
INSERT INTO messages (shop_id, customer_id, kind, dedupe_key, ref_type, ref_id, line_user_id, scheduled_for, status, reason, content, line_request_id, attempts, sent_at, created_at, updated_at)
SELECT s.id, s.first + g % s.n, (ARRAY['thank_you','shipping','follow_up_3','follow_up_7','cart_reminder'])[1 + g % 5], 'hist:' || s.id || ':' || g, 'order', g, 'U', now() - (1 + g % 365) * interval '1 day', 'sent', '', '', 'r' || g, 1,
  now() - (1 + g % 365) * interval '1 day', now() - (1 + g % 365) * interval '1 day', now()
FROM s, generate_series(1, {{messages}}) g;
INSERT INTO campaigns (shop_id, name, definition, variants, status, started_at, finished_at, batches, batches_done, held_from, created_at, updated_at)
SELECT s.id, 'past ' || g, '{"field":"linked","value":true}', '[]', 'done', now() - g * interval '7 days', now() - g * interval '7 days', 0, 0, 0, now(), now()
FROM shops s, generate_series(1, {{past}}) g WHERE s.domain = 'bench-campaign.myshopify.com';
INSERT INTO campaign_recipients (campaign_id, shop_id, customer_id, variant, batch, status, reason, line_user_id, line_request_id, sent_at, updated_at)
SELECT k.id, l.shop_id, l.customer_id, 'A', (ROW_NUMBER() OVER (PARTITION BY k.id ORDER BY l.customer_id) - 1) / 500, 'sent', '', l.line_user_id, 'r', k.started_at, k.started_at
FROM campaigns k JOIN line_links l ON l.shop_id = k.shop_id WHERE k.name LIKE 'past %' AND k.shop_id = (SELECT id FROM shops WHERE domain = 'bench-campaign.myshopify.com');
ANALYZE;
