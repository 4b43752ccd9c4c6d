#include "watcher/watcher.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "core/sla.h"
#include "util/json.h"
#include "util/log.h"
#include "util/thread.h"
#include "util/time.h"
#include "watcher/checks.h"

struct run_request {
	void (*done)(void *arg, json_t *result);
	void *arg;
	struct run_request *next;
};

struct watcher {
	const struct config *cfg;
	struct store_pool *pool;
	struct watcher_hooks hooks;
	pthread_t th;
	bool started;
	atomic_bool alive;
	pthread_mutex_t mu; /* guards requests, stopping, and the wait on cond */
	pthread_cond_t cond;
	struct run_request *requests, **requests_tail;
	bool stopping;
	/* metrics, any thread */
	atomic_llong cycles_ok, cycles_failed;
	atomic_llong last_cycle_us;   /* duration of the last cycle */
	atomic_llong last_success_ms; /* wall clock of the last cycle without a failed check */
	atomic_llong breaches[3];
};

/* ---- the SLA check ---- */

struct sla_arg {
	const struct config *cfg;
	int64_t now;
	int64_t counts[3];
};

static int sla_fn(struct store_conn *c, void *arg, struct err *e)
{
	struct sla_arg *a = arg;
	return sla_check(c, a->cfg, a->now, a->counts, e);
}

static void run_sla(struct watcher *w)
{
	struct sla_arg a = {.cfg = w->cfg, .now = time_now_ms()};
	struct err e;
	err_clear(&e);
	if (store_pool_call(w->pool, JOB_WRITE, sla_fn, &a, &e)) {
		log_error("SLA check failed", "error=\"%s\"", e.msg);
		return;
	}
	for (int s = 0; s < 3; s++)
		if (a.counts[s]) {
			atomic_fetch_add(&w->breaches[s], a.counts[s]);
			log_info("SLA breached", "stage=%s incidents=%lld",
				 s == 0	  ? "ack"
				 : s == 1 ? "mitigate"
					  : "resolve",
				 (long long)a.counts[s]);
		}
}

/* ---- a cycle ---- */

static json_t *run_cycle(struct watcher *w)
{
	int64_t t0 = time_mono_ms();
	struct watcher_cycle cy = {.cfg = w->cfg, .pool = w->pool, .now = time_now_ms()};
	json_t *checks = json_object();
	int failed = 0;
	for (size_t i = 0; i < watcher_n_checks; i++) {
		const struct watcher_check *ck = &watcher_checks[i];
		json_t *counts = json_object();
		struct err e;
		err_clear(&e);
		int rc = ck->run(&cy, counts, &e);
		if (rc) {
			failed++;
			log_error("watcher check failed", "check=%s error=\"%s\"", ck->name, e.msg);
			json_object_set_new(counts, "error", json_string(e.msg));
		}
		json_object_set_new(checks, ck->name, counts);
	}
	for (int k = 0; k < WATCHER_KINDS; k++)
		for (int o = 0; o < OUT_COUNT; o++)
			if (cy.outcomes[k][o] && w->hooks.signal)
				w->hooks.signal(w->hooks.arg, watcher_kind_names[k],
						signal_outcome_name((enum signal_outcome)o),
						cy.outcomes[k][o]);
	int64_t ms = time_mono_ms() - t0;
	atomic_store(&w->last_cycle_us, ms * 1000);
	if (failed) {
		atomic_fetch_add(&w->cycles_failed, 1);
	} else {
		atomic_fetch_add(&w->cycles_ok, 1);
		atomic_store(&w->last_success_ms, cy.now);
	}
	char *summary = json_canon(checks);
	log_info("watcher cycle", "duration_ms=%lld failed_checks=%d counts=%s", (long long)ms,
		 failed, summary);
	free(summary);
	return jpack("{so sI sb}", "checks", checks, "duration_ms", (json_int_t)ms, "ok",
		     failed == 0);
}

/* ---- the thread ---- */

static int64_t min64(int64_t a, int64_t b)
{
	return a < b ? a : b;
}

/* Wait until the monotonic time `until` (ms), a request, or the stop. Under w->mu. */
static void wait_until(struct watcher *w, int64_t until)
{
	int64_t ms = until - time_mono_ms();
	if (ms <= 0)
		return;
	struct timespec ts;
	time_mono_deadline(ms, &ts);
	pthread_cond_timedwait(&w->cond, &w->mu, &ts);
}

static void *watcher_main(void *arg)
{
	struct watcher *w = arg;
	thread_block_signals();
	const bool timers = w->cfg->watcher.enabled;
	int64_t now = time_mono_ms();
	int64_t next_cycle = now + w->cfg->watcher.interval_ms;
	int64_t next_sla = now + w->cfg->watcher.sla_interval_ms;
	if (timers)
		run_sla(w); /* breaches that passed while no server ran */
	pthread_mutex_lock(&w->mu);
	for (;;) {
		if (w->stopping)
			break;
		struct run_request *req = w->requests;
		now = time_mono_ms();
		bool cycle_due = timers && now >= next_cycle;
		bool sla_due = timers && now >= next_sla;
		if (!req && !cycle_due && !sla_due) {
			wait_until(w, timers ? min64(next_cycle, next_sla) : INT64_MAX / 2);
			continue;
		}
		/* requests waiting now share the one cycle that runs next */
		w->requests = NULL;
		w->requests_tail = &w->requests;
		pthread_mutex_unlock(&w->mu);
		if (req || cycle_due) {
			json_t *result = run_cycle(w);
			next_cycle = time_mono_ms() + w->cfg->watcher.interval_ms;
			while (req) {
				struct run_request *nx = req->next;
				req->done(req->arg, json_incref(result));
				free(req);
				req = nx;
			}
			json_decref(result);
		}
		if (sla_due) {
			run_sla(w);
			next_sla = time_mono_ms() + w->cfg->watcher.sla_interval_ms;
		}
		pthread_mutex_lock(&w->mu);
	}
	pthread_mutex_unlock(&w->mu);
	atomic_store(&w->alive, false);
	return NULL;
}

int watcher_start(const struct config *cfg, struct store_pool *pool,
		  const struct watcher_hooks *hooks, struct watcher **out, struct err *e)
{
	struct watcher *w = xcalloc(1, sizeof *w);
	w->cfg = cfg;
	w->pool = pool;
	if (hooks)
		w->hooks = *hooks;
	w->requests_tail = &w->requests;
	pthread_mutex_init(&w->mu, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&w->cond, &ca);
	pthread_condattr_destroy(&ca);
	atomic_store(&w->alive, true);
	if (pthread_create(&w->th, NULL, watcher_main, w)) {
		watcher_free(w);
		return err_set(e, ERR_IO, "cannot start the watcher thread");
	}
	w->started = true;
	*out = w;
	return 0;
}

void watcher_run_now(struct watcher *w, void (*done)(void *arg, json_t *result), void *arg)
{
	struct run_request *r = xcalloc(1, sizeof *r);
	r->done = done;
	r->arg = arg;
	pthread_mutex_lock(&w->mu);
	if (w->stopping) {
		pthread_mutex_unlock(&w->mu);
		free(r);
		done(arg, NULL);
		return;
	}
	*w->requests_tail = r;
	w->requests_tail = &r->next;
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->mu);
}

int watcher_healthy(struct watcher *w, struct err *e)
{
	if (w && !atomic_load(&w->alive) && !w->stopping)
		return err_set(e, ERR_INTERNAL, "the watcher thread is not running");
	return 0;
}

void watcher_render_metrics(struct watcher *w, struct buf *out)
{
	if (!w)
		return;
	buf_printf(out,
		   "# HELP intervene_watcher_cycle_seconds Duration of the last watcher cycle.\n"
		   "# TYPE intervene_watcher_cycle_seconds gauge\n"
		   "intervene_watcher_cycle_seconds %.6f\n",
		   (double)atomic_load(&w->last_cycle_us) / 1e6);
	buf_printf(out,
		   "# HELP intervene_watcher_last_success_timestamp_seconds When the last "
		   "watcher cycle without a failed check ran (0: never).\n"
		   "# TYPE intervene_watcher_last_success_timestamp_seconds gauge\n"
		   "intervene_watcher_last_success_timestamp_seconds %.3f\n",
		   (double)atomic_load(&w->last_success_ms) / 1000.0);
	buf_printf(out,
		   "# HELP intervene_watcher_cycles_total Watcher cycles, by result.\n"
		   "# TYPE intervene_watcher_cycles_total counter\n"
		   "intervene_watcher_cycles_total{result=\"ok\"} %lld\n"
		   "intervene_watcher_cycles_total{result=\"failed\"} %lld\n",
		   (long long)atomic_load(&w->cycles_ok),
		   (long long)atomic_load(&w->cycles_failed));
	buf_printf(out, "# HELP intervene_sla_breaches_total SLA breaches recorded, by stage.\n"
			"# TYPE intervene_sla_breaches_total counter\n");
	static const char *const stages[3] = {"ack", "mitigate", "resolve"};
	for (int s = 0; s < 3; s++)
		buf_printf(out, "intervene_sla_breaches_total{stage=\"%s\"} %lld\n", stages[s],
			   (long long)atomic_load(&w->breaches[s]));
}

void watcher_stop(struct watcher *w)
{
	if (!w)
		return;
	pthread_mutex_lock(&w->mu);
	w->stopping = true;
	struct run_request *r = w->requests;
	w->requests = NULL;
	w->requests_tail = &w->requests;
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->mu);
	if (w->started) {
		pthread_join(w->th, NULL);
		w->started = false;
	}
	while (r) {
		struct run_request *nx = r->next;
		r->done(r->arg, NULL);
		free(r);
		r = nx;
	}
}

void watcher_free(struct watcher *w)
{
	if (!w)
		return;
	pthread_mutex_destroy(&w->mu);
	pthread_cond_destroy(&w->cond);
	free(w);
}
