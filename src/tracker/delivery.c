/* delivery.c — the outbox's delivery threads; see delivery.h. */
#include "tracker/delivery.h"

#include <pthread.h>
#include <signal.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/event.h"
#include "core/incident.h"
#include "core/outbox.h"
#include "core/settings.h"
#include "template/issue.h"
#include "tracker/tracker.h"
#include "tracker/webhook.h"
#include "util/http_client.h"
#include "util/json.h"
#include "util/log.h"
#include "util/thread.h"
#include "util/time.h"
#include "util/utf8.h"

#define ACTOR		"system:outbox"
#define IDLE_WAIT_MS	60000 /* look again now and then even without a wake */
#define STORE_RETRY_MS	5000  /* after the store failed us */
#define BACKOFF_BASE_MS 1000
#define BACKOFF_CAP_MS	(10 * 60 * 1000)
#define TARGET_MAX	96

enum result { RES_DELIVERED, RES_RETRIED, RES_DEAD, RES_COUNT };
static const char *const result_names[RES_COUNT] = {"delivered", "retried", "dead"};

struct lane {
	struct delivery *d;
	pthread_t th;
	bool started;
	atomic_bool alive; /* from before its thread starts until lane_main returns */
	char target[TARGET_MAX];
	uint32_t bit;			   /* store_target_bit(target) */
	uint64_t seq;			   /* bumped by every wake of this lane; under d->mu */
	pthread_cond_t cond;		   /* its thread waits on it, with d->mu */
	const struct tracker_ops *ops;	   /* tracker lanes */
	const struct config_webhook *hook; /* webhook lanes */
	bool primed;			   /* pacing: the bucket starts full */
	double tokens;			   /* tokens in the bucket... */
	int64_t tokens_at;		   /* ...as of this monotonic time */
	atomic_ullong counts[OB_OP_COUNT][RES_COUNT];
};

struct tester {
	struct delivery *d;
	pthread_t th;
	void (*done)(void *arg, json_t *result);
	void *arg;
	struct tester *next;
};

struct delivery {
	const struct config *cfg;
	struct store_pool *pool;
	pthread_mutex_t mu; /* guards the lanes' seq, testers, and the waits on lane conds */
	/* Set once at stop. Also the cancel flag of every HTTP call the threads make
	 * (http_client_cancel_thread); written under mu, read without it (a late read
	 * only delays the stop by one check). */
	volatile sig_atomic_t stopping;
	struct lane *lanes;
	size_t n_lanes;
	struct tester *testers;
};

/* ---- store jobs (store_pool_run_sync) ---- */

/* Run fn on a store thread (a reader or, for writes, inside the writer's batch) and
 * wait for it and, for writes, its commit. */
static int run_job(struct delivery *d, enum job_kind kind,
		   int (*fn)(struct store_conn *c, void *arg, struct err *e), void *arg,
		   struct err *e)
{
	return store_pool_call(d->pool, kind, fn, arg, e);
}

/* ---- waiting ---- */

static uint64_t current_seq(struct lane *l)
{
	pthread_mutex_lock(&l->d->mu);
	uint64_t s = l->seq;
	pthread_mutex_unlock(&l->d->mu);
	return s;
}

/* Sleep up to ms, or until a wake of lane l after seq, or the stop. */
static void wait_for(struct lane *l, uint64_t seq, int64_t ms)
{
	struct delivery *d = l->d;
	if (ms <= 0)
		return;
	struct timespec ts;
	time_mono_deadline(ms, &ts);
	pthread_mutex_lock(&d->mu);
	while (!d->stopping && l->seq == seq)
		if (pthread_cond_timedwait(&l->cond, &d->mu, &ts))
			break; /* timed out */
	pthread_mutex_unlock(&d->mu);
}

/* ---- pacing ---- */

/* Spend one token of the lane's bucket (burst tokens, refilled at per_minute), waiting
 * for it when the bucket is empty. false when stopping. */
static bool take_token(struct lane *l, const struct config *tcfg)
{
	double rate = (double)tcfg->tracker.pace.per_minute / 60000.0; /* tokens per ms */
	double burst = (double)tcfg->tracker.pace.burst;
	if (!l->primed) {
		l->primed = true;
		l->tokens = burst;
		l->tokens_at = time_mono_ms();
	}
	for (;;) {
		int64_t now = time_mono_ms();
		l->tokens += (double)(now - l->tokens_at) * rate;
		l->tokens_at = now;
		if (l->tokens > burst)
			l->tokens = burst;
		if (l->tokens >= 1.0) {
			l->tokens -= 1.0;
			return true;
		}
		if (l->d->stopping)
			return false;
		int64_t ms = (int64_t)((1.0 - l->tokens) / rate) + 1;
		/* only the stop ends this wait early: a wake does not bring tokens */
		wait_for(l, current_seq(l), ms);
	}
}

/* Calls beyond the first of an operation (a Jira close reads transitions first) are
 * paid after the fact: the bucket may go below zero, and the next call waits longer. */
static void charge(struct lane *l, int calls)
{
	if (calls > 1)
		l->tokens -= (double)(calls - 1);
}

/* ---- one delivery ---- */

struct next_arg {
	const char *target;
	struct outbox_row *row;
	int64_t due;
};

static int next_fn(struct store_conn *c, void *arg, struct err *e)
{
	struct next_arg *a = arg;
	return store_outbox_next(c, a->target, time_now_ms(), a->row, &a->due, e);
}

struct load_arg {
	const struct config *cfg;
	int64_t incident_id;
	bool want_tracker;
	struct config *tcfg; /* the tracker block in effect */
	struct incident inc;
	json_t *inc_json;
};

static int load_fn(struct store_conn *c, void *arg, struct err *e)
{
	struct load_arg *a = arg;
	int rc = 0;
	if (a->want_tracker && (rc = settings_tracker(c, a->cfg, &a->tcfg, e)))
		return rc;
	if ((rc = store_incident_get(c, a->incident_id, &a->inc, e)))
		return rc;
	return incident_load_json(c, a->cfg, a->incident_id, &a->inc_json, e);
}

static void load_clear(struct load_arg *a)
{
	config_free(a->tcfg);
	incident_clear(&a->inc);
	json_decref(a->inc_json);
	memset(a, 0, sizeof *a);
}

struct mark_arg {
	struct outbox_row *row;
};

static int mark_uncertain_fn(struct store_conn *c, void *arg, struct err *e)
{
	struct mark_arg *a = arg;
	a->row->status = OB_UNCERTAIN;
	a->row->updated_at = time_now_ms();
	return store_outbox_update(c, a->row, e);
}

struct finish_arg {
	struct lane *l;
	const struct config *cfg;
	struct outbox_row row; /* a copy: its state is decided in the job */
	const struct tracker_result *r;
	int64_t started_at;
	const char *provider; /* tracker rows */
	enum result result;
};

static int64_t backoff_ms(int64_t attempts)
{
	int64_t ms = BACKOFF_BASE_MS;
	for (int64_t i = 1; i < attempts && ms < BACKOFF_CAP_MS; i++)
		ms *= 2;
	if (ms > BACKOFF_CAP_MS)
		ms = BACKOFF_CAP_MS;
	/* ±20 %: rows that failed together do not all come back together */
	int64_t span = ms / 5;
	return ms - span + (int64_t)randombytes_uniform((uint32_t)(2 * span + 1));
}

static int link_issue(struct store_conn *c, const struct config *cfg, struct finish_arg *a,
		      struct err *e)
{
	struct incident inc;
	int rc = store_incident_get(c, a->row.incident_id, &inc, e);
	if (rc)
		return rc;
	json_decref(inc.issue_ref);
	inc.issue_ref = jpack("{ss ss ss}", "provider", a->provider, "id", a->r->external_id, "url",
			      a->r->url);
	free(inc.issue_url);
	inc.issue_url = *a->r->url ? xstrdup(a->r->url) : NULL;
	inc.updated_at = time_now_ms() > inc.updated_at ? time_now_ms() : inc.updated_at;
	if (!(rc = store_incident_update(c, &inc, e)))
		rc = incident_record_update(c, cfg, &inc, "issue_linked", ACTOR,
					    jpack("{sO}", "issue_ref", inc.issue_ref), e);
	incident_clear(&inc);
	return rc;
}

static int finish_fn(struct store_conn *c, void *arg, struct err *e)
{
	struct finish_arg *a = arg;
	struct outbox_row *row = &a->row;
	const struct tracker_result *r = a->r;
	int64_t now = time_now_ms();
	row->attempts++;
	struct outbox_attempt at = {.outbox_id = row->id,
				    .started_at = a->started_at,
				    .finished_at = now,
				    .http_status = r->http_status,
				    .error = r->outcome == TRACKER_OK ? NULL : (char *)r->error,
				    .external_id = *r->external_id ? (char *)r->external_id : NULL};
	int rc = store_outbox_attempt_insert(c, &at, e);
	if (rc)
		return rc;
	free(row->last_error);
	row->last_error = NULL;
	row->updated_at = now;
	if (r->outcome == TRACKER_OK) {
		row->status = OB_DONE;
		if (*r->external_id) {
			free(row->external_id);
			row->external_id = xstrdup(r->external_id);
		}
		a->result = RES_DELIVERED;
	} else if (r->outcome == TRACKER_RETRY && row->attempts < OUTBOX_MAX_ATTEMPTS) {
		/* A create that may have reached the tracker is uncertain until find_by_label
		 * says whether it made an issue. */
		row->status = row->op == OB_CREATE_ISSUE && (r->sent || row->status == OB_UNCERTAIN)
				      ? OB_UNCERTAIN
				      : OB_PENDING;
		int64_t wait = backoff_ms(row->attempts);
		if (r->retry_after_ms > wait)
			wait = r->retry_after_ms;
		row->next_attempt_at = now + wait;
		row->last_error = xstrdup(r->error);
		a->result = RES_RETRIED;
	} else {
		row->status = OB_DEAD;
		row->last_error = xstrdup(*r->error ? r->error : "failed");
		a->result = RES_DEAD;
	}
	if ((rc = store_outbox_update(c, row, e)))
		return rc;
	if (!a->provider)
		return 0; /* webhooks: the ledger and the metrics tell */
	if (a->result == RES_DELIVERED && row->op == OB_CREATE_ISSUE &&
	    (rc = link_issue(c, a->cfg, a, e)))
		return rc;
	if (a->result == RES_RETRIED)
		return 0;
	json_t *data = jpack("{sI ss ss sI}", "incident_id", (json_int_t)row->incident_id, "op",
			     outbox_op_name(row->op), "target", row->target, "attempts",
			     (json_int_t)row->attempts);
	if (a->result == RES_DELIVERED)
		json_object_set_new(data, "external_id", jstr(row->external_id));
	else
		json_object_set_new(data, "error", jstr(row->last_error));
	return event_append(c, a->result == RES_DELIVERED ? "issue_delivered" : "issue_failed",
			    row->incident_id, ACTOR, data, NULL, e);
}

/* Record the outcome of row's attempt (retrying the record itself while the store is
 * unavailable: the call was made, its result must not be lost). */
static void finish(struct lane *l, const struct outbox_row *row, const struct tracker_result *r,
		   int64_t started_at, const char *provider)
{
	struct finish_arg a = {.l = l,
			       .cfg = l->d->cfg,
			       .row = *row,
			       .r = r,
			       .started_at = started_at,
			       .provider = provider};
	for (;;) {
		struct outbox_row copy = *row;
		copy.target = xstrdup(row->target);
		copy.payload = xstrdup(row->payload);
		copy.idempotency_key = xstrdup(row->idempotency_key);
		copy.last_error = xstrdup(row->last_error);
		copy.external_id = xstrdup(row->external_id);
		a.row = copy;
		struct err e;
		err_clear(&e);
		int rc = run_job(l->d, JOB_WRITE, finish_fn, &a, &e);
		outbox_row_clear(&a.row);
		if (!rc) {
			atomic_fetch_add(&l->counts[row->op][a.result], 1);
			if (a.result != RES_DELIVERED)
				log_msg(a.result == RES_DEAD ? LOG_WARN : LOG_INFO,
					"delivery failed",
					"target=%s op=%s outbox_id=%lld incident_id=%lld "
					"attempts=%lld status=%ld result=%s error=\"%s\"",
					row->target, outbox_op_name(row->op), (long long)row->id,
					(long long)row->incident_id, (long long)row->attempts + 1,
					r->http_status, result_names[a.result], r->error);
			return;
		}
		log_error("cannot record a delivery; retrying", "outbox_id=%lld error=\"%s\"",
			  (long long)row->id, e.msg);
		if (l->d->stopping)
			return; /* the row stays as it was: delivered again after a restart */
		wait_for(l, current_seq(l), STORE_RETRY_MS);
	}
}

/* A failure decided here, before or instead of a call (cut to fit, on a character). */
__attribute__((format(printf, 2, 3))) static void fail_result(struct tracker_result *r,
							      const char *fmt, ...)
{
	memset(r, 0, sizeof *r);
	r->outcome = TRACKER_FAILED;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(r->error, sizeof r->error, fmt, ap);
	va_end(ap);
	utf8_trim_partial(r->error);
}

static void incident_url(const struct config *cfg, int64_t id, char *out, size_t n)
{
	char pub[300];
	const char *u = config_public_url(cfg, pub, sizeof pub);
	size_t len = strlen(u);
	while (len && u[len - 1] == '/')
		len--;
	snprintf(out, n, "%.*s/incidents/%lld", (int)len, u, (long long)id);
}

static void deliver_tracker(struct lane *l, struct outbox_row *row)
{
	struct delivery *d = l->d;
	struct load_arg la = {.cfg = d->cfg, .incident_id = row->incident_id, .want_tracker = true};
	struct err e;
	err_clear(&e);
	if (run_job(d, JOB_READ, load_fn, &la, &e)) {
		log_error("cannot load a delivery's incident", "outbox_id=%lld error=\"%s\"",
			  (long long)row->id, e.msg);
		load_clear(&la);
		wait_for(l, current_seq(l), STORE_RETRY_MS);
		return;
	}
	const struct config *tcfg = la.tcfg;
	const char *provider = l->ops->name;
	char url[512];
	incident_url(d->cfg, row->incident_id, url, sizeof url);
	struct tracker_result r = {0};
	int64_t started = time_now_ms();
	json_t *payload = json_loads(row->payload, 0, NULL);
	const char *ext = la.inc.issue_ref ? json_get_str(la.inc.issue_ref, "id") : NULL;
	/* Credentials: the provider's block in the setting in effect when it is complete,
	 * else the config file's — so an issue keeps being followed on its provider after
	 * the setting switched to another one and carries only that one's block. Pacing
	 * and templates are those in effect. */
	const struct config *acfg = tcfg;
	if (l->ops->configured(tcfg, &e)) {
		struct err fe;
		err_clear(&fe);
		if (tcfg == d->cfg || l->ops->configured(d->cfg, &fe)) {
			fail_result(&r, "the %s tracker is not configured: %s", provider, e.msg);
			goto done;
		}
		acfg = d->cfg;
	}
	switch (row->op) {
	case OB_CREATE_ISSUE: {
		if (row->status == OB_UNCERTAIN) {
			/* The last send may have made the issue: look before sending again. */
			if (!take_token(l, tcfg))
				goto stopped;
			l->ops->find_by_label(acfg, row->incident_id, &r);
			charge(l, r.calls);
			if (r.outcome != TRACKER_OK || r.found)
				goto done;
			memset(&r, 0, sizeof r);
		}
		struct issue_doc doc = {0};
		char pub[300];
		if (issue_render(NULL, tcfg->tracker.templates_dir, la.inc_json,
				 config_public_url(d->cfg, pub, sizeof pub), NULL, NULL, &doc,
				 &e)) {
			fail_result(&r, "cannot render the issue: %s", e.msg);
			goto done;
		}
		struct tracker_issue_doc td = {.incident_id = row->incident_id,
					       .title = doc.title,
					       .body = doc.body,
					       .labels = (const char *const *)doc.labels,
					       .n_labels = doc.n_labels,
					       .severity = la.inc.severity,
					       .assigned_to = la.inc.assigned_to,
					       .incident_url = url};
		if (!take_token(l, tcfg)) {
			issue_doc_clear(&doc);
			goto stopped;
		}
		/* Uncertain from here until the answer is recorded: a crash or a stop
		 * mid-call leaves it so, and find_by_label decides before any resend. */
		struct mark_arg ma = {.row = row};
		if (run_job(d, JOB_WRITE, mark_uncertain_fn, &ma, &e)) {
			log_error("cannot mark a create uncertain", "outbox_id=%lld error=\"%s\"",
				  (long long)row->id, e.msg);
			issue_doc_clear(&doc);
			wait_for(l, current_seq(l), STORE_RETRY_MS);
			goto out;
		}
		l->ops->create_issue(acfg, &td, &r);
		issue_doc_clear(&doc);
		break;
	}
	case OB_COMMENT:
	case OB_CLOSE_ISSUE:
		if (!ext || !*ext) {
			/* the create before it is done, so this is damage or a manual edit */
			fail_result(&r, "%s", "the incident has no tracker issue to act on");
			goto done;
		}
		if (!take_token(l, tcfg))
			goto stopped;
		if (row->op == OB_COMMENT)
			l->ops->comment(acfg, ext, json_get_str(payload, "body"), url, &r);
		else
			l->ops->close_issue(acfg, ext, &r);
		break;
	case OB_NOTIFY:
	case OB_OP_COUNT: fail_result(&r, "a %s row on a tracker target", "notify"); break;
	}
	charge(l, r.calls);
done:
	if (d->stopping && r.outcome == TRACKER_RETRY && r.http_status == 0)
		goto stopped; /* the call was abandoned by the stop, not answered */
	finish(l, row, &r, started, provider);
	goto out;
stopped:
	/* Stopping mid-delivery: nothing is recorded; an uncertain create is resolved by
	 * find_by_label at the next start. */
out:
	json_decref(payload);
	load_clear(&la);
}

static void deliver_webhook(struct lane *l, struct outbox_row *row)
{
	struct tracker_result r = {0};
	struct webhook_request rq = {0};
	struct err e;
	err_clear(&e);
	int64_t started = time_now_ms();
	json_t *payload = json_loads(row->payload, 0, NULL);
	if (!payload) {
		fail_result(&r, "the stored %s payload is not JSON", "notify");
	} else if (webhook_build(l->d->cfg, l->hook, row->id, payload, &rq, &e)) {
		fail_result(&r, "cannot build the notification: %s", e.msg);
	} else {
		webhook_send(&rq, &r);
	}
	webhook_request_clear(&rq);
	json_decref(payload);
	if (l->d->stopping && r.outcome == TRACKER_RETRY && r.http_status == 0)
		return;
	finish(l, row, &r, started, NULL);
}

static void *lane_main(void *arg)
{
	struct lane *l = arg;
	struct delivery *d = l->d;
	thread_block_signals();
	http_client_cancel_thread(&d->stopping);
	for (;;) {
		uint64_t seq = current_seq(l);
		if (d->stopping)
			break;
		struct outbox_row row = {0};
		struct next_arg na = {.target = l->target, .row = &row};
		struct err e;
		err_clear(&e);
		int rc = run_job(d, JOB_READ, next_fn, &na, &e);
		if (rc == 0) {
			if (l->ops)
				deliver_tracker(l, &row);
			else
				deliver_webhook(l, &row);
			outbox_row_clear(&row);
			continue;
		}
		int64_t wait = IDLE_WAIT_MS;
		if (rc != ERR_NOTFOUND) {
			log_error("cannot read the outbox", "target=%s error=\"%s\"", l->target,
				  e.msg);
			wait = STORE_RETRY_MS;
		} else if (na.due) {
			wait = na.due - time_now_ms();
			if (wait > IDLE_WAIT_MS)
				wait = IDLE_WAIT_MS;
		}
		wait_for(l, seq, wait);
	}
	atomic_store(&l->alive, false);
	return NULL;
}

int delivery_healthy(struct delivery *d, struct err *e)
{
	if (!d || d->stopping)
		return 0;
	for (size_t i = 0; i < d->n_lanes; i++)
		if (!atomic_load(&d->lanes[i].alive))
			return err_set(e, ERR_INTERNAL, "the delivery thread of %s is not running",
				       d->lanes[i].target);
	return 0;
}

/* ---- start, stop ---- */

int delivery_start(const struct config *cfg, struct store_pool *pool, struct delivery **out,
		   struct err *e)
{
	struct delivery *d = xcalloc(1, sizeof *d);
	d->cfg = cfg;
	d->pool = pool;
	pthread_mutex_init(&d->mu, NULL);
	size_t n_trackers = 0;
	while (tracker_providers[n_trackers])
		n_trackers++;
	d->n_lanes = n_trackers + cfg->notify.n_webhooks;
	d->lanes = xcalloc(d->n_lanes ? d->n_lanes : 1, sizeof *d->lanes);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	for (size_t i = 0; i < d->n_lanes; i++) {
		struct lane *l = &d->lanes[i];
		l->d = d;
		pthread_cond_init(&l->cond, &ca);
		if (i < n_trackers) {
			l->ops = tracker_providers[i];
			snprintf(l->target, sizeof l->target, "tracker:%s", l->ops->name);
		} else {
			l->hook = &cfg->notify.webhooks[i - n_trackers];
			snprintf(l->target, sizeof l->target, "webhook:%s", l->hook->name);
		}
		l->bit = store_target_bit(l->target);
	}
	pthread_condattr_destroy(&ca);
	for (size_t i = 0; i < d->n_lanes; i++) {
		atomic_store(&d->lanes[i].alive, true);
		if (pthread_create(&d->lanes[i].th, NULL, lane_main, &d->lanes[i])) {
			atomic_store(&d->lanes[i].alive, false);
			int rc = err_set(e, ERR_IO, "cannot start the delivery thread of %s",
					 d->lanes[i].target);
			delivery_stop(d);
			delivery_free(d);
			return rc;
		}
		d->lanes[i].started = true;
	}
	*out = d;
	return 0;
}

void delivery_wake(struct delivery *d, uint32_t targets)
{
	if (!d || !targets)
		return;
	pthread_mutex_lock(&d->mu);
	for (size_t i = 0; i < d->n_lanes; i++) {
		struct lane *l = &d->lanes[i];
		if (l->bit & targets) {
			l->seq++;
			pthread_cond_signal(&l->cond);
		}
	}
	pthread_mutex_unlock(&d->mu);
}

void delivery_stop(struct delivery *d)
{
	if (!d)
		return;
	pthread_mutex_lock(&d->mu);
	d->stopping = 1;
	for (size_t i = 0; i < d->n_lanes; i++)
		pthread_cond_signal(&d->lanes[i].cond);
	struct tester *t = d->testers;
	d->testers = NULL;
	pthread_mutex_unlock(&d->mu);
	for (size_t i = 0; i < d->n_lanes; i++)
		if (d->lanes[i].started) {
			pthread_join(d->lanes[i].th, NULL);
			d->lanes[i].started = false;
		}
	while (t) {
		struct tester *next = t->next;
		pthread_join(t->th, NULL);
		free(t);
		t = next;
	}
}

void delivery_free(struct delivery *d)
{
	if (!d)
		return;
	for (size_t i = 0; i < d->n_lanes; i++)
		pthread_cond_destroy(&d->lanes[i].cond);
	free(d->lanes);
	pthread_mutex_destroy(&d->mu);
	free(d);
}

/* ---- tracker test ---- */

struct test_arg {
	const struct config *cfg;
	struct config *tcfg;
};

static int test_load_fn(struct store_conn *c, void *arg, struct err *e)
{
	struct test_arg *a = arg;
	return settings_tracker(c, a->cfg, &a->tcfg, e);
}

static void *tester_main(void *arg)
{
	struct tester *t = arg;
	struct delivery *d = t->d;
	thread_block_signals();
	http_client_cancel_thread(&d->stopping);
	struct test_arg ta = {.cfg = d->cfg};
	struct err e;
	err_clear(&e);
	json_t *result;
	if (run_job(d, JOB_READ, test_load_fn, &ta, &e)) {
		result = jpack("{sb ss so}", "ok", 0, "detail", e.msg, "provider", json_null());
		goto out;
	}
	static const char *const names[] = {"none", "github", "gitlab", "jira"};
	const char *provider = names[ta.tcfg->tracker.provider];
	const struct tracker_ops *ops = tracker_find(provider);
	if (!ops) {
		result = jpack("{sb ss ss}", "ok", 0, "provider", provider, "detail",
			       "no tracker is configured (tracker.provider is none)");
		goto out;
	}
	if (ops->configured(ta.tcfg, &e)) {
		result = jpack("{sb ss so}", "ok", 0, "provider", provider, "detail", jstr(e.msg));
		goto out;
	}
	struct tracker_result r = {0};
	ops->test_connection(ta.tcfg, &r);
	result = jpack("{sb ss so}", "ok", r.outcome == TRACKER_OK, "provider", provider, "detail",
		       jstr(r.outcome == TRACKER_OK && !*r.error ? "connected" : r.error));
out:
	config_free(ta.tcfg);
	t->done(t->arg, result);
	return NULL;
}

void delivery_test_tracker(struct delivery *d, void (*done)(void *arg, json_t *result), void *arg)
{
	struct tester *t = xcalloc(1, sizeof *t);
	t->d = d;
	t->done = done;
	t->arg = arg;
	pthread_mutex_lock(&d->mu);
	bool stopping = d->stopping;
	if (!stopping && pthread_create(&t->th, NULL, tester_main, t) == 0) {
		t->next = d->testers;
		d->testers = t;
		pthread_mutex_unlock(&d->mu);
		return;
	}
	pthread_mutex_unlock(&d->mu);
	free(t);
	done(arg, jpack("{sb ss so}", "ok", 0, "detail",
			stopping ? "the server is stopping" : "cannot start the test thread",
			"provider", json_null()));
}

/* ---- metrics ---- */

void delivery_render_metrics(struct delivery *d, struct buf *out)
{
	buf_puts(out, "# HELP intervene_outbox_deliveries_total Delivery attempts by target, op "
		      "and result (delivered, retried, dead).\n"
		      "# TYPE intervene_outbox_deliveries_total counter\n");
	for (size_t i = 0; d && i < d->n_lanes; i++)
		for (int op = 0; op < OB_OP_COUNT; op++)
			for (int r = 0; r < RES_COUNT; r++) {
				unsigned long long n = atomic_load(&d->lanes[i].counts[op][r]);
				if (n)
					buf_printf(
						out,
						"intervene_outbox_deliveries_total{target=\"%s\","
						"op=\"%s\",result=\"%s\"} %llu\n",
						d->lanes[i].target,
						outbox_op_name((enum outbox_op)op), result_names[r],
						n);
			}
}
