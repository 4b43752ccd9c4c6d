/* gate_report.h — the gate report (SPEC §10.3): every configured budget (or one
 * agent's) evaluated over the daily metrics of the store, and, on request, each
 * violation ingested as a `budget` signal. Shared by POST /api/gates/run and the
 * watcher. Runs on a store thread (a write transaction when signals are created). */
#ifndef INTERVENE_CORE_GATE_REPORT_H
#define INTERVENE_CORE_GATE_REPORT_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "config/config.h"
#include "core/signal.h"
#include "store/store.h"

struct gate_run {
	const char *agent; /* one agent, or NULL for every budget of cfg */
	int64_t lookback_days, baseline_days;
	bool create_incidents;
	const char *source; /* of the signals: "gates", "watcher" */
	int64_t now;	    /* ms; "today" is its UTC date */
	/* out: signals ingested, by outcome (for the metrics) */
	int64_t outcomes[OUT_COUNT];
};

/* The UTC date `days` days since 1970-01-01 as "YYYY-MM-DD". */
void gate_date(int64_t days, char out[11]);

/* Evaluate and fill *report (new reference):
 * {lookback_days, baseline_days, window: {from, to}, baseline: {from, to},
 *  agents: [{agent, passed, note?, violations: [{agent, budget_type, threshold,
 *  actual, severity, message, and with create_incidents outcome and incident_id}],
 *  current, baseline}],
 *  summary: {agents, passed, failed, critical, error, warning},
 *  incidents?: {created, deduplicated, silenced, rate_limited} (create_incidents)}.
 * An agent named by run->agent without a budget is ERR_NOTFOUND. Violations become
 * signals of kind budget, key budget:<agent>:<budget_type>, severity from the word,
 * details {agent, budget_type, threshold, actual, severity, message, budget, current,
 * baseline}, playbooks per SPEC §9.2, source run->source, as actor. */
int gate_report(struct store_conn *c, const struct config *cfg, struct gate_run *run,
		const char *actor, json_t **report, struct err *e);

#endif
