-- Staff search and timeline (issue 6).
-- Search is prefix search on lower(column), compared bytewise: on PostgreSQL
-- the expression indexes use text_pattern_ops so they serve the ~>=~ / ~<~
-- range whatever the database collation; SQLite compares BINARY anyway.
CREATE INDEX customers_search_email ON customers (shop_id, lower(email) {{text_pattern}});
CREATE INDEX customers_search_last ON customers (shop_id, lower(last_name) {{text_pattern}});
CREATE INDEX customers_search_first ON customers (shop_id, lower(first_name) {{text_pattern}});
-- Japanese names are typed without a space: 山田花子.
CREATE INDEX customers_search_full ON customers (shop_id, lower(last_name || first_name) {{text_pattern}});
CREATE INDEX customers_search_phone ON customers (shop_id, phone {{text_pattern}});
CREATE INDEX line_links_search_name ON line_links (shop_id, lower(display_name) {{text_pattern}});
-- Timeline sources read newest first per customer.
CREATE INDEX checkouts_customer_time ON checkouts (customer_id, created_at);
CREATE INDEX coupons_customer ON coupons (customer_id);
-- Dashboard: a shop's messages and orders over a window.
CREATE INDEX messages_shop_created ON messages (shop_id, created_at);
CREATE INDEX orders_shop_time ON orders (shop_id, ordered_at);

-- Staff accounts for support teams without Shopify admin access. Shopify
-- staff use the session token instead; these sign in at /admin/login.
CREATE TABLE staff_accounts (
  id {{pk}},
  shop_id BIGINT NOT NULL REFERENCES shops(id) ON DELETE CASCADE,
  email TEXT NOT NULL,
  name TEXT NOT NULL DEFAULT '',
  role TEXT NOT NULL DEFAULT 'viewer',
  password_hash TEXT NOT NULL,
  last_login_at {{ts}},
  disabled_at {{ts}},
  created_at {{ts}} NOT NULL,
  updated_at {{ts}} NOT NULL,
  UNIQUE (shop_id, email)
);
