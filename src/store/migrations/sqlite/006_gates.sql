-- 006: gate inputs (SPEC §10): eval results, daily metrics per agent, canary samples.
--
-- Rows arrive in bulk through POST /api/eval/results, /api/metrics/daily and
-- /api/canary/runs (up to 10,000 per request), so the tables carry few indexes, each
-- one for a query the watcher or the gate report runs (sqlite.c names those queries;
-- tests/unit/test_ingest.c checks their plans). Rows are never deleted by the
-- program and ids are only compared to a high-water mark: plain rowids, no
-- AUTOINCREMENT. CHECKs are written with OR (an IN list of more than two values costs
-- an ephemeral table per row written, see 005). Timestamps are INTEGER milliseconds.

-- One eval result (§10.1). invariants is the canonical JSON array as received;
-- failed_invariants counts its items with passed = false, so the watcher finds the
-- results worth reading without parsing JSON.
CREATE TABLE eval_results (
  id                INTEGER PRIMARY KEY,
  task_id           TEXT NOT NULL,
  agent             TEXT NOT NULL,
  timestamp         INTEGER NOT NULL,
  success           INTEGER NOT NULL CHECK (success = 0 OR success = 1),
  quality_score     REAL,
  latency_ms        REAL,
  cost              REAL,
  invariants        TEXT NOT NULL,
  failed_invariants INTEGER NOT NULL CHECK (failed_invariants >= 0),
  received_at       INTEGER NOT NULL
) STRICT;
-- The watcher's invariant check: WHERE id > ?hwm AND failed_invariants > 0 AND
-- received_at >= ? ORDER BY id. Only results with a failure enter the index; the query
-- spells its WHERE exactly (sqlite.c, EVAL_FAILED).
CREATE INDEX eval_results_failed ON eval_results (id) WHERE failed_invariants > 0;

-- One daily rollup per (agent, date) (§10.2), replaced by a later upload of the same
-- day. date is 'YYYY-MM-DD' (UTC). updated_at is the time of the last upload.
CREATE TABLE agent_metrics_daily (
  agent             TEXT NOT NULL,
  date              TEXT NOT NULL,
  total_runs        INTEGER NOT NULL CHECK (total_runs >= 0),
  successful_runs   INTEGER NOT NULL CHECK (successful_runs >= 0),
  avg_quality_score REAL,
  avg_latency_ms    REAL,
  p50_latency_ms    REAL,
  p95_latency_ms    REAL,
  p99_latency_ms    REAL,
  avg_cost          REAL,
  invariants_passed INTEGER NOT NULL CHECK (invariants_passed >= 0),
  invariants_failed INTEGER NOT NULL CHECK (invariants_failed >= 0),
  updated_at        INTEGER NOT NULL,
  PRIMARY KEY (agent, date)
) STRICT;
-- The watcher: agents with new data (WHERE updated_at > ?).
CREATE INDEX agent_metrics_daily_updated ON agent_metrics_daily (updated_at);
-- The gate report over every agent for a window (WHERE date >= ? AND date < ?).
CREATE INDEX agent_metrics_daily_date ON agent_metrics_daily (date, agent);

-- One run sample of a canary rollout (§10.4).
CREATE TABLE canary_runs (
  id            INTEGER PRIMARY KEY,
  canary        TEXT NOT NULL,
  version       TEXT NOT NULL,
  variant       TEXT NOT NULL CHECK (variant = 'baseline' OR variant = 'canary'),
  quality_score REAL,
  latency_ms    REAL,
  cost          REAL,
  timestamp     INTEGER NOT NULL,
  received_at   INTEGER NOT NULL
) STRICT;
-- The last N runs of a canary (WHERE canary = ? ORDER BY id DESC LIMIT ?), and its runs
-- newer than the watcher's mark (WHERE canary = ? AND id > ?).
CREATE INDEX canary_runs_canary ON canary_runs (canary, id);
