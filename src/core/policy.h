/* policy.h — kinds, keys, severities, statuses, transitions and SLA (SPEC §4).
 * Pure functions over the configuration; any thread. */
#ifndef INTERVENE_CORE_POLICY_H
#define INTERVENE_CORE_POLICY_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "config/config.h"
#include "core/model.h"

/* Index of kind in enum config_kind, or -1 for an unknown kind. */
int policy_kind_index(const char *kind);

/* The dedup key for kind and the caller's key: for invariant, budget, planner and alert a
 * key without the "<kind>:" prefix gets it, so "inv_x" and "invariant:inv_x" are the
 * same problem. Returns a malloc'd string. */
char *policy_make_key(const char *kind, const char *key);

/* "sev1".."sev4" → 1..4, else 0. */
int policy_parse_severity(const char *s);

/* A priority word → severity: policy.severity words (critical, high, ...), or
 * P0..P4 (P0 and P1 → 1, P2 → 2, P3 → 3, P4 → 4); 0 when unknown. */
int policy_priority_severity(const struct config *cfg, const char *priority);

enum verb { VERB_ACKNOWLEDGE, VERB_MITIGATE, VERB_RESOLVE, VERB_CLOSE, VERB_REOPEN, VERB_COUNT };

const char *policy_verb_name(enum verb v);
bool policy_parse_verb(const char *s, enum verb *out);
/* The change_type of a verb's incident_updated event ("acknowledged", ...). */
const char *policy_verb_change_type(enum verb v);
/* Whether verb is allowed from status (the transition table of SPEC §4.3). */
bool policy_transition_allowed(enum incident_status from, enum verb v);
/* The status a verb leads to. */
enum incident_status policy_verb_target(enum verb v);
bool policy_status_active(enum incident_status s);

/* JSON array of the verbs allowed from status. New reference. */
json_t *policy_available_transitions(enum incident_status s);

/* The sla object of SPEC §4.4 for inc at time now. New reference. */
struct buf;
/* Writes the same JSON as policy_sla_json (canonical: sorted keys, compact) into b. */
void policy_sla_write(struct buf *b, const struct config *cfg, const struct incident *inc,
		      int64_t now);
json_t *policy_sla_json(const struct config *cfg, const struct incident *inc, int64_t now);

/* The stages of inc breached at now — met is false in policy_sla_json: due_at passed
 * without that stage or a later one by then — as a mask of 1 << stage (0 ack,
 * 1 mitigate, 2 resolve); due[stage] gets each stage's due time (0: no target). */
unsigned policy_sla_breaches(const struct config *cfg, const struct incident *inc, int64_t now,
			     int64_t due[3]);

/* "ack", "mitigate", "resolve". */
const char *policy_sla_stage_name(int stage);

#endif
