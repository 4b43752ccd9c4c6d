/* metrics.h — the server's own counters and histograms for /metrics (SPEC §14).
 *
 * Owned and touched only by the loop thread: HTTP requests are counted when their
 * reply is sent, and other counters (signal outcomes) by the routes' finish()
 * hooks, which run on the loop thread after their commit succeeded. Gauges that
 * live in the database (incidents by status and severity, active silences) are
 * read by the /metrics route itself on a store thread. */
#ifndef INTERVENE_HTTP_METRICS_H
#define INTERVENE_HTTP_METRICS_H

#include <stddef.h>

#include "util/buf.h"

struct route;
struct metrics;

/* Counters for a route table of n routes (plus one "unmatched" slot). */
struct metrics *metrics_new(const struct route *routes, size_t n);
void metrics_free(struct metrics *m);

/* Count one reply: route may be NULL (no route matched). */
void metrics_http(struct metrics *m, const struct route *route, int status, double seconds);

/* Count one signal outcome (kind and outcome names as in the API). */
void metrics_signal(struct metrics *m, const char *kind, const char *outcome);

/* Count one full reload of the token cache (http/auth_refresh.c). */
void metrics_auth_reload(struct metrics *m);

/* The connection gauges, as http/conn.c counts them (set before rendering). */
struct metrics_conn {
	size_t open, buffered;
	unsigned long long refused;
};
void metrics_set_conn(struct metrics *m, const struct metrics_conn *c);

/* Append every series in Prometheus text format 0.0.4. */
void metrics_render(const struct metrics *m, struct buf *out);

#endif
