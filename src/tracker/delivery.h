/* delivery.h — the outbox's delivery threads (SPEC §8.2).
 *
 * One thread per target: tracker:github, tracker:gitlab, tracker:jira, and
 * webhook:<name> for each configured webhook. A thread takes its target's next row
 * (store_outbox_next: id order per incident, a row not done holding the rows behind
 * it), delivers it with one or a few blocking HTTP calls, and records the attempt and
 * the outcome. So a tracker that hangs delays only its own rows — never a page to
 * PagerDuty — and each target keeps its order without locks.
 *
 *   - The store is reached only through the pool's job hand-off (store_pool_run_sync);
 *     the loop thread is never involved. Threads sleep until their next row is due and
 *     are woken when a commit gave their target rows to deliver (delivery_wake, from
 *     the pool's commit hook with the store's mask of targets).
 *   - A create_issue is marked `uncertain` in the store before it is sent; an uncertain
 *     row (a timeout, a 5xx, a crash or a stop mid-call) is resolved by find_by_label
 *     before it is sent again, so one incident never gets two issues.
 *   - Retries: backoff 1 s doubling to 10 min with ±20 % jitter, at least what the
 *     tracker asked for (Retry-After, rate-limit reset), dead after
 *     OUTBOX_MAX_ATTEMPTS or at once on a non-retryable answer, with the tracker's
 *     error text. issue_delivered / issue_failed events record tracker rows (not
 *     webhook rows: a webhook subscribed to those events would notify about itself).
 *   - Pacing: each tracker thread spends one token of a bucket of tracker.pace.burst
 *     refilled at tracker.pace.per_minute per HTTP call it makes; a row waiting for a
 *     token stays pending.
 *   - Settings: each tracker delivery reads the tracker block in effect (the `tracker`
 *     setting, else the config), so a token fixed with PUT /api/settings/tracker is
 *     used by the next retry.
 *
 * All functions are called from the thread that owns the server (the loop), except
 * delivery_wake (any thread). */
#ifndef INTERVENE_TRACKER_DELIVERY_H
#define INTERVENE_TRACKER_DELIVERY_H

#include <jansson.h>

#include "config/config.h"
#include "store/pool.h"
#include "util/buf.h"
#include "util/err.h"

struct delivery;

/* Start a thread per target on pool (which must outlive it). */
int delivery_start(const struct config *cfg, struct store_pool *pool, struct delivery **out,
		   struct err *e);

/* A commit gave rows to the targets of mask `targets` (store_take_due_targets): their
 * threads look again. 0 wakes none. Any thread. */
void delivery_wake(struct delivery *d, uint32_t targets);

/* Stop: calls in flight are abandoned (an uncertain create is resolved at the next
 * start), threads joined. Before the pool stops. NULL is fine. */
void delivery_stop(struct delivery *d);
void delivery_free(struct delivery *d);

/* Test the tracker connection in effect off the loop: done(arg, result) runs on a
 * thread of its own with {ok, provider, detail} (stolen). */
void delivery_test_tracker(struct delivery *d, void (*done)(void *arg, json_t *result), void *arg);

/* 0 when every delivery thread runs (GET /readyz), else ERR_INTERNAL naming the
 * target whose thread is gone. NULL is fine. Any thread. */
int delivery_healthy(struct delivery *d, struct err *e);

/* intervene_outbox_deliveries_total{target,op,result} in Prometheus text. Any thread. */
void delivery_render_metrics(struct delivery *d, struct buf *out);

#endif
