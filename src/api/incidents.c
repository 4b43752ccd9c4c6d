/* incidents.c — incident routes, comments, timeline and the event log (SPEC §5.1). */
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "core/event.h"
#include "core/incident.h"
#include "core/policy.h"
#include "core/signal.h"
#include "util/json.h"
#include "util/time.h"
#include "util/validate.h"

static const char *const severities[] = {"sev1", "sev2", "sev3", "sev4", NULL};

/* ---- GET /api/incidents ---- */

struct list_ctx {
	struct incident_filter f;
	char **kinds, **assignees, **statuses, **sevs;
	char *q;
	json_t *items;
	int64_t now;
	const struct config *cfg;
	struct buf *out;
	int n;
};

static void list_ctx_free(void *p)
{
	struct list_ctx *c = p;
	if (!c)
		return;
	api_strv_free(c->kinds);
	api_strv_free(c->assignees);
	api_strv_free(c->statuses);
	api_strv_free(c->sevs);
	free(c->q);
	json_decref(c->items);
	free(c);
}

/* A 400 naming the query parameter; value (the offending one, quoted at most 64
 * bytes, cut on a character boundary) or NULL when the problem is not one value. */
static int bad_query(struct http_req *r, const char *field, const char *msg, const char *value)
{
	struct err e;
	err_clear(&e);
	if (value)
		err_field(&e, ERR_INVALID, field, "%s: %s (got \"%.*s\")", field, msg,
			  (int)utf8_cut(value, strlen(value), 64), value);
	else
		err_field(&e, ERR_INVALID, field, "%s: %s", field, msg);
	req_reply_err(r, &e);
	return 1;
}

int api_incidents_list_prepare(struct http_req *r)
{
	struct list_ctx *c = xcalloc(1, sizeof *c);
	r->ctx = c;
	r->ctx_free = list_ctx_free;
	if (api_paging(r, 50, 200, &c->f.page, &c->f.per_page))
		return 1;
	if ((c->statuses = api_query_list(r, "status"))) {
		for (char **s = c->statuses; *s; s++) {
			enum incident_status st;
			if (!strcmp(*s, "active")) {
				c->f.statuses |=
					1 << ST_OPEN | 1 << ST_ACKNOWLEDGED | 1 << ST_MITIGATED;
				continue;
			}
			if (!incident_status_parse(*s, &st))
				return bad_query(r, "status",
						 "must be open, acknowledged, mitigated, resolved, "
						 "closed or active",
						 *s);
			c->f.statuses |= 1 << st;
		}
		if (!c->f.statuses)
			return bad_query(r, "status", "must not be empty", NULL);
	}
	if ((c->sevs = api_query_list(r, "severity"))) {
		for (char **s = c->sevs; *s; s++) {
			int sev = policy_parse_severity(*s);
			if (!sev)
				return bad_query(r, "severity", "must be sev1..sev4", *s);
			c->f.severities |= 1 << sev;
		}
		if (!c->f.severities)
			return bad_query(r, "severity", "must not be empty", NULL);
	}
	if ((c->kinds = api_query_list(r, "kind"))) {
		size_t n = 0;
		for (char **s = c->kinds; *s; s++, n++)
			if (policy_kind_index(*s) < 0)
				return bad_query(
					r, "kind",
					"must be invariant, budget, planner, manual or alert", *s);
		if (!n)
			return bad_query(r, "kind", "must not be empty", NULL);
		c->f.kinds = (const char *const *)c->kinds;
	}
	if ((c->assignees = api_query_list(r, "assigned_to"))) {
		size_t n = 0;
		for (char **s = c->assignees; *s; s++)
			n++;
		if (n > 16)
			return bad_query(r, "assigned_to", "at most 16 values", NULL);
		if (!n)
			return bad_query(r, "assigned_to", "must not be empty", NULL);
		c->f.assignees = (const char *const *)c->assignees;
	}
	const char *q = req_query(r, "q");
	if (q) {
		if (utf8_length(q) > 256)
			return bad_query(r, "q", "at most 256 characters", NULL);
		c->q = xstrdup(q);
		c->f.q = c->q;
	}
	const char *since = req_query(r, "since");
	if (since && !time_parse_ms(since, &c->f.since))
		return bad_query(r, "since", "must be an RFC 3339 timestamp", since);
	const char *sort = req_query(r, "sort");
	if (sort) {
		if (!strcmp(sort, "severity"))
			c->f.sort_severity = true;
		else if (strcmp(sort, "created_at"))
			return bad_query(r, "sort", "must be created_at or severity", sort);
	}
	return 0;
}

/* Writes the lean item straight into the reply, keys in canonical (sorted) order. */
static int list_cb(const struct incident *inc, void *arg)
{
	struct list_ctx *c = arg;
	struct buf *b = c->out;
	buf_puts(b, c->n++ ? ",{\"assigned_to\":" : "{\"assigned_to\":");
	json_write_str(b, inc->assigned_to && *inc->assigned_to ? inc->assigned_to : NULL);
	buf_puts(b, ",\"created_at\":");
	json_write_time(b, inc->created_at);
	buf_puts(b, ",\"id\":");
	json_write_int(b, inc->id);
	buf_puts(b, ",\"issue_url\":");
	json_write_str(b, inc->issue_url && *inc->issue_url ? inc->issue_url : NULL);
	buf_puts(b, ",\"key\":");
	json_write_str(b, inc->key);
	buf_puts(b, ",\"kind\":");
	json_write_str(b, inc->kind);
	buf_puts(b, ",\"occurrences\":");
	json_write_int(b, inc->occurrences);
	buf_puts(b, ",\"severity\":");
	json_write_str(b, incident_severity_name(inc->severity));
	buf_puts(b, ",\"sla\":");
	policy_sla_write(b, c->cfg, inc, c->now);
	buf_puts(b, ",\"status\":");
	json_write_str(b, incident_status_name(inc->status));
	buf_puts(b, ",\"summary\":");
	json_write_str(b, inc->summary);
	buf_puts(b, ",\"updated_at\":");
	json_write_time(b, inc->updated_at);
	buf_putc(b, '}');
	return 0;
}

int api_incidents_list_run(struct http_req *r, struct store_conn *conn)
{
	struct list_ctx *c = r->ctx;
	struct err e;
	err_clear(&e);
	int64_t total = 0;
	c->now = time_now_ms();
	c->cfg = r->cfg;
	buf_reset(&r->reply);
	c->out = &r->reply;
	buf_puts(&r->reply, "{\"incidents\":[");
	int rc = store_incident_list(conn, &c->f, list_cb, c, &total, &e);
	if (rc) {
		buf_reset(&r->reply);
		return api_fail(r, &e);
	}
	buf_puts(&r->reply, "],\"page\":");
	json_write_int(&r->reply, c->f.page);
	buf_puts(&r->reply, ",\"per_page\":");
	json_write_int(&r->reply, c->f.per_page);
	buf_puts(&r->reply, ",\"total\":");
	json_write_int(&r->reply, total);
	buf_putc(&r->reply, '}');
	r->status = 200;
	return 0;
}

/* ---- POST /api/incidents ---- */

static const struct vfield declare_fields[] = {
	{"summary", V_STRING, true, false, 0, 0, NULL},
	{"severity", V_STRING, false, true, 0, 0, severities},
	{"key", V_STRING, false, true, 1, 512, NULL},
	{"details", V_OBJECT, false, true, 0, INCIDENT_DETAILS_MAX_BYTES, NULL},
	{"playbooks", V_STRING_ARRAY, false, true, 0, 32, NULL},
	{NULL, 0, false, false, 0, 0, NULL},
};

static void incident_free(void *p)
{
	incident_clear(p);
	free(p);
}

int api_incident_declare_prepare(struct http_req *r)
{
	if (api_body(r, declare_fields))
		return 1;
	struct err e;
	err_clear(&e);
	struct incident *inc = xcalloc(1, sizeof *inc);
	r->ctx = inc;
	r->ctx_free = incident_free;
	inc->summary = str_trim_dup(json_get_str(r->body, "summary"));
	size_t n = utf8_length(inc->summary);
	if (n < 1 || n > 256) {
		err_field(&e, ERR_INVALID, "summary",
			  "summary must be 1 to 256 characters after trimming");
		req_reply_err(r, &e);
		return 1;
	}
	const char *sev = json_get_str(r->body, "severity");
	inc->severity = sev ? policy_parse_severity(sev) : 3;
	inc->kind = xstrdup("manual");
	const char *key = json_get_str(r->body, "key");
	inc->key = key && *key ? xstrdup(key) : signal_manual_key();
	const json_t *d = json_object_get(r->body, "details");
	inc->details = json_is_object(d) ? json_deep_copy(d) : json_object();
	const json_t *p = json_object_get(r->body, "playbooks");
	inc->playbooks = json_is_array(p) ? json_deep_copy(p) : json_array();
	inc->source = xstrdup("api");
	return 0;
}

int api_incident_declare_run(struct http_req *r, struct store_conn *c)
{
	struct incident *inc = r->ctx;
	struct err e;
	err_clear(&e);
	int rc = incident_create(c, r->cfg, inc, r->actor, &e);
	if (rc)
		return api_fail(r, &e);
	req_reply_json(r, 201,
		       jpack("{so}", "incident", incident_to_json(r->cfg, inc, time_now_ms(), 0)));
	return 0;
}

/* ---- GET /api/incidents/{id} ---- */

static int reply_incident(struct http_req *r, struct store_conn *c, int status, int64_t id)
{
	struct err e;
	err_clear(&e);
	json_t *j = NULL;
	int rc = incident_load_json(c, r->cfg, id, &j, &e);
	if (rc)
		return api_fail(r, &e);
	req_reply_json(r, status, jpack("{so}", "incident", j));
	return 0;
}

int api_incident_get_run(struct http_req *r, struct store_conn *c)
{
	return reply_incident(r, c, 200, r->id);
}

/* ---- PATCH /api/incidents/{id} ---- */

static const struct vfield patch_fields[] = {
	{"summary", V_STRING, false, false, 0, 0, NULL},
	{"assigned_to", V_STRING, false, true, 0, 128, NULL},
	{"playbooks", V_STRING_ARRAY, false, false, 0, 32, NULL},
	{"metadata", V_OBJECT, false, false, 0, INCIDENT_METADATA_MAX_BYTES, NULL},
	{"severity", V_STRING, false, false, 0, 0, severities},
	{"reason", V_STRING, false, false, 1, 1000, NULL},
	{NULL, 0, false, false, 0, 0, NULL},
};

int api_incident_patch_prepare(struct http_req *r)
{
	if (api_body(r, patch_fields))
		return 1;
	struct err e;
	err_clear(&e);
	const char *s = json_get_str(r->body, "summary");
	if (s) {
		char *t = str_trim_dup(s);
		size_t n = utf8_length(t);
		free(t);
		if (n < 1 || n > 256) {
			err_field(&e, ERR_INVALID, "summary",
				  "summary must be 1 to 256 characters after trimming");
			req_reply_err(r, &e);
			return 1;
		}
	}
	return 0;
}

int api_incident_patch_run(struct http_req *r, struct store_conn *c)
{
	struct err e;
	err_clear(&e);
	struct incident inc;
	int rc = incident_patch(c, r->cfg, r->id, r->body, r->actor, &inc, &e);
	if (rc)
		return api_fail(r, &e);
	incident_clear(&inc);
	return reply_incident(r, c, 200, r->id);
}

/* ---- POST /api/incidents/{id}/{verb} and /assign ---- */

static const struct vfield verb_fields[] = {
	{"notes", V_STRING, false, true, 0, 10000, NULL},
	{"assigned_to", V_STRING, false, true, 0, 128, NULL},
	{NULL, 0, false, false, 0, 0, NULL},
};

int api_incident_verb_prepare(struct http_req *r)
{
	return api_body(r, verb_fields);
}

int api_incident_verb_run(struct http_req *r, struct store_conn *c)
{
	struct err e;
	err_clear(&e);
	enum verb v;
	if (!policy_parse_verb(r->param, &v)) {
		req_reply_error(r, ERR_NOTFOUND, "unknown action %s", r->param);
		return ERR_NOTFOUND;
	}
	/* assigned_to: absent = unchanged; null or "" = unassign (as PATCH and /assign). */
	const json_t *as = json_object_get(r->body, "assigned_to");
	const char *assign = as ? (json_is_string(as) ? json_string_value(as) : "") : NULL;
	struct incident inc;
	int rc = incident_transition(c, r->cfg, r->id, v, r->actor, json_get_str(r->body, "notes"),
				     assign, &inc, &e);
	if (rc)
		return api_fail(r, &e);
	incident_clear(&inc);
	return reply_incident(r, c, 200, r->id);
}

static const struct vfield assign_fields[] = {
	{"assigned_to", V_STRING, true, true, 0, 128, NULL},
	{NULL, 0, false, false, 0, 0, NULL},
};

int api_incident_assign_prepare(struct http_req *r)
{
	return api_body(r, assign_fields);
}

int api_incident_assign_run(struct http_req *r, struct store_conn *c)
{
	struct err e;
	err_clear(&e);
	struct incident inc;
	int rc = incident_assign(c, r->cfg, r->id, json_get_str(r->body, "assigned_to"), r->actor,
				 &inc, &e);
	if (rc)
		return api_fail(r, &e);
	incident_clear(&inc);
	return reply_incident(r, c, 200, r->id);
}

/* ---- comments ---- */

struct page_ctx {
	int64_t page, per_page;
	json_t *items;
};

static void page_ctx_free(void *p)
{
	struct page_ctx *c = p;
	if (c)
		json_decref(c->items);
	free(c);
}

static int page_prepare(struct http_req *r, int64_t dflt, int64_t max)
{
	struct page_ctx *c = xcalloc(1, sizeof *c);
	r->ctx = c;
	r->ctx_free = page_ctx_free;
	return api_paging(r, dflt, max, &c->page, &c->per_page);
}

int api_comments_list_prepare(struct http_req *r)
{
	return page_prepare(r, 50, 200);
}

static int comment_cb(const struct comment *cm, void *arg)
{
	json_array_append_new(arg, incident_comment_json(cm));
	return 0;
}

/* 404 for a missing incident, so that an empty list means "no comments". */
static int require_incident(struct http_req *r, struct store_conn *c)
{
	struct err e;
	err_clear(&e);
	struct incident inc;
	int rc = store_incident_get(c, r->id, &inc, &e);
	if (rc)
		return api_fail(r, &e);
	incident_clear(&inc);
	return 0;
}

int api_comments_list_run(struct http_req *r, struct store_conn *c)
{
	struct page_ctx *p = r->ctx;
	struct err e;
	err_clear(&e);
	int rc = require_incident(r, c);
	if (rc)
		return rc;
	int64_t total = 0;
	json_t *items = json_array();
	rc = store_comment_list(c, r->id, (p->page - 1) * p->per_page, p->per_page, comment_cb,
				items, &total, &e);
	if (rc) {
		json_decref(items);
		return api_fail(r, &e);
	}
	req_reply_json(r, 200, api_list("comments", items, total, p->page, p->per_page));
	return 0;
}

static const struct vfield comment_fields[] = {
	{"body", V_STRING, true, false, 1, 10000, NULL},
	{NULL, 0, false, false, 0, 0, NULL},
};

int api_comment_add_prepare(struct http_req *r)
{
	if (api_body(r, comment_fields))
		return 1;
	struct err e;
	err_clear(&e);
	char *t = str_trim_dup(json_get_str(r->body, "body"));
	bool empty = !*t;
	free(t);
	if (empty) {
		err_field(&e, ERR_INVALID, "body", "body must not be blank");
		req_reply_err(r, &e);
		return 1;
	}
	return 0;
}

int api_comment_add_run(struct http_req *r, struct store_conn *c)
{
	struct err e;
	err_clear(&e);
	struct comment cm;
	int rc = incident_comment(c, r->cfg, r->id, r->actor, json_get_str(r->body, "body"), &cm,
				  &e);
	if (rc)
		return api_fail(r, &e);
	req_reply_json(r, 201, jpack("{so}", "comment", incident_comment_json(&cm)));
	comment_clear(&cm);
	return 0;
}

/* ---- timeline and /api/events ---- */

struct event_sink {
	json_t *items;
	struct err e; /* a stored event that cannot be shown */
};

static int event_cb(const struct event *ev, void *arg)
{
	struct event_sink *s = arg;
	json_t *j = event_to_json(ev, &s->e);
	if (!j)
		return 1;
	json_array_append_new(s->items, j);
	return 0;
}

int api_timeline_prepare(struct http_req *r)
{
	return page_prepare(r, 100, 1000);
}

int api_timeline_run(struct http_req *r, struct store_conn *c)
{
	struct page_ctx *p = r->ctx;
	struct err e;
	err_clear(&e);
	int rc = require_incident(r, c);
	if (rc)
		return rc;
	struct event_filter f = {.incident_id = r->id,
				 .limit = p->per_page,
				 .offset = (p->page - 1) * p->per_page,
				 .count_total = true};
	int64_t total = 0;
	struct event_sink sink = {.items = json_array()};
	err_clear(&sink.e);
	if ((rc = store_event_list(c, &f, event_cb, &sink, &total, &e)) || sink.e.code) {
		json_decref(sink.items);
		return api_fail(r, rc ? &e : &sink.e);
	}
	req_reply_json(r, 200, api_list("events", sink.items, total, p->page, p->per_page));
	return 0;
}

struct events_ctx {
	struct event_filter f;
	char **types;
};

static void events_ctx_free(void *p)
{
	struct events_ctx *c = p;
	if (c)
		api_strv_free(c->types);
	free(c);
}

int api_events_prepare(struct http_req *r)
{
	struct events_ctx *c = xcalloc(1, sizeof *c);
	r->ctx = c;
	r->ctx_free = events_ctx_free;
	if (api_query_int(r, "after_id", 0, INT64_MAX, 0, &c->f.after_id) ||
	    api_query_int(r, "incident_id", 1, INT64_MAX, 0, &c->f.incident_id) ||
	    api_query_int(r, "limit", 1, 1000, 100, &c->f.limit))
		return 1;
	if ((c->types = api_query_list(r, "types"))) {
		size_t n = 0;
		for (char **t = c->types; *t; t++, n++) {
			bool known = false;
			for (const char *const *k = event_type_names; *k && !known; k++)
				known = !strcmp(*k, *t);
			if (!known)
				return bad_query(r, "types", "unknown event type", *t);
		}
		if (!n || n > 16)
			return bad_query(r, "types", "give 1 to 16 types", NULL);
		c->f.types = (const char *const *)c->types;
	}
	c->f.count_total = true;
	return 0;
}

int api_events_run(struct http_req *r, struct store_conn *c)
{
	struct events_ctx *ctx = r->ctx;
	struct err e;
	err_clear(&e);
	int64_t total = 0;
	struct event_sink sink = {.items = json_array()};
	err_clear(&sink.e);
	int rc = store_event_list(c, &ctx->f, event_cb, &sink, &total, &e);
	if (rc || sink.e.code) {
		json_decref(sink.items);
		return api_fail(r, rc ? &e : &sink.e);
	}
	req_reply_json(r, 200, api_list("events", sink.items, total, 1, ctx->f.limit));
	return 0;
}
