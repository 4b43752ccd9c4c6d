/* rest.c — see rest.h. */
#include "tracker/rest.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "util/time.h"
#include "util/utf8.h"

void rest_result_init(struct tracker_result *r)
{
	memset(r, 0, sizeof *r);
	r->outcome = TRACKER_FAILED;
}

/* Replace every secret of s in r->error with "****" (a tracker could echo a header
 * back in an error text; the message ends up in the store, the API and logs). */
static void redact(const struct rest *s, struct tracker_result *r)
{
	for (size_t k = 0; k <= sizeof s->secret / sizeof s->secret[0]; k++) {
		const char *sec =
			k < sizeof s->secret / sizeof s->secret[0] ? s->secret[k] : s->url_password;
		size_t n = sec ? strlen(sec) : 0;
		if (n < 4 || !strstr(r->error, sec))
			continue;
		struct buf b = BUF_INIT;
		for (const char *p = r->error; *p;) {
			if (!strncmp(p, sec, n)) {
				buf_puts(&b, "****");
				p += n;
			} else {
				buf_putc(&b, *p++);
			}
		}
		size_t len = utf8_cut(b.data, b.len, sizeof r->error - 1);
		memcpy(r->error, b.data, len);
		r->error[len] = '\0';
		buf_free(&b);
	}
}

static void set_error(struct rest *s, struct tracker_result *r, const char *text)
{
	size_t len = utf8_cut(text, strlen(text), sizeof r->error - 1);
	memcpy(r->error, text, len);
	r->error[len] = '\0';
	redact(s, r);
}

void rest_fail(struct rest *s, struct tracker_result *r, const char *fmt, ...)
{
	struct buf b = BUF_INIT;
	va_list ap;
	va_start(ap, fmt);
	buf_vprintf(&b, fmt, ap);
	va_end(ap);
	r->outcome = TRACKER_FAILED;
	set_error(s, r, buf_cstr(&b));
	buf_free(&b);
}

/* The password of "scheme://user:password@host/..." (the config allows one; libcurl's
 * messages name the URL), or "" . */
static void find_url_password(const char *url, char *out, size_t cap)
{
	out[0] = '\0';
	const char *p = url ? strstr(url, "://") : NULL;
	if (!p)
		return;
	p += 3;
	size_t auth = strcspn(p, "/?#");
	const char *at = memchr(p, '@', auth);
	const char *colon = at ? memchr(p, ':', (size_t)(at - p)) : NULL;
	if (colon && (size_t)(at - colon - 1) < cap) {
		memcpy(out, colon + 1, (size_t)(at - colon - 1));
		out[at - colon - 1] = '\0';
	}
}

bool rest_open(struct rest *s, const char *base_url, const struct http_header *headers,
	       size_t n_headers, struct tracker_result *r)
{
	struct err e;
	err_clear(&e);
	s->client = NULL;
	memset(&s->resp, 0, sizeof s->resp);
	s->base_url = base_url;
	find_url_password(base_url, s->url_password, sizeof s->url_password);
	if (http_client_new(base_url, &s->client, &e)) {
		rest_fail(s, r, "%s", e.msg);
		return false;
	}
	for (size_t i = 0; i < n_headers; i++) {
		if (http_client_add_header(s->client, headers[i].name, headers[i].value, &e)) {
			rest_fail(s, r, "%s", e.msg);
			return false;
		}
	}
	long connect_ms, total_ms;
	tracker_get_timeouts(&connect_ms, &total_ms);
	http_client_set_limits(s->client, connect_ms, total_ms, TRACKER_MAX_RESPONSE);
	return true;
}

void rest_close(struct rest *s)
{
	http_response_clear(&s->resp);
	http_client_free(s->client);
	s->client = NULL;
}

bool rest_call(struct rest *s, const char *method, const char *path, const json_t *body,
	       const char *what, struct tracker_result *r)
{
	struct err e;
	err_clear(&e);
	char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
	if (body && !text) {
		rest_fail(s, r, "%s: out of memory serialising the request", what);
		r->sent = false;
		return false;
	}
	int rc = http_client_request(s->client, method, path, text, text ? strlen(text) : 0, NULL,
				     0, &s->resp, &e);
	free(text);
	tracker_classify(rc, &e, &s->resp, time_now_ms(), what, r);
	redact(s, r);
	return r->outcome == TRACKER_OK;
}

json_t *rest_json(struct rest *s, json_type type, const char *what, struct tracker_result *r)
{
	json_t *j =
		json_loadb(s->resp.body.data ? s->resp.body.data : "", s->resp.body.len, 0, NULL);
	if (j && json_typeof(j) == type)
		return j;
	json_decref(j);
	rest_fail(s, r, "%s: HTTP %ld but the answer is not the JSON %s expected", what,
		  s->resp.status, type == JSON_ARRAY ? "array" : "object");
	return NULL;
}

void rest_explain_test(struct rest *s, struct tracker_result *r, const char *cred_key,
		       const char *forbidden, const char *not_found)
{
	if (r->outcome == TRACKER_OK)
		return;
	struct buf b = BUF_INIT;
	if (r->http_status == 0) {
		switch (s->resp.fail) {
		case HTTP_FAIL_DNS:
			buf_printf(&b, "DNS: the host name of %s does not resolve", s->base_url);
			break;
		case HTTP_FAIL_CONNECT:
			buf_printf(&b, "connect: %s refused the connection or is unreachable",
				   s->base_url);
			break;
		case HTTP_FAIL_TLS:
			buf_printf(&b,
				   "TLS: the handshake with %s failed or its certificate "
				   "is not trusted",
				   s->base_url);
			break;
		case HTTP_FAIL_TIMEOUT:
			buf_printf(&b, "timeout: %s did not answer in time", s->base_url);
			break;
		default: break;
		}
	} else if (r->http_status == 401) {
		buf_printf(&b, "401: the credentials were refused (check %s)", cred_key);
	} else if (r->http_status == 403 && r->outcome != TRACKER_RETRY) {
		buf_printf(&b, "403: the credentials lack a permission (%s)", forbidden);
	} else if (r->http_status == 404) {
		buf_printf(&b, "404: %s not found, or the credentials cannot see it", not_found);
	} else if (r->http_status == 403 || r->http_status == 429) {
		buf_puts(&b, "rate limited: try again later");
	}
	if (b.len) {
		buf_printf(&b, " — %s", r->error);
		set_error(s, r, b.data);
	}
	buf_free(&b);
}

void rest_path_escape(struct buf *b, const char *s)
{
	http_query_escape(b, s);
}

const char *rest_priority_label(int severity, bool scoped)
{
	static const char *const plain[] = {"priority:sev1", "priority:sev2", "priority:sev3",
					    "priority:sev4"};
	static const char *const gl[] = {"priority::sev1", "priority::sev2", "priority::sev3",
					 "priority::sev4"};
	if (severity < 1 || severity > 4)
		return NULL;
	return scoped ? gl[severity - 1] : plain[severity - 1];
}
