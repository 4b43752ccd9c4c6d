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

#include "config/config.h"
#include "core/event.h"
#include "core/incident.h"
#include "core/signal.h"
#include "store/fault.h"
#include "store/pool.h"
#include "store/store.h"
#include "util/buf.h"
#include "util/json.h"

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

static void on_commit(void *arg, uint32_t due_targets);

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
static void on_commit(void *arg, uint32_t due_targets)
{
	struct fixture *f = arg;
	(void)due_targets;
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
	char done_msg[ERR_MSG_MAX];
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
	struct rjob *r = (struct rjob *)j;
	snprintf(r->done_msg, sizeof r->done_msg, "%s", e ? e->msg : "");
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
	assert_int_equal(r.rc, 0);
	assert_int_equal(r.found_id, s.w.inc_id);
	/* read jobs run on read-only connections; the job ignored the refused write, so
	 * the pool reports it instead of the job's (incomplete) answer */
	assert_true(r.write_rc < 0);
	assert_int_equal(r.done_rc, ERR_IO);
	assert_non_null(strstr(r.done_msg, "did not report"));
	assert_non_null(strstr(r.done_msg, "readonly"));

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

static void test_stop_refuses_unstarted_jobs(void **state)
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

	/* the batch in progress (the gate) finished; every job still queued completed
	 * exactly once with ERR_IO and never ran: its requester has gone, and a change
	 * applied behind its back would be applied twice on a retry */
	assert_int_equal(atomic_load(&g.done_calls), 1);
	for (int i = 0; i < DRAIN_W; i++) {
		assert_int_equal(atomic_load(&w[i].run_calls), 0);
		assert_int_equal(atomic_load(&w[i].done_calls), 1);
		assert_int_equal(w[i].done_rc, ERR_IO);
	}
	for (int i = 0; i < DRAIN_R; i++) {
		/* the readers are not held: a read either ran before the stop or was
		 * refused, never both and never neither */
		assert_int_equal(atomic_load(&r[i].done_calls), 1);
		if (atomic_load(&r[i].run_calls))
			assert_int_equal(r[i].done_rc, 0);
		else
			assert_int_equal(r[i].done_rc, ERR_IO);
	}
	for (int i = 0; i < accepted; i++) {
		assert_int_equal(atomic_load(&probes[i]->run_calls), 0);
		assert_int_equal(atomic_load(&probes[i]->done_calls), 1);
		assert_int_equal(probes[i]->done_rc, ERR_IO);
	}

	/* and nothing of them is in the database */
	struct store_conn *c = NULL;
	struct err e;
	assert_int_equal(store_connect(f->store, true, &c, &e), 0);
	for (int i = 0; i < DRAIN_W; i++) {
		struct incident inc;
		assert_int_equal(store_incident_find_active(c, "manual", w[i].key, &inc, &e),
				 ERR_NOTFOUND);
	}
	for (int i = 0; i < accepted; i++) {
		struct incident inc;
		assert_int_equal(store_incident_find_active(c, "manual", probes[i]->key, &inc, &e),
				 ERR_NOTFOUND);
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

/* ---- every failure point of real write jobs ----
 *
 * A batch of jobs that really write through core/ (incident_create, signal_ingest
 * creating and deduplicating, event_append) plus one that fails by itself (a key
 * conflict, so that ROLLBACK TO runs) is committed once while counting every store
 * operation of the writer. Then the same batch runs again on a fresh pool (so the
 * same statements are prepared) once for every prepare and step index, every
 * savepoint, release, ROLLBACK TO, BEGIN and COMMIT, and each error. After each run,
 * on the store closed and opened again: a job reported successful has all its
 * effects, a failed job none (no incident, no event), and the chain verifies. */

enum mkind { MK_ARM, MK_CREATE, MK_SIGNAL_NEW, MK_SIGNAL_DEDUP, MK_EVENT, MK_CONFLICT, MK_COUNT };

static const char *const mkind_names[MK_COUNT] = {
	"arm", "incident_create", "signal (new)", "signal (dedup)", "event_append", "conflict"};

struct mx {
	struct config *cfg;
	char dir[64], path[128];
	struct store *store;
	int64_t target_id;	    /* the incident the dedup jobs fold into */
	int64_t target_occurrences; /* expected: 1 + successful dedups */
	int trials;
};

struct mjob {
	struct job job;
	enum mkind kind;
	struct mx *mx;
	char key[64], marker[64];
	const struct store_fault_plan *plan; /* MK_ARM: armed when it runs */
	/* the writer's counts when run() started and ended */
	struct store_fault_counts at_start, at_end;
	int run_rc, done_rc;
	char done_msg[ERR_MSG_MAX];
	atomic_int done_calls;
};

static int mjob_run(struct job *j, struct store_conn *c)
{
	struct mjob *m = (struct mjob *)j;
	struct err e;
	err_clear(&e);
	int rc = 0;
	if (m->kind == MK_ARM)
		store_fault_arm(m->mx->store, m->plan);
	store_fault_read(m->mx->store, &m->at_start);
	switch (m->kind) {
	case MK_ARM: break;
	case MK_CREATE:
	case MK_CONFLICT: {
		/* the conflict declares the dedup target's (kind, key), which is active */
		struct incident inc = {.kind = xstrdup(m->kind == MK_CREATE ? "manual" : "budget"),
				       .key = xstrdup(m->key),
				       .severity = 2,
				       .summary = xstrdup(m->marker),
				       .source = xstrdup("test")};
		rc = incident_create(c, m->mx->cfg, &inc, "tester", &e);
		incident_clear(&inc);
		break;
	}
	case MK_SIGNAL_NEW:
	case MK_SIGNAL_DEDUP: {
		struct signal sg = {.kind = xstrdup("budget"),
				    .key = xstrdup(m->key),
				    .severity = 2,
				    .summary = xstrdup(m->marker),
				    .details = json_pack("{ss}", "marker", m->marker),
				    .playbooks = json_array(),
				    .source = xstrdup("test")};
		enum signal_outcome out;
		int64_t id;
		rc = signal_ingest(c, m->mx->cfg, &sg, "tester", &out, &id, &e);
		if (!rc && out != (m->kind == MK_SIGNAL_NEW ? OUT_CREATED : OUT_DEDUPLICATED))
			fail_msg("%s: unexpected outcome %s", m->marker, signal_outcome_name(out));
		signal_clear(&sg);
		break;
	}
	case MK_EVENT:
		rc = event_append(c, "silence_created", 0, "tester",
				  json_pack("{ss}", "marker", m->marker), NULL, &e);
		break;
	default: break;
	}
	store_fault_read(m->mx->store, &m->at_end);
	m->run_rc = rc;
	return rc;
}

static void mjob_done(struct job *j, int rc, const struct err *e)
{
	struct mjob *m = (struct mjob *)j;
	m->done_rc = rc;
	snprintf(m->done_msg, sizeof m->done_msg, "%s", e ? e->msg : "");
	atomic_fetch_add(&m->done_calls, 1);
	note_done();
}

static bool mjob_ok(const struct mjob *m)
{
	return m->run_rc >= 0 && m->done_rc == 0;
}

/* The holder: batch 0, which keeps the writer busy until the real batch is queued,
 * so that the real batch is one group commit. It may arm a plan (for BEGIN, which
 * must be armed before the batch starts). */
struct holder {
	struct gate g;
	struct store *store;
	const struct store_fault_plan *plan;
};

static int holder_run(struct job *j, struct store_conn *c)
{
	struct holder *h = (struct holder *)j;
	gate_run(j, c);
	if (h->plan)
		store_fault_arm(h->store, h->plan);
	return 0;
}

struct batch {
	struct mjob jobs[MK_COUNT];
	struct holder h;
};

static struct config *mx_cfg(void)
{
	struct config *cfg = config_defaults();
	/* every trial makes new incidents of one kind: no rate limit in the way */
	cfg->policy.rate_limit_max = 1000000;
	return cfg;
}

static int mx_setup(void **state)
{
	struct mx *mx = calloc(1, sizeof *mx);
	if (!mx)
		return -1;
	if (tmpdb_create("faults", mx->dir, mx->path, &mx->store)) {
		free(mx);
		return -1;
	}
	mx->cfg = mx_cfg();
	struct store_conn *c = NULL;
	struct err e;
	struct incident inc = {.kind = xstrdup("budget"),
			       .key = xstrdup("budget:target"),
			       .severity = 3,
			       .summary = xstrdup("the dedup target"),
			       .source = xstrdup("test")};
	if (store_connect(mx->store, false, &c, &e) || store_begin(c, &e) ||
	    incident_create(c, mx->cfg, &inc, "tester", &e) || store_commit(c, &e)) {
		fprintf(stderr, "setup: %s\n", e.msg);
		return -1;
	}
	mx->target_id = inc.id;
	mx->target_occurrences = 1;
	incident_clear(&inc);
	store_disconnect(c);
	*state = mx;
	return 0;
}

static int mx_teardown(void **state)
{
	struct mx *mx = *state;
	store_free(mx->store);
	tmpdb_remove(mx->dir, mx->path);
	config_free(mx->cfg);
	free(mx);
	return 0;
}

/* Run one batch on a fresh pool: the holder's batch, then [arm, jobs...] in one
 * group commit. arm_plan is armed by the first job, begin_plan by the holder. */
static void run_batch(struct mx *mx, struct batch *b, const struct store_fault_plan *arm_plan,
		      const struct store_fault_plan *begin_plan)
{
	static const struct store_fault_plan count_only = {.error = STORE_FAULT_NONE,
							   .writer_only = true};
	int t = mx->trials++;
	memset(b, 0, sizeof *b);
	for (int k = 0; k < MK_COUNT; k++) {
		struct mjob *m = &b->jobs[k];
		m->job.kind = JOB_WRITE;
		m->job.run = mjob_run;
		m->job.done = mjob_done;
		m->kind = (enum mkind)k;
		m->mx = mx;
		m->done_rc = -999;
		snprintf(m->marker, sizeof m->marker, "marker-%d-%d", t, k);
		switch (m->kind) {
		case MK_CREATE: snprintf(m->key, sizeof m->key, "create-%d", t); break;
		case MK_SIGNAL_NEW: snprintf(m->key, sizeof m->key, "budget:new-%d", t); break;
		case MK_SIGNAL_DEDUP:
		case MK_CONFLICT: snprintf(m->key, sizeof m->key, "budget:target"); break;
		default: break;
		}
	}
	b->jobs[MK_ARM].plan = arm_plan ? arm_plan : &count_only;

	struct store_pool *pool = NULL;
	struct err e;
	err_clear(&e);
	if (store_pool_start(mx->store, 1, NULL, NULL, &pool, &e))
		fail_msg("pool start: %s", e.msg);
	reset_done();
	gate_init(&b->h.g);
	b->h.g.job.run = holder_run;
	b->h.store = mx->store;
	b->h.plan = begin_plan;
	store_pool_submit(pool, &b->h.g.job);
	gate_wait_running(&b->h.g);
	for (int k = 0; k < MK_COUNT; k++)
		store_pool_submit(pool, &b->jobs[k].job);
	gate_open(&b->h.g);
	wait_done(1 + MK_COUNT);
	store_pool_stop(pool);
	store_fault_disarm(mx->store);
	gate_destroy(&b->h.g);
	for (int k = 0; k < MK_COUNT; k++)
		assert_int_equal(atomic_load(&b->jobs[k].done_calls), 1);
}

struct marker_count {
	const char *marker;
	int n;
	int64_t incident_id;
	const char *type;
};

static int marker_cb(const struct event *ev, void *arg)
{
	struct marker_count *m = arg;
	if (strstr(ev->data, m->marker)) {
		m->n++;
		m->incident_id = ev->incident_id;
		m->type = NULL;
	}
	return 0;
}

/* Events whose data carries marker. */
static int events_with(struct store_conn *c, const char *marker, int64_t *incident_id)
{
	struct marker_count m = {.marker = marker};
	struct event_filter f = {.limit = -1};
	struct err e;
	if (store_event_list(c, &f, marker_cb, &m, NULL, &e))
		fail_msg("list events: %s", e.msg);
	if (incident_id)
		*incident_id = m.incident_id;
	return m.n;
}

/* Whether all of m's effects are stored (1), none (0); anything else fails. */
static int effects(struct mx *mx, struct store_conn *c, const struct mjob *m)
{
	struct err e;
	struct incident inc;
	int64_t ev_inc = 0;
	int n_ev = events_with(c, m->marker, &ev_inc);
	switch (m->kind) {
	case MK_ARM: return mjob_ok(m); /* it changes nothing */
	case MK_CONFLICT:
		if (n_ev)
			fail_msg("%s: the conflicting job left an event", m->marker);
		return 0;
	case MK_EVENT:
		if (n_ev > 1)
			fail_msg("%s: %d events", m->marker, n_ev);
		return n_ev;
	case MK_SIGNAL_DEDUP:
		if (n_ev > 1 || (n_ev && ev_inc != mx->target_id))
			fail_msg("%s: %d events (incident %lld)", m->marker, n_ev,
				 (long long)ev_inc);
		return n_ev;
	case MK_CREATE:
	case MK_SIGNAL_NEW: {
		int rc = store_incident_find_active(c, m->kind == MK_CREATE ? "manual" : "budget",
						    m->key, &inc, &e);
		if (rc && rc != ERR_NOTFOUND)
			fail_msg("find %s: %s", m->key, e.msg);
		int has_inc = rc == 0;
		if (has_inc && (n_ev != 1 || ev_inc != inc.id))
			fail_msg("%s: incident %lld stored with %d events (for incident %lld)",
				 m->marker, (long long)inc.id, n_ev, (long long)ev_inc);
		if (!has_inc && n_ev)
			fail_msg("%s: an event for an incident that was not stored", m->marker);
		if (has_inc)
			incident_clear(&inc);
		return has_inc;
	}
	default: return 0;
	}
}

enum expect { EX_ONE_FAILS, EX_ALL_FAIL };

/* Check a batch against the store closed and opened again. owner: the job that must
 * fail (EX_ONE_FAILS); every other job (but the conflict) must have succeeded. */
static void verify(struct mx *mx, const struct batch *b, enum expect ex, int owner,
		   const char *what)
{
	store_free(mx->store);
	char url[160];
	snprintf(url, sizeof url, "sqlite://%s", mx->path);
	struct err e;
	if (store_new(url, &mx->store, &e))
		fail_msg("reopen: %s", e.msg);
	struct store_conn *c = NULL;
	if (store_connect(mx->store, true, &c, &e))
		fail_msg("connect: %s", e.msg);
	for (int k = 0; k < MK_COUNT; k++) {
		const struct mjob *m = &b->jobs[k];
		bool must_fail = k == MK_CONFLICT || ex == EX_ALL_FAIL || k == owner;
		if (mjob_ok(m) == must_fail)
			fail_msg("%s: %s %s (run %d, done %d: %s)", what, mkind_names[k],
				 must_fail ? "did not fail" : "failed", m->run_rc, m->done_rc,
				 m->done_msg);
		int has = effects(mx, c, m);
		if (has != mjob_ok(m))
			fail_msg("%s: %s reported %s but its changes are %s", what, mkind_names[k],
				 mjob_ok(m) ? "success" : "failure", has ? "stored" : "absent");
		if (k == MK_SIGNAL_DEDUP && mjob_ok(m))
			mx->target_occurrences++;
	}
	struct incident target;
	assert_int_equal(store_incident_get(c, mx->target_id, &target, &e), 0);
	if (target.occurrences != mx->target_occurrences)
		fail_msg("%s: target occurrences %lld, expected %lld", what,
			 (long long)target.occurrences, (long long)mx->target_occurrences);
	incident_clear(&target);
	struct audit_result r;
	if (event_audit(c, &r, &e))
		fail_msg("%s: audit: %s", what, e.msg);
	if (r.bad_id)
		fail_msg("%s: audit fails at event %lld: %s", what, (long long)r.bad_id, r.problem);
	store_disconnect(c);
}

/* The job of b whose run() made call n of op (counts read inside each run). */
static int owner_of(const struct batch *b, enum store_fault_op op, uint64_t n)
{
	for (int k = 0; k < MK_COUNT; k++)
		if (n > b->jobs[k].at_start.calls[op] && n <= b->jobs[k].at_end.calls[op])
			return k;
	return -1;
}

static const enum store_fault_error mx_errors[] = {STORE_FAULT_FULL, STORE_FAULT_IOERR,
						   STORE_FAULT_BUSY};

/* Fail each prepare and each step of the batch in turn. */
static void test_faults_at_every_statement(void **state)
{
	struct mx *mx = *state;
	static struct batch b;
	run_batch(mx, &b, NULL, NULL);
	verify(mx, &b, EX_ONE_FAILS, -1, "count-only run");
	struct store_fault_counts total = b.jobs[MK_COUNT - 1].at_end;
	/* what each job does, so the loop below knows whom each index belongs to */
	for (int k = 1; k < MK_COUNT; k++)
		assert_true(b.jobs[k].at_end.calls[STORE_FAULT_STEP] >
			    b.jobs[k].at_start.calls[STORE_FAULT_STEP]);
	print_message("# batch: %llu prepares, %llu steps\n",
		      (unsigned long long)total.calls[STORE_FAULT_PREPARE],
		      (unsigned long long)total.calls[STORE_FAULT_STEP]);
	static const enum store_fault_op ops[] = {STORE_FAULT_PREPARE, STORE_FAULT_STEP};
	for (size_t o = 0; o < 2; o++) {
		for (uint64_t n = 1; n <= total.calls[ops[o]]; n++) {
			for (size_t i = 0; i < 3; i++) {
				/* SQLite may lose the transaction on a step's FULL or IOERR */
				int loses = ops[o] == STORE_FAULT_STEP &&
							    mx_errors[i] != STORE_FAULT_BUSY
						    ? 2
						    : 1;
				for (int lose = 0; lose < loses; lose++) {
					struct store_fault_plan p = {.op = ops[o],
								     .error = mx_errors[i],
								     .nth = n,
								     .writer_only = true,
								     .lose_txn = lose};
					int owner = owner_of(&b, ops[o], n);
					assert_true(owner > 0);
					char what[96];
					snprintf(what, sizeof what, "%s #%llu %s%s (in %s)",
						 store_fault_op_name(ops[o]), (unsigned long long)n,
						 store_fault_error_name(mx_errors[i]),
						 lose ? " losing the transaction" : "",
						 mkind_names[owner]);
					static struct batch t;
					run_batch(mx, &t, &p, NULL);
					verify(mx, &t, lose ? EX_ALL_FAIL : EX_ONE_FAILS, owner,
					       what);
				}
			}
		}
	}
}

/* Fail each transaction statement of the batch in turn. */
static void test_faults_at_every_transaction_step(void **state)
{
	struct mx *mx = *state;
	static struct batch b;
	run_batch(mx, &b, NULL, NULL);
	verify(mx, &b, EX_ONE_FAILS, -1, "count-only run");
	struct store_fault_counts total = b.jobs[MK_COUNT - 1].at_end;
	/* RELEASE #1 is the arm job's, then one per job that keeps its changes; the
	 * conflict job comes last and undoes its own (ROLLBACK TO, then a RELEASE) */
	uint64_t releases = total.calls[STORE_FAULT_RELEASE];
	uint64_t savepoints = total.calls[STORE_FAULT_SAVEPOINT];
	assert_int_equal(savepoints, MK_COUNT - 1);
	assert_int_equal(total.calls[STORE_FAULT_ROLLBACK_TO], 0);
	for (size_t i = 0; i < 3; i++) {
		enum store_fault_error err = mx_errors[i];
		char what[96];
		static struct batch t;
		/* each savepoint: the whole batch fails */
		for (uint64_t n = 1; n <= savepoints; n++) {
			struct store_fault_plan p = {.op = STORE_FAULT_SAVEPOINT,
						     .error = err,
						     .nth = n,
						     .writer_only = true};
			snprintf(what, sizeof what, "savepoint #%llu %s", (unsigned long long)n,
				 store_fault_error_name(err));
			run_batch(mx, &t, &p, NULL);
			verify(mx, &t, EX_ALL_FAIL, -1, what);
		}
		/* each release: only its job fails (the conflict job never releases). Job k
		 * releases after its run, so RELEASE #n belongs to the n-th job that kept
		 * its changes */
		int releasing[MK_COUNT], nr = 0;
		for (int k = 0; k < MK_COUNT; k++)
			if (k != MK_CONFLICT)
				releasing[nr++] = k;
		assert_int_equal((uint64_t)nr, releases);
		for (uint64_t n = 1; n <= releases; n++) {
			struct store_fault_plan p = {.op = STORE_FAULT_RELEASE,
						     .error = err,
						     .nth = n,
						     .writer_only = true};
			snprintf(what, sizeof what, "release #%llu %s (of %s)",
				 (unsigned long long)n, store_fault_error_name(err),
				 mkind_names[releasing[n - 1]]);
			run_batch(mx, &t, &p, NULL);
			verify(mx, &t, EX_ONE_FAILS, releasing[n - 1], what);
			if (!strstr(t.jobs[releasing[n - 1]].done_msg, "release savepoint"))
				fail_msg("%s: done() was told \"%s\"", what,
					 t.jobs[releasing[n - 1]].done_msg);
		}
		/* the RELEASE after the conflict job's ROLLBACK TO: the batch fails */
		struct store_fault_plan p = {.op = STORE_FAULT_RELEASE,
					     .error = err,
					     .nth = releases + 1,
					     .writer_only = true};
		snprintf(what, sizeof what, "release #%llu %s (after rollback_to)",
			 (unsigned long long)(releases + 1), store_fault_error_name(err));
		run_batch(mx, &t, &p, NULL);
		verify(mx, &t, EX_ALL_FAIL, -1, what);
		/* a release that keeps failing: its job's ROLLBACK TO cannot release either,
		 * so the transaction's state is unknown and the batch fails */
		p = (struct store_fault_plan){.op = STORE_FAULT_RELEASE,
					      .error = err,
					      .nth = 2,
					      .persistent = true,
					      .writer_only = true};
		snprintf(what, sizeof what, "release #2.. %s", store_fault_error_name(err));
		run_batch(mx, &t, &p, NULL);
		verify(mx, &t, EX_ALL_FAIL, -1, what);
		/* the conflict job's ROLLBACK TO: the batch fails */
		p = (struct store_fault_plan){
			.op = STORE_FAULT_ROLLBACK_TO, .error = err, .nth = 1, .writer_only = true};
		snprintf(what, sizeof what, "rollback_to #1 %s", store_fault_error_name(err));
		run_batch(mx, &t, &p, NULL);
		verify(mx, &t, EX_ALL_FAIL, -1, what);
		/* COMMIT */
		p = (struct store_fault_plan){
			.op = STORE_FAULT_COMMIT, .error = err, .nth = 1, .writer_only = true};
		snprintf(what, sizeof what, "commit %s", store_fault_error_name(err));
		run_batch(mx, &t, &p, NULL);
		verify(mx, &t, EX_ALL_FAIL, -1, what);
		/* BEGIN (armed by the holder, before the batch starts) */
		p = (struct store_fault_plan){
			.op = STORE_FAULT_BEGIN, .error = err, .nth = 1, .writer_only = true};
		snprintf(what, sizeof what, "begin %s", store_fault_error_name(err));
		run_batch(mx, &t, NULL, &p);
		verify(mx, &t, EX_ALL_FAIL, -1, what);
		for (int k = 0; k < MK_COUNT; k++)
			if (!strstr(t.jobs[k].done_msg, "begin"))
				fail_msg("%s: %s was told \"%s\"", what, mkind_names[k],
					 t.jobs[k].done_msg);
	}
}

/* A job that swallows a storage error and returns 0 is failed by the pool: its
 * changes are undone and done() gets the error. */
struct swallow {
	struct mjob m;
};

static int swallow_run(struct job *j, struct store_conn *c)
{
	struct mjob *m = (struct mjob *)j;
	struct err e;
	struct incident inc = {.kind = xstrdup("manual"),
			       .key = xstrdup(m->key),
			       .severity = 2,
			       .summary = xstrdup(m->marker),
			       .source = xstrdup("test")};
	m->run_rc = incident_create(c, m->mx->cfg, &inc, "tester", &e);
	incident_clear(&inc);
	/* the event fails (injected); the job pretends all went well */
	struct store_fault_plan p = {.op = STORE_FAULT_STEP, .error = STORE_FAULT_FULL, .nth = 1};
	store_fault_arm(m->mx->store, &p);
	int ignored = event_append(c, "silence_created", 0, "tester",
				   json_pack("{ss}", "marker", m->marker), NULL, &e);
	store_fault_disarm(m->mx->store);
	assert_int_equal(ignored, ERR_IO);
	return 0;
}

static void test_unreported_failure(void **state)
{
	struct mx *mx = *state;
	struct store_pool *pool = NULL;
	struct err e;
	assert_int_equal(store_pool_start(mx->store, 1, NULL, NULL, &pool, &e), 0);
	struct mjob m = {.job = {.kind = JOB_WRITE, .run = swallow_run, .done = mjob_done},
			 .kind = MK_CREATE,
			 .mx = mx,
			 .done_rc = -999};
	snprintf(m.key, sizeof m.key, "swallowed");
	snprintf(m.marker, sizeof m.marker, "marker-swallowed");
	reset_done();
	store_pool_submit(pool, &m.job);
	wait_done(1);
	store_pool_stop(pool);
	assert_int_equal(m.run_rc, 0);
	assert_int_equal(m.done_rc, ERR_IO);
	assert_non_null(strstr(m.done_msg, "did not report"));
	assert_non_null(strstr(m.done_msg, "database or disk is full"));
	struct store_conn *c = NULL;
	assert_int_equal(store_connect(mx->store, true, &c, &e), 0);
	struct incident inc;
	assert_int_equal(store_incident_find_active(c, "manual", "swallowed", &inc, &e),
			 ERR_NOTFOUND);
	assert_int_equal(events_with(c, "marker-swallowed", NULL), 0);
	store_disconnect(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_group_commit_many_threads, setup, teardown),
		cmocka_unit_test_setup_teardown(test_run_sync, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stop_refuses_unstarted_jobs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stop_idle_and_null, setup, teardown),
		cmocka_unit_test(test_start_fails_without_database),
		cmocka_unit_test_setup_teardown(test_unreported_failure, mx_setup, mx_teardown),
		cmocka_unit_test_setup_teardown(test_faults_at_every_transaction_step, mx_setup,
						mx_teardown),
		cmocka_unit_test_setup_teardown(test_faults_at_every_statement, mx_setup,
						mx_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
