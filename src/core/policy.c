#include "core/policy.h"

#include <ctype.h>
#include <string.h>

#include "util/buf.h"
#include "util/json.h"
#include "util/time.h"

static const char *const kind_names[CONFIG_KIND_COUNT] = {"invariant", "budget", "planner",
							  "manual", "alert"};

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
	static const enum incident_status target[VERB_COUNT] = {ST_ACKNOWLEDGED, ST_MITIGATED,
								ST_RESOLVED, ST_CLOSED, ST_OPEN};
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

/* One SLA stage: its due time (0 = no target) and met (1 true, 0 false, -1 pending or
 * no target). Both JSON writers below use it, so they cannot disagree. */
struct stage {
	int64_t due;
	int met;
};

static struct stage stage_of(int64_t start, int64_t target, int64_t done_at, int64_t now)
{
	struct stage st = {0, -1};
	if (!target)
		return st;
	st.due = start + target;
	if (done_at && done_at <= st.due)
		st.met = 1;
	else if (done_at || now > st.due)
		st.met = 0;
	return st;
}

static json_t *stage_json(struct stage st)
{
	return jpack("{so so}", "due_at", json_time_or_null(st.due), "met",
		     st.met < 0 ? json_null() : json_boolean(st.met));
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

/* The three stages of inc at now (SPEC §4.4): from created_at, or reopened_at after a
 * reopen; a stage is met by that stage or a later one. */
static void sla_stages(const struct config *cfg, const struct incident *inc, int64_t now,
		       struct stage out[3])
{
	int sev = inc->severity >= 1 && inc->severity <= 4 ? inc->severity : 3;
	const struct config_sla *t = &cfg->policy.sla[sev];
	int64_t start = inc->reopened_at ? inc->reopened_at : inc->created_at;
	int64_t later[4] = {inc->acknowledged_at, inc->mitigated_at, inc->resolved_at,
			    inc->closed_at};
	out[0] = stage_of(start, t->ack_ms, first_after(start, later, 4), now);
	out[1] = stage_of(start, t->mitigate_ms, first_after(start, later + 1, 3), now);
	out[2] = stage_of(start, t->resolve_ms, first_after(start, later + 2, 2), now);
}

json_t *policy_sla_json(const struct config *cfg, const struct incident *inc, int64_t now)
{
	struct stage st[3];
	sla_stages(cfg, inc, now, st);
	return jpack("{so so so}", "ack", stage_json(st[0]), "mitigate", stage_json(st[1]),
		     "resolve", stage_json(st[2]));
}

unsigned policy_sla_breaches(const struct config *cfg, const struct incident *inc, int64_t now,
			     int64_t due[3])
{
	struct stage st[3];
	sla_stages(cfg, inc, now, st);
	unsigned mask = 0;
	for (int i = 0; i < 3; i++) {
		due[i] = st[i].due;
		if (st[i].met == 0)
			mask |= 1u << i;
	}
	return mask;
}

const char *policy_sla_stage_name(int stage)
{
	static const char *const names[3] = {"ack", "mitigate", "resolve"};
	return names[stage];
}

static void stage_write(struct buf *b, struct stage st)
{
	buf_puts(b, "{\"due_at\":");
	json_write_time(b, st.due);
	buf_puts(b, st.met < 0 ? ",\"met\":null}" : st.met ? ",\"met\":true}" : ",\"met\":false}");
}

void policy_sla_write(struct buf *b, const struct config *cfg, const struct incident *inc,
		      int64_t now)
{
	struct stage st[3];
	sla_stages(cfg, inc, now, st);
	buf_puts(b, "{\"ack\":");
	stage_write(b, st[0]);
	buf_puts(b, ",\"mitigate\":");
	stage_write(b, st[1]);
	buf_puts(b, ",\"resolve\":");
	stage_write(b, st[2]);
	buf_putc(b, '}');
}
