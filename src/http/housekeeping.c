/* housekeeping.c — retention rounds and the readiness probe; see the header. */
#include "http/housekeeping.h"

#include <event2/event.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>

#include "core/retention.h"
#include "util/log.h"
#include "util/time.h"

#define PROBE_EVERY_MS	   1000
#define RETENTION_MIN_MS   1000
#define RETENTION_MAX_MS   60000
#define RETENTION_AGAIN_MS 100

struct housekeeping {
	struct store_pool *pool;
	struct loopq *q;
	const struct config *cfg;
	struct event *probe_timer, *retention_timer;
	int64_t retention_every_ms;
	bool probe_inflight, retention_inflight, stopped;
	int jobs_inflight; /* posted back or discarded before free */
};

struct hk_job {
	struct job job;
	struct loop_task task;
	struct housekeeping *hk;
	bool probe;
	int rc; /* the job's own result, or the commit's */
	struct err e;
	struct retention_result res;
};

static void arm(struct event *ev, int64_t ms)
{
	struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000};
	evtimer_add(ev, &tv);
}

static int job_run(struct job *j, struct store_conn *c)
{
	struct hk_job *h = (struct hk_job *)j;
	err_clear(&h->e);
	if (h->probe)
		h->rc = store_probe_write(c, &h->e);
	else
		h->rc = retention_run(c, h->hk->cfg, time_now_ms(), &h->res, &h->e);
	return h->rc;
}

static void job_apply(struct loop_task *t)
{
	struct hk_job *h = (struct hk_job *)((char *)t - offsetof(struct hk_job, task));
	struct housekeeping *hk = h->hk;
	hk->jobs_inflight--;
	if (h->probe) {
		hk->probe_inflight = false;
		if (!h->rc)
			log_info("storage writes work again: the readiness probe committed", NULL);
	} else {
		hk->retention_inflight = false;
		if (h->rc) {
			log_warn("retention round failed", "error=\"%s\"", h->e.msg);
		} else if (h->res.events_pruned || h->res.idempotency_deleted ||
			   h->res.sessions_deleted) {
			log_info("retention round",
				 "events_pruned=%lld first_kept_id=%lld "
				 "idempotency_deleted=%lld sessions_deleted=%lld",
				 (long long)h->res.events_pruned, (long long)h->res.first_kept_id,
				 (long long)h->res.idempotency_deleted,
				 (long long)h->res.sessions_deleted);
		}
		if (!hk->stopped)
			arm(hk->retention_timer,
			    !h->rc && h->res.more ? RETENTION_AGAIN_MS : hk->retention_every_ms);
	}
	free(h);
}

static void job_discard(struct loop_task *t)
{
	struct hk_job *h = (struct hk_job *)((char *)t - offsetof(struct hk_job, task));
	h->hk->jobs_inflight--;
	free(h);
}

static void job_done(struct job *j, int commit_rc, const struct err *commit_err)
{
	struct hk_job *h = (struct hk_job *)j;
	if (commit_rc) {
		h->rc = commit_rc;
		if (commit_err)
			h->e = *commit_err;
	}
	h->task.fn = job_apply;
	h->task.discard = job_discard;
	loopq_post(h->hk->q, &h->task);
}

static void submit(struct housekeeping *hk, bool probe)
{
	struct hk_job *h = xcalloc(1, sizeof *h);
	h->job.kind = JOB_WRITE;
	h->job.run = job_run;
	h->job.done = job_done;
	h->hk = hk;
	h->probe = probe;
	hk->jobs_inflight++;
	store_pool_submit(hk->pool, &h->job);
}

static void on_probe(evutil_socket_t fd, short what, void *arg)
{
	struct housekeeping *hk = arg;
	(void)fd;
	(void)what;
	if (hk->stopped || hk->probe_inflight || store_pool_healthy(hk->pool) == 0)
		return;
	hk->probe_inflight = true;
	submit(hk, true);
}

static void on_retention(evutil_socket_t fd, short what, void *arg)
{
	struct housekeeping *hk = arg;
	(void)fd;
	(void)what;
	if (hk->stopped || hk->retention_inflight)
		return;
	hk->retention_inflight = true;
	submit(hk, false);
}

struct housekeeping *housekeeping_new(struct event_base *base, struct store_pool *pool,
				      struct loopq *q, const struct config *cfg)
{
	struct housekeeping *hk = xcalloc(1, sizeof *hk);
	hk->pool = pool;
	hk->q = q;
	hk->cfg = cfg;
	int64_t every = cfg->storage.event_retention_ms / 2;
	hk->retention_every_ms = every < RETENTION_MIN_MS   ? RETENTION_MIN_MS
				 : every > RETENTION_MAX_MS ? RETENTION_MAX_MS
							    : every;
	hk->probe_timer = event_new(base, -1, EV_PERSIST, on_probe, hk);
	hk->retention_timer = evtimer_new(base, on_retention, hk);
	if (!hk->probe_timer || !hk->retention_timer) {
		housekeeping_free(hk);
		return NULL;
	}
	arm(hk->probe_timer, PROBE_EVERY_MS);
	arm(hk->retention_timer, hk->retention_every_ms);
	return hk;
}

void housekeeping_stop(struct housekeeping *hk)
{
	if (!hk)
		return;
	hk->stopped = true;
	event_del(hk->probe_timer);
	event_del(hk->retention_timer);
}

void housekeeping_free(struct housekeeping *hk)
{
	if (!hk)
		return;
	if (hk->probe_timer)
		event_free(hk->probe_timer);
	if (hk->retention_timer)
		event_free(hk->retention_timer);
	free(hk);
}
