#include "core/gates.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "util/json.h"

void gate_window_add(struct gate_window *w, const struct gate_day *d)
{
	w->days++;
	w->total_runs += d->total_runs;
	w->successful_runs += d->successful_runs;
	w->invariants_passed += d->invariants_passed;
	w->invariants_failed += d->invariants_failed;
	if (d->total_runs <= 0)
		return; /* a day without runs weighs nothing in an average */
	const bool has[GM_COUNT] = {d->has_quality, d->has_latency_avg, d->has_p50,
				    d->has_p95,	    d->has_p99,		d->has_cost};
	const double val[GM_COUNT] = {d->quality, d->latency_avg, d->p50, d->p95, d->p99, d->cost};
	for (int m = 0; m < GM_COUNT; m++)
		if (has[m]) {
			w->sum[m] += val[m] * (double)d->total_runs;
			w->runs[m] += d->total_runs;
		}
}

bool gate_window_mean(const struct gate_window *w, enum gate_metric m, double *out)
{
	if (w->runs[m] <= 0)
		return false;
	*out = w->sum[m] / (double)w->runs[m];
	return true;
}

bool gate_window_success_rate(const struct gate_window *w, double *out)
{
	if (w->total_runs <= 0)
		return false;
	*out = (double)w->successful_runs / (double)w->total_runs;
	return true;
}

/* Rounded to 6 decimals so JSON shows 0.95, not 0.95000000000000007. */
static json_t *num(double v)
{
	return json_real(round(v * 1e6) / 1e6);
}

json_t *gate_window_json(const struct gate_window *w)
{
	static const char *const names[GM_COUNT] = {"avg_quality_score", "avg_latency_ms",
						    "p50_latency_ms",	 "p95_latency_ms",
						    "p99_latency_ms",	 "avg_cost"};
	json_t *o =
		jpack("{sI sI sI sI sI}", "days", (json_int_t)w->days, "total_runs",
		      (json_int_t)w->total_runs, "successful_runs", (json_int_t)w->successful_runs,
		      "invariants_passed", (json_int_t)w->invariants_passed, "invariants_failed",
		      (json_int_t)w->invariants_failed);
	double v;
	if (gate_window_success_rate(w, &v))
		json_object_set_new(o, "success_rate", num(v));
	for (int m = 0; m < GM_COUNT; m++)
		if (gate_window_mean(w, (enum gate_metric)m, &v))
			json_object_set_new(o, names[m], num(v));
	return o;
}

static const struct {
	const char *name, *severity;
} types[GT_COUNT] = {
	[GT_QUALITY] = {"quality", "critical"},
	[GT_SUCCESS_RATE] = {"success_rate", "critical"},
	[GT_LATENCY_AVG] = {"latency_avg", "error"},
	[GT_LATENCY_P95] = {"latency_p95", "error"},
	[GT_LATENCY_P99] = {"latency_p99", "warning"},
	[GT_COST] = {"cost", "error"},
	[GT_INVARIANTS] = {"invariants", "critical"},
	[GT_QUALITY_REGRESSION] = {"quality_regression", "critical"},
	[GT_LATENCY_REGRESSION] = {"latency_regression", "error"},
};

const char *gate_type_name(enum gate_type t)
{
	return types[t].name;
}

const char *gate_type_severity(enum gate_type t)
{
	return types[t].severity;
}

static void add(struct gate_result *r, enum gate_type t, double threshold, double actual,
		const char *fmt_what, const char *unit)
{
	struct gate_violation *v = &r->v[r->n++];
	v->type = t;
	v->threshold = threshold;
	v->actual = actual;
	snprintf(v->message, sizeof v->message, "%s %.6g%s %s %.6g%s", fmt_what, actual, unit,
		 t == GT_QUALITY || t == GT_SUCCESS_RATE ? "is below the minimum of"
							 : "is above the maximum of",
		 threshold, unit);
}

/* a > b beyond rounding: a run-weighted mean of values equal to a limit is not over it. */
static bool over(double a, double b)
{
	return a - b > 1e-9 * fmax(1.0, fabs(b));
}

/* Minimum: violated when actual < threshold. */
static void check_min(struct gate_result *r, enum gate_type t, const struct config_threshold *th,
		      bool have, double actual, const char *what, const char *unit)
{
	if (th->set && have && over(th->value, actual))
		add(r, t, th->value, actual, what, unit);
}

/* Maximum: violated when actual > threshold. */
static void check_max(struct gate_result *r, enum gate_type t, const struct config_threshold *th,
		      bool have, double actual, const char *what, const char *unit)
{
	if (th->set && have && over(actual, th->value))
		add(r, t, th->value, actual, what, unit);
}

void gate_evaluate(const struct config_budget *b, const struct gate_window *cur,
		   const struct gate_window *base, struct gate_result *out)
{
	*out = (struct gate_result){0};
	if (!b->enabled) {
		snprintf(out->note, sizeof out->note, "budget disabled (enabled: false)");
		return;
	}
	if (cur->days == 0 || cur->total_runs == 0) {
		snprintf(out->note, sizeof out->note, "no data in the lookback window");
		return;
	}
	double q = 0, sr = 0, lat = 0, p95 = 0, p99 = 0, cost = 0;
	bool hq = gate_window_mean(cur, GM_QUALITY, &q);
	bool hsr = gate_window_success_rate(cur, &sr);
	bool hlat = gate_window_mean(cur, GM_LATENCY_AVG, &lat);
	bool hp95 = gate_window_mean(cur, GM_P95, &p95);
	bool hp99 = gate_window_mean(cur, GM_P99, &p99);
	bool hcost = gate_window_mean(cur, GM_COST, &cost);
	check_min(out, GT_QUALITY, &b->min_quality_score, hq, q, "average quality score", "");
	check_min(out, GT_SUCCESS_RATE, &b->min_success_rate, hsr, sr, "success rate", "");
	check_max(out, GT_LATENCY_AVG, &b->max_avg_latency_ms, hlat, lat, "average latency", " ms");
	check_max(out, GT_LATENCY_P95, &b->max_p95_latency_ms, hp95, p95, "p95 latency", " ms");
	check_max(out, GT_LATENCY_P99, &b->max_p99_latency_ms, hp99, p99, "p99 latency", " ms");
	check_max(out, GT_COST, &b->max_avg_cost, hcost, cost, "average cost", "");
	check_max(out, GT_INVARIANTS, &b->max_invariant_failures, true,
		  (double)cur->invariants_failed, "invariant failures", "");
	double bq, bp95;
	if (hq && gate_window_mean(base, GM_QUALITY, &bq) &&
	    over(bq - q, GATE_QUALITY_REGRESSION_POINTS)) {
		struct gate_violation *v = &out->v[out->n++];
		v->type = GT_QUALITY_REGRESSION;
		v->threshold = GATE_QUALITY_REGRESSION_POINTS;
		v->actual = bq - q;
		snprintf(v->message, sizeof v->message,
			 "average quality score fell %.6g points against the baseline (%.6g → "
			 "%.6g), more than %.6g",
			 bq - q, bq, q, GATE_QUALITY_REGRESSION_POINTS);
	}
	if (hp95 && gate_window_mean(base, GM_P95, &bp95) &&
	    over(p95, bp95 * GATE_LATENCY_REGRESSION_FACTOR)) {
		struct gate_violation *v = &out->v[out->n++];
		v->type = GT_LATENCY_REGRESSION;
		v->threshold = bp95 * GATE_LATENCY_REGRESSION_FACTOR;
		v->actual = p95;
		snprintf(v->message, sizeof v->message,
			 "p95 latency %.6g ms is above %.6g× its baseline of %.6g ms (%.6g ms)",
			 p95, GATE_LATENCY_REGRESSION_FACTOR, bp95, v->threshold);
	}
}

const char *gate_result_worst(const struct gate_result *r)
{
	static const char *const order[] = {"critical", "error", "warning"};
	for (size_t o = 0; o < 3; o++)
		for (size_t i = 0; i < r->n; i++)
			if (!strcmp(types[r->v[i].type].severity, order[o]))
				return order[o];
	return NULL;
}

int gate_word_severity(const char *word)
{
	if (!strcmp(word, "critical"))
		return 1;
	if (!strcmp(word, "error"))
		return 2;
	return 3;
}

static bool contains(const char *hay, const char *needle)
{
	return strstr(hay, needle) != NULL;
}

json_t *gate_playbooks(enum gate_type t, const char *agent)
{
	json_t *a = json_array();
	switch (t) {
	case GT_QUALITY:
	case GT_SUCCESS_RATE:
	case GT_INVARIANTS: json_array_append_new(a, json_string("rerun_dbt")); break;
	case GT_LATENCY_AVG:
	case GT_LATENCY_P95:
	case GT_LATENCY_P99:
	case GT_LATENCY_REGRESSION:
		json_array_append_new(a, json_string("clear_cache"));
		if (contains(agent, "search") || contains(agent, "elastic") ||
		    contains(agent, "knowledge"))
			json_array_append_new(a, json_string("refresh_synonyms"));
		break;
	case GT_COST: json_array_append_new(a, json_string("adjust_canary_split")); break;
	case GT_QUALITY_REGRESSION:
		json_array_append_new(a, json_string("rollback_planner"));
		break;
	case GT_COUNT: break;
	}
	return a;
}

json_t *gate_budget_json(const struct config_budget *b)
{
	json_t *o = jpack("{sb ss}", "enabled", b->enabled, "description",
			  b->description ? b->description : "");
	const struct {
		const char *name;
		const struct config_threshold *t;
	} ths[] = {
		{"min_quality_score", &b->min_quality_score},
		{"min_success_rate", &b->min_success_rate},
		{"max_avg_latency_ms", &b->max_avg_latency_ms},
		{"max_p95_latency_ms", &b->max_p95_latency_ms},
		{"max_p99_latency_ms", &b->max_p99_latency_ms},
		{"max_avg_cost", &b->max_avg_cost},
		{"max_invariant_failures", &b->max_invariant_failures},
	};
	for (size_t i = 0; i < sizeof ths / sizeof ths[0]; i++)
		if (ths[i].t->set)
			json_object_set_new(o, ths[i].name, num(ths[i].t->value));
	return o;
}

json_t *gate_violation_json(const char *agent, const struct gate_violation *v)
{
	return jpack("{ss ss so so ss ss}", "agent", agent, "budget_type", gate_type_name(v->type),
		     "threshold", num(v->threshold), "actual", num(v->actual), "severity",
		     gate_type_severity(v->type), "message", v->message);
}
