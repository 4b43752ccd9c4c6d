/* reply.c — JSON replies and the one mapping from error codes to HTTP statuses. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "http/request.h"
#include "util/json.h"
#include "util/log.h"
#include "util/utf8.h"

int reply_status_of(int code)
{
	switch (code) {
	case ERR_OK: return 200;
	case ERR_INVALID: return 400;
	case ERR_JSON: return 400;
	case ERR_UNAUTHORIZED: return 401;
	case ERR_FORBIDDEN: return 403;
	case ERR_APPROVAL: return 403;
	case ERR_FULL: return 503;
	case ERR_NOTFOUND: return 404;
	case ERR_METHOD: return 405;
	case ERR_CONFLICT: return 409;
	case ERR_TOOLARGE: return 413;
	case ERR_MEDIA: return 415;
	case ERR_RATELIMIT: return 429;
	case ERR_IO:
	case ERR_BUSY: return 503;
	case ERR_UPSTREAM: return 502;
	default: return 500;
	}
}

const char *req_query(const struct http_req *r, const char *key)
{
	for (size_t i = 0; i < r->n_query; i++)
		if (!strcmp(r->query[i].key, key))
			return r->query[i].value;
	return NULL;
}

/* The reply when building the real one failed: fixed text, always valid. */
static void reply_internal(struct http_req *r, const char *why)
{
	log_error("internal error building a reply", "request_id=%s why=\"%s\"", r->request_id,
		  why);
	r->status = 500;
	buf_reset(&r->reply);
	buf_puts(&r->reply, "{\"error\":{\"code\":\"internal\",\"details\":{},\"message\":"
			    "\"internal error while building the reply\"}}");
}

void req_reply_json(struct http_req *r, int status, json_t *json)
{
	if (!json) {
		reply_internal(r, "no JSON value to send");
		return;
	}
	r->status = status;
	buf_reset(&r->reply);
	json_canon_buf(json, &r->reply);
	json_decref(json);
}

void req_reply_err(struct http_req *r, const struct err *e)
{
	/* An error without a code is a bug, never a success: it answers 500. */
	int code = e->code ? e->code : ERR_INTERNAL;
	if (!e->code)
		log_error("an error reply without an error code", "request_id=%s msg=\"%s\"",
			  r->request_id, e->msg);
	int status = reply_status_of(code);
	json_t *details = json_object();
	if (e->field[0])
		json_object_set_new(details, "field", jstr(e->field));
	if (e->index >= 0)
		json_object_set_new(details, "index", json_integer(e->index));
	if (e->incident_id)
		json_object_set_new(details, "incident_id", json_integer(e->incident_id));
	const char *name = status == 500 ? "internal" : err_code_name(code);
	/* Messages may quote what the client sent: jstr repairs anything that is not
	 * UTF-8, so the reply is always valid JSON. */
	json_t *body = jpack("{s{ss so so}}", "error", "code", name, "message",
			     jstr(e->msg[0] ? e->msg : name), "details", details);
	req_reply_json(r, status, body);
}

void req_reply_error(struct http_req *r, int code, const char *fmt, ...)
{
	struct err e;
	err_clear(&e);
	e.code = code;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(e.msg, sizeof e.msg, fmt, ap);
	va_end(ap);
	req_reply_err(r, &e);
}
