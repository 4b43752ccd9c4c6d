-- 008: playbook actions (SPEC §3 incident_actions, §9).
--
-- One row per plan: dry_run_success | dry_run_failed → approved → running → success |
-- failed | cancelled, and rolled_back once its inverse succeeded. target is the thing
-- the action acts on ("canary:planner", "dbt:/srv/analytics", "es:products"): the
-- partial unique index makes "one running action per target" a fact of the database,
-- so two executes racing for one target cannot both start. inverse is the plan of the
-- undo (params of the inverse action) recorded when the action ran, NULL when the
-- action is not reversible. lease_owner/lease_until: a running row's executor renews
-- the lease; a row whose lease expired was abandoned (SPEC §9.3).
CREATE TABLE incident_actions (
  id           INTEGER PRIMARY KEY,
  incident_id  INTEGER NOT NULL REFERENCES incidents (id),
  action_type  TEXT NOT NULL,
  params       TEXT NOT NULL,
  plan         TEXT NOT NULL,
  plan_hash    TEXT NOT NULL,
  target       TEXT NOT NULL,
  status       TEXT NOT NULL
               CHECK (status = 'dry_run_success' OR status = 'dry_run_failed'
                      OR status = 'approved' OR status = 'running' OR status = 'success'
                      OR status = 'failed' OR status = 'cancelled'
                      OR status = 'rolled_back'),
  requested_by TEXT NOT NULL,
  approved_by  TEXT,
  approved_at  INTEGER,
  executed_by  TEXT,
  started_at   INTEGER,
  finished_at  INTEGER,
  result       TEXT,
  error        TEXT,
  log          TEXT NOT NULL DEFAULT '',
  inverse      TEXT,
  rollback_of  INTEGER REFERENCES incident_actions (id),
  cancel_requested INTEGER NOT NULL DEFAULT 0,
  lease_owner  TEXT,
  lease_until  INTEGER,
  created_at   INTEGER NOT NULL,
  updated_at   INTEGER NOT NULL
) STRICT;
CREATE INDEX incident_actions_incident ON incident_actions (incident_id, id);
CREATE UNIQUE INDEX incident_actions_running ON incident_actions (target)
  WHERE status = 'running';
