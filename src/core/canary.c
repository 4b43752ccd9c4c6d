#include "core/canary.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util/buf.h"
#include "util/json.h"

static const char *const metric_names[CM_COUNT] = {"quality", "latency_p95", "cost"};

const char *canary_metric_name(enum canary_metric_id id)
{
	return metric_names[id];
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* The nearest-rank p95 of v[0..n) (n > 0); v is sorted in place. */
static double p95(double *v, size_t n)
{
	qsort(v, n, sizeof *v, cmp_double);
	size_t rank = (size_t)ceil(0.95 * (double)n); /* 1-based */
	return v[rank ? rank - 1 : 0];
}

/* Mean quality, p95 latency and mean cost of the samples that pick() accepts. */
struct stats {
	int64_t samples;
	bool has[CM_COUNT];
	double val[CM_COUNT];
};

static void stats_of(const struct canary_sample *s, size_t n, bool canary, const char *version,
		     double *scratch, struct stats *st)
{
	*st = (struct stats){0};
	double qsum = 0, csum = 0;
	size_t nq = 0, nc = 0, nl = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i].canary != canary || (version && strcmp(s[i].version, version)))
			continue;
		st->samples++;
		if (s[i].has_quality) {
			qsum += s[i].quality;
			nq++;
		}
		if (s[i].has_cost) {
			csum += s[i].cost;
			nc++;
		}
		if (s[i].has_latency)
			scratch[nl++] = s[i].latency_ms;
	}
	if (nq) {
		st->has[CM_QUALITY] = true;
		st->val[CM_QUALITY] = qsum / (double)nq;
	}
	if (nl) {
		st->has[CM_LATENCY_P95] = true;
		st->val[CM_LATENCY_P95] = p95(scratch, nl);
	}
	if (nc) {
		st->has[CM_COST] = true;
		st->val[CM_COST] = csum / (double)nc;
	}
}

/* a > b beyond rounding: a mean of values equal to a limit is not over it. */
static bool over(double a, double b)
{
	return a - b > 1e-9 * fmax(1.0, fabs(b));
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void add_metric(struct canary_finding *f, enum canary_metric_id id, const struct stats *c,
		       const struct stats *b)
{
	struct canary_metric *m = &f->m[f->n++];
	m->id = id;
	m->canary_value = c->val[id];
	m->has_baseline = b->has[id];
	if (m->has_baseline) {
		m->baseline_value = b->val[id];
		m->delta = c->val[id] - b->val[id];
	}
}

size_t canary_detect(const struct config *cfg, const struct canary_sample *samples, size_t n,
		     struct canary_finding **out)
{
	*out = NULL;
	if (!n)
		return 0;
	/* the distinct canary versions, sorted */
	const char **versions = xcalloc(n, sizeof *versions);
	size_t nv = 0;
	for (size_t i = 0; i < n; i++)
		if (samples[i].canary)
			versions[nv++] = samples[i].version;
	qsort(versions, nv, sizeof *versions, cmp_str);
	double *scratch = xcalloc(n, sizeof *scratch);
	struct stats base;
	stats_of(samples, n, false, NULL, scratch, &base);
	struct canary_finding *found = NULL;
	size_t nf = 0;
	for (size_t i = 0; i < nv; i++) {
		if (i && !strcmp(versions[i], versions[i - 1]))
			continue;
		struct stats c;
		stats_of(samples, n, true, versions[i], scratch, &c);
		if (c.samples < cfg->canary.min_samples)
			continue;
		struct canary_finding f = {.version = versions[i],
					   .canary_samples = c.samples,
					   .baseline_samples = base.samples};
		if (c.has[CM_QUALITY] && base.has[CM_QUALITY] &&
		    over(base.val[CM_QUALITY] - c.val[CM_QUALITY], cfg->canary.max_quality_drop))
			add_metric(&f, CM_QUALITY, &c, &base);
		if (c.has[CM_LATENCY_P95] &&
		    over(c.val[CM_LATENCY_P95], cfg->canary.max_p95_latency_ms))
			add_metric(&f, CM_LATENCY_P95, &c, &base);
		if (c.has[CM_COST] && over(c.val[CM_COST], cfg->canary.max_avg_cost))
			add_metric(&f, CM_COST, &c, &base);
		if (!f.n)
			continue;
		found = xrealloc(found, (nf + 1) * sizeof *found);
		found[nf++] = f;
	}
	free(scratch);
	free(versions);
	*out = found;
	return nf;
}

/* Rounded to 6 decimals so JSON shows 0.03, not 0.030000000000000002. */
static json_t *num(double v)
{
	return json_real(round(v * 1e6) / 1e6);
}

json_t *canary_metrics_json(const struct canary_finding *f)
{
	json_t *a = json_array();
	for (size_t i = 0; i < f->n; i++) {
		const struct canary_metric *m = &f->m[i];
		json_array_append_new(
			a, jpack("{ss so so so}", "name", metric_names[m->id], "canary_value",
				 num(m->canary_value), "baseline_value",
				 m->has_baseline ? num(m->baseline_value) : json_null(), "delta",
				 m->has_baseline ? num(m->delta) : json_null()));
	}
	return a;
}

int canary_finding_severity(const struct canary_finding *f)
{
	for (size_t i = 0; i < f->n; i++)
		if (f->m[i].id == CM_QUALITY)
			return 1;
	return 2;
}
