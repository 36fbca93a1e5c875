-- Reliability under faults (issue 18).
-- The relay offers pending events by their next attempt, so events that keep
-- failing cannot starve new ones; NULL means "as soon as received".
ALTER TABLE events ADD COLUMN next_attempt_at {{ts}};
CREATE INDEX events_next_attempt ON events (next_attempt_at) WHERE processed_at IS NULL;
-- Shopify's updated_at of the stored version: an older delivery never
-- overwrites a newer one.
ALTER TABLE orders ADD COLUMN shopify_updated_at {{ts}};
-- After this a message no longer makes sense and is skipped ("expired").
ALTER TABLE messages ADD COLUMN expires_at {{ts}};
-- Periodic work lives here as well as in Redis: the reconciler re-enqueues
-- a due run that Redis lost; the run's handler moves next_at on.
CREATE TABLE schedules (
  name TEXT PRIMARY KEY,
  next_at {{ts}} NOT NULL,
  every_seconds INTEGER NOT NULL,
  last_run_at {{ts}}
);
