/* web.c — the dashboard: its pages and assets, served from the binary.
 *
 * Every page path (/, /incidents, /incidents/{id}, /silences, /gates, /signin) answers
 * the same index.html, which loads the app; the app reads the path and query itself.
 * Assets have content-hashed names (tools/embed_web.py), so they are cached for a year;
 * the index is revalidated on every load, so a new binary's assets are picked up at
 * once. Both carry a strict Content-Security-Policy: the page runs only its own
 * scripts and styles and talks only to this server. Gzip is sent to clients that
 * accept it. Loop thread, no storage. */
#define _GNU_SOURCE /* memmem */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/api.h"
#include "api/web_assets.h"
#include "core/auth.h"
#include "http/server.h"
#include "util/json.h"

#define WEB_CSP                                                                                    \
	"Content-Security-Policy: default-src 'self'; script-src 'self'; style-src 'self'; "       \
	"img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; "           \
	"form-action 'self'; frame-ancestors 'none'\r\n"
#define WEB_COMMON WEB_CSP "X-Content-Type-Options: nosniff\r\nReferrer-Policy: same-origin\r\n"

static const struct web_asset *find_asset(const char *name)
{
	for (const struct web_asset *a = web_assets; a->name; a++)
		if (!strcmp(a->name, name))
			return a;
	return NULL;
}

/* Does the Accept-Encoding value accept gzip? Tokens are separated by commas, each
 * with optional parameters; "gzip;q=0" refuses it, "*" accepts it. */
static bool accepts_gzip(const char *v)
{
	while (v && *v) {
		v += strspn(v, " \t,");
		size_t n = strcspn(v, " \t;,");
		bool gzip = (n == 4 && !strncasecmp(v, "gzip", 4)) || (n == 1 && *v == '*');
		const char *end = v + strcspn(v, ",");
		if (gzip) {
			const char *q = strstr(v, "q=");
			if (!q || q > end)
				return true;
			return strtod(q + 2, NULL) > 0;
		}
		v = end;
	}
	return false;
}

/* The meta element the index carries, filled in for a signed-in browser. */
#define SESSION_META "<meta name=\"intervene-session\" content=\"\">"

/* The index for a browser that is signed in (by its session cookie, or auth.mode:
 * none): the session meta element carries {actor, role} (HTML-escaped JSON), so the
 * page can show the first view without asking GET /api/session first. It names the
 * user, so no shared cache may keep it. */
static int serve_signed_in(struct http_req *r, const struct web_asset *a)
{
	const char *text = (const char *)a->data;
	const char *at = memmem(text, a->len, SESSION_META, strlen(SESSION_META));
	if (!at) {
		req_reply_error(r, ERR_INTERNAL, "the dashboard's index has no session element");
		return 1;
	}
	size_t head = (size_t)(at - text) + strlen(SESSION_META) - 2; /* up to content=" */
	json_t *who = jpack("{ss ss}", "actor", r->actor, "role", auth_role_name(r->role));
	char *json = json_dumps(who, JSON_COMPACT);
	json_decref(who);
	if (!json) {
		req_reply_error(r, ERR_INTERNAL, "out of memory");
		return 1;
	}
	buf_append(&r->reply, text, head);
	for (const char *p = json; *p; p++) {
		switch (*p) {
		case '"': buf_puts(&r->reply, "&quot;"); break;
		case '&': buf_puts(&r->reply, "&amp;"); break;
		case '<': buf_puts(&r->reply, "&lt;"); break;
		case '>': buf_puts(&r->reply, "&gt;"); break;
		case '\'': buf_puts(&r->reply, "&#39;"); break;
		default: buf_putc(&r->reply, *p);
		}
	}
	free(json);
	buf_append(&r->reply, text + head, a->len - head);
	r->headers = xstrdup("Cache-Control: private, no-cache\r\n" WEB_COMMON);
	r->status = 200;
	r->reply_type = a->type;
	return 1;
}

static int serve(struct http_req *r, const struct web_asset *a, const char *cache)
{
	bool gz = a->gz && accepts_gzip(http_head_get(&r->head, "accept-encoding"));
	struct buf h = BUF_INIT;
	buf_printf(&h, "Cache-Control: %s\r\n" WEB_COMMON "%s%s", cache,
		   a->gz ? "Vary: Accept-Encoding\r\n" : "",
		   gz ? "Content-Encoding: gzip\r\n" : "");
	r->headers = buf_steal(&h);
	r->status = 200;
	r->reply_type = a->type;
	buf_append(&r->reply, gz ? a->gz : a->data, gz ? a->gz_len : a->len);
	return 1;
}

static int web_page_prepare(struct http_req *r)
{
	const struct web_asset *a = find_asset("index.html");
	if (!a) {
		req_reply_error(r, ERR_INTERNAL, "the dashboard's index page is not embedded");
		return 1;
	}
	if (r->actor[0])
		return serve_signed_in(r, a);
	return serve(r, a, "private, no-cache");
}

static int web_asset_prepare(struct http_req *r)
{
	const struct web_asset *a = r->param ? find_asset(r->param) : NULL;
	if (!a || !strcmp(a->name, "index.html")) {
		req_reply_error(r, ERR_NOTFOUND,
				"no such asset (the page may be older than the server: reload it)");
		return 1;
	}
	return serve(r, a, "public, max-age=31536000, immutable");
}

/* Pages take any query: it is the app's (filters, the page to return to). */
#define PAGE(p)                                                                                    \
	{                                                                                          \
		.method = M_GET, .pattern = p, .min_role = ROLE_NONE, .any_query = true,           \
		.prepare = web_page_prepare                                                        \
	}
const struct route web_routes[] = {
	PAGE("/"),
	PAGE("/incidents"),
	PAGE("/incidents/{id}"),
	PAGE("/silences"),
	PAGE("/gates"),
	PAGE("/signin"),
	{.method = M_GET,
	 .pattern = "/assets/{name}",
	 .min_role = ROLE_NONE,
	 .prepare = web_asset_prepare},
};
const size_t web_n_routes = sizeof web_routes / sizeof web_routes[0];
