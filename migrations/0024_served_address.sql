-- The public base URL `tsunagu serve` last started with (TSUNAGU_BASE_URL, or
-- the address it listens on). Commands that print links (demo, admin-url,
-- link-url) use it when TSUNAGU_BASE_URL is not set for them, so the links
-- point where the server actually is.
ALTER TABLE installation ADD COLUMN served_base_url TEXT NOT NULL DEFAULT '';
