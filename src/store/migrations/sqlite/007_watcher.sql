-- 007: the watcher's state (SPEC §10.5) and SLA breaches (§4.4).
--
-- sla_breaches: one row per incident, stage and due time that passed without the stage
-- (or a later one) happening. The primary key is what makes the sla_breached event
-- happen exactly once per incident and stage — also with several instances checking:
-- the insert that adds the row records the event in the same transaction. A reopen
-- starts new clocks (new due times), so a breach after a reopen is a new row.
CREATE TABLE sla_breaches (
  incident_id INTEGER NOT NULL REFERENCES incidents (id),
  stage       TEXT NOT NULL CHECK (stage = 'ack' OR stage = 'mitigate' OR stage = 'resolve'),
  due_at      INTEGER NOT NULL,
  recorded_at INTEGER NOT NULL,
  PRIMARY KEY (incident_id, stage, due_at)
) STRICT, WITHOUT ROWID;

-- watcher_state: the watcher's marks, key → integer. eval_results.high_water,
-- canary_runs.high_water (ids already looked at), agent_metrics_daily.high_water
-- (updated_at already evaluated), and passes:<incident key> (consecutive passing
-- evaluations of a gate incident, for watcher.auto_resolve_after). Written in the same
-- transaction as the signals a check sends, so a crash never counts evidence twice.
CREATE TABLE watcher_state (
  key        TEXT PRIMARY KEY,
  value      INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
