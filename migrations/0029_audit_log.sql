-- What operators did by hand (issue 18): re-sending a failed message,
-- replaying a dead-lettered event. One row per action, with who did it.
CREATE TABLE audit_log (
  id {{pk}},
  shop_id BIGINT NOT NULL REFERENCES shops(id) ON DELETE CASCADE,
  actor TEXT NOT NULL,
  action TEXT NOT NULL,
  ref_type TEXT NOT NULL,
  ref_id BIGINT NOT NULL,
  detail TEXT NOT NULL DEFAULT '',
  created_at {{ts}} NOT NULL
);
CREATE INDEX audit_log_shop ON audit_log (shop_id, id);
-- When the message's current X-Line-Retry-Key was first sent: LINE remembers
-- an accepted key for 24 hours, so a re-send within that window reuses the
-- key (LINE dedupes it) and a later one goes out as a new message.
ALTER TABLE messages ADD COLUMN key_first_tried_at {{ts}};
