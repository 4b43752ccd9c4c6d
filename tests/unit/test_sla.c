/* test_sla.c — the SLA check (src/core/sla.h, SPEC §4.4): one sla_breached event per
 * incident, stage and due time, whoever checks and however often. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "config/config.h"
#include "core/event.h"
#include "core/policy.h"
#include "core/sla.h"
#include "tmpdb.h"
#include "util/json.h"

const char *__ubsan_default_options(void);
const char *__ubsan_default_options(void)
{
	return "halt_on_error=1:print_stacktrace=1";
}

#define MIN 60000LL
#define T0  1800000000000LL

/* An incident of severity sev created at T0 (default SLA: sev1 ack 5m, mitigate 30m,
 * resolve 4h; sev4 none). */
static int64_t incident(struct store_conn *c, const char *key, int sev, enum incident_status st,
			int64_t acked_at)
{
	struct incident inc = {.kind = "manual",
			       .key = (char *)key,
			       .severity = sev,
			       .status = st,
			       .summary = "s",
			       .occurrences = 1,
			       .last_seen_at = T0,
			       .created_at = T0,
			       .updated_at = T0,
			       .acknowledged_at = acked_at,
			       .acknowledged_by = acked_at ? "alice" : NULL};
	struct err e;
	err_clear(&e);
	assert_int_equal(store_incident_insert(c, &inc, &e), 0);
	return inc.id;
}

struct seen {
	char text[1024];
	int n;
};

static int add_event(const struct event *ev, void *arg)
{
	struct seen *s = arg;
	if (strcmp(ev->type, "sla_breached"))
		return 0;
	size_t len = strlen(s->text);
	snprintf(s->text + len, sizeof s->text - len, "%s%lld:%s", s->n ? " " : "",
		 (long long)ev->incident_id, ev->data);
	s->n++;
	return 0;
}

static void breaches(struct store_conn *c, struct seen *s)
{
	memset(s, 0, sizeof *s);
	struct event_filter f = {.limit = 1000};
	struct err e;
	err_clear(&e);
	assert_int_equal(store_event_list(c, &f, add_event, s, NULL, &e), 0);
}

static void check(struct store_conn *c, const struct config *cfg, int64_t now, int64_t a, int64_t m,
		  int64_t r)
{
	int64_t counts[3];
	struct err e;
	err_clear(&e);
	int rc = sla_check(c, cfg, now, counts, &e);
	if (rc)
		fail_msg("sla_check: %s", e.msg);
	assert_int_equal(counts[0], a);
	assert_int_equal(counts[1], m);
	assert_int_equal(counts[2], r);
}

static void test_once_per_stage(void **state)
{
	struct tmpdb_fixture *f = *state;
	struct store_conn *c = f->conn;
	struct config *cfg = config_defaults();
	int64_t a = incident(c, "a", 1, ST_OPEN, 0);
	int64_t b = incident(c, "b", 1, ST_ACKNOWLEDGED, T0 + 4 * MIN); /* acked in time */
	incident(c, "quiet", 4, ST_OPEN, 0);				/* sev4: no targets */
	incident(c, "done", 1, ST_RESOLVED, 0);				/* not active */
	check(c, cfg, T0 + 5 * MIN, 0, 0, 0);				/* due, not past */
	/* acknowledged at +6 min, after its due time: breached too */
	int64_t late = incident(c, "late", 1, ST_ACKNOWLEDGED, T0 + 6 * MIN);
	check(c, cfg, T0 + 5 * MIN + 1, 2, 0, 0);  /* a and late */
	check(c, cfg, T0 + 6 * MIN, 0, 0, 0);	   /* never twice */
	check(c, cfg, T0 + 31 * MIN, 0, 3, 0);	   /* mitigate: all three */
	check(c, cfg, T0 + 5 * 60 * MIN, 0, 0, 3); /* resolve */
	check(c, cfg, T0 + 6 * 60 * MIN, 0, 0, 0);
	struct seen s;
	breaches(c, &s);
	assert_int_equal(s.n, 8);
	char want[64];
	snprintf(want, sizeof want, "%lld:{\"due_at\":\"2027-01-15T08:05:00.000Z\",", (long long)a);
	if (!strstr(s.text, want))
		fail_msg("%s not in %s", want, s.text);
	snprintf(want, sizeof want, "\"incident_id\":%lld,\"stage\":\"ack\"}", (long long)late);
	if (!strstr(s.text, want))
		fail_msg("%s not in %s", want, s.text);
	(void)b;
	config_free(cfg);
}

/* After a reopen the clocks start again: a new breach of the same stage is a new
 * event. */
static void test_reopen_starts_new_clocks(void **state)
{
	struct tmpdb_fixture *f = *state;
	struct store_conn *c = f->conn;
	struct config *cfg = config_defaults();
	int64_t a = incident(c, "a", 2, ST_OPEN, 0); /* sev2: ack 15m */
	check(c, cfg, T0 + 16 * MIN, 1, 0, 0);
	struct incident inc;
	struct err e;
	err_clear(&e);
	assert_int_equal(store_incident_get(c, a, &inc, &e), 0);
	inc.reopened_at = T0 + 60 * MIN;
	assert_int_equal(store_incident_update(c, &inc, &e), 0);
	incident_clear(&inc);
	check(c, cfg, T0 + 70 * MIN, 0, 0, 0);
	check(c, cfg, T0 + 76 * MIN, 1, 0, 0);
	struct seen s;
	breaches(c, &s);
	assert_int_equal(s.n, 2);
	config_free(cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_once_per_stage, tmpdb_setup, tmpdb_teardown),
		cmocka_unit_test_setup_teardown(test_reopen_starts_new_clocks, tmpdb_setup,
						tmpdb_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
