-- Delivery at scale (issue 16): retry keys that never collide.
-- One row: this installation's random id, drawn when the schema is created.
-- It salts LINE's X-Line-Retry-Key, so two installations sending on one
-- channel (staging and production) never present each other's keys.
CREATE TABLE installation (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  retry_salt TEXT NOT NULL
);
INSERT INTO installation (id, retry_salt) VALUES (1, {{random_id}});
-- A message's retry key is salt + dedupe key + retry_nonce. A 409 for a key
-- this installation never tried before (attempts <= retry_key_from) names
-- someone else's request: the nonce moves on and the message goes again.
ALTER TABLE messages ADD COLUMN retry_nonce INTEGER NOT NULL DEFAULT 0;
ALTER TABLE messages ADD COLUMN retry_key_from INTEGER NOT NULL DEFAULT 0;
