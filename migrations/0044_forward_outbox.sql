-- Durable webhook forwarding (issue 13): one row per verified LINE webhook
-- request and forwarding destination, written before LINE is answered, so
-- a forward survives a Redis outage at hand-off (the relay enqueues it
-- later). The row holds the request as LINE sent it and is deleted once
-- delivered (or given up after the last retry); next_at is when the relay
-- may offer it again.
CREATE TABLE forward_outbox (
  id {{pk}},
  shop_id BIGINT NOT NULL REFERENCES shops(id) ON DELETE CASCADE,
  forward_id BIGINT NOT NULL REFERENCES webhook_forwards(id) ON DELETE CASCADE,
  body {{bytes}} NOT NULL,
  signature TEXT NOT NULL,
  created_at {{ts}} NOT NULL,
  next_at {{ts}} NOT NULL
);
CREATE INDEX forward_outbox_next ON forward_outbox (next_at);
CREATE INDEX forward_outbox_forward ON forward_outbox (forward_id);
