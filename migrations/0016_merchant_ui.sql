-- Test sends: a staff member (or the merchant) links their own LINE account
-- by sending a one-time code to the shop's official account; campaign test
-- sends push to these accounts only, never to customers.
CREATE TABLE staff_line_links (
  id {{pk}},
  shop_id BIGINT NOT NULL REFERENCES shops(id) ON DELETE CASCADE,
  name TEXT NOT NULL DEFAULT '',
  code TEXT NOT NULL,
  code_expires_at {{ts}} NOT NULL,
  line_user_id TEXT NOT NULL DEFAULT '',
  display_name TEXT NOT NULL DEFAULT '',
  linked_at {{ts}},
  created_at {{ts}} NOT NULL,
  updated_at {{ts}} NOT NULL
);
CREATE UNIQUE INDEX staff_line_links_code ON staff_line_links (shop_id, code);
-- The reachability funnel counts each customer's marketing messages sent
-- today; without this it scans the shop's whole message history.
CREATE INDEX messages_shop_sent ON messages (shop_id, sent_at) WHERE status = 'sent';
