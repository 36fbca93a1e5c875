-- LINE Login attempts for ID linking. The state is single use: the callback
-- consumes the row, so a replayed state or code is refused.
CREATE TABLE link_logins (
  id {{pk}},
  state_hash TEXT NOT NULL UNIQUE,
  shop_id BIGINT NOT NULL REFERENCES shops(id) ON DELETE CASCADE,
  customer_id BIGINT NOT NULL REFERENCES customers(id) ON DELETE CASCADE,
  nonce TEXT NOT NULL,
  verifier_enc {{bytes}} NOT NULL,
  expires_at {{ts}} NOT NULL,
  used_at {{ts}},
  created_at {{ts}} NOT NULL
);
CREATE INDEX link_logins_expires ON link_logins (expires_at);
CREATE INDEX line_links_user ON line_links (shop_id, line_user_id);
