-- Issue 14: the segment conditions "linked", "friend" and "blocked" (and
-- "friend, not linked") counted on the 1M-customer seed in 0.7-2.9 s: each
-- linked customer's row had to be joined to its live line_links row.
-- customers.link_state is the customer's live link in one column (0 none,
-- 1 linked, 2 linked and a friend who has not blocked, 3 linked and blocked;
-- store.LinkState*), so those conditions read the customer row alone and a
-- count reads this partial index alone. Every store writer of line_links sets
-- it in its own transaction (store.syncLinkState); this fills it once.
ALTER TABLE customers ADD COLUMN link_state INTEGER NOT NULL DEFAULT 0;
-- dialect: postgres
UPDATE customers c SET link_state = CASE WHEN l.blocked THEN 3 WHEN l.friend THEN 2 ELSE 1 END
  FROM line_links l WHERE l.customer_id = c.id AND l.unlinked_at IS NULL;
-- dialect: sqlite
UPDATE customers SET link_state = (SELECT CASE WHEN l.blocked THEN 3 WHEN l.friend THEN 2 ELSE 1 END
  FROM line_links l WHERE l.customer_id = customers.id AND l.unlinked_at IS NULL LIMIT 1)
  WHERE id IN (SELECT customer_id FROM line_links WHERE unlinked_at IS NULL);
-- dialect: both
CREATE INDEX customers_live_link_state ON customers (shop_id, link_state) WHERE redacted_at IS NULL AND link_state > 0;
