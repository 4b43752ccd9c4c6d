/* policy.c — the `policy` section: rate limits, priority words and SLA targets.
 *
 * `severity` is a map merged into its defaults; each `sla` block written in the file
 * replaces that block (F_WHOLE), so a stage left out has no target. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config/keys.h"
#include "config/sections.h"

const struct enum_name cfg_severities[] = {
	{"sev1", 1}, {"sev2", 2}, {"sev3", 3}, {"sev4", 4}, {NULL, 0}};

#define WINDOW(n, kind, d) KDUR(n, C(policy.rate_limit_window_ms[kind]), d, SECOND, 365 * DAY, 0)
static const struct key window_keys[] = {
	WINDOW("invariant", CONFIG_KIND_INVARIANT, "1h"),
	WINDOW("budget", CONFIG_KIND_BUDGET, "4h"),
	WINDOW("planner", CONFIG_KIND_PLANNER, "2h"),
	WINDOW("manual", CONFIG_KIND_MANUAL, "1h"),
	WINDOW("alert", CONFIG_KIND_ALERT, "1h"),
	KEND,
};

static const struct key rate_limit_keys[] = {
	KINT("max", C(policy.rate_limit_max), "3", 1, 1000000),
	KSECTION("window", window_keys, 0, 0),
	KEND,
};

static const struct key severity_word_value =
	KENUM("", offsetof(struct config_severity_word, sev), "sev3", cfg_severities);
static const char *const severity_defaults[] = {"critical", "sev1", "high", "sev2", "medium",
						"sev3",	    "low",  "sev4", NULL};
static const struct coll severity_coll = {
	.elem_size = sizeof(struct config_severity_word),
	.name_off = offsetof(struct config_severity_word, word),
	.elem = &severity_word_value,
	.defaults = severity_defaults,
};

#define STAGE(n, sev, f, d) KDUR(n, C(policy.sla[sev].f), d, SECOND, 365 * DAY, F_OPTIONAL)
#define SLA_KEYS(sev, a, m, r)                                                                     \
	{                                                                                          \
		STAGE("ack", sev, ack_ms, a), STAGE("mitigate", sev, mitigate_ms, m),              \
			STAGE("resolve", sev, resolve_ms, r), KEND                                 \
	}
static const struct key sla1_keys[] = SLA_KEYS(1, "5m", "30m", "4h");
static const struct key sla2_keys[] = SLA_KEYS(2, "15m", "4h", "24h");
static const struct key sla3_keys[] = SLA_KEYS(3, "1h", "24h", "7d");
static const struct key sla4_keys[] = SLA_KEYS(4, NULL, NULL, NULL);

static const struct key sla_keys[] = {
	KSECTION("sev1", sla1_keys, F_WHOLE, 0),
	KSECTION("sev2", sla2_keys, F_WHOLE, 0),
	KSECTION("sev3", sla3_keys, F_WHOLE, 0),
	KSECTION("sev4", sla4_keys, F_WHOLE, 0),
	KEND,
};

const struct key cfg_policy_keys[] = {
	KSECTION("rate_limit", rate_limit_keys, 0, 0),
	KMAP("severity", C(policy.severity), C(policy.n_severity), &severity_coll),
	KSECTION("sla", sla_keys, 0, 0),
	KEND,
};

/* A priority word and where it sits in the map, to find words that differ only in case. */
struct word {
	const char *word;
	size_t idx;
};

static int word_cmp(const void *a, const void *b)
{
	const struct word *p = a, *q = b;
	int c = strcasecmp(p->word, q->word);
	if (c)
		return c;
	return (p->idx > q->idx) - (p->idx < q->idx);
}

/* A signal's priority is looked up without regard to case, and P0..P4 are read before
 * the map (core/policy.c): an entry that can never be the one found is an error, not a
 * setting that silently does nothing. */
void cfg_check_policy(struct ctx *x, const struct config *c)
{
	size_t n = c->policy.n_severity;
	const struct config_severity_word *sw = c->policy.severity;
	struct word *v = xcalloc(n ? n : 1, sizeof *v);
	const char **same = xcalloc(n ? n : 1, sizeof *same); /* by index: an earlier word */
	for (size_t i = 0; i < n; i++)
		v[i] = (struct word){sw[i].word, i};
	qsort(v, n, sizeof *v, word_cmp);
	for (size_t i = 1; i < n; i++)
		if (!strcasecmp(v[i - 1].word, v[i].word))
			same[v[i].idx] = v[i - 1].word;
	for (size_t i = 0; i < n; i++) {
		const char *s = sw[i].word;
		bool builtin =
			toupper((unsigned char)s[0]) == 'P' && s[1] >= '0' && s[1] <= '4' && !s[2];
		if (!builtin && !same[i])
			continue;
		struct buf key = BUF_INIT;
		buf_printf(&key, "policy.severity.%s", s);
		struct pos p = cfg_pos_of(x, &sw[i], offsetof(struct config_severity_word, sev),
					  (struct pos){1, 1});
		if (builtin)
			cfg_error(x, key.data, p,
				  "P0..P4 are built in (P0 and P1 mean sev1, P2 sev2, P3 sev3, "
				  "P4 sev4) and cannot be remapped");
		else
			cfg_error(x, key.data, p,
				  "same word as \"%s\": priority words are matched without regard "
				  "to case",
				  same[i]);
		buf_free(&key);
	}
	free(same);
	free(v);
}
