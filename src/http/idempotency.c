/* idempotency.c — see idempotency.h. */
#include "http/idempotency.h"

#include <stdio.h>
#include <string.h>

#include "http/router.h"
#include "util/time.h"

int idem_prepare(struct http_req *r, const struct http_head *h)
{
	const char *key = http_head_get(h, "Idempotency-Key");
	if (!key || !r->route->idempotent_key)
		return 0;
	size_t n = strlen(key);
	bool ok = n >= 1 && n <= IDEM_KEY_MAX;
	for (const char *p = key; ok && *p; p++)
		ok = *p > 0x20 && *p < 0x7f;
	if (!ok) {
		struct err e;
		err_clear(&e);
		err_field(&e, ERR_INVALID, "Idempotency-Key",
			  "Idempotency-Key must be 1 to %d printable ASCII characters",
			  IDEM_KEY_MAX);
		req_reply_err(r, &e);
		return 1;
	}
	r->idempotency_key = xstrdup(key);
	return 0;
}

int idem_run(struct http_req *r, struct store_conn *c)
{
	struct err e;
	err_clear(&e);
	char scope[200];
	snprintf(scope, sizeof scope, "%s %s %s", router_method_name(r->method), r->route->pattern,
		 r->actor);
	int status = 0;
	int rc = store_idem_get(c, scope, r->idempotency_key,
				time_now_ms() - RETENTION_IDEMPOTENCY_MS, &status, &r->reply, &e);
	if (rc == 0) {
		r->status = status;
		return 0;
	}
	if (rc != ERR_NOTFOUND) {
		req_reply_err(r, &e);
		return rc;
	}
	rc = r->route->run(r, c);
	if (rc < 0 || r->status < 200 || r->status >= 300)
		return rc;
	rc = store_idem_put(c, scope, r->idempotency_key, r->status, buf_cstr(&r->reply),
			    time_now_ms(), &e);
	if (rc) {
		buf_reset(&r->reply);
		req_reply_err(r, &e);
	}
	return rc;
}
