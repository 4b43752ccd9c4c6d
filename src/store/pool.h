/* pool.h — the store threads: one writer with group commit, N readers.
 *
 * The loop thread (and background threads) never touch the database: they wrap
 * work in a struct job and submit it here. The writer takes every queued write job,
 * runs each inside its own SAVEPOINT of one transaction, COMMITs once
 * (synchronous=FULL), and only then calls each job's done(). A job that fails
 * rolls back only its own savepoint. Readers run read jobs on read-only
 * connections, each in one snapshot. A checkpoint thread runs passive WAL
 * checkpoints so that commits never pay for them.
 *
 * What done() is told (writes):
 *   0                     the job's run() returned >= 0 and its changes are
 *                         committed, or it returned < 0 (it reported its own
 *                         failure) and its changes were undone;
 *   the job's own error   its run() returned >= 0 but something failed that it did
 *                         not report: a storage error (ERR_IO/ERR_BUSY) returned by
 *                         a call on its connection, or the RELEASE of its
 *                         savepoint. Its changes were undone; the rest of the
 *                         batch is committed;
 *   the batch's error     BEGIN, a SAVEPOINT, a ROLLBACK TO or the COMMIT failed,
 *                         or the database rolled the transaction back by itself:
 *                         nothing of the batch is stored and every job gets it.
 * Reads get 0, or a storage error that their run() did not report, or the error
 * of starting the snapshot.
 *
 * Thread rules: store_pool_submit may be called from any thread; run() and done()
 * run on a store thread; nothing else of the pool is shared (the health counter is
 * atomic). */
#ifndef INTERVENE_STORE_POOL_H
#define INTERVENE_STORE_POOL_H

#include "store/store.h"

enum job_kind { JOB_READ, JOB_WRITE };

struct job {
	enum job_kind kind;
	/* Do the work on connection c. For writes, inside a SAVEPOINT: return 0 to keep
	 * the job's changes, a negative code to roll them back (the job still gets
	 * done()). */
	int (*run)(struct job *j, struct store_conn *c);
	/* Called once the outcome is final (see above): 0, or an error with its message,
	 * after which no change of the job is stored and its reply must say so. e is
	 * valid during the call only. Ownership of j passes to done. */
	void (*done)(struct job *j, int commit_rc, const struct err *commit_err);
	struct job *next;    /* pool-private */
	struct err *failure; /* pool-private */
};

struct store_pool;

/* Called on the writer thread after each successful COMMIT. due_targets: the mask of
 * store_take_due_targets, the outbox targets given rows to deliver (0 when none). */
typedef void (*store_commit_hook)(void *arg, uint32_t due_targets);

/* Start the writer, n_readers readers and the checkpoint thread on store s (which
 * must outlive the pool). hook may be NULL. Fails (ERR_IO, ERR_BUSY with a message,
 * nothing left running) when a connection cannot be opened or any thread cannot be
 * started. */
int store_pool_start(struct store *s, int n_readers, store_commit_hook hook, void *hook_arg,
		     struct store_pool **out, struct err *e);

/* Queue j. After store_pool_stop began, j is completed with ERR_IO at once. */
void store_pool_submit(struct store_pool *p, struct job *j);

/* Run j and wait for its done() (for background threads and tests). The caller
 * provides done; it still owns nothing after this returns unless done left it. */
void store_pool_run_sync(struct store_pool *p, struct job *j);

/* Run fn(c, arg, e) as a job of kind (a reader, or inside the writer's batch: a
 * negative or storage error rolls back fn's changes) and wait for it and, for writes,
 * its commit. Returns fn's result, or the commit's error (then e says why). For
 * background threads (delivery, the watcher). */
int store_pool_call(struct store_pool *p, enum job_kind kind,
		    int (*fn)(struct store_conn *c, void *arg, struct err *e), void *arg,
		    struct err *e);

/* Stop: jobs still queued are completed with ERR_IO ("the server is shutting
 * down") without running, the batch and read jobs in progress finish, every thread
 * is joined, the pool freed. NULL is fine. */
void store_pool_stop(struct store_pool *p);

/* 0 while the last write transaction committed, else ERR_IO (for /readyz). */
int store_pool_healthy(struct store_pool *p);

#endif
