/* server.c — libevent's evhttp on the loop thread; jobs to the store pool.
 *
 * Life of a request: on_request() (loop) parses, routes, authenticates against
 * the token cache, reads and parses the JSON body, runs the route's prepare() and
 * submits the request as a job. The job runs on a store thread; its done() pushes
 * the request on srv->done and wakes the loop with event_active; on_wake() (loop)
 * sends the reply and frees the request. */
#include "http/server.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>
#include <event2/thread.h>
#include <event2/util.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include "core/auth.h"
#include "http/metrics.h"
#include "util/json.h"
#include "util/log.h"
#include "util/time.h"

/* A unit of work for the loop thread, queued by other threads. */
struct loop_task {
	void (*fn)(struct server *srv, struct loop_task *t);
	struct loop_task *next;
};

struct completed {
	struct loop_task task;
	struct http_req *req;
	bool committed;
};

struct server {
	const struct config *cfg;
	struct store *store;
	struct store_pool *pool;
	const struct route *routes;
	size_t n_routes;

	struct event_base *base;
	struct evhttp *http;
	struct evconnlistener *listener;
	struct evhttp_bound_socket *bound;
	struct event *wake, *sigterm, *sigint, *token_timer, *stop_timer;

	pthread_mutex_t mu; /* guards tasks */
	struct loop_task *tasks_head, *tasks_tail;

	/* Loop-thread state. */
	struct metrics *metrics;
	struct auth_cache *auth;
	bool token_check_inflight;
	bool stopping;
	long inflight;
	uint64_t req_counter;
	char req_prefix[9];
	char origin[300]; /* scheme://host[:port] of server.public_url */
};

struct store *server_store(struct server *srv)
{
	return srv->store;
}

struct metrics *server_metrics(struct server *srv)
{
	return srv->metrics;
}

int server_healthy(struct server *srv, struct err *e)
{
	if (store_pool_healthy(srv->pool))
		return err_set(e, ERR_IO, "the last commit failed");
	return 0;
}

/* ---- tasks from other threads ---- */

static void post_task(struct server *srv, struct loop_task *t)
{
	t->next = NULL;
	pthread_mutex_lock(&srv->mu);
	if (srv->tasks_tail)
		srv->tasks_tail->next = t;
	else
		srv->tasks_head = t;
	srv->tasks_tail = t;
	pthread_mutex_unlock(&srv->mu);
	event_active(srv->wake, EV_READ, 0);
}

static void on_wake(evutil_socket_t fd, short what, void *arg)
{
	struct server *srv = arg;
	(void)fd;
	(void)what;
	pthread_mutex_lock(&srv->mu);
	struct loop_task *t = srv->tasks_head;
	srv->tasks_head = srv->tasks_tail = NULL;
	pthread_mutex_unlock(&srv->mu);
	while (t) {
		struct loop_task *next = t->next;
		t->fn(srv, t);
		t = next;
	}
}

/* ---- requests ---- */

static void req_free(struct http_req *r)
{
	if (!r)
		return;
	if (r->ctx_free)
		r->ctx_free(r->ctx);
	for (size_t i = 0; i < r->n_query; i++) {
		free(r->query[i].key);
		free(r->query[i].value);
	}
	free(r->query);
	free(r->path);
	free(r->param);
	json_decref(r->body);
	free(r->content_type);
	free(r->idempotency_key);
	free(r->session_id);
	free(r->set_cookie);
	buf_free(&r->reply);
	free(r);
}

static void maybe_finish_stop(struct server *srv)
{
	if (srv->stopping && srv->inflight == 0)
		event_base_loopexit(srv->base, NULL);
}

static void send_reply(struct server *srv, struct http_req *r)
{
	struct evhttp_request *ev = r->ev;
	if (r->status == 0)
		req_reply_error(r, ERR_INTERNAL, "the request produced no reply");
	if (r->status >= 400 && r->reply.len == 0)
		req_reply_err(r, &r->error);
	struct evkeyvalq *h = evhttp_request_get_output_headers(ev);
	evhttp_add_header(h, "Content-Type",
			  r->reply_type ? r->reply_type : "application/json; charset=utf-8");
	evhttp_add_header(h, "X-Request-Id", r->request_id);
	evhttp_add_header(h, "Cache-Control", "no-store");
	if (r->set_cookie)
		evhttp_add_header(h, "Set-Cookie", r->set_cookie);
	if (r->status == 405 && r->route == NULL && r->ctx) {
		/* ctx holds the Allow header text for 405 replies made before routing. */
		evhttp_add_header(h, "Allow", r->ctx);
	}
	struct evbuffer *out = evbuffer_new();
	if (r->method != M_HEAD)
		evbuffer_add(out, r->reply.data ? r->reply.data : "", r->reply.len);
	/* One logfmt line per request. The route pattern, never the raw path or query,
	 * goes to the log: a query may carry a token. */
	double ms = (double)(time_mono_ms() - r->started_mono_ms);
	log_msg(r->status >= 500 ? LOG_ERROR : LOG_INFO, "request",
		"request_id=%s method=%s route=\"%s\" status=%d ms=%.0f actor=\"%s\"",
		r->request_id, router_method_name(r->method),
		r->route ? r->route->pattern : "unmatched", r->status, ms,
		r->actor[0] ? r->actor : "-");
	metrics_http(srv->metrics, r->route, r->status,
		     (double)(time_mono_ms() - r->started_mono_ms) / 1000.0);
	evhttp_send_reply(ev, r->status, NULL, out);
	evbuffer_free(out);
	req_free(r);
	srv->inflight--;
	maybe_finish_stop(srv);
}

static void reload_auth_then_reply(struct server *srv, struct http_req *r);

static void on_completed(struct server *srv, struct loop_task *t)
{
	struct completed *c = (struct completed *)t;
	struct http_req *r = c->req;
	bool ok = c->committed && r->status < 400;
	free(c);
	if (ok && r->route->finish)
		r->route->finish(r);
	if (ok && r->route->auth_changed && !srv->stopping) {
		reload_auth_then_reply(srv, r);
		return;
	}
	send_reply(srv, r);
}

static int job_run(struct job *j, struct store_conn *c)
{
	struct http_req *r = (struct http_req *)j;
	int rc = r->route->run(r, c);
	if (r->status == 0 && rc < 0)
		req_reply_error(r, rc, "request failed");
	return rc;
}

static void job_done(struct job *j, int commit_rc, const struct err *commit_err)
{
	struct http_req *r = (struct http_req *)j;
	if (commit_rc) {
		/* The transaction is gone: whatever the handler built must not be sent. */
		buf_reset(&r->reply);
		req_reply_error(r, ERR_IO, "storage unavailable: %s",
				commit_err && commit_err->msg[0] ? commit_err->msg
								 : "commit failed");
	}
	struct completed *c = xcalloc(1, sizeof *c);
	c->task.fn = on_completed;
	c->req = r;
	c->committed = commit_rc == 0;
	post_task(r->srv, &c->task);
}

static enum http_method method_of(enum evhttp_cmd_type t)
{
	switch (t) {
	case EVHTTP_REQ_GET: return M_GET;
	case EVHTTP_REQ_POST: return M_POST;
	case EVHTTP_REQ_PUT: return M_PUT;
	case EVHTTP_REQ_PATCH: return M_PATCH;
	case EVHTTP_REQ_DELETE: return M_DELETE;
	case EVHTTP_REQ_HEAD: return M_HEAD;
	case EVHTTP_REQ_OPTIONS: return M_OPTIONS;
	default: return 0;
	}
}

static void set_nodelay(struct evhttp_request *ev)
{
	struct evhttp_connection *conn = evhttp_request_get_connection(ev);
	struct bufferevent *bev = conn ? evhttp_connection_get_bufferevent(conn) : NULL;
	evutil_socket_t fd = bev ? bufferevent_getfd(bev) : -1;
	if (fd >= 0) {
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	}
}

static bool parse_query(struct http_req *r, const char *q)
{
	if (!q || !*q)
		return true;
	struct evkeyvalq kv = {0};
	if (evhttp_parse_query_str(q, &kv) != 0) {
		evhttp_clear_headers(&kv);
		return false;
	}
	size_t n = 0;
	for (struct evkeyval *it = kv.tqh_first; it; it = it->next.tqe_next)
		n++;
	r->query = xcalloc(n ? n : 1, sizeof *r->query);
	for (struct evkeyval *it = kv.tqh_first; it; it = it->next.tqe_next) {
		r->query[r->n_query].key = xstrdup(it->key);
		r->query[r->n_query].value = xstrdup(it->value);
		r->n_query++;
	}
	evhttp_clear_headers(&kv);
	return true;
}

static bool content_type_is(const char *ct, const char *want)
{
	size_t n = strlen(want);
	while (*ct == ' ')
		ct++;
	if (strncasecmp(ct, want, n))
		return false;
	return ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ';
}

#define SESSION_COOKIE "intervene_session"

/* The value of cookie name in a Cookie header, malloc'd, or NULL. */
static char *cookie_value(const char *header, const char *name)
{
	size_t n = strlen(name);
	for (const char *p = header; p && *p;) {
		while (*p == ' ' || *p == ';')
			p++;
		const char *end = strchr(p, ';');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		if (len > n && !strncmp(p, name, n) && p[n] == '=')
			return xstrndup(p + n + 1, len - n - 1);
		p = end;
	}
	return NULL;
}

/* Authenticate r: fills actor and role, or replies 401/403/400. 0 = go on. */
static int authenticate(struct server *srv, struct http_req *r, struct evkeyvalq *in)
{
	const struct route *rt = r->route;
	if (srv->cfg->auth.mode == CONFIG_AUTH_NONE) {
		const char *a = evhttp_find_header(in, "X-Intervene-Actor");
		if (a && !auth_valid_name(a)) {
			req_reply_error(
				r, ERR_INVALID,
				"X-Intervene-Actor must be 1 to 64 characters of A-Z a-z 0-9 . _ @ -");
			snprintf(r->error.field, sizeof r->error.field, "X-Intervene-Actor");
			return 1;
		}
		snprintf(r->actor, sizeof r->actor, "%s", a ? a : "local");
		r->role = ROLE_ADMIN;
		r->via = VIA_LOCAL;
		return 0;
	}
	const char *h = evhttp_find_header(in, "Authorization");
	const struct auth_entry *en = NULL;
	int64_t now = time_now_ms();
	if (h && !strncasecmp(h, "Bearer ", 7)) {
		en = auth_cache_check(srv->auth, h + 7, now);
		r->via = en ? VIA_TOKEN : VIA_NONE;
	} else if (!h) {
		char *sid = cookie_value(evhttp_find_header(in, "Cookie"), SESSION_COOKIE);
		if (sid && (en = auth_cache_check_session(srv->auth, sid, now))) {
			r->via = VIA_COOKIE;
			r->session_id = sid;
			sid = NULL;
		}
		free(sid);
	}
	if (en) {
		snprintf(r->actor, sizeof r->actor, "%s", en->name);
		r->role = en->role;
	}
	if (rt->metrics && srv->cfg->server.metrics_public)
		return 0;
	/* A browser session may not be used by another site's page: unsafe requests
	 * that ride on the cookie must come from our own origin. */
	if (r->via == VIA_COOKIE && r->method != M_GET && r->method != M_HEAD &&
	    r->method != M_OPTIONS) {
		const char *origin = evhttp_find_header(in, "Origin");
		if (!origin || strcmp(origin, srv->origin)) {
			req_reply_error(
				r, ERR_FORBIDDEN,
				"cross-origin request refused: Origin must be %s for cookie "
				"sessions",
				srv->origin);
			return 1;
		}
	}
	if (rt->min_role == ROLE_NONE)
		return 0;
	if (!en) {
		req_reply_error(r, ERR_UNAUTHORIZED,
				h ? "the token is not valid (unknown, revoked or expired)"
				  : "authentication required: send Authorization: Bearer <token>");
		return 1;
	}
	if (en->role < rt->min_role) {
		req_reply_error(r, ERR_FORBIDDEN, "this needs the %s role; %s is %s",
				auth_role_name(rt->min_role), en->name, auth_role_name(en->role));
		return 1;
	}
	return 0;
}

/* Read and parse the body. 0 = go on, else the reply is set. */
static int read_body(struct server *srv, struct http_req *r, struct evhttp_request *ev,
		     struct evkeyvalq *in)
{
	const struct route *rt = r->route;
	struct evbuffer *body = evhttp_request_get_input_buffer(ev);
	size_t len = evbuffer_get_length(body);
	if (r->method != M_POST && r->method != M_PUT && r->method != M_PATCH)
		return 0;
	if ((int64_t)len > srv->cfg->server.max_body_bytes) {
		req_reply_error(r, ERR_TOOLARGE, "the body is %zu bytes; the limit is %lld", len,
				(long long)srv->cfg->server.max_body_bytes);
		return 1;
	}
	const char *ct = evhttp_find_header(in, "Content-Type");
	if (len == 0) {
		if (rt->empty_body_ok) {
			r->body = json_object();
			return 0;
		}
		req_reply_error(r, ERR_JSON, "a JSON body is required");
		return 1;
	}
	if (!ct || !(content_type_is(ct, "application/json") ||
		     (rt->ndjson_ok && content_type_is(ct, "application/x-ndjson")))) {
		req_reply_error(r, ERR_MEDIA, "Content-Type must be application/json%s",
				rt->ndjson_ok ? " or application/x-ndjson" : "");
		return 1;
	}
	r->content_type = xstrdup(ct);
	const char *data = (const char *)evbuffer_pullup(body, -1);
	if (rt->ndjson_ok && content_type_is(ct, "application/x-ndjson")) {
		/* Keep NDJSON as text in a JSON string; the route splits lines. */
		r->body = json_stringn_nocheck(data, len);
		return 0;
	}
	struct err e;
	err_clear(&e);
	r->body = json_parse_strict(data, len, &e);
	if (!r->body) {
		req_reply_err(r, &e);
		return 1;
	}
	return 0;
}

static void on_request(struct evhttp_request *ev, void *arg)
{
	struct server *srv = arg;
	struct http_req *r = xcalloc(1, sizeof *r);
	r->srv = srv;
	r->cfg = srv->cfg;
	r->ev = ev;
	r->started_mono_ms = time_mono_ms();
	r->job.run = job_run;
	r->job.done = job_done;
	err_clear(&r->error);
	snprintf(r->request_id, sizeof r->request_id, "%s-%llu", srv->req_prefix,
		 (unsigned long long)++srv->req_counter);
	srv->inflight++;
	set_nodelay(ev);

	struct evkeyvalq *in = evhttp_request_get_input_headers(ev);
	r->method = method_of(evhttp_request_get_command(ev));
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(ev);
	const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
	r->path = xstrdup(path && *path ? path : "/");
	if (!r->method) {
		req_reply_error(r, ERR_METHOD, "method not allowed");
		goto reply;
	}
	if (srv->stopping) {
		evhttp_add_header(evhttp_request_get_output_headers(ev), "Connection", "close");
		req_reply_error(r, ERR_IO, "the server is shutting down");
		goto reply;
	}
	if (!parse_query(r, uri ? evhttp_uri_get_query(uri) : NULL)) {
		struct err qe;
		err_clear(&qe);
		err_field(&qe, ERR_INVALID, "query", "the query string is malformed");
		req_reply_err(r, &qe);
		goto reply;
	}
	struct route_match m;
	enum http_method lookup = r->method == M_HEAD ? M_GET : r->method;
	int rc = router_match(srv->routes, srv->n_routes, r->path, lookup, &m);
	if (rc == ERR_NOTFOUND) {
		req_reply_error(r, ERR_NOTFOUND, "no route for %s", r->path);
		goto reply;
	}
	if (rc == ERR_METHOD) {
		struct buf allow = BUF_INIT;
		for (unsigned b = 1; b <= M_OPTIONS; b <<= 1)
			if (m.allowed & b)
				buf_printf(&allow, "%s%s", allow.len ? ", " : "",
					   router_method_name((enum http_method)b));
		req_reply_error(r, ERR_METHOD, "%s is not allowed here; allowed: %s",
				router_method_name(r->method), buf_cstr(&allow));
		r->ctx = buf_steal(&allow);
		r->ctx_free = free;
		goto reply;
	}
	r->route = m.route;
	r->id = m.id;
	r->id2 = m.id2;
	r->param = m.param;
	if (m.param) {
		/* Path parameters arrive percent-encoded (a token name may hold '@'). */
		char *dec = evhttp_uridecode(m.param, 0, NULL);
		if (dec) {
			free(r->param);
			r->param = xstrdup(dec);
			free(dec);
		}
	}
	for (size_t i = 0; i < r->n_query; i++) {
		bool known = false;
		for (const char *const *p = r->route->params; p && *p && !known; p++)
			known = !strcmp(*p, r->query[i].key);
		if (!known) {
			struct err qe;
			err_clear(&qe);
			err_field(&qe, ERR_INVALID, r->query[i].key,
				  "unknown query parameter %.64s", r->query[i].key);
			req_reply_err(r, &qe);
			goto reply;
		}
	}
	if (authenticate(srv, r, in))
		goto reply;
	if (read_body(srv, r, ev, in))
		goto reply;
	const char *idem = evhttp_find_header(in, "Idempotency-Key");
	if (idem && r->route->idempotent_key) {
		if (!*idem || strlen(idem) > 255) {
			struct err ie;
			err_clear(&ie);
			err_field(&ie, ERR_INVALID, "Idempotency-Key",
				  "Idempotency-Key must be 1 to 255 characters");
			req_reply_err(r, &ie);
			goto reply;
		}
		r->idempotency_key = xstrdup(idem);
	}
	if (r->route->prepare && r->route->prepare(r))
		goto reply;
	if (!r->route->run)
		goto reply;
	r->job.kind = r->route->kind;
	store_pool_submit(srv->pool, &r->job);
	return;
reply:
	send_reply(srv, r);
}

/* ---- the token cache ---- */

struct token_check {
	struct job job;
	struct loop_task task;
	struct server *srv;
	int64_t known_version;
	struct auth_cache *fresh; /* NULL when unchanged or on error */
	struct http_req *pending; /* a reply to send once the cache is fresh, or NULL */
	bool timer;		  /* started by the timer (one at a time) */
};

static int token_check_run(struct job *j, struct store_conn *c)
{
	struct token_check *t = (struct token_check *)j;
	int64_t v = 0;
	struct err e;
	err_clear(&e);
	if (store_token_version(c, &v, &e)) {
		log_warn("token check failed", "error=\"%s\"", e.msg);
		return 0;
	}
	if (v != t->known_version && auth_cache_load(c, &t->fresh, &e))
		log_warn("token reload failed", "error=\"%s\"", e.msg);
	return 0;
}

static void token_check_apply(struct server *srv, struct loop_task *task)
{
	struct token_check *t =
		(struct token_check *)((char *)task - offsetof(struct token_check, task));
	/* Checks can overlap (timer and after-change reloads): never go back. */
	if (t->fresh && (!srv->auth || t->fresh->version >= srv->auth->version)) {
		auth_cache_free(srv->auth);
		srv->auth = t->fresh;
	} else {
		auth_cache_free(t->fresh);
	}
	if (t->timer)
		srv->token_check_inflight = false;
	if (t->pending)
		send_reply(srv, t->pending);
	free(t);
}

static void token_check_done(struct job *j, int rc, const struct err *e)
{
	struct token_check *t = (struct token_check *)j;
	(void)rc;
	(void)e;
	t->task.fn = token_check_apply;
	post_task(t->srv, &t->task);
}

static void on_token_timer(evutil_socket_t fd, short what, void *arg)
{
	struct server *srv = arg;
	(void)fd;
	(void)what;
	if (srv->token_check_inflight || srv->stopping)
		return;
	struct token_check *t = xcalloc(1, sizeof *t);
	t->job.kind = JOB_READ;
	t->job.run = token_check_run;
	t->job.done = token_check_done;
	t->srv = srv;
	t->known_version = srv->auth ? srv->auth->version : -1;
	t->timer = true;
	srv->token_check_inflight = true;
	store_pool_submit(srv->pool, &t->job);
}

static void reload_auth_then_reply(struct server *srv, struct http_req *r)
{
	struct token_check *t = xcalloc(1, sizeof *t);
	t->job.kind = JOB_READ;
	t->job.run = token_check_run;
	t->job.done = token_check_done;
	t->srv = srv;
	t->known_version = -1; /* always load */
	t->pending = r;
	store_pool_submit(srv->pool, &t->job);
}

/* ---- start and stop ---- */

static void begin_stop(struct server *srv, const char *why)
{
	if (srv->stopping)
		return;
	srv->stopping = true;
	log_info("stopping", "reason=%s inflight=%ld", why, srv->inflight);
	if (srv->listener)
		evconnlistener_disable(srv->listener);
	/* In-flight requests get up to 10 s; then the loop ends regardless. */
	struct timeval tv = {10, 0};
	evtimer_add(srv->stop_timer, &tv);
	maybe_finish_stop(srv);
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	(void)what;
	begin_stop(arg, sig == SIGINT ? "SIGINT" : "SIGTERM");
}

static void on_stop_timer(evutil_socket_t fd, short what, void *arg)
{
	struct server *srv = arg;
	(void)fd;
	(void)what;
	log_warn("stop timeout; closing with requests in flight", "inflight=%ld", srv->inflight);
	event_base_loopexit(srv->base, NULL);
}

static void on_resume_accept(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	evconnlistener_enable(arg);
}

/* EMFILE and friends: pause accepting for 100 ms instead of spinning. evhttp owns
 * the listener's callback argument, so the pause is a one-shot timer on the
 * listener itself; the listener lives until evhttp_free, after the loop ends. */
static void on_accept_error(struct evconnlistener *lev, void *arg)
{
	(void)arg;
	int err = EVUTIL_SOCKET_ERROR();
	log_warn("accept failed; pausing 100ms", "error=\"%s\"",
		 evutil_socket_error_to_string(err));
	evconnlistener_disable(lev);
	struct timeval tv = {0, 100000};
	event_base_once(evconnlistener_get_base(lev), -1, EV_TIMEOUT, on_resume_accept, lev, &tv);
}

static void raise_nofile(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

/* Resolve cfg's host:port (numeric, [v6]:port or a host name). */
static int resolve_listen(const char *listen, struct sockaddr_storage *ss, int *len, struct err *e)
{
	*len = sizeof *ss;
	if (evutil_parse_sockaddr_port(listen, (struct sockaddr *)ss, len) == 0)
		return 0;
	const char *colon = strrchr(listen, ':');
	if (!colon)
		return err_set(e, ERR_INVALID, "server.listen: %s is not host:port", listen);
	char host[256];
	snprintf(host, sizeof host, "%.*s", (int)(colon - listen), listen);
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res = NULL;
	int rc = getaddrinfo(host, colon + 1, &hints, &res);
	if (rc || !res)
		return err_set(e, ERR_INVALID, "server.listen: cannot resolve %s: %s", listen,
			       gai_strerror(rc));
	memcpy(ss, res->ai_addr, res->ai_addrlen);
	*len = (int)res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

static void log_listening(struct evconnlistener *lev)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof ss;
	char host[INET6_ADDRSTRLEN + 2] = "?", port[8] = "?";
	if (getsockname(evconnlistener_get_fd(lev), (struct sockaddr *)&ss, &len) == 0)
		getnameinfo((struct sockaddr *)&ss, len, host, sizeof host, port, sizeof port,
			    NI_NUMERICHOST | NI_NUMERICSERV);
	log_info("listening", "addr=%s%s%s:%s", ss.ss_family == AF_INET6 ? "[" : "", host,
		 ss.ss_family == AF_INET6 ? "]" : "", port);
}

int server_run(const struct config *cfg, struct store *s, const struct route *routes,
	       size_t n_routes, struct err *e)
{
	struct server *srv = xcalloc(1, sizeof *srv);
	int rc = 0;
	srv->cfg = cfg;
	srv->store = s;
	srv->routes = routes;
	srv->n_routes = n_routes;
	pthread_mutex_init(&srv->mu, NULL);
	unsigned char rnd[4];
	evutil_secure_rng_get_bytes(rnd, sizeof rnd);
	snprintf(srv->req_prefix, sizeof srv->req_prefix, "%02x%02x%02x%02x", rnd[0], rnd[1],
		 rnd[2], rnd[3]);
	raise_nofile();
	srv->metrics = metrics_new(routes, n_routes);
	{
		/* The origin is the public URL up to the end of its authority part. */
		char pub[300];
		const char *u = config_public_url(cfg, pub, sizeof pub);
		const char *sch = strstr(u, "://");
		const char *slash = sch ? strchr(sch + 3, '/') : NULL;
		size_t n = slash ? (size_t)(slash - u) : strlen(u);
		snprintf(srv->origin, sizeof srv->origin, "%.*s", (int)n, u);
	}

	if ((rc = store_pool_start(s, 2, NULL, NULL, &srv->pool, e)))
		goto out;
	{
		struct store_conn *c = NULL;
		if (!(rc = store_connect(s, true, &c, e)))
			rc = auth_cache_load(c, &srv->auth, e);
		store_disconnect(c);
		if (rc)
			goto out;
	}

	srv->base = event_base_new();
	srv->http = evhttp_new(srv->base);
	if (!srv->base || !srv->http) {
		rc = err_set(e, ERR_IO, "cannot create the event loop");
		goto out;
	}
	evhttp_set_allowed_methods(srv->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_PUT |
						      EVHTTP_REQ_PATCH | EVHTTP_REQ_DELETE |
						      EVHTTP_REQ_HEAD | EVHTTP_REQ_OPTIONS);
	evhttp_set_max_headers_size(srv->http, 16384);
	/* Well above the route limit, so that our own JSON 413 answers most uploads. */
	evhttp_set_max_body_size(srv->http, (ev_ssize_t)(cfg->server.max_body_bytes * 2 + 65536));
	struct timeval rt = {(time_t)(cfg->server.read_timeout_ms / 1000),
			     (suseconds_t)(cfg->server.read_timeout_ms % 1000) * 1000};
	evhttp_set_timeout_tv(srv->http, &rt);
	evhttp_set_gencb(srv->http, on_request, srv);

	struct sockaddr_storage ss;
	int sslen;
	if ((rc = resolve_listen(cfg->server.listen, &ss, &sslen, e)))
		goto out;
	srv->listener = evconnlistener_new_bind(srv->base, NULL, NULL,
						LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_FREE |
							LEV_OPT_CLOSE_ON_EXEC,
						1024, (struct sockaddr *)&ss, sslen);
	if (!srv->listener) {
		rc = err_set(e, ERR_IO, "cannot listen on %s: %s", cfg->server.listen,
			     strerror(errno));
		goto out;
	}
	srv->bound = evhttp_bind_listener(srv->http, srv->listener);
	if (!srv->bound) {
		evconnlistener_free(srv->listener);
		srv->listener = NULL;
		rc = err_set(e, ERR_IO, "cannot serve on %s", cfg->server.listen);
		goto out;
	}
	evconnlistener_set_error_cb(srv->listener, on_accept_error);

	srv->wake = event_new(srv->base, -1, EV_PERSIST | EV_READ, on_wake, srv);
	srv->sigterm = evsignal_new(srv->base, SIGTERM, on_signal, srv);
	srv->sigint = evsignal_new(srv->base, SIGINT, on_signal, srv);
	srv->token_timer = event_new(srv->base, -1, EV_PERSIST, on_token_timer, srv);
	srv->stop_timer = evtimer_new(srv->base, on_stop_timer, srv);
	event_add(srv->wake, NULL);
	event_add(srv->sigterm, NULL);
	event_add(srv->sigint, NULL);
	struct timeval one = {0, 500000};
	event_add(srv->token_timer, &one);

	log_listening(srv->listener);
	event_base_dispatch(srv->base);
	log_info("stopped", "requests=%llu", (unsigned long long)srv->req_counter);
out:
	/* Stop the store threads first: their completions still target the loop queue. */
	store_pool_stop(srv->pool);
	srv->pool = NULL;
	while (srv->tasks_head) {
		struct loop_task *t = srv->tasks_head;
		srv->tasks_head = t->next;
		if (t->fn == on_completed) {
			struct completed *c = (struct completed *)t;
			req_free(c->req);
			free(c);
		} else if (t->fn == token_check_apply) {
			struct token_check *tc =
				(struct token_check *)((char *)t -
						       offsetof(struct token_check, task));
			auth_cache_free(tc->fresh);
			req_free(tc->pending);
			free(tc);
		} else {
			t->fn(srv, t);
		}
	}
	if (srv->http)
		evhttp_free(srv->http);
	if (srv->wake)
		event_free(srv->wake);
	if (srv->sigterm)
		event_free(srv->sigterm);
	if (srv->sigint)
		event_free(srv->sigint);
	if (srv->token_timer)
		event_free(srv->token_timer);
	if (srv->stop_timer)
		event_free(srv->stop_timer);
	if (srv->base)
		event_base_free(srv->base);
	auth_cache_free(srv->auth);
	metrics_free(srv->metrics);
	pthread_mutex_destroy(&srv->mu);
	free(srv);
	return rc;
}
