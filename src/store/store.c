/* store.c — store.h calls dispatched through the backend ops table, row helpers. */
#include "store/store.h"

#include <stdlib.h>
#include <string.h>

#include "store/backend.h"
#include "util/log.h"
#include "util/utf8.h"

/* Count a storage error returned by a call on c (store_failures). */
static int noted(struct store_conn *c, int rc, const struct err *e)
{
	if (rc == ERR_IO || rc == ERR_BUSY) {
		c->failures++;
		if (e)
			c->last_failure = *e;
		else
			err_set(&c->last_failure, rc, "storage error (the caller kept no message)");
	}
	return rc;
}

int store_migrate(struct store *s, int *version, struct err *e)
{
	return s->ops->migrate(s, version, e);
}

int store_check_schema(struct store *s, struct err *e)
{
	return s->ops->check_schema(s, e);
}

int store_connect(struct store *s, bool readonly, struct store_conn **out, struct err *e)
{
	int rc = s->ops->connect(s, readonly, out, e);
	if (!rc) {
		(*out)->fault = &s->fault;
		(*out)->writer = false;
		(*out)->failures = 0;
		err_clear(&(*out)->last_failure);
	}
	return rc;
}

void store_disconnect(struct store_conn *c)
{
	if (c)
		c->ops->disconnect(c);
}

int store_begin(struct store_conn *c, struct err *e)
{
	return noted(c, c->ops->begin(c, e), e);
}

int store_commit(struct store_conn *c, struct err *e)
{
	return noted(c, c->ops->commit(c, e), e);
}

int store_rollback(struct store_conn *c)
{
	struct err e;
	err_clear(&e);
	int rc = c->ops->rollback(c, &e);
	if (rc)
		log_error("rollback failed", "error=\"%s\"", e.msg);
	return noted(c, rc, &e);
}

int store_savepoint(struct store_conn *c, struct err *e)
{
	return noted(c, c->ops->savepoint(c, e), e);
}

int store_release(struct store_conn *c, struct err *e)
{
	return noted(c, c->ops->release(c, e), e);
}

int store_rollback_to(struct store_conn *c, struct err *e)
{
	return noted(c, c->ops->rollback_to(c, e), e);
}

bool store_in_transaction(struct store_conn *c)
{
	return c->ops->in_transaction(c);
}

unsigned long store_failures(struct store_conn *c, struct err *last)
{
	if (last)
		*last = c->last_failure;
	return c->failures;
}

int store_read_begin(struct store_conn *c, struct err *e)
{
	return noted(c, c->ops->read_begin(c, e), e);
}

int store_read_end(struct store_conn *c, struct err *e)
{
	return noted(c, c->ops->read_end(c, e), e);
}

int store_writer_setup(struct store_conn *c, struct err *e)
{
	c->writer = true;
	return c->ops->writer_setup(c, e);
}

void store_writer_maintain(struct store_conn *c)
{
	c->ops->writer_maintain(c);
}

int store_checkpoint(struct store_conn *c)
{
	return c->ops->checkpoint(c);
}

int store_meta_hash_key(struct store_conn *c, unsigned char key[32], struct err *e)
{
	return noted(c, c->ops->meta_hash_key(c, key, e), e);
}

int store_incident_get(struct store_conn *c, int64_t id, struct incident *out, struct err *e)
{
	return noted(c, c->ops->incident_get(c, id, out, e), e);
}

int store_incident_find_active(struct store_conn *c, const char *kind, const char *key,
			       struct incident *out, struct err *e)
{
	return noted(c, c->ops->incident_find_active(c, kind, key, out, e), e);
}

int store_incident_insert(struct store_conn *c, struct incident *inc, struct err *e)
{
	return noted(c, c->ops->incident_insert(c, inc, e), e);
}

int store_incident_update(struct store_conn *c, const struct incident *inc, struct err *e)
{
	return noted(c, c->ops->incident_update(c, inc, e), e);
}

int store_incident_touch(struct store_conn *c, int64_t id, int64_t occurrences,
			 int64_t last_seen_at, int severity, struct err *e)
{
	return noted(c, c->ops->incident_touch(c, id, occurrences, last_seen_at, severity, e), e);
}

int store_incident_count_since(struct store_conn *c, const char *kind, const char *key,
			       int64_t since, int64_t *count, struct err *e)
{
	return noted(c, c->ops->incident_count_since(c, kind, key, since, count, e), e);
}

int store_incident_list(struct store_conn *c, const struct incident_filter *f, store_incident_cb cb,
			void *arg, int64_t *total, struct err *e)
{
	return noted(c, c->ops->incident_list(c, f, cb, arg, total, e), e);
}

int store_incident_recent_keys(struct store_conn *c, int64_t since, int limit, store_key_cb cb,
			       void *arg, struct err *e)
{
	return noted(c, c->ops->incident_recent_keys(c, since, limit, cb, arg, e), e);
}

int store_comment_insert(struct store_conn *c, struct comment *cm, struct err *e)
{
	return noted(c, c->ops->comment_insert(c, cm, e), e);
}

int store_comment_list(struct store_conn *c, int64_t incident_id, int64_t offset, int64_t limit,
		       store_comment_cb cb, void *arg, int64_t *total, struct err *e)
{
	return noted(c, c->ops->comment_list(c, incident_id, offset, limit, cb, arg, total, e), e);
}

int store_event_last(struct store_conn *c, int64_t *id, char hash[65], struct err *e)
{
	return noted(c, c->ops->event_last(c, id, hash, e), e);
}

int store_event_next_id(struct store_conn *c, int64_t *id, struct err *e)
{
	return noted(c, c->ops->event_next_id(c, id, e), e);
}

int store_event_insert(struct store_conn *c, const struct event *ev, struct err *e)
{
	return noted(c, c->ops->event_insert(c, ev, e), e);
}

int store_event_list(struct store_conn *c, const struct event_filter *f, store_event_cb cb,
		     void *arg, int64_t *total, struct err *e)
{
	return noted(c, c->ops->event_list(c, f, cb, arg, total, e), e);
}

int store_event_head(struct store_conn *c, struct store_event_head *out, struct err *e)
{
	return noted(c, c->ops->event_head(c, out, e), e);
}

int store_event_latest(struct store_conn *c, const char *type, struct event *out, struct err *e)
{
	return noted(c, c->ops->event_latest(c, type, out, e), e);
}

int store_event_prune(struct store_conn *c, int64_t before, int64_t limit, struct store_prune *out,
		      struct err *e)
{
	return noted(c, c->ops->event_prune(c, before, limit, out, e), e);
}

int store_silence_insert(struct store_conn *c, struct silence *s, struct err *e)
{
	return noted(c, c->ops->silence_insert(c, s, e), e);
}

int store_silence_get(struct store_conn *c, int64_t id, struct silence *out, struct err *e)
{
	return noted(c, c->ops->silence_get(c, id, out, e), e);
}

int store_silence_set_end(struct store_conn *c, int64_t id, int64_t ends_at, struct err *e)
{
	return noted(c, c->ops->silence_set_end(c, id, ends_at, e), e);
}

int store_silence_list(struct store_conn *c, int64_t now, bool include_ended, int64_t offset,
		       int64_t limit, store_silence_cb cb, void *arg, int64_t *total, struct err *e)
{
	return noted(c,
		     c->ops->silence_list(c, now, include_ended, offset, limit, cb, arg, total, e),
		     e);
}

int store_token_insert(struct store_conn *c, struct token_row *t, struct err *e)
{
	return noted(c, c->ops->token_insert(c, t, e), e);
}

int store_token_list(struct store_conn *c, store_token_cb cb, void *arg, struct err *e)
{
	return noted(c, c->ops->token_list(c, cb, arg, e), e);
}

int store_token_revoke(struct store_conn *c, const char *name, int64_t at, struct token_row *out,
		       struct err *e)
{
	return noted(c, c->ops->token_revoke(c, name, at, out, e), e);
}

int store_probe_write(struct store_conn *c, struct err *e)
{
	return noted(c, c->ops->probe_write(c, e), e);
}

int store_token_version(struct store_conn *c, int64_t *version, struct err *e)
{
	return noted(c, c->ops->token_version(c, version, e), e);
}

int store_incident_counts(struct store_conn *c, int64_t counts[ST_COUNT][5], struct err *e)
{
	return noted(c, c->ops->incident_counts(c, counts, e), e);
}

int store_token_find(struct store_conn *c, const unsigned char hash[32], struct token_row *out,
		     struct err *e)
{
	return noted(c, c->ops->token_find(c, hash, out, e), e);
}

int store_session_insert(struct store_conn *c, const unsigned char hash[32], int64_t token_id,
			 int64_t created_at, int64_t expires_at, struct err *e)
{
	return noted(c, c->ops->session_insert(c, hash, token_id, created_at, expires_at, e), e);
}

int store_session_end(struct store_conn *c, const unsigned char hash[32], int64_t at, struct err *e)
{
	return noted(c, c->ops->session_end(c, hash, at, e), e);
}

int store_session_list(struct store_conn *c, int64_t now, store_session_cb cb, void *arg,
		       struct err *e)
{
	return noted(c, c->ops->session_list(c, now, cb, arg, e), e);
}

int store_session_prune(struct store_conn *c, int64_t now, int64_t limit, int64_t *deleted,
			struct err *e)
{
	return noted(c, c->ops->session_prune(c, now, limit, deleted, e), e);
}

int store_idem_prune(struct store_conn *c, int64_t before, int64_t limit, int64_t *deleted,
		     struct err *e)
{
	return noted(c, c->ops->idem_prune(c, before, limit, deleted, e), e);
}

int store_idem_get(struct store_conn *c, const char *scope, const char *key, int64_t since,
		   int *status, struct buf *body, struct err *e)
{
	return noted(c, c->ops->idem_get(c, scope, key, since, status, body, e), e);
}

int store_idem_put(struct store_conn *c, const char *scope, const char *key, int status,
		   const char *body, int64_t at, struct err *e)
{
	return noted(c, c->ops->idem_put(c, scope, key, status, body, at, e), e);
}

uint32_t store_target_bit(const char *target)
{
	uint32_t h = 2166136261u; /* FNV-1a */
	for (const unsigned char *p = (const unsigned char *)target; *p; p++)
		h = (h ^ *p) * 16777619u;
	return 1u << (h % 32);
}

uint32_t store_take_due_targets(struct store_conn *c)
{
	uint32_t t = c->due_targets;
	c->due_targets = 0;
	return t;
}

int store_outbox_insert(struct store_conn *c, struct outbox_row *r, struct err *e)
{
	int rc = noted(c, c->ops->outbox_insert(c, r, e), e);
	if (!rc)
		c->due_targets |= store_target_bit(r->target);
	return rc;
}

int store_outbox_get(struct store_conn *c, int64_t id, struct outbox_row *out, struct err *e)
{
	return noted(c, c->ops->outbox_get(c, id, out, e), e);
}

int store_outbox_next(struct store_conn *c, const char *target, int64_t now, struct outbox_row *out,
		      int64_t *next_due, struct err *e)
{
	return noted(c, c->ops->outbox_next(c, target, now, out, next_due, e), e);
}

int store_outbox_update(struct store_conn *c, const struct outbox_row *r, struct err *e)
{
	int rc = noted(c, c->ops->outbox_update(c, r, e), e);
	if (!rc && (r->status == OB_PENDING || r->status == OB_UNCERTAIN))
		c->due_targets |= store_target_bit(r->target);
	return rc;
}

int store_outbox_attempt_insert(struct store_conn *c, const struct outbox_attempt *a, struct err *e)
{
	return noted(c, c->ops->outbox_attempt_insert(c, a, e), e);
}

int store_outbox_list(struct store_conn *c, int statuses, int64_t incident_id, int64_t offset,
		      int64_t limit, store_outbox_cb cb, void *arg, int64_t *total, struct err *e)
{
	return noted(
		c, c->ops->outbox_list(c, statuses, incident_id, offset, limit, cb, arg, total, e),
		e);
}

int store_outbox_attempts(struct store_conn *c, int64_t outbox_id, store_attempt_cb cb, void *arg,
			  struct err *e)
{
	return noted(c, c->ops->outbox_attempts(c, outbox_id, cb, arg, e), e);
}

int store_outbox_stats(struct store_conn *c, struct outbox_stats *out, struct err *e)
{
	return noted(c, c->ops->outbox_stats(c, out, e), e);
}

int store_outbox_incident(struct store_conn *c, int64_t incident_id, struct outbox_incident *out,
			  struct err *e)
{
	return noted(c, c->ops->outbox_incident(c, incident_id, out, e), e);
}

int store_action_insert(struct store_conn *c, struct action_row *a, struct err *e)
{
	return noted(c, c->ops->action_insert(c, a, e), e);
}

int store_action_get(struct store_conn *c, int64_t id, struct action_row *out, struct err *e)
{
	return noted(c, c->ops->action_get(c, id, out, e), e);
}

int store_action_update(struct store_conn *c, const struct action_row *a, struct err *e)
{
	return noted(c, c->ops->action_update(c, a, e), e);
}

int store_action_list(struct store_conn *c, int64_t incident_id, int64_t offset, int64_t limit,
		      store_action_cb cb, void *arg, int64_t *total, struct err *e)
{
	return noted(c, c->ops->action_list(c, incident_id, offset, limit, cb, arg, total, e), e);
}

int store_action_running_on(struct store_conn *c, const char *target, int64_t *id, struct err *e)
{
	*id = 0;
	return noted(c, c->ops->action_running_on(c, target, id, e), e);
}

int store_action_expired(struct store_conn *c, int64_t now, store_action_cb cb, void *arg,
			 struct err *e)
{
	return noted(c, c->ops->action_expired(c, now, cb, arg, e), e);
}

int store_setting_get(struct store_conn *c, const char *key, struct setting_row *out, struct err *e)
{
	return noted(c, c->ops->setting_get(c, key, out, e), e);
}

int store_sla_breach_insert(struct store_conn *c, int64_t incident_id, const char *stage,
			    int64_t due_at, int64_t now, bool *added, struct err *e)
{
	*added = false;
	return noted(c, c->ops->sla_breach_insert(c, incident_id, stage, due_at, now, added, e), e);
}

int store_metrics_range(struct store_conn *c, const char *agent, const char *from, const char *to,
			store_metrics_cb cb, void *arg, struct err *e)
{
	return noted(c, c->ops->metrics_range(c, agent, from, to, cb, arg, e), e);
}

int store_metrics_updated(struct store_conn *c, int64_t after, store_metrics_updated_cb cb,
			  void *arg, struct err *e)
{
	return noted(c, c->ops->metrics_updated(c, after, cb, arg, e), e);
}

int store_eval_failed(struct store_conn *c, int64_t after_id, int64_t since, int64_t limit,
		      store_eval_failed_cb cb, void *arg, struct err *e)
{
	return noted(c, c->ops->eval_failed(c, after_id, since, limit, cb, arg, e), e);
}

int store_canary_new(struct store_conn *c, int64_t after_id, store_canary_new_cb cb, void *arg,
		     struct err *e)
{
	return noted(c, c->ops->canary_new(c, after_id, cb, arg, e), e);
}

int store_canary_last(struct store_conn *c, const char *canary, int64_t n, store_canary_run_cb cb,
		      void *arg, struct err *e)
{
	return noted(c, c->ops->canary_last(c, canary, n, cb, arg, e), e);
}

int store_wstate_get(struct store_conn *c, const char *key, int64_t *value, struct err *e)
{
	*value = 0;
	return noted(c, c->ops->wstate_get(c, key, value, e), e);
}

int store_wstate_put(struct store_conn *c, const char *key, int64_t value, int64_t now,
		     struct err *e)
{
	return noted(c, c->ops->wstate_put(c, key, value, now, e), e);
}

int store_setting_put(struct store_conn *c, const struct setting_row *s, struct err *e)
{
	return noted(c, c->ops->setting_put(c, s, e), e);
}

int store_setting_list(struct store_conn *c, store_setting_cb cb, void *arg, struct err *e)
{
	return noted(c, c->ops->setting_list(c, cb, arg, e), e);
}

int store_eval_result_insert(struct store_conn *c, const struct eval_result *r, int64_t received_at,
			     int64_t *id, struct err *e)
{
	return noted(c, c->ops->eval_result_insert(c, r, received_at, id, e), e);
}

int store_metrics_daily_upsert(struct store_conn *c, const struct metrics_daily *m, int64_t now,
			       struct err *e)
{
	return noted(c, c->ops->metrics_daily_upsert(c, m, now, e), e);
}

int store_canary_run_insert(struct store_conn *c, const struct canary_run *r, int64_t received_at,
			    int64_t *id, struct err *e)
{
	return noted(c, c->ops->canary_run_insert(c, r, received_at, id, e), e);
}

int store_gate_query_plan(struct store_conn *c, enum store_gate_query q, struct buf *plan,
			  struct err *e)
{
	if ((int)q < 0 || q >= SGQ_COUNT)
		return err_set(e, ERR_INVALID, "storage: no gate query %d", (int)q);
	return noted(c, c->ops->gate_query_plan(c, q, plan, e), e);
}

int store_exec_sql(struct store_conn *c, const char *sql, struct err *e)
{
	return noted(c, c->ops->exec_sql(c, sql, e), e);
}

int store_new(const char *url, struct store **out, struct err *e)
{
	static const char sqlite_scheme[] = "sqlite://";
	*out = NULL;
	int rc;
	if (!strncmp(url, sqlite_scheme, sizeof sqlite_scheme - 1)) {
		const char *path = url + sizeof sqlite_scheme - 1;
		/* The path is opened as a plain file name: a query would silently name a new
		 * database instead of being applied. */
		if (strpbrk(path, "?#"))
			return err_set(e, ERR_INVALID,
				       "storage.url: a sqlite:// URL takes a file path only "
				       "(sqlite://PATH): ?query and #fragment are not supported, "
				       "got \"%.*s\"",
				       (int)utf8_cut(url, strlen(url), 64), url);
		rc = store_sqlite_new(path, out, e);
	} else if (!strncmp(url, "postgres://", 11) || !strncmp(url, "postgresql://", 13)) {
		return err_set(
			e, ERR_INVALID,
			"storage.url: PostgreSQL support is not built into this version yet");
	} else {
		return err_set(e, ERR_INVALID, "storage.url: unsupported scheme in \"%.*s\"",
			       (int)utf8_cut(url, strlen(url), 64), url);
	}
	if (!rc)
		store_fault_init(&(*out)->fault);
	return rc;
}

void store_free(struct store *s)
{
	if (s)
		s->ops->free(s);
}

void token_row_clear(struct token_row *t)
{
	if (!t)
		return;
	free(t->name);
	free(t->role);
	free(t->created_by);
	memset(t, 0, sizeof *t);
}
