/* event.h — the append-only, hash-chained event log (SPEC §3, §6).
 *
 *   hash = hex(SHA-256(prev_hash "\n" id "\n" type "\n" incident_id-or-empty "\n"
 *                      actor "\n" created_at "\n" data))
 *
 * Events are appended inside the write transaction of the change they record
 * (writer thread or a local command's own transaction). */
#ifndef INTERVENE_CORE_EVENT_H
#define INTERVENE_CORE_EVENT_H

#include <jansson.h>
#include <stdint.h>

#include "store/store.h"

/* Compute the hash of ev from its other fields into out (64 hex + NUL). */
void event_compute_hash(const struct event *ev, char out[65]);

/* Append an event of type for incident_id (0 = none) by actor with data (stolen;
 * stored as canonical JSON). Must run inside a write transaction. *id_out may be
 * NULL. */
int event_append(struct store_conn *c, const char *type, int64_t incident_id, const char *actor,
		 json_t *data, int64_t *id_out, struct err *e);

/* The API form of an event row: {id, type, incident_id, actor, data, created_at,
 * prev_hash, hash}. New reference. */
json_t *event_to_json(const struct event *ev);

struct audit_result {
	int64_t checked; /* events verified */
	int64_t first_id, last_id;
	int64_t bad_id;	   /* first event that fails, 0 when all pass */
	char problem[160]; /* what was wrong with bad_id */
};

/* Verify the whole chain from the first retained event (or an audit_anchor).
 * Returns 0 when the store could be read (look at r->bad_id), else an error. */
int event_audit(struct store_conn *c, struct audit_result *r, struct err *e);

#endif
