-- Delivery at a known cost (issue 16): the channel's monthly message quota
-- as last read from LINE (GET /v2/bot/message/quota and .../consumption),
-- counted forward locally between reads, and the month in which LINE
-- answered "You have reached your monthly limit." (marketing stops for it).
CREATE TABLE line_quotas (
  shop_id BIGINT PRIMARY KEY REFERENCES shops(id) ON DELETE CASCADE,
  limited {{bool}} NOT NULL DEFAULT FALSE,
  monthly_limit BIGINT NOT NULL DEFAULT 0,
  used BIGINT NOT NULL DEFAULT 0,
  checked_at {{ts}},
  exhausted_month TEXT NOT NULL DEFAULT '',
  exhausted_at {{ts}}
);
