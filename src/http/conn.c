/* conn.c — HTTP/1.1 connections over libevent bufferevents; see conn.h.
 *
 * A connection moves through these states:
 *
 *   IDLE ──first byte──▶ HEAD ──head complete──▶ (owner: on_head)
 *                          │                        ├─ conn_read_body ─▶ BODY ─▶ (on_body) ─▶ BUSY
 *                          │                        └─ conn_respond / later ─────────────────▶ BUSY
 *   BUSY ──conn_respond──▶ WRITE ──drained──▶ IDLE (keep-alive) | LINGER | closed
 *
 * One timer per connection serves every state: the idle time in IDLE, the deadline of
 * the whole request in HEAD and BODY (set once, at the request's first byte, so a
 * trickle does not extend it), the write timeout in WRITE and the lingering time in
 * LINGER. Reading is off in BUSY and WRITE: a pipelined request waits in the input
 * buffer until the reply before it is out. */
#include "http/conn.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <event2/util.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "util/log.h"
#include "util/time.h"

#define LINGER_MS	    2000
#define LINGER_BYTES	    (1 << 20)
#define CHUNKED_READ_HIGH   65536
#define PUBLIC_WARN_EVERY_S 10

enum cstate { CS_IDLE, CS_HEAD, CS_BODY, CS_BUSY, CS_WRITE, CS_LINGER, CS_STREAM, CS_STREAM_END };

/* A stream's client sends nothing after its request; what it sends anyway is read and
 * dropped, and more than this closes the stream. */
#define STREAM_READ_MAX (64 * 1024)
/* A vanished stream client is noticed when unacknowledged data is this old. */
#define STREAM_USER_TIMEOUT_MS 45000
/* writev's limit (Linux's UIO_MAXIOV); the hub writes at most 500 frames at a time. */
#ifndef IOV_MAX
#define IOV_MAX 1024
#endif

struct conn {
	struct conn_server *cs;
	struct conn *prev, *next;
	struct bufferevent *bev; /* NULL once the socket is closed */
	struct event *timer;
	enum cstate state;
	void *data;

	/* The request being read. */
	size_t scanned; /* bytes of the head already searched for its end */
	int minor;
	bool keep_alive;
	bool owes;   /* the owner owes this request a reply */
	bool unread; /* the request's body was not (fully) read */
	int64_t content_length;
	bool chunked;
	bool expect_continue;
	struct http_chunked ch;
	struct buf body;
	size_t body_max;
	size_t accounted;    /* bytes counted in cs->buffered for this connection */
	int64_t deadline_ms; /* monotonic: the request must be whole by then */

	bool close_after;
	size_t lingered;
	struct conn_stream_handler sh; /* CS_STREAM, CS_STREAM_END */
	char peer[INET6_ADDRSTRLEN + 8];
};

struct conn_server {
	struct event_base *base;
	struct evconnlistener *listener;
	struct conn_limits lim;
	struct conn_handler h;
	struct conn *conns; /* every connection, open or owing a reply */
	size_t n_open;	    /* connections with a socket */
	size_t n_owing;	    /* connections whose owner owes a reply */
	size_t buffered;
	int reserve_fd; /* spent to accept-and-close when out of descriptors */
	bool stopping;
	time_t refused_logged; /* last time a refused connection was logged */
	unsigned long refused;
	time_t date_sec;
	char date[40];
};

static bool drained(const struct conn_server *cs);
static void conn_readcb(struct bufferevent *bev, void *arg);
static void conn_writecb(struct bufferevent *bev, void *arg);
static void conn_eventcb(struct bufferevent *bev, short what, void *arg);
static void process(struct conn *c);
static void stream_close(struct conn *c);

static void free_body(const void *data, size_t len, void *arg)
{
	(void)len;
	(void)arg;
	free((void *)data);
}

/* ---- bookkeeping ---- */

static void account(struct conn *c, size_t n)
{
	c->cs->buffered = c->cs->buffered - c->accounted + n;
	c->accounted = n;
}

static void timer_in(struct conn *c, int64_t ms)
{
	if (ms < 0)
		ms = 0;
	struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000};
	evtimer_add(c->timer, &tv);
}

static void unlink_conn(struct conn *c)
{
	if (c->prev)
		c->prev->next = c->next;
	else
		c->cs->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	c->prev = c->next = NULL;
}

static void close_socket(struct conn *c)
{
	if (!c->bev)
		return;
	bufferevent_free(c->bev); /* closes the socket (BEV_OPT_CLOSE_ON_FREE) */
	c->bev = NULL;
	c->cs->n_open--;
	evtimer_del(c->timer);
}

/* Free c entirely (it owes no reply). */
static void conn_free(struct conn *c)
{
	struct conn_server *cs = c->cs;
	close_socket(c);
	account(c, 0);
	unlink_conn(c);
	event_free(c->timer);
	buf_free(&c->body);
	free(c);
	if (cs->stopping && cs->h.on_drained && drained(cs)) {
		void (*cb)(void *) = cs->h.on_drained;
		cs->h.on_drained = NULL;
		cb(cs->h.arg);
	}
}

static const char *reason(int status)
{
	switch (status) {
	case 100: return "Continue";
	case 200: return "OK";
	case 201: return "Created";
	case 202: return "Accepted";
	case 204: return "No Content";
	case 304: return "Not Modified";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 409: return "Conflict";
	case 413: return "Content Too Large";
	case 415: return "Unsupported Media Type";
	case 417: return "Expectation Failed";
	case 429: return "Too Many Requests";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 505: return "HTTP Version Not Supported";
	default: return "Unknown";
	}
}

static const char *http_date(struct conn_server *cs)
{
	time_t now = time(NULL);
	if (now != cs->date_sec) {
		struct tm tm;
		gmtime_r(&now, &tm);
		strftime(cs->date, sizeof cs->date, "%a, %d %b %Y %H:%M:%S GMT", &tm);
		cs->date_sec = now;
	}
	return cs->date;
}

/* Bodies may fill three quarters of the buffer cap: the rest stays for request
 * heads, so that uploads in flight never lock out small requests (/metrics, /readyz,
 * a responder's acknowledge). */
static size_t body_budget(const struct conn_server *cs)
{
	return cs->lim.max_buffered / 4 * 3;
}

/* ---- the request cycle ---- */

/* Hand the current request to the owner as an error. */
static void fail(struct conn *c, int status, const char *msg)
{
	struct err e;
	err_clear(&e);
	err_set(&e, status == 413 ? ERR_TOOLARGE : ERR_INVALID, "%s", msg);
	c->unread = true;
	if (!c->owes) {
		c->owes = true;
		c->cs->n_owing++;
	}
	bufferevent_disable(c->bev, EV_READ);
	evtimer_del(c->timer);
	c->state = CS_BUSY;
	c->cs->h.on_error(c->cs->h.arg, c, status, &e);
}

static void begin_idle(struct conn *c)
{
	c->state = CS_IDLE;
	c->scanned = 0;
	c->unread = false;
	c->content_length = -1;
	c->chunked = false;
	memset(&c->ch, 0, sizeof c->ch);
	buf_free(&c->body);
	account(c, 0);
	bufferevent_setwatermark(c->bev, EV_READ, 0, HTTP_HEAD_MAX + 1);
	bufferevent_enable(c->bev, EV_READ);
	timer_in(c, c->cs->lim.read_timeout_ms);
}

static void read_head(struct conn *c)
{
	struct evbuffer *in = bufferevent_get_input(c->bev);
	size_t len = evbuffer_get_length(in);
	if (!len)
		return;
	if (c->state == CS_IDLE) {
		/* The deadline of the whole request starts with its first byte. */
		c->state = CS_HEAD;
		c->deadline_ms = time_mono_ms() + c->cs->lim.read_timeout_ms;
		timer_in(c, c->cs->lim.read_timeout_ms);
	}
	account(c, len);
	if (c->cs->buffered > c->cs->lim.max_buffered) {
		fail(c, 503, "the server is buffering too many requests; retry shortly");
		return;
	}
	size_t want = len > HTTP_HEAD_MAX + 1 ? HTTP_HEAD_MAX + 1 : len;
	const char *p = (const char *)evbuffer_pullup(in, (ev_ssize_t)want);
	long end = http_head_end(p, want, &c->scanned);
	if (end < 0) {
		fail(c, 431, "the request head exceeds 16384 bytes");
		return;
	}
	if (end == 0)
		return;
	struct http_head head;
	struct err e;
	err_clear(&e);
	int status = http_head_parse(p, (size_t)end, &head, &e);
	evbuffer_drain(in, (size_t)end);
	account(c, evbuffer_get_length(in));
	if (status) {
		fail(c, status, e.msg);
		return;
	}
	c->minor = head.minor;
	c->keep_alive = head.keep_alive;
	c->content_length = head.content_length;
	c->chunked = head.chunked;
	c->unread = head.chunked || head.content_length > 0;
	c->expect_continue = head.expect_continue;
	c->owes = true;
	c->cs->n_owing++;
	c->state = CS_BUSY;
	bufferevent_disable(c->bev, EV_READ);
	evtimer_del(c->timer);
	c->cs->h.on_head(c->cs->h.arg, c, &head);
	http_head_free(&head);
}

static void finish_body(struct conn *c)
{
	c->state = CS_BUSY;
	c->unread = false;
	bufferevent_disable(c->bev, EV_READ);
	evtimer_del(c->timer);
	size_t len = c->body.len;
	buf_reserve(&c->body, 1); /* NUL-terminated even when empty */
	char *body = buf_steal(&c->body);
	c->cs->h.on_body(c->cs->h.arg, c, body, len);
}

static void read_body(struct conn *c)
{
	struct evbuffer *in = bufferevent_get_input(c->bev);
	size_t len = evbuffer_get_length(in);
	if (c->chunked) {
		while (len) {
			size_t n = len, used = 0;
			const char *p = (const char *)evbuffer_pullup(in, -1);
			struct err e;
			err_clear(&e);
			/* The reservation grows with the body: refuse before it would pass
			 * the cap. */
			if (c->cs->buffered - c->accounted + c->body.len + n > body_budget(c->cs)) {
				fail(c, 503, "the server is buffering too many requests");
				return;
			}
			int rc = http_chunked_feed(&c->ch, p, n, &used, &c->body, c->body_max, &e);
			evbuffer_drain(in, used);
			len = evbuffer_get_length(in);
			account(c, c->body.len + len);
			if (rc == 1) {
				finish_body(c);
				return;
			}
			if (rc) {
				fail(c, rc, e.msg);
				return;
			}
			if (used == 0)
				break;
		}
		return;
	}
	size_t need = (size_t)c->content_length - c->body.len;
	size_t n = len < need ? len : need;
	if (n) {
		buf_reserve(&c->body, n);
		evbuffer_remove(in, c->body.data + c->body.len, n);
		c->body.len += n;
		c->body.data[c->body.len] = '\0';
	}
	if (c->body.len == (size_t)c->content_length)
		finish_body(c);
}

static void process(struct conn *c)
{
	if (!c->bev)
		return;
	if (c->state == CS_IDLE || c->state == CS_HEAD)
		read_head(c);
	else if (c->state == CS_BODY)
		read_body(c);
}

void conn_read_body(struct conn *c, size_t max)
{
	if (!c->bev)
		return; /* the peer left; conn_respond will free */
	if (!c->chunked && c->content_length <= 0) {
		finish_body(c);
		return;
	}
	if (!c->chunked && (uint64_t)c->content_length > max) {
		char msg[128];
		snprintf(msg, sizeof msg, "the body is %lld bytes; the limit is %zu",
			 (long long)c->content_length, max);
		fail(c, 413, msg);
		return;
	}
	size_t reserve = c->chunked ? 0 : (size_t)c->content_length;
	if (c->cs->buffered - c->accounted + reserve > body_budget(c->cs)) {
		fail(c, 503, "the server is buffering too many requests; retry shortly");
		return;
	}
	c->state = CS_BODY;
	c->body_max = max;
	if (!c->chunked) {
		account(c, reserve);
		buf_reserve(&c->body, reserve);
		bufferevent_setwatermark(c->bev, EV_READ, 0, reserve);
	} else {
		bufferevent_setwatermark(c->bev, EV_READ, 0, CHUNKED_READ_HIGH);
	}
	struct evbuffer *in = bufferevent_get_input(c->bev);
	if (c->expect_continue && evbuffer_get_length(in) == 0)
		bufferevent_write(c->bev, "HTTP/1.1 100 Continue\r\n\r\n", 25);
	/* The deadline of the request keeps running from its first byte. */
	timer_in(c, c->deadline_ms - time_mono_ms());
	bufferevent_enable(c->bev, EV_READ);
	read_body(c);
}

void conn_respond(struct conn *c, struct http_response *r)
{
	struct conn_server *cs = c->cs;
	if (c->owes) {
		c->owes = false;
		cs->n_owing--;
	}
	if (!c->bev) {
		free(r->body);
		r->body = NULL;
		conn_free(c);
		return;
	}
	bool close = r->close || !c->keep_alive || c->unread || cs->stopping;
	struct evbuffer *out = bufferevent_get_output(c->bev);
	evbuffer_add_printf(out,
			    "HTTP/1.1 %d %s\r\nDate: %s\r\nContent-Type: %s\r\n"
			    "Content-Length: %zu\r\n%s%s\r\n",
			    r->status, reason(r->status), http_date(cs),
			    r->content_type ? r->content_type : "application/json; charset=utf-8",
			    r->body_len,
			    close	    ? "Connection: close\r\n"
			    : c->minor == 0 ? "Connection: keep-alive\r\n"
					    : "",
			    r->headers ? r->headers : "");
	if (r->body && r->body_len && !r->head_only) {
		if (r->body_len < 4096) {
			evbuffer_add(out, r->body, r->body_len);
			free(r->body);
		} else if (evbuffer_add_reference(out, r->body, r->body_len, free_body, NULL)) {
			free(r->body);
			log_error("cannot queue a reply", "peer=%s", c->peer);
			close = true;
		}
	} else {
		free(r->body);
	}
	r->body = NULL;
	c->close_after = close;
	c->state = CS_WRITE;
	account(c, evbuffer_get_length(bufferevent_get_input(c->bev)));
	bufferevent_disable(c->bev, EV_READ);
	timer_in(c, cs->lim.read_timeout_ms);
}

void conn_stream_begin(struct conn *c, int status, const char *content_type, const char *headers,
		       const struct conn_stream_handler *h)
{
	struct conn_server *cs = c->cs;
	if (c->owes) {
		c->owes = false;
		cs->n_owing--;
	}
	c->sh = *h;
	c->state = CS_STREAM;
	c->lingered = 0;
	evtimer_del(c->timer);
	if (!c->bev) {
		/* the peer left while the owner decided */
		stream_close(c);
		return;
	}
	evutil_socket_t fd = bufferevent_getfd(c->bev);
	unsigned int uto = STREAM_USER_TIMEOUT_MS;
	setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &uto, sizeof uto);
	struct evbuffer *out = bufferevent_get_output(c->bev);
	evbuffer_add_printf(out,
			    "HTTP/1.1 %d %s\r\nDate: %s\r\nContent-Type: %s\r\n"
			    "Connection: close\r\n%s\r\n",
			    status, reason(status), http_date(cs), content_type,
			    headers ? headers : "");
	account(c, 0);
	/* Read (and drop) whatever comes, to notice the close. */
	bufferevent_setwatermark(c->bev, EV_READ, 0, 4096);
	bufferevent_enable(c->bev, EV_READ);
	if (cs->stopping)
		conn_stream_end(c, true);
}

void conn_stream_write(struct conn *c, const char *data, size_t n)
{
	if (c->bev && c->state == CS_STREAM)
		evbuffer_add(bufferevent_get_output(c->bev), data, n);
}

void conn_stream_writev(struct conn *c, const struct iovec *iov, size_t n)
{
	if (!c->bev || c->state != CS_STREAM)
		return;
	struct evbuffer *out = bufferevent_get_output(c->bev);
	size_t done = 0; /* bytes the socket took */
	if (evbuffer_get_length(out) == 0) {
		ssize_t w;
		do
			w = writev(bufferevent_getfd(c->bev), iov, n < IOV_MAX ? (int)n : IOV_MAX);
		while (w < 0 && errno == EINTR);
		/* EAGAIN: queue everything; another error: queue too, and the bufferevent's
		 * own write reports it and closes the stream. */
		done = w > 0 ? (size_t)w : 0;
	}
	for (size_t i = 0; i < n; i++) {
		if (done < iov[i].iov_len)
			evbuffer_add(out, (const char *)iov[i].iov_base + done,
				     iov[i].iov_len - done);
		done = done > iov[i].iov_len ? done - iov[i].iov_len : 0;
	}
}

size_t conn_stream_unsent(const struct conn *c)
{
	return c->bev ? evbuffer_get_length(bufferevent_get_output(c->bev)) : 0;
}

void conn_stream_end(struct conn *c, bool flush)
{
	if (c->state != CS_STREAM)
		return;
	if (!flush || !c->bev || conn_stream_unsent(c) == 0) {
		stream_close(c);
		return;
	}
	c->state = CS_STREAM_END;
	timer_in(c, c->cs->lim.read_timeout_ms);
}

void conn_abort(struct conn *c)
{
	if (c->owes) {
		c->owes = false;
		c->cs->n_owing--;
	}
	conn_free(c);
}

/* After a reply that closes while the client may still be sending (its body was
 * not read): stop writing, read and discard for a moment, so the client reads the
 * reply instead of a reset. */
static void begin_linger(struct conn *c)
{
	c->state = CS_LINGER;
	shutdown(bufferevent_getfd(c->bev), SHUT_WR);
	bufferevent_setwatermark(c->bev, EV_READ, 0, 0);
	bufferevent_enable(c->bev, EV_READ);
	timer_in(c, LINGER_MS);
}

/* The end of a stream: its owner hears of it once, then c is gone. */
static void stream_close(struct conn *c)
{
	struct conn_stream_handler sh = c->sh;
	c->sh.on_close = NULL;
	if (sh.on_close)
		sh.on_close(sh.arg, c);
	conn_free(c);
}

static void conn_writecb(struct bufferevent *bev, void *arg)
{
	struct conn *c = arg;
	(void)bev;
	if (c->state == CS_STREAM_END) {
		stream_close(c); /* everything queued went out */
		return;
	}
	if (c->state != CS_WRITE)
		return; /* e.g. "100 Continue" went out, or a stream's write */
	if (c->close_after) {
		if (c->unread && !c->cs->stopping)
			begin_linger(c);
		else
			conn_free(c);
		return;
	}
	begin_idle(c);
	process(c); /* a pipelined request may be waiting */
}

static void conn_readcb(struct bufferevent *bev, void *arg)
{
	struct conn *c = arg;
	if (c->state == CS_LINGER || c->state == CS_STREAM || c->state == CS_STREAM_END) {
		struct evbuffer *in = bufferevent_get_input(bev);
		c->lingered += evbuffer_get_length(in);
		evbuffer_drain(in, evbuffer_get_length(in));
		if (c->state == CS_LINGER && c->lingered > LINGER_BYTES)
			conn_free(c);
		else if (c->state != CS_LINGER && c->lingered > STREAM_READ_MAX)
			stream_close(c);
		return;
	}
	process(c);
}

static void conn_eventcb(struct bufferevent *bev, short what, void *arg)
{
	struct conn *c = arg;
	(void)bev;
	if (!(what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)))
		return;
	if (c->state == CS_STREAM || c->state == CS_STREAM_END) {
		stream_close(c);
		return;
	}
	if (!c->owes) {
		conn_free(c);
		return;
	}
	/* The owner holds a request of this connection: keep the struct until it
	 * answers (the answer is then discarded). */
	bool waiting_body = c->state == CS_BODY;
	close_socket(c);
	if (waiting_body) {
		struct err e;
		err_clear(&e);
		err_set(&e, ERR_INVALID, "the connection closed before the body arrived");
		c->state = CS_BUSY;
		c->cs->h.on_error(c->cs->h.arg, c, 400, &e);
	}
}

static void conn_timercb(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;
	(void)fd;
	(void)what;
	switch (c->state) {
	case CS_HEAD:
	case CS_BODY: fail(c, 408, "the request did not arrive whole in time"); break;
	case CS_IDLE:
	case CS_WRITE:
	case CS_LINGER:
		if (!c->owes)
			conn_free(c);
		break;
	case CS_BUSY:
	case CS_STREAM: break;
	case CS_STREAM_END: stream_close(c); break;
	}
}

/* ---- accepting ---- */

/* Close a connection we will not serve, reading what already arrived first so the
 * close is a FIN rather than a reset where possible. */
static void refuse_fd(struct conn_server *cs, evutil_socket_t fd, const char *why)
{
	char sink[4096];
	for (int i = 0; i < 16; i++)
		if (recv(fd, sink, sizeof sink, MSG_DONTWAIT) <= 0)
			break;
	close(fd);
	cs->refused++;
	time_t now = time(NULL);
	if (now - cs->refused_logged >= PUBLIC_WARN_EVERY_S) {
		cs->refused_logged = now;
		log_warn("connection refused", "reason=\"%s\" refused_total=%lu", why, cs->refused);
	}
}

static void peer_text(const struct sockaddr *sa, int salen, char *out, size_t outsz)
{
	char host[INET6_ADDRSTRLEN] = "?", port[8] = "?";
	if (sa && salen > 0)
		getnameinfo(sa, (socklen_t)salen, host, sizeof host, port, sizeof port,
			    NI_NUMERICHOST | NI_NUMERICSERV);
	snprintf(out, outsz, "%s%s%s:%s", sa && sa->sa_family == AF_INET6 ? "[" : "", host,
		 sa && sa->sa_family == AF_INET6 ? "]" : "", port);
}

static void on_accept(struct evconnlistener *lev, evutil_socket_t fd, struct sockaddr *sa,
		      int salen, void *arg)
{
	struct conn_server *cs = arg;
	(void)lev;
	if (cs->stopping) {
		refuse_fd(cs, fd, "stopping");
		return;
	}
	if (cs->lim.max_connections > 0 && (int64_t)cs->n_open >= cs->lim.max_connections) {
		refuse_fd(cs, fd, "server.max_connections reached");
		return;
	}
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	struct bufferevent *bev = bufferevent_socket_new(cs->base, fd, BEV_OPT_CLOSE_ON_FREE);
	struct event *timer = NULL;
	if (!bev) {
		close(fd);
		return;
	}
	struct conn *c = xcalloc(1, sizeof *c);
	c->timer = timer = evtimer_new(cs->base, conn_timercb, c);
	if (!timer) {
		bufferevent_free(bev);
		free(c);
		return;
	}
	c->cs = cs;
	c->bev = bev;
	peer_text(sa, salen, c->peer, sizeof c->peer);
	c->next = cs->conns;
	if (cs->conns)
		cs->conns->prev = c;
	cs->conns = c;
	cs->n_open++;
	bufferevent_setcb(bev, conn_readcb, conn_writecb, conn_eventcb, c);
	bufferevent_enable(bev, EV_WRITE);
	begin_idle(c);
}

static void on_resume_accept(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct conn_server *cs = arg;
	if (!cs->stopping)
		evconnlistener_enable(cs->listener);
}

/* Out of descriptors: spend the reserve one to accept and close the connection at
 * the head of the queue, so the listener neither spins nor leaves clients hanging.
 * Other errors pause accepting for 100 ms. */
static void on_accept_error(struct evconnlistener *lev, void *arg)
{
	struct conn_server *cs = arg;
	int err = EVUTIL_SOCKET_ERROR();
	if ((err == EMFILE || err == ENFILE) && cs->reserve_fd >= 0) {
		close(cs->reserve_fd);
		evutil_socket_t fd = accept(evconnlistener_get_fd(lev), NULL, NULL);
		if (fd >= 0)
			refuse_fd(cs, fd, "out of file descriptors");
		cs->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
		return;
	}
	log_warn("accept failed; pausing 100ms", "error=\"%s\"",
		 evutil_socket_error_to_string(err));
	evconnlistener_disable(lev);
	struct timeval tv = {0, 100000};
	event_base_once(cs->base, -1, EV_TIMEOUT, on_resume_accept, cs, &tv);
}

int conn_server_start(struct event_base *base, const struct sockaddr *addr, int addrlen,
		      const struct conn_limits *lim, const struct conn_handler *h,
		      struct conn_server **out, struct err *e)
{
	struct conn_server *cs = xcalloc(1, sizeof *cs);
	cs->base = base;
	cs->lim = *lim;
	cs->h = *h;
	cs->listener = evconnlistener_new_bind(base, on_accept, cs,
					       LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_FREE |
						       LEV_OPT_CLOSE_ON_EXEC,
					       1024, addr, addrlen);
	if (!cs->listener) {
		int err = errno;
		free(cs);
		return err_set(e, ERR_IO, "cannot listen: %s", strerror(err));
	}
	evconnlistener_set_error_cb(cs->listener, on_accept_error);
	cs->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	*out = cs;
	return 0;
}

void conn_server_address(const struct conn_server *cs, char *out, size_t outsz)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof ss;
	if (getsockname(evconnlistener_get_fd(cs->listener), (struct sockaddr *)&ss, &len))
		snprintf(out, outsz, "?");
	else
		peer_text((struct sockaddr *)&ss, (int)len, out, outsz);
}

static bool drained(const struct conn_server *cs)
{
	for (const struct conn *c = cs->conns; c; c = c->next)
		if (c->owes || c->state == CS_WRITE || c->state == CS_STREAM_END)
			return false;
	return true;
}

void conn_server_stop(struct conn_server *cs)
{
	if (cs->stopping)
		return;
	cs->stopping = true;
	evconnlistener_disable(cs->listener);
	for (struct conn *c = cs->conns, *next; c; c = next) {
		next = c->next;
		if (c->state == CS_BODY && c->bev) {
			/* A body still arriving was never acknowledged: refuse it now rather
			 * than wait for it (or its deadline). */
			fail(c, 503, "the server is shutting down");
			continue;
		}
		if (c->owes)
			continue; /* its reply will close it */
		if (c->state == CS_STREAM) {
			conn_stream_end(c, true);
			continue;
		}
		if (c->state == CS_STREAM_END)
			continue;
		if (c->state == CS_WRITE) {
			c->close_after = true;
			continue;
		}
		conn_free(c);
	}
	if (drained(cs) && cs->h.on_drained) {
		void (*cb)(void *) = cs->h.on_drained;
		cs->h.on_drained = NULL;
		cb(cs->h.arg);
	}
}

void conn_server_free(struct conn_server *cs)
{
	if (!cs)
		return;
	cs->h.on_drained = NULL;
	while (cs->conns)
		conn_free(cs->conns);
	evconnlistener_free(cs->listener);
	if (cs->reserve_fd >= 0)
		close(cs->reserve_fd);
	free(cs);
}

size_t conn_server_count(const struct conn_server *cs)
{
	return cs->n_open;
}

size_t conn_server_buffered(const struct conn_server *cs)
{
	return cs->buffered;
}

unsigned long long conn_server_refused(const struct conn_server *cs)
{
	return cs->refused;
}

void conn_set_data(struct conn *c, void *data)
{
	c->data = data;
}

void *conn_data(const struct conn *c)
{
	return c->data;
}

const char *conn_peer(const struct conn *c)
{
	return c->peer;
}
