/* test_gates.c — budget gates over daily metrics (src/core/gates.h, SPEC §10.2). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/gates.h"
#include "util/json.h"

const char *__ubsan_default_options(void);
const char *__ubsan_default_options(void)
{
	return "halt_on_error=1:print_stacktrace=1";
}

static struct gate_day day(int64_t runs, int64_t ok, double q, double lat, double p95, double p99,
			   double cost, int64_t inv_failed)
{
	return (struct gate_day){.total_runs = runs,
				 .successful_runs = ok,
				 .invariants_passed = runs - inv_failed,
				 .invariants_failed = inv_failed,
				 .has_quality = true,
				 .has_latency_avg = true,
				 .has_p50 = false,
				 .has_p95 = true,
				 .has_p99 = true,
				 .has_cost = true,
				 .quality = q,
				 .latency_avg = lat,
				 .p95 = p95,
				 .p99 = p99,
				 .cost = cost};
}

static struct config_threshold th(double v)
{
	return (struct config_threshold){.set = true, .value = v};
}

static void assert_close(double a, double b)
{
	if (fabs(a - b) > 1e-9)
		fail_msg("%.12g != %.12g", a, b);
}

/* Averages are weighted by runs: 100 runs at 90 and 300 runs at 70 average 75, not 80;
 * a day without runs or without the metric weighs nothing. */
static void test_run_weighted(void **state)
{
	(void)state;
	struct gate_window w = {0};
	struct gate_day a = day(100, 90, 90, 100, 1000, 2000, 0.01, 1);
	struct gate_day b = day(300, 240, 70, 200, 2000, 3000, 0.03, 2);
	struct gate_day empty = day(0, 0, 0, 0, 0, 0, 0, 0);
	struct gate_day noq = day(100, 100, 0, 300, 3000, 4000, 0.02, 0);
	noq.has_quality = false;
	gate_window_add(&w, &a);
	gate_window_add(&w, &b);
	gate_window_add(&w, &empty);
	gate_window_add(&w, &noq);
	assert_int_equal(w.days, 4);
	assert_int_equal(w.total_runs, 500);
	assert_int_equal(w.invariants_failed, 3);
	double v;
	assert_true(gate_window_mean(&w, GM_QUALITY, &v));
	assert_close(v, 75.0);
	assert_true(gate_window_mean(&w, GM_LATENCY_AVG, &v));
	assert_close(v, (100.0 * 100 + 200.0 * 300 + 300.0 * 100) / 500);
	assert_true(gate_window_mean(&w, GM_P95, &v));
	assert_close(v, (1000.0 * 100 + 2000.0 * 300 + 3000.0 * 100) / 500);
	assert_false(gate_window_mean(&w, GM_P50, &v));
	assert_true(gate_window_success_rate(&w, &v));
	assert_close(v, 430.0 / 500);
	json_t *j = gate_window_json(&w);
	assert_int_equal(json_integer_value(json_object_get(j, "total_runs")), 500);
	assert_close(json_real_value(json_object_get(j, "avg_quality_score")), 75.0);
	assert_close(json_real_value(json_object_get(j, "success_rate")), 0.86);
	assert_null(json_object_get(j, "p50_latency_ms"));
	json_decref(j);
}

static const struct gate_violation *find(const struct gate_result *r, enum gate_type t)
{
	for (size_t i = 0; i < r->n; i++)
		if (r->v[i].type == t)
			return &r->v[i];
	return NULL;
}

/* Each of the nine types, violated and not, with its threshold, actual and word. */
static void test_all_nine_types(void **state)
{
	(void)state;
	struct config_budget b = {.enabled = true,
				  .min_quality_score = th(80),
				  .min_success_rate = th(0.9),
				  .max_avg_latency_ms = th(500),
				  .max_p95_latency_ms = th(1600),
				  .max_p99_latency_ms = th(3000),
				  .max_avg_cost = th(0.02),
				  .max_invariant_failures = th(2)};
	struct gate_window cur = {0}, base = {0};
	struct gate_day c = day(100, 85, 70, 600, 2140, 3500, 0.025, 3);
	struct gate_day bd = day(100, 99, 85, 300, 1500, 2000, 0.01, 0);
	gate_window_add(&cur, &c);
	gate_window_add(&base, &bd);
	struct gate_result r;
	gate_evaluate(&b, &cur, &base, &r);
	assert_int_equal(r.n, GT_COUNT);
	assert_string_equal(r.note, "");
	for (int t = 0; t < GT_COUNT; t++)
		assert_int_equal(r.v[t].type, t); /* in enum order */
	const struct gate_violation *v = find(&r, GT_LATENCY_P95);
	assert_close(v->threshold, 1600);
	assert_close(v->actual, 2140);
	assert_string_equal(v->message, "p95 latency 2140 ms is above the maximum of 1600 ms");
	v = find(&r, GT_SUCCESS_RATE);
	assert_close(v->actual, 0.85);
	assert_string_equal(v->message, "success rate 0.85 is below the minimum of 0.9");
	v = find(&r, GT_QUALITY_REGRESSION);
	assert_close(v->threshold, 10);
	assert_close(v->actual, 15);
	v = find(&r, GT_LATENCY_REGRESSION);
	assert_close(v->threshold, 1950);
	assert_close(v->actual, 2140);
	assert_close(find(&r, GT_INVARIANTS)->actual, 3);
	assert_string_equal(gate_result_worst(&r), "critical");
	assert_string_equal(gate_type_severity(GT_LATENCY_P99), "warning");
	assert_string_equal(gate_type_severity(GT_COST), "error");
	assert_string_equal(gate_type_name(GT_LATENCY_REGRESSION), "latency_regression");

	/* exactly at the thresholds: nothing is violated (strict comparisons) */
	struct gate_window eq = {0}, eqb = {0};
	struct gate_day e = day(100, 90, 80, 500, 1600, 3000, 0.02, 2);
	struct gate_day eb = day(100, 90, 90, 500, 1600 / 1.3, 3000, 0.02, 2);
	gate_window_add(&eq, &e);
	gate_window_add(&eqb, &eb);
	gate_evaluate(&b, &eq, &eqb, &r);
	if (r.n)
		fail_msg("%zu violations, first: %s", r.n, r.v[0].message);
	assert_null(gate_result_worst(&r));

	/* a run-weighted mean of days all at the limit is at the limit, whatever the
	 * rounding of the sums (0.03 × 7 + 0.03 × 11 + 0.03 × 13 over 31 runs) */
	struct config_budget cb = {.enabled = true, .max_avg_cost = th(0.03)};
	struct gate_window cw = {0};
	const int64_t runs[] = {7, 11, 13, 3, 17, 19};
	for (size_t i = 0; i < sizeof runs / sizeof runs[0]; i++) {
		struct gate_day d = day(runs[i], runs[i], 90, 100, 100, 100, 0.03, 0);
		gate_window_add(&cw, &d);
	}
	gate_evaluate(&cb, &cw, &eqb, &r);
	assert_int_equal(r.n, 0);
	cb.max_avg_cost = th(0.0299);
	gate_evaluate(&cb, &cw, &eqb, &r);
	assert_int_equal(r.n, 1);
}

/* Only the words of the violations found decide the worst. */
static void test_worst_word(void **state)
{
	(void)state;
	struct config_budget b = {.enabled = true, .max_p99_latency_ms = th(100)};
	struct gate_window cur = {0}, base = {0};
	struct gate_day c = day(10, 10, 90, 50, 60, 200, 0.01, 0);
	gate_window_add(&cur, &c);
	struct gate_result r;
	gate_evaluate(&b, &cur, &base, &r); /* empty baseline: no regression checks */
	assert_int_equal(r.n, 1);
	assert_string_equal(gate_result_worst(&r), "warning");
	b.max_avg_latency_ms = th(10);
	gate_evaluate(&b, &cur, &base, &r);
	assert_int_equal(r.n, 2);
	assert_string_equal(gate_result_worst(&r), "error");
}

/* No data, or enabled: false, passes with a message. */
static void test_passes_with_a_note(void **state)
{
	(void)state;
	struct config_budget b = {.enabled = true, .min_quality_score = th(99)};
	struct gate_window none = {0}, cur = {0};
	struct gate_result r;
	gate_evaluate(&b, &none, &none, &r);
	assert_int_equal(r.n, 0);
	assert_string_equal(r.note, "no data in the lookback window");
	struct gate_day zero = day(0, 0, 0, 0, 0, 0, 0, 0);
	gate_window_add(&none, &zero); /* rows without runs are no data either */
	gate_evaluate(&b, &none, &cur, &r);
	assert_int_equal(r.n, 0);
	assert_string_equal(r.note, "no data in the lookback window");
	struct gate_day c = day(10, 10, 50, 50, 60, 200, 0.01, 0);
	gate_window_add(&cur, &c);
	b.enabled = false;
	gate_evaluate(&b, &cur, &cur, &r);
	assert_int_equal(r.n, 0);
	assert_string_equal(r.note, "budget disabled (enabled: false)");
	b.enabled = true;
	gate_evaluate(&b, &cur, &none, &r);
	assert_int_equal(r.n, 1);
	assert_string_equal(r.note, "");
}

static void test_playbooks_and_json(void **state)
{
	(void)state;
	static const struct {
		enum gate_type t;
		const char *agent, *want;
	} cases[] = {
		{GT_QUALITY, "a", "[\"rerun_dbt\"]"},
		{GT_SUCCESS_RATE, "a", "[\"rerun_dbt\"]"},
		{GT_INVARIANTS, "a", "[\"rerun_dbt\"]"},
		{GT_LATENCY_P95, "triage", "[\"clear_cache\"]"},
		{GT_LATENCY_P99, "kb-knowledge", "[\"clear_cache\",\"refresh_synonyms\"]"},
		{GT_LATENCY_REGRESSION, "search-agent", "[\"clear_cache\",\"refresh_synonyms\"]"},
		{GT_LATENCY_AVG, "elastic", "[\"clear_cache\",\"refresh_synonyms\"]"},
		{GT_COST, "a", "[\"adjust_canary_split\"]"},
		{GT_QUALITY_REGRESSION, "a", "[\"rollback_planner\"]"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		json_t *p = gate_playbooks(cases[i].t, cases[i].agent);
		char *s = json_canon(p);
		assert_string_equal(s, cases[i].want);
		free(s);
		json_decref(p);
	}
	assert_int_equal(gate_word_severity("critical"), 1);
	assert_int_equal(gate_word_severity("error"), 2);
	assert_int_equal(gate_word_severity("warning"), 3);

	struct config_budget b = {.enabled = true,
				  .description = "p95 under 1.6 s",
				  .max_p95_latency_ms = th(1600),
				  .min_success_rate = th(0.95)};
	json_t *j = gate_budget_json(&b);
	char *s = json_canon(j);
	assert_string_equal(s, "{\"description\":\"p95 under 1.6 s\",\"enabled\":true,"
			       "\"max_p95_latency_ms\":1600.0,\"min_success_rate\":0.95}");
	free(s);
	json_decref(j);
	struct gate_violation v = {.type = GT_LATENCY_P95, .threshold = 1600, .actual = 2140};
	strcpy(v.message, "p95 latency 2140 ms is above the maximum of 1600 ms");
	j = gate_violation_json("search-agent", &v);
	s = json_canon(j);
	assert_string_equal(s, "{\"actual\":2140.0,\"agent\":\"search-agent\",\"budget_type\":"
			       "\"latency_p95\",\"message\":\"p95 latency 2140 ms is above the "
			       "maximum of 1600 ms\",\"severity\":\"error\",\"threshold\":1600.0}");
	free(s);
	json_decref(j);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_run_weighted),
		cmocka_unit_test(test_all_nine_types),
		cmocka_unit_test(test_worst_word),
		cmocka_unit_test(test_passes_with_a_note),
		cmocka_unit_test(test_playbooks_and_json),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
