/* test_outbox.c — the outbox and settings rows of the store (src/store/store.h):
 * which row a target may deliver next (id order per incident and target, a row not
 * done holding the ones behind it), due times, updates, the attempts ledger, lists,
 * statistics, an incident's delivery state, and settings. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tmpdb.h"

#include "store/store.h"
#include "util/buf.h"

const char *__ubsan_default_options(void);
const char *__ubsan_default_options(void)
{
	return "halt_on_error=1:print_stacktrace=1";
}

#define T0 1800000000000LL

static int64_t incident(struct store_conn *c, const char *key)
{
	struct incident inc = {.kind = "manual",
			       .key = (char *)key,
			       .severity = 3,
			       .status = ST_OPEN,
			       .summary = "s",
			       .occurrences = 1,
			       .last_seen_at = T0,
			       .created_at = T0,
			       .updated_at = T0};
	struct err e;
	err_clear(&e);
	assert_int_equal(store_incident_insert(c, &inc, &e), 0);
	return inc.id;
}

static int64_t queue(struct store_conn *c, int64_t incident_id, const char *target,
		     enum outbox_op op, int64_t due)
{
	char key[64];
	snprintf(key, sizeof key, "k-%lld-%s-%d", (long long)incident_id, target, (int)op);
	struct outbox_row r = {.incident_id = incident_id,
			       .target = (char *)target,
			       .op = op,
			       .payload = "{}",
			       .idempotency_key = key,
			       .next_attempt_at = due,
			       .created_at = T0};
	struct err e;
	err_clear(&e);
	assert_int_equal(store_outbox_insert(c, &r, &e), 0);
	assert_true(r.id > 0);
	assert_int_equal(r.status, OB_PENDING);
	return r.id;
}

/* The id of the next row of target at now (0 when none) and the next due time. */
static int64_t next(struct store_conn *c, const char *target, int64_t now, int64_t *due)
{
	struct outbox_row r;
	struct err e;
	err_clear(&e);
	int rc = store_outbox_next(c, target, now, &r, due, &e);
	if (rc == ERR_NOTFOUND)
		return 0;
	assert_int_equal(rc, 0);
	int64_t id = r.id;
	outbox_row_clear(&r);
	return id;
}

static void set_status(struct store_conn *c, int64_t id, enum outbox_status st, int64_t due)
{
	struct outbox_row r;
	struct err e;
	err_clear(&e);
	assert_int_equal(store_outbox_get(c, id, &r, &e), 0);
	r.status = st;
	r.next_attempt_at = due;
	r.attempts++;
	r.updated_at = T0 + 1;
	free(r.last_error);
	r.last_error = st == OB_DEAD ? strdup("422 Validation Failed") : NULL;
	assert_int_equal(store_outbox_update(c, &r, &e), 0);
	outbox_row_clear(&r);
}

static void test_order_per_incident_and_target(void **state)
{
	struct tmpdb_fixture *f = *state;
	struct store_conn *c = f->conn;
	int64_t a = incident(c, "a"), b = incident(c, "b");
	int64_t a_create = queue(c, a, "tracker:github", OB_CREATE_ISSUE, T0);
	int64_t a_comment = queue(c, a, "tracker:github", OB_COMMENT, T0);
	int64_t a_hook = queue(c, a, "webhook:pager", OB_NOTIFY, T0);
	int64_t b_create = queue(c, b, "tracker:github", OB_CREATE_ISSUE, T0 + 5000);
	int64_t due = -1;

	/* the first row of the target goes first; the webhook row is another target */
	assert_int_equal(next(c, "tracker:github", T0, &due), a_create);
	assert_int_equal(due, T0);
	assert_int_equal(next(c, "webhook:pager", T0, &due), a_hook);
	assert_int_equal(next(c, "tracker:jira", T0, &due), 0);
	assert_int_equal(due, 0);

	/* while a's create is uncertain, its comment waits; b is not due before T0+5000 */
	set_status(c, a_create, OB_UNCERTAIN, T0 + 2000);
	assert_int_equal(next(c, "tracker:github", T0, &due), 0);
	assert_int_equal(due, T0 + 2000);
	assert_int_equal(next(c, "tracker:github", T0 + 2000, &due), a_create);
	assert_int_equal(next(c, "tracker:github", T0 + 5000, &due), a_create);

	/* a dead create holds its incident's comment, not the other incident */
	set_status(c, a_create, OB_DEAD, T0);
	assert_int_equal(next(c, "tracker:github", T0 + 5000, &due), b_create);
	assert_int_equal(due, T0 + 5000); /* a_comment is held: not a due row */

	/* once the create is done, the comment is next */
	set_status(c, a_create, OB_DONE, T0);
	assert_int_equal(next(c, "tracker:github", T0, &due), a_comment);
}

static int collect(const struct outbox_row *r, void *arg)
{
	struct buf *b = arg;
	buf_printf(b, "%lld:%s ", (long long)r->id, outbox_status_name(r->status));
	return 0;
}

static int attempt_cb(const struct outbox_attempt *a, void *arg)
{
	struct buf *b = arg;
	buf_printf(b, "%lld/%ld/%s ", (long long)a->n, a->http_status, a->error ? a->error : "ok");
	return 0;
}

static void test_ledger_lists_and_stats(void **state)
{
	struct tmpdb_fixture *f = *state;
	struct store_conn *c = f->conn;
	struct err e;
	err_clear(&e);
	int64_t a = incident(c, "a"), ib = incident(c, "b");
	int64_t r1 = queue(c, a, "tracker:gitlab", OB_CREATE_ISSUE, T0);
	int64_t r2 = queue(c, ib, "tracker:gitlab", OB_CREATE_ISSUE, T0);
	int64_t r3 = queue(c, ib, "tracker:gitlab", OB_COMMENT, T0);
	set_status(c, r1, OB_DONE, T0);
	set_status(c, r2, OB_DEAD, T0);

	struct outbox_attempt at = {.outbox_id = r2,
				    .n = 1,
				    .started_at = T0,
				    .finished_at = T0 + 9,
				    .http_status = 500,
				    .error = "500 boom"};
	assert_int_equal(store_outbox_attempt_insert(c, &at, &e), 0);
	at.n = 1; /* ignored: the store numbers a row's calls */
	at.http_status = 422;
	at.error = "422 Validation Failed";
	assert_int_equal(store_outbox_attempt_insert(c, &at, &e), 0);
	struct buf b = BUF_INIT;
	assert_int_equal(store_outbox_attempts(c, r2, attempt_cb, &b, &e), 0);
	assert_string_equal(buf_cstr(&b), "1/500/500 boom 2/422/422 Validation Failed ");
	buf_free(&b);

	int64_t total = 0;
	assert_int_equal(store_outbox_list(c, 0, 0, 0, 50, collect, &b, &total, &e), 0);
	assert_int_equal(total, 3);
	char want[128];
	snprintf(want, sizeof want, "%lld:pending %lld:dead %lld:done ", (long long)r3,
		 (long long)r2, (long long)r1);
	assert_string_equal(buf_cstr(&b), want);
	buf_free(&b);
	assert_int_equal(store_outbox_list(c, 1 << OB_DEAD, 0, 0, 50, collect, &b, &total, &e), 0);
	assert_int_equal(total, 1);
	buf_free(&b);
	assert_int_equal(store_outbox_list(c, 0, ib, 0, 1, collect, &b, &total, &e), 0);
	assert_int_equal(total, 2);
	snprintf(want, sizeof want, "%lld:pending ", (long long)r3);
	assert_string_equal(buf_cstr(&b), want);
	buf_free(&b);

	struct outbox_stats st;
	assert_int_equal(store_outbox_stats(c, &st, &e), 0);
	assert_int_equal(st.open, 1);
	assert_int_equal(st.dead, 1);
	assert_int_equal(st.oldest_open_at, T0);

	struct outbox_incident oi;
	assert_int_equal(store_outbox_incident(c, ib, &oi, &e), 0);
	assert_int_equal(oi.count[OB_DEAD], 1);
	assert_int_equal(oi.count[OB_PENDING], 1);
	assert_string_equal(oi.create_target, "tracker:gitlab");
	assert_string_equal(oi.last_error, "422 Validation Failed");
	int64_t none = incident(c, "none");
	assert_int_equal(store_outbox_incident(c, none, &oi, &e), 0);
	assert_string_equal(oi.create_target, "");
	assert_int_equal(oi.count[OB_PENDING] + oi.count[OB_DEAD], 0);
}

static void test_damaged_rows_are_errors(void **state)
{
	struct tmpdb_fixture *f = *state;
	struct store_conn *c = f->conn;
	struct err e;
	err_clear(&e);
	int64_t a = incident(c, "a");
	int64_t id = queue(c, a, "tracker:jira", OB_CLOSE_ISSUE, T0);
	char sql[160];
	snprintf(sql, sizeof sql,
		 "PRAGMA ignore_check_constraints = ON; UPDATE outbox SET op = 'explode' "
		 "WHERE id = %lld; PRAGMA ignore_check_constraints = OFF",
		 (long long)id);
	assert_int_equal(store_exec_sql(c, sql, &e), 0);
	struct outbox_row r;
	assert_int_equal(store_outbox_get(c, id, &r, &e), ERR_IO);
	assert_non_null(strstr(e.msg, "outbox.op"));
	assert_non_null(strstr(e.msg, "explode"));
}

static int setting_cb(const struct setting_row *s, void *arg)
{
	buf_printf(arg, "%s=%s by %s (%s); ", s->key, s->value, s->updated_by, s->reason);
	return 0;
}

static void test_settings(void **state)
{
	struct tmpdb_fixture *f = *state;
	struct store_conn *c = f->conn;
	struct err e;
	err_clear(&e);
	struct setting_row s;
	assert_int_equal(store_setting_get(c, "tracker", &s, &e), ERR_NOTFOUND);
	struct setting_row put = {.key = "tracker",
				  .value = "{\"provider\":\"github\"}",
				  .updated_at = T0,
				  .updated_by = "alice",
				  .reason = "switch"};
	assert_int_equal(store_setting_put(c, &put, &e), 0);
	put.key = "canary.planner";
	put.value = "{\"canary_pct\":10}";
	assert_int_equal(store_setting_put(c, &put, &e), 0);
	put.key = "tracker";
	put.value = "{\"provider\":\"jira\"}";
	put.updated_by = "bob";
	assert_int_equal(store_setting_put(c, &put, &e), 0); /* replaces */
	assert_int_equal(store_setting_get(c, "tracker", &s, &e), 0);
	assert_string_equal(s.value, "{\"provider\":\"jira\"}");
	assert_string_equal(s.updated_by, "bob");
	setting_row_clear(&s);
	struct buf b = BUF_INIT;
	assert_int_equal(store_setting_list(c, setting_cb, &b, &e), 0);
	assert_string_equal(buf_cstr(&b), "canary.planner={\"canary_pct\":10} by alice (switch); "
					  "tracker={\"provider\":\"jira\"} by bob (switch); ");
	buf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_order_per_incident_and_target, tmpdb_setup,
						tmpdb_teardown),
		cmocka_unit_test_setup_teardown(test_ledger_lists_and_stats, tmpdb_setup,
						tmpdb_teardown),
		cmocka_unit_test_setup_teardown(test_damaged_rows_are_errors, tmpdb_setup,
						tmpdb_teardown),
		cmocka_unit_test_setup_teardown(test_settings, tmpdb_setup, tmpdb_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
