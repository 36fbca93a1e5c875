-- Issue 16: the daily cap counts each customer's messages sent since the
-- start of the day, once per campaign recipient at send time. On a database
-- with history (5M messages) messages_customer_kind reached every message
-- of the customer, each a heap read; this index reaches only today's.
CREATE INDEX messages_customer_sent ON messages (customer_id, sent_at) WHERE status = 'sent';
