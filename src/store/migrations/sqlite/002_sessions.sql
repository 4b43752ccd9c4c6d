-- 002: browser sessions. A session belongs to the token that signed in; revoking
-- the token ends its sessions. Only a keyed hash of the session id is stored.
CREATE TABLE sessions (
  id         INTEGER PRIMARY KEY AUTOINCREMENT,
  hash       BLOB NOT NULL UNIQUE,
  token_id   INTEGER NOT NULL REFERENCES tokens (id),
  created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  ended_at   INTEGER
) STRICT;
CREATE INDEX sessions_token ON sessions (token_id);

-- Servers reload their auth cache when token_version changes.
CREATE TRIGGER sessions_ins AFTER INSERT ON sessions BEGIN
  UPDATE meta SET value = value + 1 WHERE key = 'token_version';
END;
CREATE TRIGGER sessions_upd AFTER UPDATE ON sessions BEGIN
  UPDATE meta SET value = value + 1 WHERE key = 'token_version';
END;
