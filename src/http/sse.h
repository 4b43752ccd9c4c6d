/* sse.h — the live stream (SPEC §6): GET /api/sse/events over the event log.
 *
 * The hub lives on the loop thread. It never receives events from their writers: after
 * a commit it is woken (sse_hub_notify, from the writer thread), reads the events after
 * the last one it sent from a reader (a read job, never the writer and never the loop
 * thread), and writes one preformatted frame per event — shared by reference, not
 * copied — to every subscriber whose filters match, in id order. A subscriber whose
 * unsent bytes would pass the cap is disconnected (it resumes with Last-Event-ID); no
 * subscriber can delay another or the writers.
 *
 * A subscriber that sends Last-Event-ID (or ?last_event_id=) first gets the events after
 * it, read by id from a reader in rounds until it has caught up with what the hub has
 * sent, and only then the live ones: no gap and no duplicate. An id older than the
 * retained log or newer than the newest gets `event: reset` (no id) instead, and the
 * live events from there.
 *
 * Besides the wake-ups, while anyone listens the hub looks for new events once a second:
 * events another process committed to the same store (a local `intervene token create`)
 * reach the streams within a second.
 *
 * Every function runs on the loop thread, except sse_hub_notify (any thread). */
#ifndef INTERVENE_HTTP_SSE_H
#define INTERVENE_HTTP_SSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "http/conn.h"
#include "http/loopq.h"
#include "store/pool.h"
#include "util/err.h"

struct event_base;
struct sse_hub;

/* Bytes a subscriber may have queued in the server, beyond what its socket holds, before
 * it is disconnected: a client that keeps up never gets near it (the kernel's socket
 * buffer takes the bursts), and ten thousand stalled clients hold at most 1.25 GB. */
#define SSE_CLIENT_CAP (128 * 1024)

/* The hub of base's loop. The newest event id is read at once (a read job, waited for:
 * call before the loop serves). NULL with e set when it cannot start. */
struct sse_hub *sse_hub_new(struct event_base *base, struct store_pool *pool, struct loopq *q,
			    const struct config *cfg, struct err *e);

/* New events may have committed (any thread). */
void sse_hub_notify(struct sse_hub *h);

/* What a subscriber asked for (parsed and checked by the route). */
struct sse_params {
	uint64_t types;	     /* bit i: event_type_names[i]; 0 = every type */
	int64_t incident_id; /* 0 = any */
	bool resume;	     /* last_event_id was given */
	int64_t last_event_id;
};

/* Whether another subscriber fits under server.sse_max_clients. */
bool sse_hub_full(const struct sse_hub *h);

/* Turn c, whose request is owed a reply, into a subscriber: the stream's head, `retry`,
 * `connected`, then replay or live events. */
void sse_subscribe(struct sse_hub *h, struct conn *c, const struct sse_params *p,
		   const char *request_id);

/* Subscribers now (intervene_sse_subscribers). */
size_t sse_hub_subscribers(const struct sse_hub *h);

/* End every stream (what was queued still goes out) and accept no more. */
void sse_hub_stop(struct sse_hub *h);

/* Free the hub (after the loop ended and the pool stopped). NULL is fine. */
void sse_hub_free(struct sse_hub *h);

#endif
