/* tokens.c — token administration over HTTP: /api/tokens (SPEC §11, admins). */
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "core/auth.h"
#include "util/json.h"
#include "util/time.h"
#include "util/validate.h"

static json_t *token_json(const struct token_row *t, int64_t now)
{
	const char *status = t->revoked_at			       ? "revoked"
			     : (t->expires_at && t->expires_at <= now) ? "expired"
								       : "active";
	return jpack("{ss ss so so so so ss}", "name", t->name, "role", t->role, "created_at",
		     json_time_or_null(t->created_at), "created_by",
		     json_str_or_null(t->created_by), "expires_at",
		     json_time_or_null(t->expires_at), "revoked_at",
		     json_time_or_null(t->revoked_at), "status", status);
}

struct list_ctx {
	int64_t page, per_page, seen, now;
	json_t *items;
};

static void list_free(void *p)
{
	struct list_ctx *c = p;
	if (c)
		json_decref(c->items);
	free(c);
}

int api_tokens_list_prepare(struct http_req *r)
{
	struct list_ctx *c = xcalloc(1, sizeof *c);
	r->ctx = c;
	r->ctx_free = list_free;
	return api_paging(r, 50, 200, &c->page, &c->per_page);
}

static int list_cb(const struct token_row *t, void *arg)
{
	struct list_ctx *c = arg;
	int64_t first = (c->page - 1) * c->per_page;
	if (c->seen >= first && c->seen < first + c->per_page)
		json_array_append_new(c->items, token_json(t, c->now));
	c->seen++;
	return 0;
}

int api_tokens_list_run(struct http_req *r, struct store_conn *conn)
{
	struct list_ctx *c = r->ctx;
	struct err e;
	err_clear(&e);
	c->items = json_array();
	c->now = time_now_ms();
	int rc = store_token_list(conn, list_cb, c, &e);
	if (rc)
		return api_fail(r, &e);
	json_t *items = c->items;
	c->items = NULL;
	req_reply_json(r, 200, api_list("tokens", items, c->seen, c->page, c->per_page));
	return 0;
}

static const char *const roles[] = {"viewer", "responder", "approver", "admin", NULL};

static const struct vfield create_fields[] = {
	{"name", V_STRING, true, false, 1, AUTH_NAME_MAX, NULL},
	{"role", V_STRING, true, false, 0, 0, roles},
	{"expires", V_STRING, false, true, 2, 16, NULL},
	{NULL, 0, false, false, 0, 0, NULL},
};

int api_token_create_prepare(struct http_req *r)
{
	if (api_body(r, create_fields))
		return 1;
	struct err e;
	err_clear(&e);
	if (!auth_valid_name(json_get_str(r->body, "name"))) {
		err_field(&e, ERR_INVALID, "name",
			  "token names are 1 to 64 characters of A-Z a-z 0-9 . _ @ -");
		req_reply_err(r, &e);
		return 1;
	}
	const char *exp = json_get_str(r->body, "expires");
	if (exp && config_parse_duration(exp) <= 0) {
		err_field(&e, ERR_INVALID, "expires", "expires must look like 90d or 12h");
		req_reply_err(r, &e);
		return 1;
	}
	return 0;
}

int api_token_create_run(struct http_req *r, struct store_conn *c)
{
	struct err e;
	err_clear(&e);
	const char *name = json_get_str(r->body, "name");
	enum role role = auth_parse_role(json_get_str(r->body, "role"));
	const char *exp = json_get_str(r->body, "expires");
	int64_t expires_at = exp ? time_now_ms() + config_parse_duration(exp) : 0;
	char token[AUTH_TOKEN_LEN + 1];
	int rc = auth_token_create(c, r->cfg, name, role, expires_at, r->actor, NULL, token, &e);
	if (rc)
		return api_fail(r, &e);
	req_reply_json(r, 201,
		       jpack("{ss ss ss so}", "token", token, "name", name, "role",
			     auth_role_name(role), "expires_at", json_time_or_null(expires_at)));
	return 0;
}

struct revoked {
	json_t *found;
	const char *name;
	int64_t now;
};

static int find_cb(const struct token_row *t, void *arg)
{
	struct revoked *rv = arg;
	if (!strcmp(t->name, rv->name)) {
		json_decref(rv->found);
		rv->found = token_json(t, rv->now); /* the newest row of that name wins */
	}
	return 0;
}

struct admins {
	const char *name;
	int64_t now;
	int others; /* live admin tokens with another name */
	bool target_is_admin;
};

static int admin_cb(const struct token_row *t, void *arg)
{
	struct admins *a = arg;
	bool live = !t->revoked_at && !(t->expires_at && t->expires_at <= a->now);
	if (!live || strcmp(t->role, "admin"))
		return 0;
	if (strcmp(t->name, a->name))
		a->others++;
	else
		a->target_is_admin = true;
	return 0;
}

int api_token_revoke_run(struct http_req *r, struct store_conn *c)
{
	struct err e;
	err_clear(&e);
	/* Revoking the last admin over HTTP would lock everyone out of the API; the local
	 * `intervene token revoke` stays available for that on purpose. */
	struct admins a = {.name = r->param, .now = time_now_ms()};
	int rc = store_token_list(c, admin_cb, &a, &e);
	if (rc)
		return api_fail(r, &e);
	if (a.target_is_admin && a.others == 0) {
		req_reply_error(r, ERR_CONFLICT,
				"%s is the last live admin token; create another admin first",
				r->param);
		return ERR_CONFLICT;
	}
	rc = auth_token_revoke(c, r->cfg, r->param, r->actor, &e);
	if (rc)
		return api_fail(r, &e);
	struct revoked rv = {.name = r->param, .now = time_now_ms()};
	if ((rc = store_token_list(c, find_cb, &rv, &e)))
		return api_fail(r, &e);
	req_reply_json(r, 200, jpack("{so}", "token", rv.found ? rv.found : json_null()));
	return 0;
}
