-- Segments, campaigns (with their materialized recipients), rich menus per segment.

CREATE TABLE segments (
  id {{pk}},
  shop_id BIGINT NOT NULL REFERENCES shops(id) ON DELETE CASCADE,
  name TEXT NOT NULL,
  definition TEXT NOT NULL DEFAULT '{}',
  created_at {{ts}} NOT NULL,
  updated_at {{ts}} NOT NULL,
  UNIQUE (shop_id, name)
);

CREATE TABLE campaigns (
  id {{pk}},
  shop_id BIGINT NOT NULL REFERENCES shops(id) ON DELETE CASCADE,
  name TEXT NOT NULL,
  segment_id BIGINT REFERENCES segments(id) ON DELETE SET NULL,
  definition TEXT NOT NULL DEFAULT '{}',
  variants TEXT NOT NULL DEFAULT '[]',
  test_percent INTEGER NOT NULL DEFAULT 0,
  winner TEXT NOT NULL DEFAULT '',
  coupon_code TEXT NOT NULL DEFAULT '',
  status TEXT NOT NULL DEFAULT 'draft',
  reason TEXT NOT NULL DEFAULT '',
  scheduled_at {{ts}},
  started_at {{ts}},
  finished_at {{ts}},
  cancelled_at {{ts}},
  batches INTEGER NOT NULL DEFAULT 0,
  created_at {{ts}} NOT NULL,
  updated_at {{ts}} NOT NULL
);
CREATE INDEX campaigns_shop ON campaigns (shop_id, created_at);

-- One row per customer a campaign was meant for: the restart-safe send log.
CREATE TABLE campaign_recipients (
  id {{pk}},
  campaign_id BIGINT NOT NULL REFERENCES campaigns(id) ON DELETE CASCADE,
  shop_id BIGINT NOT NULL REFERENCES shops(id) ON DELETE CASCADE,
  customer_id BIGINT NOT NULL REFERENCES customers(id) ON DELETE CASCADE,
  variant TEXT NOT NULL DEFAULT '',
  batch INTEGER NOT NULL DEFAULT -1,
  status TEXT NOT NULL DEFAULT 'queued',
  reason TEXT NOT NULL DEFAULT '',
  line_user_id TEXT NOT NULL DEFAULT '',
  line_request_id TEXT NOT NULL DEFAULT '',
  sent_at {{ts}},
  updated_at {{ts}} NOT NULL,
  UNIQUE (campaign_id, customer_id)
);
CREATE INDEX campaign_recipients_batch ON campaign_recipients (campaign_id, batch, status);
CREATE INDEX campaign_recipients_customer ON campaign_recipients (customer_id, sent_at);

CREATE TABLE rich_menus (
  id {{pk}},
  shop_id BIGINT NOT NULL REFERENCES shops(id) ON DELETE CASCADE,
  name TEXT NOT NULL,
  line_rich_menu_id TEXT NOT NULL DEFAULT '',
  definition TEXT NOT NULL DEFAULT '{}',
  segment_id BIGINT REFERENCES segments(id) ON DELETE SET NULL,
  priority INTEGER NOT NULL DEFAULT 0,
  created_at {{ts}} NOT NULL,
  updated_at {{ts}} NOT NULL
);

-- Which menu each customer's LINE user currently shows, to relink only on change.
CREATE TABLE rich_menu_assignments (
  id {{pk}},
  shop_id BIGINT NOT NULL REFERENCES shops(id) ON DELETE CASCADE,
  customer_id BIGINT NOT NULL REFERENCES customers(id) ON DELETE CASCADE,
  line_user_id TEXT NOT NULL,
  rich_menu_id BIGINT NOT NULL DEFAULT 0,
  updated_at {{ts}} NOT NULL,
  UNIQUE (shop_id, customer_id)
);

CREATE INDEX customers_shop_last_order ON customers (shop_id, last_order_at);
CREATE INDEX orders_shop_customer ON orders (shop_id, customer_id);
-- Covering indexes: "bought vendor/product X" segments join items to orders by index only.
CREATE INDEX order_items_vendor_order ON order_items (vendor, order_id);
CREATE INDEX order_items_product_order ON order_items (product_id, order_id);
CREATE INDEX orders_id_customer ON orders (id, customer_id, cancelled_at);
