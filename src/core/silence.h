/* silence.h — operator silences (SPEC §4.5). Functions run on a store thread. */
#ifndef INTERVENE_CORE_SILENCE_H
#define INTERVENE_CORE_SILENCE_H

#include <jansson.h>
#include <stdbool.h>

#include "store/store.h"

struct config;

#define SILENCE_MAX_MS (7LL * 24 * 3600 * 1000)

/* Whether a silence matcher (kind may be NULL = any) matches (kind, key). Globs use
 * '*' and '?' (fnmatch, no special '/'). */
bool silence_matches(const char *m_kind, const char *key_glob, const char *kind, const char *key);

/* The id of an active silence matching (kind, key) at now, or 0. */
int silence_find_match(struct store_conn *c, const char *kind, const char *key, int64_t now,
		       int64_t *id, struct err *e);

/* The API object of a silence at now. New reference. */
json_t *silence_to_json(const struct silence *s, int64_t now);

/* Create: records silence_created (and notifies the webhooks of cfg that want it; cfg
 * may be NULL). s->id is set. */
int silence_create(struct store_conn *c, const struct config *cfg, struct silence *s,
		   const char *actor, struct err *e);

/* End now (if not ended yet); records silence_ended (and notifies, as silence_create).
 * *out gets the row. */
int silence_end(struct store_conn *c, const struct config *cfg, int64_t id, const char *actor,
		struct silence *out, struct err *e);

#endif
