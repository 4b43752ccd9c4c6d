/* idempotency.h — Idempotency-Key on the routes that honour it (SPEC §5.1, §5.2).
 *
 * A client that retries a request with the same key within 24 hours gets the first
 * response again instead of a second change. The lookup, the route's own work and
 * storing its response happen in one write job, so they commit together: a repeat
 * can never see a change without its stored response or the reverse. The key is
 * scoped to method, route pattern and actor. */
#ifndef INTERVENE_HTTP_IDEMPOTENCY_H
#define INTERVENE_HTTP_IDEMPOTENCY_H

#include "core/retention.h"
#include "http/parse.h"
#include "http/request.h"

#define IDEM_TTL_MS  (24LL * 3600 * 1000)
#define IDEM_KEY_MAX 255

/* Loop thread: take the Idempotency-Key of h into r when r's route honours it (1 to
 * 255 printable ASCII characters, else a 400 reply and non-zero). */
int idem_prepare(struct http_req *r, const struct http_head *h);

/* Store thread, inside r's write job: replay the stored response for r's key, or
 * run the route and store a 2xx response it made. Returns what run() returns. */
int idem_run(struct http_req *r, struct store_conn *c);

#endif
