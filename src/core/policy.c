#include "core/policy.h"

#include <ctype.h>
#include <string.h>

#include "util/buf.h"
#include "util/json.h"

static const char *const kind_names[CONFIG_KIND_COUNT] = {"invariant", "budget", "planner",
							  "manual"};

int policy_kind_index(const char *kind)
{
	for (int i = 0; i < CONFIG_KIND_COUNT; i++)
		if (kind && !strcmp(kind, kind_names[i]))
			return i;
	return -1;
}

char *policy_make_key(const char *kind, const char *key)
{
	size_t kl = strlen(kind);
	if (!strcmp(kind, "manual") || (!strncmp(key, kind, kl) && key[kl] == ':'))
		return xstrdup(key);
	struct buf b = BUF_INIT;
	buf_printf(&b, "%s:%s", kind, key);
	return buf_steal(&b);
}

int policy_parse_severity(const char *s)
{
	if (s && !strncmp(s, "sev", 3) && s[3] >= '1' && s[3] <= '4' && !s[4])
		return s[3] - '0';
	return 0;
}

int policy_priority_severity(const struct config *cfg, const char *p)
{
	if (!p)
		return 0;
	if ((p[0] == 'P' || p[0] == 'p') && p[1] >= '0' && p[1] <= '4' && !p[2]) {
		static const int map[] = {1, 1, 2, 3, 4};
		return map[p[1] - '0'];
	}
	for (size_t i = 0; i < cfg->policy.n_severity; i++)
		if (!strcasecmp(cfg->policy.severity[i].word, p))
			return cfg->policy.severity[i].sev;
	return 0;
}

static const char *const status_names[ST_COUNT] = {"open", "acknowledged", "mitigated",
						   "resolved", "closed"};

const char *policy_status_name(enum incident_status s)
{
	return (unsigned)s < ST_COUNT ? status_names[s] : "open";
}

bool policy_parse_status(const char *s, enum incident_status *out)
{
	for (int i = 0; i < ST_COUNT; i++)
		if (s && !strcmp(s, status_names[i])) {
			*out = (enum incident_status)i;
			return true;
		}
	return false;
}

static const char *const verb_names[VERB_COUNT] = {"acknowledge", "mitigate", "resolve", "close",
						   "reopen"};
static const char *const verb_changes[VERB_COUNT] = {"acknowledged", "mitigated", "resolved",
						     "closed", "reopened"};

const char *policy_verb_name(enum verb v)
{
	return verb_names[v];
}

bool policy_parse_verb(const char *s, enum verb *out)
{
	for (int i = 0; i < VERB_COUNT; i++)
		if (!strcmp(s, verb_names[i])) {
			*out = (enum verb)i;
			return true;
		}
	return false;
}

const char *policy_verb_change_type(enum verb v)
{
	return verb_changes[v];
}

/* Rows: verbs; bits: statuses they are allowed from (SPEC §4.3). */
static const unsigned allowed_from[VERB_COUNT] = {
	[VERB_ACKNOWLEDGE] = 1u << ST_OPEN,
	[VERB_MITIGATE] = 1u << ST_OPEN | 1u << ST_ACKNOWLEDGED,
	[VERB_RESOLVE] = 1u << ST_ACKNOWLEDGED | 1u << ST_MITIGATED,
	[VERB_CLOSE] = 1u << ST_RESOLVED | 1u << ST_MITIGATED,
	[VERB_REOPEN] = 1u << ST_RESOLVED | 1u << ST_CLOSED,
};

bool policy_transition_allowed(enum incident_status from, enum verb v)
{
	return (allowed_from[v] >> from) & 1u;
}

enum incident_status policy_verb_target(enum verb v)
{
	static const enum incident_status target[VERB_COUNT] = {
		ST_ACKNOWLEDGED, ST_MITIGATED, ST_RESOLVED, ST_CLOSED, ST_OPEN};
	return target[v];
}

bool policy_status_active(enum incident_status s)
{
	return s == ST_OPEN || s == ST_ACKNOWLEDGED || s == ST_MITIGATED;
}

json_t *policy_available_transitions(enum incident_status s)
{
	json_t *a = json_array();
	for (int v = 0; v < VERB_COUNT; v++)
		if (policy_transition_allowed(s, (enum verb)v))
			json_array_append_new(a, json_string(verb_names[v]));
	return a;
}

/* One stage: due = start + target; met when the stage or a later one happened by due. */
static json_t *stage_json(int64_t start, int64_t target, int64_t done_at, int64_t now)
{
	json_t *o = json_object();
	if (!target) {
		json_object_set_new(o, "due_at", json_null());
		json_object_set_new(o, "met", json_null());
		return o;
	}
	int64_t due = start + target;
	json_object_set_new(o, "due_at", json_time_or_null(due));
	json_t *met;
	if (done_at && done_at <= due)
		met = json_true();
	else if (done_at || now > due)
		met = json_false();
	else
		met = json_null();
	json_object_set_new(o, "met", met);
	return o;
}

/* The earliest of the given times that is at or after start (0 = none): a stage
 * done before a reopen does not count for the new clock. */
static int64_t first_after(int64_t start, const int64_t *t, int n)
{
	int64_t best = 0;
	for (int i = 0; i < n; i++)
		if (t[i] && t[i] >= start && (!best || t[i] < best))
			best = t[i];
	return best;
}

json_t *policy_sla_json(const struct config *cfg, const struct incident *inc, int64_t now)
{
	int sev = inc->severity >= 1 && inc->severity <= 4 ? inc->severity : 3;
	const struct config_sla *t = &cfg->policy.sla[sev];
	int64_t start = inc->reopened_at ? inc->reopened_at : inc->created_at;
	/* "that stage or a later one": ack is satisfied by mitigate/resolve/close too. */
	int64_t later[4] = {inc->acknowledged_at, inc->mitigated_at, inc->resolved_at,
			    inc->closed_at};
	json_t *o = json_object();
	json_object_set_new(o, "ack", stage_json(start, t->ack_ms, first_after(start, later, 4), now));
	json_object_set_new(o, "mitigate",
			    stage_json(start, t->mitigate_ms, first_after(start, later + 1, 3), now));
	json_object_set_new(o, "resolve",
			    stage_json(start, t->resolve_ms, first_after(start, later + 2, 2), now));
	return o;
}
