-- 003: the stored head of the event log, and indexes for retention.
--
-- event_head is one row: the newest event's id and hash and how many events the log
-- retains. The program updates it in the same transaction as every append and every
-- prune (store_event_insert, store_event_prune) — deliberately not by a trigger, so
-- that rows deleted behind the program's back leave it pointing past them and
-- `intervene audit verify` names what is missing.
CREATE TABLE event_head (
  one      INTEGER PRIMARY KEY CHECK (one = 1),
  last_id  INTEGER NOT NULL,
  hash     TEXT NOT NULL,
  retained INTEGER NOT NULL
) STRICT;

INSERT INTO event_head (one, last_id, hash, retained)
SELECT 1,
       coalesce((SELECT max(id) FROM events), 0),
       coalesce((SELECT hash FROM events ORDER BY id DESC LIMIT 1),
                '0000000000000000000000000000000000000000000000000000000000000000'),
       (SELECT count(*) FROM events);

-- Retention deletes idempotency records older than 24 h and dead sessions in chunks.
CREATE INDEX idempotency_created ON idempotency (created_at);
CREATE INDEX sessions_expires ON sessions (expires_at);
