/* server.c — the `server` and `auth` sections: where and how the HTTP server listens,
 * and who may use it.
 *
 * Owns the listen address syntax (also config_listen_is_loopback for auth.mode none), the
 * rule that auth.mode none needs a loopback listen address, and the origin form of
 * public_url (config_public_url). */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config/keys.h"
#include "config/sections.h"

_Static_assert(sizeof(enum config_auth_mode) == sizeof(int), "enum size");

/* Split "host:port" / "[v6]:port". host gets the bare host (no brackets). */
static int parse_listen(const char *s, char *host, size_t hostsz, bool *v6, struct buf *why)
{
	const char *colon;
	*v6 = false;
	if (*s == '[') {
		const char *close = strchr(s, ']');
		if (!close || close[1] != ':') {
			buf_puts(why, "expected [IPv6]:PORT, e.g. [::1]:8080");
			return -1;
		}
		size_t n = (size_t)(close - s - 1);
		if (n == 0 || n >= hostsz) {
			buf_puts(why, "bad IPv6 address");
			return -1;
		}
		memcpy(host, s + 1, n);
		host[n] = '\0';
		struct in6_addr a6;
		if (inet_pton(AF_INET6, host, &a6) != 1) {
			buf_printf(why, "bad IPv6 address \"%s\"", host);
			return -1;
		}
		*v6 = true;
		colon = close + 1;
	} else {
		colon = strrchr(s, ':');
		if (!colon) {
			buf_puts(why, "expected HOST:PORT, e.g. 127.0.0.1:8080");
			return -1;
		}
		size_t n = (size_t)(colon - s);
		if (memchr(s, ':', n)) {
			buf_puts(why, "an IPv6 address needs brackets, e.g. [::1]:8080");
			return -1;
		}
		if (n == 0) {
			buf_puts(why, "missing host (use 0.0.0.0:PORT for every address)");
			return -1;
		}
		if (n >= hostsz || n > 253) {
			buf_puts(why, "host name too long");
			return -1;
		}
		memcpy(host, s, n);
		host[n] = '\0';
		bool numeric = strspn(host, "0123456789.") == n;
		struct in_addr a4;
		if (numeric && inet_pton(AF_INET, host, &a4) != 1) {
			buf_printf(why, "bad IPv4 address \"%s\"", host);
			return -1;
		}
		if (!numeric) {
			/* RFC 1123 labels: letters, digits, inner hyphens, 1..63 each */
			for (const char *l = host; *l;) {
				size_t len = strspn(
					l,
					"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-");
				if (len == 0 || len > 63 || l[0] == '-' || l[len - 1] == '-' ||
				    (l[len] && l[len] != '.')) {
					buf_puts(why, "bad host name");
					return -1;
				}
				l += len;
				if (*l == '.')
					l++;
			}
		}
	}
	const char *port = colon + 1;
	size_t pl = strlen(port);
	if (pl == 0 || pl > 5 || strspn(port, "0123456789") != pl || atol(port) > 65535) {
		buf_puts(why, "port must be a number from 0 to 65535");
		return -1;
	}
	return 0;
}

static int check_listen(const char *dir, char **s, struct buf *why)
{
	(void)dir;
	char host[256];
	bool v6;
	return parse_listen(*s, host, sizeof host, &v6, why);
}

/* The dashboard compares a browser's Origin header with scheme://host[:port] of this
 * URL, and links are built by appending paths to it. Browsers send the origin with
 * scheme and host in lowercase, without a default port and never with user:password@,
 * so the URL is kept in that spelling and user info is refused. */
static int check_public_url(const char *dir, char **s, struct buf *why)
{
	(void)dir;
	char *host = strstr(*s, "://") + 3; /* F_BASEURL checked the scheme */
	size_t n = strcspn(host, "/");
	if (memchr(host, '@', n)) {
		buf_puts(why, "must not contain user:password@ (browsers never send it in the "
			      "Origin header, and links in tickets would carry it)");
		return -1;
	}
	for (char *p = *s; p < host + n; p++)
		*p = (char)tolower((unsigned char)*p);
	const char *port = strncmp(*s, "https:", 6) ? ":80" : ":443";
	size_t pl = strlen(port);
	if (n > pl && !memcmp(host + n - pl, port, pl))
		memmove(host + n - pl, host + n, strlen(host + n) + 1);
	return 0;
}

static const struct enum_name auth_modes[] = {
	{"tokens", CONFIG_AUTH_TOKENS}, {"none", CONFIG_AUTH_NONE}, {NULL, 0}};

const struct key cfg_server_keys[] = {
	KSTR("listen", C(server.listen), "127.0.0.1:8080", F_REQUIRED, check_listen),
	KSTR("public_url", C(server.public_url), "", F_BASEURL, check_public_url),
	KINT("max_body_bytes", C(server.max_body_bytes), "1048576", 1024,
	     INT64_C(64) * 1024 * 1024),
	KDUR("read_timeout", C(server.read_timeout_ms), "10s", 100, HOUR, 0),
	KINT("max_connections", C(server.max_connections), "10000", 1, 1000000),
	KROW(KF_DUR("sse_heartbeat", C(server.sse_heartbeat_ms), "15s", 100, HOUR, 0)),
	KROW(KF_INT("sse_max_clients", C(server.sse_max_clients), "10000", 1, 1000000)),
	KBOOL("metrics_public", C(server.metrics_public), "false"),
	KBOOL("web", C(server.web), "true"),
	KEND,
};

const struct key cfg_auth_keys[] = {
	KENUM("mode", C(auth.mode), "tokens", auth_modes),
	KEND,
};

bool config_listen_is_loopback(const char *listen)
{
	char host[256];
	bool v6;
	struct buf why = BUF_INIT;
	int rc = listen ? parse_listen(listen, host, sizeof host, &v6, &why) : -1;
	buf_free(&why);
	if (rc < 0)
		return false;
	if (v6) {
		struct in6_addr a;
		if (inet_pton(AF_INET6, host, &a) != 1)
			return false;
		if (IN6_IS_ADDR_LOOPBACK(&a))
			return true;
		return IN6_IS_ADDR_V4MAPPED(&a) && a.s6_addr[12] == 127;
	}
	if (!strcasecmp(host, "localhost"))
		return true;
	struct in_addr a4;
	if (inet_pton(AF_INET, host, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	return false;
}

void cfg_check_auth(struct ctx *x, const struct config *c)
{
	if (c->auth.mode == CONFIG_AUTH_NONE && !config_listen_is_loopback(c->server.listen))
		cfg_error(x, "auth.mode", cfg_pos_of(x, c, C(auth.mode), (struct pos){1, 1}),
			  "none is only allowed when server.listen is a loopback address "
			  "(127.0.0.0/8, [::1] or localhost), not %s",
			  c->server.listen);
}

const char *config_public_url(const struct config *c, char *buf, size_t bufsz)
{
	if (c->server.public_url && *c->server.public_url)
		return c->server.public_url;
	/* In the spelling of a browser's Origin header, like a configured public_url. */
	const char *l = c->server.listen;
	size_t n = strlen(l);
	if (n > 3 && !strcmp(l + n - 3, ":80"))
		n -= 3;
	snprintf(buf, bufsz, "http://%.*s", (int)n, l);
	for (char *p = buf; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	return buf;
}
