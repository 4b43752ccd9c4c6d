-- 001: incidents, comments, events, silences, tokens, idempotency, meta.
-- Timestamps are INTEGER milliseconds since the epoch (UTC), except events.created_at,
-- which keeps the exact RFC 3339 text that the hash chain covers.

CREATE TABLE meta (
  key   TEXT PRIMARY KEY,
  value ANY NOT NULL
) STRICT;

INSERT INTO meta (key, value) VALUES ('hash_key', randomblob(32));
INSERT INTO meta (key, value) VALUES ('token_version', 0);

CREATE TABLE incidents (
  id              INTEGER PRIMARY KEY AUTOINCREMENT,
  kind            TEXT NOT NULL,
  key             TEXT NOT NULL,
  severity        INTEGER NOT NULL CHECK (severity BETWEEN 1 AND 4),
  status          TEXT NOT NULL CHECK (status = 'open' OR status = 'acknowledged' OR status = 'mitigated' OR status = 'resolved' OR status = 'closed'),
  summary         TEXT NOT NULL,
  details         TEXT NOT NULL DEFAULT '{}',
  source          TEXT NOT NULL,
  playbooks       TEXT NOT NULL DEFAULT '[]',
  assigned_to     TEXT,
  parent_id       INTEGER REFERENCES incidents (id),
  issue_url       TEXT,
  issue_ref       TEXT,
  occurrences     INTEGER NOT NULL DEFAULT 1,
  last_seen_at    INTEGER NOT NULL,
  created_at      INTEGER NOT NULL,
  updated_at      INTEGER NOT NULL,
  acknowledged_at INTEGER,
  acknowledged_by TEXT,
  mitigated_at    INTEGER,
  mitigated_by    TEXT,
  resolved_at     INTEGER,
  resolved_by     TEXT,
  closed_at       INTEGER,
  closed_by       TEXT,
  reopened_at     INTEGER,
  notes           TEXT NOT NULL DEFAULT '{}',
  metadata        TEXT NOT NULL DEFAULT '{}'
) STRICT;

-- At most one active incident per (kind, key), enforced by the database.
CREATE UNIQUE INDEX incidents_active_key ON incidents (kind, key)
  WHERE (status = 'open' OR status = 'acknowledged' OR status = 'mitigated');
CREATE INDEX incidents_key_created ON incidents (kind, key, created_at);
CREATE INDEX incidents_status_created ON incidents (status, created_at);
CREATE INDEX incidents_created ON incidents (created_at);

CREATE TABLE incident_comments (
  id          INTEGER PRIMARY KEY AUTOINCREMENT,
  incident_id INTEGER NOT NULL REFERENCES incidents (id),
  author      TEXT NOT NULL,
  body        TEXT NOT NULL,
  created_at  INTEGER NOT NULL
) STRICT;
CREATE INDEX incident_comments_incident ON incident_comments (incident_id, id);

-- The append-only, hash-chained event log. AUTOINCREMENT: ids are never reused.
CREATE TABLE events (
  id          INTEGER PRIMARY KEY AUTOINCREMENT,
  type        TEXT NOT NULL,
  incident_id INTEGER,
  actor       TEXT NOT NULL,
  data        TEXT NOT NULL,
  created_at  TEXT NOT NULL,
  prev_hash   TEXT NOT NULL,
  hash        TEXT NOT NULL
) STRICT;
CREATE INDEX events_incident ON events (incident_id, id);
CREATE INDEX events_type ON events (type, id);

CREATE TABLE silences (
  id         INTEGER PRIMARY KEY AUTOINCREMENT,
  kind       TEXT,
  key_glob   TEXT NOT NULL,
  reason     TEXT NOT NULL,
  created_by TEXT NOT NULL,
  starts_at  INTEGER NOT NULL,
  ends_at    INTEGER NOT NULL
) STRICT;
CREATE INDEX silences_ends ON silences (ends_at);

CREATE TABLE tokens (
  id         INTEGER PRIMARY KEY AUTOINCREMENT,
  name       TEXT NOT NULL,
  role       TEXT NOT NULL CHECK (role IN ('viewer', 'responder', 'approver', 'admin')),
  hash       BLOB NOT NULL UNIQUE,
  created_at INTEGER NOT NULL,
  created_by TEXT,
  expires_at INTEGER,
  revoked_at INTEGER
) STRICT;
CREATE UNIQUE INDEX tokens_active_name ON tokens (name) WHERE revoked_at IS NULL;

-- Any change to tokens bumps token_version, so servers reload their cache.
CREATE TRIGGER tokens_ins AFTER INSERT ON tokens BEGIN
  UPDATE meta SET value = value + 1 WHERE key = 'token_version';
END;
CREATE TRIGGER tokens_upd AFTER UPDATE ON tokens BEGIN
  UPDATE meta SET value = value + 1 WHERE key = 'token_version';
END;
CREATE TRIGGER tokens_del AFTER DELETE ON tokens BEGIN
  UPDATE meta SET value = value + 1 WHERE key = 'token_version';
END;

CREATE TABLE idempotency (
  scope      TEXT NOT NULL,
  key        TEXT NOT NULL,
  status     INTEGER NOT NULL,
  body       TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  PRIMARY KEY (scope, key)
) STRICT;
