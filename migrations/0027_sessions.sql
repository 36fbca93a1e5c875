-- Revocable admin sessions (issue 15, L3). A signed-out cookie is listed
-- here (by its SHA-256) until it would have expired; a staff account's
-- session generation rises on a password change, ending every session
-- signed with an older one.
CREATE TABLE revoked_sessions (
    token_hash TEXT PRIMARY KEY,
    expires_at {{ts}} NOT NULL
);
CREATE INDEX revoked_sessions_expires ON revoked_sessions (expires_at);
ALTER TABLE staff_accounts ADD COLUMN session_gen BIGINT NOT NULL DEFAULT 0;
