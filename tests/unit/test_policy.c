/* test_policy.c — kinds, keys, severities, transitions and SLA (src/core/policy.h,
 * SPEC §4). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "config/config.h"
#include "core/policy.h"
#include "util/json.h"
#include "util/time.h"

/* In the sanitizer build, undefined behaviour fails the test instead of only being
 * printed (unused otherwise). */
const char *__ubsan_default_options(void);
const char *__ubsan_default_options(void)
{
	return "halt_on_error=1:print_stacktrace=1";
}

#define MIN  60000LL
#define HOUR (60 * MIN)
#define T0   1767225600000LL /* 2026-01-01T00:00:00.000Z */

static void test_kind_index(void **state)
{
	(void)state;
	static const struct {
		const char *kind;
		int idx;
	} cases[] = {
		{"invariant", CONFIG_KIND_INVARIANT},
		{"budget", CONFIG_KIND_BUDGET},
		{"planner", CONFIG_KIND_PLANNER},
		{"manual", CONFIG_KIND_MANUAL},
		{"alert", CONFIG_KIND_ALERT},
		{"alerts", -1},
		{"Manual", -1},
		{"MANUAL", -1},
		{"manual ", -1},
		{"", -1},
		{"man", -1},
		{"manuals", -1},
		{"canary", -1},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		if (policy_kind_index(cases[i].kind) != cases[i].idx)
			fail_msg("kind %s: expected %d, got %d", cases[i].kind, cases[i].idx,
				 policy_kind_index(cases[i].kind));
	assert_int_equal(policy_kind_index(NULL), -1);
}

static void test_make_key(void **state)
{
	(void)state;
	static const struct {
		const char *kind, *key, *out;
	} cases[] = {
		{"invariant", "inv_x", "invariant:inv_x"},
		{"invariant", "invariant:inv_x", "invariant:inv_x"},
		{"invariant", "invariantx", "invariant:invariantx"},
		{"invariant", "invariant", "invariant:invariant"},
		{"invariant", "budget:x", "invariant:budget:x"},
		{"invariant", "Invariant:x", "invariant:Invariant:x"},
		{"budget", "agent:quality", "budget:agent:quality"},
		{"budget", "budget:agent:quality", "budget:agent:quality"},
		{"planner", "canary:v2", "planner:canary:v2"},
		{"planner", "planner:canary:v2", "planner:canary:v2"},
		{"alert", "HighCPU:0123abcd", "alert:HighCPU:0123abcd"},
		{"alert", "alert:HighCPU:0123abcd", "alert:HighCPU:0123abcd"},
		{"manual", "db-down", "db-down"},
		{"manual", "manual:1234", "manual:1234"},
		{"manual", "invariant:x", "invariant:x"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char *k = policy_make_key(cases[i].kind, cases[i].key);
		if (strcmp(k, cases[i].out))
			fail_msg("make_key(%s, %s): expected %s, got %s", cases[i].kind,
				 cases[i].key, cases[i].out, k);
		free(k);
	}
	/* "inv_x" and "invariant:inv_x" are the same problem */
	char *a = policy_make_key("invariant", "inv_x");
	char *b = policy_make_key("invariant", "invariant:inv_x");
	assert_string_equal(a, b);
	free(a);
	free(b);
}

static void test_parse_severity(void **state)
{
	(void)state;
	static const struct {
		const char *s;
		int sev;
	} cases[] = {
		{"sev1", 1},  {"sev2", 2}, {"sev3", 3}, {"sev4", 4},	 {"sev0", 0},
		{"sev5", 0},  {"sev", 0},  {"SEV1", 0}, {"sev1 ", 0},	 {" sev1", 0},
		{"sev12", 0}, {"1", 0},	   {"", 0},	{"critical", 0}, {"P1", 0},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		if (policy_parse_severity(cases[i].s) != cases[i].sev)
			fail_msg("severity %s: expected %d, got %d", cases[i].s, cases[i].sev,
				 policy_parse_severity(cases[i].s));
	assert_int_equal(policy_parse_severity(NULL), 0);
}

static void test_priority_defaults(void **state)
{
	(void)state;
	struct config *cfg = config_defaults();
	static const struct {
		const char *p;
		int sev;
	} cases[] = {
		/* SPEC §4.1: P0 and P1 → sev1, P2 → sev2, P3 → sev3, P4 → sev4 */
		{"P0", 1},
		{"P1", 1},
		{"P2", 2},
		{"P3", 3},
		{"P4", 4},
		/* the default policy.severity words */
		{"critical", 1},
		{"high", 2},
		{"medium", 3},
		{"low", 4},
		/* unknown */
		{"P5", 0},
		{"P", 0},
		{"P10", 0},
		{"P-1", 0},
		{"urgent", 0},
		{"", 0},
		{"sev1", 0},
		{"1", 0},
		{"criticality", 0},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		if (policy_priority_severity(cfg, cases[i].p) != cases[i].sev)
			fail_msg("priority %s: expected %d, got %d", cases[i].p, cases[i].sev,
				 policy_priority_severity(cfg, cases[i].p));
	assert_int_equal(policy_priority_severity(cfg, NULL), 0);
	config_free(cfg);
}

static void test_priority_config_words(void **state)
{
	(void)state;
	const char *yaml = "policy: {severity: {blocker: sev1, high: sev1, trivial: sev4}}\n";
	struct config *cfg = NULL;
	struct err e;
	if (config_load_string(yaml, strlen(yaml), "t.yaml", "/tmp", &cfg, &e))
		fail_msg("config: %s", e.msg);
	assert_int_equal(policy_priority_severity(cfg, "blocker"), 1);
	assert_int_equal(policy_priority_severity(cfg, "high"), 1); /* overridden */
	assert_int_equal(policy_priority_severity(cfg, "trivial"), 4);
	assert_int_equal(policy_priority_severity(cfg, "critical"), 1); /* default kept */
	assert_int_equal(policy_priority_severity(cfg, "P2"), 2);	/* P words are fixed */
	assert_int_equal(policy_priority_severity(cfg, "nonsense"), 0);
	config_free(cfg);
}

static void test_status_names(void **state)
{
	(void)state;
	static const char *const names[ST_COUNT] = {"open", "acknowledged", "mitigated", "resolved",
						    "closed"};
	for (int s = 0; s < ST_COUNT; s++) {
		assert_string_equal(incident_status_name((enum incident_status)s), names[s]);
		enum incident_status out = ST_COUNT;
		assert_true(incident_status_parse(names[s], &out));
		assert_int_equal(out, s);
	}
	static const char *const bad[] = {"", "Open", "ack", "active", "resolved ", "reopened"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		enum incident_status out = ST_CLOSED;
		assert_false(incident_status_parse(bad[i], &out));
	}
	enum incident_status out;
	assert_false(incident_status_parse(NULL, &out));
}

static void test_verbs(void **state)
{
	(void)state;
	static const struct {
		enum verb v;
		const char *name, *change;
		enum incident_status target;
	} verbs[] = {
		{VERB_ACKNOWLEDGE, "acknowledge", "acknowledged", ST_ACKNOWLEDGED},
		{VERB_MITIGATE, "mitigate", "mitigated", ST_MITIGATED},
		{VERB_RESOLVE, "resolve", "resolved", ST_RESOLVED},
		{VERB_CLOSE, "close", "closed", ST_CLOSED},
		{VERB_REOPEN, "reopen", "reopened", ST_OPEN},
	};
	assert_int_equal(sizeof verbs / sizeof verbs[0], VERB_COUNT);
	for (size_t i = 0; i < VERB_COUNT; i++) {
		assert_string_equal(policy_verb_name(verbs[i].v), verbs[i].name);
		assert_string_equal(policy_verb_change_type(verbs[i].v), verbs[i].change);
		assert_int_equal(policy_verb_target(verbs[i].v), verbs[i].target);
		enum verb out = VERB_COUNT;
		assert_true(policy_parse_verb(verbs[i].name, &out));
		assert_int_equal(out, verbs[i].v);
	}
	static const char *const bad[] = {"",	    "ack",    "Acknowledge", "acknowledged",
					  "assign", "close ", "delete"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		enum verb out;
		assert_false(policy_parse_verb(bad[i], &out));
	}
}

static void test_active(void **state)
{
	(void)state;
	assert_true(policy_status_active(ST_OPEN));
	assert_true(policy_status_active(ST_ACKNOWLEDGED));
	assert_true(policy_status_active(ST_MITIGATED));
	assert_false(policy_status_active(ST_RESOLVED));
	assert_false(policy_status_active(ST_CLOSED));
}

/* SPEC §4.3, written out as the full status × verb matrix. */
static const bool spec_allowed[ST_COUNT][VERB_COUNT] = {
	/*                 ack    mitigate resolve close  reopen */
	[ST_OPEN] = {true, true, false, false, false},
	[ST_ACKNOWLEDGED] = {false, true, true, false, false},
	[ST_MITIGATED] = {false, false, true, true, false},
	[ST_RESOLVED] = {false, false, false, true, true},
	[ST_CLOSED] = {false, false, false, false, true},
};

static void test_transition_table(void **state)
{
	(void)state;
	for (int s = 0; s < ST_COUNT; s++)
		for (int v = 0; v < VERB_COUNT; v++) {
			bool got = policy_transition_allowed((enum incident_status)s, (enum verb)v);
			if (got != spec_allowed[s][v])
				fail_msg("%s from %s: expected %s", policy_verb_name((enum verb)v),
					 incident_status_name((enum incident_status)s),
					 spec_allowed[s][v] ? "allowed" : "refused");
		}
}

static void test_available_transitions(void **state)
{
	(void)state;
	static const char *const want[ST_COUNT] = {
		[ST_OPEN] = "[\"acknowledge\",\"mitigate\"]",
		[ST_ACKNOWLEDGED] = "[\"mitigate\",\"resolve\"]",
		[ST_MITIGATED] = "[\"resolve\",\"close\"]",
		[ST_RESOLVED] = "[\"close\",\"reopen\"]",
		[ST_CLOSED] = "[\"reopen\"]",
	};
	for (int s = 0; s < ST_COUNT; s++) {
		json_t *a = policy_available_transitions((enum incident_status)s);
		assert_true(json_is_array(a));
		char *txt = json_canon(a);
		if (strcmp(txt, want[s]))
			fail_msg("%s: expected %s, got %s",
				 incident_status_name((enum incident_status)s), want[s], txt);
		/* consistent with the matrix */
		size_t n = 0;
		for (int v = 0; v < VERB_COUNT; v++)
			n += spec_allowed[s][v];
		assert_int_equal(json_array_size(a), n);
		free(txt);
		json_decref(a);
	}
}

/* ---- SLA (SPEC §4.4) ---- */

/* met: 1 true, 0 false, -1 null */
struct stage_want {
	int64_t due; /* 0: null */
	int met;
};

struct sla_case {
	const char *what;
	int severity;
	int64_t created, ack, mit, res, closed, reopened, now;
	struct stage_want ack_w, mit_w, res_w;
};

static void check_stage(const char *what, const char *stage, const json_t *o, struct stage_want w)
{
	const json_t *s = json_object_get(o, stage);
	if (!json_is_object(s))
		fail_msg("%s: no %s object", what, stage);
	assert_int_equal(json_object_size(s), 2);
	const json_t *due = json_object_get(s, "due_at");
	const json_t *met = json_object_get(s, "met");
	if (!due || !met)
		fail_msg("%s: %s lacks due_at or met", what, stage);
	if (w.due) {
		char t[TIME_RFC3339_LEN];
		time_format_ms(w.due, t);
		if (!json_is_string(due) || strcmp(json_string_value(due), t))
			fail_msg("%s: %s.due_at expected %s", what, stage, t);
	} else if (!json_is_null(due)) {
		fail_msg("%s: %s.due_at expected null", what, stage);
	}
	int got = json_is_true(met) ? 1 : json_is_false(met) ? 0 : json_is_null(met) ? -1 : 9;
	if (got != w.met)
		fail_msg("%s: %s.met expected %d, got %d (1 true, 0 false, -1 null)", what, stage,
			 w.met, got);
}

static void test_sla_table(void **state)
{
	(void)state;
	/* defaults: sev1 ack 5m / mitigate 30m / resolve 4h; sev2 15m / 4h / 24h;
	 * sev3 1h / 24h / 7d; sev4 no targets. */
	const int64_t A1 = T0 + 5 * MIN, M1 = T0 + 30 * MIN, R1 = T0 + 4 * HOUR;
	const struct sla_case cases[] = {
		{"sev1 pending", 1, T0, 0, 0, 0, 0, 0, T0 + MIN, {A1, -1}, {M1, -1}, {R1, -1}},
		{"sev1 acked in time",
		 1,
		 T0,
		 T0 + 4 * MIN,
		 0,
		 0,
		 0,
		 0,
		 T0 + 10 * MIN,
		 {A1, 1},
		 {M1, -1},
		 {R1, -1}},
		{"sev1 acked exactly at due",
		 1,
		 T0,
		 A1,
		 0,
		 0,
		 0,
		 0,
		 T0 + 10 * MIN,
		 {A1, 1},
		 {M1, -1},
		 {R1, -1}},
		{"sev1 acked late", 1, T0, A1 + 1, 0, 0, 0, 0, A1 + 2, {A1, 0}, {M1, -1}, {R1, -1}},
		{"sev1 not acked, due passed",
		 1,
		 T0,
		 0,
		 0,
		 0,
		 0,
		 0,
		 A1 + 1,
		 {A1, 0},
		 {M1, -1},
		 {R1, -1}},
		{"sev1 not acked, now exactly at due",
		 1,
		 T0,
		 0,
		 0,
		 0,
		 0,
		 0,
		 A1,
		 {A1, -1},
		 {M1, -1},
		 {R1, -1}},
		{"sev1 acked late, still pending later stages",
		 1,
		 T0,
		 T0 + 20 * MIN,
		 0,
		 0,
		 0,
		 0,
		 T0 + 21 * MIN,
		 {A1, 0},
		 {M1, -1},
		 {R1, -1}},
		{"sev1 mitigated without ack counts for ack",
		 1,
		 T0,
		 0,
		 T0 + 3 * MIN,
		 0,
		 0,
		 0,
		 T0 + HOUR,
		 {A1, 1},
		 {M1, 1},
		 {R1, -1}},
		{"sev1 resolved at 20m without ack or mitigate",
		 1,
		 T0,
		 0,
		 0,
		 T0 + 20 * MIN,
		 0,
		 0,
		 T0 + HOUR,
		 {A1, 0},
		 {M1, 1},
		 {R1, 1}},
		{"sev1 everything late",
		 1,
		 T0,
		 T0 + HOUR,
		 T0 + 2 * HOUR,
		 T0 + 5 * HOUR,
		 0,
		 0,
		 T0 + 6 * HOUR,
		 {A1, 0},
		 {M1, 0},
		 {R1, 0}},
		{"sev1 all missed, nothing done",
		 1,
		 T0,
		 0,
		 0,
		 0,
		 0,
		 0,
		 T0 + 5 * HOUR,
		 {A1, 0},
		 {M1, 0},
		 {R1, 0}},
		{"sev1 closed from mitigated counts for resolve",
		 1,
		 T0,
		 T0 + MIN,
		 T0 + 2 * MIN,
		 0,
		 T0 + HOUR,
		 0,
		 T0 + 5 * HOUR,
		 {A1, 1},
		 {M1, 1},
		 {R1, 1}},
		{"sev2 targets",
		 2,
		 T0,
		 T0 + 10 * MIN,
		 0,
		 0,
		 0,
		 0,
		 T0 + 5 * HOUR,
		 {T0 + 15 * MIN, 1},
		 {T0 + 4 * HOUR, 0},
		 {T0 + 24 * HOUR, -1}},
		{"sev3 targets",
		 3,
		 T0,
		 0,
		 0,
		 0,
		 0,
		 0,
		 T0 + 2 * HOUR,
		 {T0 + HOUR, 0},
		 {T0 + 24 * HOUR, -1},
		 {T0 + 7 * 24 * HOUR, -1}},
		{"sev4 has no targets",
		 4,
		 T0,
		 0,
		 0,
		 0,
		 0,
		 0,
		 T0 + 30 * 24 * HOUR,
		 {0, -1},
		 {0, -1},
		 {0, -1}},
		{"sev4 has no targets even when done",
		 4,
		 T0,
		 T0 + MIN,
		 T0 + 2 * MIN,
		 T0 + 3 * MIN,
		 0,
		 0,
		 T0 + HOUR,
		 {0, -1},
		 {0, -1},
		 {0, -1}},
		/* reopen: the clock restarts at reopened_at; stages done before it do not count */
		{"sev1 reopened, pending",
		 1,
		 T0,
		 T0 + MIN,
		 T0 + 2 * MIN,
		 T0 + 10 * MIN,
		 0,
		 T0 + 2 * HOUR,
		 T0 + 2 * HOUR + MIN,
		 {T0 + 2 * HOUR + 5 * MIN, -1},
		 {T0 + 2 * HOUR + 30 * MIN, -1},
		 {T0 + 6 * HOUR, -1}},
		{"sev1 reopened, ack missed",
		 1,
		 T0,
		 T0 + MIN,
		 0,
		 T0 + 10 * MIN,
		 T0 + 20 * MIN,
		 T0 + 2 * HOUR,
		 T0 + 2 * HOUR + 6 * MIN,
		 {T0 + 2 * HOUR + 5 * MIN, 0},
		 {T0 + 2 * HOUR + 30 * MIN, -1},
		 {T0 + 6 * HOUR, -1}},
		{"sev1 reopened, acked again in time",
		 1,
		 T0,
		 T0 + 2 * HOUR + MIN,
		 0,
		 T0 + 10 * MIN,
		 0,
		 T0 + 2 * HOUR,
		 T0 + 2 * HOUR + 10 * MIN,
		 {T0 + 2 * HOUR + 5 * MIN, 1},
		 {T0 + 2 * HOUR + 30 * MIN, -1},
		 {T0 + 6 * HOUR, -1}},
	};
	struct config *cfg = config_defaults();
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const struct sla_case *c = &cases[i];
		struct incident inc = {
			.id = 1,
			.severity = c->severity,
			.created_at = c->created,
			.acknowledged_at = c->ack,
			.mitigated_at = c->mit,
			.resolved_at = c->res,
			.closed_at = c->closed,
			.reopened_at = c->reopened,
		};
		json_t *o = policy_sla_json(cfg, &inc, c->now);
		assert_true(json_is_object(o));
		assert_int_equal(json_object_size(o), 3);
		check_stage(c->what, "ack", o, c->ack_w);
		check_stage(c->what, "mitigate", o, c->mit_w);
		check_stage(c->what, "resolve", o, c->res_w);
		json_decref(o);
	}
	config_free(cfg);
}

static void test_sla_text(void **state)
{
	(void)state;
	struct config *cfg = config_defaults();
	struct incident inc = {.severity = 1, .created_at = T0, .acknowledged_at = T0 + MIN};
	json_t *o = policy_sla_json(cfg, &inc, T0 + 10 * MIN);
	char *s = json_canon(o);
	assert_string_equal(s,
			    "{\"ack\":{\"due_at\":\"2026-01-01T00:05:00.000Z\",\"met\":true},"
			    "\"mitigate\":{\"due_at\":\"2026-01-01T00:30:00.000Z\",\"met\":null},"
			    "\"resolve\":{\"due_at\":\"2026-01-01T04:00:00.000Z\",\"met\":null}}");
	free(s);
	json_decref(o);
	config_free(cfg);
}

static void test_sla_config_targets(void **state)
{
	(void)state;
	const char *yaml = "policy: {sla: {sev4: {ack: 90s}, sev1: {}}}\n";
	struct config *cfg = NULL;
	struct err e;
	if (config_load_string(yaml, strlen(yaml), "t.yaml", "/tmp", &cfg, &e))
		fail_msg("config: %s", e.msg);
	struct incident inc = {.severity = 4, .created_at = T0};
	json_t *o = policy_sla_json(cfg, &inc, T0 + 91000);
	check_stage("sev4 ack 90s", "ack", o, (struct stage_want){T0 + 90000, 0});
	check_stage("sev4 ack 90s", "mitigate", o, (struct stage_want){0, -1});
	json_decref(o);
	inc.severity = 1;
	o = policy_sla_json(cfg, &inc, T0 + 100 * HOUR);
	check_stage("sev1 emptied", "ack", o, (struct stage_want){0, -1});
	check_stage("sev1 emptied", "resolve", o, (struct stage_want){0, -1});
	json_decref(o);
	config_free(cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kind_index),
		cmocka_unit_test(test_make_key),
		cmocka_unit_test(test_parse_severity),
		cmocka_unit_test(test_priority_defaults),
		cmocka_unit_test(test_priority_config_words),
		cmocka_unit_test(test_status_names),
		cmocka_unit_test(test_verbs),
		cmocka_unit_test(test_active),
		cmocka_unit_test(test_transition_table),
		cmocka_unit_test(test_available_transitions),
		cmocka_unit_test(test_sla_table),
		cmocka_unit_test(test_sla_text),
		cmocka_unit_test(test_sla_config_targets),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
