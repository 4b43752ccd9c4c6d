/* retention.h — pruning what the store no longer has to keep (SPEC §3, §6): old
 * events, idempotency records older than 24 h, and dead sessions.
 *
 * retention_run does ONE bounded round inside the caller's write transaction, so the
 * server runs it as an ordinary write job on a timer (its own savepoint; nothing of a
 * round is stored unless the batch commits). One round:
 *
 *   1. prunes at most RETENTION_EVENTS_PER_ROUND of the oldest events: only the
 *      contiguous prefix of the log made of events older than
 *      cfg->storage.event_retention_ms that belong to no incident or to an incident
 *      closed longer ago than that (the first event that does not qualify — say one
 *      of an open or recently closed incident — stops the prefix, so the chain is
 *      never cut in the middle), and when it pruned any, appends an audit_anchor event
 *      {first_kept_id, prev_hash} recording where the retained chain now starts (the
 *      anchor is itself part of the chain; `intervene audit verify` checks from it);
 *   2. deletes at most RETENTION_ROWS_PER_ROUND idempotency records created more than
 *      RETENTION_IDEMPOTENCY_MS (24 h) before now;
 *   3. deletes at most RETENTION_ROWS_PER_ROUND sessions that are dead at now: ended,
 *      expired, or of a token that is revoked or expired.
 *
 * out->more is true when a limit stopped any of them: call again soon (a new job;
 * a round should stay short because it holds the write lock), else wait for the next
 * tick. Rounds converge: once nothing qualifies, a round changes nothing and appends
 * no anchor. Errors: storage errors of the store calls (the caller's savepoint then
 * undoes the round). Writer thread, or a local command's own write transaction. */
#ifndef INTERVENE_CORE_RETENTION_H
#define INTERVENE_CORE_RETENTION_H

#include <stdbool.h>
#include <stdint.h>

#include "config/config.h"
#include "store/store.h"

#define RETENTION_EVENTS_PER_ROUND 1000
#define RETENTION_ROWS_PER_ROUND   1000
#define RETENTION_IDEMPOTENCY_MS   (24LL * 3600 * 1000)
#define RETENTION_ACTOR		   "system:retention"

struct retention_result {
	int64_t events_pruned;
	int64_t first_kept_id; /* recorded in the anchor; 0 when no event was pruned */
	int64_t anchor_id;     /* the audit_anchor appended; 0 when none */
	int64_t idempotency_deleted;
	int64_t sessions_deleted;
	bool more; /* a limit was reached: more is due now */
};

/* One round at time now (ms; the server passes time_now_ms()). *out is filled also on
 * error (with what was done before it, all of which the caller's rollback undoes). */
int retention_run(struct store_conn *c, const struct config *cfg, int64_t now,
		  struct retention_result *out, struct err *e);

#endif
