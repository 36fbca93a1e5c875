-- Issue 16: the campaign gate probes, for each recipient of each batch,
-- whether the customer is redacted, how they are linked and how much of
-- today's cap they used. Almost every recipient passes, so these indexes
-- hold the exceptions or only what is probed, and each probe reads a small
-- index instead of the customer row, all the customer's links or every
-- message of the customer's history.
CREATE INDEX customers_redacted ON customers (id) WHERE redacted_at IS NOT NULL;
CREATE INDEX messages_customer_pending ON messages (customer_id, scheduled_for) WHERE status IN ('queued', 'sending');
-- dialect: postgres
CREATE INDEX line_links_live_blocked ON line_links (customer_id) INCLUDE (blocked) WHERE unlinked_at IS NULL;
-- dialect: sqlite
CREATE INDEX line_links_live_blocked ON line_links (customer_id, blocked) WHERE unlinked_at IS NULL;
-- dialect: both
