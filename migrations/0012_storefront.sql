-- Storefront activity from the web pixel and the extensions' status (issue 12).
-- Only events of customers the shop knows are kept (never anonymous
-- visitors); customers/redact deletes them, shop/redact with the shop.
CREATE TABLE pixel_events (
  id {{pk}},
  shop_id BIGINT NOT NULL REFERENCES shops(id) ON DELETE CASCADE,
  customer_id BIGINT NOT NULL REFERENCES customers(id) ON DELETE CASCADE,
  event_id TEXT NOT NULL,
  name TEXT NOT NULL,
  product_id BIGINT NOT NULL DEFAULT 0,
  variant_id BIGINT NOT NULL DEFAULT 0,
  collection_id BIGINT NOT NULL DEFAULT 0,
  title TEXT NOT NULL DEFAULT '',
  url TEXT NOT NULL DEFAULT '',
  image_url TEXT NOT NULL DEFAULT '',
  price {{money}} NOT NULL DEFAULT 0,
  currency TEXT NOT NULL DEFAULT '',
  search_query TEXT NOT NULL DEFAULT '',
  quantity INTEGER NOT NULL DEFAULT 0,
  occurred_at {{ts}} NOT NULL,
  received_at {{ts}} NOT NULL,
  -- Shopify's event id: a redelivered event is stored once.
  UNIQUE (shop_id, event_id)
);
-- Timeline and browse abandonment read a customer's events newest first.
CREATE INDEX pixel_events_customer ON pixel_events (customer_id, occurred_at);
-- Segments: who viewed this product / collection, added to cart, within N days.
CREATE INDEX pixel_events_shop_name ON pixel_events (shop_id, name, occurred_at);

-- When each extension was last seen rendering (or, for the pixel, sending).
CREATE TABLE extension_seen (
  shop_id BIGINT NOT NULL REFERENCES shops(id) ON DELETE CASCADE,
  extension TEXT NOT NULL,
  last_seen_at {{ts}} NOT NULL,
  PRIMARY KEY (shop_id, extension)
);
