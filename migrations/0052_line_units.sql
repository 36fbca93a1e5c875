-- Opens and clicks from LINE (issue 16, item 5). Every campaign variant and
-- every journey message kind is sent under one LINE aggregation unit
-- (customAggregationUnits), a name Tsunagu derives; a row per unit records
-- when it was first and last sent under (LINE allows 1,000 distinct names
-- per channel a month) and the last statistics read back from LINE's
-- insight API. A NULL count is one LINE withheld (under 20 users), not 0.
CREATE TABLE line_units (
  id {{pk}},
  shop_id BIGINT NOT NULL REFERENCES shops(id) ON DELETE CASCADE,
  unit TEXT NOT NULL,
  campaign_id BIGINT,
  variant TEXT NOT NULL DEFAULT '',
  kind TEXT NOT NULL DEFAULT '',
  first_sent_at {{ts}} NOT NULL,
  last_sent_at {{ts}} NOT NULL,
  unique_impression BIGINT,
  unique_click BIGINT,
  unique_media_played BIGINT,
  unique_media_played_100 BIGINT,
  stats_from TEXT NOT NULL DEFAULT '',
  stats_to TEXT NOT NULL DEFAULT '',
  read_at {{ts}},
  read_error TEXT NOT NULL DEFAULT ''
);
CREATE UNIQUE INDEX line_units_shop_unit ON line_units (shop_id, unit);
CREATE INDEX line_units_shop_last_sent ON line_units (shop_id, last_sent_at);
CREATE INDEX line_units_campaign ON line_units (campaign_id) WHERE campaign_id IS NOT NULL;
-- Per-URL clicks of a unit as LINE last reported them (replaced on each read).
CREATE TABLE line_unit_clicks (
  id {{pk}},
  unit_id BIGINT NOT NULL REFERENCES line_units(id) ON DELETE CASCADE,
  seq BIGINT NOT NULL,
  url TEXT NOT NULL,
  click BIGINT,
  unique_click BIGINT,
  unique_click_of_request BIGINT
);
CREATE INDEX line_unit_clicks_unit ON line_unit_clicks (unit_id);
-- How a campaign is delivered: 'multicast' (500 a request; clicks counted
-- per variant, not per customer) or 'push' (one request per recipient,
-- for small segments; each recipient's link names them).
ALTER TABLE campaigns ADD COLUMN delivery TEXT NOT NULL DEFAULT 'multicast';
