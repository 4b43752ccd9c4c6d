/* store.h — the storage contract: rows, connections, transactions, queries.
 *
 * A struct store describes one database (opened from storage.url); a struct
 * store_conn is one connection owned by exactly one thread. Backends implement
 * struct store_ops (sqlite.c today); the functions below dispatch through it, so
 * nothing outside src/store/ sees a database library.
 *
 * Tests make any of a store's operations fail on purpose through store/fault.h.
 *
 * Transactions: the writer thread wraps group commits with store_begin/commit and
 * each job in store_savepoint/release/rollback_to (see pool.h). Local commands
 * (token, audit) use store_begin/commit on their own connection. Read connections
 * are read-only snapshots per call.
 *
 * Timestamps are int64 milliseconds since the epoch (0 = NULL). Rows returned
 * through out-parameters are owned by the caller and released with their *_clear
 * function. Errors: ERR_NOTFOUND, ERR_CONFLICT (unique violation), ERR_BUSY
 * (database locked or newer than this binary), ERR_IO (anything else), with a
 * message in e. A stored value that cannot be read back as what its column holds
 * (JSON that does not parse or has the wrong shape, an unknown status, a severity
 * outside 1..4, a hash of the wrong length) is ERR_IO naming table, column and row,
 * and is logged — never replaced by a default. */
#ifndef INTERVENE_STORE_H
#define INTERVENE_STORE_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/model.h"
#include "util/buf.h"
#include "util/err.h"

struct token_row {
	int64_t id;
	char *name;
	char *role; /* viewer | responder | approver | admin */
	unsigned char hash[32];
	int64_t created_at, expires_at, revoked_at; /* 0 = never / not revoked */
	char *created_by;
};
void token_row_clear(struct token_row *t);

/* Filters for listing incidents; arrays are NULL-terminated or NULL for "any". */
struct incident_filter {
	int statuses;	/* bit mask of 1 << enum incident_status; 0 = any */
	int severities; /* bit mask of 1 << sev (1..4); 0 = any */
	const char *const *kinds;
	const char *const *assignees;
	const char *q; /* case-insensitive substring of summary or key */
	int64_t since; /* created_at >= since, 0 = any */
	bool sort_severity;
	int64_t page, per_page;
};

struct event_filter {
	int64_t after_id;
	int64_t incident_id;	  /* 0 = any */
	const char *const *types; /* NULL = any */
	int64_t limit, offset;
	bool count_total;
};

/* Callback invoked for each row of a list; return non-zero to stop. */
typedef int (*store_incident_cb)(const struct incident *inc, void *arg);
typedef int (*store_event_cb)(const struct event *ev, void *arg);
typedef int (*store_comment_cb)(const struct comment *c, void *arg);
typedef int (*store_silence_cb)(const struct silence *s, void *arg);
typedef int (*store_token_cb)(const struct token_row *t, void *arg);
typedef int (*store_key_cb)(const char *kind, const char *key, void *arg);

struct store;
struct store_conn;

/* Open the database named by url (sqlite://PATH). Nothing is connected yet.
 * *out is freed with store_free. */
int store_new(const char *url, struct store **out, struct err *e);
void store_free(struct store *s);

/* Apply pending migrations (creating the database when absent). Refuses with
 * ERR_BUSY a database whose schema is newer than this binary. *version gets the
 * schema version now in effect. */
int store_migrate(struct store *s, int *version, struct err *e);

/* Check that the schema is current (for /readyz and local commands):
 * 0, or ERR_BUSY with a message. */
int store_check_schema(struct store *s, struct err *e);

/* Open a connection for the calling thread. readonly connections refuse writes. */
int store_connect(struct store *s, bool readonly, struct store_conn **out, struct err *e);
void store_disconnect(struct store_conn *c);

/* Transactions (write connections). begin takes the write lock (BEGIN IMMEDIATE). */
int store_begin(struct store_conn *c, struct err *e);
int store_commit(struct store_conn *c, struct err *e);
/* Roll back the open transaction (nothing when none is open). A failure is logged
 * and returned: the connection may then still be inside it. */
int store_rollback(struct store_conn *c);
/* One savepoint level ("job"): savepoint opens it, release keeps its changes,
 * rollback_to undoes them and closes it. When rollback_to fails the state of the
 * whole transaction is unknown: roll it back. */
int store_savepoint(struct store_conn *c, struct err *e);
int store_release(struct store_conn *c, struct err *e);
int store_rollback_to(struct store_conn *c, struct err *e);
/* Whether c is inside a transaction. The database may roll one back by itself on a
 * disk-full or I/O error; after such an error a writer checks this before going on. */
bool store_in_transaction(struct store_conn *c);
/* Read snapshot for a sequence of reads on a read connection. end fails only when the
 * snapshot could not be closed (it then pins the WAL until the connection closes). */
int store_read_begin(struct store_conn *c, struct err *e);
int store_read_end(struct store_conn *c, struct err *e);

/* How many storage errors (ERR_IO, ERR_BUSY) calls on c have returned so far, and in
 * *last (may be NULL) the latest one's message. The writer compares the count around
 * a job to catch an error the job did not report. */
unsigned long store_failures(struct store_conn *c, struct err *last);

/* Make c the server's writer connection: no automatic checkpoints in its commits
 * (the pool runs passive checkpoints from another connection). */
int store_writer_setup(struct store_conn *c, struct err *e);

/* On the writer, after a commit's replies are out: keep the write-ahead log bounded
 * (under steady load the background checkpoint never reaches the log's end, so the
 * writer folds it back itself once it grows past a threshold). */
void store_writer_maintain(struct store_conn *c);

/* Passive WAL checkpoint (from a connection of its own): 0, ERR_BUSY when another
 * checkpoint is running, ERR_IO. */
int store_checkpoint(struct store_conn *c);

/* ---- meta ---- */
/* The 32-byte secret key for token hashes, created with the schema. */
int store_meta_hash_key(struct store_conn *c, unsigned char key[32], struct err *e);

/* ---- incidents ---- */
int store_incident_get(struct store_conn *c, int64_t id, struct incident *out, struct err *e);
/* The active incident of (kind, key): 0 and *out filled, or ERR_NOTFOUND. */
int store_incident_find_active(struct store_conn *c, const char *kind, const char *key,
			       struct incident *out, struct err *e);
/* Insert inc (id ignored); sets inc->id. ERR_CONFLICT if (kind, key) is active. */
int store_incident_insert(struct store_conn *c, struct incident *inc, struct err *e);
/* Write every column of inc to row inc->id. ERR_CONFLICT on the active-key index,
 * ERR_NOTFOUND when the row does not exist. */
int store_incident_update(struct store_conn *c, const struct incident *inc, struct err *e);
/* Just the dedup columns: occurrences, last_seen_at, severity, updated_at. */
int store_incident_touch(struct store_conn *c, int64_t id, int64_t occurrences,
			 int64_t last_seen_at, int severity, struct err *e);
/* Incidents of (kind, key) created at or after since. */
int store_incident_count_since(struct store_conn *c, const char *kind, const char *key,
			       int64_t since, int64_t *count, struct err *e);
/* Lean listing: calls cb for each row of the page (only lean columns filled). */
int store_incident_list(struct store_conn *c, const struct incident_filter *f, store_incident_cb cb,
			void *arg, int64_t *total, struct err *e);
/* Number of incidents per status and severity: counts[status][severity 1..4]. */
int store_incident_counts(struct store_conn *c, int64_t counts[ST_COUNT][5], struct err *e);
/* Distinct (kind, key) of incidents created at or after since, newest first, at most limit. */
int store_incident_recent_keys(struct store_conn *c, int64_t since, int limit, store_key_cb cb,
			       void *arg, struct err *e);

/* ---- comments ---- */
int store_comment_insert(struct store_conn *c, struct comment *cm, struct err *e);
int store_comment_list(struct store_conn *c, int64_t incident_id, int64_t offset, int64_t limit,
		       store_comment_cb cb, void *arg, int64_t *total, struct err *e);

/* ---- events ---- */
/* The stored head of the log: the newest event and how many events are retained.
 * Kept in the same transaction as every insert and prune, so a log whose end was cut
 * off behind the program's back no longer matches it (event_audit). */
struct store_event_head {
	int64_t last_id; /* 0 when nothing was ever appended */
	char hash[65];	 /* 64 zeros when nothing was ever appended */
	int64_t retained;
};
int store_event_head(struct store_conn *c, struct store_event_head *out, struct err *e);
/* The newest event's id and hash as the stored head records them (0 and 64 zeros
 * when the log is empty): what the next event links to. */
int store_event_last(struct store_conn *c, int64_t *id, char hash[65], struct err *e);
/* The id the next appended event will get. */
int store_event_next_id(struct store_conn *c, int64_t *id, struct err *e);
/* Insert ev exactly as given (id, hashes included) and make it the stored head. */
int store_event_insert(struct store_conn *c, const struct event *ev, struct err *e);
int store_event_list(struct store_conn *c, const struct event_filter *f, store_event_cb cb,
		     void *arg, int64_t *total, struct err *e);
/* The newest event of type (*out owned by the caller: event_clear), or ERR_NOTFOUND. */
int store_event_latest(struct store_conn *c, const char *type, struct event *out, struct err *e);

/* What store_event_prune removed. */
struct store_prune {
	int64_t pruned;	       /* events deleted */
	int64_t last_id;       /* the newest of them, 0 when none */
	char last_hash[65];    /* its hash: what the first kept event links to */
	int64_t first_kept_id; /* the oldest event left, 0 when none is left */
	bool more;	       /* the limit stopped it: more of the prefix is prunable */
};
/* Delete the oldest events — only a contiguous prefix of the log, at most limit — as
 * long as each was created before `before` and belongs to no incident or to an
 * incident closed before `before`; the first event that does not qualify ends the
 * prefix. Lowers the stored head's count in the same transaction. Write transaction;
 * the caller records the pruning point (an audit_anchor) in it too. */
int store_event_prune(struct store_conn *c, int64_t before, int64_t limit, struct store_prune *out,
		      struct err *e);

/* ---- silences ---- */
int store_silence_insert(struct store_conn *c, struct silence *s, struct err *e);
int store_silence_get(struct store_conn *c, int64_t id, struct silence *out, struct err *e);
int store_silence_set_end(struct store_conn *c, int64_t id, int64_t ends_at, struct err *e);
/* Silences active at now (all when include_ended). */
int store_silence_list(struct store_conn *c, int64_t now, bool include_ended, int64_t offset,
		       int64_t limit, store_silence_cb cb, void *arg, int64_t *total,
		       struct err *e);

/* ---- tokens ---- */
int store_token_insert(struct store_conn *c, struct token_row *t, struct err *e);
int store_token_list(struct store_conn *c, store_token_cb cb, void *arg, struct err *e);
/* Revoke by name: ERR_NOTFOUND when no unrevoked token has that name. */
int store_token_revoke(struct store_conn *c, const char *name, int64_t at, struct token_row *out,
		       struct err *e);
/* A write that changes nothing but really reaches the disk at commit (for the
 * readiness probe: after a failed commit, proves writes work again). Write job. */
int store_probe_write(struct store_conn *c, struct err *e);

/* A number that changes whenever the tokens table changes (any connection or
 * process): lets the server reload its token cache cheaply. */
int store_token_version(struct store_conn *c, int64_t *version, struct err *e);

/* The token row whose hash is hash (revoked or not), or ERR_NOTFOUND. */
int store_token_find(struct store_conn *c, const unsigned char hash[32], struct token_row *out,
		     struct err *e);

/* ---- sessions ---- */
struct session_row {
	unsigned char hash[32];
	char *token_name, *role;
	int64_t expires_at;
};
typedef int (*store_session_cb)(const struct session_row *s, void *arg);

int store_session_insert(struct store_conn *c, const unsigned char hash[32], int64_t token_id,
			 int64_t created_at, int64_t expires_at, struct err *e);
/* End the live session with this hash; ERR_NOTFOUND when there is none. */
int store_session_end(struct store_conn *c, const unsigned char hash[32], int64_t at,
		      struct err *e);
/* Live sessions at now whose token is neither revoked nor expired. */
int store_session_list(struct store_conn *c, int64_t now, store_session_cb cb, void *arg,
		       struct err *e);
/* Delete at most limit sessions that are dead at now — ended, expired, or of a token
 * revoked or expired; *deleted gets how many. */
int store_session_prune(struct store_conn *c, int64_t now, int64_t limit, int64_t *deleted,
			struct err *e);

/* ---- idempotency ---- */
/* A stored response for (scope, key) created at or after since: 0 with status/body, or ERR_NOTFOUND. */
int store_idem_get(struct store_conn *c, const char *scope, const char *key, int64_t since,
		   int *status, struct buf *body, struct err *e);
int store_idem_put(struct store_conn *c, const char *scope, const char *key, int status,
		   const char *body, int64_t at, struct err *e);
/* Delete at most limit stored responses created before `before`, oldest first;
 * *deleted gets how many. */
int store_idem_prune(struct store_conn *c, int64_t before, int64_t limit, int64_t *deleted,
		     struct err *e);

/* ---- outbox (delivery, SPEC §8.2) ---- */
/* A target's bit in the mask of store_take_due_targets (a hash: targets may share
 * one, which only costs a needless look). */
uint32_t store_target_bit(const char *target);
/* The targets (bits) given a row to deliver — inserted, or made pending or uncertain
 * by an update — by calls on c since the last take; the mask is cleared. On the writer
 * after a commit: whose delivery threads should look again. Rolled-back calls count
 * too (a needless look, never a missed one). */
uint32_t store_take_due_targets(struct store_conn *c);
/* Insert r (id, attempts ignored; status pending); sets r->id. */
int store_outbox_insert(struct store_conn *c, struct outbox_row *r, struct err *e);
int store_outbox_get(struct store_conn *c, int64_t id, struct outbox_row *out, struct err *e);
/* The next row target may deliver at now: pending or uncertain, due, and the first not
 * yet done of its incident for this target (rows of one incident go in id order; a
 * dead row blocks the ones behind it). ERR_NOTFOUND when none; *next_due (may be NULL)
 * gets the earliest due time of the target's deliverable rows, or 0 when none is
 * waiting. */
int store_outbox_next(struct store_conn *c, const char *target, int64_t now, struct outbox_row *out,
		      int64_t *next_due, struct err *e);
/* Write r's status, attempts, next_attempt_at, last_error, external_id, updated_at. */
int store_outbox_update(struct store_conn *c, const struct outbox_row *r, struct err *e);
/* Append a call to a row's ledger; a->n is ignored: the store numbers a row's calls
 * 1, 2, ... (a retried dead row goes on counting after its earlier calls). */
int store_outbox_attempt_insert(struct store_conn *c, const struct outbox_attempt *a,
				struct err *e);
typedef int (*store_outbox_cb)(const struct outbox_row *r, void *arg);
typedef int (*store_attempt_cb)(const struct outbox_attempt *a, void *arg);
/* Rows newest first, filtered by status (statuses: bit mask of 1 << enum
 * outbox_status, 0 = any) and incident (0 = any). */
int store_outbox_list(struct store_conn *c, int statuses, int64_t incident_id, int64_t offset,
		      int64_t limit, store_outbox_cb cb, void *arg, int64_t *total, struct err *e);
/* The ledger of one row, oldest call first. */
int store_outbox_attempts(struct store_conn *c, int64_t outbox_id, store_attempt_cb cb, void *arg,
			  struct err *e);
struct outbox_stats {
	int64_t open; /* pending + uncertain */
	int64_t dead;
	int64_t oldest_open_at; /* created_at of the oldest open row, 0 when none */
};
int store_outbox_stats(struct store_conn *c, struct outbox_stats *out, struct err *e);
/* How the rows of one incident stand (counts per status), and the target of its first
 * create_issue row ("" when it has none). */
struct outbox_incident {
	int64_t count[OB_STATUS_COUNT];
	char create_target[80];
	char last_error[256]; /* of its newest dead row, or "" */
};
int store_outbox_incident(struct store_conn *c, int64_t incident_id, struct outbox_incident *out,
			  struct err *e);

/* ---- playbook actions (SPEC §9) ---- */
/* Insert a (sets a->id). A second running action on a->target is ERR_CONFLICT. */
int store_action_insert(struct store_conn *c, struct action_row *a, struct err *e);
/* ERR_NOTFOUND "action N not found". */
int store_action_get(struct store_conn *c, int64_t id, struct action_row *out, struct err *e);
/* Write every mutable column of a (status, approval, run, result, error, log,
 * inverse, cancel_requested, lease, updated_at) by a->id. Moving a to running while
 * another action on its target runs is ERR_CONFLICT (the database's unique index). */
int store_action_update(struct store_conn *c, const struct action_row *a, struct err *e);
typedef int (*store_action_cb)(const struct action_row *a, void *arg);
/* Actions newest first, of one incident (0 = all); *total when total is not NULL. */
int store_action_list(struct store_conn *c, int64_t incident_id, int64_t offset, int64_t limit,
		      store_action_cb cb, void *arg, int64_t *total, struct err *e);
/* The id of the action running on target, 0 when none. */
int store_action_running_on(struct store_conn *c, const char *target, int64_t *id, struct err *e);
/* Running actions whose lease ended before now (abandoned by a dead executor). */
int store_action_expired(struct store_conn *c, int64_t now, store_action_cb cb, void *arg,
			 struct err *e);

/* ---- settings (SPEC §5.3) ---- */
int store_setting_get(struct store_conn *c, const char *key, struct setting_row *out,
		      struct err *e);
/* Insert or replace the row of s->key. */
int store_setting_put(struct store_conn *c, const struct setting_row *s, struct err *e);
typedef int (*store_setting_cb)(const struct setting_row *s, void *arg);
/* Every setting, by key. */
int store_setting_list(struct store_conn *c, store_setting_cb cb, void *arg, struct err *e);

/* ---- SLA breaches (SPEC §4.4) ---- */
/* Record that stage ("ack", "mitigate", "resolve") of an incident passed due_at
 * unmet. *added: false when that breach was already recorded (by this or another
 * instance), so its event is recorded once. */
int store_sla_breach_insert(struct store_conn *c, int64_t incident_id, const char *stage,
			    int64_t due_at, int64_t now, bool *added, struct err *e);

/* ---- the watcher's marks (watcher_state) ---- */
/* The value of key, 0 when it was never written. */
int store_wstate_get(struct store_conn *c, const char *key, int64_t *value, struct err *e);
int store_wstate_put(struct store_conn *c, const char *key, int64_t value, int64_t now,
		     struct err *e);
/* ---- gate inputs (SPEC §10) ---- */
/* Insert one eval result received at received_at; *id (may be NULL) gets its id. */
int store_eval_result_insert(struct store_conn *c, const struct eval_result *r, int64_t received_at,
			     int64_t *id, struct err *e);
/* Insert or replace the rollup of (m->agent, m->date); updated_at is set to now. */
int store_metrics_daily_upsert(struct store_conn *c, const struct metrics_daily *m, int64_t now,
			       struct err *e);
/* Insert one canary run sample received at received_at; *id (may be NULL) gets its id. */
int store_canary_run_insert(struct store_conn *c, const struct canary_run *r, int64_t received_at,
			    int64_t *id, struct err *e);

/* The queries the watcher and the gate report run over those tables, by name. The
 * statements are the store's own; store_gate_query_plan describes how the backend
 * runs one, so a test can check that each uses its index. */
enum store_gate_query {
	SGQ_EVAL_FAILED,	  /* results with failed invariants after a high-water mark */
	SGQ_METRICS_UPDATED,	  /* rollups uploaded after a time */
	SGQ_METRICS_WINDOW,	  /* every agent's rollups of a date window */
	SGQ_METRICS_AGENT_WINDOW, /* one agent's rollups of a date window */
	SGQ_CANARY_LAST,	  /* the last N runs of a canary */
	SGQ_CANARY_NEW,		  /* runs after a high-water mark */
	SGQ_COUNT
};
/* The readers of those queries. Rows are borrowed by the callback (valid during the
 * call); a non-zero return stops. */
typedef int (*store_metrics_cb)(const struct metrics_daily *m, void *arg);
/* Rollups of [from, to) (dates "YYYY-MM-DD"), of one agent or (agent NULL) all. */
int store_metrics_range(struct store_conn *c, const char *agent, const char *from, const char *to,
			store_metrics_cb cb, void *arg, struct err *e);
typedef int (*store_metrics_updated_cb)(const char *agent, const char *date, int64_t updated_at,
					void *arg);
/* Rollups uploaded after `after` (updated_at, ms), oldest upload first. */
int store_metrics_updated(struct store_conn *c, int64_t after, store_metrics_updated_cb cb,
			  void *arg, struct err *e);
typedef int (*store_eval_failed_cb)(int64_t id, const char *task_id, const char *agent,
				    int64_t timestamp, const char *invariants, void *arg);
/* Up to limit results with failed invariants, id > after_id, received at or after
 * since, by id; invariants is the stored JSON array text. */
int store_eval_failed(struct store_conn *c, int64_t after_id, int64_t since, int64_t limit,
		      store_eval_failed_cb cb, void *arg, struct err *e);
typedef int (*store_canary_new_cb)(int64_t id, const char *canary, void *arg);
/* Canary runs with id > after_id, by id. */
int store_canary_new(struct store_conn *c, int64_t after_id, store_canary_new_cb cb, void *arg,
		     struct err *e);
typedef int (*store_canary_run_cb)(const struct canary_run *r, void *arg);
/* The last n runs of a canary, newest first. */
int store_canary_last(struct store_conn *c, const char *canary, int64_t n, store_canary_run_cb cb,
		      void *arg, struct err *e);

/* The backend's query plan of q, one step per line, appended to plan. */
int store_gate_query_plan(struct store_conn *c, enum store_gate_query q, struct buf *plan,
			  struct err *e);

/* ---- maintenance ---- */
/* Run sql (statements without parameters, in the backend's dialect) verbatim on c.
 * For tests and repair tools that must reach under this contract, e.g. to damage a
 * row on purpose and see that reads report it. The program never calls it; never
 * build its text from input. */
int store_exec_sql(struct store_conn *c, const char *sql, struct err *e);

#endif
