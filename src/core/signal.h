/* signal.h — ingesting signals: dedup, silences, rate limits (SPEC §4.1–4.2).
 *
 * signal_parse validates a request object without touching storage (loop thread);
 * signal_ingest runs the decision of SPEC §4.2 inside the writer's transaction:
 * every outcome leaves an event. */
#ifndef INTERVENE_CORE_SIGNAL_H
#define INTERVENE_CORE_SIGNAL_H

#include <jansson.h>
#include <stdbool.h>

#include "config/config.h"
#include "store/store.h"

enum signal_outcome {
	OUT_CREATED,
	OUT_DEDUPLICATED,
	OUT_SILENCED,
	OUT_RATE_LIMITED,
	OUT_RESOLVED,
	OUT_NO_INCIDENT,
	OUT_COUNT
};

struct signal {
	char *kind;
	char *key;	   /* normalised dedup key (policy_make_key), or a fresh manual:<uuid> */
	int severity;	   /* 1..4 */
	char *summary;	   /* trimmed */
	json_t *details;   /* object (owned) */
	json_t *playbooks; /* array (owned) */
	char *source;
	bool resolve;
};

const char *signal_outcome_name(enum signal_outcome o);

/* Validate obj and fill *out (cleared with signal_clear even on failure).
 * ERR_INVALID with the field named (prefix is put before field names, e.g. ""). */
int signal_parse(const struct config *cfg, const json_t *obj, struct signal *out, struct err *e);
void signal_clear(struct signal *s);

/* Apply one signal as actor. *incident_id is 0 when no incident is involved. */
int signal_ingest(struct store_conn *c, const struct config *cfg, const struct signal *s,
		  const char *actor, enum signal_outcome *outcome, int64_t *incident_id,
		  struct err *e);

/* A fresh "manual:<uuid v4>" key (malloc'd). */
char *signal_manual_key(void);

#endif
