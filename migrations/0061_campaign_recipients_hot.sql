-- Issue 16: marking a batch sent writes status, reason, sent_at, updated_at
-- and line_request_id. With status in campaign_recipients_batch and sent_at
-- in campaign_recipients_customer, every such update was a new row version
-- plus an entry in each of the table's four indexes (most of a campaign's
-- database time on a database with history: 4.9 ms per 500-row batch
-- against 2.2 ms, docs/BENCHMARKS.md). Indexed on columns that never change
-- after a row is inserted, the update is HOT (heap-only: the new version
-- stays on its page, kept free by 0060's fill factor, and no index is
-- written). Status and send time are filtered on the rows a batch, a
-- campaign or a customer reaches through these indexes; the daily cap and
-- segments reach a customer's sends through the campaigns that ran in the
-- window (the (campaign_id, customer_id) key).
DROP INDEX campaign_recipients_batch;
CREATE INDEX campaign_recipients_batch ON campaign_recipients (campaign_id, batch);
DROP INDEX campaign_recipients_customer;
CREATE INDEX campaign_recipients_customer ON campaign_recipients (customer_id);
