/* session.c — browser sign-in: /api/session (SPEC §11). */
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "core/auth.h"
#include "http/server.h"
#include "util/json.h"
#include "util/time.h"
#include "util/validate.h"

static const struct vfield session_fields[] = {
	{"token", V_STRING, true, false, 1, 256, NULL},
	{NULL, 0, false, false, 0, 0, NULL},
};

/* Secure is added when the public URL is https: the cookie then never travels in
 * clear text. */
static char *cookie(const struct config *cfg, const char *value, int64_t max_age_s)
{
	char pub[300];
	const char *u = config_public_url(cfg, pub, sizeof pub);
	struct buf b = BUF_INIT;
	buf_printf(&b, "intervene_session=%s; Path=/; HttpOnly; SameSite=Strict; Max-Age=%lld%s",
		   value, (long long)max_age_s, strncmp(u, "https:", 6) ? "" : "; Secure");
	return buf_steal(&b);
}

/* What sign-in and sign-out tell the token cache once they committed. */
struct session_change {
	char sid[AUTH_TOKEN_LEN + 1];
	char name[AUTH_NAME_MAX + 1];
	enum role role;
	int64_t expires_at;
};

static void session_change_free(void *p)
{
	if (p)
		memset(p, 0, sizeof(struct session_change));
	free(p);
}

int api_session_create_prepare(struct http_req *r)
{
	return api_body(r, session_fields);
}

int api_session_create_run(struct http_req *r, struct store_conn *c)
{
	struct err e;
	err_clear(&e);
	char sid[AUTH_TOKEN_LEN + 1], name[AUTH_NAME_MAX + 1];
	enum role role;
	int64_t expires_at;
	int rc = auth_session_create(c, json_get_str(r->body, "token"), sid, name, &role,
				     &expires_at, &e);
	if (rc)
		return api_fail(r, &e);
	int64_t max_age = (expires_at - time_now_ms()) / 1000;
	r->set_cookie = cookie(r->cfg, sid, max_age > 0 ? max_age : 0);
	struct session_change *sc = xcalloc(1, sizeof *sc);
	memcpy(sc->sid, sid, sizeof sc->sid);
	memcpy(sc->name, name, sizeof sc->name);
	sc->role = role;
	sc->expires_at = expires_at;
	r->ctx = sc;
	r->ctx_free = session_change_free;
	memset(sid, 0, sizeof sid);
	req_reply_json(r, 200,
		       jpack("{ss ss so}", "actor", name, "role", auth_role_name(role),
			     "expires_at", json_time_or_null(expires_at)));
	return 0;
}

int api_session_get_prepare(struct http_req *r)
{
	static const char *const via[] = {"none", "token", "cookie", "none"};
	req_reply_json(r, 200,
		       jpack("{ss ss ss}", "actor", r->actor, "role", auth_role_name(r->role),
			     "via", via[r->via]));
	return 1;
}

int api_session_delete_run(struct http_req *r, struct store_conn *c)
{
	struct err e;
	err_clear(&e);
	if (r->via == VIA_COOKIE && r->session_id) {
		int rc = auth_session_end(c, r->session_id, &e);
		if (rc && rc != ERR_NOTFOUND)
			return api_fail(r, &e);
	}
	r->set_cookie = cookie(r->cfg, "", 0);
	req_reply_json(r, 200, jpack("{sb}", "signed_out", 1));
	return 0;
}

void api_session_create_finish(struct http_req *r)
{
	const struct session_change *sc = r->ctx;
	server_session_added(r->srv, sc->sid, sc->name, sc->role, sc->expires_at);
}

void api_session_delete_finish(struct http_req *r)
{
	if (r->via == VIA_COOKIE && r->session_id)
		server_session_removed(r->srv, r->session_id);
}
