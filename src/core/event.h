/* event.h — the append-only, hash-chained event log (SPEC §3, §6).
 *
 *   hash = hex(SHA-256(prev_hash "\n" id "\n" type "\n" incident_id-or-empty "\n"
 *                      actor "\n" created_at "\n" data))
 *
 * Events are appended inside the write transaction of the change they record
 * (writer thread or a local command's own transaction). Retention prunes a prefix of
 * the log and appends an audit_anchor {first_kept_id, prev_hash} recording where the
 * retained chain starts (core/retention.h). */
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

/* Like event_append, and *out (cleared with event_clear) receives the event as stored
 * (id, created_at, hashes, the canonical data text). */
int event_append_row(struct store_conn *c, const char *type, int64_t incident_id, const char *actor,
		     json_t *data, struct event *out, struct err *e);

/* The API form of an event row: {id, type, incident_id, actor, data, created_at,
 * prev_hash, hash}. New reference. */
json_t *event_to_json(const struct event *ev, struct err *e);

struct audit_result {
	int64_t checked; /* events verified */
	int64_t first_id, last_id;
	int64_t anchor_id; /* the latest audit_anchor, which the start was checked
			    * against; 0 when nothing was ever pruned */
	int64_t bad_id;	   /* first event that fails (or the first one missing), 0 when
			    * all pass */
	char problem[256]; /* what is wrong at bad_id */
};

/* Verify the retained log in id order:
 *   - its start: with an audit_anchor in the log, the first retained event is the
 *     latest anchor's first_kept_id and links to the prev_hash it recorded; without
 *     one, the first event links to 64 zeros;
 *   - every link (prev_hash = the hash of the event before it; a gap in the ids is
 *     named as missing events) and every hash (recomputed from the contents) — a
 *     broken link and changed contents are told apart;
 *   - its end: the newest event, its hash and the number of events equal the stored
 *     head (store_event_head), so events deleted from the end are named.
 * Returns 0 when the store could be read (look at r->bad_id), else an error. */
int event_audit(struct store_conn *c, struct audit_result *r, struct err *e);

/* The data of an audit_anchor event (SPEC §6): {first_kept_id, prev_hash}. New
 * reference. */
json_t *event_anchor_data(int64_t first_kept_id, const char *prev_hash);

/* The event types of SPEC §6, NULL-terminated, and the index of name in it (-1 when
 * it is not one). */
extern const char *const event_type_names[];
int event_type_index(const char *name);

#endif
