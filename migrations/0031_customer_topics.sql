-- Issue 11: the 2025-01 customer topics. Customer payloads no longer carry
-- tags or marketing consent; customer.tags_added / customer.tags_removed and
-- the two consent topics do, each with its own time.

-- One row per tag a customer has or had: the last add or remove wins by the
-- time Shopify says it happened (occurredAt), whatever order the deliveries
-- arrive in. customers.tags is rebuilt from the present rows (segments read it).
CREATE TABLE customer_tags (
  customer_id BIGINT NOT NULL REFERENCES customers(id) ON DELETE CASCADE,
  tag TEXT NOT NULL,
  label TEXT NOT NULL,
  present {{bool}} NOT NULL,
  changed_at {{ts}} NOT NULL,
  PRIMARY KEY (customer_id, tag)
);

-- Marketing consent with the time it was given or withdrawn: an older
-- consent update never overwrites a newer one.
ALTER TABLE customers ADD COLUMN email_consent_state TEXT NOT NULL DEFAULT '';
ALTER TABLE customers ADD COLUMN email_consent_at {{ts}};
ALTER TABLE customers ADD COLUMN sms_marketing {{bool}} NOT NULL DEFAULT FALSE;
ALTER TABLE customers ADD COLUMN sms_consent_state TEXT NOT NULL DEFAULT '';
ALTER TABLE customers ADD COLUMN sms_consent_at {{ts}};
