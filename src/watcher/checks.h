/* checks.h — the checks of a watcher cycle (SPEC §10.5), in the order they run.
 *
 * Each check runs as its own write job(s) through the pool and keeps its marks in
 * watcher_state in the same transaction as the signals it sends, so evidence is
 * counted once, also across restarts. Signals go through signal_ingest exactly as
 * POST /api/signals would, so the watcher, the gate CLI and the API deduplicate
 * against each other. */
#ifndef INTERVENE_WATCHER_CHECKS_H
#define INTERVENE_WATCHER_CHECKS_H

#include <jansson.h>
#include <stdint.h>

#include "config/config.h"
#include "core/signal.h"
#include "store/pool.h"
#include "util/err.h"

/* The kinds of signal a cycle sends, for the loop's counters. */
enum { WK_BUDGET, WK_PLANNER, WK_INVARIANT, WATCHER_KINDS };
extern const char *const watcher_kind_names[WATCHER_KINDS];

struct watcher_cycle {
	const struct config *cfg;
	struct store_pool *pool;
	int64_t now; /* wall clock at the start of the cycle, ms */
	int64_t outcomes[WATCHER_KINDS][OUT_COUNT];
};

struct watcher_check {
	const char *name;
	/* Run the check; counts gets what it did ({agents, violations, ...}). A failure
	 * is reported and the cycle goes on with the next check. */
	int (*run)(struct watcher_cycle *cy, json_t *counts, struct err *e);
};

extern const struct watcher_check watcher_checks[];
extern const size_t watcher_n_checks;

#endif
