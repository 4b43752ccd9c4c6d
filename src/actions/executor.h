/* executor.h — runs playbook actions off the request path (SPEC §9.3).
 *
 * An action is started by the execute route's write job (playbook_start: the row is
 * running, with a lease of this executor's instance id); once that committed, the
 * loop hands the id to executor_run, and a worker thread of its own runs the type's
 * execute — a dbt child, Elasticsearch calls, canary steps — so a slow one never holds
 * up another target. A keeper thread stores each running action's log (every second
 * when it changed) and renews its lease (every 10 s), and fails actions whose lease
 * ended — abandoned by a server that died — with "interrupted" (at start and every
 * 10 s). The end of a run is one write job: status, result, log, inverse and
 * action_executed together.
 *
 * Threads: every function may be called from any thread. Workers and the keeper reach
 * the store only through the pool's job hand-off. */
#ifndef INTERVENE_ACTIONS_EXECUTOR_H
#define INTERVENE_ACTIONS_EXECUTOR_H

#include <jansson.h>

#include "config/config.h"
#include "store/pool.h"
#include "util/buf.h"
#include "util/err.h"

#define EXECUTOR_LEASE_MS 30000
#define EXECUTOR_RENEW_MS 10000
#define EXECUTOR_LOG_MAX  (1024 * 1024)

struct executor;

/* Start the keeper thread (its first sweep runs at once). cfg and pool outlive it. */
int executor_start(const struct config *cfg, struct store_pool *pool, struct executor **out,
		   struct err *e);

/* The lease owner of this executor's runs ("<hostname>:<pid>:<random>"; owned by x). */
const char *executor_instance(const struct executor *x);

/* Run the committed running action id on a worker thread. */
void executor_run(struct executor *x, int64_t id);

/* Ask the running action id to stop (its process group is killed). False when this
 * executor does not run it. */
bool executor_cancel(struct executor *x, int64_t id);

/* Call done(arg, action) when action id ends or after wait_ms, whichever comes first,
 * on an executor thread: action is its final API form (new reference, owned by done)
 * or NULL when it still runs (or is not this executor's). */
void executor_wait(struct executor *x, int64_t id, int64_t wait_ms,
		   void (*done)(void *arg, json_t *action), void *arg);

/* intervene_actions_total{type,status} and intervene_actions_running. */
void executor_render_metrics(struct executor *x, struct buf *out);

/* 0 while the keeper runs, else an error (for /readyz). */
int executor_healthy(struct executor *x, struct err *e);

/* Stop: running actions are cancelled and recorded as failed "interrupted: the server
 * stopped", waiters get NULL, threads are joined. Before the pool stops; NULL is fine. */
void executor_stop(struct executor *x);
void executor_free(struct executor *x);

#endif
