/* request.h — one API request on its way from the loop thread to a store thread
 * and back.
 *
 * The loop thread creates it (parsed method, path parameters, query, JSON body,
 * authenticated actor), the route's prepare() validates it on the loop thread
 * without touching storage, run() executes on a store thread and fills the reply,
 * and the loop thread sends the reply and frees the request. `conn` and `head` are
 * touched only by the loop thread. */
#ifndef INTERVENE_HTTP_REQUEST_H
#define INTERVENE_HTTP_REQUEST_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "config/config.h"
#include "core/auth.h"
#include "http/parse.h"
#include "store/pool.h"
#include "util/buf.h"
#include "util/err.h"

struct route;
struct server;
struct conn;

enum http_method {
	M_GET = 1 << 0,
	M_POST = 1 << 1,
	M_PUT = 1 << 2,
	M_PATCH = 1 << 3,
	M_DELETE = 1 << 4,
	M_HEAD = 1 << 5,
	M_OPTIONS = 1 << 6,
};

struct query_kv {
	char *key, *value;
};

struct http_req {
	struct job job; /* first: the pool sees a struct job */
	struct server *srv;
	const struct config *cfg;
	struct conn *conn;     /* loop thread only */
	struct http_head head; /* loop thread only: the request's header fields */
	const struct route *route;
	enum http_method method;
	char *path;
	int64_t id;  /* the {id} path parameter, or 0 */
	int64_t id2; /* a second {id} parameter, or 0 */
	char *param; /* the {verb}/{name} path parameter, or NULL */
	struct query_kv *query;
	size_t n_query;
	json_t *body;	  /* parsed JSON body, or NULL when empty */
	bool body_ndjson; /* body is a JSON string holding NDJSON text (routes with ndjson_ok) */
	char *content_type;
	char *idempotency_key;
	char actor[AUTH_NAME_MAX + 1];
	enum role role;
	enum { VIA_NONE, VIA_TOKEN, VIA_COOKIE, VIA_LOCAL } via; /* how the actor was established */
	char *session_id; /* the cookie's session id when via == VIA_COOKIE */
	char request_id[40];
	int64_t started_mono_ms;

	void *ctx; /* route-private data built by prepare() */
	void (*ctx_free)(void *ctx);

	/* The reply, built by prepare() (when it answers at once) or run(). */
	int status;
	struct buf reply;
	const char *reply_type; /* Content-Type; NULL = application/json */
	char *set_cookie;	/* a Set-Cookie header value, or NULL */
	char *allow;		/* the Allow header of a 405, or NULL */
	char *headers;		/* more header lines, each ending in CRLF, or NULL; when set
				 * they replace the default Cache-Control: no-store (the
				 * dashboard's pages and assets: api/web.c) */
	bool deferred;		/* prepare() handed r to work that answers it later */
	bool stream;		/* prepare() made r a stream subscription (ctx: sse_params) */
	struct err error;	/* when status >= 400 and reply is empty */
};

/* First value of query parameter key, or NULL. */
const char *req_query(const struct http_req *r, const char *key);

/* Reply helpers (any thread that owns r). json is stolen. */
void req_reply_json(struct http_req *r, int status, json_t *json);
/* An error reply from an err: status from the code (http/reply.c mapping). */
void req_reply_err(struct http_req *r, const struct err *e);
/* An error reply with a code, message and optional field. */
void req_reply_error(struct http_req *r, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* The HTTP status of an error code. */
int reply_status_of(int code);

#endif
