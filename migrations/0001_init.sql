-- Tsunagu schema, first cut. All times are UTC.

CREATE TABLE shops (
  id {{pk}},
  domain TEXT NOT NULL UNIQUE,
  name TEXT NOT NULL DEFAULT '',
  email TEXT NOT NULL DEFAULT '',
  access_token_enc {{bytes}},
  scopes TEXT NOT NULL DEFAULT '',
  timezone TEXT NOT NULL DEFAULT 'Asia/Tokyo',
  currency TEXT NOT NULL DEFAULT 'JPY',
  locale TEXT NOT NULL DEFAULT 'ja',
  settings TEXT NOT NULL DEFAULT '{}',
  installed_at {{ts}},
  uninstalled_at {{ts}},
  redacted_at {{ts}},
  created_at {{ts}} NOT NULL,
  updated_at {{ts}} NOT NULL
);

CREATE TABLE line_channels (
  id {{pk}},
  shop_id BIGINT NOT NULL UNIQUE REFERENCES shops(id) ON DELETE CASCADE,
  webhook_key TEXT NOT NULL UNIQUE,
  messaging_channel_id TEXT NOT NULL DEFAULT '',
  messaging_secret_enc {{bytes}},
  messaging_token_enc {{bytes}},
  login_channel_id TEXT NOT NULL DEFAULT '',
  login_secret_enc {{bytes}},
  bot_user_id TEXT NOT NULL DEFAULT '',
  bot_basic_id TEXT NOT NULL DEFAULT '',
  bot_name TEXT NOT NULL DEFAULT '',
  created_at {{ts}} NOT NULL,
  updated_at {{ts}} NOT NULL
);

CREATE TABLE customers (
  id {{pk}},
  shop_id BIGINT NOT NULL REFERENCES shops(id) ON DELETE CASCADE,
  shopify_id BIGINT NOT NULL,
  email TEXT NOT NULL DEFAULT '',
  first_name TEXT NOT NULL DEFAULT '',
  last_name TEXT NOT NULL DEFAULT '',
  phone TEXT NOT NULL DEFAULT '',
  tags TEXT NOT NULL DEFAULT '',
  region TEXT NOT NULL DEFAULT '',
  country TEXT NOT NULL DEFAULT '',
  locale TEXT NOT NULL DEFAULT '',
  birthday TEXT NOT NULL DEFAULT '',
  accepts_marketing {{bool}} NOT NULL DEFAULT FALSE,
  orders_count INTEGER NOT NULL DEFAULT 0,
  total_spent {{money}} NOT NULL DEFAULT 0,
  first_order_at {{ts}},
  last_order_at {{ts}},
  redacted_at {{ts}},
  created_at {{ts}} NOT NULL,
  updated_at {{ts}} NOT NULL,
  UNIQUE (shop_id, shopify_id)
);
CREATE INDEX customers_shop_email ON customers (shop_id, email);

CREATE TABLE line_links (
  id {{pk}},
  shop_id BIGINT NOT NULL REFERENCES shops(id) ON DELETE CASCADE,
  customer_id BIGINT NOT NULL REFERENCES customers(id) ON DELETE CASCADE,
  line_user_id TEXT NOT NULL,
  display_name TEXT NOT NULL DEFAULT '',
  picture_url TEXT NOT NULL DEFAULT '',
  friend {{bool}} NOT NULL DEFAULT FALSE,
  blocked {{bool}} NOT NULL DEFAULT FALSE,
  linked_at {{ts}} NOT NULL,
  unlinked_at {{ts}},
  unlink_reason TEXT NOT NULL DEFAULT '',
  created_at {{ts}} NOT NULL,
  updated_at {{ts}} NOT NULL
);
-- One live link per LINE user and per customer in a shop; history stays.
CREATE UNIQUE INDEX line_links_live_user ON line_links (shop_id, line_user_id) WHERE unlinked_at IS NULL;
CREATE UNIQUE INDEX line_links_live_customer ON line_links (shop_id, customer_id) WHERE unlinked_at IS NULL;
CREATE INDEX line_links_customer ON line_links (customer_id);

CREATE TABLE orders (
  id {{pk}},
  shop_id BIGINT NOT NULL REFERENCES shops(id) ON DELETE CASCADE,
  shopify_id BIGINT NOT NULL,
  customer_id BIGINT REFERENCES customers(id) ON DELETE SET NULL,
  name TEXT NOT NULL DEFAULT '',
  email TEXT NOT NULL DEFAULT '',
  currency TEXT NOT NULL DEFAULT '',
  total_price {{money}} NOT NULL DEFAULT 0,
  subtotal_price {{money}} NOT NULL DEFAULT 0,
  financial_status TEXT NOT NULL DEFAULT '',
  fulfillment_status TEXT NOT NULL DEFAULT '',
  checkout_token TEXT NOT NULL DEFAULT '',
  cart_token TEXT NOT NULL DEFAULT '',
  order_status_url TEXT NOT NULL DEFAULT '',
  discount_codes TEXT NOT NULL DEFAULT '',
  cancelled_at {{ts}},
  ordered_at {{ts}} NOT NULL,
  created_at {{ts}} NOT NULL,
  updated_at {{ts}} NOT NULL,
  UNIQUE (shop_id, shopify_id)
);
CREATE INDEX orders_customer ON orders (customer_id, ordered_at);
CREATE INDEX orders_shop_name ON orders (shop_id, name);

CREATE TABLE order_items (
  id {{pk}},
  order_id BIGINT NOT NULL REFERENCES orders(id) ON DELETE CASCADE,
  shopify_id BIGINT NOT NULL DEFAULT 0,
  product_id BIGINT NOT NULL DEFAULT 0,
  variant_id BIGINT NOT NULL DEFAULT 0,
  title TEXT NOT NULL DEFAULT '',
  vendor TEXT NOT NULL DEFAULT '',
  sku TEXT NOT NULL DEFAULT '',
  quantity INTEGER NOT NULL DEFAULT 0,
  price {{money}} NOT NULL DEFAULT 0
);
CREATE INDEX order_items_order ON order_items (order_id);
CREATE INDEX order_items_product ON order_items (product_id);

CREATE TABLE fulfillments (
  id {{pk}},
  shop_id BIGINT NOT NULL REFERENCES shops(id) ON DELETE CASCADE,
  shopify_id BIGINT NOT NULL,
  order_id BIGINT REFERENCES orders(id) ON DELETE CASCADE,
  shopify_order_id BIGINT NOT NULL,
  status TEXT NOT NULL DEFAULT '',
  shipment_status TEXT NOT NULL DEFAULT '',
  tracking_company TEXT NOT NULL DEFAULT '',
  tracking_number TEXT NOT NULL DEFAULT '',
  tracking_url TEXT NOT NULL DEFAULT '',
  created_at {{ts}} NOT NULL,
  updated_at {{ts}} NOT NULL,
  UNIQUE (shop_id, shopify_id)
);
CREATE INDEX fulfillments_order ON fulfillments (order_id);

CREATE TABLE checkouts (
  id {{pk}},
  shop_id BIGINT NOT NULL REFERENCES shops(id) ON DELETE CASCADE,
  token TEXT NOT NULL,
  cart_token TEXT NOT NULL DEFAULT '',
  customer_id BIGINT REFERENCES customers(id) ON DELETE SET NULL,
  email TEXT NOT NULL DEFAULT '',
  currency TEXT NOT NULL DEFAULT '',
  total_price {{money}} NOT NULL DEFAULT 0,
  abandoned_url TEXT NOT NULL DEFAULT '',
  completed_at {{ts}},
  order_id BIGINT REFERENCES orders(id) ON DELETE SET NULL,
  created_at {{ts}} NOT NULL,
  updated_at {{ts}} NOT NULL,
  UNIQUE (shop_id, token)
);
CREATE INDEX checkouts_customer ON checkouts (customer_id);

-- events is the inbound log, the outbox and the idempotency key at once.
CREATE TABLE events (
  id {{pk}},
  source TEXT NOT NULL,
  topic TEXT NOT NULL,
  external_id TEXT NOT NULL,
  shop_id BIGINT REFERENCES shops(id) ON DELETE CASCADE,
  shop_domain TEXT NOT NULL DEFAULT '',
  payload {{bytes}} NOT NULL,
  status TEXT NOT NULL DEFAULT 'received',
  error TEXT NOT NULL DEFAULT '',
  attempts INTEGER NOT NULL DEFAULT 0,
  received_at {{ts}} NOT NULL,
  processed_at {{ts}},
  UNIQUE (source, external_id)
);
CREATE INDEX events_pending ON events (received_at) WHERE processed_at IS NULL;
CREATE INDEX events_shop ON events (shop_id, received_at);

CREATE TABLE messages (
  id {{pk}},
  shop_id BIGINT NOT NULL REFERENCES shops(id) ON DELETE CASCADE,
  customer_id BIGINT REFERENCES customers(id) ON DELETE CASCADE,
  kind TEXT NOT NULL,
  dedupe_key TEXT NOT NULL UNIQUE,
  ref_type TEXT NOT NULL DEFAULT '',
  ref_id BIGINT NOT NULL DEFAULT 0,
  campaign_id BIGINT,
  line_user_id TEXT NOT NULL DEFAULT '',
  scheduled_for {{ts}} NOT NULL,
  status TEXT NOT NULL,
  reason TEXT NOT NULL DEFAULT '',
  content TEXT NOT NULL DEFAULT '',
  line_request_id TEXT NOT NULL DEFAULT '',
  attempts INTEGER NOT NULL DEFAULT 0,
  sent_at {{ts}},
  created_at {{ts}} NOT NULL,
  updated_at {{ts}} NOT NULL
);
CREATE INDEX messages_due ON messages (scheduled_for) WHERE status = 'queued';
CREATE INDEX messages_customer ON messages (customer_id, created_at);
CREATE INDEX messages_ref ON messages (ref_type, ref_id);

CREATE TABLE coupons (
  id {{pk}},
  shop_id BIGINT NOT NULL REFERENCES shops(id) ON DELETE CASCADE,
  customer_id BIGINT REFERENCES customers(id) ON DELETE SET NULL,
  campaign TEXT NOT NULL,
  code TEXT NOT NULL,
  shopify_discount_id TEXT NOT NULL DEFAULT '',
  status TEXT NOT NULL DEFAULT 'pending',
  issued_at {{ts}},
  expires_at {{ts}},
  redeemed_at {{ts}},
  redeemed_order_id BIGINT,
  created_at {{ts}} NOT NULL,
  updated_at {{ts}} NOT NULL,
  UNIQUE (shop_id, code)
);
-- The link incentive is once per customer per shop, ever.
CREATE UNIQUE INDEX coupons_once ON coupons (shop_id, customer_id, campaign);

-- activities records what has no row of its own: link/unlink, follow/unfollow,
-- inbound LINE messages, clicks, GDPR requests. The timeline reads it with the rest.
CREATE TABLE activities (
  id {{pk}},
  shop_id BIGINT NOT NULL REFERENCES shops(id) ON DELETE CASCADE,
  customer_id BIGINT REFERENCES customers(id) ON DELETE CASCADE,
  kind TEXT NOT NULL,
  summary TEXT NOT NULL DEFAULT '',
  data TEXT NOT NULL DEFAULT '{}',
  ref_type TEXT NOT NULL DEFAULT '',
  ref_id BIGINT NOT NULL DEFAULT 0,
  occurred_at {{ts}} NOT NULL
);
CREATE INDEX activities_customer ON activities (customer_id, occurred_at);
CREATE INDEX activities_shop_kind ON activities (shop_id, kind, occurred_at);
