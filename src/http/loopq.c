/* loopq.c — a mutex-guarded task list and a libevent user event that wakes the loop. */
#include "http/loopq.h"

#include <event2/event.h>
#include <pthread.h>
#include <stdlib.h>

#include "util/buf.h"

struct loopq {
	struct event *wake;
	pthread_mutex_t mu; /* guards head and tail */
	struct loop_task *head, *tail;
};

static struct loop_task *take_all(struct loopq *q)
{
	pthread_mutex_lock(&q->mu);
	struct loop_task *t = q->head;
	q->head = q->tail = NULL;
	pthread_mutex_unlock(&q->mu);
	return t;
}

void loopq_run(struct loopq *q)
{
	for (struct loop_task *t = take_all(q); t;) {
		struct loop_task *next = t->next;
		t->fn(t);
		t = next;
	}
}

static void on_wake(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	loopq_run(arg);
}

struct loopq *loopq_new(struct event_base *base)
{
	struct loopq *q = xcalloc(1, sizeof *q);
	pthread_mutex_init(&q->mu, NULL);
	q->wake = event_new(base, -1, EV_PERSIST | EV_READ, on_wake, q);
	if (!q->wake || event_add(q->wake, NULL)) {
		if (q->wake)
			event_free(q->wake);
		pthread_mutex_destroy(&q->mu);
		free(q);
		return NULL;
	}
	return q;
}

void loopq_post(struct loopq *q, struct loop_task *t)
{
	t->next = NULL;
	pthread_mutex_lock(&q->mu);
	if (q->tail)
		q->tail->next = t;
	else
		q->head = t;
	q->tail = t;
	pthread_mutex_unlock(&q->mu);
	event_active(q->wake, EV_READ, 0);
}

void loopq_free(struct loopq *q)
{
	if (!q)
		return;
	for (struct loop_task *t = take_all(q); t;) {
		struct loop_task *next = t->next;
		t->discard(t);
		t = next;
	}
	event_free(q->wake);
	pthread_mutex_destroy(&q->mu);
	free(q);
}
