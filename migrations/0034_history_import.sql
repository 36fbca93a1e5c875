-- Issue 11: the shop's history, imported with Shopify bulk queries. One row
-- per shop and kind (orders, customers): the bulk operation, its state and
-- the resume cursor. rows_done counts the root objects of the result file
-- that are committed; it moves in the same transaction as the rows it
-- counts, so a crash resumes after the last committed batch, never twice.
CREATE TABLE history_imports (
  id {{pk}},
  shop_id BIGINT NOT NULL REFERENCES shops(id) ON DELETE CASCADE,
  kind TEXT NOT NULL,
  status TEXT NOT NULL DEFAULT 'pending',
  bulk_id TEXT NOT NULL DEFAULT '',
  since {{ts}},
  rows_total BIGINT NOT NULL DEFAULT 0,
  rows_done BIGINT NOT NULL DEFAULT 0,
  rows_written BIGINT NOT NULL DEFAULT 0,
  error TEXT NOT NULL DEFAULT '',
  started_at {{ts}} NOT NULL,
  importing_at {{ts}},
  finished_at {{ts}},
  updated_at {{ts}} NOT NULL,
  UNIQUE (shop_id, kind)
);
