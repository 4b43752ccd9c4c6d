/* executor.c — worker threads for running actions and the keeper of their leases and
 * logs; see executor.h. */
#include "actions/executor.h"

#include <pthread.h>
#include <signal.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "actions/action.h"
#include "actions/playbook.h"
#include "util/json.h"
#include "util/log.h"
#include "util/thread.h"
#include "util/time.h"
#include "util/utf8.h"

#define RECENT_MAX 64

/* One running action. Guarded by the executor's mutex except where noted. */
struct run {
	struct run *next;
	struct executor *x;
	int64_t id;
	pthread_t th;
	bool joinable, finished;
	atomic_bool cancel;
	volatile sig_atomic_t cancel_sig;
	struct buf log; /* its output so far: the last EXECUTOR_LOG_MAX bytes */
	uint64_t dropped;
	bool log_dirty;
	int64_t stored_mono;  /* when the log and lease were last stored */
	struct action_run ar; /* the worker's; not guarded */
};

struct waiter {
	struct waiter *next;
	int64_t id, deadline_mono;
	void (*done)(void *arg, json_t *action);
	void *arg;
};

struct recent {
	int64_t id;
	json_t *action;
};

struct executor {
	const struct config *cfg;
	struct store_pool *pool;
	char instance[128];
	pthread_t keeper;
	bool keeper_started;
	pthread_mutex_t mu;
	pthread_cond_t cond;
	bool stopping;
	struct run *runs;
	struct waiter *waiters;
	struct recent recent[RECENT_MAX];
	size_t recent_next;
	/* intervene_actions_total{type,status}: [type index][status] */
	atomic_llong counts[16][AS_STATUS_COUNT];
};

const char *executor_instance(const struct executor *x)
{
	return x->instance;
}

/* ---- the worker ---- */

static void run_log(struct action_run *ar, const char *data, size_t n)
{
	struct run *r = ar->priv;
	struct executor *x = r->x;
	pthread_mutex_lock(&x->mu);
	buf_append(&r->log, data, n);
	if (r->log.len > 2 * EXECUTOR_LOG_MAX) {
		size_t cut = r->log.len - EXECUTOR_LOG_MAX;
		memmove(r->log.data, r->log.data + cut, r->log.len - cut);
		r->log.len -= cut;
		r->log.data[r->log.len] = '\0';
		r->dropped += cut;
	}
	r->log_dirty = true;
	pthread_mutex_unlock(&x->mu);
}

/* The log as stored: the last EXECUTOR_LOG_MAX bytes, valid UTF-8, with a note of what
 * was dropped. Called with the mutex held. */
static char *log_text(struct run *r)
{
	struct buf b = BUF_INIT;
	size_t start = r->log.len > EXECUTOR_LOG_MAX ? r->log.len - EXECUTOR_LOG_MAX : 0;
	uint64_t dropped = r->dropped + start;
	/* Do not start inside a UTF-8 sequence. */
	while (start < r->log.len && ((unsigned char)r->log.data[start] & 0xc0) == 0x80)
		start++, dropped++;
	if (dropped)
		buf_printf(&b, "[... %llu bytes of earlier output dropped ...]\n",
			   (unsigned long long)dropped);
	struct buf raw = BUF_INIT;
	for (size_t i = start; i < r->log.len; i++) {
		char ch = r->log.data[i];
		/* NUL would not survive as JSON text. */
		buf_putc(&raw, ch == 0 ? '?' : ch);
	}
	utf8_repair(&b, raw.data ? raw.data : "", raw.len);
	buf_free(&raw);
	return buf_steal(&b);
}

static int run_write(struct action_run *ar,
		     int (*fn)(struct store_conn *c, void *arg, struct err *e), void *arg,
		     struct err *e)
{
	struct run *r = ar->priv;
	return store_pool_call(r->x->pool, JOB_WRITE, fn, arg, e);
}

static bool run_sleep(struct action_run *ar, int64_t ms)
{
	struct run *r = ar->priv;
	struct executor *x = r->x;
	struct timespec ts;
	time_mono_deadline(ms, &ts);
	pthread_mutex_lock(&x->mu);
	while (!atomic_load(&r->cancel)) {
		if (pthread_cond_timedwait(&x->cond, &x->mu, &ts))
			break;
	}
	pthread_mutex_unlock(&x->mu);
	return atomic_load(&r->cancel);
}

struct load {
	int64_t id;
	struct action_row row;
};

static int load_job(struct store_conn *c, void *arg, struct err *e)
{
	struct load *l = arg;
	return store_action_get(c, l->id, &l->row, e);
}

struct finish {
	const struct config *cfg;
	int64_t id;
	struct playbook_end end;
	json_t *json;
};

static int finish_job(struct store_conn *c, void *arg, struct err *e)
{
	struct finish *f = arg;
	return playbook_finish(c, f->cfg, f->id, &f->end, &f->json, e);
}

static int type_index(const char *name)
{
	for (int i = 0; i < 16 && action_types[i]; i++)
		if (!strcmp(action_types[i]->name, name))
			return i;
	return -1;
}

/* Hand the end of id to its waiters and keep it for late ones. Mutex held. */
static void ended(struct executor *x, int64_t id, json_t *action)
{
	struct recent *slot = &x->recent[x->recent_next++ % RECENT_MAX];
	json_decref(slot->action);
	slot->id = id;
	slot->action = json_incref(action);
	for (struct waiter **w = &x->waiters; *w;) {
		if ((*w)->id != id) {
			w = &(*w)->next;
			continue;
		}
		struct waiter *d = *w;
		*w = d->next;
		d->done(d->arg, json_incref(action));
		free(d);
	}
}

static void *worker(void *arg)
{
	struct run *r = arg;
	struct executor *x = r->x;
	thread_block_signals();
	struct err e;
	err_clear(&e);
	struct load l = {.id = r->id};
	struct action_outcome out = {0};
	json_t *params = NULL;
	int rc = store_pool_call(x->pool, JOB_READ, load_job, &l, &e);
	const struct action_type *t = rc ? NULL : action_type_find(l.row.action_type);
	if (!rc && (!t || !(params = json_loads(l.row.params, 0, NULL))))
		rc = err_set(&e, ERR_INTERNAL, "action %lld: unknown type or unreadable params",
			     (long long)r->id);
	if (!rc) {
		r->ar = (struct action_run){
			.cfg = x->cfg,
			.action_id = r->id,
			.params = params,
			.cancel = &r->cancel,
			.cancel_sig = &r->cancel_sig,
			.log = run_log,
			.write = run_write,
			.sleep = run_sleep,
			.priv = r,
		};
		log_info("action started", "action_id=%lld type=%s", (long long)r->id, t->name);
		rc = t->execute(&r->ar, &out, &e);
	}
	bool stopping;
	pthread_mutex_lock(&x->mu);
	stopping = x->stopping;
	struct finish f = {.cfg = x->cfg, .id = r->id};
	f.end.status = out.cancelled && !stopping ? AS_CANCELLED
		       : rc || out.cancelled	  ? AS_FAILED
						  : AS_SUCCESS;
	f.end.error = rc			  ? e.msg
		      : out.cancelled && stopping ? "interrupted: the server stopped"
						  : NULL;
	f.end.result = out.result;
	f.end.inverse = out.inverse;
	char *log = log_text(r);
	f.end.log = log;
	pthread_mutex_unlock(&x->mu);
	struct err fe;
	err_clear(&fe);
	int frc = store_pool_call(x->pool, JOB_WRITE, finish_job, &f, &fe);
	if (frc)
		log_error("action end not recorded", "action_id=%lld error=\"%s\"",
			  (long long)r->id, fe.msg);
	else
		log_info("action ended", "action_id=%lld status=%s%s%s", (long long)r->id,
			 action_status_name(f.end.status), rc ? " error=" : "", rc ? e.msg : "");
	int ti = t ? type_index(t->name) : -1;
	if (ti >= 0)
		atomic_fetch_add(&x->counts[ti][f.end.status], 1);
	pthread_mutex_lock(&x->mu);
	r->finished = true;
	ended(x, r->id, f.json);
	pthread_cond_broadcast(&x->cond);
	pthread_mutex_unlock(&x->mu);
	json_decref(f.json);
	free(log);
	json_decref(out.result);
	json_decref(out.inverse);
	json_decref(params);
	action_row_clear(&l.row);
	return NULL;
}

void executor_run(struct executor *x, int64_t id)
{
	struct run *r = xcalloc(1, sizeof *r);
	r->x = x;
	r->id = id;
	r->stored_mono = time_mono_ms();
	pthread_mutex_lock(&x->mu);
	if (x->stopping) {
		pthread_mutex_unlock(&x->mu);
		free(r);
		return; /* its lease ends and the next start records it as interrupted */
	}
	r->next = x->runs;
	x->runs = r;
	int err = pthread_create(&r->th, NULL, worker, r);
	r->joinable = err == 0;
	if (err) {
		/* Left running: the keeper's sweep fails it once its lease ends. */
		r->finished = true;
		log_error("cannot start an action thread", "action_id=%lld error=\"%s\"",
			  (long long)id, strerror(err));
	}
	pthread_mutex_unlock(&x->mu);
}

bool executor_cancel(struct executor *x, int64_t id)
{
	bool found = false;
	pthread_mutex_lock(&x->mu);
	for (struct run *r = x->runs; r; r = r->next)
		if (r->id == id && !r->finished) {
			atomic_store(&r->cancel, true);
			r->cancel_sig = 1;
			found = true;
		}
	pthread_cond_broadcast(&x->cond);
	pthread_mutex_unlock(&x->mu);
	return found;
}

void executor_wait(struct executor *x, int64_t id, int64_t wait_ms,
		   void (*done)(void *arg, json_t *action), void *arg)
{
	pthread_mutex_lock(&x->mu);
	for (size_t i = 0; i < RECENT_MAX; i++)
		if (x->recent[i].id == id && x->recent[i].action) {
			json_t *a = json_incref(x->recent[i].action);
			pthread_mutex_unlock(&x->mu);
			done(arg, a);
			return;
		}
	bool mine = false;
	for (struct run *r = x->runs; r; r = r->next)
		mine |= r->id == id && !r->finished;
	if (!mine || x->stopping) {
		pthread_mutex_unlock(&x->mu);
		done(arg, NULL);
		return;
	}
	struct waiter *w = xcalloc(1, sizeof *w);
	w->id = id;
	w->deadline_mono = time_mono_ms() + wait_ms;
	w->done = done;
	w->arg = arg;
	w->next = x->waiters;
	x->waiters = w;
	pthread_cond_broadcast(&x->cond);
	pthread_mutex_unlock(&x->mu);
}

/* ---- the keeper ---- */

struct renew {
	int64_t id;
	const char *owner;
	int64_t until;
	char *log;
};

static int renew_job(struct store_conn *c, void *arg, struct err *e)
{
	struct renew *v = arg;
	return playbook_renew(c, v->id, v->owner, v->until, v->log, e);
}

struct sweep {
	const struct config *cfg;
	int n;
};

static int sweep_job(struct store_conn *c, void *arg, struct err *e)
{
	struct sweep *s = arg;
	return playbook_sweep(c, s->cfg, time_now_ms(), &s->n, e);
}

/* Join and free finished runs. Mutex held; joins happen with it released. */
static void reap(struct executor *x)
{
	for (struct run **p = &x->runs; *p;) {
		struct run *r = *p;
		if (!r->finished) {
			p = &r->next;
			continue;
		}
		*p = r->next;
		pthread_mutex_unlock(&x->mu);
		if (r->joinable)
			pthread_join(r->th, NULL);
		buf_free(&r->log);
		free(r);
		pthread_mutex_lock(&x->mu);
		p = &x->runs;
	}
}

static void *keeper(void *arg)
{
	struct executor *x = arg;
	thread_block_signals();
	int64_t next_sweep = 0;
	pthread_mutex_lock(&x->mu);
	while (!x->stopping) {
		int64_t now = time_mono_ms();
		/* Waiters whose time is up get the action as still running. */
		for (struct waiter **w = &x->waiters; *w;) {
			if ((*w)->deadline_mono > now) {
				w = &(*w)->next;
				continue;
			}
			struct waiter *d = *w;
			*w = d->next;
			d->done(d->arg, NULL);
			free(d);
		}
		reap(x);
		/* Logs that changed (every second) and leases (every EXECUTOR_RENEW_MS). */
		for (struct run *r = x->runs; r && !x->stopping; r = r->next) {
			if (r->finished)
				continue;
			bool due = now - r->stored_mono >= EXECUTOR_RENEW_MS;
			if (!due && !(r->log_dirty && now - r->stored_mono >= 1000))
				continue;
			struct renew v = {.id = r->id,
					  .owner = x->instance,
					  .until = time_now_ms() + EXECUTOR_LEASE_MS,
					  .log = log_text(r)};
			r->log_dirty = false;
			r->stored_mono = now;
			pthread_mutex_unlock(&x->mu);
			struct err e;
			err_clear(&e);
			if (store_pool_call(x->pool, JOB_WRITE, renew_job, &v, &e))
				log_warn("action lease not renewed", "action_id=%lld error=\"%s\"",
					 (long long)v.id, e.msg);
			free(v.log);
			pthread_mutex_lock(&x->mu);
			break; /* the list may have changed: look again */
		}
		if (now >= next_sweep) {
			next_sweep = now + EXECUTOR_RENEW_MS;
			pthread_mutex_unlock(&x->mu);
			struct sweep sw = {.cfg = x->cfg};
			struct err e;
			err_clear(&e);
			int rc = store_pool_call(x->pool, JOB_WRITE, sweep_job, &sw, &e);
			if (rc)
				log_warn("abandoned actions not swept", "error=\"%s\"", e.msg);
			pthread_mutex_lock(&x->mu);
		}
		struct timespec ts;
		time_mono_deadline(100, &ts);
		pthread_cond_timedwait(&x->cond, &x->mu, &ts);
	}
	pthread_mutex_unlock(&x->mu);
	return NULL;
}

int executor_start(const struct config *cfg, struct store_pool *pool, struct executor **out,
		   struct err *e)
{
	struct executor *x = xcalloc(1, sizeof *x);
	x->cfg = cfg;
	x->pool = pool;
	char host[64] = "";
	gethostname(host, sizeof host - 1);
	unsigned char rnd[6];
	randombytes_buf(rnd, sizeof rnd);
	snprintf(x->instance, sizeof x->instance, "%s:%ld:%02x%02x%02x%02x%02x%02x", host,
		 (long)getpid(), rnd[0], rnd[1], rnd[2], rnd[3], rnd[4], rnd[5]);
	pthread_mutex_init(&x->mu, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&x->cond, &ca);
	pthread_condattr_destroy(&ca);
	int err = pthread_create(&x->keeper, NULL, keeper, x);
	if (err) {
		executor_free(x);
		return err_set(e, ERR_IO, "cannot start the executor thread: %s", strerror(err));
	}
	x->keeper_started = true;
	*out = x;
	return 0;
}

void executor_render_metrics(struct executor *x, struct buf *out)
{
	if (!x)
		return;
	buf_puts(out, "# HELP intervene_actions_total Playbook actions that ended, by type and "
		      "status.\n# TYPE intervene_actions_total counter\n");
	for (int i = 0; i < 16 && action_types[i]; i++)
		for (int s = AS_SUCCESS; s <= AS_CANCELLED; s++)
			buf_printf(out, "intervene_actions_total{type=\"%s\",status=\"%s\"} %lld\n",
				   action_types[i]->name, action_status_name((enum action_status)s),
				   (long long)atomic_load(&x->counts[i][s]));
	int running = 0;
	pthread_mutex_lock(&x->mu);
	for (struct run *r = x->runs; r; r = r->next)
		running += !r->finished;
	pthread_mutex_unlock(&x->mu);
	buf_printf(out,
		   "# HELP intervene_actions_running Playbook actions running in this "
		   "instance.\n# TYPE intervene_actions_running gauge\n"
		   "intervene_actions_running %d\n",
		   running);
}

int executor_healthy(struct executor *x, struct err *e)
{
	if (!x || !x->keeper_started)
		return err_set(e, ERR_IO, "the executor is not running");
	return 0;
}

void executor_stop(struct executor *x)
{
	if (!x)
		return;
	pthread_mutex_lock(&x->mu);
	x->stopping = true;
	for (struct run *r = x->runs; r; r = r->next) {
		atomic_store(&r->cancel, true);
		r->cancel_sig = 1;
	}
	pthread_cond_broadcast(&x->cond);
	pthread_mutex_unlock(&x->mu);
	if (x->keeper_started) {
		pthread_join(x->keeper, NULL);
		x->keeper_started = false;
	}
	pthread_mutex_lock(&x->mu);
	for (struct run *r = x->runs; r; r = r->next) {
		while (!r->finished)
			pthread_cond_wait(&x->cond, &x->mu);
	}
	reap(x);
	while (x->waiters) {
		struct waiter *w = x->waiters;
		x->waiters = w->next;
		w->done(w->arg, NULL);
		free(w);
	}
	pthread_mutex_unlock(&x->mu);
}

void executor_free(struct executor *x)
{
	if (!x)
		return;
	for (size_t i = 0; i < RECENT_MAX; i++)
		json_decref(x->recent[i].action);
	pthread_mutex_destroy(&x->mu);
	pthread_cond_destroy(&x->cond);
	free(x);
}
