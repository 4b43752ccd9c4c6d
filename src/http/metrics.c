#include "http/metrics.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http/router.h"

/* Upper bounds of the latency histogram, in seconds. */
static const double buckets[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
				 0.05,	 0.1,	0.25,	0.5,   1,    2.5};
#define N_BUCKETS (sizeof buckets / sizeof buckets[0])
#define MAX_CODES 12

static const char *const kinds[] = {"invariant", "budget", "planner", "manual", "alert"};
static const char *const outcomes[] = {"created",      "deduplicated", "silenced",
				       "rate_limited", "resolved",     "no_incident"};
#define N_KINDS	   (sizeof kinds / sizeof kinds[0])
#define N_OUTCOMES (sizeof outcomes / sizeof outcomes[0])

struct route_stats {
	int codes[MAX_CODES];
	uint64_t counts[MAX_CODES];
	uint64_t other; /* requests whose status did not fit the table */
	uint64_t hist[N_BUCKETS];
	uint64_t hist_count;
	double hist_sum;
};

struct metrics {
	const struct route *routes;
	size_t n;
	struct route_stats *stats; /* n + 1: the last is "unmatched" */
	uint64_t signals[N_KINDS][N_OUTCOMES];
	uint64_t auth_reloads;
	struct metrics_conn conn;
};

struct metrics *metrics_new(const struct route *routes, size_t n)
{
	struct metrics *m = xcalloc(1, sizeof *m);
	m->routes = routes;
	m->n = n;
	m->stats = xcalloc(n + 1, sizeof *m->stats);
	return m;
}

void metrics_free(struct metrics *m)
{
	if (!m)
		return;
	free(m->stats);
	free(m);
}

void metrics_http(struct metrics *m, const struct route *route, int status, double seconds)
{
	size_t idx = route ? (size_t)(route - m->routes) : m->n;
	if (idx > m->n)
		idx = m->n;
	struct route_stats *s = &m->stats[idx];
	int i = 0;
	while (i < MAX_CODES && s->codes[i] && s->codes[i] != status)
		i++;
	if (i == MAX_CODES) {
		s->other++;
	} else {
		s->codes[i] = status;
		s->counts[i]++;
	}
	for (size_t b = 0; b < N_BUCKETS; b++)
		if (seconds <= buckets[b])
			s->hist[b]++;
	s->hist_count++;
	s->hist_sum += seconds;
}

static int index_of(const char *const *names, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(names[i], name))
			return (int)i;
	return -1;
}

void metrics_signal(struct metrics *m, const char *kind, const char *outcome)
{
	int k = index_of(kinds, N_KINDS, kind), o = index_of(outcomes, N_OUTCOMES, outcome);
	if (k >= 0 && o >= 0)
		m->signals[k][o]++;
}

static const char *route_label(const struct metrics *m, size_t idx)
{
	return idx < m->n ? m->routes[idx].pattern : "unmatched";
}

static const char *method_label(const struct metrics *m, size_t idx)
{
	return idx < m->n ? router_method_name(m->routes[idx].method) : "any";
}

void metrics_auth_reload(struct metrics *m)
{
	m->auth_reloads++;
}

void metrics_set_conn(struct metrics *m, const struct metrics_conn *c)
{
	m->conn = *c;
}

void metrics_render(const struct metrics *m, struct buf *out)
{
	buf_printf(out,
		   "# HELP intervene_http_connections Open client connections.\n"
		   "# TYPE intervene_http_connections gauge\nintervene_http_connections %zu\n"
		   "# HELP intervene_http_buffered_bytes Request bytes buffered across "
		   "connections.\n# TYPE intervene_http_buffered_bytes gauge\n"
		   "intervene_http_buffered_bytes %zu\n"
		   "# HELP intervene_http_connections_refused_total Connections closed at once "
		   "(server.max_connections, out of descriptors, stopping).\n"
		   "# TYPE intervene_http_connections_refused_total counter\n"
		   "intervene_http_connections_refused_total %llu\n"
		   "# HELP intervene_auth_cache_reloads_total Full reloads of the token cache.\n"
		   "# TYPE intervene_auth_cache_reloads_total counter\n"
		   "intervene_auth_cache_reloads_total %llu\n",
		   m->conn.open, m->conn.buffered, (unsigned long long)m->conn.refused,
		   (unsigned long long)m->auth_reloads);
	buf_puts(out, "# HELP intervene_http_requests_total HTTP requests answered, by route "
		      "pattern and status code.\n# TYPE intervene_http_requests_total counter\n");
	for (size_t r = 0; r <= m->n; r++) {
		const struct route_stats *s = &m->stats[r];
		for (int i = 0; i < MAX_CODES && s->codes[i]; i++)
			buf_printf(
				out,
				"intervene_http_requests_total{method=\"%s\",route=\"%s\",code=\"%d\"} "
				"%llu\n",
				method_label(m, r), route_label(m, r), s->codes[i],
				(unsigned long long)s->counts[i]);
		if (s->other)
			buf_printf(
				out,
				"intervene_http_requests_total{method=\"%s\",route=\"%s\",code=\"other\"} "
				"%llu\n",
				method_label(m, r), route_label(m, r),
				(unsigned long long)s->other);
	}
	buf_puts(out, "# HELP intervene_http_request_duration_seconds Time from request "
		      "received to reply sent.\n# TYPE intervene_http_request_duration_seconds "
		      "histogram\n");
	for (size_t r = 0; r <= m->n; r++) {
		const struct route_stats *s = &m->stats[r];
		if (!s->hist_count)
			continue;
		for (size_t b = 0; b < N_BUCKETS; b++)
			buf_printf(
				out,
				"intervene_http_request_duration_seconds_bucket{method=\"%s\",route=\"%s\","
				"le=\"%g\"} %llu\n",
				method_label(m, r), route_label(m, r), buckets[b],
				(unsigned long long)s->hist[b]);
		buf_printf(
			out,
			"intervene_http_request_duration_seconds_bucket{method=\"%s\",route=\"%s\","
			"le=\"+Inf\"} %llu\n",
			method_label(m, r), route_label(m, r), (unsigned long long)s->hist_count);
		buf_printf(
			out,
			"intervene_http_request_duration_seconds_sum{method=\"%s\",route=\"%s\"} %.6f\n",
			method_label(m, r), route_label(m, r), s->hist_sum);
		buf_printf(
			out,
			"intervene_http_request_duration_seconds_count{method=\"%s\",route=\"%s\"} "
			"%llu\n",
			method_label(m, r), route_label(m, r), (unsigned long long)s->hist_count);
	}
	buf_puts(out, "# HELP intervene_signals_total Signals ingested, by kind and outcome "
		      "(committed).\n# TYPE intervene_signals_total counter\n");
	for (size_t k = 0; k < N_KINDS; k++)
		for (size_t o = 0; o < N_OUTCOMES; o++)
			buf_printf(out,
				   "intervene_signals_total{kind=\"%s\",outcome=\"%s\"} %llu\n",
				   kinds[k], outcomes[o], (unsigned long long)m->signals[k][o]);
}
