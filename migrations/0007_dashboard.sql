-- The dashboard and the journey report count a shop's messages of a period
-- by kind, status and reason; with those columns in the index PostgreSQL
-- answers from the index alone (a 30-day count over 1.4M messages: 620 ms
-- by table scan, 200 ms index-only). It serves every lookup the narrower
-- index it replaces did.
CREATE INDEX messages_shop_created_status ON messages (shop_id, created_at, kind, status, reason);
DROP INDEX messages_shop_created;
