/* silences.c — /api/silences (SPEC §4.5). */
#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "config/config.h"
#include "core/incident.h"
#include "core/policy.h"
#include "core/silence.h"
#include "util/json.h"
#include "util/time.h"
#include "util/validate.h"

static const char *const kinds[] = {"invariant", "budget", "planner", "manual", "alert", NULL};

static const struct vfield silence_fields[] = {
	{"kind", V_STRING, false, true, 0, 0, kinds},
	{"key_glob", V_STRING, true, false, 1, 512, NULL},
	{"reason", V_STRING, true, false, 1, 1000, NULL},
	{"ends_at", V_TIME, false, true, 0, 0, NULL},
	{"duration", V_STRING, false, true, 2, 16, NULL},
	{"starts_at", V_TIME, false, true, 0, 0, NULL},
	{NULL, 0, false, false, 0, 0, NULL},
};

static void silence_free(void *p)
{
	silence_clear(p);
	free(p);
}

static int invalid(struct http_req *r, const char *field, const char *msg)
{
	struct err e;
	err_clear(&e);
	err_field(&e, ERR_INVALID, field, "%s", msg);
	req_reply_err(r, &e);
	return 1;
}

int api_silence_create_prepare(struct http_req *r)
{
	if (api_body(r, silence_fields))
		return 1;
	struct err e;
	err_clear(&e);
	const char *ends = json_get_str(r->body, "ends_at");
	const char *dur = json_get_str(r->body, "duration");
	const char *starts = json_get_str(r->body, "starts_at");
	if (!!ends == !!dur)
		return invalid(r, ends ? "duration" : "ends_at",
			       "give exactly one of ends_at or duration");
	char *reason = str_trim_dup(json_get_str(r->body, "reason"));
	bool blank = !*reason;
	free(reason);
	if (blank)
		return invalid(r, "reason", "reason must not be blank");
	int64_t now = time_now_ms(), start = now, end = 0;
	if (starts) {
		time_parse_ms(starts, &start);
		if (start < now)
			start = now;
	}
	if (dur) {
		int64_t ms = config_parse_duration(dur);
		if (ms <= 0)
			return invalid(r, "duration", "duration must look like 30m, 4h or 7d");
		end = start + ms;
	} else {
		time_parse_ms(ends, &end);
	}
	if (end <= now || end <= start)
		return invalid(r, ends ? "ends_at" : "duration",
			       "the silence must end in the future");
	if (end - start > SILENCE_MAX_MS)
		return invalid(r, ends ? "ends_at" : "duration", "a silence lasts at most 7 days");
	if (end > TIME_MAX_MS)
		return invalid(r, ends ? "ends_at" : "duration",
			       "the silence must end by 9999-12-31T23:59:59.999Z");
	struct silence *s = xcalloc(1, sizeof *s);
	r->ctx = s;
	r->ctx_free = silence_free;
	const char *kind = json_get_str(r->body, "kind");
	s->kind = kind ? xstrdup(kind) : NULL;
	s->key_glob = xstrdup(json_get_str(r->body, "key_glob"));
	s->reason = str_trim_dup(json_get_str(r->body, "reason"));
	s->starts_at = start;
	s->ends_at = end;
	return 0;
}

int api_silence_create_run(struct http_req *r, struct store_conn *c)
{
	struct silence *s = r->ctx;
	struct err e;
	err_clear(&e);
	free(s->created_by);
	s->created_by = xstrdup(r->actor);
	int rc = silence_create(c, r->cfg, s, r->actor, &e);
	if (rc)
		return api_fail(r, &e);
	req_reply_json(r, 201, jpack("{so}", "silence", silence_to_json(s, time_now_ms())));
	return 0;
}

struct list_ctx {
	int64_t page, per_page;
	bool all;
	int64_t now;
	json_t *items;
};

static void list_free(void *p)
{
	struct list_ctx *c = p;
	if (c)
		json_decref(c->items);
	free(c);
}

int api_silences_list_prepare(struct http_req *r)
{
	struct list_ctx *c = xcalloc(1, sizeof *c);
	r->ctx = c;
	r->ctx_free = list_free;
	const char *all = req_query(r, "all");
	if (all && strcmp(all, "true") && strcmp(all, "false"))
		return invalid(r, "all", "all must be true or false");
	c->all = all && !strcmp(all, "true");
	return api_paging(r, 50, 200, &c->page, &c->per_page);
}

static int silence_cb(const struct silence *s, void *arg)
{
	struct list_ctx *c = arg;
	json_array_append_new(c->items, silence_to_json(s, c->now));
	return 0;
}

int api_silences_list_run(struct http_req *r, struct store_conn *conn)
{
	struct list_ctx *c = r->ctx;
	struct err e;
	err_clear(&e);
	c->now = time_now_ms();
	c->items = json_array();
	int64_t total = 0;
	int rc = store_silence_list(conn, c->now, c->all, (c->page - 1) * c->per_page, c->per_page,
				    silence_cb, c, &total, &e);
	if (rc)
		return api_fail(r, &e);
	json_t *items = c->items;
	c->items = NULL;
	req_reply_json(r, 200, api_list("silences", items, total, c->page, c->per_page));
	return 0;
}

int api_silence_end_run(struct http_req *r, struct store_conn *c)
{
	struct err e;
	err_clear(&e);
	struct silence s = {0};
	int rc = silence_end(c, r->cfg, r->id, r->actor, &s, &e);
	if (rc)
		return api_fail(r, &e);
	req_reply_json(r, 200, jpack("{so}", "silence", silence_to_json(&s, time_now_ms())));
	silence_clear(&s);
	return 0;
}

/* ---- preview ---- */

struct preview_ctx {
	char *kind, *glob;
	json_t *incidents, *keys;
	const struct config *cfg;
	int64_t now;
};

static void preview_free(void *p)
{
	struct preview_ctx *c = p;
	if (!c)
		return;
	free(c->kind);
	free(c->glob);
	json_decref(c->incidents);
	json_decref(c->keys);
	free(c);
}

int api_silence_preview_prepare(struct http_req *r)
{
	const char *kind = req_query(r, "kind");
	const char *glob = req_query(r, "key_glob");
	if (kind && *kind && policy_kind_index(kind) < 0)
		return invalid(r, "kind",
			       "kind must be invariant, budget, planner, manual or alert");
	if (!glob || !*glob)
		return invalid(r, "key_glob", "key_glob is required");
	struct preview_ctx *c = xcalloc(1, sizeof *c);
	r->ctx = c;
	r->ctx_free = preview_free;
	c->kind = kind && *kind ? xstrdup(kind) : NULL;
	c->glob = xstrdup(glob);
	return 0;
}

static int preview_incident_cb(const struct incident *inc, void *arg)
{
	struct preview_ctx *c = arg;
	if (silence_matches(c->kind, c->glob, inc->kind, inc->key))
		json_array_append_new(c->incidents, incident_lean_json(c->cfg, inc, c->now));
	return 0;
}

static int preview_key_cb(const char *kind, const char *key, void *arg)
{
	struct preview_ctx *c = arg;
	if (silence_matches(c->kind, c->glob, kind, key) && json_array_size(c->keys) < 100)
		json_array_append_new(c->keys, jpack("{ss ss}", "kind", kind, "key", key));
	return 0;
}

#define PREVIEW_RECENT_MS (7LL * 24 * 3600 * 1000)

int api_silence_preview_run(struct http_req *r, struct store_conn *conn)
{
	struct preview_ctx *c = r->ctx;
	struct err e;
	err_clear(&e);
	c->cfg = r->cfg;
	c->now = time_now_ms();
	c->incidents = json_array();
	c->keys = json_array();
	/* Active incidents are bounded by the unique index; scan them in pages. */
	struct incident_filter f = {
		.statuses = 1 << ST_OPEN | 1 << ST_ACKNOWLEDGED | 1 << ST_MITIGATED,
		.page = 1,
		.per_page = 10000,
	};
	int rc = store_incident_list(conn, &f, preview_incident_cb, c, NULL, &e);
	if (!rc)
		rc = store_incident_recent_keys(conn, c->now - PREVIEW_RECENT_MS, 5000,
						preview_key_cb, c, &e);
	if (rc)
		return api_fail(r, &e);
	req_reply_json(r, 200, jpack("{sO sO}", "incidents", c->incidents, "keys", c->keys));
	return 0;
}
