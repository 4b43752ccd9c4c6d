/* server.c — the request pipeline on the loop thread and its hand-off to the store
 * threads (DESIGN §1).
 *
 * A request passes these phases in order; each lets it go on or answers it:
 *
 *   on_head — the head arrived, not one body byte has been read (http/conn.c):
 *     parse         method, path and query (decoded, UTF-8 and NUL checked)
 *     route         the route table (404, 405 with Allow)
 *     query         only the parameters the route declares
 *     authenticate  token, session cookie or mode none; the route's role (http/authn.c)
 *     origin        unsafe requests from another origin refused (http/authn.c)
 *     admit         Content-Type, and the body's length against the caller's limit
 *   on_body — the body arrived whole:
 *     body          strict JSON (or NDJSON text for routes that take it)
 *     idempotency   Idempotency-Key for routes that honour it (http/idempotency.c)
 *     prepare       the route's own validation (loop thread, no storage)
 *     submit        the job goes to a store thread (store/pool.h)
 *
 * The job runs on a store thread (job_run); its done() posts it back to the loop
 * (http/loopq.h), where on_completed runs the route's finish() hook and send_reply()
 * answers and frees it. */
#include "http/server.h"

#include <errno.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/thread.h>
#include <event2/util.h>
#include <netdb.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include "actions/executor.h"
#include "core/auth.h"
#include "http/auth_refresh.h"
#include "http/authn.h"
#include "http/conn.h"
#include "http/housekeeping.h"
#include "http/idempotency.h"
#include "http/loopq.h"
#include "http/metrics.h"
#include "http/sse.h"
#include "tracker/delivery.h"
#include "util/json.h"
#include "util/log.h"
#include "util/time.h"
#include "util/utf8.h"
#include "watcher/watcher.h"

/* Bodies of requests that carry no credentials (public routes such as sign-in) are
 * small: nobody may make the server buffer much without authenticating first. */
#define PUBLIC_BODY_MAX	 16384
#define QUERY_PARAMS_MAX 64
#define STOP_GRACE_S	 10

struct server {
	const struct config *cfg;
	struct store *store;
	struct store_pool *pool;
	const struct route *routes;
	size_t n_routes;

	struct event_base *base;
	struct conn_server *cs;
	struct loopq *q;
	struct event *sigterm, *sigint, *sighup, *stop_timer;

	/* Loop-thread state. */
	struct metrics *metrics;
	struct auth_refresh *auth;
	struct authn *authn;
	struct housekeeping *hk;
	/* The delivery threads; set once they run, read by the pool's commit hook on the
	 * writer thread. */
	_Atomic(struct delivery *) delivery;
	struct watcher *watcher;   /* set before the loop runs */
	struct executor *executor; /* set before the loop runs */
	struct sse_hub *sse;	   /* loop thread; set before the loop runs */
	atomic_bool sse_ready;	   /* sse is set: the writer's commit hook may wake it */
	bool stopping;
	uint64_t req_counter;
	char req_prefix[9];
};

struct completed {
	struct loop_task task;
	struct http_req *req;
	bool committed;
};

struct store *server_store(struct server *srv)
{
	return srv->store;
}

struct metrics *server_metrics(struct server *srv)
{
	struct metrics_conn mc = {
		.open = conn_server_count(srv->cs),
		.buffered = conn_server_buffered(srv->cs),
		.refused = conn_server_refused(srv->cs),
	};
	metrics_set_conn(srv->metrics, &mc);
	return srv->metrics;
}

void server_session_added(struct server *srv, const char *sid, const char *token_name,
			  enum role role, int64_t expires_at)
{
	auth_refresh_session_added(srv->auth, sid, token_name, role, expires_at);
}

void server_session_removed(struct server *srv, const char *sid)
{
	auth_refresh_session_removed(srv->auth, sid);
}

int server_healthy(struct server *srv, struct err *e)
{
	if (store_pool_healthy(srv->pool))
		return err_set(e, ERR_IO, "the last commit failed");
	int rc = delivery_healthy(atomic_load(&srv->delivery), e);
	if (!rc)
		rc = watcher_healthy(srv->watcher, e);
	return rc ? rc : executor_healthy(srv->executor, e);
}

/* ---- requests ---- */

static struct http_req *req_new(struct server *srv, struct conn *c)
{
	struct http_req *r = xcalloc(1, sizeof *r);
	r->srv = srv;
	r->cfg = srv->cfg;
	r->conn = c;
	r->started_mono_ms = time_mono_ms();
	err_clear(&r->error);
	snprintf(r->request_id, sizeof r->request_id, "%s-%llu", srv->req_prefix,
		 (unsigned long long)++srv->req_counter);
	return r;
}

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
	free(r->allow);
	free(r->headers);
	http_head_free(&r->head);
	buf_free(&r->reply);
	free(r);
}

/* The one place a request is answered: every reply, every error, is built, logged,
 * counted and sent here. */
static void send_reply(struct server *srv, struct http_req *r)
{
	if (r->status == 0 || (r->status >= 400 && r->reply.len == 0 && r->error.code == 0)) {
		/* A handler that answered nothing, or an error without its error: a bug. The
		 * client gets a 500, never a 2xx; the log says which route. */
		log_error("request produced no valid reply", "request_id=%s route=\"%s\" status=%d",
			  r->request_id, r->route ? r->route->pattern : "unmatched", r->status);
		buf_reset(&r->reply);
		req_reply_error(r, ERR_INTERNAL, "internal error: the request produced no reply");
	}
	if (r->status >= 400 && r->reply.len == 0)
		req_reply_err(r, &r->error);
	struct buf hdr = BUF_INIT;
	buf_printf(&hdr, "X-Request-Id: %s\r\n%s", r->request_id,
		   r->headers ? r->headers : "Cache-Control: no-store\r\n");
	if (r->set_cookie)
		buf_printf(&hdr, "Set-Cookie: %s\r\n", r->set_cookie);
	if (r->allow)
		buf_printf(&hdr, "Allow: %s\r\n", r->allow);
	/* One logfmt line per request: the route pattern, never the raw path or query,
	 * which may carry a token. */
	double ms = (double)(time_mono_ms() - r->started_mono_ms);
	log_msg(r->status >= 500 ? LOG_ERROR : LOG_INFO, "request",
		"request_id=%s method=%s route=\"%s\" status=%d ms=%.0f actor=\"%s\"",
		r->request_id, r->method ? router_method_name(r->method) : "-",
		r->route ? r->route->pattern : "unmatched", r->status, ms,
		r->actor[0] ? r->actor : "-");
	metrics_http(srv->metrics, r->route, r->status, ms / 1000.0);
	size_t len = r->reply.len;
	struct http_response resp = {
		.status = r->status,
		.content_type = r->reply_type,
		.headers = buf_cstr(&hdr),
		.body = len ? buf_steal(&r->reply) : NULL,
		.body_len = len,
		.head_only = r->method == M_HEAD,
		.close = r->status >= 500 && r->route == NULL,
	};
	conn_respond(r->conn, &resp);
	buf_free(&hdr);
	req_free(r);
}

/* A subscription to the event stream: the hub takes the connection over, and the
 * request is logged and counted now (its status is the stream's 200). */
static void begin_stream(struct server *srv, struct http_req *r)
{
	double ms = (double)(time_mono_ms() - r->started_mono_ms);
	log_msg(LOG_INFO, "request",
		"request_id=%s method=%s route=\"%s\" status=200 ms=%.0f actor=\"%s\" stream=sse",
		r->request_id, router_method_name(r->method), r->route->pattern, ms,
		r->actor[0] ? r->actor : "-");
	metrics_http(srv->metrics, r->route, 200, ms / 1000.0);
	sse_subscribe(srv->sse, r->conn, r->ctx, r->request_id);
	req_free(r);
}

bool server_sse_full(struct server *srv)
{
	return srv->sse == NULL || sse_hub_full(srv->sse);
}

size_t server_sse_subscribers(struct server *srv)
{
	return sse_hub_subscribers(srv->sse);
}

/* ---- phases of the head ---- */

static int fail_field(struct http_req *r, const char *field, const char *fmt, const char *value)
{
	struct err e;
	err_clear(&e);
	err_field(&e, ERR_INVALID, field, fmt, value);
	req_reply_err(r, &e);
	return 1;
}

static enum http_method method_of(const char *m)
{
	static const struct {
		const char *name;
		enum http_method m;
	} methods[] = {{"GET", M_GET},	      {"POST", M_POST},	    {"PUT", M_PUT},
		       {"PATCH", M_PATCH},    {"DELETE", M_DELETE}, {"HEAD", M_HEAD},
		       {"OPTIONS", M_OPTIONS}};
	for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++)
		if (!strcmp(m, methods[i].name))
			return methods[i].m;
	return 0;
}

/* Text a query value may hold: valid UTF-8, no NUL or other control characters. */
static bool clean_text(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return false;
	return utf8_valid(s, n);
}

static int parse_query(struct http_req *r, const char *q)
{
	size_t cap = 0;
	for (const char *p = q; p && *p;) {
		const char *amp = strchr(p, '&');
		size_t n = amp ? (size_t)(amp - p) : strlen(p);
		if (n) {
			const char *eq = memchr(p, '=', n);
			size_t kn = eq ? (size_t)(eq - p) : n;
			size_t klen = 0, vlen = 0;
			char *k = http_decode_component(p, kn, &klen);
			char *v =
				eq ? http_decode_component(eq + 1, n - kn - 1, &vlen) : xstrdup("");
			if (!k || !clean_text(k, klen) || klen == 0) {
				free(k);
				free(v);
				return fail_field(r, "query", "%s",
						  "the query has a malformed parameter name");
			}
			if (!v || !clean_text(v, vlen)) {
				free(v);
				int rc = fail_field(r, k,
						    "query parameter %s: the value must be "
						    "percent-encoded UTF-8 text without control "
						    "characters",
						    k);
				free(k);
				return rc;
			}
			if (r->n_query == QUERY_PARAMS_MAX) {
				free(k);
				free(v);
				return fail_field(r, "query", "at most %s query parameters", "64");
			}
			if (r->n_query == cap) {
				cap = cap ? cap * 2 : 8;
				r->query = xrealloc(r->query, cap * sizeof *r->query);
			}
			r->query[r->n_query].key = k;
			r->query[r->n_query].value = v;
			r->n_query++;
		}
		p = amp ? amp + 1 : NULL;
	}
	return 0;
}

static int phase_parse(struct http_req *r)
{
	r->method = method_of(r->head.method);
	const char *t = r->head.target;
	/* absolute-form (RFC 9112 §3.2.2): keep the path and query. */
	if (!strncasecmp(t, "http://", 7) || !strncasecmp(t, "https://", 8)) {
		const char *slash = strchr(strstr(t, "://") + 3, '/');
		t = slash ? slash : "/";
	}
	if (*t != '/') {
		r->path = xstrdup("/");
		return fail_field(r, "path", "%s", "the request target must be a path");
	}
	const char *qm = strchr(t, '?');
	const char *hash = strchr(t, '#');
	if (hash && (!qm || hash < qm))
		qm = hash;
	r->path = qm ? xstrndup(t, (size_t)(qm - t)) : xstrdup(t);
	if (!r->method) {
		req_reply_error(r, ERR_METHOD, "method %.16s is not allowed", r->head.method);
		r->allow = xstrdup("GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS");
		return 1;
	}
	if (hash)
		return fail_field(r, "path", "%s", "a request target carries no fragment");
	return parse_query(r, qm && *qm == '?' ? qm + 1 : NULL);
}

static int phase_route(struct server *srv, struct http_req *r)
{
	struct route_match m;
	enum http_method lookup = r->method == M_HEAD ? M_GET : r->method;
	int rc = router_match(srv->routes, srv->n_routes, r->path, lookup, &m);
	if (rc == ERR_NOTFOUND) {
		req_reply_error(r, ERR_NOTFOUND, "no route for this path");
		return 1;
	}
	if (rc == ERR_METHOD) {
		struct buf allow = BUF_INIT;
		for (unsigned b = 1; b <= M_OPTIONS; b <<= 1)
			if (m.allowed & b)
				buf_printf(&allow, "%s%s", allow.len ? ", " : "",
					   router_method_name((enum http_method)b));
		req_reply_error(r, ERR_METHOD, "%s is not allowed here; allowed: %s",
				router_method_name(r->method), buf_cstr(&allow));
		r->allow = buf_steal(&allow);
		return 1;
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
	return 0;
}

static int phase_query(struct http_req *r)
{
	for (size_t i = 0; i < r->n_query && !r->route->any_query; i++) {
		bool known = false;
		for (const char *const *p = r->route->params; p && *p && !known; p++)
			known = !strcmp(*p, r->query[i].key);
		if (!known) {
			struct err e;
			err_clear(&e);
			size_t n = strlen(r->query[i].key);
			err_field(&e, ERR_INVALID, r->query[i].key, "unknown query parameter %.*s",
				  (int)utf8_cut(r->query[i].key, n, 64), r->query[i].key);
			req_reply_err(r, &e);
			return 1;
		}
	}
	return 0;
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

static bool has_body(const struct http_head *h)
{
	return h->chunked || h->content_length > 0;
}

/* What the body may be, decided before reading it. Returns 0 with *max set. */
static int phase_admit(struct server *srv, struct http_req *r, size_t *max)
{
	const struct route *rt = r->route;
	bool authenticated = r->role != ROLE_NONE;
	*max = authenticated ? (size_t)srv->cfg->server.max_body_bytes : PUBLIC_BODY_MAX;
	if (r->method != M_POST && r->method != M_PUT && r->method != M_PATCH)
		return 0; /* a body here has no meaning; it is read and dropped */
	if (!has_body(&r->head))
		return 0;
	if (!r->head.chunked && r->head.content_length > (int64_t)*max) {
		req_reply_error(r, ERR_TOOLARGE, "the body is %lld bytes; the limit is %zu",
				(long long)r->head.content_length, *max);
		return 1;
	}
	const char *ct = http_head_get(&r->head, "Content-Type");
	if (!ct || !(content_type_is(ct, "application/json") ||
		     (rt->ndjson_ok && content_type_is(ct, "application/x-ndjson")))) {
		req_reply_error(r, ERR_MEDIA, "Content-Type must be application/json%s",
				rt->ndjson_ok ? " or application/x-ndjson" : "");
		return 1;
	}
	r->content_type = xstrdup(ct);
	return 0;
}

/* ---- phases of the body ---- */

static int phase_body(struct http_req *r, char *body, size_t len)
{
	const struct route *rt = r->route;
	if (r->method != M_POST && r->method != M_PUT && r->method != M_PATCH)
		return 0;
	if (len == 0) {
		if (rt->empty_body_ok) {
			r->body = json_object();
			return 0;
		}
		req_reply_error(r, ERR_JSON, "a JSON body is required");
		return 1;
	}
	if (rt->ndjson_ok && content_type_is(r->content_type, "application/x-ndjson")) {
		if (!utf8_valid(body, len) || memchr(body, '\0', len)) {
			req_reply_error(r, ERR_JSON, "the NDJSON body is not UTF-8 text");
			return 1;
		}
		/* Kept as text in a JSON string; the route splits the lines. */
		r->body = json_stringn_nocheck(body, len);
		r->body_ndjson = true;
		return 0;
	}
	struct err e;
	err_clear(&e);
	r->body = json_parse_strict(body, len, &e);
	if (!r->body) {
		req_reply_err(r, &e);
		return 1;
	}
	return 0;
}

/* ---- the store side ---- */

static int job_run(struct job *j, struct store_conn *c)
{
	struct http_req *r = (struct http_req *)j;
	int rc = r->idempotency_key ? idem_run(r, c) : r->route->run(r, c);
	if (rc < 0 && r->status < 400)
		req_reply_error(r, rc, "request failed");
	return rc;
}

static void send_after_reload(void *arg)
{
	struct http_req *r = arg;
	send_reply(r->srv, r);
}

static void drop_request(void *arg)
{
	req_free(arg);
}

static void on_completed(struct loop_task *t)
{
	struct completed *c = (struct completed *)t;
	struct http_req *r = c->req;
	struct server *srv = r->srv;
	bool ok = c->committed && r->status < 400;
	free(c);
	if (ok && r->route->finish)
		r->route->finish(r);
	if (r->deferred)
		return; /* the finish hook handed r to work that answers it later */
	if (ok && r->route->auth_changed && !srv->stopping) {
		auth_refresh_reload(srv->auth, send_after_reload, drop_request, r);
		return;
	}
	send_reply(srv, r);
}

static void discard_completed(struct loop_task *t)
{
	struct completed *c = (struct completed *)t;
	req_free(c->req);
	free(c);
}

static void job_done(struct job *j, int commit_rc, const struct err *commit_err)
{
	struct http_req *r = (struct http_req *)j;
	if (commit_rc) {
		/* The job's changes are gone: whatever it answered must not be sent. */
		buf_reset(&r->reply);
		free(r->set_cookie);
		r->set_cookie = NULL;
		req_reply_error(r, ERR_IO, "storage unavailable: %s",
				commit_err && commit_err->msg[0] ? commit_err->msg
								 : "commit failed");
	}
	struct completed *c = xcalloc(1, sizeof *c);
	c->task.fn = on_completed;
	c->task.discard = discard_completed;
	c->req = r;
	c->committed = commit_rc == 0;
	loopq_post(r->srv->q, &c->task);
}

/* ---- the pipeline ---- */

static void on_head(void *arg, struct conn *c, struct http_head *head)
{
	struct server *srv = arg;
	struct http_req *r = req_new(srv, c);
	r->head = *head;
	memset(head, 0, sizeof *head);
	size_t body_max = 0;
	if (srv->stopping) {
		req_reply_error(r, ERR_IO, "the server is shutting down");
		goto reply;
	}
	if (phase_parse(r) || phase_route(srv, r) || phase_query(r) ||
	    authn_authenticate(srv->authn, auth_refresh_cache(srv->auth), r, &r->head) ||
	    authn_check_origin(srv->authn, r, &r->head) || phase_admit(srv, r, &body_max))
		goto reply;
	conn_set_data(c, r);
	conn_read_body(c, body_max);
	return;
reply:
	send_reply(srv, r);
}

static void on_body(void *arg, struct conn *c, char *body, size_t len)
{
	struct server *srv = arg;
	struct http_req *r = conn_data(c);
	conn_set_data(c, NULL);
	int stop = phase_body(r, body, len);
	free(body);
	if (stop || idem_prepare(r, &r->head) || (r->route->prepare && r->route->prepare(r)) ||
	    !r->route->run) {
		if (r->stream)
			begin_stream(srv, r);
		else if (!r->deferred)
			send_reply(srv, r);
		return;
	}
	r->job.kind = r->route->kind;
	r->job.run = job_run;
	r->job.done = job_done;
	store_pool_submit(srv->pool, &r->job);
}

static void on_conn_error(void *arg, struct conn *c, int status, const struct err *e)
{
	struct server *srv = arg;
	struct http_req *r = conn_data(c);
	conn_set_data(c, NULL);
	if (status == 408 || status == 503) {
		/* Slow or overloaded: close without a reply (allowed before routing, SPEC §5),
		 * so a trickling client gets nothing to wait for. */
		log_warn(status == 408 ? "request timed out" : "request refused: buffers full",
			 "peer=%s status=%d", conn_peer(c), status);
		req_free(r);
		conn_abort(c);
		return;
	}
	if (!r)
		r = req_new(srv, c);
	buf_reset(&r->reply);
	struct err ce = *e;
	ce.code = status == 413 ? ERR_TOOLARGE : ERR_INVALID;
	req_reply_err(r, &ce);
	r->status = status;
	send_reply(srv, r);
}

/* ---- work answered from other threads ---- */

struct tracker_test {
	struct loop_task task;
	struct http_req *req;
	json_t *result;
};

static void tracker_test_apply(struct loop_task *t)
{
	struct tracker_test *tt = (struct tracker_test *)t;
	req_reply_json(tt->req, 200, tt->result);
	send_reply(tt->req->srv, tt->req);
	free(tt);
}

static void tracker_test_discard(struct loop_task *t)
{
	struct tracker_test *tt = (struct tracker_test *)t;
	json_decref(tt->result);
	req_free(tt->req);
	free(tt);
}

/* On the tester's thread: hand the result to the loop. */
static void tracker_test_done(void *arg, json_t *result)
{
	struct http_req *r = arg;
	struct tracker_test *tt = xcalloc(1, sizeof *tt);
	tt->task.fn = tracker_test_apply;
	tt->task.discard = tracker_test_discard;
	tt->req = r;
	tt->result = result;
	loopq_post(r->srv->q, &tt->task);
}

void server_test_tracker(struct http_req *r)
{
	r->deferred = true;
	delivery_test_tracker(atomic_load(&r->srv->delivery), tracker_test_done, r);
}

void server_delivery_metrics(struct server *srv, struct buf *out)
{
	delivery_render_metrics(atomic_load(&srv->delivery), out);
	watcher_render_metrics(srv->watcher, out);
	executor_render_metrics(srv->executor, out);
	buf_printf(out,
		   "# HELP intervene_sse_subscribers Clients of the event stream now.\n"
		   "# TYPE intervene_sse_subscribers gauge\nintervene_sse_subscribers %zu\n",
		   sse_hub_subscribers(srv->sse));
}

/* ---- playbook actions ---- */

struct executor *server_executor(struct server *srv)
{
	return srv->executor;
}

struct action_reply {
	struct loop_task task;
	struct http_req *req;
	json_t *action;
};

static void action_reply_apply(struct loop_task *t)
{
	struct action_reply *ar = (struct action_reply *)t;
	struct http_req *r = ar->req;
	if (ar->action) {
		buf_reset(&r->reply);
		req_reply_json(r, 200, jpack("{sO}", "action", ar->action));
	}
	json_decref(ar->action);
	free(ar);
	send_reply(r->srv, r);
}

static void action_reply_discard(struct loop_task *t)
{
	struct action_reply *ar = (struct action_reply *)t;
	json_decref(ar->action);
	req_free(ar->req);
	free(ar);
}

/* On an executor thread: the action ended (action) or the wait passed (NULL). */
static void action_waited(void *arg, json_t *action)
{
	struct http_req *r = arg;
	struct action_reply *ar = xcalloc(1, sizeof *ar);
	ar->task.fn = action_reply_apply;
	ar->task.discard = action_reply_discard;
	ar->req = r;
	ar->action = action;
	loopq_post(r->srv->q, &ar->task);
}

void server_wait_action(struct http_req *r, int64_t id, int64_t wait_ms)
{
	r->deferred = true;
	executor_wait(r->srv->executor, id, wait_ms, action_waited, r);
}

/* ---- the watcher ---- */

struct watcher_counts {
	struct loop_task task;
	struct server *srv;
	char kind[16], outcome[16];
	int64_t n;
};

static void watcher_counts_apply(struct loop_task *t)
{
	struct watcher_counts *wc = (struct watcher_counts *)t;
	for (int64_t i = 0; i < wc->n; i++)
		metrics_signal(wc->srv->metrics, wc->kind, wc->outcome);
	free(wc);
}

static void watcher_counts_discard(struct loop_task *t)
{
	free(t);
}

/* On the watcher thread: the signals of a cycle reach the loop's counters. */
static void watcher_signal(void *arg, const char *kind, const char *outcome, int64_t n)
{
	struct server *srv = arg;
	struct watcher_counts *wc = xcalloc(1, sizeof *wc);
	wc->task.fn = watcher_counts_apply;
	wc->task.discard = watcher_counts_discard;
	wc->srv = srv;
	snprintf(wc->kind, sizeof wc->kind, "%s", kind);
	snprintf(wc->outcome, sizeof wc->outcome, "%s", outcome);
	wc->n = n;
	loopq_post(srv->q, &wc->task);
}

struct watcher_reply {
	struct loop_task task;
	struct http_req *req;
	json_t *result;
};

static void watcher_reply_apply(struct loop_task *t)
{
	struct watcher_reply *wr = (struct watcher_reply *)t;
	if (wr->result)
		req_reply_json(wr->req, 200, wr->result);
	else
		req_reply_error(wr->req, ERR_IO, "the server is shutting down");
	send_reply(wr->req->srv, wr->req);
	free(wr);
}

static void watcher_reply_discard(struct loop_task *t)
{
	struct watcher_reply *wr = (struct watcher_reply *)t;
	json_decref(wr->result);
	req_free(wr->req);
	free(wr);
}

/* On the watcher thread: the cycle ran; answer on the loop. */
static void watcher_done(void *arg, json_t *result)
{
	struct http_req *r = arg;
	struct watcher_reply *wr = xcalloc(1, sizeof *wr);
	wr->task.fn = watcher_reply_apply;
	wr->task.discard = watcher_reply_discard;
	wr->req = r;
	wr->result = result;
	loopq_post(r->srv->q, &wr->task);
}

void server_run_watcher(struct http_req *r)
{
	r->deferred = true;
	watcher_run_now(r->srv->watcher, watcher_done, r);
}

/* On the writer thread, after a commit that gave rows to deliver. */
static void on_commit(void *arg, uint32_t due_targets)
{
	struct server *srv = arg;
	delivery_wake(atomic_load(&srv->delivery), due_targets);
	sse_hub_notify(atomic_load(&srv->sse_ready) ? srv->sse : NULL);
}

/* ---- start and stop ---- */

static void on_drained(void *arg)
{
	struct server *srv = arg;
	event_base_loopexit(srv->base, NULL);
}

static void begin_stop(struct server *srv, const char *why)
{
	if (srv->stopping)
		return;
	srv->stopping = true;
	log_info("stopping", "reason=%s", why);
	auth_refresh_stop(srv->auth);
	housekeeping_stop(srv->hk);
	/* Requests in flight get up to STOP_GRACE_S; then the loop ends regardless. */
	struct timeval tv = {STOP_GRACE_S, 0};
	evtimer_add(srv->stop_timer, &tv);
	sse_hub_stop(srv->sse); /* every stream ends after what was queued for it */
	conn_server_stop(srv->cs);
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct server *srv = arg;
	(void)what;
	if (sig == SIGHUP) {
		/* The hook for configuration reload; until it exists, say so rather than die
		 * (the default action) without a final checkpoint. */
		log_warn("SIGHUP received: configuration reload is not supported yet; restart to "
			 "apply changes",
			 NULL);
		return;
	}
	begin_stop(srv, sig == SIGINT ? "SIGINT" : "SIGTERM");
}

static void on_stop_timer(evutil_socket_t fd, short what, void *arg)
{
	struct server *srv = arg;
	(void)fd;
	(void)what;
	log_warn("stop timeout; closing with requests in flight", NULL);
	event_base_loopexit(srv->base, NULL);
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

/* The bytes the server may buffer across all connections: enough for many full-size
 * bodies at once, bounded so a crowd of uploads cannot exhaust memory. */
static size_t buffer_cap(const struct config *cfg)
{
	size_t cap = (size_t)cfg->server.max_body_bytes * 16;
	return cap < 64u << 20 ? 64u << 20 : cap;
}

static struct event *new_signal(struct server *srv, int sig)
{
	struct event *ev = evsignal_new(srv->base, sig, on_signal, srv);
	if (ev && event_add(ev, NULL)) {
		event_free(ev);
		ev = NULL;
	}
	return ev;
}

int server_run(const struct config *cfg, struct store *s, const struct route *routes,
	       size_t n_routes, struct err *e)
{
	struct server *srv = xcalloc(1, sizeof *srv);
	struct auth_cache *initial = NULL;
	int rc = 0;
	srv->cfg = cfg;
	srv->store = s;
	srv->routes = routes;
	srv->n_routes = n_routes;
	unsigned char rnd[4];
	evutil_secure_rng_get_bytes(rnd, sizeof rnd);
	snprintf(srv->req_prefix, sizeof srv->req_prefix, "%02x%02x%02x%02x", rnd[0], rnd[1],
		 rnd[2], rnd[3]);
	raise_nofile();
	srv->metrics = metrics_new(routes, n_routes);

	if ((rc = store_pool_start(s, 2, on_commit, srv, &srv->pool, e)))
		goto out;
	{
		struct delivery *d = NULL;
		if ((rc = delivery_start(cfg, srv->pool, &d, e)))
			goto out;
		atomic_store(&srv->delivery, d);
	}
	{
		struct store_conn *c = NULL;
		if (!(rc = store_connect(s, true, &c, e)))
			rc = auth_cache_load(c, &initial, e);
		store_disconnect(c);
		if (rc)
			goto out;
	}
	srv->base = event_base_new();
	if (!srv->base || !(srv->q = loopq_new(srv->base))) {
		rc = err_set(e, ERR_IO, "cannot create the event loop");
		goto out;
	}
	srv->auth = auth_refresh_new(srv->base, srv->pool, srv->q, srv->metrics, initial);
	if (!srv->auth) {
		rc = err_set(e, ERR_IO, "cannot create the token refresh timer");
		goto out;
	}
	initial = NULL;
	/* after the loop queue: a cycle's counts are posted to it */
	{
		struct watcher_hooks hooks = {.signal = watcher_signal, .arg = srv};
		if ((rc = watcher_start(cfg, srv->pool, &hooks, &srv->watcher, e)))
			goto out;
	}
	if ((rc = executor_start(cfg, srv->pool, &srv->executor, e)))
		goto out;
	if (!(srv->sse = sse_hub_new(srv->base, srv->pool, srv->q, cfg, e))) {
		rc = e->code ? e->code : ERR_IO;
		goto out;
	}
	atomic_store(&srv->sse_ready, true);

	struct sockaddr_storage ss;
	int sslen;
	if ((rc = resolve_listen(cfg->server.listen, &ss, &sslen, e)))
		goto out;
	struct conn_limits lim = {
		.read_timeout_ms = cfg->server.read_timeout_ms,
		.max_connections = cfg->server.max_connections,
		.max_buffered = buffer_cap(cfg),
	};
	struct conn_handler h = {
		.on_head = on_head,
		.on_body = on_body,
		.on_error = on_conn_error,
		.on_drained = on_drained,
		.arg = srv,
	};
	if ((rc = conn_server_start(srv->base, (struct sockaddr *)&ss, sslen, &lim, &h, &srv->cs,
				    e))) {
		err_set(e, ERR_IO, "cannot listen on %s: %s", cfg->server.listen, e->msg);
		goto out;
	}
	if (!(srv->hk = housekeeping_new(srv->base, srv->pool, srv->q, cfg))) {
		rc = err_set(e, ERR_IO, "cannot create the housekeeping timers");
		goto out;
	}
	char addr[80];
	conn_server_address(srv->cs, addr, sizeof addr);
	srv->authn = authn_new(cfg, addr);

	srv->sigterm = new_signal(srv, SIGTERM);
	srv->sigint = new_signal(srv, SIGINT);
	srv->sighup = new_signal(srv, SIGHUP);
	srv->stop_timer = evtimer_new(srv->base, on_stop_timer, srv);
	if (!srv->sigterm || !srv->sigint || !srv->sighup || !srv->stop_timer) {
		rc = err_set(e, ERR_IO, "cannot install signal handlers");
		goto out;
	}
	log_info("listening", "addr=%s max_connections=%lld", addr,
		 (long long)cfg->server.max_connections);
	event_base_dispatch(srv->base);
	log_info("stopped", "requests=%llu", (unsigned long long)srv->req_counter);
out:
	/* Stop the store threads first: their completions still target the loop queue. */
	auth_refresh_stop(srv->auth);
	housekeeping_stop(srv->hk);
	/* Delivery threads use the pool: they stop first (a call in flight is abandoned;
	 * an uncertain create is resolved at the next start). */
	delivery_stop(atomic_load(&srv->delivery));
	watcher_stop(srv->watcher);
	/* Running actions are stopped and recorded through the pool. */
	executor_stop(srv->executor);
	store_pool_stop(srv->pool);
	srv->pool = NULL;
	loopq_free(srv->q);		      /* discards the completions that will never be sent */
	atomic_store(&srv->sse_ready, false); /* no writer left to wake it */
	sse_hub_free(srv->sse);
	conn_server_free(srv->cs);
	auth_refresh_free(srv->auth);
	housekeeping_free(srv->hk);
	delivery_free(atomic_load(&srv->delivery));
	watcher_free(srv->watcher);
	executor_free(srv->executor);
	auth_cache_free(initial);
	authn_free(srv->authn);
	if (srv->sigterm)
		event_free(srv->sigterm);
	if (srv->sigint)
		event_free(srv->sigint);
	if (srv->sighup)
		event_free(srv->sighup);
	if (srv->stop_timer)
		event_free(srv->stop_timer);
	if (srv->base)
		event_base_free(srv->base);
	metrics_free(srv->metrics);
	free(srv);
	return rc;
}
