/* model.h — the domain types of intervene: incidents, comments, events, silences
 * and the incident statuses (SPEC §3, §4).
 *
 * Plain data shared by every layer: the store fills these rows, core/ changes them,
 * api/ and templates read them. Strings are malloc'd (NULL = SQL NULL); json_t fields
 * are owned references. Rows returned to a caller are released with their *_clear
 * function, which accepts a zeroed struct. No thread rules: one row, one owner. */
#ifndef INTERVENE_CORE_MODEL_H
#define INTERVENE_CORE_MODEL_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

enum incident_status { ST_OPEN, ST_ACKNOWLEDGED, ST_MITIGATED, ST_RESOLVED, ST_CLOSED, ST_COUNT };

/* One row of incidents. Strings are malloc'd (NULL = SQL NULL); json_t fields are
 * owned references (never NULL once loaded: {} or []). */
struct incident {
	int64_t id;
	char *kind, *key;
	int severity; /* 1..4 */
	enum incident_status status;
	char *summary;
	json_t *details;
	char *source;
	json_t *playbooks;
	char *assigned_to;
	int64_t parent_id;
	char *issue_url;
	json_t *issue_ref; /* object or NULL */
	int64_t occurrences;
	int64_t last_seen_at, created_at, updated_at;
	int64_t acknowledged_at, mitigated_at, resolved_at, closed_at, reopened_at;
	char *acknowledged_by, *mitigated_by, *resolved_by, *closed_by;
	json_t *notes;
	json_t *metadata;
};

void incident_clear(struct incident *inc);

struct comment {
	int64_t id, incident_id;
	char *author, *body;
	int64_t created_at;
};
void comment_clear(struct comment *c);

/* An event row. data is the exact canonical JSON text that is hashed. */
struct event {
	int64_t id;
	char *type;
	int64_t incident_id; /* 0 = none */
	char *actor;
	char *data;
	char created_at[32]; /* RFC 3339 text, as hashed */
	char prev_hash[65], hash[65];
};
void event_clear(struct event *ev);

struct silence {
	int64_t id;
	char *kind; /* NULL = any kind */
	char *key_glob;
	char *reason, *created_by;
	int64_t starts_at, ends_at;
};
void silence_clear(struct silence *s);

/* ---- delivery (SPEC §3 outbox, §8.2) ---- */

enum outbox_op { OB_CREATE_ISSUE, OB_COMMENT, OB_CLOSE_ISSUE, OB_NOTIFY, OB_OP_COUNT };
enum outbox_status { OB_PENDING, OB_UNCERTAIN, OB_DONE, OB_DEAD, OB_STATUS_COUNT };

/* One outbound call. target is "tracker:<provider>" or "webhook:<name>"; payload is
 * JSON text whose shape depends on op (core/outbox.h). */
struct outbox_row {
	int64_t id, incident_id;
	char *target;
	enum outbox_op op;
	char *payload;
	char *idempotency_key;
	enum outbox_status status;
	int64_t attempts;
	int64_t next_attempt_at;
	char *last_error;  /* NULL when none */
	char *external_id; /* the issue number or key it made or acted on, or NULL */
	int64_t created_at, updated_at;
};
void outbox_row_clear(struct outbox_row *r);

/* One call of the ledger. */
struct outbox_attempt {
	int64_t outbox_id, n;
	int64_t started_at, finished_at;
	long http_status; /* 0 when no response arrived */
	char *error;	  /* NULL on success */
	char *external_id;
};
void outbox_attempt_clear(struct outbox_attempt *a);

const char *outbox_op_name(enum outbox_op op);
bool outbox_op_parse(const char *s, enum outbox_op *out);
const char *outbox_status_name(enum outbox_status s);
bool outbox_status_parse(const char *s, enum outbox_status *out);

/* ---- playbook actions (SPEC §3 incident_actions, §9) ---- */
enum action_status {
	AS_DRY_RUN_SUCCESS,
	AS_DRY_RUN_FAILED,
	AS_APPROVED,
	AS_RUNNING,
	AS_SUCCESS,
	AS_FAILED,
	AS_CANCELLED,
	AS_ROLLED_BACK,
	AS_STATUS_COUNT
};

/* One plan and its run. params, plan, result and inverse are JSON text (result and
 * inverse NULL until set); target is what the action acts on ("canary:planner",
 * "dbt:<project dir>", "es:<index>"), one running action per target. Times are
 * milliseconds, 0 when unset; rollback_of 0 when the plan is not a rollback. */
struct action_row {
	int64_t id, incident_id;
	char *action_type, *params, *plan, *plan_hash, *target;
	enum action_status status;
	char *requested_by, *approved_by,
		*executed_by; /* approved_by, executed_by NULL when unset */
	int64_t approved_at, started_at, finished_at;
	char *result, *error, *log, *inverse;
	int64_t rollback_of;
	bool cancel_requested;
	char *lease_owner;
	int64_t lease_until;
	int64_t created_at, updated_at;
};
void action_row_clear(struct action_row *a);
const char *action_status_name(enum action_status s);
bool action_status_parse(const char *s, enum action_status *out);

/* A runtime setting (SPEC §5.3): value is the JSON text stored. */
struct setting_row {
	char *key, *value;
	int64_t updated_at;
	char *updated_by, *reason;
};
void setting_row_clear(struct setting_row *s);

/* ---- gate inputs (SPEC §10.1, §10.2, §10.4) ---- */

/* A REAL column that may be absent (SQL NULL when !set). */
struct opt_real {
	bool set;
	double v;
};

/* One eval result. invariants is a JSON array of invariant objects (owned);
 * failed_invariants counts those with passed = false. */
struct eval_result {
	char *task_id, *agent;
	int64_t timestamp;
	bool success;
	struct opt_real quality_score, latency_ms, cost;
	json_t *invariants;
	int64_t failed_invariants;
};
void eval_result_clear(struct eval_result *r);

/* One daily rollup of an agent; date is "YYYY-MM-DD" (UTC). */
struct metrics_daily {
	char *agent;
	char date[11];
	int64_t total_runs, successful_runs;
	struct opt_real avg_quality_score, avg_latency_ms, p50_latency_ms, p95_latency_ms,
		p99_latency_ms, avg_cost;
	int64_t invariants_passed, invariants_failed;
};
void metrics_daily_clear(struct metrics_daily *m);

/* One run sample of a canary rollout; variant is "baseline" or "canary". */
struct canary_run {
	char *canary, *version;
	char variant[9];
	struct opt_real quality_score, latency_ms, cost;
	int64_t timestamp;
};
void canary_run_clear(struct canary_run *r);

/* "open", "acknowledged", ...; NULL for a value outside the enum. */
const char *incident_status_name(enum incident_status s);
/* Status name → status; false (and *out untouched) when unknown. */
bool incident_status_parse(const char *s, enum incident_status *out);

#endif
