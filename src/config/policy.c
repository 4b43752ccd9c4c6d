/* policy.c — the `policy` section: rate limits, priority words and SLA targets.
 *
 * `severity` is a map merged into its defaults; each `sla` block written in the file
 * replaces that block (F_WHOLE), so a stage left out has no target. */
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
