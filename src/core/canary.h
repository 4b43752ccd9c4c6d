/* canary.h — the canary regression detector (SPEC §10.4).
 *
 * Input: the last `canary.window_runs` runs of one canary (both variants, any
 * versions). Each canary version with at least `canary.min_samples` canary samples in
 * that window is judged against the window's baseline samples: its mean quality more
 * than `max_quality_drop` points below the baseline mean (only when both have quality
 * samples), its p95 latency (nearest rank) above `max_p95_latency_ms`, its mean cost
 * above `max_avg_cost`. A version with any regression is one finding, carrying every
 * regressed metric. Pure; any thread. */
#ifndef INTERVENE_CORE_CANARY_H
#define INTERVENE_CORE_CANARY_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/config.h"

struct canary_sample {
	const char *version; /* borrowed */
	bool canary;	     /* variant canary (else baseline) */
	bool has_quality, has_latency, has_cost;
	double quality, latency_ms, cost;
};

enum canary_metric_id { CM_QUALITY, CM_LATENCY_P95, CM_COST, CM_COUNT };

struct canary_metric {
	enum canary_metric_id id;
	double canary_value;
	bool has_baseline; /* baseline_value and delta are meaningful */
	double baseline_value, delta;
};

struct canary_finding {
	const char *version; /* borrowed from the samples */
	int64_t canary_samples, baseline_samples;
	size_t n; /* regressed metrics, in enum order */
	struct canary_metric m[CM_COUNT];
};

/* "quality", "latency_p95", "cost" (the names the planner_regression template reads). */
const char *canary_metric_name(enum canary_metric_id id);

/* Judge samples[0..n) with the thresholds of cfg->canary. *out gets a malloc'd array
 * of findings (NULL when none; free with free(); its versions point into samples),
 * ordered by version. Returns how many. */
size_t canary_detect(const struct config *cfg, const struct canary_sample *samples, size_t n,
		     struct canary_finding **out);

/* A finding's metrics as the signal details carry them: [{name, canary_value,
 * baseline_value (null when no baseline), delta (null likewise)}]. New reference. */
json_t *canary_metrics_json(const struct canary_finding *f);

/* sev1 when quality regressed, else sev2 (SPEC §4.1, planner). */
int canary_finding_severity(const struct canary_finding *f);

#endif
