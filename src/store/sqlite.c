/* sqlite.c — the embedded SQLite backend of store.h.
 *
 * One sqlite3 handle per struct store_conn, opened with SQLITE_OPEN_NOMUTEX: the
 * connection belongs to one thread. Every connection runs in WAL mode with
 * synchronous=FULL, so a COMMIT that returned is on disk.
 *
 * Statements: every fixed statement is one line of stmts[] (its SQL, and what it does
 * for error messages). A connection prepares each on first use
 * (SQLITE_PREPARE_PERSISTENT) and keeps it. One use is
 *
 *     struct q q;
 *     if ((rc = q_open(c, S_X, &q, e))) return rc;
 *     q_text(&q, 1, kind); q_i64(&q, 2, since);      binds (errors are kept in q)
 *     while ((rc = q_step(&q)) > 0) ... q_col_*(&q, i) ...
 *     return q_end(&q, rc);                           reset: no snapshot stays open
 *
 * Resetting after every use matters: an open read snapshot would stop the WAL from
 * being reset. Lists with filters build their SQL at run time from fixed fragments
 * (every value bound, never spliced) and keep the prepared shapes in a small LRU
 * cache per connection (q_open_sql).
 *
 * Errors: every SQLite failure goes through sq_err, which maps it to our codes with
 * the database's own message. A stored value that cannot be read back as what its
 * column holds (JSON of the wrong shape, an unknown status, a hash of the wrong
 * length) is ERR_IO naming table, column and row, and is logged: a default in its
 * place would hide damage and could be written back over the real data.
 *
 * Fault injection (fault.h) sits in sq_prepare, q_step and ctl_stmt: an injected
 * failure returns the real result code from the same place, so sq_err and every
 * caller take the same path as for the real one. */
#include <pthread.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/backend.h"
#include "util/embed.h"
#include "util/json.h"
#include "util/log.h"
#include "util/time.h"
#include "util/utf8.h"

extern const struct embedded_file store_sqlite_migrations[];

struct sq_store {
	struct store base;
	char *path;
	/* check_schema runs on reader threads for every /readyz: one read-only handle
	 * with its statement prepared once, shared under probe_mu. */
	pthread_mutex_t probe_mu;
	sqlite3 *probe;
	sqlite3_stmt *probe_version;
};

enum stmt_id {
	S_INC_GET,
	S_INC_ACTIVE,
	S_INC_INSERT,
	S_INC_UPDATE,
	S_INC_TOUCH,
	S_INC_COUNT_SINCE,
	S_INC_COUNTS,
	S_INC_RECENT_KEYS,
	S_COMMENT_INSERT,
	S_COMMENT_COUNT,
	S_COMMENT_LIST,
	S_EVENT_HEAD,
	S_EVENT_SEQ,
	S_EVENT_INSERT,
	S_EVENT_HEAD_APPEND,
	S_EVENT_LATEST,
	S_EVENT_PRUNE_SCAN,
	S_EVENT_PRUNE_DELETE,
	S_EVENT_HEAD_PRUNE,
	S_SILENCE_INSERT,
	S_SILENCE_GET,
	S_SILENCE_SET_END,
	S_SILENCE_ACTIVE,
	S_TOKEN_INSERT,
	S_TOKEN_LIST,
	S_TOKEN_REVOKE,
	S_TOKEN_VERSION,
	S_PROBE_WRITE,
	S_TOKEN_FIND,
	S_SESSION_INSERT,
	S_SESSION_END,
	S_SESSION_LIST,
	S_SESSION_PRUNE,
	S_IDEM_GET,
	S_IDEM_PUT,
	S_IDEM_PRUNE,
	S_OUTBOX_INSERT,
	S_OUTBOX_GET,
	S_OUTBOX_NEXT,
	S_OUTBOX_NEXT_DUE,
	S_OUTBOX_UPDATE,
	S_ATTEMPT_INSERT,
	S_ATTEMPT_LIST,
	S_OUTBOX_COUNT_OPEN,
	S_OUTBOX_COUNT_DEAD,
	S_OUTBOX_OLDEST_OPEN,
	S_OUTBOX_INC_COUNTS,
	S_OUTBOX_INC_CREATE,
	S_OUTBOX_INC_ERROR,
	S_SETTING_GET,
	S_SETTING_PUT,
	S_SETTING_LIST,
	S_SLA_BREACH_INSERT,
	S_WSTATE_GET,
	S_WSTATE_PUT,
	S_EVAL_INSERT,
	S_METRICS_UPSERT,
	S_CANARY_INSERT,
	S_EVAL_FAILED,
	S_METRICS_UPDATED,
	S_METRICS_WINDOW,
	S_METRICS_AGENT_WINDOW,
	S_CANARY_LAST,
	S_CANARY_NEW,
	S_META_HASH_KEY,
	S_SAVEPOINT,
	S_RELEASE,
	S_ROLLBACK_TO,
	S_BEGIN,
	S_COMMIT,
	S_ROLLBACK,
	S_BEGIN_READ,
	S_COUNT
};

/* The incident columns, in the order read_incident() expects. */
#define INC_COLS                                                                                   \
	"id, kind, key, severity, status, summary, details, source, playbooks, assigned_to, "      \
	"parent_id, issue_url, issue_ref, occurrences, last_seen_at, created_at, updated_at, "     \
	"acknowledged_at, acknowledged_by, mitigated_at, mitigated_by, resolved_at, "              \
	"resolved_by, closed_at, closed_by, reopened_at, notes, metadata"

/* The lean columns of list pages, in the order read_incident_lean() expects. */
#define INC_LEAN_COLS                                                                              \
	"id, kind, key, severity, status, summary, assigned_to, occurrences, created_at, "         \
	"updated_at, issue_url, acknowledged_at, mitigated_at, resolved_at, closed_at, "           \
	"reopened_at, last_seen_at"

#define SILENCE_COLS "id, kind, key_glob, reason, created_by, starts_at, ends_at"
#define TOKEN_COLS   "id, name, role, hash, created_at, expires_at, revoked_at, created_by"
#define EVENT_COLS   "id, type, incident_id, actor, data, created_at, prev_hash, hash"

/* The outbox columns, in the order read_outbox() expects. */
#define OUTBOX_COLS                                                                                \
	"id, incident_id, target, op, payload, idempotency_key, status, attempts, "                \
	"next_attempt_at, last_error, external_id, created_at, updated_at"

/* Open rows, written as the WHERE of the partial index outbox_open (005) so that the
 * planner can use it; "dead" likewise matches outbox_dead. */
#define OUTBOX_OPEN "(status = 'pending' OR status = 'uncertain')"

/* Row o is the first of its incident and target that is not done. */
#define OUTBOX_FIRST                                                                               \
	"NOT EXISTS (SELECT 1 FROM outbox p WHERE p.incident_id IS o.incident_id AND p.target = "  \
	"o.target AND p.id < o.id AND p.status <> 'done')"

/* Results with a failed invariant, written as the WHERE of the partial index
 * eval_results_failed (006) so that the planner can use it. */
#define EVAL_FAILED "failed_invariants > 0"

#define METRICS_COLS                                                                               \
	"agent, date, total_runs, successful_runs, avg_quality_score, avg_latency_ms, "            \
	"p50_latency_ms, p95_latency_ms, p99_latency_ms, avg_cost, invariants_passed, "            \
	"invariants_failed, updated_at"

#define CANARY_COLS                                                                                \
	"id, canary, version, variant, quality_score, latency_ms, cost, timestamp, received_at"

#define ACTIVE_SQL "(status = 'open' OR status = 'acknowledged' OR status = 'mitigated')"

static const struct stmt_def {
	const char *sql;
	const char *what; /* for messages: "storage: <what>: <SQLite's message>" */
} stmts[S_COUNT] = {
	[S_INC_GET] = {"SELECT " INC_COLS " FROM incidents WHERE id = ?1", "read incident"},
	[S_INC_ACTIVE] = {"SELECT " INC_COLS
			  " FROM incidents WHERE kind = ?1 AND key = ?2 AND " ACTIVE_SQL,
			  "find active incident"},
	/* No RETURNING: SQLite materialises RETURNING rows in an ephemeral table, which
	 * costs more than the insert itself; the rowid is the id. */
	[S_INC_INSERT] = {"INSERT INTO incidents (kind, key, severity, status, summary, details, "
			  "source, playbooks, assigned_to, parent_id, issue_url, issue_ref, "
			  "occurrences, last_seen_at, created_at, updated_at, acknowledged_at, "
			  "acknowledged_by, mitigated_at, mitigated_by, resolved_at, resolved_by, "
			  "closed_at, closed_by, reopened_at, notes, metadata) VALUES (?2, ?3, ?4, "
			  "?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, "
			  "?20, ?21, ?22, ?23, ?24, ?25, ?26, ?27, ?28)",
			  "insert incident"},
	[S_INC_UPDATE] = {"UPDATE incidents SET kind = ?2, key = ?3, severity = ?4, status = ?5, "
			  "summary = ?6, details = ?7, source = ?8, playbooks = ?9, "
			  "assigned_to = ?10, parent_id = ?11, issue_url = ?12, issue_ref = ?13, "
			  "occurrences = ?14, last_seen_at = ?15, created_at = ?16, "
			  "updated_at = ?17, acknowledged_at = ?18, acknowledged_by = ?19, "
			  "mitigated_at = ?20, mitigated_by = ?21, resolved_at = ?22, "
			  "resolved_by = ?23, closed_at = ?24, closed_by = ?25, reopened_at = ?26, "
			  "notes = ?27, metadata = ?28 WHERE id = ?1",
			  "update incident"},
	[S_INC_TOUCH] = {"UPDATE incidents SET occurrences = ?2, last_seen_at = ?3, severity = ?4, "
			 "updated_at = ?3 WHERE id = ?1",
			 "update incident"},
	[S_INC_COUNT_SINCE] = {"SELECT count(*) FROM incidents WHERE kind = ?1 AND key = ?2 AND "
			       "created_at >= ?3",
			       "count incidents"},
	[S_INC_COUNTS] = {"SELECT status, severity, count(*) FROM incidents GROUP BY status, "
			  "severity",
			  "count incidents"},
	[S_INC_RECENT_KEYS] = {"SELECT kind, key, max(created_at) AS m FROM incidents WHERE "
			       "created_at >= ?1 GROUP BY kind, key ORDER BY m DESC LIMIT ?2",
			       "recent keys"},
	[S_COMMENT_INSERT] = {"INSERT INTO incident_comments (incident_id, author, body, "
			      "created_at) VALUES (?1, ?2, ?3, ?4)",
			      "insert comment"},
	[S_COMMENT_COUNT] = {"SELECT count(*) FROM incident_comments WHERE incident_id = ?1",
			     "count comments"},
	[S_COMMENT_LIST] = {"SELECT id, incident_id, author, body, created_at FROM "
			    "incident_comments WHERE incident_id = ?1 ORDER BY id LIMIT ?2 "
			    "OFFSET ?3",
			    "list comments"},
	[S_EVENT_HEAD] = {"SELECT last_id, hash, retained FROM event_head WHERE one = 1",
			  "read the event log's head"},
	[S_EVENT_SEQ] = {"SELECT seq FROM sqlite_sequence WHERE name = 'events'", "event sequence"},
	[S_EVENT_INSERT] = {"INSERT INTO events (" EVENT_COLS ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, "
			    "?7, ?8)",
			    "append event"},
	[S_EVENT_HEAD_APPEND] = {"UPDATE event_head SET last_id = ?1, hash = ?2, retained = "
				 "retained + 1 WHERE one = 1",
				 "append event"},
	[S_EVENT_LATEST] = {"SELECT " EVENT_COLS " FROM events WHERE type = ?1 ORDER BY id DESC "
			    "LIMIT 1",
			    "read latest event"},
	/* Whether each of the oldest events may go: old enough, and of no incident or of
	 * an incident closed long enough ago (an event of a missing incident stays). */
	[S_EVENT_PRUNE_SCAN] = {"SELECT e.id, e.hash, e.created_at < ?1 AND (e.incident_id IS "
				"NULL OR (i.status = 'closed' AND i.closed_at < ?2)) FROM events e "
				"LEFT JOIN incidents i ON i.id = e.incident_id ORDER BY e.id "
				"LIMIT ?3",
				"find prunable events"},
	[S_EVENT_PRUNE_DELETE] = {"DELETE FROM events WHERE id <= ?1", "prune events"},
	[S_EVENT_HEAD_PRUNE] = {"UPDATE event_head SET retained = retained - ?1 WHERE one = 1",
				"prune events"},
	[S_SILENCE_INSERT] = {"INSERT INTO silences (kind, key_glob, reason, created_by, "
			      "starts_at, ends_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
			      "insert silence"},
	[S_SILENCE_GET] = {"SELECT " SILENCE_COLS " FROM silences WHERE id = ?1", "read silence"},
	[S_SILENCE_SET_END] = {"UPDATE silences SET ends_at = ?2 WHERE id = ?1", "end silence"},
	[S_SILENCE_ACTIVE] = {"SELECT " SILENCE_COLS " FROM silences WHERE starts_at <= ?1 AND "
			      "ends_at > ?1 ORDER BY id DESC",
			      "list silences"},
	[S_TOKEN_INSERT] = {"INSERT INTO tokens (name, role, hash, created_at, created_by, "
			    "expires_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
			    "insert token"},
	[S_TOKEN_LIST] = {"SELECT " TOKEN_COLS " FROM tokens ORDER BY id", "list tokens"},
	[S_TOKEN_REVOKE] = {"UPDATE tokens SET revoked_at = ?2 WHERE name = ?1 AND revoked_at "
			    "IS NULL RETURNING " TOKEN_COLS,
			    "revoke token"},
	[S_TOKEN_VERSION] = {"SELECT value FROM meta WHERE key = 'token_version'", "token version"},
	/* Rewrites one row with its own value: the page is written, so the commit really
	 * goes to the disk, and nothing changes. */
	[S_PROBE_WRITE] = {"UPDATE meta SET value = value WHERE key = 'token_version'",
			   "probe write"},
	[S_TOKEN_FIND] = {"SELECT " TOKEN_COLS " FROM tokens WHERE hash = ?1", "find token"},
	[S_SESSION_INSERT] = {"INSERT INTO sessions (hash, token_id, created_at, expires_at) "
			      "VALUES (?1, ?2, ?3, ?4)",
			      "insert session"},
	[S_SESSION_END] = {"UPDATE sessions SET ended_at = ?2 WHERE hash = ?1 AND ended_at IS "
			   "NULL",
			   "end session"},
	[S_SESSION_LIST] =
		{"SELECT s.id, s.hash, t.name, t.role, s.expires_at FROM sessions s JOIN "
		 "tokens t ON t.id = s.token_id WHERE s.ended_at IS NULL AND "
		 "s.expires_at > ?1 AND t.revoked_at IS NULL AND (t.expires_at IS NULL "
		 "OR t.expires_at > ?1)",
		 "list sessions"},
	[S_SESSION_PRUNE] = {"DELETE FROM sessions WHERE id IN (SELECT s.id FROM sessions s JOIN "
			     "tokens t ON t.id = s.token_id WHERE s.ended_at IS NOT NULL OR "
			     "s.expires_at <= ?1 OR t.revoked_at IS NOT NULL OR (t.expires_at IS "
			     "NOT NULL AND t.expires_at <= ?1) LIMIT ?2)",
			     "prune sessions"},
	[S_IDEM_GET] = {"SELECT status, body FROM idempotency WHERE scope = ?1 AND key = ?2 AND "
			"created_at >= ?3",
			"idempotency lookup"},
	[S_IDEM_PUT] = {"INSERT OR REPLACE INTO idempotency (scope, key, status, body, "
			"created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
			"idempotency store"},
	[S_IDEM_PRUNE] = {"DELETE FROM idempotency WHERE rowid IN (SELECT rowid FROM idempotency "
			  "WHERE created_at < ?1 ORDER BY created_at LIMIT ?2)",
			  "prune idempotency records"},
	[S_OUTBOX_INSERT] = {"INSERT INTO outbox (incident_id, target, op, payload, "
			     "idempotency_key, status, attempts, next_attempt_at, created_at, "
			     "updated_at) VALUES (?1, ?2, ?3, ?4, ?5, 'pending', 0, ?6, ?7, ?7)",
			     "queue a delivery"},
	[S_OUTBOX_GET] = {"SELECT " OUTBOX_COLS " FROM outbox WHERE id = ?1", "read a delivery"},
	/* The first open row of each (incident, target) may go; an earlier row that is not
	 * done (pending, uncertain or dead) holds the rows behind it. */
	[S_OUTBOX_NEXT] =
		{"SELECT " OUTBOX_COLS " FROM outbox o WHERE o.target = ?1 AND "
		 "(o.status = 'pending' OR o.status = 'uncertain') AND o.next_attempt_at <= ?2 "
		 "AND " OUTBOX_FIRST " ORDER BY o.id LIMIT 1",
		 "take the next delivery"},
	[S_OUTBOX_NEXT_DUE] =
		{"SELECT min(o.next_attempt_at) FROM outbox o WHERE o.target = ?1 "
		 "AND (o.status = 'pending' OR o.status = 'uncertain') AND " OUTBOX_FIRST,
		 "find the next delivery's time"},
	[S_OUTBOX_UPDATE] = {"UPDATE outbox SET status = ?2, attempts = ?3, next_attempt_at = ?4, "
			     "last_error = ?5, external_id = ?6, updated_at = ?7 WHERE id = ?1",
			     "update a delivery"},
	[S_ATTEMPT_INSERT] = {"INSERT INTO outbox_attempts (outbox_id, n, started_at, "
			      "finished_at, http_status, error, external_id) VALUES (?1, "
			      "(SELECT coalesce(max(n), 0) + 1 FROM outbox_attempts WHERE "
			      "outbox_id = ?1), ?2, ?3, ?4, ?5, ?6)",
			      "record a delivery attempt"},
	[S_ATTEMPT_LIST] = {"SELECT outbox_id, n, started_at, finished_at, http_status, error, "
			    "external_id FROM outbox_attempts WHERE outbox_id = ?1 ORDER BY n",
			    "list delivery attempts"},
	[S_OUTBOX_COUNT_OPEN] = {"SELECT count(*) FROM outbox WHERE " OUTBOX_OPEN,
				 "count open deliveries"},
	[S_OUTBOX_COUNT_DEAD] = {"SELECT count(*) FROM outbox WHERE status = 'dead'",
				 "count dead deliveries"},
	[S_OUTBOX_OLDEST_OPEN] = {"SELECT min(created_at) FROM outbox WHERE " OUTBOX_OPEN,
				  "find the oldest open delivery"},
	[S_OUTBOX_INC_COUNTS] = {"SELECT status, count(*) FROM outbox WHERE incident_id = ?1 "
				 "GROUP BY status",
				 "count an incident's deliveries"},
	[S_OUTBOX_INC_CREATE] = {"SELECT target FROM outbox WHERE incident_id = ?1 AND op = "
				 "'create_issue' ORDER BY id LIMIT 1",
				 "find an incident's issue target"},
	[S_OUTBOX_INC_ERROR] = {"SELECT last_error FROM outbox WHERE incident_id = ?1 AND status "
				"= 'dead' ORDER BY id DESC LIMIT 1",
				"find an incident's delivery error"},
	[S_SETTING_GET] = {"SELECT key, value, updated_at, updated_by, reason FROM settings WHERE "
			   "key = ?1",
			   "read a setting"},
	[S_SETTING_PUT] = {"INSERT OR REPLACE INTO settings (key, value, updated_at, updated_by, "
			   "reason) VALUES (?1, ?2, ?3, ?4, ?5)",
			   "store a setting"},
	[S_SETTING_LIST] = {"SELECT key, value, updated_at, updated_by, reason FROM settings "
			    "ORDER BY key",
			    "list settings"},
	[S_SLA_BREACH_INSERT] = {"INSERT INTO sla_breaches (incident_id, stage, due_at, "
				 "recorded_at) VALUES (?1, ?2, ?3, ?4) ON CONFLICT DO NOTHING",
				 "record an SLA breach"},
	[S_WSTATE_GET] = {"SELECT value FROM watcher_state WHERE key = ?1", "read watcher state"},
	[S_WSTATE_PUT] = {"INSERT INTO watcher_state (key, value, updated_at) VALUES (?1, ?2, ?3) "
			  "ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = "
			  "excluded.updated_at",
			  "write watcher state"},
	[S_EVAL_INSERT] = {"INSERT INTO eval_results (task_id, agent, timestamp, success, "
			   "quality_score, latency_ms, cost, invariants, failed_invariants, "
			   "received_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
			   "store an eval result"},
	[S_METRICS_UPSERT] =
		{"INSERT INTO agent_metrics_daily (" METRICS_COLS ") VALUES (?1, ?2, "
		 "?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13) ON CONFLICT (agent, "
		 "date) DO UPDATE SET total_runs = excluded.total_runs, "
		 "successful_runs = excluded.successful_runs, avg_quality_score = "
		 "excluded.avg_quality_score, avg_latency_ms = excluded.avg_latency_ms, "
		 "p50_latency_ms = excluded.p50_latency_ms, p95_latency_ms = "
		 "excluded.p95_latency_ms, p99_latency_ms = excluded.p99_latency_ms, "
		 "avg_cost = excluded.avg_cost, invariants_passed = "
		 "excluded.invariants_passed, invariants_failed = "
		 "excluded.invariants_failed, updated_at = excluded.updated_at",
		 "store daily metrics"},
	[S_CANARY_INSERT] =
		{"INSERT INTO canary_runs (canary, version, variant, quality_score, "
		 "latency_ms, cost, timestamp, received_at) VALUES (?1, ?2, ?3, ?4, ?5, "
		 "?6, ?7, ?8)",
		 "store a canary run"},
	/* The watcher's and the gate report's queries (SPEC §10.5); their plans are
	 * checked by tests/unit/test_ingest_plan.c. */
	[S_EVAL_FAILED] = {"SELECT id, task_id, agent, timestamp, invariants FROM eval_results "
			   "WHERE id > ?1 AND " EVAL_FAILED " AND received_at >= ?2 ORDER BY id "
			   "LIMIT ?3",
			   "find failed invariants"},
	[S_METRICS_UPDATED] = {"SELECT agent, date, updated_at FROM agent_metrics_daily WHERE "
			       "updated_at > ?1 ORDER BY updated_at",
			       "find new daily metrics"},
	[S_METRICS_WINDOW] = {"SELECT " METRICS_COLS " FROM agent_metrics_daily WHERE date >= ?1 "
			      "AND date < ?2 ORDER BY date, agent",
			      "read daily metrics"},
	[S_METRICS_AGENT_WINDOW] = {"SELECT " METRICS_COLS " FROM agent_metrics_daily WHERE agent "
				    "= ?1 AND date >= ?2 AND date < ?3 ORDER BY date",
				    "read an agent's daily metrics"},
	[S_CANARY_LAST] = {"SELECT " CANARY_COLS " FROM canary_runs WHERE canary = ?1 ORDER BY id "
			   "DESC LIMIT ?2",
			   "read a canary's runs"},
	[S_CANARY_NEW] = {"SELECT id, canary FROM canary_runs WHERE id > ?1 ORDER BY id",
			  "find new canary runs"},
	[S_META_HASH_KEY] = {"SELECT value FROM meta WHERE key = 'hash_key'", "read hash key"},
	[S_SAVEPOINT] = {"SAVEPOINT job", "savepoint"},
	[S_RELEASE] = {"RELEASE job", "release savepoint"},
	[S_ROLLBACK_TO] = {"ROLLBACK TO job", "roll back to savepoint"},
	[S_BEGIN] = {"BEGIN IMMEDIATE", "begin"},
	[S_COMMIT] = {"COMMIT", "commit"},
	[S_ROLLBACK] = {"ROLLBACK", "rollback"},
	[S_BEGIN_READ] = {"BEGIN", "begin read"},
};

/* Shapes of run-time SQL kept per connection: list filters combine into few shapes in
 * practice; beyond this the least recently used one is finalized. */
#define DYN_MAX 32

/* How long a statement waits for a lock held by another connection or process. */
#define BUSY_TIMEOUT_MS 10000

/* The size the WAL file is truncated back to when the log restarts (16 MiB: twice
 * what WAL_RESTART_FRAMES lets it reach between restarts). */
#define WAL_SIZE_LIMIT "16777216"

/* How long the writer waits for readers to leave the WAL when it restarts it. Reader
 * jobs are one short transaction each, but a busy machine can deschedule one for a
 * while; after a miss the next commit tries again and waits twice as long, up to
 * 16 times this, so the log cannot keep growing while the readers run late. */
#define WAL_RESTART_WAIT_MS 200

struct sq_conn {
	struct store_conn base;
	sqlite3 *db;
	bool readonly;
	sqlite3_stmt *stmt[S_COUNT];
	int wal_frames;		 /* frames in the WAL after the last commit (writer only) */
	int injected;		 /* result code of the fault injected by the current call, or 0 */
	unsigned restart_misses; /* WAL restarts in a row that readers kept from completing */
	struct {
		char *sql;
		sqlite3_stmt *st;
		unsigned long used; /* dyn_clock at the last use */
	} dyn[DYN_MAX];
	unsigned long dyn_clock;
};

static const struct store_ops sq_ops;

static struct sq_conn *SQ(struct store_conn *c)
{
	return (struct sq_conn *)c;
}

/* Map a SQLite result to our codes, with the database's own message (for an
 * injected fault: SQLite's text for the code, marked as injected). */
static int sq_err(struct sq_conn *c, int rc, struct err *e, const char *what)
{
	bool injected = c->injected && c->injected == rc;
	int ext = injected ? rc : sqlite3_extended_errcode(c->db);
	const char *msg = injected ? sqlite3_errstr(rc) : sqlite3_errmsg(c->db);
	c->injected = 0;
	int code = ERR_IO;
	if ((rc & 0xff) == SQLITE_CONSTRAINT &&
	    (ext == SQLITE_CONSTRAINT_UNIQUE || ext == SQLITE_CONSTRAINT_PRIMARYKEY))
		code = ERR_CONFLICT;
	else if ((rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED)
		code = ERR_BUSY;
	return err_set(e, code, "storage: %s: %s%s", what, msg,
		       injected ? " (injected fault)" : "");
}

/* Ask the fault layer before op: the SQLite code to fail the call with, or
 * SQLITE_OK. A lost transaction is rolled back here, as SQLite itself may do on a
 * real disk-full or I/O error. */
static int sq_fault(struct sq_conn *c, enum store_fault_op op)
{
	bool lose = false;
	enum store_fault_error f = store_fault_check(c->base.fault, op, c->base.writer, &lose);
	c->injected = f == STORE_FAULT_FULL    ? SQLITE_FULL
		      : f == STORE_FAULT_IOERR ? SQLITE_IOERR
		      : f == STORE_FAULT_BUSY  ? SQLITE_BUSY
					       : SQLITE_OK;
	if (lose && !sqlite3_get_autocommit(c->db))
		sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
	return c->injected;
}

static int sq_prepare(struct sq_conn *c, const char *sql, sqlite3_stmt **out)
{
	int rc = sq_fault(c, STORE_FAULT_PREPARE);
	if (rc != SQLITE_OK)
		return rc;
	return sqlite3_prepare_v3(c->db, sql, -1, SQLITE_PREPARE_PERSISTENT, out, NULL);
}

/* ---- the statement helper ---- */

/* One use of a prepared statement. rc keeps the first error of a bind or of reading a
 * column, so binds need no checks of their own: q_step reports it. */
struct q {
	struct sq_conn *c;
	sqlite3_stmt *st;
	const char *what;
	struct err *e;
	int rc;
	const char *table; /* of the row being read, for messages about its values */
	int64_t row;
};

static int q_open(struct sq_conn *c, enum stmt_id id, struct q *q, struct err *e)
{
	*q = (struct q){.c = c, .what = stmts[id].what, .e = e};
	if (!c->stmt[id]) {
		int rc = sq_prepare(c, stmts[id].sql, &c->stmt[id]);
		if (rc != SQLITE_OK)
			return sq_err(c, rc, e, stmts[id].what);
	}
	q->st = c->stmt[id];
	return 0;
}

/* A statement built at run time, from the connection's cache of shapes. */
static int q_open_sql(struct sq_conn *c, const char *sql, const char *what, struct q *q,
		      struct err *e)
{
	*q = (struct q){.c = c, .what = what, .e = e};
	int slot = -1, lru = -1;
	for (int i = 0; i < DYN_MAX; i++) {
		if (!c->dyn[i].sql) {
			if (slot < 0)
				slot = i;
		} else if (!strcmp(c->dyn[i].sql, sql)) {
			c->dyn[i].used = ++c->dyn_clock;
			q->st = c->dyn[i].st;
			return 0;
		} else if (lru < 0 || c->dyn[i].used < c->dyn[lru].used) {
			lru = i;
		}
	}
	if (slot < 0) {
		slot = lru;
		/* Its last use was reset by q_end; finalize only repeats old errors. */
		sqlite3_finalize(c->dyn[slot].st);
		free(c->dyn[slot].sql);
		c->dyn[slot].sql = NULL;
		c->dyn[slot].st = NULL;
	}
	sqlite3_stmt *st = NULL;
	int rc = sq_prepare(c, sql, &st);
	if (rc != SQLITE_OK)
		return sq_err(c, rc, e, what);
	c->dyn[slot].sql = xstrdup(sql);
	c->dyn[slot].st = st;
	c->dyn[slot].used = ++c->dyn_clock;
	q->st = st;
	return 0;
}

static void q_bound(struct q *q, int rc)
{
	if (rc != SQLITE_OK && !q->rc)
		q->rc = sq_err(q->c, rc, q->e, q->what);
}

/* NULL binds SQL NULL. */
static void q_text(struct q *q, int i, const char *s)
{
	q_bound(q, s ? sqlite3_bind_text(q->st, i, s, -1, SQLITE_TRANSIENT)
		     : sqlite3_bind_null(q->st, i));
}

static void q_i64(struct q *q, int i, int64_t v)
{
	q_bound(q, sqlite3_bind_int64(q->st, i, v));
}

/* Timestamps and optional ids: 0 binds SQL NULL. */
static void q_opt(struct q *q, int i, int64_t v)
{
	q_bound(q, v ? sqlite3_bind_int64(q->st, i, v) : sqlite3_bind_null(q->st, i));
}

static void q_blob(struct q *q, int i, const void *p, int n)
{
	q_bound(q, sqlite3_bind_blob(q->st, i, p, n, SQLITE_TRANSIENT));
}

/* Canonical JSON text of v; dflt (may be NULL: SQL NULL) when v is NULL. */
static void q_json(struct q *q, int i, const json_t *v, const char *dflt)
{
	if (!v) {
		q_text(q, i, dflt);
		return;
	}
	/* sqlite3_bind_text calls the destructor itself when binding fails. */
	q_bound(q, sqlite3_bind_text(q->st, i, json_canon(v), -1, free));
}

/* 1: a row is ready; 0: done; < 0: an error (in q->e). */
static int q_step(struct q *q)
{
	if (q->rc)
		return q->rc;
	int rc = sq_fault(q->c, STORE_FAULT_STEP);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(q->st);
	if (rc == SQLITE_ROW)
		return 1;
	if (rc == SQLITE_DONE)
		return 0;
	return q->rc = sq_err(q->c, rc, q->e, q->what);
}

/* Step a statement that returns no rows. */
static int q_exec(struct q *q)
{
	int rc = q_step(q);
	return rc > 0 ? 0 : rc;
}

/* Finish the use: reset (ending any read snapshot) and unbind. Returns rc, or the
 * first error the use recorded. */
static int q_end(struct q *q, int rc)
{
	if (q->st) {
		/* reset repeats the last step's error, which q_step has reported */
		sqlite3_reset(q->st);
		sqlite3_clear_bindings(q->st);
	}
	if (rc > 0)
		rc = 0;
	return rc ? rc : q->rc;
}

static int64_t q_col_i64(struct q *q, int i)
{
	return sqlite3_column_int64(q->st, i);
}

/* The row being read is row of table (for q_bad's message). */
static void q_row(struct q *q, const char *table, int64_t row)
{
	q->table = table;
	q->row = row;
}

/* A stored value of the current row cannot be what its column holds: ERR_IO naming
 * it, logged, kept as the use's error (the first one only). */
__attribute__((format(printf, 3, 4))) static void q_bad(struct q *q, const char *col,
							const char *fmt, ...)
{
	if (q->rc)
		return;
	char why[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, sizeof why, fmt, ap);
	va_end(ap);
	char row[40] = "";
	/* aggregates and keyed rows (meta) have no row id to name */
	if (q->row > 0)
		snprintf(row, sizeof row, " of row %lld", (long long)q->row);
	const char *table = q->table ? q->table : q->what;
	q->rc = err_set(q->e, ERR_IO, "storage: %s.%s%s %s", table, col, row, why);
	log_error("stored value cannot be read", "table=\"%s\" column=%s row=%lld problem=\"%s\"",
		  table, col, (long long)q->row, why);
}

/* A borrowed string (NULL for SQL NULL), valid until the next step or q_end. */
static const char *q_col_str(struct q *q, int i)
{
	int type = sqlite3_column_type(q->st, i);
	const char *t = (const char *)sqlite3_column_text(q->st, i);
	if (!t && type != SQLITE_NULL && !q->rc)
		q->rc = err_set(q->e, ERR_NOMEM, "storage: %s: out of memory reading a column",
				q->what);
	/* Text is stored only after validation, so anything else is damage: reported,
	 * never passed on to become JSON (jansson refuses it; jpack would abort). */
	if (t && !utf8_valid(t, (size_t)sqlite3_column_bytes(q->st, i)))
		q_bad(q, sqlite3_column_name(q->st, i), "is not UTF-8 text");
	return t;
}

/* A malloc'd copy (NULL for SQL NULL). */
static char *q_col_dup(struct q *q, int i)
{
	return xstrdup(q_col_str(q, i));
}

enum json_shape { J_OBJECT, J_ARRAY, J_OBJECT_OR_NULL };

/* The JSON value of column i (NULL only where shape allows SQL NULL); on a value that
 * does not parse or has the wrong shape, NULL and q_bad. */
static json_t *q_col_json(struct q *q, int i, const char *col, enum json_shape shape)
{
	if (sqlite3_column_type(q->st, i) == SQLITE_NULL) {
		if (shape != J_OBJECT_OR_NULL)
			q_bad(q, col, "is NULL instead of JSON");
		return NULL;
	}
	const char *t = q_col_str(q, i);
	if (!t)
		return NULL;
	json_error_t je;
	json_t *v = json_loads(t, JSON_DECODE_ANY, &je);
	if (!v) {
		q_bad(q, col, "is not valid JSON (%s)", je.text);
		return NULL;
	}
	if (shape == J_ARRAY ? !json_is_array(v) : !json_is_object(v)) {
		q_bad(q, col, "is not a JSON %s", shape == J_ARRAY ? "array" : "object");
		json_decref(v);
		return NULL;
	}
	return v;
}

static enum incident_status q_col_status(struct q *q, int i)
{
	enum incident_status st = ST_OPEN;
	const char *t = q_col_str(q, i);
	if (!incident_status_parse(t, &st))
		q_bad(q, "status", "has the unknown status '%.40s'", t ? t : "(NULL)");
	return st;
}

static int q_col_severity(struct q *q, int i)
{
	int64_t v = q_col_i64(q, i);
	if (v < 1 || v > 4)
		q_bad(q, "severity", "has the severity %lld, outside 1..4", (long long)v);
	return (int)v;
}

/* A 32-byte blob (token and session hashes) into out. */
static void q_col_hash32(struct q *q, int i, const char *col, unsigned char out[32])
{
	const void *p = sqlite3_column_blob(q->st, i);
	int n = sqlite3_column_bytes(q->st, i);
	if (n != 32 || !p) {
		q_bad(q, col, "holds %d bytes instead of a 32-byte hash", n);
		memset(out, 0, 32);
		return;
	}
	memcpy(out, p, 32);
}

/* Text of at most cap - 1 bytes (fixed-size fields of struct event) into out; exactly
 * len bytes when len > 0. */
static void q_col_fixed(struct q *q, int i, const char *col, char *out, size_t cap, size_t len)
{
	const char *t = q_col_str(q, i);
	size_t n = t ? strlen(t) : 0;
	if (!t || n >= cap || (len && n != len)) {
		q_bad(q, col, "is not a %s", len ? "64-digit hash" : "timestamp");
		out[0] = '\0';
		return;
	}
	memcpy(out, t, n + 1);
}

/* Run a transaction statement, counted (and failed when injected) as op rather than
 * as a step; STORE_FAULT_OPS: never injected. */
static int ctl_stmt(struct sq_conn *c, enum stmt_id id, enum store_fault_op op, struct err *e)
{
	struct q q;
	int rc = q_open(c, id, &q, e);
	if (rc)
		return rc;
	rc = op < STORE_FAULT_OPS ? sq_fault(c, op) : SQLITE_OK;
	if (rc == SQLITE_OK)
		rc = sqlite3_step(q.st);
	if (rc != SQLITE_DONE && rc != SQLITE_ROW)
		rc = sq_err(c, rc, e, q.what);
	else
		rc = 0;
	return q_end(&q, rc);
}

/* ---- rows ---- */

/* Read the current row into *o (released again when a value is bad): q->rc. */
static int read_incident(struct q *q, struct incident *o)
{
	memset(o, 0, sizeof *o);
	o->id = q_col_i64(q, 0);
	q_row(q, "incidents", o->id);
	o->kind = q_col_dup(q, 1);
	o->key = q_col_dup(q, 2);
	o->severity = q_col_severity(q, 3);
	o->status = q_col_status(q, 4);
	o->summary = q_col_dup(q, 5);
	o->details = q_col_json(q, 6, "details", J_OBJECT);
	o->source = q_col_dup(q, 7);
	o->playbooks = q_col_json(q, 8, "playbooks", J_ARRAY);
	o->assigned_to = q_col_dup(q, 9);
	o->parent_id = q_col_i64(q, 10);
	o->issue_url = q_col_dup(q, 11);
	o->issue_ref = q_col_json(q, 12, "issue_ref", J_OBJECT_OR_NULL);
	o->occurrences = q_col_i64(q, 13);
	o->last_seen_at = q_col_i64(q, 14);
	o->created_at = q_col_i64(q, 15);
	o->updated_at = q_col_i64(q, 16);
	o->acknowledged_at = q_col_i64(q, 17);
	o->acknowledged_by = q_col_dup(q, 18);
	o->mitigated_at = q_col_i64(q, 19);
	o->mitigated_by = q_col_dup(q, 20);
	o->resolved_at = q_col_i64(q, 21);
	o->resolved_by = q_col_dup(q, 22);
	o->closed_at = q_col_i64(q, 23);
	o->closed_by = q_col_dup(q, 24);
	o->reopened_at = q_col_i64(q, 25);
	o->notes = q_col_json(q, 26, "notes", J_OBJECT);
	o->metadata = q_col_json(q, 27, "metadata", J_OBJECT);
	if (q->rc)
		incident_clear(o);
	return q->rc;
}

static int read_incident_lean(struct q *q, struct incident *o)
{
	memset(o, 0, sizeof *o);
	o->id = q_col_i64(q, 0);
	q_row(q, "incidents", o->id);
	o->kind = q_col_dup(q, 1);
	o->key = q_col_dup(q, 2);
	o->severity = q_col_severity(q, 3);
	o->status = q_col_status(q, 4);
	o->summary = q_col_dup(q, 5);
	o->assigned_to = q_col_dup(q, 6);
	o->occurrences = q_col_i64(q, 7);
	o->created_at = q_col_i64(q, 8);
	o->updated_at = q_col_i64(q, 9);
	o->issue_url = q_col_dup(q, 10);
	o->acknowledged_at = q_col_i64(q, 11);
	o->mitigated_at = q_col_i64(q, 12);
	o->resolved_at = q_col_i64(q, 13);
	o->closed_at = q_col_i64(q, 14);
	o->reopened_at = q_col_i64(q, 15);
	o->last_seen_at = q_col_i64(q, 16);
	if (q->rc)
		incident_clear(o);
	return q->rc;
}

static void bind_incident(struct q *q, const struct incident *i)
{
	q_i64(q, 1, i->id);
	q_text(q, 2, i->kind);
	q_text(q, 3, i->key);
	q_i64(q, 4, i->severity);
	q_text(q, 5, incident_status_name(i->status));
	q_text(q, 6, i->summary);
	q_json(q, 7, i->details, "{}");
	q_text(q, 8, i->source ? i->source : "api");
	q_json(q, 9, i->playbooks, "[]");
	q_text(q, 10, i->assigned_to);
	q_opt(q, 11, i->parent_id);
	q_text(q, 12, i->issue_url);
	q_json(q, 13, i->issue_ref, NULL);
	q_i64(q, 14, i->occurrences);
	q_i64(q, 15, i->last_seen_at);
	q_i64(q, 16, i->created_at);
	q_i64(q, 17, i->updated_at);
	q_opt(q, 18, i->acknowledged_at);
	q_text(q, 19, i->acknowledged_by);
	q_opt(q, 20, i->mitigated_at);
	q_text(q, 21, i->mitigated_by);
	q_opt(q, 22, i->resolved_at);
	q_text(q, 23, i->resolved_by);
	q_opt(q, 24, i->closed_at);
	q_text(q, 25, i->closed_by);
	q_opt(q, 26, i->reopened_at);
	q_json(q, 27, i->notes, "{}");
	q_json(q, 28, i->metadata, "{}");
}

static int read_silence(struct q *q, struct silence *s)
{
	memset(s, 0, sizeof *s);
	s->id = q_col_i64(q, 0);
	s->kind = q_col_dup(q, 1);
	s->key_glob = q_col_dup(q, 2);
	s->reason = q_col_dup(q, 3);
	s->created_by = q_col_dup(q, 4);
	s->starts_at = q_col_i64(q, 5);
	s->ends_at = q_col_i64(q, 6);
	if (q->rc)
		silence_clear(s);
	return q->rc;
}

static int read_token(struct q *q, struct token_row *t)
{
	memset(t, 0, sizeof *t);
	t->id = q_col_i64(q, 0);
	q_row(q, "tokens", t->id);
	t->name = q_col_dup(q, 1);
	t->role = q_col_dup(q, 2);
	q_col_hash32(q, 3, "hash", t->hash);
	t->created_at = q_col_i64(q, 4);
	t->expires_at = q_col_i64(q, 5);
	t->revoked_at = q_col_i64(q, 6);
	t->created_by = q_col_dup(q, 7);
	if (q->rc)
		token_row_clear(t);
	return q->rc;
}

/* Borrowed strings: valid during the list callback only. */
static int read_event(struct q *q, struct event *ev)
{
	memset(ev, 0, sizeof *ev);
	ev->id = q_col_i64(q, 0);
	q_row(q, "events", ev->id);
	ev->type = (char *)q_col_str(q, 1);
	ev->incident_id = q_col_i64(q, 2);
	ev->actor = (char *)q_col_str(q, 3);
	ev->data = (char *)q_col_str(q, 4);
	q_col_fixed(q, 5, "created_at", ev->created_at, sizeof ev->created_at, 0);
	q_col_fixed(q, 6, "prev_hash", ev->prev_hash, sizeof ev->prev_hash, 64);
	q_col_fixed(q, 7, "hash", ev->hash, sizeof ev->hash, 64);
	return q->rc;
}

/* ---- store and connections ---- */

/* Close db once its statements are finalized; a failure here means a statement was
 * left behind (a bug), which leaks the handle: say so. */
static void close_db(sqlite3 *db)
{
	int rc = sqlite3_close(db);
	if (rc != SQLITE_OK)
		log_error("cannot close a database handle", "error=\"%s\"", sqlite3_errstr(rc));
}

static void sq_free(struct store *s)
{
	struct sq_store *q = (struct sq_store *)s;
	sqlite3_finalize(q->probe_version);
	close_db(q->probe);
	pthread_mutex_destroy(&q->probe_mu);
	free(q->path);
	free(q);
}

static int open_db(const char *path, bool readonly, bool create, sqlite3 **out, struct err *e)
{
	int flags = SQLITE_OPEN_NOMUTEX | (readonly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE);
	if (create)
		flags |= SQLITE_OPEN_CREATE;
	flags |= SQLITE_OPEN_URI;
	sqlite3 *db = NULL;
	int rc = sqlite3_open_v2(path, &db, flags, NULL);
	if (rc != SQLITE_OK) {
		err_set(e, ERR_IO, "cannot open database %s: %s", path,
			db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
		sqlite3_close(db);
		return ERR_IO;
	}
	if ((rc = sqlite3_busy_timeout(db, BUSY_TIMEOUT_MS)) != SQLITE_OK ||
	    (rc = sqlite3_extended_result_codes(db, 1)) != SQLITE_OK) {
		err_set(e, ERR_IO, "cannot configure database %s: %s", path, sqlite3_errstr(rc));
		sqlite3_close(db);
		return ERR_IO;
	}
	const char *pragmas =
		readonly
			? "PRAGMA foreign_keys = ON;"
			: "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA temp_store = MEMORY; "
			  "PRAGMA foreign_keys = ON; PRAGMA journal_size_limit = " WAL_SIZE_LIMIT
			  ";";
	/* Switching a new file to WAL needs an exclusive lock that the busy handler does
	 * not wait for: two processes creating the database together retry here. */
	char *msg = NULL;
	for (int attempt = 0;; attempt++) {
		sqlite3_free(msg);
		msg = NULL;
		rc = sqlite3_exec(db, pragmas, NULL, NULL, &msg);
		if ((rc & 0xff) != SQLITE_BUSY && (rc & 0xff) != SQLITE_LOCKED)
			break;
		if (attempt == 1000)
			break;
		sqlite3_sleep(10);
	}
	if (rc != SQLITE_OK) {
		int code = ((rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED) ? ERR_BUSY
											: ERR_IO;
		err_set(e, code, "cannot configure database %s: %s", path,
			msg ? msg : sqlite3_errstr(rc));
		sqlite3_free(msg);
		sqlite3_close(db);
		return code;
	}
	*out = db;
	return 0;
}

static int schema_count(void)
{
	int n = 0;
	while (store_sqlite_migrations[n].name)
		n++;
	return n;
}

/* PRAGMA user_version through st (prepared on its handle); st is reset afterwards. */
static int read_version(sqlite3 *db, sqlite3_stmt *st, int *v, struct err *e)
{
	int rc = sqlite3_step(st);
	*v = rc == SQLITE_ROW ? sqlite3_column_int(st, 0) : 0;
	sqlite3_reset(st);
	if (rc != SQLITE_ROW)
		return err_set(e, (rc & 0xff) == SQLITE_BUSY ? ERR_BUSY : ERR_IO,
			       "storage: read schema version: %s", sqlite3_errmsg(db));
	return 0;
}

static int user_version(sqlite3 *db, int *v, struct err *e)
{
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL);
	if (rc != SQLITE_OK)
		return err_set(e, ERR_IO, "storage: read schema version: %s", sqlite3_errmsg(db));
	rc = read_version(db, st, v, e);
	sqlite3_finalize(st);
	return rc;
}

static int newer_error(int have, struct err *e)
{
	return err_set(e, ERR_BUSY,
		       "database schema version %d is newer than this binary supports (%d); "
		       "upgrade intervene",
		       have, schema_count());
}

static int sq_migrate(struct store *s, int *version, struct err *e)
{
	struct sq_store *q = (struct sq_store *)s;
	sqlite3 *db = NULL;
	int rc = open_db(q->path, false, true, &db, e);
	if (rc)
		return rc;
	char *msg = NULL;
	/* Take the write lock first so two processes starting together migrate once. */
	rc = sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, &msg);
	if (rc != SQLITE_OK)
		goto sqlfail;
	int have = 0;
	if ((rc = user_version(db, &have, e)))
		goto fail;
	int want = schema_count();
	if (have > want) {
		rc = newer_error(have, e);
		goto fail;
	}
	for (int v = have; v < want; v++) {
		rc = sqlite3_exec(db, store_sqlite_migrations[v].text, NULL, NULL, &msg);
		if (rc != SQLITE_OK)
			goto sqlfail;
		char pragma[64];
		snprintf(pragma, sizeof pragma, "PRAGMA user_version = %d", v + 1);
		rc = sqlite3_exec(db, pragma, NULL, NULL, &msg);
		if (rc != SQLITE_OK)
			goto sqlfail;
	}
	rc = sqlite3_exec(db, "COMMIT", NULL, NULL, &msg);
	if (rc != SQLITE_OK)
		goto sqlfail;
	*version = want;
	sqlite3_close(db);
	return 0;
sqlfail:
	rc = err_set(e, (rc & 0xff) == SQLITE_BUSY ? ERR_BUSY : ERR_IO, "migration failed: %s",
		     msg ? msg : sqlite3_errstr(rc));
	sqlite3_free(msg);
fail:
	/* Closing rolls back whatever the ROLLBACK could not: its failure changes nothing. */
	sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	sqlite3_close(db);
	return rc;
}

/* Open the probe handle and its statement; probe_mu held. */
static int probe_open(struct sq_store *q, struct err *e)
{
	int rc = open_db(q->path, true, false, &q->probe, e);
	if (rc) {
		char why[ERR_MSG_MAX];
		snprintf(why, sizeof why, "%s", e ? e->msg : "");
		return err_set(e, ERR_BUSY, "%s; run 'intervene migrate' to create it", why);
	}
	rc = sqlite3_prepare_v3(q->probe, "PRAGMA user_version", -1, SQLITE_PREPARE_PERSISTENT,
				&q->probe_version, NULL);
	if (rc != SQLITE_OK) {
		err_set(e, ERR_IO, "storage: read schema version: %s", sqlite3_errmsg(q->probe));
		sqlite3_close(q->probe);
		q->probe = NULL;
		return ERR_IO;
	}
	return 0;
}

static int sq_check_schema(struct store *s, struct err *e)
{
	struct sq_store *q = (struct sq_store *)s;
	int have = 0;
	pthread_mutex_lock(&q->probe_mu);
	int rc = q->probe ? 0 : probe_open(q, e);
	if (!rc)
		rc = read_version(q->probe, q->probe_version, &have, e);
	pthread_mutex_unlock(&q->probe_mu);
	if (rc)
		return rc;
	if (have > schema_count())
		return newer_error(have, e);
	if (have < schema_count())
		return err_set(e, ERR_BUSY,
			       "database schema version %d is older than %d; run "
			       "'intervene migrate'",
			       have, schema_count());
	return 0;
}

static int sq_connect(struct store *s, bool readonly, struct store_conn **out, struct err *e)
{
	struct sq_store *q = (struct sq_store *)s;
	struct sq_conn *c = xcalloc(1, sizeof *c);
	c->base.ops = &sq_ops;
	c->readonly = readonly;
	int rc = open_db(q->path, readonly, false, &c->db, e);
	if (rc) {
		free(c);
		return rc;
	}
	*out = &c->base;
	return 0;
}

static void sq_disconnect(struct store_conn *cc)
{
	struct sq_conn *c = SQ(cc);
	/* finalize only repeats errors that were reported when they happened */
	for (int i = 0; i < S_COUNT; i++)
		sqlite3_finalize(c->stmt[i]);
	for (int i = 0; i < DYN_MAX; i++) {
		sqlite3_finalize(c->dyn[i].st);
		free(c->dyn[i].sql);
	}
	close_db(c->db);
	free(c);
}

static int sq_begin(struct store_conn *c, struct err *e)
{
	return ctl_stmt(SQ(c), S_BEGIN, STORE_FAULT_BEGIN, e);
}

/* Frames past which the writer folds the WAL back itself. Under steady load the
 * background PASSIVE checkpoint never catches up with the last frame, so the WAL would
 * never restart and would grow without bound. 2048 frames (8 MB) keeps each of these
 * checkpoints short: measured p99 of new-key signals 10.6 ms against 19-21 ms at 8192,
 * at the same throughput (bench/README.md). */
#define WAL_RESTART_FRAMES 2048

static int sq_commit(struct store_conn *c, struct err *e)
{
	return ctl_stmt(SQ(c), S_COMMIT, STORE_FAULT_COMMIT, e);
}

static int sq_rollback(struct store_conn *c, struct err *e)
{
	if (sqlite3_get_autocommit(SQ(c)->db))
		return 0;
	return ctl_stmt(SQ(c), S_ROLLBACK, STORE_FAULT_OPS, e);
}

static int sq_savepoint(struct store_conn *c, struct err *e)
{
	return ctl_stmt(SQ(c), S_SAVEPOINT, STORE_FAULT_SAVEPOINT, e);
}

static int sq_release(struct store_conn *c, struct err *e)
{
	return ctl_stmt(SQ(c), S_RELEASE, STORE_FAULT_RELEASE, e);
}

static int sq_rollback_to(struct store_conn *c, struct err *e)
{
	/* ROLLBACK TO keeps the savepoint open; release it so the next job starts clean. */
	int rc = ctl_stmt(SQ(c), S_ROLLBACK_TO, STORE_FAULT_ROLLBACK_TO, e);
	if (!rc)
		rc = ctl_stmt(SQ(c), S_RELEASE, STORE_FAULT_RELEASE, e);
	return rc;
}

static bool sq_in_transaction(struct store_conn *c)
{
	return !sqlite3_get_autocommit(SQ(c)->db);
}

static int sq_read_begin(struct store_conn *c, struct err *e)
{
	return ctl_stmt(SQ(c), S_BEGIN_READ, STORE_FAULT_BEGIN, e);
}

static int sq_read_end(struct store_conn *c, struct err *e)
{
	if (sqlite3_get_autocommit(SQ(c)->db))
		return 0;
	int rc = ctl_stmt(SQ(c), S_COMMIT, STORE_FAULT_OPS, e);
	/* A snapshot left open would pin the WAL: give it up the other way. */
	if (rc && !sqlite3_get_autocommit(SQ(c)->db))
		ctl_stmt(SQ(c), S_ROLLBACK, STORE_FAULT_OPS, NULL);
	return rc;
}

static int wal_hook(void *arg, sqlite3 *db, const char *name, int frames)
{
	(void)db;
	(void)name;
	((struct sq_conn *)arg)->wal_frames = frames;
	return SQLITE_OK;
}

static int sq_writer_setup(struct store_conn *cc, struct err *e)
{
	struct sq_conn *c = SQ(cc);
	int rc = sqlite3_wal_autocheckpoint(c->db, 0);
	if (rc != SQLITE_OK)
		return sq_err(c, rc, e, "turn off automatic checkpoints");
	sqlite3_wal_hook(c->db, wal_hook, c); /* returns the previous hook's argument */
	return 0;
}

/* A PASSIVE checkpoint cannot bound the WAL while reads go on: it stops at the oldest
 * reader's snapshot, and the log restarts from its beginning only when no reader uses
 * it at the moment a write begins — under concurrent list readers that moment never
 * came (the file reached 64 MB, once 331 MB, in benchmarks). RESTART copies every
 * frame back, then waits (briefly, with the busy handler) until the readers that
 * still read from the log have finished; readers that start meanwhile read the
 * database file, so the next commit starts the log from its beginning, and
 * journal_size_limit cuts the file back. */
static void sq_writer_maintain(struct store_conn *cc)
{
	struct sq_conn *c = SQ(cc);
	if (c->wal_frames <= WAL_RESTART_FRAMES)
		return;
	int log = 0, copied = 0;
	unsigned shift = c->restart_misses < 4 ? c->restart_misses : 4;
	sqlite3_busy_timeout(c->db, WAL_RESTART_WAIT_MS << shift);
	int rc = sqlite3_wal_checkpoint_v2(c->db, NULL, SQLITE_CHECKPOINT_RESTART, &log, &copied);
	sqlite3_busy_timeout(c->db, BUSY_TIMEOUT_MS);
	if (rc == SQLITE_OK) {
		c->wal_frames = 0;
		c->restart_misses = 0;
	} else if ((rc & 0xff) == SQLITE_BUSY) {
		/* say so now and then: a WAL that keeps growing means long readers */
		unsigned n = ++c->restart_misses;
		if (!(n & (n - 1)))
			log_warn("the WAL could not restart: readers kept it busy",
				 "misses=%u frames=%d", n, log);
	} else {
		log_error("WAL checkpoint failed", "error=\"%s\"", sqlite3_errmsg(c->db));
	}
}

static int sq_checkpoint(struct store_conn *c)
{
	int rc = sqlite3_wal_checkpoint_v2(SQ(c)->db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
	return rc == SQLITE_OK ? 0 : (rc & 0xff) == SQLITE_BUSY ? ERR_BUSY : ERR_IO;
}

static int sq_meta_hash_key(struct store_conn *cc, unsigned char key[32], struct err *e)
{
	struct q q;
	int rc = q_open(SQ(cc), S_META_HASH_KEY, &q, e);
	if (rc)
		return rc;
	rc = q_step(&q);
	q_row(&q, "meta", 0);
	if (rc > 0)
		q_col_hash32(&q, 0, "hash_key", key);
	else if (rc == 0)
		rc = err_set(e, ERR_IO, "storage: the token hash key is missing from the database");
	return q_end(&q, rc);
}

/* ---- incidents ---- */

/* Step q for one incident row: 0 with *out filled, ERR_NOTFOUND, or an error. */
static int one_incident(struct q *q, struct incident *out)
{
	int rc = q_step(q);
	if (rc > 0)
		rc = read_incident(q, out);
	else if (rc == 0)
		rc = err_set(q->e, ERR_NOTFOUND, "incident not found");
	return q_end(q, rc);
}

static int sq_incident_get(struct store_conn *cc, int64_t id, struct incident *out, struct err *e)
{
	struct q q;
	int rc = q_open(SQ(cc), S_INC_GET, &q, e);
	if (rc)
		return rc;
	q_i64(&q, 1, id);
	rc = one_incident(&q, out);
	if (rc == ERR_NOTFOUND)
		err_set(e, ERR_NOTFOUND, "incident %lld not found", (long long)id);
	return rc;
}

static int sq_incident_find_active(struct store_conn *cc, const char *kind, const char *key,
				   struct incident *out, struct err *e)
{
	struct q q;
	int rc = q_open(SQ(cc), S_INC_ACTIVE, &q, e);
	if (rc)
		return rc;
	q_text(&q, 1, kind);
	q_text(&q, 2, key);
	return one_incident(&q, out);
}

static int sq_incident_insert(struct store_conn *cc, struct incident *inc, struct err *e)
{
	struct sq_conn *c = SQ(cc);
	struct q q;
	int rc = q_open(c, S_INC_INSERT, &q, e);
	if (rc)
		return rc;
	bind_incident(&q, inc);
	rc = q_end(&q, q_exec(&q));
	if (!rc)
		inc->id = sqlite3_last_insert_rowid(c->db);
	if (rc == ERR_CONFLICT)
		err_set(e, ERR_CONFLICT, "an incident with key %s is already active", inc->key);
	return rc;
}

static int sq_incident_update(struct store_conn *cc, const struct incident *inc, struct err *e)
{
	struct sq_conn *c = SQ(cc);
	struct q q;
	int rc = q_open(c, S_INC_UPDATE, &q, e);
	if (rc)
		return rc;
	bind_incident(&q, inc);
	rc = q_end(&q, q_exec(&q));
	if (!rc && sqlite3_changes(c->db) == 0)
		rc = err_set(e, ERR_NOTFOUND, "incident %lld not found", (long long)inc->id);
	if (rc == ERR_CONFLICT)
		err_set(e, ERR_CONFLICT, "another incident with key %s is active", inc->key);
	return rc;
}

static int sq_incident_touch(struct store_conn *cc, int64_t id, int64_t occurrences,
			     int64_t last_seen_at, int severity, struct err *e)
{
	struct sq_conn *c = SQ(cc);
	struct q q;
	int rc = q_open(c, S_INC_TOUCH, &q, e);
	if (rc)
		return rc;
	q_i64(&q, 1, id);
	q_i64(&q, 2, occurrences);
	q_i64(&q, 3, last_seen_at);
	q_i64(&q, 4, severity);
	rc = q_end(&q, q_exec(&q));
	if (!rc && sqlite3_changes(c->db) == 0)
		rc = err_set(e, ERR_NOTFOUND, "incident %lld not found", (long long)id);
	return rc;
}

/* Step q for a single count(*) into *n. */
static int one_count(struct q *q, int64_t *n)
{
	int rc = q_step(q);
	*n = rc > 0 ? q_col_i64(q, 0) : 0;
	if (rc == 0)
		rc = err_set(q->e, ERR_IO, "storage: %s: no result", q->what);
	return q_end(q, rc);
}

static int sq_incident_count_since(struct store_conn *cc, const char *kind, const char *key,
				   int64_t since, int64_t *count, struct err *e)
{
	struct q q;
	int rc = q_open(SQ(cc), S_INC_COUNT_SINCE, &q, e);
	if (rc)
		return rc;
	q_text(&q, 1, kind);
	q_text(&q, 2, key);
	q_i64(&q, 3, since);
	return one_count(&q, count);
}

/* A WHERE clause built from fixed fragments; every value is bound, never spliced. */
struct where {
	struct buf sql;
	struct bind {
		enum { B_TEXT, B_INT } t;
		const char *s;
		int64_t i;
	} * binds;
	int n, cap;
};

static struct bind *where_push(struct where *w)
{
	if (w->n == w->cap) {
		w->cap = w->cap ? w->cap * 2 : 16;
		w->binds = xrealloc(w->binds, (size_t)w->cap * sizeof *w->binds);
	}
	return &w->binds[w->n++];
}

static void where_free(struct where *w)
{
	buf_free(&w->sql);
	free(w->binds);
}

static void where_and(struct where *w, const char *frag)
{
	buf_puts(&w->sql, w->sql.len ? " AND " : " WHERE ");
	buf_puts(&w->sql, frag);
}

static void where_text(struct where *w, const char *s)
{
	struct bind *b = where_push(w);
	b->t = B_TEXT;
	b->s = s;
}

static void where_int(struct where *w, int64_t i)
{
	struct bind *b = where_push(w);
	b->t = B_INT;
	b->i = i;
}

/* "col IN (?, ?, ...)" over a NULL-terminated list. */
static void where_in_text(struct where *w, const char *col, const char *const *vals)
{
	struct buf f = BUF_INIT;
	buf_printf(&f, "%s IN (", col);
	for (int i = 0; vals[i]; i++) {
		buf_puts(&f, i ? ", ?" : "?");
		where_text(w, vals[i]);
	}
	buf_putc(&f, ')');
	where_and(w, buf_cstr(&f));
	buf_free(&f);
}

static void where_bind(const struct where *w, struct q *q)
{
	for (int i = 0; i < w->n; i++) {
		if (w->binds[i].t == B_TEXT)
			q_text(q, i + 1, w->binds[i].s);
		else
			q_i64(q, i + 1, w->binds[i].i);
	}
}

static int count_where(struct sq_conn *c, const char *table, const struct where *w, int64_t *total,
		       struct err *e)
{
	struct buf sql = BUF_INIT;
	buf_printf(&sql, "SELECT count(*) FROM %s%s", table, buf_cstr(&w->sql));
	struct q q;
	int rc = q_open_sql(c, buf_cstr(&sql), "count", &q, e);
	buf_free(&sql);
	if (rc)
		return rc;
	where_bind(w, &q);
	return one_count(&q, total);
}

static int sq_incident_list(struct store_conn *cc, const struct incident_filter *f,
			    store_incident_cb cb, void *arg, int64_t *total, struct err *e)
{
	struct sq_conn *c = SQ(cc);
	struct where w = {.sql = BUF_INIT};
	struct buf sql = BUF_INIT;
	const char *st_vals[ST_COUNT + 1] = {0};
	int n = 0;
	int rc = 0;
	if (f->statuses) {
		for (int i = 0; i < ST_COUNT; i++)
			if (f->statuses & (1 << i))
				st_vals[n++] = incident_status_name((enum incident_status)i);
		where_in_text(&w, "status", st_vals);
	}
	if (f->severities) {
		struct buf b = BUF_INIT;
		buf_puts(&b, "severity IN (");
		n = 0;
		for (int s = 1; s <= 4; s++)
			if (f->severities & (1 << s)) {
				buf_puts(&b, n++ ? ", ?" : "?");
				where_int(&w, s);
			}
		buf_putc(&b, ')');
		where_and(&w, buf_cstr(&b));
		buf_free(&b);
	}
	if (f->kinds)
		where_in_text(&w, "kind", f->kinds);
	if (f->assignees)
		where_in_text(&w, "assigned_to", f->assignees);
	if (f->q && *f->q) {
		where_and(
			&w,
			"(instr(lower(summary), lower(?)) > 0 OR instr(lower(key), lower(?)) > 0)");
		where_text(&w, f->q);
		where_text(&w, f->q);
	}
	if (f->since) {
		where_and(&w, "created_at >= ?");
		where_int(&w, f->since);
	}
	if (total && (rc = count_where(c, "incidents", &w, total, e)))
		goto out;
	buf_printf(&sql, "SELECT " INC_LEAN_COLS " FROM incidents%s ORDER BY %s LIMIT ? OFFSET ?",
		   buf_cstr(&w.sql),
		   f->sort_severity ? "severity ASC, id DESC" : "created_at DESC, id DESC");
	struct q q;
	if ((rc = q_open_sql(c, buf_cstr(&sql), "list incidents", &q, e)))
		goto out;
	where_bind(&w, &q);
	q_i64(&q, w.n + 1, f->per_page);
	q_i64(&q, w.n + 2, (f->page - 1) * f->per_page);
	while ((rc = q_step(&q)) > 0) {
		struct incident inc;
		if ((rc = read_incident_lean(&q, &inc)))
			break;
		int stop = cb(&inc, arg);
		incident_clear(&inc);
		if (stop)
			break;
	}
	rc = q_end(&q, rc);
out:
	buf_free(&sql);
	where_free(&w);
	return rc;
}

static int sq_incident_counts(struct store_conn *cc, int64_t counts[ST_COUNT][5], struct err *e)
{
	memset(counts, 0, sizeof(int64_t) * ST_COUNT * 5);
	struct q q;
	int rc = q_open(SQ(cc), S_INC_COUNTS, &q, e);
	if (rc)
		return rc;
	q_row(&q, "incidents", 0);
	while ((rc = q_step(&q)) > 0) {
		enum incident_status stt = q_col_status(&q, 0);
		int sev = q_col_severity(&q, 1);
		if ((rc = q.rc))
			break;
		counts[stt][sev] = q_col_i64(&q, 2);
	}
	return q_end(&q, rc);
}

static int sq_incident_recent_keys(struct store_conn *cc, int64_t since, int limit, store_key_cb cb,
				   void *arg, struct err *e)
{
	struct q q;
	int rc = q_open(SQ(cc), S_INC_RECENT_KEYS, &q, e);
	if (rc)
		return rc;
	q_i64(&q, 1, since);
	q_i64(&q, 2, limit);
	while ((rc = q_step(&q)) > 0)
		if (cb(q_col_str(&q, 0), q_col_str(&q, 1), arg))
			break;
	return q_end(&q, rc);
}

/* ---- comments ---- */

static int sq_comment_insert(struct store_conn *cc, struct comment *cm, struct err *e)
{
	struct sq_conn *c = SQ(cc);
	struct q q;
	int rc = q_open(c, S_COMMENT_INSERT, &q, e);
	if (rc)
		return rc;
	q_i64(&q, 1, cm->incident_id);
	q_text(&q, 2, cm->author);
	q_text(&q, 3, cm->body);
	q_i64(&q, 4, cm->created_at);
	rc = q_end(&q, q_exec(&q));
	if (!rc)
		cm->id = sqlite3_last_insert_rowid(c->db);
	return rc;
}

static int sq_comment_list(struct store_conn *cc, int64_t incident_id, int64_t offset,
			   int64_t limit, store_comment_cb cb, void *arg, int64_t *total,
			   struct err *e)
{
	struct sq_conn *c = SQ(cc);
	struct q q;
	int rc;
	if (total) {
		if ((rc = q_open(c, S_COMMENT_COUNT, &q, e)))
			return rc;
		q_i64(&q, 1, incident_id);
		if ((rc = one_count(&q, total)))
			return rc;
	}
	if ((rc = q_open(c, S_COMMENT_LIST, &q, e)))
		return rc;
	q_i64(&q, 1, incident_id);
	q_i64(&q, 2, limit);
	q_i64(&q, 3, offset);
	while ((rc = q_step(&q)) > 0) {
		struct comment cm = {
			.id = q_col_i64(&q, 0),
			.incident_id = q_col_i64(&q, 1),
			.author = (char *)q_col_str(&q, 2),
			.body = (char *)q_col_str(&q, 3),
			.created_at = q_col_i64(&q, 4),
		};
		if (cb(&cm, arg))
			break;
	}
	return q_end(&q, rc);
}

/* ---- events ---- */

static int sq_event_head(struct store_conn *cc, struct store_event_head *out, struct err *e)
{
	struct q q;
	int rc = q_open(SQ(cc), S_EVENT_HEAD, &q, e);
	if (rc)
		return rc;
	rc = q_step(&q);
	q_row(&q, "event_head", 0);
	if (rc > 0) {
		out->last_id = q_col_i64(&q, 0);
		q_col_fixed(&q, 1, "hash", out->hash, sizeof out->hash, 64);
		out->retained = q_col_i64(&q, 2);
	} else if (rc == 0) {
		rc = err_set(e, ERR_IO, "storage: the event log's stored head is missing");
	}
	return q_end(&q, rc);
}

static int sq_event_last(struct store_conn *cc, int64_t *id, char hash[65], struct err *e)
{
	struct store_event_head h = {0};
	int rc = sq_event_head(cc, &h, e);
	*id = rc ? 0 : h.last_id;
	if (rc)
		hash[0] = '\0'; /* nothing to link to: the caller must not append */
	else
		memcpy(hash, h.hash, 65);
	return rc;
}

static int sq_event_next_id(struct store_conn *cc, int64_t *id, struct err *e)
{
	struct q q;
	int rc = q_open(SQ(cc), S_EVENT_SEQ, &q, e);
	if (rc)
		return rc;
	rc = q_step(&q);
	*id = (rc > 0 ? q_col_i64(&q, 0) : 0) + 1;
	return q_end(&q, rc);
}

static int sq_event_insert(struct store_conn *cc, const struct event *ev, struct err *e)
{
	struct q q;
	int rc = q_open(SQ(cc), S_EVENT_INSERT, &q, e);
	if (rc)
		return rc;
	q_i64(&q, 1, ev->id);
	q_text(&q, 2, ev->type);
	q_opt(&q, 3, ev->incident_id);
	q_text(&q, 4, ev->actor);
	q_text(&q, 5, ev->data);
	q_text(&q, 6, ev->created_at);
	q_text(&q, 7, ev->prev_hash);
	q_text(&q, 8, ev->hash);
	if ((rc = q_end(&q, q_exec(&q))))
		return rc;
	if ((rc = q_open(SQ(cc), S_EVENT_HEAD_APPEND, &q, e)))
		return rc;
	q_i64(&q, 1, ev->id);
	q_text(&q, 2, ev->hash);
	rc = q_end(&q, q_exec(&q));
	if (!rc && sqlite3_changes(SQ(cc)->db) != 1)
		rc = err_set(e, ERR_IO, "storage: the event log's stored head is missing");
	return rc;
}

static int sq_event_latest(struct store_conn *cc, const char *type, struct event *out,
			   struct err *e)
{
	struct q q;
	int rc = q_open(SQ(cc), S_EVENT_LATEST, &q, e);
	if (rc)
		return rc;
	q_text(&q, 1, type);
	rc = q_step(&q);
	if (rc > 0) {
		struct event ev;
		if (!(rc = read_event(&q, &ev))) {
			*out = ev;
			out->type = xstrdup(ev.type);
			out->actor = xstrdup(ev.actor);
			out->data = xstrdup(ev.data);
		}
	} else if (rc == 0) {
		rc = err_set(e, ERR_NOTFOUND, "no %s event", type);
	}
	return q_end(&q, rc);
}

static int sq_event_prune(struct store_conn *cc, int64_t before, int64_t limit,
			  struct store_prune *out, struct err *e)
{
	struct sq_conn *c = SQ(cc);
	memset(out, 0, sizeof *out);
	char cutoff[TIME_RFC3339_LEN];
	time_format_ms(before, cutoff);
	struct q q;
	int rc = q_open(c, S_EVENT_PRUNE_SCAN, &q, e);
	if (rc)
		return rc;
	q_text(&q, 1, cutoff);
	q_i64(&q, 2, before);
	q_i64(&q, 3, limit + 1); /* one more: whether the prefix goes on */
	while ((rc = q_step(&q)) > 0) {
		int64_t id = q_col_i64(&q, 0);
		if (!q_col_i64(&q, 2) || out->pruned == limit) {
			out->first_kept_id = id;
			out->more = out->pruned == limit && q_col_i64(&q, 2);
			break;
		}
		out->pruned++;
		out->last_id = id;
		q_row(&q, "events", id);
		q_col_fixed(&q, 1, "hash", out->last_hash, sizeof out->last_hash, 64);
		if ((rc = q.rc))
			break;
	}
	if ((rc = q_end(&q, rc)) || !out->pruned)
		return rc;
	if ((rc = q_open(c, S_EVENT_PRUNE_DELETE, &q, e)))
		return rc;
	q_i64(&q, 1, out->last_id);
	if ((rc = q_end(&q, q_exec(&q))))
		return rc;
	/* under the write lock nothing else deletes: anything but the scanned prefix
	 * would mean the scan and the delete disagree */
	if (sqlite3_changes(c->db) != out->pruned)
		return err_set(e, ERR_IO, "storage: prune events: deleted %d events, expected %lld",
			       sqlite3_changes(c->db), (long long)out->pruned);
	if ((rc = q_open(c, S_EVENT_HEAD_PRUNE, &q, e)))
		return rc;
	q_i64(&q, 1, out->pruned);
	return q_end(&q, q_exec(&q));
}

static int sq_event_list(struct store_conn *cc, const struct event_filter *f, store_event_cb cb,
			 void *arg, int64_t *total, struct err *e)
{
	struct sq_conn *c = SQ(cc);
	struct where w = {.sql = BUF_INIT};
	struct buf sql = BUF_INIT;
	int rc = 0;
	where_and(&w, "id > ?");
	where_int(&w, f->after_id);
	if (f->incident_id) {
		where_and(&w, "incident_id = ?");
		where_int(&w, f->incident_id);
	}
	if (f->types)
		where_in_text(&w, "type", f->types);
	if (total && f->count_total && (rc = count_where(c, "events", &w, total, e)))
		goto out;
	buf_printf(&sql, "SELECT " EVENT_COLS " FROM events%s ORDER BY id LIMIT ? OFFSET ?",
		   buf_cstr(&w.sql));
	struct q q;
	if ((rc = q_open_sql(c, buf_cstr(&sql), "list events", &q, e)))
		goto out;
	where_bind(&w, &q);
	q_i64(&q, w.n + 1, f->limit > 0 ? f->limit : -1);
	q_i64(&q, w.n + 2, f->offset);
	while ((rc = q_step(&q)) > 0) {
		struct event ev;
		if ((rc = read_event(&q, &ev)))
			break;
		if (cb(&ev, arg))
			break;
	}
	rc = q_end(&q, rc);
out:
	buf_free(&sql);
	where_free(&w);
	return rc;
}

/* ---- silences ---- */

static int sq_silence_insert(struct store_conn *cc, struct silence *s, struct err *e)
{
	struct sq_conn *c = SQ(cc);
	struct q q;
	int rc = q_open(c, S_SILENCE_INSERT, &q, e);
	if (rc)
		return rc;
	q_text(&q, 1, s->kind);
	q_text(&q, 2, s->key_glob);
	q_text(&q, 3, s->reason);
	q_text(&q, 4, s->created_by);
	q_i64(&q, 5, s->starts_at);
	q_i64(&q, 6, s->ends_at);
	rc = q_end(&q, q_exec(&q));
	if (!rc)
		s->id = sqlite3_last_insert_rowid(c->db);
	return rc;
}

static int sq_silence_get(struct store_conn *cc, int64_t id, struct silence *out, struct err *e)
{
	struct q q;
	int rc = q_open(SQ(cc), S_SILENCE_GET, &q, e);
	if (rc)
		return rc;
	q_i64(&q, 1, id);
	rc = q_step(&q);
	if (rc > 0)
		rc = read_silence(&q, out);
	else if (rc == 0)
		rc = err_set(e, ERR_NOTFOUND, "silence %lld not found", (long long)id);
	return q_end(&q, rc);
}

static int sq_silence_set_end(struct store_conn *cc, int64_t id, int64_t ends_at, struct err *e)
{
	struct sq_conn *c = SQ(cc);
	struct q q;
	int rc = q_open(c, S_SILENCE_SET_END, &q, e);
	if (rc)
		return rc;
	q_i64(&q, 1, id);
	q_i64(&q, 2, ends_at);
	rc = q_end(&q, q_exec(&q));
	if (!rc && sqlite3_changes(c->db) == 0)
		rc = err_set(e, ERR_NOTFOUND, "silence %lld not found", (long long)id);
	return rc;
}

static int silence_rows(struct q *q, store_silence_cb cb, void *arg)
{
	int rc;
	while ((rc = q_step(q)) > 0) {
		struct silence s;
		if ((rc = read_silence(q, &s)))
			break;
		int stop = cb(&s, arg);
		silence_clear(&s);
		if (stop)
			break;
	}
	return q_end(q, rc);
}

static int sq_silence_list(struct store_conn *cc, int64_t now, bool include_ended, int64_t offset,
			   int64_t limit, store_silence_cb cb, void *arg, int64_t *total,
			   struct err *e)
{
	struct sq_conn *c = SQ(cc);
	struct q q;
	int rc = 0;
	/* The signal path's question (which silences are active now) has its own
	 * statement; pages of the API build theirs. */
	if (!include_ended && !total && offset == 0 && limit <= 0) {
		if ((rc = q_open(c, S_SILENCE_ACTIVE, &q, e)))
			return rc;
		q_i64(&q, 1, now);
		return silence_rows(&q, cb, arg);
	}
	struct where w = {.sql = BUF_INIT};
	struct buf sql = BUF_INIT;
	if (!include_ended) {
		where_and(&w, "starts_at <= ? AND ends_at > ?");
		where_int(&w, now);
		where_int(&w, now);
	}
	if (total && (rc = count_where(c, "silences", &w, total, e)))
		goto out;
	buf_printf(&sql,
		   "SELECT " SILENCE_COLS " FROM silences%s ORDER BY id DESC LIMIT ? OFFSET ?",
		   buf_cstr(&w.sql));
	if ((rc = q_open_sql(c, buf_cstr(&sql), "list silences", &q, e)))
		goto out;
	where_bind(&w, &q);
	q_i64(&q, w.n + 1, limit > 0 ? limit : -1);
	q_i64(&q, w.n + 2, offset);
	rc = silence_rows(&q, cb, arg);
out:
	buf_free(&sql);
	where_free(&w);
	return rc;
}

/* ---- tokens ---- */

static int sq_token_insert(struct store_conn *cc, struct token_row *t, struct err *e)
{
	struct sq_conn *c = SQ(cc);
	struct q q;
	int rc = q_open(c, S_TOKEN_INSERT, &q, e);
	if (rc)
		return rc;
	q_text(&q, 1, t->name);
	q_text(&q, 2, t->role);
	q_blob(&q, 3, t->hash, 32);
	q_i64(&q, 4, t->created_at);
	q_text(&q, 5, t->created_by);
	q_opt(&q, 6, t->expires_at);
	rc = q_end(&q, q_exec(&q));
	if (!rc)
		t->id = sqlite3_last_insert_rowid(c->db);
	if (rc == ERR_CONFLICT)
		err_set(e, ERR_CONFLICT, "a token named %s already exists", t->name);
	return rc;
}

static int sq_token_list(struct store_conn *cc, store_token_cb cb, void *arg, struct err *e)
{
	struct q q;
	int rc = q_open(SQ(cc), S_TOKEN_LIST, &q, e);
	if (rc)
		return rc;
	while ((rc = q_step(&q)) > 0) {
		struct token_row t;
		if ((rc = read_token(&q, &t)))
			break;
		int stop = cb(&t, arg);
		token_row_clear(&t);
		if (stop)
			break;
	}
	return q_end(&q, rc);
}

static int sq_token_revoke(struct store_conn *cc, const char *name, int64_t at,
			   struct token_row *out, struct err *e)
{
	struct q q;
	int rc = q_open(SQ(cc), S_TOKEN_REVOKE, &q, e);
	if (rc)
		return rc;
	q_text(&q, 1, name);
	q_i64(&q, 2, at);
	rc = q_step(&q);
	if (rc > 0 && !(rc = read_token(&q, out))) {
		/* RETURNING: the statement finishes its work only when stepped to the end */
		if ((rc = q_exec(&q)))
			token_row_clear(out);
	} else if (rc == 0) {
		rc = err_set(e, ERR_NOTFOUND, "no active token named %s", name);
	}
	return q_end(&q, rc);
}

static int sq_token_version(struct store_conn *cc, int64_t *version, struct err *e)
{
	struct q q;
	int rc = q_open(SQ(cc), S_TOKEN_VERSION, &q, e);
	if (rc)
		return rc;
	return one_count(&q, version);
}

static int sq_probe_write(struct store_conn *cc, struct err *e)
{
	struct q q;
	int rc = q_open(SQ(cc), S_PROBE_WRITE, &q, e);
	if (rc)
		return rc;
	return q_end(&q, q_exec(&q));
}

static int sq_token_find(struct store_conn *cc, const unsigned char hash[32], struct token_row *out,
			 struct err *e)
{
	struct q q;
	int rc = q_open(SQ(cc), S_TOKEN_FIND, &q, e);
	if (rc)
		return rc;
	q_blob(&q, 1, hash, 32);
	rc = q_step(&q);
	if (rc > 0)
		rc = read_token(&q, out);
	else if (rc == 0)
		rc = err_set(e, ERR_NOTFOUND, "unknown token");
	return q_end(&q, rc);
}

/* ---- sessions ---- */

static int sq_session_insert(struct store_conn *cc, const unsigned char hash[32], int64_t token_id,
			     int64_t created_at, int64_t expires_at, struct err *e)
{
	struct q q;
	int rc = q_open(SQ(cc), S_SESSION_INSERT, &q, e);
	if (rc)
		return rc;
	q_blob(&q, 1, hash, 32);
	q_i64(&q, 2, token_id);
	q_i64(&q, 3, created_at);
	q_i64(&q, 4, expires_at);
	return q_end(&q, q_exec(&q));
}

static int sq_session_end(struct store_conn *cc, const unsigned char hash[32], int64_t at,
			  struct err *e)
{
	struct sq_conn *c = SQ(cc);
	struct q q;
	int rc = q_open(c, S_SESSION_END, &q, e);
	if (rc)
		return rc;
	q_blob(&q, 1, hash, 32);
	q_i64(&q, 2, at);
	rc = q_end(&q, q_exec(&q));
	if (!rc && sqlite3_changes(c->db) == 0)
		rc = err_set(e, ERR_NOTFOUND, "no such session");
	return rc;
}

static int sq_session_list(struct store_conn *cc, int64_t now, store_session_cb cb, void *arg,
			   struct err *e)
{
	struct q q;
	int rc = q_open(SQ(cc), S_SESSION_LIST, &q, e);
	if (rc)
		return rc;
	q_i64(&q, 1, now);
	while ((rc = q_step(&q)) > 0) {
		struct session_row r = {
			.token_name = (char *)q_col_str(&q, 2),
			.role = (char *)q_col_str(&q, 3),
			.expires_at = q_col_i64(&q, 4),
		};
		q_row(&q, "sessions", q_col_i64(&q, 0));
		q_col_hash32(&q, 1, "hash", r.hash);
		if ((rc = q.rc))
			break;
		if (cb(&r, arg))
			break;
	}
	return q_end(&q, rc);
}

/* Run a chunked DELETE statement (?1 the bound, ?2 the limit). */
static int prune_rows(struct sq_conn *c, enum stmt_id id, int64_t bound, int64_t limit,
		      int64_t *deleted, struct err *e)
{
	struct q q;
	*deleted = 0;
	int rc = q_open(c, id, &q, e);
	if (rc)
		return rc;
	q_i64(&q, 1, bound);
	q_i64(&q, 2, limit);
	if (!(rc = q_end(&q, q_exec(&q))))
		*deleted = sqlite3_changes(c->db);
	return rc;
}

static int sq_session_prune(struct store_conn *cc, int64_t now, int64_t limit, int64_t *deleted,
			    struct err *e)
{
	return prune_rows(SQ(cc), S_SESSION_PRUNE, now, limit, deleted, e);
}

/* ---- idempotency ---- */

static int sq_idem_prune(struct store_conn *cc, int64_t before, int64_t limit, int64_t *deleted,
			 struct err *e)
{
	return prune_rows(SQ(cc), S_IDEM_PRUNE, before, limit, deleted, e);
}

static int sq_idem_get(struct store_conn *cc, const char *scope, const char *key, int64_t since,
		       int *status, struct buf *body, struct err *e)
{
	struct q q;
	int rc = q_open(SQ(cc), S_IDEM_GET, &q, e);
	if (rc)
		return rc;
	q_text(&q, 1, scope);
	q_text(&q, 2, key);
	q_i64(&q, 3, since);
	rc = q_step(&q);
	if (rc > 0) {
		*status = (int)q_col_i64(&q, 0);
		buf_append(body, q_col_str(&q, 1), (size_t)sqlite3_column_bytes(q.st, 1));
	} else if (rc == 0) {
		rc = ERR_NOTFOUND;
	}
	return q_end(&q, rc);
}

static int sq_idem_put(struct store_conn *cc, const char *scope, const char *key, int status,
		       const char *body, int64_t at, struct err *e)
{
	struct q q;
	int rc = q_open(SQ(cc), S_IDEM_PUT, &q, e);
	if (rc)
		return rc;
	q_text(&q, 1, scope);
	q_text(&q, 2, key);
	q_i64(&q, 3, status);
	q_text(&q, 4, body);
	q_i64(&q, 5, at);
	return q_end(&q, q_exec(&q));
}

/* ---- maintenance ---- */

/* ---- playbook actions ---- */

#define ACTION_COLS                                                                                \
	"id, incident_id, action_type, params, plan, plan_hash, target, status, requested_by, "    \
	"approved_by, approved_at, executed_by, started_at, finished_at, result, error, log, "     \
	"inverse, rollback_of, cancel_requested, lease_owner, lease_until, created_at, updated_at"

static int read_action(struct q *q, struct action_row *a)
{
	memset(a, 0, sizeof *a);
	a->id = q_col_i64(q, 0);
	q_row(q, "incident_actions", a->id);
	a->incident_id = q_col_i64(q, 1);
	a->action_type = q_col_dup(q, 2);
	a->params = q_col_dup(q, 3);
	a->plan = q_col_dup(q, 4);
	a->plan_hash = q_col_dup(q, 5);
	a->target = q_col_dup(q, 6);
	const char *st = q_col_str(q, 7);
	if (!action_status_parse(st, &a->status))
		q_bad(q, "status", "has the unknown status '%.40s'", st ? st : "(NULL)");
	a->requested_by = q_col_dup(q, 8);
	a->approved_by = q_col_dup(q, 9);
	a->approved_at = q_col_i64(q, 10);
	a->executed_by = q_col_dup(q, 11);
	a->started_at = q_col_i64(q, 12);
	a->finished_at = q_col_i64(q, 13);
	a->result = q_col_dup(q, 14);
	a->error = q_col_dup(q, 15);
	a->log = q_col_dup(q, 16);
	a->inverse = q_col_dup(q, 17);
	a->rollback_of = q_col_i64(q, 18);
	a->cancel_requested = q_col_i64(q, 19) != 0;
	a->lease_owner = q_col_dup(q, 20);
	a->lease_until = q_col_i64(q, 21);
	a->created_at = q_col_i64(q, 22);
	a->updated_at = q_col_i64(q, 23);
	if (!q->rc && (!a->action_type || !a->params || !a->plan || !a->plan_hash || !a->target ||
		       !a->requested_by || !a->log))
		q_bad(q, "action_type", "or another required column is NULL");
	if (q->rc)
		action_row_clear(a);
	return q->rc;
}

/* The unique index on running targets answers a second start as a conflict. */
static int action_conflict(struct sq_conn *c, int rc, const char *target, struct err *e)
{
	if (rc && sqlite3_extended_errcode(c->db) == SQLITE_CONSTRAINT_UNIQUE)
		return err_set(e, ERR_CONFLICT, "another action is running on %s", target);
	return rc;
}

static int sq_action_insert(struct store_conn *cc, struct action_row *a, struct err *e)
{
	struct sq_conn *c = SQ(cc);
	struct q q;
	int rc = q_open_sql(c,
			    "INSERT INTO incident_actions (incident_id, action_type, params, plan, "
			    "plan_hash, target, status, requested_by, approved_by, approved_at, "
			    "rollback_of, log, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, "
			    "?6, ?7, ?8, ?9, ?10, ?11, '', ?12, ?12)",
			    "store an action", &q, e);
	if (rc)
		return rc;
	q_i64(&q, 1, a->incident_id);
	q_text(&q, 2, a->action_type);
	q_text(&q, 3, a->params);
	q_text(&q, 4, a->plan);
	q_text(&q, 5, a->plan_hash);
	q_text(&q, 6, a->target);
	q_text(&q, 7, action_status_name(a->status));
	q_text(&q, 8, a->requested_by);
	q_text(&q, 9, a->approved_by);
	q_opt(&q, 10, a->approved_at);
	q_opt(&q, 11, a->rollback_of);
	q_i64(&q, 12, a->created_at);
	rc = action_conflict(c, q_end(&q, q_exec(&q)), a->target, e);
	if (!rc) {
		a->id = sqlite3_last_insert_rowid(c->db);
		a->updated_at = a->created_at;
		if (!a->log)
			a->log = xstrdup("");
	}
	return rc;
}

static int sq_action_get(struct store_conn *cc, int64_t id, struct action_row *out, struct err *e)
{
	struct q q;
	int rc = q_open_sql(SQ(cc), "SELECT " ACTION_COLS " FROM incident_actions WHERE id = ?1",
			    "read an action", &q, e);
	if (rc)
		return rc;
	q_i64(&q, 1, id);
	rc = q_step(&q);
	if (rc > 0)
		rc = read_action(&q, out);
	else if (rc == 0)
		rc = err_set(e, ERR_NOTFOUND, "action %lld not found", (long long)id);
	return q_end(&q, rc);
}

static int sq_action_update(struct store_conn *cc, const struct action_row *a, struct err *e)
{
	struct sq_conn *c = SQ(cc);
	struct q q;
	int rc = q_open_sql(
		c,
		"UPDATE incident_actions SET status = ?2, approved_by = ?3, approved_at = ?4, "
		"executed_by = ?5, started_at = ?6, finished_at = ?7, result = ?8, error = ?9, "
		"log = ?10, inverse = ?11, cancel_requested = ?12, lease_owner = ?13, "
		"lease_until = ?14, updated_at = ?15 WHERE id = ?1",
		"update an action", &q, e);
	if (rc)
		return rc;
	q_i64(&q, 1, a->id);
	q_text(&q, 2, action_status_name(a->status));
	q_text(&q, 3, a->approved_by);
	q_opt(&q, 4, a->approved_at);
	q_text(&q, 5, a->executed_by);
	q_opt(&q, 6, a->started_at);
	q_opt(&q, 7, a->finished_at);
	q_text(&q, 8, a->result);
	q_text(&q, 9, a->error);
	q_text(&q, 10, a->log ? a->log : "");
	q_text(&q, 11, a->inverse);
	q_i64(&q, 12, a->cancel_requested);
	q_text(&q, 13, a->lease_owner);
	q_opt(&q, 14, a->lease_until);
	q_i64(&q, 15, a->updated_at);
	rc = action_conflict(c, q_end(&q, q_exec(&q)), a->target, e);
	if (!rc && sqlite3_changes(c->db) == 0)
		rc = err_set(e, ERR_NOTFOUND, "action %lld not found", (long long)a->id);
	return rc;
}

static int action_rows(struct q *q, store_action_cb cb, void *arg)
{
	int rc;
	while ((rc = q_step(q)) > 0) {
		struct action_row a;
		if ((rc = read_action(q, &a)))
			break;
		int stop = cb(&a, arg);
		action_row_clear(&a);
		if (stop)
			break;
	}
	return q_end(q, rc);
}

static int sq_action_list(struct store_conn *cc, int64_t incident_id, int64_t offset, int64_t limit,
			  store_action_cb cb, void *arg, int64_t *total, struct err *e)
{
	struct sq_conn *c = SQ(cc);
	struct q q;
	int rc;
	if (total) {
		rc = q_open_sql(c,
				incident_id ? "SELECT count(*) FROM incident_actions WHERE "
					      "incident_id = ?1"
					    : "SELECT count(*) FROM incident_actions",
				"count actions", &q, e);
		if (rc)
			return rc;
		if (incident_id)
			q_i64(&q, 1, incident_id);
		rc = q_step(&q);
		*total = rc > 0 ? q_col_i64(&q, 0) : 0;
		if ((rc = q_end(&q, rc < 0 ? rc : 0)))
			return rc;
	}
	rc = q_open_sql(c,
			incident_id ? "SELECT " ACTION_COLS " FROM incident_actions WHERE "
				      "incident_id = ?1 ORDER BY id DESC LIMIT ?2 OFFSET ?3"
				    : "SELECT " ACTION_COLS " FROM incident_actions WHERE ?1 = ?1 "
				      "ORDER BY id DESC LIMIT ?2 OFFSET ?3",
			"list actions", &q, e);
	if (rc)
		return rc;
	q_i64(&q, 1, incident_id);
	q_i64(&q, 2, limit > 0 ? limit : -1);
	q_i64(&q, 3, offset);
	return action_rows(&q, cb, arg);
}

static int sq_action_running_on(struct store_conn *cc, const char *target, int64_t *id,
				struct err *e)
{
	struct q q;
	int rc = q_open_sql(SQ(cc),
			    "SELECT id FROM incident_actions WHERE target = ?1 AND status = "
			    "'running'",
			    "find the running action of a target", &q, e);
	if (rc)
		return rc;
	q_text(&q, 1, target);
	rc = q_step(&q);
	*id = rc > 0 ? q_col_i64(&q, 0) : 0;
	return q_end(&q, rc < 0 ? rc : 0);
}

static int sq_action_expired(struct store_conn *cc, int64_t now, store_action_cb cb, void *arg,
			     struct err *e)
{
	struct q q;
	int rc = q_open_sql(SQ(cc),
			    "SELECT " ACTION_COLS " FROM incident_actions WHERE status = 'running' "
			    "AND coalesce(lease_until, 0) < ?1 ORDER BY id",
			    "find abandoned actions", &q, e);
	if (rc)
		return rc;
	q_i64(&q, 1, now);
	return action_rows(&q, cb, arg);
}

/* ---- outbox ---- */

static int read_outbox(struct q *q, struct outbox_row *o)
{
	memset(o, 0, sizeof *o);
	o->id = q_col_i64(q, 0);
	q_row(q, "outbox", o->id);
	o->incident_id = q_col_i64(q, 1);
	o->target = q_col_dup(q, 2);
	const char *op = q_col_str(q, 3);
	if (!outbox_op_parse(op, &o->op))
		q_bad(q, "op", "has the unknown op '%.40s'", op ? op : "(NULL)");
	o->payload = q_col_dup(q, 4);
	o->idempotency_key = q_col_dup(q, 5);
	const char *st = q_col_str(q, 6);
	if (!outbox_status_parse(st, &o->status))
		q_bad(q, "status", "has the unknown status '%.40s'", st ? st : "(NULL)");
	o->attempts = q_col_i64(q, 7);
	o->next_attempt_at = q_col_i64(q, 8);
	o->last_error = q_col_dup(q, 9);
	o->external_id = q_col_dup(q, 10);
	o->created_at = q_col_i64(q, 11);
	o->updated_at = q_col_i64(q, 12);
	if (!q->rc && (!o->target || !o->payload || !o->idempotency_key))
		q_bad(q, "target", "or payload or idempotency_key is NULL");
	if (q->rc)
		outbox_row_clear(o);
	return q->rc;
}

static int sq_outbox_insert(struct store_conn *cc, struct outbox_row *r, struct err *e)
{
	struct sq_conn *c = SQ(cc);
	struct q q;
	int rc = q_open(c, S_OUTBOX_INSERT, &q, e);
	if (rc)
		return rc;
	q_opt(&q, 1, r->incident_id); /* 0: about no incident */
	q_text(&q, 2, r->target);
	q_text(&q, 3, outbox_op_name(r->op));
	q_text(&q, 4, r->payload);
	q_text(&q, 5, r->idempotency_key);
	q_i64(&q, 6, r->next_attempt_at);
	q_i64(&q, 7, r->created_at);
	rc = q_end(&q, q_exec(&q));
	if (!rc) {
		r->id = sqlite3_last_insert_rowid(c->db);
		r->status = OB_PENDING;
		r->attempts = 0;
		r->updated_at = r->created_at;
	}
	return rc;
}

static int one_outbox(struct q *q, struct outbox_row *out, const char *missing, int64_t id)
{
	int rc = q_step(q);
	if (rc > 0)
		rc = read_outbox(q, out);
	else if (rc == 0)
		rc = missing ? err_set(q->e, ERR_NOTFOUND, missing, (long long)id) : ERR_NOTFOUND;
	return q_end(q, rc);
}

static int sq_outbox_get(struct store_conn *cc, int64_t id, struct outbox_row *out, struct err *e)
{
	struct q q;
	int rc = q_open(SQ(cc), S_OUTBOX_GET, &q, e);
	if (rc)
		return rc;
	q_i64(&q, 1, id);
	return one_outbox(&q, out, "outbox row %lld not found", id);
}

static int sq_outbox_next(struct store_conn *cc, const char *target, int64_t now,
			  struct outbox_row *out, int64_t *next_due, struct err *e)
{
	struct q q;
	int rc = q_open(SQ(cc), S_OUTBOX_NEXT, &q, e);
	if (rc)
		return rc;
	q_text(&q, 1, target);
	q_i64(&q, 2, now);
	rc = one_outbox(&q, out, NULL, 0);
	if ((rc && rc != ERR_NOTFOUND) || !next_due)
		return rc;
	int found = rc;
	int rc2 = q_open(SQ(cc), S_OUTBOX_NEXT_DUE, &q, e);
	if (rc2) {
		outbox_row_clear(out);
		return rc2;
	}
	q_text(&q, 1, target);
	rc2 = q_step(&q);
	*next_due = rc2 > 0 ? q_col_i64(&q, 0) : 0;
	rc2 = q_end(&q, rc2);
	if (rc2) {
		outbox_row_clear(out);
		return rc2;
	}
	return found;
}

static int sq_outbox_update(struct store_conn *cc, const struct outbox_row *r, struct err *e)
{
	struct sq_conn *c = SQ(cc);
	struct q q;
	int rc = q_open(c, S_OUTBOX_UPDATE, &q, e);
	if (rc)
		return rc;
	q_i64(&q, 1, r->id);
	q_text(&q, 2, outbox_status_name(r->status));
	q_i64(&q, 3, r->attempts);
	q_i64(&q, 4, r->next_attempt_at);
	q_text(&q, 5, r->last_error);
	q_text(&q, 6, r->external_id);
	q_i64(&q, 7, r->updated_at);
	rc = q_end(&q, q_exec(&q));
	if (!rc && sqlite3_changes(c->db) == 0)
		rc = err_set(e, ERR_NOTFOUND, "outbox row %lld not found", (long long)r->id);
	return rc;
}

static int sq_outbox_attempt_insert(struct store_conn *cc, const struct outbox_attempt *a,
				    struct err *e)
{
	struct q q;
	int rc = q_open(SQ(cc), S_ATTEMPT_INSERT, &q, e);
	if (rc)
		return rc;
	q_i64(&q, 1, a->outbox_id);
	q_i64(&q, 2, a->started_at);
	q_opt(&q, 3, a->finished_at);
	q_opt(&q, 4, a->http_status);
	q_text(&q, 5, a->error);
	q_text(&q, 6, a->external_id);
	return q_end(&q, q_exec(&q));
}

static int sq_outbox_list(struct store_conn *cc, int statuses, int64_t incident_id, int64_t offset,
			  int64_t limit, store_outbox_cb cb, void *arg, int64_t *total,
			  struct err *e)
{
	struct sq_conn *c = SQ(cc);
	struct where w = {.sql = BUF_INIT};
	struct buf sql = BUF_INIT;
	struct q q;
	int rc = 0;
	const char *st_vals[OB_STATUS_COUNT + 1] = {0};
	int n = 0;
	if (statuses == (1 << OB_PENDING | 1 << OB_UNCERTAIN)) {
		where_and(&w, OUTBOX_OPEN); /* the shapes of the partial indexes */
	} else if (statuses == 1 << OB_DEAD) {
		where_and(&w, "status = 'dead'");
	} else if (statuses) {
		for (int i = 0; i < OB_STATUS_COUNT; i++)
			if (statuses & (1 << i))
				st_vals[n++] = outbox_status_name((enum outbox_status)i);
		where_in_text(&w, "status", st_vals);
	}
	if (incident_id) {
		where_and(&w, "incident_id = ?");
		where_int(&w, incident_id);
	}
	if (total && (rc = count_where(c, "outbox", &w, total, e)))
		goto out;
	buf_printf(&sql, "SELECT " OUTBOX_COLS " FROM outbox%s ORDER BY id DESC LIMIT ? OFFSET ?",
		   buf_cstr(&w.sql));
	if ((rc = q_open_sql(c, buf_cstr(&sql), "list deliveries", &q, e)))
		goto out;
	where_bind(&w, &q);
	q_i64(&q, w.n + 1, limit > 0 ? limit : -1);
	q_i64(&q, w.n + 2, offset);
	while ((rc = q_step(&q)) > 0) {
		struct outbox_row r;
		if ((rc = read_outbox(&q, &r)))
			break;
		int stop = cb(&r, arg);
		outbox_row_clear(&r);
		if (stop)
			break;
	}
	rc = q_end(&q, rc);
out:
	buf_free(&sql);
	where_free(&w);
	return rc;
}

static int sq_outbox_attempts(struct store_conn *cc, int64_t outbox_id, store_attempt_cb cb,
			      void *arg, struct err *e)
{
	struct q q;
	int rc = q_open(SQ(cc), S_ATTEMPT_LIST, &q, e);
	if (rc)
		return rc;
	q_i64(&q, 1, outbox_id);
	while ((rc = q_step(&q)) > 0) {
		struct outbox_attempt a = {
			.outbox_id = q_col_i64(&q, 0),
			.n = q_col_i64(&q, 1),
			.started_at = q_col_i64(&q, 2),
			.finished_at = q_col_i64(&q, 3),
			.http_status = (long)q_col_i64(&q, 4),
			.error = (char *)q_col_str(&q, 5),
			.external_id = (char *)q_col_str(&q, 6),
		};
		if (q.rc)
			break;
		if (cb(&a, arg))
			break;
	}
	return q_end(&q, rc);
}

static int count_stmt(struct sq_conn *c, enum stmt_id id, int64_t *out, struct err *e)
{
	struct q q;
	int rc = q_open(c, id, &q, e);
	if (rc)
		return rc;
	rc = q_step(&q);
	*out = rc > 0 ? q_col_i64(&q, 0) : 0;
	return q_end(&q, rc);
}

static int sq_outbox_stats(struct store_conn *cc, struct outbox_stats *out, struct err *e)
{
	struct sq_conn *c = SQ(cc);
	memset(out, 0, sizeof *out);
	int rc = count_stmt(c, S_OUTBOX_COUNT_OPEN, &out->open, e);
	if (!rc)
		rc = count_stmt(c, S_OUTBOX_COUNT_DEAD, &out->dead, e);
	if (!rc)
		rc = count_stmt(c, S_OUTBOX_OLDEST_OPEN, &out->oldest_open_at, e);
	return rc;
}

static int sq_outbox_incident(struct store_conn *cc, int64_t incident_id,
			      struct outbox_incident *out, struct err *e)
{
	struct sq_conn *c = SQ(cc);
	struct q q;
	memset(out, 0, sizeof *out);
	int rc = q_open(c, S_OUTBOX_INC_COUNTS, &q, e);
	if (rc)
		return rc;
	q_i64(&q, 1, incident_id);
	while ((rc = q_step(&q)) > 0) {
		enum outbox_status st;
		const char *name = q_col_str(&q, 0);
		if (!outbox_status_parse(name, &st)) {
			q_row(&q, "outbox", 0);
			q_bad(&q, "status", "has the unknown status '%.40s'",
			      name ? name : "(NULL)");
			break;
		}
		out->count[st] = q_col_i64(&q, 1);
	}
	if ((rc = q_end(&q, rc)))
		return rc;
	if ((rc = q_open(c, S_OUTBOX_INC_CREATE, &q, e)))
		return rc;
	q_i64(&q, 1, incident_id);
	if ((rc = q_step(&q)) > 0) {
		const char *t = q_col_str(&q, 0);
		snprintf(out->create_target, sizeof out->create_target, "%s", t ? t : "");
	}
	if ((rc = q_end(&q, rc)))
		return rc;
	if (!out->count[OB_DEAD])
		return 0;
	if ((rc = q_open(c, S_OUTBOX_INC_ERROR, &q, e)))
		return rc;
	q_i64(&q, 1, incident_id);
	if ((rc = q_step(&q)) > 0) {
		const char *t = q_col_str(&q, 0);
		snprintf(out->last_error, sizeof out->last_error, "%.*s",
			 t ? (int)utf8_cut(t, strlen(t), sizeof out->last_error - 1) : 0,
			 t ? t : "");
	}
	return q_end(&q, rc);
}

/* ---- settings ---- */

static int read_setting(struct q *q, struct setting_row *s)
{
	memset(s, 0, sizeof *s);
	s->key = q_col_dup(q, 0);
	q_row(q, "settings", 0);
	s->value = q_col_dup(q, 1);
	s->updated_at = q_col_i64(q, 2);
	s->updated_by = q_col_dup(q, 3);
	s->reason = q_col_dup(q, 4);
	if (!q->rc && (!s->key || !s->value))
		q_bad(q, "value", "is NULL");
	if (q->rc)
		setting_row_clear(s);
	return q->rc;
}

static int sq_setting_get(struct store_conn *cc, const char *key, struct setting_row *out,
			  struct err *e)
{
	struct q q;
	int rc = q_open(SQ(cc), S_SETTING_GET, &q, e);
	if (rc)
		return rc;
	q_text(&q, 1, key);
	rc = q_step(&q);
	if (rc > 0)
		rc = read_setting(&q, out);
	else if (rc == 0)
		rc = ERR_NOTFOUND;
	return q_end(&q, rc);
}

static int sq_setting_put(struct store_conn *cc, const struct setting_row *s, struct err *e)
{
	struct q q;
	int rc = q_open(SQ(cc), S_SETTING_PUT, &q, e);
	if (rc)
		return rc;
	q_text(&q, 1, s->key);
	q_text(&q, 2, s->value);
	q_i64(&q, 3, s->updated_at);
	q_text(&q, 4, s->updated_by);
	q_text(&q, 5, s->reason);
	return q_end(&q, q_exec(&q));
}

static int sq_setting_list(struct store_conn *cc, store_setting_cb cb, void *arg, struct err *e)
{
	struct q q;
	int rc = q_open(SQ(cc), S_SETTING_LIST, &q, e);
	if (rc)
		return rc;
	while ((rc = q_step(&q)) > 0) {
		struct setting_row s;
		if ((rc = read_setting(&q, &s)))
			break;
		int stop = cb(&s, arg);
		setting_row_clear(&s);
		if (stop)
			break;
	}
	return q_end(&q, rc);
}

/* ---- gate inputs ---- */

static void q_real(struct q *q, int i, struct opt_real v)
{
	q_bound(q, v.set ? sqlite3_bind_double(q->st, i, v.v) : sqlite3_bind_null(q->st, i));
}

static int sq_eval_result_insert(struct store_conn *cc, const struct eval_result *r,
				 int64_t received_at, int64_t *id, struct err *e)
{
	struct sq_conn *c = SQ(cc);
	struct q q;
	int rc = q_open(c, S_EVAL_INSERT, &q, e);
	if (rc)
		return rc;
	q_text(&q, 1, r->task_id);
	q_text(&q, 2, r->agent);
	q_i64(&q, 3, r->timestamp);
	q_i64(&q, 4, r->success);
	q_real(&q, 5, r->quality_score);
	q_real(&q, 6, r->latency_ms);
	q_real(&q, 7, r->cost);
	q_json(&q, 8, r->invariants, "[]");
	q_i64(&q, 9, r->failed_invariants);
	q_i64(&q, 10, received_at);
	rc = q_end(&q, q_exec(&q));
	if (!rc && id)
		*id = sqlite3_last_insert_rowid(c->db);
	return rc;
}

static int sq_metrics_daily_upsert(struct store_conn *cc, const struct metrics_daily *m,
				   int64_t now, struct err *e)
{
	struct q q;
	int rc = q_open(SQ(cc), S_METRICS_UPSERT, &q, e);
	if (rc)
		return rc;
	q_text(&q, 1, m->agent);
	q_text(&q, 2, m->date);
	q_i64(&q, 3, m->total_runs);
	q_i64(&q, 4, m->successful_runs);
	q_real(&q, 5, m->avg_quality_score);
	q_real(&q, 6, m->avg_latency_ms);
	q_real(&q, 7, m->p50_latency_ms);
	q_real(&q, 8, m->p95_latency_ms);
	q_real(&q, 9, m->p99_latency_ms);
	q_real(&q, 10, m->avg_cost);
	q_i64(&q, 11, m->invariants_passed);
	q_i64(&q, 12, m->invariants_failed);
	q_i64(&q, 13, now);
	return q_end(&q, q_exec(&q));
}

static int sq_canary_run_insert(struct store_conn *cc, const struct canary_run *r,
				int64_t received_at, int64_t *id, struct err *e)
{
	struct sq_conn *c = SQ(cc);
	struct q q;
	int rc = q_open(c, S_CANARY_INSERT, &q, e);
	if (rc)
		return rc;
	q_text(&q, 1, r->canary);
	q_text(&q, 2, r->version);
	q_text(&q, 3, r->variant);
	q_real(&q, 4, r->quality_score);
	q_real(&q, 5, r->latency_ms);
	q_real(&q, 6, r->cost);
	q_i64(&q, 7, r->timestamp);
	q_i64(&q, 8, received_at);
	rc = q_end(&q, q_exec(&q));
	if (!rc && id)
		*id = sqlite3_last_insert_rowid(c->db);
	return rc;
}

static struct opt_real q_col_real(struct q *q, int i)
{
	if (sqlite3_column_type(q->st, i) == SQLITE_NULL)
		return (struct opt_real){0};
	return (struct opt_real){.set = true, .v = sqlite3_column_double(q->st, i)};
}

static int sq_metrics_range(struct store_conn *cc, const char *agent, const char *from,
			    const char *to, store_metrics_cb cb, void *arg, struct err *e)
{
	struct q q;
	int rc = q_open(SQ(cc), agent ? S_METRICS_AGENT_WINDOW : S_METRICS_WINDOW, &q, e);
	if (rc)
		return rc;
	int n = 1;
	if (agent)
		q_text(&q, n++, agent);
	q_text(&q, n++, from);
	q_text(&q, n, to);
	while ((rc = q_step(&q)) > 0) {
		struct metrics_daily m = {0};
		const char *date = q_col_str(&q, 1);
		m.agent = (char *)q_col_str(&q, 0);
		snprintf(m.date, sizeof m.date, "%s", date ? date : "");
		m.total_runs = sqlite3_column_int64(q.st, 2);
		m.successful_runs = sqlite3_column_int64(q.st, 3);
		m.avg_quality_score = q_col_real(&q, 4);
		m.avg_latency_ms = q_col_real(&q, 5);
		m.p50_latency_ms = q_col_real(&q, 6);
		m.p95_latency_ms = q_col_real(&q, 7);
		m.p99_latency_ms = q_col_real(&q, 8);
		m.avg_cost = q_col_real(&q, 9);
		m.invariants_passed = sqlite3_column_int64(q.st, 10);
		m.invariants_failed = sqlite3_column_int64(q.st, 11);
		if (q.rc || !m.agent)
			break;
		if (cb(&m, arg))
			break;
	}
	return q_end(&q, rc);
}

static int sq_metrics_updated(struct store_conn *cc, int64_t after, store_metrics_updated_cb cb,
			      void *arg, struct err *e)
{
	struct q q;
	int rc = q_open(SQ(cc), S_METRICS_UPDATED, &q, e);
	if (rc)
		return rc;
	q_i64(&q, 1, after);
	while ((rc = q_step(&q)) > 0) {
		const char *agent = q_col_str(&q, 0), *date = q_col_str(&q, 1);
		if (q.rc || !agent || !date)
			break;
		if (cb(agent, date, sqlite3_column_int64(q.st, 2), arg))
			break;
	}
	return q_end(&q, rc);
}

static int sq_eval_failed(struct store_conn *cc, int64_t after_id, int64_t since, int64_t limit,
			  store_eval_failed_cb cb, void *arg, struct err *e)
{
	struct q q;
	int rc = q_open(SQ(cc), S_EVAL_FAILED, &q, e);
	if (rc)
		return rc;
	q_i64(&q, 1, after_id);
	q_i64(&q, 2, since);
	q_i64(&q, 3, limit);
	while ((rc = q_step(&q)) > 0) {
		const char *task = q_col_str(&q, 1), *agent = q_col_str(&q, 2);
		const char *inv = q_col_str(&q, 4);
		if (q.rc || !task || !agent || !inv)
			break;
		if (cb(sqlite3_column_int64(q.st, 0), task, agent, sqlite3_column_int64(q.st, 3),
		       inv, arg))
			break;
	}
	return q_end(&q, rc);
}

static int sq_canary_new(struct store_conn *cc, int64_t after_id, store_canary_new_cb cb, void *arg,
			 struct err *e)
{
	struct q q;
	int rc = q_open(SQ(cc), S_CANARY_NEW, &q, e);
	if (rc)
		return rc;
	q_i64(&q, 1, after_id);
	while ((rc = q_step(&q)) > 0) {
		const char *canary = q_col_str(&q, 1);
		if (q.rc || !canary)
			break;
		if (cb(sqlite3_column_int64(q.st, 0), canary, arg))
			break;
	}
	return q_end(&q, rc);
}

static int sq_canary_last(struct store_conn *cc, const char *canary, int64_t n,
			  store_canary_run_cb cb, void *arg, struct err *e)
{
	struct q q;
	int rc = q_open(SQ(cc), S_CANARY_LAST, &q, e);
	if (rc)
		return rc;
	q_text(&q, 1, canary);
	q_i64(&q, 2, n);
	while ((rc = q_step(&q)) > 0) {
		struct canary_run r = {0};
		r.canary = (char *)q_col_str(&q, 1);
		r.version = (char *)q_col_str(&q, 2);
		const char *variant = q_col_str(&q, 3);
		snprintf(r.variant, sizeof r.variant, "%s", variant ? variant : "");
		r.quality_score = q_col_real(&q, 4);
		r.latency_ms = q_col_real(&q, 5);
		r.cost = q_col_real(&q, 6);
		r.timestamp = sqlite3_column_int64(q.st, 7);
		if (q.rc || !r.canary || !r.version)
			break;
		if (cb(&r, arg))
			break;
	}
	return q_end(&q, rc);
}

static const enum stmt_id gate_query_stmt[SGQ_COUNT] = {
	[SGQ_EVAL_FAILED] = S_EVAL_FAILED,
	[SGQ_METRICS_UPDATED] = S_METRICS_UPDATED,
	[SGQ_METRICS_WINDOW] = S_METRICS_WINDOW,
	[SGQ_METRICS_AGENT_WINDOW] = S_METRICS_AGENT_WINDOW,
	[SGQ_CANARY_LAST] = S_CANARY_LAST,
	[SGQ_CANARY_NEW] = S_CANARY_NEW,
};

/* EXPLAIN QUERY PLAN of the named statement: one "detail" line per step. A one-off
 * statement, finalized here. */
static int sq_gate_query_plan(struct store_conn *cc, enum store_gate_query gq, struct buf *plan,
			      struct err *e)
{
	struct sq_conn *c = SQ(cc);
	const struct stmt_def *d = &stmts[gate_query_stmt[gq]];
	char *sql = NULL;
	sqlite3_stmt *st = NULL;
	struct buf b = BUF_INIT;
	buf_printf(&b, "EXPLAIN QUERY PLAN %s", d->sql);
	sql = buf_steal(&b);
	int rc = sq_prepare(c, sql, &st);
	if (rc != SQLITE_OK) {
		rc = sq_err(c, rc, e, d->what);
		goto out;
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *detail = (const char *)sqlite3_column_text(st, 3);
		buf_printf(plan, "%s\n", detail ? detail : "");
	}
	rc = rc == SQLITE_DONE ? 0 : sq_err(c, rc, e, d->what);
out:
	sqlite3_finalize(st);
	free(sql);
	return rc;
}

static int sq_exec_sql(struct store_conn *cc, const char *sql, struct err *e)
{
	struct sq_conn *c = SQ(cc);
	char *msg = NULL;
	int rc = sqlite3_exec(c->db, sql, NULL, NULL, &msg);
	if (rc == SQLITE_OK)
		return 0;
	rc = err_set(e, (rc & 0xff) == SQLITE_BUSY ? ERR_BUSY : ERR_IO, "storage: exec: %s",
		     msg ? msg : sqlite3_errstr(rc));
	sqlite3_free(msg);
	return rc;
}

static int sq_wstate_get(struct store_conn *cc, const char *key, int64_t *value, struct err *e)
{
	struct q q;
	int rc = q_open(SQ(cc), S_WSTATE_GET, &q, e);
	if (rc)
		return rc;
	q_text(&q, 1, key);
	*value = 0;
	rc = q_step(&q);
	if (rc > 0) {
		*value = sqlite3_column_int64(q.st, 0);
		rc = 0;
	}
	return q_end(&q, rc);
}

static int sq_wstate_put(struct store_conn *cc, const char *key, int64_t value, int64_t now,
			 struct err *e)
{
	struct q q;
	int rc = q_open(SQ(cc), S_WSTATE_PUT, &q, e);
	if (rc)
		return rc;
	q_text(&q, 1, key);
	q_i64(&q, 2, value);
	q_i64(&q, 3, now);
	return q_end(&q, q_exec(&q));
}

static int sq_sla_breach_insert(struct store_conn *cc, int64_t incident_id, const char *stage,
				int64_t due_at, int64_t now, bool *added, struct err *e)
{
	struct sq_conn *c = SQ(cc);
	struct q q;
	int rc = q_open(c, S_SLA_BREACH_INSERT, &q, e);
	if (rc)
		return rc;
	q_i64(&q, 1, incident_id);
	q_text(&q, 2, stage);
	q_i64(&q, 3, due_at);
	q_i64(&q, 4, now);
	rc = q_end(&q, q_exec(&q));
	*added = !rc && sqlite3_changes(c->db) == 1;
	return rc;
}

static const struct store_ops sq_ops = {
	.name = "sqlite",
	.free = sq_free,
	.migrate = sq_migrate,
	.check_schema = sq_check_schema,
	.connect = sq_connect,
	.disconnect = sq_disconnect,
	.begin = sq_begin,
	.commit = sq_commit,
	.rollback = sq_rollback,
	.savepoint = sq_savepoint,
	.release = sq_release,
	.rollback_to = sq_rollback_to,
	.in_transaction = sq_in_transaction,
	.read_begin = sq_read_begin,
	.read_end = sq_read_end,
	.writer_setup = sq_writer_setup,
	.writer_maintain = sq_writer_maintain,
	.checkpoint = sq_checkpoint,
	.meta_hash_key = sq_meta_hash_key,
	.incident_get = sq_incident_get,
	.incident_find_active = sq_incident_find_active,
	.incident_insert = sq_incident_insert,
	.incident_update = sq_incident_update,
	.incident_touch = sq_incident_touch,
	.incident_count_since = sq_incident_count_since,
	.incident_list = sq_incident_list,
	.incident_counts = sq_incident_counts,
	.incident_recent_keys = sq_incident_recent_keys,
	.comment_insert = sq_comment_insert,
	.comment_list = sq_comment_list,
	.event_last = sq_event_last,
	.event_next_id = sq_event_next_id,
	.event_insert = sq_event_insert,
	.event_list = sq_event_list,
	.event_head = sq_event_head,
	.event_latest = sq_event_latest,
	.event_prune = sq_event_prune,
	.silence_insert = sq_silence_insert,
	.silence_get = sq_silence_get,
	.silence_set_end = sq_silence_set_end,
	.silence_list = sq_silence_list,
	.token_insert = sq_token_insert,
	.token_list = sq_token_list,
	.token_revoke = sq_token_revoke,
	.token_version = sq_token_version,
	.probe_write = sq_probe_write,
	.token_find = sq_token_find,
	.session_insert = sq_session_insert,
	.session_end = sq_session_end,
	.session_list = sq_session_list,
	.session_prune = sq_session_prune,
	.idem_get = sq_idem_get,
	.idem_put = sq_idem_put,
	.idem_prune = sq_idem_prune,
	.exec_sql = sq_exec_sql,
	.action_insert = sq_action_insert,
	.action_get = sq_action_get,
	.action_update = sq_action_update,
	.action_list = sq_action_list,
	.action_running_on = sq_action_running_on,
	.action_expired = sq_action_expired,
	.outbox_insert = sq_outbox_insert,
	.outbox_get = sq_outbox_get,
	.outbox_next = sq_outbox_next,
	.outbox_update = sq_outbox_update,
	.outbox_attempt_insert = sq_outbox_attempt_insert,
	.outbox_list = sq_outbox_list,
	.outbox_attempts = sq_outbox_attempts,
	.outbox_stats = sq_outbox_stats,
	.outbox_incident = sq_outbox_incident,
	.setting_get = sq_setting_get,
	.setting_put = sq_setting_put,
	.setting_list = sq_setting_list,
	.sla_breach_insert = sq_sla_breach_insert,
	.wstate_get = sq_wstate_get,
	.wstate_put = sq_wstate_put,
	.eval_result_insert = sq_eval_result_insert,
	.metrics_daily_upsert = sq_metrics_daily_upsert,
	.canary_run_insert = sq_canary_run_insert,
	.gate_query_plan = sq_gate_query_plan,
	.metrics_range = sq_metrics_range,
	.metrics_updated = sq_metrics_updated,
	.eval_failed = sq_eval_failed,
	.canary_new = sq_canary_new,
	.canary_last = sq_canary_last,
};

int store_sqlite_new(const char *path, struct store **out, struct err *e)
{
	if (!*path)
		return err_set(e, ERR_INVALID, "storage.url: the sqlite path is empty");
	struct sq_store *q = xcalloc(1, sizeof *q);
	if (pthread_mutex_init(&q->probe_mu, NULL)) {
		free(q);
		return err_set(e, ERR_IO, "storage: cannot create a mutex");
	}
	q->base.ops = &sq_ops;
	q->path = xstrdup(path);
	*out = &q->base;
	return 0;
}
