/* authn.c — identify, authorize and check the origin of a request; see authn.h. */
#include "http/authn.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http/router.h"
#include "util/time.h"

#define SESSION_COOKIE "intervene_session"
#define MAX_ORIGINS    5

struct authn {
	const struct config *cfg;
	char origins[MAX_ORIGINS][300];
	int n_origins;
};

static void add_origin(struct authn *a, const char *fmt, const char *host, const char *port)
{
	if (a->n_origins < MAX_ORIGINS)
		snprintf(a->origins[a->n_origins++], sizeof a->origins[0], fmt, host, port);
}

struct authn *authn_new(const struct config *cfg, const char *bound_addr)
{
	struct authn *a = xcalloc(1, sizeof *a);
	a->cfg = cfg;
	/* The public URL up to the end of its authority part. */
	char pub[300];
	const char *u = config_public_url(cfg, pub, sizeof pub);
	const char *sch = strstr(u, "://");
	const char *slash = sch ? strchr(sch + 3, '/') : NULL;
	size_t n = slash ? (size_t)(slash - u) : strlen(u);
	snprintf(a->origins[a->n_origins++], sizeof a->origins[0], "%.*s", (int)n, u);
	if (config_listen_is_loopback(cfg->server.listen)) {
		const char *colon = strrchr(bound_addr, ':');
		const char *port = colon ? colon + 1 : "";
		add_origin(a, "http://%s:%s", "localhost", port);
		add_origin(a, "http://%s:%s", "127.0.0.1", port);
		add_origin(a, "http://%s:%s", "[::1]", port);
	}
	return a;
}

void authn_free(struct authn *a)
{
	free(a);
}

bool authn_origin_ok(const struct authn *a, const char *origin)
{
	for (int i = 0; i < a->n_origins; i++)
		if (!strcasecmp(origin, a->origins[i]))
			return true;
	return false;
}

/* The value of cookie name in a Cookie header, malloc'd, or NULL. */
static char *cookie_value(const char *header, const char *name)
{
	size_t n = strlen(name);
	for (const char *p = header; p && *p;) {
		while (*p == ' ' || *p == ';')
			p++;
		const char *end = strchr(p, ';');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		if (len > n && !strncmp(p, name, n) && p[n] == '=')
			return xstrndup(p + n + 1, len - n - 1);
		p = end;
	}
	return NULL;
}

static int identify(const struct authn *a, const struct auth_cache *ac, struct http_req *r,
		    const struct http_head *h, const struct auth_entry **out)
{
	*out = NULL;
	if (a->cfg->auth.mode == CONFIG_AUTH_NONE) {
		const char *actor = http_head_get(h, "X-Intervene-Actor");
		if (actor && !auth_valid_name(actor)) {
			struct err e;
			err_clear(&e);
			err_field(&e, ERR_INVALID, "X-Intervene-Actor",
				  "X-Intervene-Actor must be 1 to 64 characters of A-Z a-z 0-9 . "
				  "_ @ -");
			req_reply_err(r, &e);
			return 1;
		}
		snprintf(r->actor, sizeof r->actor, "%s", actor ? actor : "local");
		r->role = ROLE_ADMIN;
		r->via = VIA_LOCAL;
		return 0;
	}
	const char *authz = http_head_get(h, "Authorization");
	int64_t now = time_now_ms();
	const struct auth_entry *en = NULL;
	const char *qtoken = r->route && r->route->token_query ? req_query(r, "token") : NULL;
	if (authz && !strncasecmp(authz, "Bearer ", 7)) {
		en = auth_cache_check(ac, authz + 7, now);
		r->via = en ? VIA_TOKEN : VIA_NONE;
	} else if (!authz && qtoken) {
		en = auth_cache_check(ac, qtoken, now);
		r->via = en ? VIA_TOKEN : VIA_NONE;
	} else if (!authz) {
		char *sid = cookie_value(http_head_get(h, "Cookie"), SESSION_COOKIE);
		if (sid && (en = auth_cache_check_session(ac, sid, now))) {
			r->via = VIA_COOKIE;
			r->session_id = sid;
			sid = NULL;
		}
		free(sid);
	}
	if (en) {
		snprintf(r->actor, sizeof r->actor, "%s", en->name);
		r->role = en->role;
	}
	*out = en;
	return 0;
}

int authn_authenticate(const struct authn *a, const struct auth_cache *ac, struct http_req *r,
		       const struct http_head *h)
{
	const struct auth_entry *en;
	if (identify(a, ac, r, h, &en))
		return 1;
	const struct route *rt = r->route;
	if (r->via == VIA_LOCAL || rt->min_role == ROLE_NONE ||
	    (rt->metrics && a->cfg->server.metrics_public))
		return 0;
	if (!en) {
		req_reply_error(r, ERR_UNAUTHORIZED, "%s",
				http_head_get(h, "Authorization")
					? "the token is not valid (unknown, revoked or expired)"
					: "authentication required: send Authorization: Bearer "
					  "<token>");
		return 1;
	}
	if (en->role < rt->min_role) {
		req_reply_error(r, ERR_FORBIDDEN, "this needs the %s role; %s is %s",
				auth_role_name(rt->min_role), en->name, auth_role_name(en->role));
		return 1;
	}
	return 0;
}

int authn_check_origin(const struct authn *a, struct http_req *r, const struct http_head *h)
{
	if (r->method == M_GET || r->method == M_HEAD || r->method == M_OPTIONS)
		return 0;
	const char *origin = http_head_get(h, "Origin");
	if (origin ? authn_origin_ok(a, origin) : r->via != VIA_COOKIE)
		return 0;
	req_reply_error(r, ERR_FORBIDDEN,
			"cross-origin request refused: unsafe requests must come from %s%s",
			a->origins[0],
			r->via == VIA_COOKIE ? " and carry Origin when signed in by cookie" : "");
	return 1;
}
