-- Step scenarios (issue 13): a sequence of messages started by a friend-add,
-- a link or a first order. Steps (delay in days from the start, text in
-- Japanese and English, stop condition) are a small JSON list edited as a
-- whole; each planned step is a messages row (kind scenario_step) keyed
-- scenario_step/s<shop>/sc<scenario>/<f|c><recipient>/p<position>.
CREATE TABLE scenarios (
  id {{pk}},
  shop_id BIGINT NOT NULL REFERENCES shops(id) ON DELETE CASCADE,
  name TEXT NOT NULL,
  trigger_on TEXT NOT NULL,
  enabled {{bool}} NOT NULL DEFAULT TRUE,
  steps TEXT NOT NULL DEFAULT '[]',
  created_at {{ts}} NOT NULL,
  updated_at {{ts}} NOT NULL
);
CREATE INDEX scenarios_shop ON scenarios (shop_id, trigger_on);
