#include "util/err.h"

#include <stdio.h>
#include <string.h>

#include "util/utf8.h"

void err_clear(struct err *e)
{
	if (!e)
		return;
	e->code = 0;
	e->msg[0] = '\0';
	e->field[0] = '\0';
	e->index = -1;
	e->incident_id = 0;
}

static void vset(struct err *e, int code, const char *fmt, va_list ap)
{
	e->code = code;
	vsnprintf(e->msg, sizeof e->msg, fmt, ap);
	/* A message cut at the buffer's end must not end in half a character: it
	 * becomes a JSON string. */
	utf8_trim_partial(e->msg);
}

int err_set(struct err *e, int code, const char *fmt, ...)
{
	if (!e)
		return code;
	va_list ap;
	va_start(ap, fmt);
	vset(e, code, fmt, ap);
	va_end(ap);
	return code;
}

int err_field(struct err *e, int code, const char *field, const char *fmt, ...)
{
	if (!e)
		return code;
	va_list ap;
	va_start(ap, fmt);
	vset(e, code, fmt, ap);
	va_end(ap);
	snprintf(e->field, sizeof e->field, "%s", field ? field : "");
	utf8_trim_partial(e->field);
	return code;
}

const char *err_code_name(int code)
{
	switch (code) {
	case ERR_OK: return "ok";
	case ERR_NOMEM: return "internal";
	case ERR_INVALID: return "validation_failed";
	case ERR_NOTFOUND: return "not_found";
	case ERR_CONFLICT: return "conflict";
	case ERR_IO: return "storage_unavailable";
	case ERR_UPSTREAM: return "upstream_failed";
	case ERR_FORBIDDEN: return "forbidden";
	case ERR_APPROVAL: return "approval_required";
	case ERR_FULL: return "unavailable";
	case ERR_UNAUTHORIZED: return "unauthorized";
	case ERR_JSON: return "invalid_json";
	case ERR_TOOLARGE: return "payload_too_large";
	case ERR_MEDIA: return "unsupported_media_type";
	case ERR_METHOD: return "method_not_allowed";
	case ERR_RATELIMIT: return "rate_limited";
	case ERR_BUSY: return "storage_unavailable";
	default: return "internal";
	}
}
