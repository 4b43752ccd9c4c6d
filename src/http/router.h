/* router.h — the route table and path matching.
 *
 * Patterns are literal segments plus {id} (a positive decimal integer up to
 * 2^63-1; the first goes to r->id, a second to r->id2) and {param} (one non-empty
 * segment, optionally restricted to a list of words). Pure; loop thread. */
#ifndef INTERVENE_HTTP_ROUTER_H
#define INTERVENE_HTTP_ROUTER_H

#include <stdbool.h>
#include <stdint.h>

#include "core/auth.h"
#include "http/request.h"
#include "store/pool.h"

struct route {
	enum http_method method;
	const char *pattern;	   /* also the metrics label */
	const char *const *words;  /* allowed values of {param}, or NULL */
	const char *const *params; /* accepted query parameters (NULL-terminated); any
				      * other is refused with 400. NULL: none accepted */
	enum role min_role;	   /* ROLE_NONE: public */
	enum job_kind kind;	   /* where run() executes */
	/* Loop thread, no storage: check the request and build r->ctx. Return 0 to
	 * go on to run(), non-zero when the reply is complete (an error, or an
	 * answer that needs no storage) — or, with r->deferred set, when other work
	 * took r over and will answer it (server_test_tracker). NULL: nothing to check. */
	int (*prepare)(struct http_req *r);
	/* A store thread: do the work and fill the reply. For write jobs a negative
	 * return rolls back the request's changes. NULL: prepare() always answers. */
	int (*run)(struct http_req *r, struct store_conn *c);
	bool empty_body_ok;  /* POST/PUT/PATCH: an empty body means {} */
	bool ndjson_ok;	     /* application/x-ndjson is accepted */
	bool idempotent_key; /* honours Idempotency-Key */
	bool auth_changed;   /* a success changes tokens/sessions: reload the auth
				      * cache before replying, so the change holds at once */
	bool metrics;	     /* public when server.metrics_public */
	bool token_query;    /* a token may come as ?token= (the event stream: EventSource
			      * cannot send headers); never logged */
	bool any_query;	     /* every query parameter is accepted (the dashboard's pages:
			      * the query is the app's) */
	/* Loop thread, after run() and its commit succeeded, before the reply is sent:
	 * count what the request did (metrics). NULL: nothing. */
	void (*finish)(struct http_req *r);
};

struct route_match {
	const struct route *route;
	int64_t id, id2;
	char *param;	  /* malloc'd or NULL */
	unsigned allowed; /* methods the path allows (for 405) */
};

/* Match path (without query) and method against table[0..n). Returns 0 with m
 * filled, ERR_NOTFOUND when no pattern matches the path, ERR_METHOD when the path
 * matches but not with this method (m->allowed says which). */
int router_match(const struct route *table, size_t n, const char *path, enum http_method method,
		 struct route_match *m);

/* "GET", "POST", ... */
const char *router_method_name(enum http_method m);

#endif
