-- Issue 16: the daily cap counts each customer's messages sent since the
-- start of the shop's day, once per campaign recipient at send time.
-- messages_customer_sent (customer_id, sent_at) keeps each customer's whole
-- history beside today's sends, so a batch's 500 probes read a leaf page
-- for every few customers across the index: a campaign reads all of it,
-- most pages from outside shared_buffers (about 120 a batch on a database
-- of 5M messages and 100k customers, half the gate's time). Keyed by the
-- day in Japan first (UTC+9, the shops' default zone: one day per probe
-- for a shop there), the last days' sends sit together at the index's
-- recent end and each probe stays there. The old index served only this
-- count; segments reach a customer's messages through
-- messages_customer_kind. SQLite has no date_bin and keeps the old index.
-- dialect: postgres
CREATE INDEX messages_sent_day ON messages (date_bin('1 day', sent_at, TIMESTAMPTZ '2000-01-01 00:00:00+09'), customer_id, sent_at) WHERE status = 'sent';
DROP INDEX messages_customer_sent;
-- dialect: both
