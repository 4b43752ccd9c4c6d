/* authn.h — who is asking, and may they: the authentication phases of a request.
 *
 * Everything is decided from the request head, before a single body byte is read:
 * the actor comes from a bearer token, the session cookie, or — in auth.mode none,
 * which config allows only on a loopback listen — the X-Intervene-Actor header; the
 * route's minimum role is checked; and unsafe requests (anything but GET, HEAD,
 * OPTIONS) whose Origin is not one of the server's own are refused in every mode,
 * so a page on another site can neither ride a session cookie nor, in mode none,
 * act as the local admin. A cookie-authenticated unsafe request must carry Origin.
 *
 * The server's own origins: server.public_url's origin; and, on a loopback listen,
 * http://localhost:PORT, http://127.0.0.1:PORT and http://[::1]:PORT of the bound
 * port (the same machine under its usual names).
 *
 * Loop thread only. Each function returns 0 to go on, or non-zero with r's error
 * reply set. */
#ifndef INTERVENE_HTTP_AUTHN_H
#define INTERVENE_HTTP_AUTHN_H

#include "config/config.h"
#include "core/auth.h"
#include "http/parse.h"
#include "http/request.h"

struct authn;

/* The policy of cfg for a server bound to bound_addr ("127.0.0.1:8080"). */
struct authn *authn_new(const struct config *cfg, const char *bound_addr);
void authn_free(struct authn *a);

/* Whether origin (an Origin header value) is one of the server's own. */
bool authn_origin_ok(const struct authn *a, const char *origin);

/* Identify r's actor from h against the token cache ac, then check r->route's
 * minimum role: 400 for a malformed X-Intervene-Actor, 401 without valid
 * credentials, 403 below the route's role. */
int authn_authenticate(const struct authn *a, const struct auth_cache *ac, struct http_req *r,
		       const struct http_head *h);

/* Refuse (403) an unsafe request from another origin, or a cookie-authenticated
 * unsafe request without Origin. */
int authn_check_origin(const struct authn *a, struct http_req *r, const struct http_head *h);

#endif
