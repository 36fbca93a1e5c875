-- Expiring offline tokens (Shopify, required for public apps from
-- 2027-01-01): the access token lasts an hour, the refresh token 90 days
-- and rotates on every refresh. The pair and both expiries are written
-- together. token_version grows with every write of the pair, so a writer
-- that read an older pair cannot overwrite a newer one (the fence behind
-- the per-shop refresh lock).
ALTER TABLE shops ADD COLUMN access_token_expires_at {{ts}};
ALTER TABLE shops ADD COLUMN refresh_token_enc {{bytes}};
ALTER TABLE shops ADD COLUMN refresh_token_expires_at {{ts}};
ALTER TABLE shops ADD COLUMN token_refreshed_at {{ts}};
ALTER TABLE shops ADD COLUMN token_version BIGINT NOT NULL DEFAULT 0;
-- Set when no refresh can recover the grant (revoked, uninstalled,
-- expired): Admin API work waits until the shop authorises again.
ALTER TABLE shops ADD COLUMN needs_reauth_at {{ts}};
ALTER TABLE shops ADD COLUMN reauth_reason TEXT NOT NULL DEFAULT '';
-- The daily sweep looks for pairs close to lapsing.
CREATE INDEX shops_refresh_expiry ON shops (refresh_token_expires_at);
