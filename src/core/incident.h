/* incident.h — the incident model: its JSON forms and every change to it
 * (declare, transitions, assignment, patch, comments). SPEC §4.3–4.4, §5.1.
 *
 * Changing functions run inside the caller's write transaction (writer thread),
 * append their event there, and fill *out with the row as it now is (the caller
 * clears it). Errors: ERR_NOTFOUND, ERR_CONFLICT (with e->incident_id when another
 * incident holds the key), ERR_INVALID, storage errors. */
#ifndef INTERVENE_CORE_INCIDENT_H
#define INTERVENE_CORE_INCIDENT_H

#include <jansson.h>

#include "config/config.h"
#include "core/policy.h"
#include "store/store.h"

/* Bounds on client-supplied JSON (SPEC §16: huge JSON gets a 400): an incident's
 * details (from a signal or a declaration) and its metadata after a PATCH merge. */
#define INCIDENT_DETAILS_MAX_BYTES  262144
#define INCIDENT_METADATA_MAX_BYTES 16384
#define INCIDENT_METADATA_MAX_KEYS  256

/* The full API object (every column plus sla, available_transitions and
 * comments_count). New reference. */
json_t *incident_to_json(const struct config *cfg, const struct incident *inc, int64_t now,
			 int64_t comments_count);

/* The lean list item (SPEC §5.1). New reference. */
json_t *incident_lean_json(const struct config *cfg, const struct incident *inc, int64_t now);

/* How incident id's outbound calls stand: {state: none | pending | uncertain |
 * delivered | dead, pending, uncertain, dead, delivered, last_error}. New reference. */
int incident_delivery_json(struct store_conn *c, int64_t id, json_t **out, struct err *e);

/* Full JSON of incident id read through c (with its comment count and its
 * `delivery`, see incident_delivery_json). */
int incident_load_json(struct store_conn *c, const struct config *cfg, int64_t id, json_t **out,
		       struct err *e);

/* "sev1".."sev4" for 1..4. */
const char *incident_severity_name(int sev);

/* Apply verb to incident id as actor; notes and assigned_to may be NULL. */
int incident_transition(struct store_conn *c, const struct config *cfg, int64_t id, enum verb v,
			const char *actor, const char *notes, const char *assigned_to,
			struct incident *out, struct err *e);

/* Insert a new open incident from the filled fields of inc (kind, key, severity,
 * summary, details, playbooks, source) and record incident_created. Sets ids and
 * timestamps in inc. ERR_CONFLICT (e->incident_id) when the key is active. */
int incident_create(struct store_conn *c, const struct config *cfg, struct incident *inc,
		    const char *actor, struct err *e);

/* Set assigned_to (NULL or "" clears it) and record change_type "assigned". */
int incident_assign(struct store_conn *c, const struct config *cfg, int64_t id,
		    const char *assigned_to, const char *actor, struct incident *out,
		    struct err *e);

/* Apply a validated PATCH body {summary?, assigned_to?, playbooks?, metadata?,
 * severity?, reason?}: a severity change needs reason and records
 * severity_changed; other changes record updated. */
int incident_patch(struct store_conn *c, const struct config *cfg, int64_t id, const json_t *patch,
		   const char *actor, struct incident *out, struct err *e);

/* Add a comment (body already validated) and record change_type "commented". */
int incident_comment(struct store_conn *c, const struct config *cfg, int64_t id, const char *author,
		     const char *body, struct comment *out, struct err *e);

/* The JSON of a comment row. New reference. */
json_t *incident_comment_json(const struct comment *cm);

/* Append event type (data stolen) about inc, and queue the webhook notifications that
 * want it (core/outbox.h). change_type: for incident_updated, else NULL. */
int incident_event(struct store_conn *c, const struct config *cfg, const char *type,
		   const struct incident *inc, const char *change_type, const char *actor,
		   json_t *data, struct err *e);

/* Record incident_updated {incident, change_type} for inc. */
int incident_record_update(struct store_conn *c, const struct config *cfg,
			   const struct incident *inc, const char *change_type, const char *actor,
			   json_t *extra, struct err *e);

#endif
