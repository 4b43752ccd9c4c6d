#include "store/pool.h"

#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/buf.h"
#include "util/log.h"

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
	pthread_cond_t wcond, rcond, ccond;
	struct queue wq, rq;
	bool stopping;

	pthread_t writer, readers[MAX_READERS], checkpointer;
	int n_readers;
	bool checkpointer_started;
	struct store_conn *wconn, *rconn[MAX_READERS], *cconn;
	int failed_commits; /* writer-owned, read racily for health only */
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

/* Worker threads leave process signals to the loop thread's evsignal handlers. */
static void block_signals(void)
{
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGCHLD);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
}

static void fail_all(struct job *list, int rc, const struct err *e)
{
	while (list) {
		struct job *next = list->next;
		list->done(list, rc, e);
		list = next;
	}
}

static void *writer_main(void *arg)
{
	struct store_pool *p = arg;
	block_signals();
	for (;;) {
		pthread_mutex_lock(&p->mu);
		while (!p->wq.head && !p->stopping)
			pthread_cond_wait(&p->wcond, &p->mu);
		struct job *batch = q_take_all(&p->wq);
		bool stop = p->stopping;
		pthread_mutex_unlock(&p->mu);
		if (!batch) {
			if (stop)
				break;
			continue;
		}
		struct err e;
		err_clear(&e);
		int rc = store_begin(p->wconn, &e);
		if (rc) {
			log_error("write transaction could not start", "error=\"%s\"", e.msg);
			fail_all(batch, rc, &e);
			continue;
		}
		for (struct job *j = batch; j && !rc; j = j->next) {
			/* A savepoint that cannot be opened means the connection is in
			 * trouble: give up the whole batch rather than half-run it. */
			if ((rc = store_savepoint(p->wconn, &e)))
				break;
			if (j->run(j, p->wconn) < 0)
				store_rollback_to(p->wconn);
			else if (store_release(p->wconn, &e))
				store_rollback_to(p->wconn);
		}
		if (!rc)
			rc = store_commit(p->wconn, &e);
		if (rc) {
			store_rollback(p->wconn);
			p->failed_commits++;
			log_error("commit failed; every write of the batch is lost and reported",
				  "error=\"%s\"", e.msg);
			fail_all(batch, rc, &e);
			continue;
		}
		p->failed_commits = 0;
		fail_all(batch, 0, NULL);
		if (p->hook)
			p->hook(p->hook_arg);
		store_writer_maintain(p->wconn);
	}
	return NULL;
}

struct reader_arg {
	struct store_pool *p;
	int idx;
};

static void *reader_main(void *arg)
{
	struct reader_arg *ra = arg;
	struct store_pool *p = ra->p;
	struct store_conn *c = p->rconn[ra->idx];
	free(ra);
	block_signals();
	for (;;) {
		pthread_mutex_lock(&p->mu);
		while (!p->rq.head && !p->stopping)
			pthread_cond_wait(&p->rcond, &p->mu);
		struct job *j = q_pop(&p->rq);
		pthread_mutex_unlock(&p->mu);
		if (!j)
			break;
		struct err e;
		err_clear(&e);
		int rc = store_read_begin(c, &e);
		if (rc) {
			j->done(j, rc, &e);
			continue;
		}
		j->run(j, c);
		store_read_end(c);
		j->done(j, 0, NULL);
	}
	return NULL;
}

static void *checkpoint_main(void *arg)
{
	struct store_pool *p = arg;
	block_signals();
	pthread_mutex_lock(&p->mu);
	while (!p->stopping) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += 1;
		pthread_cond_timedwait(&p->ccond, &p->mu, &ts);
		if (p->stopping)
			break;
		pthread_mutex_unlock(&p->mu);
		store_checkpoint(p->cconn);
		pthread_mutex_lock(&p->mu);
	}
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

int store_pool_start(struct store *s, int n_readers, store_commit_hook hook, void *hook_arg,
		     struct store_pool **out, struct err *e)
{
	if (n_readers < 1)
		n_readers = 1;
	if (n_readers > MAX_READERS)
		n_readers = MAX_READERS;
	struct store_pool *p = xcalloc(1, sizeof *p);
	p->store = s;
	p->hook = hook;
	p->hook_arg = hook_arg;
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->wcond, NULL);
	pthread_cond_init(&p->rcond, NULL);
	pthread_cond_init(&p->ccond, NULL);
	int rc = store_connect(s, false, &p->wconn, e);
	if (rc)
		goto fail;
	store_writer_setup(p->wconn);
	if ((rc = store_connect(s, false, &p->cconn, e)))
		goto fail;
	for (int i = 0; i < n_readers; i++) {
		if ((rc = store_connect(s, true, &p->rconn[i], e)))
			goto fail;
	}
	if (pthread_create(&p->writer, NULL, writer_main, p)) {
		rc = err_set(e, ERR_IO, "cannot start the writer thread");
		goto fail;
	}
	for (int i = 0; i < n_readers; i++) {
		struct reader_arg *ra = xmalloc(sizeof *ra);
		ra->p = p;
		ra->idx = i;
		if (pthread_create(&p->readers[i], NULL, reader_main, ra)) {
			free(ra);
			store_pool_stop(p);
			return err_set(e, ERR_IO, "cannot start a reader thread");
		}
		p->n_readers++;
	}
	if (!pthread_create(&p->checkpointer, NULL, checkpoint_main, p))
		p->checkpointer_started = true;
	*out = p;
	return 0;
fail:
	for (int i = 0; i < MAX_READERS; i++)
		store_disconnect(p->rconn[i]);
	store_disconnect(p->cconn);
	store_disconnect(p->wconn);
	pthread_mutex_destroy(&p->mu);
	pthread_cond_destroy(&p->wcond);
	pthread_cond_destroy(&p->rcond);
	pthread_cond_destroy(&p->ccond);
	free(p);
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

void store_pool_stop(struct store_pool *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->mu);
	p->stopping = true;
	pthread_cond_broadcast(&p->wcond);
	pthread_cond_broadcast(&p->rcond);
	pthread_cond_broadcast(&p->ccond);
	pthread_mutex_unlock(&p->mu);
	pthread_join(p->writer, NULL);
	for (int i = 0; i < p->n_readers; i++)
		pthread_join(p->readers[i], NULL);
	if (p->checkpointer_started)
		pthread_join(p->checkpointer, NULL);
	/* A final checkpoint folds the WAL back so the file is complete on its own. */
	store_checkpoint(p->cconn);
	for (int i = 0; i < MAX_READERS; i++)
		store_disconnect(p->rconn[i]);
	store_disconnect(p->cconn);
	store_disconnect(p->wconn);
	pthread_mutex_destroy(&p->mu);
	pthread_cond_destroy(&p->wcond);
	pthread_cond_destroy(&p->rcond);
	pthread_cond_destroy(&p->ccond);
	free(p);
}

int store_pool_healthy(struct store_pool *p)
{
	return p && p->failed_commits == 0 ? 0 : ERR_IO;
}
