/* retention.c — one bounded round of pruning (retention.h). */
#include "core/retention.h"

#include <string.h>

#include "core/event.h"

/* Prune the prunable prefix of the event log and anchor the chain's new start. */
static int prune_events(struct store_conn *c, int64_t before, struct retention_result *out,
			struct err *e)
{
	struct store_prune p;
	int rc = store_event_prune(c, before, RETENTION_EVENTS_PER_ROUND, &p, e);
	if (rc || !p.pruned)
		return rc;
	out->events_pruned = p.pruned;
	out->more = p.more;
	/* With nothing left the anchor itself is the first kept event: its id is the
	 * next one, and it links to the last pruned event like any first kept one. */
	int64_t next;
	if ((rc = store_event_next_id(c, &next, e)))
		return rc;
	out->first_kept_id = p.first_kept_id ? p.first_kept_id : next;
	rc = event_append(c, "audit_anchor", 0, RETENTION_ACTOR,
			  event_anchor_data(out->first_kept_id, p.last_hash), &out->anchor_id, e);
	if (!rc && out->anchor_id != next)
		rc = err_set(e, ERR_INTERNAL, "audit_anchor got id %lld, expected %lld",
			     (long long)out->anchor_id, (long long)next);
	return rc;
}

int retention_run(struct store_conn *c, const struct config *cfg, int64_t now,
		  struct retention_result *out, struct err *e)
{
	memset(out, 0, sizeof *out);
	int rc = prune_events(c, now - cfg->storage.event_retention_ms, out, e);
	if (!rc)
		rc = store_idem_prune(c, now - RETENTION_IDEMPOTENCY_MS, RETENTION_ROWS_PER_ROUND,
				      &out->idempotency_deleted, e);
	if (!rc)
		rc = store_session_prune(c, now, RETENTION_ROWS_PER_ROUND, &out->sessions_deleted,
					 e);
	if (out->idempotency_deleted == RETENTION_ROWS_PER_ROUND ||
	    out->sessions_deleted == RETENTION_ROWS_PER_ROUND)
		out->more = true;
	return rc;
}
