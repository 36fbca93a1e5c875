-- Several LINE accounts per shop (issue 13, item 6). A shop may connect
-- more than one LINE Official Account: line_channels loses its UNIQUE on
-- shop_id, gains a display name and a primary flag (exactly one primary per
-- shop: the account journeys, linking and the admin use unless told
-- otherwise). Friends belong to one channel (unique per channel and LINE
-- user; a LINE user id is per provider, so two channels of one provider see
-- the same id and must not share a friend row). A link records the channel
-- it was made on; a customer keeps at most one live link per shop.
-- Quotas are per channel (LINE counts them per account). Links, friends
-- and campaigns of a channel that is deleted keep their rows with no
-- channel, which means the shop's primary (as with one channel per shop).
--
-- SQLite cannot drop a table constraint, so it rebuilds line_channels and
-- line_friends (https://www.sqlite.org/lang_altertable.html, "making other
-- kinds of table schema changes"), with foreign keys off for this migration
-- only: dropping line_friends must not null messages.friend_id and
-- activities.friend_id. Ids and encrypted columns are copied as they are.
-- sqlite: foreign_keys off

-- dialect: postgres
ALTER TABLE line_channels DROP CONSTRAINT line_channels_shop_id_key;
ALTER TABLE line_channels ADD COLUMN name TEXT NOT NULL DEFAULT '';
ALTER TABLE line_channels ADD COLUMN is_primary BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE line_friends DROP CONSTRAINT line_friends_shop_id_line_user_id_key;
ALTER TABLE line_friends ADD COLUMN channel_id BIGINT REFERENCES line_channels(id) ON DELETE SET NULL;
-- dialect: sqlite
CREATE TABLE line_channels_0049 (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  shop_id BIGINT NOT NULL REFERENCES shops(id) ON DELETE CASCADE,
  webhook_key TEXT NOT NULL UNIQUE,
  messaging_channel_id TEXT NOT NULL DEFAULT '',
  messaging_secret_enc BLOB,
  messaging_token_enc BLOB,
  login_channel_id TEXT NOT NULL DEFAULT '',
  login_secret_enc BLOB,
  bot_user_id TEXT NOT NULL DEFAULT '',
  bot_basic_id TEXT NOT NULL DEFAULT '',
  bot_name TEXT NOT NULL DEFAULT '',
  created_at DATETIME NOT NULL,
  updated_at DATETIME NOT NULL,
  last_webhook_at DATETIME,
  name TEXT NOT NULL DEFAULT '',
  is_primary BOOLEAN NOT NULL DEFAULT FALSE
);
INSERT INTO line_channels_0049 (id, shop_id, webhook_key, messaging_channel_id, messaging_secret_enc, messaging_token_enc,
  login_channel_id, login_secret_enc, bot_user_id, bot_basic_id, bot_name, created_at, updated_at, last_webhook_at)
  SELECT id, shop_id, webhook_key, messaging_channel_id, messaging_secret_enc, messaging_token_enc,
  login_channel_id, login_secret_enc, bot_user_id, bot_basic_id, bot_name, created_at, updated_at, last_webhook_at FROM line_channels;
DROP TABLE line_channels;
ALTER TABLE line_channels_0049 RENAME TO line_channels;
CREATE TABLE line_friends_0049 (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  shop_id BIGINT NOT NULL REFERENCES shops(id) ON DELETE CASCADE,
  line_user_id TEXT NOT NULL,
  customer_id BIGINT REFERENCES customers(id) ON DELETE SET NULL,
  display_name TEXT NOT NULL DEFAULT '',
  picture_url TEXT NOT NULL DEFAULT '',
  language TEXT NOT NULL DEFAULT '',
  profile_at DATETIME,
  follow_source TEXT NOT NULL DEFAULT '',
  friend_since DATETIME,
  is_friend BOOLEAN NOT NULL DEFAULT FALSE,
  blocked BOOLEAN NOT NULL DEFAULT FALSE,
  blocked_at DATETIME,
  redacted_at DATETIME,
  first_seen_at DATETIME NOT NULL,
  last_inbound_at DATETIME,
  last_outbound_at DATETIME,
  last_text TEXT NOT NULL DEFAULT '',
  unread INTEGER NOT NULL DEFAULT 0,
  unanswered BOOLEAN NOT NULL DEFAULT FALSE,
  assigned_staff TEXT NOT NULL DEFAULT '',
  reply_token_enc BLOB,
  reply_token_at DATETIME,
  nudged_at DATETIME,
  created_at DATETIME NOT NULL,
  updated_at DATETIME NOT NULL,
  channel_id BIGINT REFERENCES line_channels(id) ON DELETE SET NULL
);
INSERT INTO line_friends_0049 (id, shop_id, line_user_id, customer_id, display_name, picture_url, language, profile_at,
  follow_source, friend_since, is_friend, blocked, blocked_at, redacted_at, first_seen_at, last_inbound_at, last_outbound_at,
  last_text, unread, unanswered, assigned_staff, reply_token_enc, reply_token_at, nudged_at, created_at, updated_at)
  SELECT id, shop_id, line_user_id, customer_id, display_name, picture_url, language, profile_at,
  follow_source, friend_since, is_friend, blocked, blocked_at, redacted_at, first_seen_at, last_inbound_at, last_outbound_at,
  last_text, unread, unanswered, assigned_staff, reply_token_enc, reply_token_at, nudged_at, created_at, updated_at FROM line_friends;
DROP TABLE line_friends;
ALTER TABLE line_friends_0049 RENAME TO line_friends;
CREATE INDEX line_friends_inbox ON line_friends (shop_id, last_inbound_at) WHERE last_inbound_at IS NOT NULL;
CREATE INDEX line_friends_unanswered ON line_friends (shop_id, last_inbound_at) WHERE unanswered;
CREATE INDEX line_friends_unread ON line_friends (shop_id, unread) WHERE unread > 0;
CREATE INDEX line_friends_customer ON line_friends (customer_id);
CREATE INDEX line_friends_since ON line_friends (shop_id, friend_since);
CREATE INDEX line_friends_search_name ON line_friends (shop_id, lower(display_name));
CREATE INDEX line_friends_inbox_unlinked ON line_friends (shop_id, last_inbound_at) WHERE last_inbound_at IS NOT NULL AND customer_id IS NULL;
CREATE INDEX line_friends_inbox_assigned ON line_friends (shop_id, assigned_staff, last_inbound_at) WHERE last_inbound_at IS NOT NULL;
-- dialect: both

-- Every existing shop had one channel: it is the primary, named after its bot.
UPDATE line_channels SET is_primary = TRUE, name = bot_name;
CREATE INDEX line_channels_shop ON line_channels (shop_id);
CREATE UNIQUE INDEX line_channels_primary ON line_channels (shop_id) WHERE is_primary;

UPDATE line_friends SET channel_id = (SELECT c.id FROM line_channels c WHERE c.shop_id = line_friends.shop_id AND c.is_primary);
CREATE UNIQUE INDEX line_friends_channel_user ON line_friends (channel_id, line_user_id);
CREATE INDEX line_friends_shop_user ON line_friends (shop_id, line_user_id);

ALTER TABLE line_links ADD COLUMN channel_id BIGINT REFERENCES line_channels(id) ON DELETE SET NULL;
UPDATE line_links SET channel_id = (SELECT c.id FROM line_channels c WHERE c.shop_id = line_links.shop_id AND c.is_primary);
CREATE INDEX line_links_channel ON line_links (channel_id, customer_id) WHERE unlinked_at IS NULL;

CREATE TABLE line_channel_quotas (
  channel_id BIGINT PRIMARY KEY REFERENCES line_channels(id) ON DELETE CASCADE,
  shop_id BIGINT NOT NULL REFERENCES shops(id) ON DELETE CASCADE,
  limited {{bool}} NOT NULL DEFAULT FALSE,
  monthly_limit BIGINT NOT NULL DEFAULT 0,
  used BIGINT NOT NULL DEFAULT 0,
  checked_at {{ts}},
  exhausted_month TEXT NOT NULL DEFAULT '',
  exhausted_at {{ts}}
);
INSERT INTO line_channel_quotas (channel_id, shop_id, limited, monthly_limit, used, checked_at, exhausted_month, exhausted_at)
  SELECT c.id, q.shop_id, q.limited, q.monthly_limit, q.used, q.checked_at, q.exhausted_month, q.exhausted_at
  FROM line_quotas q JOIN line_channels c ON c.shop_id = q.shop_id AND c.is_primary;
DROP TABLE line_quotas;

-- A LINE Login attempt started from a channel's link URL links on that
-- channel (NULL: the shop's primary channel, as every attempt before this).
ALTER TABLE link_logins ADD COLUMN channel_id BIGINT REFERENCES line_channels(id) ON DELETE CASCADE;

-- The channel a LINE webhook event arrived on (its webhook URL's key), so
-- the job applying it stores the friend on that channel. No foreign key:
-- events outlive what they name.
ALTER TABLE events ADD COLUMN line_channel_id BIGINT;

-- The LINE account a campaign is sent from (NULL: the shop's primary); it
-- reaches only customers linked on that account.
ALTER TABLE campaigns ADD COLUMN line_channel_id BIGINT REFERENCES line_channels(id) ON DELETE SET NULL;
