/* loopq.h — work handed to the loop thread by other threads.
 *
 * Store threads (and later the outbox, executor and watcher threads) never touch
 * libevent objects: they embed a struct loop_task in their own struct and post it;
 * the loop thread is woken with event_active and runs the queued tasks in order.
 * loopq_post may be called from any thread; everything else from the loop thread. */
#ifndef INTERVENE_HTTP_LOOPQ_H
#define INTERVENE_HTTP_LOOPQ_H

struct event_base;

struct loop_task {
	/* Run on the loop thread; owns the task (and whatever embeds it) from then on. */
	void (*fn)(struct loop_task *t);
	/* Release a task that will never run (the loop ended first). */
	void (*discard)(struct loop_task *t);
	struct loop_task *next; /* queue-private */
};

struct loopq;

/* A queue bound to base's loop; NULL when libevent cannot create its wake event. */
struct loopq *loopq_new(struct event_base *base);

/* Queue t and wake the loop (any thread). */
void loopq_post(struct loopq *q, struct loop_task *t);

/* Run every task queued so far (the loop does this when woken; also for shutdown). */
void loopq_run(struct loopq *q);

/* Discard every task still queued, then free q. Call once no other thread posts. */
void loopq_free(struct loopq *q);

#endif
