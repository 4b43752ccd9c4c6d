/* gates.c — the `watcher`, `budgets` and `canary` sections: what the quality gates
 * check and how often.
 *
 * `budgets` is a map agent → budget whose thresholds are optional (K_OPTFLOAT): a
 * threshold left out is not checked. */
#include <inttypes.h>

#include "config/keys.h"
#include "config/sections.h"

const struct key cfg_watcher_keys[] = {
	KBOOL("enabled", C(watcher.enabled), "true"),
	KDUR("interval", C(watcher.interval_ms), "15m", 100, 7 * DAY, 0),
	KDUR("sla_interval", C(watcher.sla_interval_ms), "30s", 100, DAY, 0),
	KDUR("invariant_lookback", C(watcher.invariant_lookback_ms), "60m", SECOND, 365 * DAY, 0),
	KBOOL("auto_resolve", C(watcher.auto_resolve), "true"),
	KINT("auto_resolve_after", C(watcher.auto_resolve_after), "2", 1, 1000),
	KEND,
};

#define B(f)	    offsetof(struct config_budget, f)
#define LATENCY_MAX 86400000.0 /* a day, in ms */
#define COST_MAX    1e6
static const struct key budget_keys[] = {
	KBOOL("enabled", B(enabled), "true"),
	KSTR("description", B(description), "", 0, NULL),
	KTHRESH("min_quality_score", B(min_quality_score), 0, 100),
	KTHRESH("min_success_rate", B(min_success_rate), 0, 1),
	KTHRESH("max_avg_latency_ms", B(max_avg_latency_ms), 0, LATENCY_MAX),
	KTHRESH("max_p95_latency_ms", B(max_p95_latency_ms), 0, LATENCY_MAX),
	KTHRESH("max_p99_latency_ms", B(max_p99_latency_ms), 0, LATENCY_MAX),
	KTHRESH("max_avg_cost", B(max_avg_cost), 0, COST_MAX),
	KTHRESH("max_invariant_failures", B(max_invariant_failures), 0, 1e9),
	KEND,
};
static const struct key budget_value = KSECTION("", budget_keys, 0, 0);
const struct coll cfg_budget_coll = {
	.elem_size = sizeof(struct config_budget),
	.name_off = offsetof(struct config_budget, agent),
	.elem = &budget_value,
};

const struct key cfg_canary_keys[] = {
	KINT("window_runs", C(canary.window_runs), "100", 1, 100000),
	KINT("min_samples", C(canary.min_samples), "30", 1, 100000),
	KFLOAT("max_quality_drop", C(canary.max_quality_drop), "5", 0, 100),
	KFLOAT("max_p95_latency_ms", C(canary.max_p95_latency_ms), "1600", 0, LATENCY_MAX),
	KFLOAT("max_avg_cost", C(canary.max_avg_cost), "0.03", 0, COST_MAX),
	KEND,
};

void cfg_check_canary(struct ctx *x, const struct config *c)
{
	if (c->canary.min_samples > c->canary.window_runs)
		cfg_error(x, "canary.min_samples",
			  cfg_pos_of(x, c, C(canary.min_samples),
				     cfg_pos_of(x, c, C(canary.window_runs), (struct pos){1, 1})),
			  "must not exceed canary.window_runs (%" PRId64 ")",
			  c->canary.window_runs);
}
