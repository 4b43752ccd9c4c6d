/* housekeeping.h — the server's own periodic write jobs, submitted from loop timers
 * like any request's job (the loop thread never touches the database):
 *
 *   - retention (core/retention.h): one bounded round every
 *     clamp(storage.event_retention / 2, 1 s, 60 s), and at once again while a round
 *     reports more to do; each round is short, so it never holds the write lock long;
 *   - the readiness probe: while the store pool is unhealthy (its last commit failed),
 *     a write that really reaches the disk (store_probe_write) is tried every second.
 *     Its success is a successful commit, which makes the pool healthy again, so
 *     /readyz recovers by itself once the disk does — an instance taken out of
 *     rotation would otherwise never get the write that proves it well.
 *
 * Loop thread only. */
#ifndef INTERVENE_HTTP_HOUSEKEEPING_H
#define INTERVENE_HTTP_HOUSEKEEPING_H

#include "config/config.h"
#include "http/loopq.h"
#include "store/pool.h"

struct event_base;
struct housekeeping;

/* Start the timers; NULL only when libevent cannot create them. */
struct housekeeping *housekeeping_new(struct event_base *base, struct store_pool *pool,
				      struct loopq *q, const struct config *cfg);

/* Submit nothing more (on shutdown, before the pool stops). */
void housekeeping_stop(struct housekeeping *hk);

/* Free hk; jobs in flight must have been posted and discarded already. NULL is fine. */
void housekeeping_free(struct housekeeping *hk);

#endif
