/* stream.c — GET /api/sse/events (SPEC §6): the subscription's parameters are checked
 * here, on the loop thread, and the connection is handed to the event stream's hub
 * (http/sse.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "core/event.h"
#include "http/server.h"
#include "http/sse.h"

static void params_free(void *p)
{
	free(p);
}

/* A non-negative integer, or -1. */
static int64_t nonneg(const char *v)
{
	if (!v || !*v)
		return -1;
	char *end = NULL;
	errno = 0;
	long long n = strtoll(v, &end, 10);
	return *end || errno || n < 0 ? -1 : n;
}

int api_sse_prepare(struct http_req *r)
{
	struct err e;
	err_clear(&e);
	struct sse_params *p = xcalloc(1, sizeof *p);
	r->ctx = p;
	r->ctx_free = params_free;
	char **types = api_query_list(r, "types");
	for (char **t = types; t && *t; t++) {
		int i = event_type_index(*t);
		if (i < 0) {
			err_field(&e, ERR_INVALID, "types", "unknown event type %.64s", *t);
			api_strv_free(types);
			req_reply_err(r, &e);
			return 1;
		}
		p->types |= UINT64_C(1) << i;
	}
	if (types && !p->types) {
		api_strv_free(types);
		err_field(&e, ERR_INVALID, "types", "types must name at least one event type");
		req_reply_err(r, &e);
		return 1;
	}
	api_strv_free(types);
	if (api_query_int(r, "incident_id", 1, INT64_MAX, 0, &p->incident_id))
		return 1;
	/* The header wins: a browser that opened ?last_event_id=N reconnects to the same
	 * URL with the id it saw last in the header. */
	const char *last = http_head_get(&r->head, "Last-Event-ID");
	const char *field = "Last-Event-ID";
	if (!last) {
		last = req_query(r, "last_event_id");
		field = "last_event_id";
	}
	if (last) {
		p->last_event_id = nonneg(last);
		if (p->last_event_id < 0) {
			err_field(&e, ERR_INVALID, field,
				  "%s must be an event id (an integer >= 0)", field);
			req_reply_err(r, &e);
			return 1;
		}
		p->resume = true;
	}
	if (r->method == M_HEAD) {
		/* The head of the stream without the stream. */
		r->status = 200;
		r->reply_type = "text/event-stream; charset=utf-8";
		return 1;
	}
	if (server_sse_full(r->srv)) {
		err_set(&e, ERR_FULL,
			"the event stream has server.sse_max_clients subscribers; retry later");
		req_reply_err(r, &e);
		return 1;
	}
	r->stream = true;
	return 1;
}
