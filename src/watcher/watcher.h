/* watcher.h — the watcher thread (SPEC §10.5, §4.4).
 *
 * One thread, off the loop, that reaches the store only through the pool's job
 * hand-off (store_pool_call). Two clocks:
 *   - every `watcher.interval` (and on demand, watcher_run_now) a cycle: each check
 *     of watcher.c's table in turn (budget gates on agents with new metrics, canary
 *     regressions on canaries with new runs, invariant failures in new eval results,
 *     auto-resolve), each in its own write job, so one failing check does not stop
 *     the others;
 *   - every `watcher.sla_interval` the SLA check (core/sla.h).
 * With watcher.enabled false neither clock runs; a cycle on demand still does.
 *
 * All functions are called from the thread that owns the server (the loop), except
 * where noted. */
#ifndef INTERVENE_WATCHER_WATCHER_H
#define INTERVENE_WATCHER_WATCHER_H

#include <jansson.h>

#include "config/config.h"
#include "store/pool.h"
#include "util/buf.h"
#include "util/err.h"

struct watcher;

/* What a finished cycle or SLA check hands back (on the watcher thread), for the
 * loop's counters: signals by kind and outcome name. The callee copies what it keeps. */
struct watcher_hooks {
	void (*signal)(void *arg, const char *kind, const char *outcome, int64_t n);
	void *arg;
};

/* Start the thread. cfg, pool and hooks' arg must outlive the watcher. */
int watcher_start(const struct config *cfg, struct store_pool *pool,
		  const struct watcher_hooks *hooks, struct watcher **out, struct err *e);

/* Run one cycle now, after any cycle in progress; done(arg, result) is called on the
 * watcher thread with the cycle's counts (a new reference, owned by done), or with
 * NULL when the watcher stops first. Any thread. */
void watcher_run_now(struct watcher *w, void (*done)(void *arg, json_t *result), void *arg);

/* 0 while the thread runs; else an error naming it (for /readyz). */
int watcher_healthy(struct watcher *w, struct err *e);

/* intervene_watcher_cycle_seconds, intervene_watcher_last_success_timestamp_seconds,
 * intervene_watcher_cycles_total{result}, intervene_sla_breaches_total{stage}. Any
 * thread. */
void watcher_render_metrics(struct watcher *w, struct buf *out);

/* Stop the thread (a cycle in progress finishes its current job); pending run_now
 * requests get done(arg, NULL). Before the pool stops. NULL is fine. */
void watcher_stop(struct watcher *w);
void watcher_free(struct watcher *w);

#endif
