/* test_pool.c — the store threads: group commit, per-job savepoints, readers, stop
 * (src/store/pool.h). Runs against a temporary SQLite database.
 *
 * To put many jobs into one group commit deterministically, a "gate" job holds the
 * writer inside its run() until the test has queued everything else. */
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "tmpdb.h"

#include "store/pool.h"
#include "store/store.h"
#include "util/buf.h"

/* In the sanitizer build, undefined behaviour fails the test instead of only being
 * printed (unused otherwise). */
const char *__ubsan_default_options(void);
const char *__ubsan_default_options(void)
{
	return "halt_on_error=1:print_stacktrace=1";
}

#define T0 1767225600000LL

struct fixture {
	char dir[64];
	char path[128];
	struct store *store;
	struct store_pool *pool;
	atomic_int commits; /* commit hook calls */
};

static void on_commit(void *arg);

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof *f);
	if (!f)
		return -1;
	if (tmpdb_create("pool", f->dir, f->path, &f->store)) {
		free(f);
		return -1;
	}
	struct err e;
	err_clear(&e);
	if (store_pool_start(f->store, 3, on_commit, f, &f->pool, &e)) {
		fprintf(stderr, "setup: %s\n", e.msg);
		return -1;
	}
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	store_pool_stop(f->pool);
	store_free(f->store);
	tmpdb_remove(f->dir, f->path);
	free(f);
	return 0;
}

/* ---- completion tracking shared by all jobs ---- */

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static int n_done;

static void note_done(void)
{
	pthread_mutex_lock(&mu);
	n_done++;
	pthread_cond_broadcast(&cond);
	pthread_mutex_unlock(&mu);
}

static void wait_done(int n)
{
	pthread_mutex_lock(&mu);
	while (n_done < n)
		pthread_cond_wait(&cond, &mu);
	pthread_mutex_unlock(&mu);
}

/* The commit hook runs on the writer thread after each COMMIT; its order relative to
 * the batch's done() calls is not specified, so tests wait for it separately. */
static void on_commit(void *arg)
{
	struct fixture *f = arg;
	pthread_mutex_lock(&mu);
	atomic_fetch_add(&f->commits, 1);
	pthread_cond_broadcast(&cond);
	pthread_mutex_unlock(&mu);
}

static void wait_commits(struct fixture *f, int n)
{
	pthread_mutex_lock(&mu);
	while (atomic_load(&f->commits) < n)
		pthread_cond_wait(&cond, &mu);
	pthread_mutex_unlock(&mu);
}

static void reset_done(void)
{
	pthread_mutex_lock(&mu);
	n_done = 0;
	pthread_mutex_unlock(&mu);
}

/* ---- the gate ---- */

struct gate {
	struct job job;
	pthread_mutex_t mu;
	pthread_cond_t cond;
	bool running, open;
	atomic_int done_calls;
	int done_rc;
};

static int gate_run(struct job *j, struct store_conn *c)
{
	(void)c;
	struct gate *g = (struct gate *)j;
	pthread_mutex_lock(&g->mu);
	g->running = true;
	pthread_cond_broadcast(&g->cond);
	while (!g->open)
		pthread_cond_wait(&g->cond, &g->mu);
	pthread_mutex_unlock(&g->mu);
	return 0;
}

static void gate_done(struct job *j, int rc, const struct err *e)
{
	(void)e;
	struct gate *g = (struct gate *)j;
	g->done_rc = rc;
	atomic_fetch_add(&g->done_calls, 1);
	note_done();
}

static void gate_init(struct gate *g)
{
	memset(g, 0, sizeof *g);
	g->job.kind = JOB_WRITE;
	g->job.run = gate_run;
	g->job.done = gate_done;
	pthread_mutex_init(&g->mu, NULL);
	pthread_cond_init(&g->cond, NULL);
	g->done_rc = -999;
}

static void gate_wait_running(struct gate *g)
{
	pthread_mutex_lock(&g->mu);
	while (!g->running)
		pthread_cond_wait(&g->cond, &g->mu);
	pthread_mutex_unlock(&g->mu);
}

static void gate_open(struct gate *g)
{
	pthread_mutex_lock(&g->mu);
	g->open = true;
	pthread_cond_broadcast(&g->cond);
	pthread_mutex_unlock(&g->mu);
}

static void gate_destroy(struct gate *g)
{
	pthread_mutex_destroy(&g->mu);
	pthread_cond_destroy(&g->cond);
}

/* ---- write jobs: insert one incident, optionally fail afterwards ---- */

enum wmode { WJ_OK, WJ_FAIL, WJ_DUPLICATE };

struct wjob {
	struct job job;
	char key[32];
	enum wmode mode;
	int64_t inc_id;
	int run_rc;
	atomic_int run_calls, done_calls;
	int done_rc;
};

static int wjob_run(struct job *j, struct store_conn *c)
{
	struct wjob *w = (struct wjob *)j;
	atomic_fetch_add(&w->run_calls, 1);
	struct incident inc = {
		.kind = xstrdup("manual"),
		.key = xstrdup(w->key),
		.severity = 3,
		.status = ST_OPEN,
		.summary = xstrdup("pool test"),
		.source = xstrdup("test"),
		.occurrences = 1,
		.last_seen_at = T0,
		.created_at = T0,
		.updated_at = T0,
	};
	struct err e;
	int rc = store_incident_insert(c, &inc, &e);
	w->inc_id = inc.id;
	incident_clear(&inc);
	if (!rc && w->mode == WJ_FAIL)
		rc = ERR_INVALID;
	w->run_rc = rc;
	return rc;
}

static void wjob_done(struct job *j, int rc, const struct err *e)
{
	(void)e;
	struct wjob *w = (struct wjob *)j;
	w->done_rc = rc;
	atomic_fetch_add(&w->done_calls, 1);
	note_done();
}

static void wjob_init(struct wjob *w, const char *key, enum wmode mode)
{
	memset(w, 0, sizeof *w);
	w->job.kind = JOB_WRITE;
	w->job.run = wjob_run;
	w->job.done = wjob_done;
	snprintf(w->key, sizeof w->key, "%s", key);
	w->mode = mode;
	w->done_rc = -999;
}

/* ---- read jobs: look an incident up by key ---- */

struct rjob {
	struct job job;
	char key[32];
	int rc; /* of store_incident_find_active */
	int64_t found_id;
	int write_rc; /* of an attempted write on the read connection */
	bool try_write;
	atomic_int run_calls, done_calls;
	int done_rc;
};

static int rjob_run(struct job *j, struct store_conn *c)
{
	struct rjob *r = (struct rjob *)j;
	atomic_fetch_add(&r->run_calls, 1);
	struct incident inc;
	struct err e;
	r->rc = store_incident_find_active(c, "manual", r->key, &inc, &e);
	if (!r->rc) {
		r->found_id = inc.id;
		incident_clear(&inc);
	}
	if (r->try_write)
		r->write_rc = store_idem_put(c, "scope", r->key, 200, "{}", T0, &e);
	return 0;
}

static void rjob_done(struct job *j, int rc, const struct err *e)
{
	(void)e;
	struct rjob *r = (struct rjob *)j;
	r->done_rc = rc;
	atomic_fetch_add(&r->done_calls, 1);
	note_done();
}

static void rjob_init(struct rjob *r, const char *key)
{
	memset(r, 0, sizeof *r);
	r->job.kind = JOB_READ;
	r->job.run = rjob_run;
	r->job.done = rjob_done;
	snprintf(r->key, sizeof r->key, "%s", key);
	r->done_rc = -999;
	r->rc = -999;
}

/* ---- many writers ---- */

#define THREADS	   4
#define PER_THREAD 50

struct submitter {
	struct store_pool *pool;
	struct wjob *jobs;
	int n;
};

static void *submit_all(void *arg)
{
	struct submitter *s = arg;
	for (int i = 0; i < s->n; i++)
		store_pool_submit(s->pool, &s->jobs[i].job);
	return NULL;
}

static void test_group_commit_many_threads(void **state)
{
	struct fixture *f = *state;
	reset_done();
	static struct wjob jobs[THREADS][PER_THREAD];
	static struct wjob dup_a, dup_b;
	for (int t = 0; t < THREADS; t++)
		for (int i = 0; i < PER_THREAD; i++) {
			char key[32];
			snprintf(key, sizeof key, "t%d-%d", t, i);
			wjob_init(&jobs[t][i], key, i % 7 == 3 ? WJ_FAIL : WJ_OK);
		}
	/* two jobs for one key in the same batch: the second hits the active-key index */
	wjob_init(&dup_a, "dup", WJ_OK);
	wjob_init(&dup_b, "dup", WJ_DUPLICATE);

	struct gate g;
	gate_init(&g);
	store_pool_submit(f->pool, &g.job);
	gate_wait_running(&g);
	int commits_before = atomic_load(&f->commits);

	pthread_t th[THREADS];
	struct submitter subs[THREADS];
	for (int t = 0; t < THREADS; t++) {
		subs[t] = (struct submitter){.pool = f->pool, .jobs = jobs[t], .n = PER_THREAD};
		assert_int_equal(pthread_create(&th[t], NULL, submit_all, &subs[t]), 0);
	}
	for (int t = 0; t < THREADS; t++)
		pthread_join(th[t], NULL);
	store_pool_submit(f->pool, &dup_a.job);
	store_pool_submit(f->pool, &dup_b.job);

	/* nothing of the queued jobs has run while the writer is held */
	for (int t = 0; t < THREADS; t++)
		for (int i = 0; i < PER_THREAD; i++)
			assert_int_equal(atomic_load(&jobs[t][i].run_calls), 0);
	gate_open(&g);
	wait_done(1 + THREADS * PER_THREAD + 2);

	assert_int_equal(atomic_load(&g.done_calls), 1);
	assert_int_equal(g.done_rc, 0);
	/* the gate's batch, then everything else in one group commit */
	wait_commits(f, commits_before + 2);
	assert_int_equal(atomic_load(&f->commits) - commits_before, 2);

	int failing = 0;
	for (int t = 0; t < THREADS; t++)
		for (int i = 0; i < PER_THREAD; i++) {
			struct wjob *w = &jobs[t][i];
			assert_int_equal(atomic_load(&w->run_calls), 1);
			assert_int_equal(atomic_load(&w->done_calls), 1);
			/* done() sees the commit's result, 0, also for a job that rolled back */
			assert_int_equal(w->done_rc, 0);
			if (w->mode == WJ_FAIL) {
				assert_int_equal(w->run_rc, ERR_INVALID);
				failing++;
			} else {
				assert_int_equal(w->run_rc, 0);
			}
			assert_true(w->inc_id > 0);
		}
	assert_true(failing > 0);
	assert_int_equal(dup_a.run_rc, 0);
	assert_int_equal(dup_b.run_rc, ERR_CONFLICT);
	assert_int_equal(dup_a.done_rc, 0);
	assert_int_equal(dup_b.done_rc, 0);
	assert_int_equal(atomic_load(&dup_b.done_calls), 1);

	/* readers see exactly the committed jobs' rows */
	reset_done();
	static struct rjob reads[THREADS][PER_THREAD];
	for (int t = 0; t < THREADS; t++)
		for (int i = 0; i < PER_THREAD; i++) {
			rjob_init(&reads[t][i], jobs[t][i].key);
			store_pool_submit(f->pool, &reads[t][i].job);
		}
	struct rjob rdup;
	rjob_init(&rdup, "dup");
	store_pool_submit(f->pool, &rdup.job);
	wait_done(THREADS * PER_THREAD + 1);
	for (int t = 0; t < THREADS; t++)
		for (int i = 0; i < PER_THREAD; i++) {
			struct rjob *r = &reads[t][i];
			assert_int_equal(atomic_load(&r->done_calls), 1);
			assert_int_equal(r->done_rc, 0);
			if (jobs[t][i].mode == WJ_FAIL) {
				if (r->rc != ERR_NOTFOUND)
					fail_msg("%s: the failed job's insert is visible", r->key);
			} else {
				if (r->rc != 0)
					fail_msg("%s: committed insert not visible (%d)", r->key,
						 r->rc);
				assert_int_equal(r->found_id, jobs[t][i].inc_id);
			}
		}
	assert_int_equal(rdup.rc, 0);
	assert_int_equal(rdup.found_id, dup_a.inc_id);
	gate_destroy(&g);
	assert_int_equal(store_pool_healthy(f->pool), 0);
}

/* ---- run_sync ---- */

struct sync_flag {
	struct wjob w;
	bool done_seen;
};

static void sync_wdone(struct job *j, int rc, const struct err *e)
{
	(void)e;
	struct sync_flag *s = (struct sync_flag *)j;
	s->w.done_rc = rc;
	atomic_fetch_add(&s->w.done_calls, 1);
	s->done_seen = true;
}

static void test_run_sync(void **state)
{
	struct fixture *f = *state;
	struct sync_flag s;
	wjob_init(&s.w, "sync-1", WJ_OK);
	s.w.job.done = sync_wdone;
	s.done_seen = false;
	int before = atomic_load(&f->commits);
	store_pool_run_sync(f->pool, &s.w.job);
	/* done has run by the time run_sync returns */
	assert_true(s.done_seen);
	assert_int_equal(atomic_load(&s.w.run_calls), 1);
	assert_int_equal(atomic_load(&s.w.done_calls), 1);
	assert_int_equal(s.w.done_rc, 0);
	assert_int_equal(s.w.run_rc, 0);
	wait_commits(f, before + 1);

	/* and the commit is visible to the next read, also through run_sync */
	reset_done();
	struct rjob r;
	rjob_init(&r, "sync-1");
	r.try_write = true;
	store_pool_run_sync(f->pool, &r.job);
	assert_int_equal(atomic_load(&r.done_calls), 1);
	assert_int_equal(r.done_rc, 0);
	assert_int_equal(r.rc, 0);
	assert_int_equal(r.found_id, s.w.inc_id);
	/* read jobs run on read-only connections */
	assert_true(r.write_rc < 0);

	/* a failing job through run_sync: done with 0, nothing kept */
	struct sync_flag bad;
	wjob_init(&bad.w, "sync-2", WJ_FAIL);
	bad.w.job.done = sync_wdone;
	bad.done_seen = false;
	store_pool_run_sync(f->pool, &bad.w.job);
	assert_true(bad.done_seen);
	assert_int_equal(bad.w.done_rc, 0);
	assert_int_equal(bad.w.run_rc, ERR_INVALID);
	rjob_init(&r, "sync-2");
	store_pool_run_sync(f->pool, &r.job);
	assert_int_equal(r.rc, ERR_NOTFOUND);
}

/* ---- stop drains ---- */

#define DRAIN_W 40
#define DRAIN_R 20
struct stopper {
	struct store_pool *pool;
};

static void *stop_thread(void *arg)
{
	struct stopper *s = arg;
	store_pool_stop(s->pool);
	return NULL;
}

static void test_stop_drains(void **state)
{
	struct fixture *f = *state;
	reset_done();
	struct gate g;
	gate_init(&g);
	store_pool_submit(f->pool, &g.job);
	gate_wait_running(&g);

	static struct wjob w[DRAIN_W];
	static struct rjob r[DRAIN_R];
	for (int i = 0; i < DRAIN_W; i++) {
		char key[32];
		snprintf(key, sizeof key, "drain-%d", i);
		wjob_init(&w[i], key, i % 5 == 4 ? WJ_FAIL : WJ_OK);
		store_pool_submit(f->pool, &w[i].job);
	}
	for (int i = 0; i < DRAIN_R; i++) {
		rjob_init(&r[i], "none");
		store_pool_submit(f->pool, &r[i].job);
	}

	/* Stop from another thread while the writer is still held by the gate. */
	struct stopper st = {.pool = f->pool};
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, stop_thread, &st), 0);

	/* The pool cannot be freed while the gate holds the writer, so probing it with
	 * submits is safe. Accepted probes are queued like any job; the first refused
	 * one shows that the stop has begun: it completes at once with ERR_IO. */
	struct wjob **probes = NULL;
	int accepted = 0;
	for (;;) {
		struct wjob *p = xmalloc(sizeof *p);
		char key[32];
		snprintf(key, sizeof key, "probe-%d", accepted);
		wjob_init(p, key, WJ_OK);
		store_pool_submit(f->pool, &p->job);
		if (atomic_load(&p->done_calls) == 1) {
			/* completed synchronously inside submit: refused, never run */
			assert_int_equal(p->done_rc, ERR_IO);
			assert_int_equal(atomic_load(&p->run_calls), 0);
			free(p);
			break;
		}
		probes = xrealloc(probes, (size_t)(accepted + 1) * sizeof *probes);
		probes[accepted++] = p;
		sched_yield();
	}
	gate_open(&g);
	pthread_join(th, NULL);
	f->pool = NULL; /* stopped and freed */

	/* every queued job finished exactly once, writes with commit_rc 0 */
	assert_int_equal(atomic_load(&g.done_calls), 1);
	for (int i = 0; i < DRAIN_W; i++) {
		assert_int_equal(atomic_load(&w[i].run_calls), 1);
		assert_int_equal(atomic_load(&w[i].done_calls), 1);
		assert_int_equal(w[i].done_rc, 0);
	}
	for (int i = 0; i < DRAIN_R; i++) {
		assert_int_equal(atomic_load(&r[i].run_calls), 1);
		assert_int_equal(atomic_load(&r[i].done_calls), 1);
		assert_int_equal(r[i].done_rc, 0);
		assert_int_equal(r[i].rc, ERR_NOTFOUND);
	}
	for (int i = 0; i < accepted; i++) {
		assert_int_equal(atomic_load(&probes[i]->run_calls), 1);
		assert_int_equal(atomic_load(&probes[i]->done_calls), 1);
		assert_int_equal(probes[i]->done_rc, 0);
	}

	/* what the drained jobs committed is in the database */
	struct store_conn *c = NULL;
	struct err e;
	assert_int_equal(store_connect(f->store, true, &c, &e), 0);
	for (int i = 0; i < DRAIN_W; i++) {
		struct incident inc;
		int rc = store_incident_find_active(c, "manual", w[i].key, &inc, &e);
		if (w[i].mode == WJ_OK) {
			assert_int_equal(rc, 0);
			assert_int_equal(inc.id, w[i].inc_id);
			incident_clear(&inc);
		} else {
			assert_int_equal(rc, ERR_NOTFOUND);
		}
	}
	for (int i = 0; i < accepted; i++) {
		struct incident inc;
		assert_int_equal(store_incident_find_active(c, "manual", probes[i]->key, &inc, &e),
				 0);
		incident_clear(&inc);
		free(probes[i]);
	}
	free(probes);
	store_disconnect(c);
	gate_destroy(&g);
}

static void test_stop_idle_and_null(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(store_pool_healthy(f->pool), 0);
	store_pool_stop(f->pool);
	f->pool = NULL;
	store_pool_stop(NULL);
	assert_true(store_pool_healthy(NULL) != 0);
}

static void test_start_fails_without_database(void **state)
{
	(void)state;
	struct store *s = NULL;
	struct err e;
	assert_int_equal(store_new("sqlite:///nonexistent-dir-for-intervene/x.db", &s, &e), 0);
	struct store_pool *p = NULL;
	err_clear(&e);
	int rc = store_pool_start(s, 2, NULL, NULL, &p, &e);
	assert_true(rc < 0);
	assert_int_equal(e.code, rc);
	assert_null(p);
	store_free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_group_commit_many_threads, setup, teardown),
		cmocka_unit_test_setup_teardown(test_run_sync, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stop_drains, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stop_idle_and_null, setup, teardown),
		cmocka_unit_test(test_start_fails_without_database),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
