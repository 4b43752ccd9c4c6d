-- 005: delivery (SPEC §3, §8.2) and runtime settings (§5.3).
--
-- outbox: one outbound call per row, committed in the same transaction as the change
-- that asks for it. A delivery thread per target takes the rows of its target in id
-- order per incident (a comment waits for its issue's create). status moves pending →
-- (uncertain while a create_issue is in flight) → done | dead; dead rows are retried
-- only on request. outbox_attempts is the ledger: one row per call made.
CREATE TABLE outbox (
  id              INTEGER PRIMARY KEY AUTOINCREMENT,
  incident_id     INTEGER REFERENCES incidents (id), -- NULL: an event about no incident
  target          TEXT NOT NULL,
  op              TEXT NOT NULL
                  CHECK (op IN ('create_issue', 'comment', 'close_issue', 'notify')),
  payload         TEXT NOT NULL,
  idempotency_key TEXT NOT NULL,
  status          TEXT NOT NULL DEFAULT 'pending'
                  CHECK (status IN ('pending', 'uncertain', 'done', 'dead')),
  attempts        INTEGER NOT NULL DEFAULT 0,
  next_attempt_at INTEGER NOT NULL,
  last_error      TEXT,
  external_id     TEXT,
  created_at      INTEGER NOT NULL,
  updated_at      INTEGER NOT NULL
) STRICT;
-- The rows a delivery thread may take next: its target's open rows by due time.
CREATE INDEX outbox_due ON outbox (target, status, next_attempt_at);
-- Per-incident order within a target, and an incident's delivery state.
CREATE INDEX outbox_incident ON outbox (incident_id, target, id);
-- The ledger by state (GET /api/outbox?status=, the metrics).
CREATE INDEX outbox_status ON outbox (status, id);

CREATE TABLE outbox_attempts (
  outbox_id   INTEGER NOT NULL REFERENCES outbox (id),
  n           INTEGER NOT NULL,
  started_at  INTEGER NOT NULL,
  finished_at INTEGER,
  http_status INTEGER,
  error       TEXT,
  external_id TEXT,
  PRIMARY KEY (outbox_id, n)
) STRICT;

-- Runtime settings: `tracker` (a whole tracker block, replacing the config file's)
-- and `canary.<name>`. value is JSON text, as validated when it was put.
CREATE TABLE settings (
  key        TEXT PRIMARY KEY,
  value      TEXT NOT NULL,
  updated_at INTEGER NOT NULL,
  updated_by TEXT NOT NULL,
  reason     TEXT NOT NULL
) STRICT;
