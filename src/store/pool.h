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
 * Thread rules: store_pool_submit may be called from any thread; run() and done()
 * run on a store thread; nothing else of the pool is shared. */
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
	/* Called once the outcome is final: for writes after COMMIT, with commit_rc 0,
	 * or the error that lost the whole transaction (then every change of the job is
	 * gone and its reply must say so). Ownership of j passes to done. */
	void (*done)(struct job *j, int commit_rc, const struct err *commit_err);
	struct job *next; /* pool-private */
};

struct store_pool;

/* Called on the writer thread after each successful COMMIT. */
typedef void (*store_commit_hook)(void *arg);

/* Start the writer, n_readers readers and the checkpoint thread on store s (which
 * must outlive the pool). hook may be NULL. */
int store_pool_start(struct store *s, int n_readers, store_commit_hook hook, void *hook_arg,
		     struct store_pool **out, struct err *e);

/* Queue j. After store_pool_stop began, j is completed with ERR_IO at once. */
void store_pool_submit(struct store_pool *p, struct job *j);

/* Run j and wait for its done() (for background threads and tests). The caller
 * provides done; it still owns nothing after this returns unless done left it. */
void store_pool_run_sync(struct store_pool *p, struct job *j);

/* Finish queued jobs, stop and join every thread, free the pool. NULL is fine. */
void store_pool_stop(struct store_pool *p);

/* Whether every pool thread is alive and its connection works (for /readyz). */
int store_pool_healthy(struct store_pool *p);

#endif
