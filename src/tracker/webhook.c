/* webhook.c — see webhook.h. The three formats, the Slack text from its template, and
 * the one blocking POST. */
#include "tracker/webhook.h"

#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/outbox.h"
#include "template/issue.h"
#include "template/mustache.h"
#include "util/json.h"
#include "util/time.h"
#include "util/utf8.h"

#define PAGERDUTY_URL "https://events.pagerduty.com/v2/enqueue"
/* SPEC §8.1's limits for every outbound call, with a body cap fit for a receipt. */
#define SEND_CONNECT_MS	  5000L
#define SEND_TOTAL_MS	  30000L
#define SEND_MAX_RESPONSE ((size_t)1 << 20)
/* PagerDuty Events API v2: summary at most 1024 characters, dedup_key at most 255,
 * a whole event at most 512 KB (kept under it with room to spare). */
#define PD_SUMMARY_MAX 1024
#define PD_DEDUP_MAX   255
#define PD_BODY_MAX    500000
/* A chat line, not a transcript: notes and comments are cut to this many characters. */
#define CHANGE_TEXT_MAX 500
/* Values nested deeper than this are refused (incident details are bounded far below). */
#define CONTEXT_DEPTH_MAX 64
#define ZWSP		  "\xe2\x80\x8b" /* U+200B ZERO WIDTH SPACE */

static int severity_of(const char *s)
{
	if (s && s[0] == 's' && s[1] == 'e' && s[2] == 'v' && s[3] >= '1' && s[3] <= '4' && !s[4])
		return s[3] - '0';
	return 0;
}

/* ---- the request ---- */

static void add_header(struct webhook_request *rq, const char *name, const char *value)
{
	rq->headers[rq->n_headers].name = name;
	rq->headers[rq->n_headers].value = value;
	rq->n_headers++;
}

/* A header whose value (malloc'd) the request owns from now on. */
static void add_owned_header(struct webhook_request *rq, const char *name, char *value)
{
	rq->owned[rq->n_headers] = value;
	add_header(rq, name, value);
}

static char *printf_dup(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *printf_dup(const char *fmt, ...)
{
	struct buf b = BUF_INIT;
	va_list ap;
	va_start(ap, fmt);
	buf_vprintf(&b, fmt, ap);
	va_end(ap);
	return buf_steal(&b);
}

void webhook_request_clear(struct webhook_request *rq)
{
	if (!rq)
		return;
	free(rq->url);
	buf_free(&rq->body);
	for (size_t i = 0; i < sizeof rq->owned / sizeof rq->owned[0]; i++)
		free(rq->owned[i]);
	memset(rq, 0, sizeof *rq);
}

/* hex(HMAC-SHA256(secret, body)). The init/update/final form takes a key of any length
 * (crypto_auth_hmacsha256() alone wants exactly 32 bytes), which is what receivers
 * computing standard HMAC with the configured secret expect. */
static char *signature(const char *secret, const struct buf *body)
{
	crypto_auth_hmacsha256_state st;
	unsigned char mac[crypto_auth_hmacsha256_BYTES];
	char hex[2 * sizeof mac + 1];
	crypto_auth_hmacsha256_init(&st, (const unsigned char *)secret, strlen(secret));
	crypto_auth_hmacsha256_update(&st, (const unsigned char *)buf_cstr(body), body->len);
	crypto_auth_hmacsha256_final(&st, mac);
	sodium_memzero(&st, sizeof st);
	sodium_bin2hex(hex, sizeof hex, mac, sizeof mac);
	return printf_dup("sha256=%s", hex);
}

/* The incident an event is about: the row's snapshot, else what the event carries
 * (incident_created: the incident itself; incident_updated: data.incident, unless it
 * is the short form of a deduplication). NULL when there is none. */
static const json_t *incident_of(const json_t *payload, const json_t *event, const char *type)
{
	const json_t *inc = json_object_get(payload, "incident");
	if (json_is_object(inc))
		return inc;
	const json_t *data = json_object_get(event, "data");
	if (!strcmp(type, "incident_created") && json_is_object(data))
		return data;
	inc = json_object_get(data, "incident");
	if (json_is_object(inc) && json_is_string(json_object_get(inc, "key")))
		return inc;
	return NULL;
}

static const char *change_type_of(const json_t *event)
{
	return json_get_str(json_object_get(event, "data"), "change_type");
}

/* The public URL without its trailing '/' (as template/issue.h's context has it). */
static void put_public_url(const struct config *cfg, struct buf *b)
{
	char pub[1024];
	size_t start = b->len;
	buf_puts(b, config_public_url(cfg, pub, sizeof pub));
	while (b->len > start && b->data[b->len - 1] == '/')
		b->data[--b->len] = '\0';
}

/* s cut to at most max characters (code points), "…" marking a cut. */
static void put_cut(struct buf *b, const char *s, size_t max)
{
	size_t chars = 0;
	const char *p = s;
	for (; *p; p++) {
		if (((unsigned char)*p & 0xC0) != 0x80 && chars++ == max)
			break;
	}
	buf_append(b, s, (size_t)(p - s));
	if (*p)
		buf_puts(b, "\xe2\x80\xa6");
}

/* ---- slack ---- */

static bool word_byte(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '_';
}

/* Slack reads &, < and > as control characters (<!here>, <@U123>, <url|text>), so
 * they become entities, and only they: Slack decodes no other entity. Mattermost
 * turns a word starting with '@' into a mention and renders Markdown links, so
 * U+200B goes after such an '@' (as template/mustache.h's Markdown mode does) and
 * between "](" — invisible, and nothing is pinged or disguised as a link. */
static void slack_escape(struct buf *b, const char *s)
{
	for (const char *p = s; *p; p++) {
		switch (*p) {
		case '&': buf_puts(b, "&amp;"); break;
		case '<': buf_puts(b, "&lt;"); break;
		case '>': buf_puts(b, "&gt;"); break;
		case '@':
			buf_putc(b, '@');
			if (p == s || !word_byte(p[-1]))
				buf_puts(b, ZWSP);
			break;
		case '(':
			if (p > s && p[-1] == ']')
				buf_puts(b, ZWSP);
			buf_putc(b, '(');
			break;
		default: buf_putc(b, *p); break;
		}
	}
}

/* A copy of v with every string escaped for Slack; NULL when nested too deeply. */
static json_t *slack_escaped(const json_t *v, int depth)
{
	if (depth > CONTEXT_DEPTH_MAX)
		return NULL;
	if (json_is_string(v)) {
		struct buf b = BUF_INIT;
		slack_escape(&b, json_string_value(v));
		json_t *s = jstr(buf_cstr(&b));
		buf_free(&b);
		return s;
	}
	if (json_is_object(v)) {
		json_t *o = json_object();
		const char *k;
		json_t *m;
		json_object_foreach((json_t *)v, k, m)
		{
			json_t *c = slack_escaped(m, depth + 1);
			if (!c) {
				json_decref(o);
				return NULL;
			}
			json_object_set_new(o, k, c);
		}
		return o;
	}
	if (json_is_array(v)) {
		json_t *a = json_array();
		size_t i;
		json_t *m;
		json_array_foreach(v, i, m)
		{
			json_t *c = slack_escaped(m, depth + 1);
			if (!c) {
				json_decref(a);
				return NULL;
			}
			json_array_append_new(a, c);
		}
		return a;
	}
	return json_incref((json_t *)v);
}

/* A line of chat text: line breaks and tabs become spaces, cut to CHANGE_TEXT_MAX. */
static json_t *chat_line(const char *s)
{
	struct buf b = BUF_INIT;
	put_cut(&b, s, CHANGE_TEXT_MAX);
	for (size_t i = 0; i < b.len; i++)
		if (b.data[i] == '\n' || b.data[i] == '\r' || b.data[i] == '\t')
			b.data[i] = ' ';
	json_t *j = jstr(buf_cstr(&b));
	buf_free(&b);
	return j;
}

/* What changed, for incident_updated (docs/webhooks.md lists the keys). */
static json_t *change_context(const json_t *event, const char *change_type)
{
	const json_t *data = json_object_get(event, "data");
	json_t *c = json_object();
	json_object_set_new(c, "type", jstr(change_type));
	json_object_set_new(c, change_type, json_true());
	const char *by = json_get_str(event, "actor");
	if (by)
		json_object_set_new(c, "by", jstr(by));
	const char *s = json_get_str(data, "notes");
	if (s && *s)
		json_object_set_new(c, "notes", chat_line(s));
	if ((s = json_get_str(data, "previous_severity")))
		json_object_set_new(c, "previous_severity", jstr(s));
	if ((s = json_get_str(data, "reason")) && *s)
		json_object_set_new(c, "reason", chat_line(s));
	const json_t *fields = json_object_get(data, "changed_fields");
	if (json_is_array(fields) && json_array_size(fields)) {
		struct buf b = BUF_INIT;
		size_t i;
		json_t *f;
		json_array_foreach(fields, i, f)
		{
			if (!json_is_string(f))
				continue;
			if (b.len)
				buf_puts(&b, ", ");
			buf_puts(&b, json_string_value(f));
		}
		json_object_set_new(c, "fields", jstr(buf_cstr(&b)));
		buf_free(&b);
	}
	if ((s = json_get_str(json_object_get(data, "signal"), "summary")))
		json_object_set_new(c, "signal_summary", chat_line(s));
	if ((s = json_get_str(json_object_get(data, "comment"), "body")))
		json_object_set_new(c, "comment", chat_line(s));
	return c;
}

/* The render context of slack_message (docs/webhooks.md): the incident's template
 * context (template/issue.h) when the event has an incident, plus event, on, change
 * and event_data; every string escaped for Slack. */
static int slack_context(const struct config *cfg, const json_t *event, const char *type,
			 const json_t *incident, json_t **out, struct err *e)
{
	*out = NULL;
	struct buf pub = BUF_INIT;
	put_public_url(cfg, &pub);
	json_t *ctx = NULL;
	if (incident) {
		int rc = issue_context(incident, buf_cstr(&pub), &ctx, e);
		if (rc) {
			buf_free(&pub);
			return rc;
		}
	} else {
		ctx = jpack("{so}", "public_url", jstr(buf_cstr(&pub)));
	}
	buf_free(&pub);
	json_object_set_new(ctx, "event", json_deep_copy(event));
	bool known = !strcmp(type, "incident_created") || !strcmp(type, "incident_updated") ||
		     !strcmp(type, "sla_breached");
	json_object_set_new(ctx, "on", jpack("{sb}", known ? type : "other", 1));
	const char *change_type = change_type_of(event);
	if (!strcmp(type, "incident_updated") && change_type && *change_type)
		json_object_set_new(ctx, "change", change_context(event, change_type));
	const json_t *data = json_object_get(event, "data");
	if (data && !json_is_null(data)) {
		char *text = json_dumps(data, JSON_COMPACT | JSON_SORT_KEYS);
		if (text) {
			struct buf b = BUF_INIT;
			put_cut(&b, text, CHANGE_TEXT_MAX);
			json_object_set_new(ctx, "event_data", jstr(buf_cstr(&b)));
			buf_free(&b);
			free(text);
		}
	}
	json_t *esc = slack_escaped(ctx, 0);
	json_decref(ctx);
	if (!esc)
		return err_set(e, ERR_INVALID, "the event is nested more than %d levels deep",
			       CONTEXT_DEPTH_MAX);
	*out = esc;
	return 0;
}

/* Load slack_message (an override in templates_dir, else the built-in). */
static int slack_template(const char *templates_dir, char **text, char **origin, struct err *e)
{
	return issue_template_load("slack_message", templates_dir, text, origin, e);
}

int webhook_template_check(const char *templates_dir, struct err *e)
{
	char *text = NULL, *origin = NULL;
	int rc = slack_template(templates_dir, &text, &origin, e);
	if (rc)
		return rc;
	struct err me;
	err_clear(&me);
	if ((rc = mustache_check(text, strlen(text), &me)))
		err_set(e, rc, "%s: %s", origin, me.msg);
	free(text);
	free(origin);
	return rc;
}

static int slack_text(const struct config *cfg, const json_t *event, const char *type,
		      const json_t *incident, struct buf *out, struct err *e)
{
	char *text = NULL, *origin = NULL;
	json_t *ctx = NULL;
	int rc = slack_template(cfg->tracker.templates_dir, &text, &origin, e);
	if (rc)
		goto out;
	if ((rc = slack_context(cfg, event, type, incident, &ctx, e)))
		goto out;
	/* The values are escaped already (slack_context); the template's own text is
	 * the author's and stays as written. */
	struct mustache_opts opts = {.escape = MUSTACHE_ESCAPE_NONE};
	struct err me;
	err_clear(&me);
	if ((rc = mustache_render(text, strlen(text), ctx, &opts, out, &me))) {
		err_set(e, rc, "%s: %s", origin, me.msg);
		goto out;
	}
	while (out->len && strchr(" \t\r\n", out->data[out->len - 1]))
		out->data[--out->len] = '\0';
	if (!out->len)
		rc = err_set(e, ERR_INVALID,
			     "%s rendered no text for a %s event (Slack refuses "
			     "an empty message)",
			     origin, type);
out:
	json_decref(ctx);
	free(text);
	free(origin);
	return rc;
}

/* ---- pagerduty ---- */

/* The incident key when it fits PagerDuty's 255 characters; a longer one keeps its
 * first 190 characters and gets "~" and the hex SHA-256 of the whole key, so trigger,
 * acknowledge and resolve of one incident still agree. */
static char *dedup_key(const char *key)
{
	size_t chars = 0, cut = 0;
	for (size_t i = 0; key[i]; i++)
		if (((unsigned char)key[i] & 0xC0) != 0x80) {
			if (chars == 190)
				cut = i;
			chars++;
		}
	if (chars <= PD_DEDUP_MAX)
		return xstrdup(key);
	unsigned char h[crypto_hash_sha256_BYTES];
	char hex[2 * sizeof h + 1];
	crypto_hash_sha256(h, (const unsigned char *)key, strlen(key));
	sodium_bin2hex(hex, sizeof hex, h, sizeof h);
	return printf_dup("%.*s~%s", (int)cut, key, hex);
}

static const char *pd_severity(int sev)
{
	static const char *const names[] = {"critical", "error", "warning", "info"};
	return names[sev - 1];
}

static int pagerduty_body(const struct config *cfg, const struct config_webhook *w,
			  const json_t *event, const char *type, const json_t *incident,
			  struct buf *out, struct err *e)
{
	const char *action = outbox_pagerduty_action(type, change_type_of(event));
	if (!action)
		return err_set(e, ERR_INVALID,
			       "PagerDuty has no event action for %s%s%s (trigger on "
			       "incident_created, acknowledge on acknowledged, resolve on "
			       "resolved or closed)",
			       type, change_type_of(event) ? " " : "",
			       change_type_of(event) ? change_type_of(event) : "");
	if (!incident)
		return err_set(e, ERR_INVALID, "a %s event without its incident", type);
	const char *key = json_get_str(incident, "key");
	int64_t id = json_get_int(incident, "id", 0);
	if (!key || !*key || id < 1)
		return err_set(e, ERR_INVALID, "the incident needs a key and an id for PagerDuty");
	if (!w->routing_key || !*w->routing_key)
		return err_set(e, ERR_INVALID, "webhook %s has no routing_key", w->name);

	char *dedup = dedup_key(key);
	json_t *body = jpack("{ss ss so}", "routing_key", w->routing_key, "event_action", action,
			     "dedup_key", jstr(dedup));
	free(dedup);
	if (!strcmp(action, "trigger")) {
		/* An incident without a known severity is paged as the default sev3. */
		int sev = severity_of(json_get_str(incident, "severity"));
		if (!sev)
			sev = 3;
		const char *summary = json_get_str(incident, "summary");
		struct buf s = BUF_INIT;
		buf_printf(&s, "[sev%d] ", sev);
		put_cut(&s, summary && *summary ? summary : key, PD_SUMMARY_MAX - s.len - 1);
		struct buf pub = BUF_INIT, url = BUF_INIT;
		put_public_url(cfg, &pub);
		buf_printf(&url, "%s/incidents/%lld", buf_cstr(&pub), (long long)id);
		const json_t *details = json_object_get(incident, "details");
		json_t *custom = jpack("{sI sO? sO? sO? sO?}", "id", (json_int_t)id, "kind",
				       json_object_get(incident, "kind"), "key",
				       json_object_get(incident, "key"), "status",
				       json_object_get(incident, "status"), "details", details);
		json_t *payload =
			jpack("{so ss ss so}", "summary", jstr(buf_cstr(&s)), "severity",
			      pd_severity(sev), "source", "intervene", "custom_details", custom);
		const char *ts = json_get_str(event, "created_at");
		if (!ts)
			ts = json_get_str(incident, "created_at");
		if (ts)
			json_object_set_new(payload, "timestamp", jstr(ts));
		const char *kind = json_get_str(incident, "kind");
		if (kind)
			json_object_set_new(payload, "class", jstr(kind));
		json_object_set_new(body, "payload", payload);
		struct buf text = BUF_INIT;
		buf_printf(&text, "Incident #%lld in intervene", (long long)id);
		json_object_set_new(body, "links",
				    jpack("[{so so}]", "href", jstr(buf_cstr(&url)), "text",
					  jstr(buf_cstr(&text))));
		json_object_set_new(body, "client", jstr("intervene"));
		json_object_set_new(body, "client_url", jstr(buf_cstr(&pub)));
		buf_free(&text);
		buf_free(&url);
		buf_free(&pub);
		buf_free(&s);
		json_canon_buf(body, out);
		/* Details are bounded when they enter, but not to PagerDuty's limit: past
		 * it the event would be refused for good, so the details stay behind. */
		if (out->len > PD_BODY_MAX) {
			json_object_set_new(custom, "details",
					    jstr("omitted: larger than PagerDuty accepts; see the "
						 "incident's page"));
			buf_reset(out);
			json_canon_buf(body, out);
		}
	} else {
		json_canon_buf(body, out);
	}
	json_decref(body);
	return 0;
}

/* ---- build ---- */

static bool event_type_ok(const char *t)
{
	size_t n = strlen(t);
	return n >= 1 && n <= 64 && strspn(t, "abcdefghijklmnopqrstuvwxyz_") == n;
}

int webhook_build(const struct config *cfg, const struct config_webhook *w, int64_t delivery_id,
		  const json_t *payload, struct webhook_request *out, struct err *e)
{
	memset(out, 0, sizeof *out);
	const json_t *event = json_object_get(payload, "event");
	const char *type = json_get_str(event, "type");
	if (!json_is_object(event) || !type || !event_type_ok(type))
		return err_set(e, ERR_INVALID, "the payload has no event with a type");
	const json_t *incident = incident_of(payload, event, type);
	int rc = 0;

	switch (w->format) {
	case CONFIG_WEBHOOK_JSON: json_canon_buf(event, &out->body); break;
	case CONFIG_WEBHOOK_SLACK: {
		struct buf text = BUF_INIT;
		if (!(rc = slack_text(cfg, event, type, incident, &text, e))) {
			json_t *b = jpack("{so}", "text", jstr(buf_cstr(&text)));
			json_canon_buf(b, &out->body);
			json_decref(b);
		}
		buf_free(&text);
		break;
	}
	case CONFIG_WEBHOOK_PAGERDUTY:
		rc = pagerduty_body(cfg, w, event, type, incident, &out->body, e);
		break;
	default: rc = err_set(e, ERR_INVALID, "unknown webhook format %d", (int)w->format);
	}
	if (rc) {
		webhook_request_clear(out);
		return rc;
	}
	out->url = xstrdup(w->url && *w->url			   ? w->url
			   : w->format == CONFIG_WEBHOOK_PAGERDUTY ? PAGERDUTY_URL
								   : "");
	if (!*out->url) {
		webhook_request_clear(out);
		return err_set(e, ERR_INVALID, "webhook %s has no url", w->name);
	}
	add_header(out, "Content-Type", "application/json");
	add_owned_header(out, "X-Intervene-Event", xstrdup(type));
	add_owned_header(out, "X-Intervene-Delivery", printf_dup("%lld", (long long)delivery_id));
	if (w->format == CONFIG_WEBHOOK_JSON && w->secret && *w->secret)
		add_owned_header(out, "X-Intervene-Signature", signature(w->secret, &out->body));
	return 0;
}

/* ---- send ---- */

/* Split url into the origin ("scheme://authority") and the rest ("/path?query", "/"
 * when empty; a fragment is not sent). The client gets only the origin, so the
 * messages it makes name no path — where Slack keeps its webhook's secret. */
static void split_url(const char *url, char **origin, char **path)
{
	const char *a = strstr(url, "://");
	a = a ? a + 3 : url;
	size_t n = strcspn(a, "/?#");
	*origin = xstrndup(url, (size_t)(a - url) + n);
	const char *rest = a + n;
	size_t m = strcspn(rest, "#");
	struct buf p = BUF_INIT;
	if (*rest != '/')
		buf_putc(&p, '/');
	buf_append(&p, rest, m);
	*path = buf_steal(&p);
}

/* Replace the origin's "user:password" in r->error by "***" (libcurl's messages may
 * repeat the URL it was given). */
static void scrub_userinfo(const char *origin, struct tracker_result *r)
{
	const char *host = strstr(origin, "://");
	host = host ? host + 3 : origin;
	const char *at = strchr(host, '@');
	if (!at || at == host)
		return;
	size_t n = (size_t)(at - host);
	struct buf b = BUF_INIT;
	for (const char *p = r->error; *p;) {
		if (!strncmp(p, host, n)) {
			buf_puts(&b, "***");
			p += n;
		} else {
			buf_putc(&b, *p++);
		}
	}
	snprintf(r->error, sizeof r->error, "%s", buf_cstr(&b));
	utf8_trim_partial(r->error);
	buf_free(&b);
}

void webhook_send(const struct webhook_request *rq, struct tracker_result *r)
{
	memset(r, 0, sizeof *r);
	char *origin = NULL, *path = NULL;
	struct http_client *c = NULL;
	struct http_response resp = {0};
	struct err e;
	err_clear(&e);
	split_url(rq->url ? rq->url : "", &origin, &path);
	int rc = http_client_new(origin, &c, &e);
	if (rc) {
		/* Config load validated the URL; one that still fails cannot start working. */
		r->outcome = TRACKER_FAILED;
		snprintf(r->error, sizeof r->error, "%s", e.msg);
		goto out;
	}
	http_client_set_limits(c, SEND_CONNECT_MS, SEND_TOTAL_MS, SEND_MAX_RESPONSE);
	/* http_client sets Content-Type on every body itself: sending ours too would
	 * repeat the header. */
	struct http_header extra[sizeof rq->headers / sizeof rq->headers[0]];
	size_t n = 0;
	for (size_t i = 0; i < rq->n_headers && i < sizeof extra / sizeof extra[0]; i++)
		if (strcasecmp(rq->headers[i].name, "Content-Type"))
			extra[n++] = rq->headers[i];
	rc = http_client_request(c, "POST", path, buf_cstr(&rq->body), rq->body.len, extra, n,
				 &resp, &e);
	tracker_classify(rc, &e, &resp, time_now_ms(), "send webhook", r);
	scrub_userinfo(origin, r);
out:
	http_response_clear(&resp);
	http_client_free(c);
	free(origin);
	free(path);
}
