-- Issue 13. Durable webhook forwarding: one row per verified LINE webhook
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

-- Inbox filters (issue 13 benchmark, docs/BENCHMARKS.md): "unlinked" and
-- "assigned to" pages read their own index instead of walking the whole
-- inbox index past every linked or unassigned conversation.
CREATE INDEX line_friends_inbox_unlinked ON line_friends (shop_id, last_inbound_at) WHERE last_inbound_at IS NOT NULL AND customer_id IS NULL;
CREATE INDEX line_friends_inbox_assigned ON line_friends (shop_id, assigned_staff, last_inbound_at) WHERE last_inbound_at IS NOT NULL;
