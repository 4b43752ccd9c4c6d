-- 005: delivery (SPEC §3, §8.2) and runtime settings (§5.3).
--
-- outbox: one outbound call per row, committed in the same transaction as the change
-- that asks for it. A delivery thread per target takes the rows of its target in id
-- order per incident (a comment waits for its issue's create). status moves pending →
-- (uncertain while a create_issue is in flight) → done | dead; dead rows are retried
-- only on request. outbox_attempts is the ledger: one row per call made.
-- The CHECKs are written with OR: SQLite evaluates a constant IN list of more than two
-- values with an ephemeral table built for every row written (as in 001). Rows are
-- never deleted, so plain rowids never repeat: no AUTOINCREMENT (whose sqlite_sequence
-- update would cost every signal that queues a row). The create row is written with
-- each new incident, so the indexes are few and partial: a row enters outbox_open
-- when queued and leaves it when delivered; outbox_dead holds only dead rows. The
-- queries spell the partial indexes' WHERE exactly (sqlite.c, OUTBOX_OPEN).
CREATE TABLE outbox (
  id              INTEGER PRIMARY KEY,
  incident_id     INTEGER REFERENCES incidents (id), -- NULL: an event about no incident
  target          TEXT NOT NULL,
  op              TEXT NOT NULL
                  CHECK (op = 'create_issue' OR op = 'comment' OR op = 'close_issue'
                         OR op = 'notify'),
  payload         TEXT NOT NULL,
  idempotency_key TEXT NOT NULL,
  status          TEXT NOT NULL DEFAULT 'pending'
                  CHECK (status = 'pending' OR status = 'uncertain' OR status = 'done'
                         OR status = 'dead'),
  attempts        INTEGER NOT NULL DEFAULT 0,
  next_attempt_at INTEGER NOT NULL,
  last_error      TEXT,
  external_id     TEXT,
  created_at      INTEGER NOT NULL,
  updated_at      INTEGER NOT NULL
) STRICT;
-- The rows a delivery thread may take next: its target's open rows by due time.
CREATE INDEX outbox_open ON outbox (target, next_attempt_at)
  WHERE status = 'pending' OR status = 'uncertain';
-- Per-incident order within a target, and an incident's delivery state.
CREATE INDEX outbox_incident ON outbox (incident_id, target, id);
-- The ledger's dead rows (GET /api/outbox?status=dead, the metrics).
CREATE INDEX outbox_dead ON outbox (id) WHERE status = 'dead';

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
