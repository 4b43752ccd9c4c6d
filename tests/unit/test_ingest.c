/* test_ingest.c — gate inputs (src/core/ingest.h, SPEC §10): every rule of an eval
 * result, a daily rollup and a canary run, with the field each refusal names; batches
 * (NDJSON lines, duplicates, the item limit, the reply); storing them (upsert by agent
 * and date); and the query plans of the watcher's and the gate report's queries over
 * those tables, each of which must use its index. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tmpdb.h"

#include "core/ingest.h"
#include "store/store.h"
#include "util/json.h"

/* In the sanitizer build, undefined behaviour fails the test instead of only being
 * printed (unused otherwise). */
const char *__ubsan_default_options(void);
const char *__ubsan_default_options(void)
{
	return "halt_on_error=1:print_stacktrace=1";
}

static json_t *J(const char *text)
{
	json_error_t je;
	json_t *v = json_loads(text, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &je);
	if (!v)
		fail_msg("bad test JSON: %s: %s", text, je.text);
	return v;
}

#define EVAL_OK                                                                                    \
	"\"task_id\": \"t-1\", \"agent\": \"inbox.triage\", \"timestamp\": "                       \
	"\"2026-03-01T10:00:00Z\", \"success\": true"
#define METRICS_OK                                                                                 \
	"\"agent\": \"inbox.triage\", \"date\": \"2026-03-01\", \"total_runs\": 10, "              \
	"\"successful_runs\": 9"
#define CANARY_OK                                                                                  \
	"\"canary\": \"planner\", \"version\": \"v2\", \"variant\": \"canary\", \"timestamp\": "   \
	"\"2026-03-01T10:00:00Z\""

struct bad_case {
	enum ingest_kind kind;
	const char *json;
	const char *field; /* the field the refusal must name */
	const char *words; /* a part of its message */
};

static int parse_one(enum ingest_kind kind, const json_t *v, struct err *e)
{
	int rc;
	switch (kind) {
	case INGEST_EVAL: {
		struct eval_result r;
		rc = ingest_eval_parse(v, &r, e);
		eval_result_clear(&r);
		return rc;
	}
	case INGEST_METRICS: {
		struct metrics_daily m;
		rc = ingest_metrics_parse(v, &m, e);
		metrics_daily_clear(&m);
		return rc;
	}
	case INGEST_CANARY: {
		struct canary_run r;
		rc = ingest_canary_parse(v, &r, e);
		canary_run_clear(&r);
		return rc;
	}
	}
	return -1;
}

static void test_bad_items_name_their_field(void **state)
{
	(void)state;
	static const struct bad_case cases[] = {
		/* eval results: types, bounds, NaN spelled as a string, unknown fields */
		{INGEST_EVAL, "{" EVAL_OK ", \"success\": 1}", "success", "boolean"},
		{INGEST_EVAL,
		 "{\"agent\": \"a\", \"timestamp\": \"2026-03-01T10:00:00Z\", "
		 "\"success\": true}",
		 "task_id", "required"},
		{INGEST_EVAL, "{" EVAL_OK ", \"quality_score\": \"NaN\"}", "quality_score",
		 "number"},
		{INGEST_EVAL, "{" EVAL_OK ", \"latency_ms\": \"Infinity\"}", "latency_ms",
		 "number"},
		{INGEST_EVAL, "{" EVAL_OK ", \"quality_score\": 100.5}", "quality_score",
		 "0 and 100"},
		{INGEST_EVAL, "{" EVAL_OK ", \"quality_score\": -1}", "quality_score", "0 and 100"},
		{INGEST_EVAL, "{" EVAL_OK ", \"latency_ms\": -0.5}", "latency_ms", "negative"},
		{INGEST_EVAL, "{" EVAL_OK ", \"cost\": -3}", "cost", "negative"},
		{INGEST_EVAL,
		 "{\"task_id\": \"t\", \"agent\": \"a\", \"timestamp\": \"2026-02-30T10:00:00Z\", "
		 "\"success\": true}",
		 "timestamp", "RFC 3339"},
		{INGEST_EVAL,
		 "{\"task_id\": \"t\", \"agent\": \"a\", \"timestamp\": \"yesterday\", "
		 "\"success\": true}",
		 "timestamp", "RFC 3339"},
		{INGEST_EVAL, "{" EVAL_OK ", \"extra\": 1}", "extra", "unknown field"},
		{INGEST_EVAL,
		 "{\"task_id\": \"\", \"agent\": \"a\", \"timestamp\": \"2026-03-01T10:00:00Z\", "
		 "\"success\": true}",
		 "task_id", "1 to 128"},
		{INGEST_EVAL, "{" EVAL_OK ", \"invariants\": {}}", "invariants", "array"},
		{INGEST_EVAL, "{" EVAL_OK ", \"invariants\": [1]}", "invariants", "invariants[0]"},
		{INGEST_EVAL, "{" EVAL_OK ", \"invariants\": [{\"id\": \"x\"}]}",
		 "invariants[0].passed", "required"},
		{INGEST_EVAL,
		 "{" EVAL_OK ", \"invariants\": [{\"id\": \"x\", \"passed\": true}, {\"passed\": "
		 "false}]}",
		 "invariants[1].id", "required"},
		{INGEST_EVAL,
		 "{" EVAL_OK ", \"invariants\": [{\"id\": \"x\", \"passed\": \"no\"}]}",
		 "invariants[0].passed", "boolean"},
		{INGEST_EVAL,
		 "{" EVAL_OK ", \"invariants\": [{\"id\": \"x\", \"passed\": true, \"evidence\": "
		 "[]}]}",
		 "invariants[0].evidence", "object"},
		{INGEST_EVAL,
		 "{" EVAL_OK ", \"invariants\": [{\"id\": \"x\", \"passed\": true, \"why\": 1}]}",
		 "invariants[0].why", "unknown field"},
		/* daily metrics */
		{INGEST_METRICS, "{" METRICS_OK ", \"successful_runs\": 11}", "successful_runs",
		 "exceed total_runs"},
		{INGEST_METRICS,
		 "{\"agent\": \"a\", \"date\": \"2026-03-01\", \"total_runs\": -1, "
		 "\"successful_runs\": 0}",
		 "total_runs", "negative"},
		{INGEST_METRICS, "{" METRICS_OK ", \"invariants_failed\": -2}", "invariants_failed",
		 "negative"},
		{INGEST_METRICS, "{" METRICS_OK ", \"invariants_passed\": 1.5}",
		 "invariants_passed", "integer"},
		{INGEST_METRICS,
		 "{\"agent\": \"a\", \"date\": \"2026-02-30\", \"total_runs\": 1, "
		 "\"successful_runs\": 0}",
		 "date", "existing calendar date"},
		{INGEST_METRICS,
		 "{\"agent\": \"a\", \"date\": \"2026-13-01\", \"total_runs\": 1, "
		 "\"successful_runs\": 0}",
		 "date", "existing calendar date"},
		{INGEST_METRICS,
		 "{\"agent\": \"a\", \"date\": \"2026-3-1\", \"total_runs\": 1, "
		 "\"successful_runs\": 0}",
		 "date", "YYYY-MM-DD"},
		{INGEST_METRICS,
		 "{\"agent\": \"a\", \"date\": 20260301, \"total_runs\": 1, \"successful_runs\": 0}",
		 "date", "string"},
		{INGEST_METRICS, "{" METRICS_OK ", \"avg_quality_score\": 101}",
		 "avg_quality_score", "0 and 100"},
		{INGEST_METRICS, "{" METRICS_OK ", \"p95_latency_ms\": -1}", "p95_latency_ms",
		 "negative"},
		{INGEST_METRICS, "{" METRICS_OK ", \"avg_cost\": \"NaN\"}", "avg_cost", "number"},
		{INGEST_METRICS, "{" METRICS_OK ", \"total_runs\": \"10\"}", "total_runs",
		 "integer"},
		/* canary runs */
		{INGEST_CANARY, "{" CANARY_OK ", \"variant\": \"control\"}", "variant",
		 "baseline, canary"},
		{INGEST_CANARY, "{" CANARY_OK ", \"latency_ms\": -1}", "latency_ms", "negative"},
		{INGEST_CANARY, "{" CANARY_OK ", \"quality_score\": \"Infinity\"}", "quality_score",
		 "number"},
		{INGEST_CANARY, "{" CANARY_OK ", \"cost\": -0.01}", "cost", "negative"},
		{INGEST_CANARY,
		 "{\"canary\": \"p\", \"variant\": \"canary\", \"timestamp\": \"2026-03-01T10:00:00Z\"}",
		 "version", "required"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		/* a key repeated after the *_OK fields replaces their value */
		json_error_t je;
		json_t *v = json_loads(cases[i].json, 0, &je);
		if (!v)
			fail_msg("bad test JSON: %s: %s", cases[i].json, je.text);
		struct err e;
		err_clear(&e);
		int rc = parse_one(cases[i].kind, v, &e);
		json_decref(v);
		if (rc != ERR_INVALID || strcmp(e.field, cases[i].field) ||
		    !strstr(e.msg, cases[i].words))
			fail_msg("case %zu %s: rc %d field '%s' message '%s'", i, cases[i].json, rc,
				 e.field, e.msg);
	}
}

static void test_long_names_refused(void **state)
{
	(void)state;
	char agent[200];
	memset(agent, 'a', 129);
	agent[129] = 0;
	json_t *v = jpack("{ss ss ss sb}", "task_id", "t", "agent", agent, "timestamp",
			  "2026-03-01T10:00:00Z", "success", 1);
	struct eval_result r;
	struct err e;
	err_clear(&e);
	assert_int_equal(ingest_eval_parse(v, &r, &e), ERR_INVALID);
	assert_string_equal(e.field, "agent");
	agent[128] = 0;
	json_object_set_new(v, "agent", json_string(agent));
	assert_int_equal(ingest_eval_parse(v, &r, &e), 0);
	eval_result_clear(&r);
	json_decref(v);
}

static void test_good_items(void **state)
{
	(void)state;
	struct err e;
	err_clear(&e);
	json_t *v =
		J("{" EVAL_OK ", \"quality_score\": 91.5, \"latency_ms\": 420, \"cost\": 0, "
		  "\"invariants\": [{\"id\": \"inv_no_pii\", \"name\": \"No PII\", \"passed\": "
		  "false, \"priority\": \"critical\", \"message\": \"m\", \"evidence\": {\"a\": "
		  "1}}, {\"id\": \"inv_2\", \"passed\": true}, {\"id\": \"inv_3\", \"passed\": "
		  "false}]}");
	struct eval_result r;
	assert_int_equal(ingest_eval_parse(v, &r, &e), 0);
	assert_string_equal(r.agent, "inbox.triage");
	assert_int_equal(r.timestamp, 1772359200000LL);
	assert_true(r.success);
	assert_true(r.quality_score.set && r.quality_score.v == 91.5);
	assert_true(r.cost.set && r.cost.v == 0);
	assert_int_equal(r.failed_invariants, 2);
	assert_int_equal(json_array_size(r.invariants), 3);
	eval_result_clear(&r);
	json_decref(v);

	v = J("{" METRICS_OK ", \"avg_quality_score\": null, \"p95_latency_ms\": 800}");
	struct metrics_daily m;
	assert_int_equal(ingest_metrics_parse(v, &m, &e), 0);
	assert_string_equal(m.date, "2026-03-01");
	assert_false(m.avg_quality_score.set);
	assert_true(m.p95_latency_ms.set && m.p95_latency_ms.v == 800);
	assert_int_equal(m.invariants_failed, 0);
	metrics_daily_clear(&m);
	json_decref(v);

	v = J("{" CANARY_OK ", \"quality_score\": 0, \"latency_ms\": 12.5}");
	struct canary_run c;
	assert_int_equal(ingest_canary_parse(v, &c, &e), 0);
	assert_string_equal(c.variant, "canary");
	assert_false(c.cost.set);
	canary_run_clear(&c);
	json_decref(v);
}

static void test_dates(void **state)
{
	(void)state;
	assert_true(ingest_date_valid("2024-02-29"));
	assert_true(ingest_date_valid("2000-02-29"));
	assert_true(ingest_date_valid("2026-12-31"));
	assert_false(ingest_date_valid("2026-02-29"));
	assert_false(ingest_date_valid("1900-02-29"));
	assert_false(ingest_date_valid("2026-04-31"));
	assert_false(ingest_date_valid("2026-00-10"));
	assert_false(ingest_date_valid("2026-01-00"));
	assert_false(ingest_date_valid("0000-01-01"));
	assert_false(ingest_date_valid("2026-01-01T"));
	assert_false(ingest_date_valid("2026/01/01"));
	assert_false(ingest_date_valid("２026-01-01"));
	assert_false(ingest_date_valid(NULL));
}

static void test_ndjson_batch(void **state)
{
	(void)state;
	const char *text =
		"{" METRICS_OK "}\n"
		"\n"
		"   \r\n"
		"{\"agent\": \"b\", \"date\": \"2026-03-01\", \"total_runs\": 1, "
		"\"successful_runs\": 2}\n"
		"{not json\n"
		"{\"agent\": \"inbox.triage\", \"date\": \"2026-03-01\", \"total_runs\": "
		"5, \"successful_runs\": 5}\n"
		"{\"agent\": \"c\", \"date\": \"2026-03-02\", \"total_runs\": 1, "
		"\"successful_runs\": 1}";
	json_t *body = json_string(text);
	struct ingest_batch b;
	struct err e;
	err_clear(&e);
	assert_int_equal(ingest_batch_parse(INGEST_METRICS, body, true, 0, &b, &e), 0);
	assert_int_equal(b.total, 5);
	assert_int_equal(b.n_items, 2);
	assert_int_equal(b.items[0].index, 0);
	assert_int_equal(b.items[1].index, 4);
	assert_int_equal(b.n_rejects, 3);
	assert_int_equal(b.rejects[0].index, 1);
	assert_string_equal(b.rejects[0].field, "successful_runs");
	assert_int_equal(b.rejects[1].index, 2);
	assert_int_equal(b.rejects[1].code, ERR_JSON);
	assert_non_null(strstr(b.rejects[1].message, "line 5"));
	assert_int_equal(b.rejects[2].index, 3);
	assert_string_equal(b.rejects[2].field, "date");
	assert_non_null(strstr(b.rejects[2].message, "duplicate of item 0"));
	json_t *reply = ingest_batch_reply(&b);
	char *s = json_canon(reply);
	assert_non_null(strstr(s, "\"accepted\":2"));
	assert_non_null(strstr(s, "{\"error\":{\"code\":\"invalid_json\",\"details\":{},"));
	assert_non_null(strstr(s, "\"details\":{\"field\":\"successful_runs\"}"));
	free(s);
	json_decref(reply);
	ingest_batch_clear(&b);
	json_decref(body);
}

static void test_batch_limit_and_duplicates(void **state)
{
	(void)state;
	json_t *arr = json_array();
	for (int i = 0; i < 7; i++)
		json_array_append_new(
			arr, jpack("{ss ss ss ss}", "canary", "p", "version", "v2", "variant",
				   i == 2 ? "baseline" : "canary", "timestamp",
				   i < 3 ? "2026-03-01T10:00:00Z" : "2026-03-01T10:00:01Z"));
	struct ingest_batch b;
	struct err e;
	err_clear(&e);
	assert_int_equal(ingest_batch_parse(INGEST_CANARY, arr, false, 5, &b, &e), 0);
	/* 0 and 1 alike, 2 another variant, 3 and 4 alike; 5 and 6 past the limit */
	assert_int_equal(b.total, 7);
	assert_int_equal(b.over_from, 5);
	assert_int_equal(b.n_items, 3);
	assert_int_equal(b.n_rejects, 2);
	assert_int_equal(b.rejects[0].index, 1);
	assert_int_equal(b.rejects[1].index, 4);
	json_t *reply = ingest_batch_reply(&b);
	json_t *rej = json_object_get(reply, "rejected");
	assert_int_equal(json_array_size(rej), 4);
	assert_int_equal(json_integer_value(json_object_get(json_array_get(rej, 3), "index")), 6);
	const char *msg = json_string_value(
		json_object_get(json_object_get(json_array_get(rej, 2), "error"), "message"));
	assert_non_null(strstr(msg, "limit of 5 items"));
	json_decref(reply);
	ingest_batch_clear(&b);
	json_decref(arr);
}

static void test_not_a_batch(void **state)
{
	(void)state;
	struct ingest_batch b;
	struct err e;
	err_clear(&e);
	json_t *v = J("{\"no_such_field\": 1}");
	assert_int_equal(ingest_batch_parse(INGEST_EVAL, v, false, 0, &b, &e), ERR_INVALID);
	assert_string_equal(e.field, "no_such_field");
	json_decref(v);
	v = J("{" EVAL_OK "}");
	assert_int_equal(ingest_batch_parse(INGEST_EVAL, v, false, 0, &b, &e), ERR_INVALID);
	assert_string_equal(e.field, "body");
	assert_non_null(strstr(e.msg, "JSON array"));
	json_decref(v);
	v = J("\"text\"");
	assert_int_equal(ingest_batch_parse(INGEST_METRICS, v, false, 0, &b, &e), ERR_INVALID);
	assert_string_equal(e.field, "body");
	json_decref(v);
}

/* ---- storage ---- */

static void test_store_and_upsert(void **state)
{
	struct tmpdb_fixture *f = *state;
	struct err e;
	err_clear(&e);
	json_t *arr = J("[{" METRICS_OK "}, {\"agent\": \"b\", \"date\": \"2026-03-01\", "
			"\"total_runs\": 3, \"successful_runs\": 3, \"avg_cost\": 0.5}]");
	struct ingest_batch b;
	assert_int_equal(ingest_batch_parse(INGEST_METRICS, arr, false, 0, &b, &e), 0);
	assert_int_equal(ingest_batch_store(f->conn, &b, 1000, &e), 0);
	ingest_batch_clear(&b);
	json_decref(arr);
	/* the same (agent, date) again replaces the row */
	arr = J("[{\"agent\": \"inbox.triage\", \"date\": \"2026-03-01\", \"total_runs\": 20, "
		"\"successful_runs\": 1}]");
	assert_int_equal(ingest_batch_parse(INGEST_METRICS, arr, false, 0, &b, &e), 0);
	assert_int_equal(ingest_batch_store(f->conn, &b, 2000, &e), 0);
	ingest_batch_clear(&b);
	json_decref(arr);
	/* Checked through SQL that raises an error when the stored rows are not the
	 * expected ones (a CHECK-like trick: a division by zero is not an error in SQLite,
	 * so a failing json() call is used). */
	assert_int_equal(store_exec_sql(f->conn,
					"SELECT json(CASE WHEN (SELECT count(*) FROM "
					"agent_metrics_daily) = 2 THEN '1' ELSE 'x' END)",
					&e),
			 0);
	assert_int_not_equal(store_exec_sql(f->conn,
					    "SELECT json(CASE WHEN (SELECT count(*) FROM "
					    "agent_metrics_daily) = 3 THEN '1' ELSE 'x' END)",
					    &e),
			     0);
	assert_int_equal(
		store_exec_sql(f->conn,
			       "SELECT json(CASE WHEN (SELECT total_runs || '/' || successful_runs "
			       "|| '/' || updated_at || '/' || (avg_cost IS NULL) FROM "
			       "agent_metrics_daily WHERE agent = 'inbox.triage') = '20/1/2000/1' "
			       "THEN '1' ELSE 'x' END)",
			       &e),
		0);

	json_t *ev = J("[{" EVAL_OK ", \"invariants\": [{\"id\": \"a\", \"passed\": false}]}]");
	assert_int_equal(ingest_batch_parse(INGEST_EVAL, ev, false, 0, &b, &e), 0);
	assert_int_equal(ingest_batch_store(f->conn, &b, 3000, &e), 0);
	ingest_batch_clear(&b);
	json_decref(ev);
	assert_int_equal(
		store_exec_sql(
			f->conn,
			"SELECT json(CASE WHEN (SELECT failed_invariants || '/' || invariants "
			"|| '/' || received_at || '/' || (quality_score IS NULL) FROM "
			"eval_results) = '1/[{\"id\":\"a\",\"passed\":false}]/3000/1' THEN "
			"'1' ELSE 'x' END)",
			&e),
		0);

	json_t *cr = J("[{" CANARY_OK ", \"latency_ms\": 5}]");
	assert_int_equal(ingest_batch_parse(INGEST_CANARY, cr, false, 0, &b, &e), 0);
	int64_t id = 0;
	assert_int_equal(store_canary_run_insert(f->conn, &b.items[0].u.canary, 4000, &id, &e), 0);
	assert_true(id > 0);
	ingest_batch_clear(&b);
	json_decref(cr);
	/* the variant CHECK holds at the database too */
	assert_int_not_equal(
		store_exec_sql(f->conn,
			       "INSERT INTO canary_runs (canary, version, variant, "
			       "timestamp, received_at) VALUES ('p', 'v', 'control', 1, "
			       "1)",
			       &e),
		0);
}

/* Each query of the watcher and the gate report uses its index: no full scan of a
 * table, no temporary b-tree for sorting or DISTINCT. */
static void test_query_plans(void **state)
{
	struct tmpdb_fixture *f = *state;
	static const struct {
		enum store_gate_query q;
		const char *uses;
	} want[] = {
		{SGQ_EVAL_FAILED, "USING INDEX eval_results_failed"},
		{SGQ_METRICS_UPDATED, "USING INDEX agent_metrics_daily_updated"},
		{SGQ_METRICS_WINDOW, "USING INDEX agent_metrics_daily_date"},
		{SGQ_METRICS_AGENT_WINDOW, "USING INDEX sqlite_autoindex_agent_metrics_daily_1"},
		{SGQ_CANARY_LAST, "USING INDEX canary_runs_canary"},
		{SGQ_CANARY_NEW, "USING INTEGER PRIMARY KEY"},
	};
	assert_int_equal(sizeof want / sizeof want[0], SGQ_COUNT);
	for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
		struct buf plan = BUF_INIT;
		struct err e;
		err_clear(&e);
		assert_int_equal(store_gate_query_plan(f->conn, want[i].q, &plan, &e), 0);
		const char *p = buf_cstr(&plan);
		if (!strstr(p, want[i].uses) || strstr(p, "SCAN") || strstr(p, "TEMP B-TREE"))
			fail_msg("query %d: want %s, no SCAN, no TEMP B-TREE; plan:\n%s",
				 (int)want[i].q, want[i].uses, p);
		buf_free(&plan);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bad_items_name_their_field),
		cmocka_unit_test(test_long_names_refused),
		cmocka_unit_test(test_good_items),
		cmocka_unit_test(test_dates),
		cmocka_unit_test(test_ndjson_batch),
		cmocka_unit_test(test_batch_limit_and_duplicates),
		cmocka_unit_test(test_not_a_batch),
		cmocka_unit_test_setup_teardown(test_store_and_upsert, tmpdb_setup, tmpdb_teardown),
		cmocka_unit_test_setup_teardown(test_query_plans, tmpdb_setup, tmpdb_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
