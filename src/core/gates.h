/* gates.h — budget gates over daily metrics (SPEC §10.2).
 *
 * A window (lookback or baseline) is the aggregate of an agent's daily rows in a
 * half-open range of UTC dates: averages and rates weighted by runs (a day counts for
 * an average only when it has that metric and runs > 0), invariant counts summed,
 * p50/p95/p99 the run-weighted mean of the daily values (an approximation: the true
 * percentile of the union is not recoverable from daily rollups). A budget is then
 * checked against the window, and against the baseline for the two regression types.
 * Pure; any thread. */
#ifndef INTERVENE_CORE_GATES_H
#define INTERVENE_CORE_GATES_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "config/config.h"

/* One daily row, as the gate reads it. has_* false: the value was absent (null). */
struct gate_day {
	int64_t total_runs, successful_runs;
	int64_t invariants_passed, invariants_failed;
	bool has_quality, has_latency_avg, has_p50, has_p95, has_p99, has_cost;
	double quality, latency_avg, p50, p95, p99, cost;
};

enum gate_metric { GM_QUALITY, GM_LATENCY_AVG, GM_P50, GM_P95, GM_P99, GM_COST, GM_COUNT };

/* An aggregate. Zero-initialise, gate_window_add each day, read with the accessors. */
struct gate_window {
	int64_t days, total_runs, successful_runs, invariants_passed, invariants_failed;
	double sum[GM_COUNT];	/* Σ value × runs over days having the metric */
	int64_t runs[GM_COUNT]; /* Σ runs over those days */
};

void gate_window_add(struct gate_window *w, const struct gate_day *d);

/* The run-weighted mean of m; false when no day with runs had it. */
bool gate_window_mean(const struct gate_window *w, enum gate_metric m, double *out);

/* successful/total; false when total is 0. */
bool gate_window_success_rate(const struct gate_window *w, double *out);

/* The window as the budget_exceeded template reads it (docs/templates.md):
 * {days, total_runs, successful_runs, success_rate, avg_quality_score,
 * avg_latency_ms, p50_latency_ms, p95_latency_ms, p99_latency_ms, avg_cost,
 * invariants_passed, invariants_failed}; absent values left out. New reference. */
json_t *gate_window_json(const struct gate_window *w);

enum gate_type {
	GT_QUALITY,
	GT_SUCCESS_RATE,
	GT_LATENCY_AVG,
	GT_LATENCY_P95,
	GT_LATENCY_P99,
	GT_COST,
	GT_INVARIANTS,
	GT_QUALITY_REGRESSION,
	GT_LATENCY_REGRESSION,
	GT_COUNT
};

/* "quality", "success_rate", ... (SPEC §10.2's budget_type). */
const char *gate_type_name(enum gate_type t);

/* The type's severity word: "critical", "error" or "warning". */
const char *gate_type_severity(enum gate_type t);

/* Fixed thresholds of the regression types (SPEC §10.2). */
#define GATE_QUALITY_REGRESSION_POINTS 10.0
#define GATE_LATENCY_REGRESSION_FACTOR 1.3

struct gate_violation {
	enum gate_type type;
	double threshold, actual;
	char message[256];
};

/* The outcome of one agent's gate. */
struct gate_result {
	size_t n; /* violations found, in enum order */
	struct gate_violation v[GT_COUNT];
	/* When it passed without checking anything: why ("budget disabled", "no data in
	 * the lookback window"); else "". */
	char note[128];
};

/* Check budget b (enabled or not) against the current window cur and the baseline
 * base (which may be empty: the regression types are then not checked). */
void gate_evaluate(const struct config_budget *b, const struct gate_window *cur,
		   const struct gate_window *base, struct gate_result *out);

/* The worst severity word among r's violations, or NULL when there are none. */
const char *gate_result_worst(const struct gate_result *r);

/* The incident severity (1..4) of a severity word (SPEC §4.1, budget): critical → 1,
 * error → 2, warning and anything else → 3. */
int gate_word_severity(const char *word);

/* The playbooks suggested for a violation of type t by agent (SPEC §9.2), as a new
 * JSON array of action-type names. */
json_t *gate_playbooks(enum gate_type t, const char *agent);

/* Budget b as configured: {enabled, description, and each threshold that is set}.
 * New reference. */
json_t *gate_budget_json(const struct config_budget *b);

/* The violation as the report shows it and the budget_exceeded template reads it:
 * {agent, budget_type, threshold, actual, severity (the word), message}. New
 * reference. */
json_t *gate_violation_json(const char *agent, const struct gate_violation *v);

#endif
