-- issue 3: customers/* webhooks can arrive out of order; keep the updated_at
-- of the last one applied so an older one is not applied over a newer one.
ALTER TABLE customers ADD COLUMN shopify_updated_at {{ts}};
