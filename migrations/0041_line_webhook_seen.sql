-- When Tsunagu last received a verified LINE webhook for the channel
-- (written at most once a minute, after the ack). A channel whose webhook
-- belongs to another tool never sets it: the admin then shows the
-- no-webhook mode and the features that need events as unavailable.
ALTER TABLE line_channels ADD COLUMN last_webhook_at {{ts}};
