/* settings.c — /api/settings and /api/canary/{name} (SPEC §5.3; core/settings.h).
 *
 * An unknown key is 404, on GET and PUT alike: the key is a path segment, and a path
 * naming nothing is 404 everywhere in this API. prepare() checks the body before the
 * key, so a bad body is named as such whatever the path. */
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "core/settings.h"
#include "util/json.h"
#include "util/validate.h"

/* A tracker block is a few hundred bytes; 64 KiB leaves room for many assignees. */
#define VALUE_MAX_BYTES 65536

static int not_found(struct http_req *r, const char *what)
{
	req_reply_error(r, ERR_NOTFOUND, "%s", what);
	return 1;
}

/* ---- GET /api/settings ---- */

struct list_ctx {
	int64_t page, per_page;
};

int api_settings_list_prepare(struct http_req *r)
{
	struct list_ctx *c = xcalloc(1, sizeof *c);
	r->ctx = c;
	r->ctx_free = free;
	return api_paging(r, 50, 200, &c->page, &c->per_page);
}

int api_settings_list_run(struct http_req *r, struct store_conn *conn)
{
	struct list_ctx *c = r->ctx;
	struct err e;
	err_clear(&e);
	json_t *all = NULL;
	if (settings_list_json(conn, r->cfg, &all, &e))
		return api_fail(r, &e);
	int64_t total = (int64_t)json_array_size(all), first = (c->page - 1) * c->per_page;
	json_t *items = json_array();
	for (int64_t i = first; i < total && i < first + c->per_page; i++)
		json_array_append(items, json_array_get(all, (size_t)i));
	json_decref(all);
	req_reply_json(r, 200, api_list("settings", items, total, c->page, c->per_page));
	return 0;
}

/* ---- GET and PUT /api/settings/{key} ---- */

int api_setting_get_prepare(struct http_req *r)
{
	if (!settings_key_known(r->param))
		return not_found(r, "no such setting: the settings are tracker and canary.<name>");
	return 0;
}

int api_setting_get_run(struct http_req *r, struct store_conn *c)
{
	struct err e;
	err_clear(&e);
	json_t *s = NULL;
	if (settings_get_json(c, r->cfg, r->param, &s, &e))
		return api_fail(r, &e);
	req_reply_json(r, 200, jpack("{so}", "setting", s));
	return 0;
}

static const struct vfield put_fields[] = {
	{"value", V_OBJECT, true, false, 0, VALUE_MAX_BYTES, NULL},
	{"reason", V_STRING, true, false, 1, 1000, NULL},
	{NULL, 0, false, false, 0, 0, NULL},
};

int api_setting_put_prepare(struct http_req *r)
{
	if (api_body(r, put_fields))
		return 1;
	char *reason = str_trim_dup(json_get_str(r->body, "reason"));
	bool blank = !*reason;
	free(reason);
	if (blank) {
		struct err e;
		err_clear(&e);
		err_field(&e, ERR_INVALID, "reason", "reason must not be blank");
		req_reply_err(r, &e);
		return 1;
	}
	return api_setting_get_prepare(r);
}

int api_setting_put_run(struct http_req *r, struct store_conn *c)
{
	struct err e;
	err_clear(&e);
	json_t *s = NULL;
	int rc = settings_put(c, r->cfg, r->param, json_object_get(r->body, "value"), r->actor,
			      json_get_str(r->body, "reason"), &e);
	if (!rc)
		rc = settings_get_json(c, r->cfg, r->param, &s, &e);
	if (rc)
		return api_fail(r, &e);
	req_reply_json(r, 200, jpack("{so}", "setting", s));
	return 0;
}

/* ---- GET /api/canary/{name} ---- */

int api_canary_get_run(struct http_req *r, struct store_conn *c)
{
	struct err e;
	err_clear(&e);
	json_t *out = NULL;
	if (settings_canary_json(c, r->param, &out, &e))
		return api_fail(r, &e);
	req_reply_json(r, 200, out);
	return 0;
}
