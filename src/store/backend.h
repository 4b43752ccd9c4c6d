/* backend.h — what a storage backend implements (private to src/store/).
 *
 * struct store and struct store_conn start with the backend's ops table; each
 * backend extends them in its own file. store.c dispatches every store.h call
 * through these pointers. Adding a backend: implement this table in a new file and
 * add its URL scheme to store_new() in store.c. A backend asks
 * store_fault_check(c->fault, op, c->writer, ...) before each prepare, step, begin,
 * savepoint, release, rollback_to and commit, and fails an injected call exactly where
 * and how the real failure would (fault.h). */
#ifndef INTERVENE_STORE_BACKEND_H
#define INTERVENE_STORE_BACKEND_H

#include "store/fault.h"
#include "store/store.h"

struct store_ops;

struct store {
	const struct store_ops *ops;
	struct store_fault fault; /* inert unless a test arms it (fault.h) */
};

/* The generic part of a connection; store.c fills it after ops->connect. */
struct store_conn {
	const struct store_ops *ops;
	struct store_fault *fault; /* its store's: backends ask it before each op */
	bool writer;		   /* store_writer_setup made it the writer */
	unsigned long failures;	   /* ERR_IO / ERR_BUSY returned by calls on it */
	struct err last_failure;   /* the latest of them */
	uint32_t due_targets;	   /* store_target_bit of targets given due outbox rows
				    * since store_take_due_targets */
};

struct store_ops {
	const char *name;
	void (*free)(struct store *s);
	int (*migrate)(struct store *s, int *version, struct err *e);
	int (*check_schema)(struct store *s, struct err *e);
	int (*connect)(struct store *s, bool readonly, struct store_conn **out, struct err *e);
	void (*disconnect)(struct store_conn *c);
	int (*begin)(struct store_conn *c, struct err *e);
	int (*commit)(struct store_conn *c, struct err *e);
	int (*rollback)(struct store_conn *c, struct err *e);
	int (*savepoint)(struct store_conn *c, struct err *e);
	int (*release)(struct store_conn *c, struct err *e);
	int (*rollback_to)(struct store_conn *c, struct err *e);
	bool (*in_transaction)(struct store_conn *c);
	int (*read_begin)(struct store_conn *c, struct err *e);
	int (*read_end)(struct store_conn *c, struct err *e);
	int (*writer_setup)(struct store_conn *c, struct err *e);
	void (*writer_maintain)(struct store_conn *c);
	int (*checkpoint)(struct store_conn *c);
	int (*meta_hash_key)(struct store_conn *c, unsigned char key[32], struct err *e);
	int (*incident_get)(struct store_conn *c, int64_t id, struct incident *out, struct err *e);
	int (*incident_find_active)(struct store_conn *c, const char *kind, const char *key,
				    struct incident *out, struct err *e);
	int (*incident_insert)(struct store_conn *c, struct incident *inc, struct err *e);
	int (*incident_update)(struct store_conn *c, const struct incident *inc, struct err *e);
	int (*incident_touch)(struct store_conn *c, int64_t id, int64_t occurrences,
			      int64_t last_seen_at, int severity, struct err *e);
	int (*incident_count_since)(struct store_conn *c, const char *kind, const char *key,
				    int64_t since, int64_t *count, struct err *e);
	int (*incident_list)(struct store_conn *c, const struct incident_filter *f,
			     store_incident_cb cb, void *arg, int64_t *total, struct err *e);
	int (*incident_counts)(struct store_conn *c, int64_t counts[ST_COUNT][5], struct err *e);
	int (*incident_recent_keys)(struct store_conn *c, int64_t since, int limit, store_key_cb cb,
				    void *arg, struct err *e);
	int (*comment_insert)(struct store_conn *c, struct comment *cm, struct err *e);
	int (*comment_list)(struct store_conn *c, int64_t incident_id, int64_t offset,
			    int64_t limit, store_comment_cb cb, void *arg, int64_t *total,
			    struct err *e);
	int (*event_last)(struct store_conn *c, int64_t *id, char hash[65], struct err *e);
	int (*event_next_id)(struct store_conn *c, int64_t *id, struct err *e);
	int (*event_insert)(struct store_conn *c, const struct event *ev, struct err *e);
	int (*event_list)(struct store_conn *c, const struct event_filter *f, store_event_cb cb,
			  void *arg, int64_t *total, struct err *e);
	int (*event_head)(struct store_conn *c, struct store_event_head *out, struct err *e);
	int (*event_latest)(struct store_conn *c, const char *type, struct event *out,
			    struct err *e);
	int (*event_prune)(struct store_conn *c, int64_t before, int64_t limit,
			   struct store_prune *out, struct err *e);
	int (*silence_insert)(struct store_conn *c, struct silence *s, struct err *e);
	int (*silence_get)(struct store_conn *c, int64_t id, struct silence *out, struct err *e);
	int (*silence_set_end)(struct store_conn *c, int64_t id, int64_t ends_at, struct err *e);
	int (*silence_list)(struct store_conn *c, int64_t now, bool include_ended, int64_t offset,
			    int64_t limit, store_silence_cb cb, void *arg, int64_t *total,
			    struct err *e);
	int (*token_insert)(struct store_conn *c, struct token_row *t, struct err *e);
	int (*token_list)(struct store_conn *c, store_token_cb cb, void *arg, struct err *e);
	int (*token_revoke)(struct store_conn *c, const char *name, int64_t at,
			    struct token_row *out, struct err *e);
	int (*token_version)(struct store_conn *c, int64_t *version, struct err *e);
	int (*probe_write)(struct store_conn *c, struct err *e);
	int (*token_find)(struct store_conn *c, const unsigned char hash[32], struct token_row *out,
			  struct err *e);
	int (*session_insert)(struct store_conn *c, const unsigned char hash[32], int64_t token_id,
			      int64_t created_at, int64_t expires_at, struct err *e);
	int (*session_end)(struct store_conn *c, const unsigned char hash[32], int64_t at,
			   struct err *e);
	int (*session_list)(struct store_conn *c, int64_t now, store_session_cb cb, void *arg,
			    struct err *e);
	int (*session_prune)(struct store_conn *c, int64_t now, int64_t limit, int64_t *deleted,
			     struct err *e);
	int (*idem_get)(struct store_conn *c, const char *scope, const char *key, int64_t since,
			int *status, struct buf *body, struct err *e);
	int (*idem_put)(struct store_conn *c, const char *scope, const char *key, int status,
			const char *body, int64_t at, struct err *e);
	int (*idem_prune)(struct store_conn *c, int64_t before, int64_t limit, int64_t *deleted,
			  struct err *e);
	int (*exec_sql)(struct store_conn *c, const char *sql, struct err *e);
	int (*outbox_insert)(struct store_conn *c, struct outbox_row *r, struct err *e);
	int (*outbox_get)(struct store_conn *c, int64_t id, struct outbox_row *out, struct err *e);
	int (*outbox_next)(struct store_conn *c, const char *target, int64_t now,
			   struct outbox_row *out, int64_t *next_due, struct err *e);
	int (*outbox_update)(struct store_conn *c, const struct outbox_row *r, struct err *e);
	int (*outbox_attempt_insert)(struct store_conn *c, const struct outbox_attempt *a,
				     struct err *e);
	int (*outbox_list)(struct store_conn *c, int statuses, int64_t incident_id, int64_t offset,
			   int64_t limit, store_outbox_cb cb, void *arg, int64_t *total,
			   struct err *e);
	int (*outbox_attempts)(struct store_conn *c, int64_t outbox_id, store_attempt_cb cb,
			       void *arg, struct err *e);
	int (*outbox_stats)(struct store_conn *c, struct outbox_stats *out, struct err *e);
	int (*outbox_incident)(struct store_conn *c, int64_t incident_id,
			       struct outbox_incident *out, struct err *e);
	int (*setting_get)(struct store_conn *c, const char *key, struct setting_row *out,
			   struct err *e);
	int (*setting_put)(struct store_conn *c, const struct setting_row *s, struct err *e);
	int (*setting_list)(struct store_conn *c, store_setting_cb cb, void *arg, struct err *e);
	int (*action_insert)(struct store_conn *c, struct action_row *a, struct err *e);
	int (*action_get)(struct store_conn *c, int64_t id, struct action_row *out, struct err *e);
	int (*action_update)(struct store_conn *c, const struct action_row *a, struct err *e);
	int (*action_list)(struct store_conn *c, int64_t incident_id, int64_t offset, int64_t limit,
			   store_action_cb cb, void *arg, int64_t *total, struct err *e);
	int (*action_running_on)(struct store_conn *c, const char *target, int64_t *id,
				 struct err *e);
	int (*action_expired)(struct store_conn *c, int64_t now, store_action_cb cb, void *arg,
			      struct err *e);
	int (*sla_breach_insert)(struct store_conn *c, int64_t incident_id, const char *stage,
				 int64_t due_at, int64_t now, bool *added, struct err *e);
	int (*wstate_get)(struct store_conn *c, const char *key, int64_t *value, struct err *e);
	int (*wstate_put)(struct store_conn *c, const char *key, int64_t value, int64_t now,
			  struct err *e);
	int (*eval_result_insert)(struct store_conn *c, const struct eval_result *r,
				  int64_t received_at, int64_t *id, struct err *e);
	int (*metrics_daily_upsert)(struct store_conn *c, const struct metrics_daily *m,
				    int64_t now, struct err *e);
	int (*canary_run_insert)(struct store_conn *c, const struct canary_run *r,
				 int64_t received_at, int64_t *id, struct err *e);
	int (*gate_query_plan)(struct store_conn *c, enum store_gate_query q, struct buf *plan,
			       struct err *e);
	int (*metrics_range)(struct store_conn *c, const char *agent, const char *from,
			     const char *to, store_metrics_cb cb, void *arg, struct err *e);
	int (*metrics_updated)(struct store_conn *c, int64_t after, store_metrics_updated_cb cb,
			       void *arg, struct err *e);
	int (*eval_failed)(struct store_conn *c, int64_t after_id, int64_t since, int64_t limit,
			   store_eval_failed_cb cb, void *arg, struct err *e);
	int (*canary_new)(struct store_conn *c, int64_t after_id, store_canary_new_cb cb, void *arg,
			  struct err *e);
	int (*canary_last)(struct store_conn *c, const char *canary, int64_t n,
			   store_canary_run_cb cb, void *arg, struct err *e);
};

/* Backend constructors, called by store_new with the part of the URL after "scheme://". */
int store_sqlite_new(const char *path, struct store **out, struct err *e);

#endif
