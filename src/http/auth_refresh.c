/* auth_refresh.c — periodic and on-demand reloads of the token cache; see the header. */
#include "http/auth_refresh.h"

#include <event2/event.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/metrics.h"
#include "util/log.h"

#define CHECK_EVERY_US 500000

struct session_op {
	bool add;
	char sid[AUTH_TOKEN_LEN + 1];
	char name[AUTH_NAME_MAX + 1];
	enum role role;
	int64_t expires_at;
};

struct auth_refresh {
	struct store_pool *pool;
	struct loopq *q;
	struct metrics *metrics;
	struct event *timer;
	struct auth_cache *cache;
	bool timer_load_inflight;
	bool stopped;
	int loads_inflight;
	/* Session changes since the oldest load in flight began, in order. */
	struct session_op *journal;
	size_t n_journal, cap_journal;
};

struct load {
	struct job job;
	struct loop_task task;
	struct auth_refresh *ar;
	int64_t known_version; /* -1: load whatever the version */
	struct auth_cache *fresh;
	bool from_timer;
	void (*done)(void *arg);
	void (*cancel)(void *arg);
	void *arg;
};

static int load_run(struct job *j, struct store_conn *c)
{
	struct load *l = (struct load *)j;
	int64_t v = 0;
	struct err e;
	err_clear(&e);
	if (store_token_version(c, &v, &e)) {
		log_warn("token check failed", "error=\"%s\"", e.msg);
		return 0;
	}
	if (v != l->known_version && auth_cache_load(c, &l->fresh, &e))
		log_warn("token reload failed", "error=\"%s\"", e.msg);
	return 0;
}

static void replay(struct auth_refresh *ar, struct auth_cache *ac)
{
	for (size_t i = 0; i < ar->n_journal; i++) {
		const struct session_op *op = &ar->journal[i];
		if (!op->add)
			auth_cache_session_remove(ac, op->sid);
		else if (auth_cache_token_named(ac, op->name))
			/* Only while its token lives: a revocation read by the load wins. */
			auth_cache_session_add(ac, op->sid, op->name, op->role, op->expires_at);
	}
}

static void load_apply(struct loop_task *t)
{
	struct load *l = (struct load *)((char *)t - offsetof(struct load, task));
	struct auth_refresh *ar = l->ar;
	/* Overlapping loads (timer and after-change reloads): never go back. */
	if (l->fresh && l->fresh->version >= ar->cache->version) {
		replay(ar, l->fresh);
		auth_cache_free(ar->cache);
		ar->cache = l->fresh;
		metrics_auth_reload(ar->metrics);
	} else {
		auth_cache_free(l->fresh);
	}
	if (l->from_timer)
		ar->timer_load_inflight = false;
	if (--ar->loads_inflight == 0 && ar->n_journal) {
		/* The journal holds session ids in clear: wipe it once no load needs it. */
		memset(ar->journal, 0, ar->n_journal * sizeof *ar->journal);
		ar->n_journal = 0;
	}
	if (l->done)
		l->done(l->arg);
	free(l);
}

static void load_discard(struct loop_task *t)
{
	struct load *l = (struct load *)((char *)t - offsetof(struct load, task));
	auth_cache_free(l->fresh);
	if (l->cancel)
		l->cancel(l->arg);
	l->ar->loads_inflight--;
	free(l);
}

static void load_done(struct job *j, int rc, const struct err *e)
{
	struct load *l = (struct load *)j;
	(void)rc;
	(void)e;
	l->task.fn = load_apply;
	l->task.discard = load_discard;
	loopq_post(l->ar->q, &l->task);
}

static void submit(struct auth_refresh *ar, int64_t known, bool from_timer, void (*done)(void *),
		   void (*cancel)(void *), void *arg)
{
	struct load *l = xcalloc(1, sizeof *l);
	l->job.kind = JOB_READ;
	l->job.run = load_run;
	l->job.done = load_done;
	l->ar = ar;
	l->known_version = known;
	l->from_timer = from_timer;
	l->done = done;
	l->cancel = cancel;
	l->arg = arg;
	ar->loads_inflight++;
	store_pool_submit(ar->pool, &l->job);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct auth_refresh *ar = arg;
	(void)fd;
	(void)what;
	if (ar->timer_load_inflight || ar->stopped)
		return;
	ar->timer_load_inflight = true;
	submit(ar, ar->cache->version, true, NULL, NULL, NULL);
}

struct auth_refresh *auth_refresh_new(struct event_base *base, struct store_pool *pool,
				      struct loopq *q, struct metrics *m,
				      struct auth_cache *initial)
{
	struct auth_refresh *ar = xcalloc(1, sizeof *ar);
	ar->pool = pool;
	ar->q = q;
	ar->metrics = m;
	ar->cache = initial;
	ar->timer = event_new(base, -1, EV_PERSIST, on_timer, ar);
	struct timeval tv = {0, CHECK_EVERY_US};
	if (!ar->timer || event_add(ar->timer, &tv)) {
		if (ar->timer)
			event_free(ar->timer);
		free(ar);
		return NULL;
	}
	return ar;
}

const struct auth_cache *auth_refresh_cache(const struct auth_refresh *ar)
{
	return ar->cache;
}

void auth_refresh_reload(struct auth_refresh *ar, void (*done)(void *arg),
			 void (*cancel)(void *arg), void *arg)
{
	submit(ar, -1, false, done, cancel, arg);
}

static void journal(struct auth_refresh *ar, const struct session_op *op)
{
	if (!ar->loads_inflight)
		return;
	if (ar->n_journal == ar->cap_journal) {
		ar->cap_journal = ar->cap_journal ? ar->cap_journal * 2 : 16;
		ar->journal = xrealloc(ar->journal, ar->cap_journal * sizeof *ar->journal);
	}
	ar->journal[ar->n_journal++] = *op;
}

void auth_refresh_session_added(struct auth_refresh *ar, const char *sid, const char *token_name,
				enum role role, int64_t expires_at)
{
	struct session_op op = {.add = true, .role = role, .expires_at = expires_at};
	snprintf(op.sid, sizeof op.sid, "%s", sid);
	snprintf(op.name, sizeof op.name, "%s", token_name);
	auth_cache_session_add(ar->cache, sid, token_name, role, expires_at);
	journal(ar, &op);
}

void auth_refresh_session_removed(struct auth_refresh *ar, const char *sid)
{
	struct session_op op = {.add = false};
	snprintf(op.sid, sizeof op.sid, "%s", sid);
	auth_cache_session_remove(ar->cache, sid);
	journal(ar, &op);
}

void auth_refresh_stop(struct auth_refresh *ar)
{
	if (!ar)
		return;
	ar->stopped = true;
	event_del(ar->timer);
}

void auth_refresh_free(struct auth_refresh *ar)
{
	if (!ar)
		return;
	event_free(ar->timer);
	auth_cache_free(ar->cache);
	if (ar->journal)
		memset(ar->journal, 0, ar->cap_journal * sizeof *ar->journal);
	free(ar->journal);
	free(ar);
}
