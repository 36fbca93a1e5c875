-- Every LINE user who follows, messages or posts back is a friend row,
-- linked to a customer or not (issue 13). The row is also the inbox
-- conversation: unread and unanswered counters live on it so the inbox
-- list and its counts read one table through one index.
CREATE TABLE line_friends (
  id {{pk}},
  shop_id BIGINT NOT NULL REFERENCES shops(id) ON DELETE CASCADE,
  line_user_id TEXT NOT NULL,
  customer_id BIGINT REFERENCES customers(id) ON DELETE SET NULL,
  display_name TEXT NOT NULL DEFAULT '',
  picture_url TEXT NOT NULL DEFAULT '',
  language TEXT NOT NULL DEFAULT '',
  profile_at {{ts}},
  follow_source TEXT NOT NULL DEFAULT '',
  friend_since {{ts}},
  is_friend {{bool}} NOT NULL DEFAULT FALSE,
  blocked {{bool}} NOT NULL DEFAULT FALSE,
  blocked_at {{ts}},
  redacted_at {{ts}},
  first_seen_at {{ts}} NOT NULL,
  last_inbound_at {{ts}},
  last_outbound_at {{ts}},
  last_text TEXT NOT NULL DEFAULT '',
  unread INTEGER NOT NULL DEFAULT 0,
  unanswered {{bool}} NOT NULL DEFAULT FALSE,
  assigned_staff TEXT NOT NULL DEFAULT '',
  reply_token_enc {{bytes}},
  reply_token_at {{ts}},
  nudged_at {{ts}},
  created_at {{ts}} NOT NULL,
  updated_at {{ts}} NOT NULL,
  UNIQUE (shop_id, line_user_id)
);
CREATE INDEX line_friends_inbox ON line_friends (shop_id, last_inbound_at) WHERE last_inbound_at IS NOT NULL;
CREATE INDEX line_friends_unanswered ON line_friends (shop_id, last_inbound_at) WHERE unanswered;
CREATE INDEX line_friends_unread ON line_friends (shop_id, unread) WHERE unread > 0;
CREATE INDEX line_friends_customer ON line_friends (customer_id);
CREATE INDEX line_friends_since ON line_friends (shop_id, friend_since);
CREATE INDEX line_friends_search_name ON line_friends (shop_id, lower(display_name) {{text_pattern}});
-- History of a friend before (and after) they link: merged by setting customer_id.
ALTER TABLE activities ADD COLUMN friend_id BIGINT REFERENCES line_friends(id) ON DELETE SET NULL;
CREATE INDEX activities_friend ON activities (friend_id, occurred_at);
ALTER TABLE messages ADD COLUMN friend_id BIGINT REFERENCES line_friends(id) ON DELETE SET NULL;
-- delivery is how LINE got it: reply (free, reply token) or push (counted).
ALTER TABLE messages ADD COLUMN delivery TEXT NOT NULL DEFAULT '';
ALTER TABLE messages ADD COLUMN staff_name TEXT NOT NULL DEFAULT '';
CREATE INDEX messages_friend ON messages (friend_id, created_at);

CREATE TABLE canned_replies (
  id {{pk}},
  shop_id BIGINT NOT NULL REFERENCES shops(id) ON DELETE CASCADE,
  title TEXT NOT NULL,
  body TEXT NOT NULL,
  created_at {{ts}} NOT NULL,
  updated_at {{ts}} NOT NULL
);
CREATE INDEX canned_replies_shop ON canned_replies (shop_id, title);

CREATE TABLE auto_replies (
  id {{pk}},
  shop_id BIGINT NOT NULL REFERENCES shops(id) ON DELETE CASCADE,
  keyword TEXT NOT NULL,
  match_mode TEXT NOT NULL DEFAULT 'contains',
  body TEXT NOT NULL,
  enabled {{bool}} NOT NULL DEFAULT TRUE,
  created_at {{ts}} NOT NULL,
  updated_at {{ts}} NOT NULL
);
CREATE INDEX auto_replies_shop ON auto_replies (shop_id);

-- Coexistence: every verified LINE webhook request is forwarded unchanged.
CREATE TABLE webhook_forwards (
  id {{pk}},
  shop_id BIGINT NOT NULL REFERENCES shops(id) ON DELETE CASCADE,
  url TEXT NOT NULL,
  last_status INTEGER NOT NULL DEFAULT 0,
  last_error TEXT NOT NULL DEFAULT '',
  last_attempt_at {{ts}},
  last_success_at {{ts}},
  delivered INTEGER NOT NULL DEFAULT 0,
  failed INTEGER NOT NULL DEFAULT 0,
  created_at {{ts}} NOT NULL,
  updated_at {{ts}} NOT NULL,
  UNIQUE (shop_id, url)
);
