/* sse.c — the live stream's hub; see sse.h. */
#include "http/sse.h"

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/event.h"
#include "util/buf.h"
#include "util/json.h"
#include "util/log.h"
#include "util/time.h"

/* Events read per job: by the hub after a commit, and per replay round. */
#define FETCH_MAX  500
#define REPLAY_MAX 200

/* One event as it goes out, built once for every subscriber it is written to. */
struct frame {
	size_t len;
	char data[];
};

struct sub {
	struct sub *prev, *next;
	struct sse_hub *h;
	struct conn *c; /* NULL once the stream closed */
	uint64_t id;
	struct sse_params p;
	int64_t cursor;		       /* the last event id it was sent (or skipped) */
	bool live;		       /* replay done: the hub's broadcasts reach it */
	bool busy;		       /* a replay round of it is in flight or waiting */
	int64_t wait_after, wait_upto; /* the round waiting for the client to read */
};

struct sse_hub {
	struct event_base *base;
	struct store_pool *pool;
	struct loopq *q;
	const struct config *cfg;
	struct event *wake, *heartbeat, *poll;
	struct sub *subs;
	size_t n_subs;
	uint64_t next_sub_id;
	int64_t last_id; /* the newest event broadcast (or the newest at start) */
	bool fetching, again, stopping;
};

/* ---- frames ---- */

static struct frame *frame_of(const struct event *ev)
{
	size_t cap = strlen(ev->type) + strlen(ev->data) + 64;
	struct frame *f = xmalloc(sizeof *f + cap);
	int n = snprintf(f->data, cap, "id: %lld\nevent: %s\ndata: %s\n\n", (long long)ev->id,
			 ev->type, ev->data);
	f->len = (size_t)n;
	return f;
}

static bool matches(const struct sub *s, const struct event *ev)
{
	if (s->p.incident_id && ev->incident_id != s->p.incident_id)
		return false;
	if (!s->p.types)
		return true;
	int i = event_type_index(ev->type);
	return i >= 0 && (s->p.types & (UINT64_C(1) << i));
}

/* ---- subscribers ---- */

static void sub_free(struct sub *s)
{
	struct sse_hub *h = s->h;
	if (s->prev)
		s->prev->next = s->next;
	else
		h->subs = s->next;
	if (s->next)
		s->next->prev = s->prev;
	h->n_subs--;
	free(s);
}

static void on_close(void *arg, struct conn *c)
{
	struct sub *s = arg;
	(void)c;
	s->c = NULL;
	if (!s->busy)
		sub_free(s);
}

/* Write bytes to s, or disconnect it when they would pass its cap. */
static bool sub_fits(struct sub *s, size_t len)
{
	if (!s->c)
		return false;
	if (conn_stream_unsent(s->c) + len > SSE_CLIENT_CAP) {
		log_warn("sse subscriber too slow; disconnected", "subscriber=%llu unsent=%zu",
			 (unsigned long long)s->id, conn_stream_unsent(s->c));
		conn_stream_end(s->c, false); /* on_close may free s */
		return false;
	}
	return true;
}

/* ---- the hub's reads ---- */

struct events {
	struct event *v;
	size_t n, cap;
	int64_t upto; /* stop after this id (0: no bound) */
	bool beyond;  /* an event past upto was seen */
};

static int collect(const struct event *ev, void *arg)
{
	struct events *es = arg;
	if (es->upto && ev->id > es->upto) {
		es->beyond = true;
		return 1;
	}
	if (es->n == es->cap) {
		es->cap = es->cap ? es->cap * 2 : 64;
		es->v = xrealloc(es->v, es->cap * sizeof *es->v);
	}
	struct event *d = &es->v[es->n++];
	*d = *ev;
	d->type = xstrdup(ev->type);
	d->actor = xstrdup(ev->actor);
	d->data = xstrdup(ev->data);
	return 0;
}

static void events_free(struct events *es)
{
	for (size_t i = 0; i < es->n; i++)
		event_clear(&es->v[i]);
	free(es->v);
	memset(es, 0, sizeof *es);
}

/* After a commit: the events after the hub's last one. */
struct fetch {
	struct job job;
	struct loop_task task;
	struct sse_hub *h;
	int64_t after;
	bool head_only; /* nobody listens: only learn the newest id */
	int64_t head_id;
	struct events es;
	int rc;
};

static int fetch_run(struct job *j, struct store_conn *c)
{
	struct fetch *f = (struct fetch *)j;
	struct event_filter flt = {.after_id = f->after, .limit = FETCH_MAX};
	struct err e;
	err_clear(&e);
	if (f->head_only) {
		struct store_event_head head;
		f->rc = store_event_head(c, &head, &e);
		f->head_id = f->rc ? 0 : head.last_id;
	} else {
		f->rc = store_event_list(c, &flt, collect, &f->es, NULL, &e);
	}
	if (f->rc)
		log_warn("sse: cannot read new events", "error=\"%s\"", e.msg);
	return 0;
}

static void fetch_start(struct sse_hub *h);

/* Send a batch of new events (in id order) to every live subscriber: per subscriber the
 * frames it wants, in one vectored write, each frame built once and shared. */
static void broadcast(struct sse_hub *h, const struct event *evs, size_t n)
{
	if (!n)
		return;
	struct frame **fr = xcalloc(n, sizeof *fr);
	struct iovec *iov = xmalloc(n * sizeof *iov);
	for (struct sub *s = h->subs, *next; s; s = next) {
		next = s->next;
		if (!s->live || !s->c)
			continue;
		size_t k = 0, bytes = 0;
		for (size_t i = 0; i < n; i++) {
			if (evs[i].id <= s->cursor || !matches(s, &evs[i]))
				continue;
			if (!fr[i])
				fr[i] = frame_of(&evs[i]);
			iov[k++] = (struct iovec){fr[i]->data, fr[i]->len};
			bytes += fr[i]->len;
		}
		if (evs[n - 1].id > s->cursor)
			s->cursor = evs[n - 1].id;
		if (!k || !sub_fits(s, bytes))
			continue; /* sub_fits may have freed s */
		conn_stream_writev(s->c, iov, k);
	}
	for (size_t i = 0; i < n; i++)
		free(fr[i]);
	free(fr);
	free(iov);
	if (evs[n - 1].id > h->last_id)
		h->last_id = evs[n - 1].id;
}

static void fetch_apply(struct loop_task *t)
{
	struct fetch *f = (struct fetch *)((char *)t - offsetof(struct fetch, task));
	struct sse_hub *h = f->h;
	broadcast(h, f->es.v, f->es.n);
	/* With nobody listening, the newest id is all that matters (a subscriber that
	 * came meanwhile is live from the hub's id: a later fetch gives it what it missed). */
	if (f->head_only && f->head_id > h->last_id && !h->n_subs)
		h->last_id = f->head_id;
	bool more = f->rc == 0 && (f->es.n == FETCH_MAX ||
				   (f->head_only && h->n_subs && f->head_id > h->last_id));
	h->fetching = false;
	events_free(&f->es);
	free(f);
	if ((more || h->again) && !h->stopping)
		fetch_start(h);
}

static void fetch_discard(struct loop_task *t)
{
	struct fetch *f = (struct fetch *)((char *)t - offsetof(struct fetch, task));
	events_free(&f->es);
	free(f);
}

static void fetch_done(struct job *j, int commit_rc, const struct err *e)
{
	(void)commit_rc;
	(void)e;
	struct fetch *f = (struct fetch *)j;
	loopq_post(f->h->q, &f->task);
}

static void fetch_start(struct sse_hub *h)
{
	if (h->fetching) {
		h->again = true;
		return;
	}
	h->again = false;
	h->fetching = true;
	struct fetch *f = xcalloc(1, sizeof *f);
	f->job.kind = JOB_READ;
	f->job.run = fetch_run;
	f->job.done = fetch_done;
	f->task.fn = fetch_apply;
	f->task.discard = fetch_discard;
	f->h = h;
	f->after = h->last_id;
	f->head_only = h->n_subs == 0;
	store_pool_submit(h->pool, &f->job);
}

static void on_wake(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct sse_hub *h = arg;
	if (!h->stopping)
		fetch_start(h);
}

void sse_hub_notify(struct sse_hub *h)
{
	if (h)
		event_active(h->wake, 0, 0);
}

/* ---- replay ---- */

struct replay {
	struct job job;
	struct loop_task task;
	struct sub *s;
	int64_t after, upto;
	bool first;
	const char *types[65];
	struct store_event_head head;
	int64_t oldest;
	struct events es;
	int rc;
};

static int replay_run(struct job *j, struct store_conn *c)
{
	struct replay *r = (struct replay *)j;
	struct err e;
	err_clear(&e);
	if (r->first) {
		struct events one = {0};
		struct event_filter all = {.after_id = 0, .limit = 1};
		if ((r->rc = store_event_head(c, &r->head, &e)) ||
		    (r->rc = store_event_list(c, &all, collect, &one, NULL, &e)))
			goto out;
		r->oldest = one.n ? one.v[0].id : 0;
		events_free(&one);
	}
	struct event_filter f = {.after_id = r->after,
				 .incident_id = r->s->p.incident_id,
				 .types = r->s->p.types ? r->types : NULL,
				 .limit = REPLAY_MAX};
	r->es.upto = r->upto;
	r->rc = store_event_list(c, &f, collect, &r->es, NULL, &e);
out:
	if (r->rc)
		log_warn("sse: cannot read events to replay", "error=\"%s\"", e.msg);
	return 0;
}

static void replay_start(struct sub *s, int64_t after, int64_t upto, bool first);
static void replay_next(struct sub *s, int64_t after, int64_t upto);

static void replay_free(struct replay *r)
{
	events_free(&r->es);
	free(r);
}

static void send_reset(struct sub *s, const struct replay *r)
{
	struct buf b = BUF_INIT;
	buf_printf(&b,
		   "event: reset\ndata: {\"last_event_id\":%lld,\"oldest_id\":%lld,"
		   "\"newest_id\":%lld}\n\n",
		   (long long)s->p.last_event_id, (long long)r->oldest, (long long)r->head.last_id);
	if (sub_fits(s, b.len))
		conn_stream_write(s->c, b.data, b.len);
	buf_free(&b);
}

/* Drop a subscriber whose stream closed while its replay job was in flight. */
static bool gone(struct sub *s, struct replay *r)
{
	if (s->c && !s->h->stopping)
		return false;
	s->busy = false;
	if (!s->c)
		sub_free(s);
	replay_free(r);
	return true;
}

static void replay_apply(struct loop_task *t)
{
	struct replay *r = (struct replay *)((char *)t - offsetof(struct replay, task));
	struct sub *s = r->s;
	struct sse_hub *h = s->h;
	/* s stays busy while this runs: a stream closed by its cap is freed here, not under
	 * our feet. */
	if (gone(s, r))
		return;
	if (r->rc) {
		conn_stream_end(s->c, true); /* the client resumes from its last id */
		gone(s, r);
		return;
	}
	int64_t L = s->p.last_event_id;
	if (r->first && (L > r->head.last_id || (r->oldest && L < r->oldest - 1) ||
			 (!r->oldest && L < r->head.last_id))) {
		/* Outside the log: the client must fetch again; live from here. */
		send_reset(s, r);
		s->cursor = r->upto;
	} else {
		/* A round is written whole (its size is bounded); the next one waits until
		 * the client has taken it (replay_next), so replay is paced by the reader. */
		for (size_t i = 0; i < r->es.n; i++) {
			struct frame *fr = frame_of(&r->es.v[i]);
			conn_stream_write(s->c, fr->data, fr->len);
			s->cursor = r->es.v[i].id;
			free(fr);
		}
		if (r->es.n == REPLAY_MAX && !r->es.beyond) {
			int64_t upto = r->upto, after = s->cursor;
			replay_free(r);
			replay_next(s, after, upto);
			return;
		}
		s->cursor = r->upto > L ? r->upto : L;
	}
	replay_free(r);
	/* Caught up with what the hub has sent? Else another round to there. */
	if (h->last_id > s->cursor) {
		replay_next(s, s->cursor, h->last_id);
		return;
	}
	s->busy = false;
	if (!s->c) {
		sub_free(s);
		return;
	}
	s->live = true;
}

static void replay_wait_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct sub *s = arg;
	replay_next(s, s->wait_after, s->wait_upto);
}

/* The next replay round of s (busy), once what it was sent has mostly gone out. */
static void replay_next(struct sub *s, int64_t after, int64_t upto)
{
	struct sse_hub *h = s->h;
	if (!s->c || h->stopping) {
		s->busy = false;
		if (!s->c)
			sub_free(s);
		return;
	}
	if (conn_stream_unsent(s->c) > SSE_CLIENT_CAP) {
		s->wait_after = after;
		s->wait_upto = upto;
		struct timeval tv = {0, 20000};
		event_base_once(h->base, -1, EV_TIMEOUT, replay_wait_cb, s, &tv);
		return;
	}
	replay_start(s, after, upto, false);
}

static void replay_discard(struct loop_task *t)
{
	replay_free((struct replay *)((char *)t - offsetof(struct replay, task)));
}

static void replay_done(struct job *j, int commit_rc, const struct err *e)
{
	(void)commit_rc;
	(void)e;
	struct replay *r = (struct replay *)j;
	loopq_post(r->s->h->q, &r->task);
}

static void replay_start(struct sub *s, int64_t after, int64_t upto, bool first)
{
	struct replay *r = xcalloc(1, sizeof *r);
	r->job.kind = JOB_READ;
	r->job.run = replay_run;
	r->job.done = replay_done;
	r->task.fn = replay_apply;
	r->task.discard = replay_discard;
	r->s = s;
	r->after = after;
	r->upto = upto;
	r->first = first;
	size_t n = 0;
	for (int i = 0; i < 64 && event_type_names[i]; i++)
		if (s->p.types & (UINT64_C(1) << i))
			r->types[n++] = event_type_names[i];
	r->types[n] = NULL;
	s->busy = true;
	store_pool_submit(s->h->pool, &r->job);
}

/* ---- subscribing ---- */

bool sse_hub_full(const struct sse_hub *h)
{
	return (int64_t)h->n_subs >= h->cfg->server.sse_max_clients;
}

void sse_subscribe(struct sse_hub *h, struct conn *c, const struct sse_params *p,
		   const char *request_id)
{
	struct sub *s = xcalloc(1, sizeof *s);
	s->h = h;
	s->c = c;
	s->id = ++h->next_sub_id;
	s->p = *p;
	s->cursor = h->last_id;
	s->next = h->subs;
	if (h->subs)
		h->subs->prev = s;
	h->subs = s;
	h->n_subs++;
	struct conn_stream_handler sh = {.on_close = on_close, .arg = s};
	char headers[160];
	snprintf(headers, sizeof headers,
		 "X-Request-Id: %s\r\nCache-Control: no-cache\r\nX-Accel-Buffering: no\r\n",
		 request_id);
	conn_stream_begin(c, 200, "text/event-stream; charset=utf-8", headers, &sh);
	if (!s->c)
		return; /* the peer had gone: on_close freed it */
	char hello[160];
	int n = snprintf(hello, sizeof hello,
			 "retry: 3000\n\nevent: connected\ndata: "
			 "{\"last_event_id\":%lld,\"subscriber_id\":%llu}\n\n",
			 (long long)h->last_id, (unsigned long long)s->id);
	conn_stream_write(s->c, hello, (size_t)n);
	if (p->resume)
		replay_start(s, p->last_event_id, h->last_id, true);
	else
		s->live = true;
}

size_t sse_hub_subscribers(const struct sse_hub *h)
{
	return h ? h->n_subs : 0;
}

/* ---- heartbeats ---- */

static void on_heartbeat(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct sse_hub *h = arg;
	char ts[TIME_RFC3339_LEN], beat[96];
	time_format_ms(time_now_ms(), ts);
	int len = snprintf(beat, sizeof beat, "event: heartbeat\ndata: {\"timestamp\":\"%s\"}\n\n",
			   ts);
	for (struct sub *s = h->subs, *next; s; s = next) {
		next = s->next;
		if (s->c && sub_fits(s, (size_t)len))
			conn_stream_write(s->c, beat, (size_t)len);
	}
}

/* Once a second while anyone listens: events of other processes have no commit hook
 * of ours to wake the hub. */
static void on_poll(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct sse_hub *h = arg;
	if (h->n_subs && !h->stopping && !h->fetching)
		fetch_start(h);
}

/* ---- life ---- */

struct head_arg {
	int64_t last_id;
};

static int read_head(struct store_conn *c, void *arg, struct err *e)
{
	struct store_event_head head;
	int rc = store_event_head(c, &head, e);
	if (!rc)
		((struct head_arg *)arg)->last_id = head.last_id;
	return rc;
}

struct sse_hub *sse_hub_new(struct event_base *base, struct store_pool *pool, struct loopq *q,
			    const struct config *cfg, struct err *e)
{
	struct head_arg ha = {0};
	if (store_pool_call(pool, JOB_READ, read_head, &ha, e))
		return NULL;
	struct sse_hub *h = xcalloc(1, sizeof *h);
	h->base = base;
	h->pool = pool;
	h->q = q;
	h->cfg = cfg;
	h->last_id = ha.last_id;
	h->wake = event_new(base, -1, 0, on_wake, h);
	h->heartbeat = event_new(base, -1, EV_PERSIST, on_heartbeat, h);
	h->poll = event_new(base, -1, EV_PERSIST, on_poll, h);
	if (!h->wake || !h->heartbeat || !h->poll) {
		sse_hub_free(h);
		err_set(e, ERR_IO, "cannot create the event stream's events");
		return NULL;
	}
	int64_t ms = cfg->server.sse_heartbeat_ms;
	struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000};
	event_add(h->heartbeat, &tv);
	struct timeval second = {1, 0};
	event_add(h->poll, &second);
	return h;
}

void sse_hub_stop(struct sse_hub *h)
{
	if (!h || h->stopping)
		return;
	h->stopping = true;
	event_del(h->heartbeat);
	event_del(h->poll);
	for (struct sub *s = h->subs, *next; s; s = next) {
		next = s->next;
		if (s->c)
			conn_stream_end(s->c, true);
	}
}

void sse_hub_free(struct sse_hub *h)
{
	if (!h)
		return;
	while (h->subs)
		sub_free(h->subs);
	if (h->wake)
		event_free(h->wake);
	if (h->heartbeat)
		event_free(h->heartbeat);
	if (h->poll)
		event_free(h->poll);
	free(h);
}
