/* pool.c — the store threads (pool.h): the writer's group commit, readers, and the
 * checkpoint thread. */
#include "store/pool.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/buf.h"
#include "util/log.h"
#include "util/thread.h"
#include "util/time.h"

#define MAX_READERS 16

struct queue {
	struct job *head, *tail;
	size_t len;
};

struct store_pool {
	struct store *store;
	store_commit_hook hook;
	void *hook_arg;

	pthread_mutex_t mu; /* guards the queues and stopping */
	pthread_cond_t wcond, rcond;
	pthread_cond_t ccond; /* on CLOCK_MONOTONIC: the checkpoint thread's timed wait */
	/* One checkpoint at a time: SQLite refuses a second concurrent checkpointer with
	 * SQLITE_BUSY at once, without the busy handler, so the writer's WAL restart
	 * failed whenever the background checkpoint happened to be running. */
	pthread_mutex_t ckpt_mu;
	struct queue wq, rq;
	bool stopping;

	pthread_t writer, readers[MAX_READERS], checkpointer;
	int n_readers; /* reader threads started */
	bool writer_started, checkpointer_started;
	struct store_conn *wconn, *rconn[MAX_READERS], *cconn;
	atomic_int failed_commits; /* since the last good commit; read by /readyz */
};

static void q_push(struct queue *q, struct job *j)
{
	j->next = NULL;
	if (q->tail)
		q->tail->next = j;
	else
		q->head = j;
	q->tail = j;
	q->len++;
}

static struct job *q_take_all(struct queue *q)
{
	struct job *j = q->head;
	q->head = q->tail = NULL;
	q->len = 0;
	return j;
}

static struct job *q_pop(struct queue *q)
{
	struct job *j = q->head;
	if (j) {
		q->head = j->next;
		if (!q->head)
			q->tail = NULL;
		q->len--;
	}
	return j;
}

/* ---- the writer ---- */

/* Note that j failed although its run() did not say so: it is completed with this
 * error once the batch is committed. */
static void job_failed(struct job *j, int code, const char *why, const char *detail)
{
	if (j->failure)
		return;
	j->failure = xmalloc(sizeof *j->failure);
	err_clear(j->failure);
	err_set(j->failure, code, "%s%s", why, detail);
}

/* Complete every job of a batch: with rc and e when the whole transaction is lost,
 * else each with its own failure or 0. */
static void complete(struct job *list, int rc, const struct err *e)
{
	while (list) {
		struct job *next = list->next;
		struct err *failure = list->failure;
		list->failure = NULL;
		if (rc)
			list->done(list, rc, e);
		else if (failure)
			list->done(list, failure->code, failure);
		else
			list->done(list, 0, NULL);
		free(failure);
		list = next;
	}
}

/* Run j in its own savepoint on c. 0 when the transaction can go on (j kept or undid
 * its changes); otherwise the transaction's state is lost or unknown and the error
 * (in e) fails the whole batch. */
static int run_write(struct store_conn *c, struct job *j, struct err *e)
{
	j->failure = NULL;
	int rc = store_savepoint(c, e);
	if (rc)
		return rc;
	struct err last;
	unsigned long before = store_failures(c, NULL);
	int run_rc = j->run(j, c);
	/* SQLite may roll the whole transaction back on a disk-full or I/O error; going
	 * on would run the next jobs outside it and commit them one by one. */
	if (!store_in_transaction(c))
		return err_set(e, ERR_IO, "storage: the database rolled the transaction back");
	if (run_rc >= 0 && store_failures(c, &last) != before) {
		job_failed(j, last.code, "storage error the job did not report: ", last.msg);
		run_rc = ERR_IO;
	}
	if (run_rc >= 0) {
		struct err re;
		err_clear(&re);
		if (!store_release(c, &re))
			return 0;
		job_failed(j, re.code ? re.code : ERR_IO, "", re.msg);
		if (!store_in_transaction(c))
			return err_set(e, ERR_IO,
				       "storage: the database rolled the transaction back");
	}
	/* ROLLBACK TO that fails leaves the transaction in an unknown state */
	return store_rollback_to(c, e);
}

static void write_batch(struct store_pool *p, struct job *batch)
{
	struct store_conn *c = p->wconn;
	struct err e;
	err_clear(&e);
	(void)store_take_due_targets(c); /* of a batch that was rolled back */
	int rc = store_begin(c, &e);
	if (rc) {
		log_error("write transaction could not start", "error=\"%s\"", e.msg);
	} else {
		/* A savepoint that cannot be opened or undone means the connection is in
		 * trouble: give up the whole batch rather than half-run it. */
		for (struct job *j = batch; j && !rc; j = j->next)
			rc = run_write(c, j, &e);
		if (!rc)
			rc = store_commit(c, &e);
		if (rc)
			log_error("commit failed; every write of the batch is lost and reported",
				  "error=\"%s\"", e.msg);
	}
	if (rc) {
		/* store_rollback logs its own failure; the next BEGIN then fails too and the
		 * pool stays unhealthy, which /readyz reports */
		store_rollback(c);
		atomic_fetch_add(&p->failed_commits, 1);
		complete(batch, rc, &e);
		return;
	}
	atomic_store(&p->failed_commits, 0);
	complete(batch, 0, NULL);
	uint32_t due = store_take_due_targets(c);
	if (p->hook)
		p->hook(p->hook_arg, due);
	/* Never wait for the background checkpoint: while it copies frames the writer
	 * would stall every write behind it (measured: 16.4k → 11.9k new signals/s over
	 * 30 s). If it is running, the log is being folded back anyway; the next batch
	 * tries again. */
	if (pthread_mutex_trylock(&p->ckpt_mu) == 0) {
		store_writer_maintain(c);
		pthread_mutex_unlock(&p->ckpt_mu);
	}
}

static void *writer_main(void *arg)
{
	struct store_pool *p = arg;
	thread_block_signals();
	for (;;) {
		pthread_mutex_lock(&p->mu);
		while (!p->wq.head && !p->stopping)
			pthread_cond_wait(&p->wcond, &p->mu);
		struct job *batch = q_take_all(&p->wq);
		bool stop = p->stopping;
		pthread_mutex_unlock(&p->mu);
		if (batch)
			write_batch(p, batch);
		else if (stop)
			break;
	}
	return NULL;
}

/* ---- readers ---- */

struct reader_arg {
	struct store_pool *p;
	int idx;
};

static void run_read(struct store_conn *c, struct job *j)
{
	struct err e, last;
	err_clear(&e);
	int rc = store_read_begin(c, &e);
	if (rc) {
		j->done(j, rc, &e);
		return;
	}
	unsigned long before = store_failures(c, NULL);
	int run_rc = j->run(j, c);
	bool unreported = run_rc >= 0 && store_failures(c, &last) != before;
	if (store_read_end(c, &e))
		log_error("a read snapshot could not be closed", "error=\"%s\"", e.msg);
	if (unreported) {
		struct err fe;
		err_clear(&fe);
		err_set(&fe, last.code, "storage error the job did not report: %s", last.msg);
		j->done(j, fe.code, &fe);
		return;
	}
	j->done(j, 0, NULL);
}

static void *reader_main(void *arg)
{
	struct reader_arg *ra = arg;
	struct store_pool *p = ra->p;
	struct store_conn *c = p->rconn[ra->idx];
	free(ra);
	thread_block_signals();
	for (;;) {
		pthread_mutex_lock(&p->mu);
		while (!p->rq.head && !p->stopping)
			pthread_cond_wait(&p->rcond, &p->mu);
		struct job *j = q_pop(&p->rq);
		pthread_mutex_unlock(&p->mu);
		if (!j)
			break;
		run_read(c, j);
	}
	return NULL;
}

/* ---- checkpoints ---- */

static void *checkpoint_main(void *arg)
{
	struct store_pool *p = arg;
	thread_block_signals();
	pthread_mutex_lock(&p->mu);
	while (!p->stopping) {
		struct timespec ts;
		time_mono_deadline(1000, &ts);
		pthread_cond_timedwait(&p->ccond, &p->mu, &ts);
		if (p->stopping)
			break;
		pthread_mutex_unlock(&p->mu);
		/* passive: may stop short of the end under load, never waits; the writer
		 * keeps the WAL bounded (store_writer_maintain). Busy means another
		 * process checkpoints: nothing to report. */
		pthread_mutex_lock(&p->ckpt_mu);
		int rc = store_checkpoint(p->cconn);
		pthread_mutex_unlock(&p->ckpt_mu);
		if (rc && rc != ERR_BUSY)
			log_warn("background checkpoint failed", NULL);
		pthread_mutex_lock(&p->mu);
	}
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

/* ---- start and stop ---- */

/* Stop and join whatever threads run, drain nothing more, close and free. */
static void pool_destroy(struct store_pool *p)
{
	pthread_mutex_lock(&p->mu);
	p->stopping = true;
	/* Jobs not started yet are refused rather than run: their requester has stopped
	 * waiting (the server's loop has ended), and a change it never learns of would
	 * be applied twice when the client retries. */
	struct job *unstarted = q_take_all(&p->wq);
	struct job *reads = q_take_all(&p->rq);
	pthread_cond_broadcast(&p->wcond);
	pthread_cond_broadcast(&p->rcond);
	pthread_cond_broadcast(&p->ccond);
	pthread_mutex_unlock(&p->mu);
	struct err e;
	err_set(&e, ERR_IO, "the server is shutting down");
	for (struct job *lists[2] = {unstarted, reads}, **l = lists; l < lists + 2; l++)
		for (struct job *j = *l, *next; j; j = next) {
			next = j->next;
			j->done(j, ERR_IO, &e);
		}
	if (p->writer_started)
		pthread_join(p->writer, NULL);
	for (int i = 0; i < p->n_readers; i++)
		pthread_join(p->readers[i], NULL);
	if (p->checkpointer_started)
		pthread_join(p->checkpointer, NULL);
	/* A final checkpoint folds the WAL back so the file is complete on its own. */
	if (p->cconn && store_checkpoint(p->cconn))
		log_warn("final checkpoint failed; the WAL is replayed at the next start", NULL);
	for (int i = 0; i < MAX_READERS; i++)
		store_disconnect(p->rconn[i]);
	store_disconnect(p->cconn);
	store_disconnect(p->wconn);
	pthread_mutex_destroy(&p->mu);
	pthread_mutex_destroy(&p->ckpt_mu);
	pthread_cond_destroy(&p->wcond);
	pthread_cond_destroy(&p->rcond);
	pthread_cond_destroy(&p->ccond);
	free(p);
}

/* The mutex and conditions; the checkpoint condition waits on CLOCK_MONOTONIC so
 * that a clock step does not stall or hurry it. */
static int pool_sync_init(struct store_pool *p, struct err *e)
{
	pthread_condattr_t ca;
	if (pthread_condattr_init(&ca))
		return err_set(e, ERR_IO, "cannot create the pool's condition attributes");
	int bad = pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) ||
		  pthread_mutex_init(&p->mu, NULL) || pthread_mutex_init(&p->ckpt_mu, NULL) ||
		  pthread_cond_init(&p->wcond, NULL) || pthread_cond_init(&p->rcond, NULL) ||
		  pthread_cond_init(&p->ccond, &ca);
	pthread_condattr_destroy(&ca);
	/* Each init that failed left its object unusable but harmless to destroy on Linux;
	 * none can fail there short of memory exhaustion. */
	return bad ? err_set(e, ERR_IO, "cannot create the pool's locks") : 0;
}

int store_pool_start(struct store *s, int n_readers, store_commit_hook hook, void *hook_arg,
		     struct store_pool **out, struct err *e)
{
	*out = NULL;
	if (n_readers < 1)
		n_readers = 1;
	if (n_readers > MAX_READERS)
		n_readers = MAX_READERS;
	struct store_pool *p = xcalloc(1, sizeof *p);
	p->store = s;
	p->hook = hook;
	p->hook_arg = hook_arg;
	atomic_init(&p->failed_commits, 0);
	int rc = pool_sync_init(p, e);
	if (rc) {
		free(p);
		return rc;
	}
	if ((rc = store_connect(s, false, &p->wconn, e)) ||
	    (rc = store_writer_setup(p->wconn, e)) || (rc = store_connect(s, false, &p->cconn, e)))
		goto fail;
	for (int i = 0; i < n_readers; i++)
		if ((rc = store_connect(s, true, &p->rconn[i], e)))
			goto fail;
	if (pthread_create(&p->writer, NULL, writer_main, p)) {
		rc = err_set(e, ERR_IO, "cannot start the writer thread");
		goto fail;
	}
	p->writer_started = true;
	for (int i = 0; i < n_readers; i++) {
		struct reader_arg *ra = xmalloc(sizeof *ra);
		ra->p = p;
		ra->idx = i;
		if (pthread_create(&p->readers[i], NULL, reader_main, ra)) {
			free(ra);
			rc = err_set(e, ERR_IO, "cannot start a reader thread");
			goto fail;
		}
		p->n_readers++;
	}
	/* Without it the WAL is folded back only by the writer: a start-up failure, not a
	 * quietly different server. */
	if (pthread_create(&p->checkpointer, NULL, checkpoint_main, p)) {
		rc = err_set(e, ERR_IO, "cannot start the checkpoint thread");
		goto fail;
	}
	p->checkpointer_started = true;
	*out = p;
	return 0;
fail:
	pool_destroy(p);
	return rc;
}

void store_pool_submit(struct store_pool *p, struct job *j)
{
	pthread_mutex_lock(&p->mu);
	if (p->stopping) {
		pthread_mutex_unlock(&p->mu);
		struct err e;
		err_set(&e, ERR_IO, "the server is shutting down");
		j->done(j, ERR_IO, &e);
		return;
	}
	if (j->kind == JOB_WRITE) {
		q_push(&p->wq, j);
		pthread_cond_signal(&p->wcond);
	} else {
		q_push(&p->rq, j);
		pthread_cond_signal(&p->rcond);
	}
	pthread_mutex_unlock(&p->mu);
}

/* Synchronous wrapper: the caller's done runs, then we wake the waiter. */
struct sync_job {
	struct job job;
	struct job *inner;
	pthread_mutex_t mu;
	pthread_cond_t cond;
	bool finished;
};

static int sync_run(struct job *j, struct store_conn *c)
{
	struct sync_job *s = (struct sync_job *)j;
	return s->inner->run(s->inner, c);
}

static void sync_done(struct job *j, int rc, const struct err *e)
{
	struct sync_job *s = (struct sync_job *)j;
	s->inner->done(s->inner, rc, e);
	pthread_mutex_lock(&s->mu);
	s->finished = true;
	pthread_cond_signal(&s->cond);
	pthread_mutex_unlock(&s->mu);
}

void store_pool_run_sync(struct store_pool *p, struct job *j)
{
	struct sync_job s = {.job = {.kind = j->kind, .run = sync_run, .done = sync_done},
			     .inner = j};
	/* default attributes: these cannot fail on Linux */
	pthread_mutex_init(&s.mu, NULL);
	pthread_cond_init(&s.cond, NULL);
	store_pool_submit(p, &s.job);
	pthread_mutex_lock(&s.mu);
	while (!s.finished)
		pthread_cond_wait(&s.cond, &s.mu);
	pthread_mutex_unlock(&s.mu);
	pthread_mutex_destroy(&s.mu);
	pthread_cond_destroy(&s.cond);
}

struct call_job {
	struct job job;
	int (*fn)(struct store_conn *c, void *arg, struct err *e);
	void *arg;
	int rc;
	struct err e;
};

static int call_run(struct job *j, struct store_conn *c)
{
	struct call_job *s = (struct call_job *)j;
	err_clear(&s->e);
	s->rc = s->fn(c, s->arg, &s->e);
	return s->rc;
}

static void call_done(struct job *j, int commit_rc, const struct err *commit_err)
{
	struct call_job *s = (struct call_job *)j;
	if (commit_rc) {
		s->rc = commit_rc;
		if (commit_err)
			s->e = *commit_err;
	}
}

int store_pool_call(struct store_pool *p, enum job_kind kind,
		    int (*fn)(struct store_conn *c, void *arg, struct err *e), void *arg,
		    struct err *e)
{
	struct call_job s = {
		.job = {.kind = kind, .run = call_run, .done = call_done}, .fn = fn, .arg = arg};
	store_pool_run_sync(p, &s.job);
	if (s.rc && e)
		*e = s.e;
	return s.rc;
}

void store_pool_stop(struct store_pool *p)
{
	if (p)
		pool_destroy(p);
}

int store_pool_healthy(struct store_pool *p)
{
	return p && atomic_load(&p->failed_commits) == 0 ? 0 : ERR_IO;
}
