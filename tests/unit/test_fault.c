/* test_fault.c — fault injection under the store (src/store/fault.h): counting, the
 * Nth call, persistence, the writer-only scope, and that an injected failure takes
 * the path of the real one. Runs against the throwaway store of tmpdb.h. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tmpdb.h"

#include "store/fault.h"
#include "store/store.h"
#include "util/json.h"

/* In the sanitizer build, undefined behaviour fails the test instead of only being
 * printed (unused otherwise). */
const char *__ubsan_default_options(void);
const char *__ubsan_default_options(void)
{
	return "halt_on_error=1:print_stacktrace=1";
}

#define T0 1767225600000LL

static int insert_inc(struct store_conn *c, const char *key, struct err *e)
{
	struct incident inc = {
		.kind = xstrdup("manual"),
		.key = xstrdup(key),
		.severity = 3,
		.status = ST_OPEN,
		.summary = xstrdup("fault test"),
		.source = xstrdup("test"),
		.occurrences = 1,
		.last_seen_at = T0,
		.created_at = T0,
		.updated_at = T0,
	};
	int rc = store_incident_insert(c, &inc, e);
	incident_clear(&inc);
	return rc;
}

static bool exists(struct store_conn *c, const char *key)
{
	struct incident inc;
	struct err e;
	int rc = store_incident_find_active(c, "manual", key, &inc, &e);
	if (rc == 0) {
		incident_clear(&inc);
		return true;
	}
	if (rc != ERR_NOTFOUND)
		fail_msg("find %s: %s", key, e.msg);
	return false;
}

static struct store_fault_plan plan(enum store_fault_op op, enum store_fault_error err,
				    uint64_t nth)
{
	return (struct store_fault_plan){.op = op, .error = err, .nth = nth};
}

static void test_inert_until_armed(void **state)
{
	struct tmpdb_fixture *f = *state;
	struct err e;
	struct store_fault_counts n;
	store_fault_read(f->store, &n);
	assert_false(n.armed);
	assert_int_equal(insert_inc(f->conn, "a", &e), 0);
	store_fault_read(f->store, &n);
	for (int i = 0; i < STORE_FAULT_OPS; i++)
		assert_int_equal(n.calls[i], 0);
	assert_int_equal(n.injected, 0);
}

/* One write transaction with one insert on a connection that has prepared nothing. */
static void one_write(struct store_conn *c, const char *key)
{
	struct err e;
	assert_int_equal(store_begin(c, &e), 0);
	assert_int_equal(store_savepoint(c, &e), 0);
	assert_int_equal(insert_inc(c, key, &e), 0);
	assert_int_equal(store_release(c, &e), 0);
	assert_int_equal(store_commit(c, &e), 0);
}

static void test_counts_every_op(void **state)
{
	struct tmpdb_fixture *f = *state;
	struct store_fault_plan p = plan(STORE_FAULT_STEP, STORE_FAULT_NONE, 0);
	store_fault_arm(f->store, &p);
	one_write(f->conn, "a");
	struct store_fault_counts n;
	store_fault_read(f->store, &n);
	assert_true(n.armed);
	/* a fresh connection prepares BEGIN, SAVEPOINT, the insert, RELEASE, COMMIT */
	assert_int_equal(n.calls[STORE_FAULT_PREPARE], 5);
	assert_int_equal(n.calls[STORE_FAULT_STEP], 1);
	assert_int_equal(n.calls[STORE_FAULT_BEGIN], 1);
	assert_int_equal(n.calls[STORE_FAULT_SAVEPOINT], 1);
	assert_int_equal(n.calls[STORE_FAULT_RELEASE], 1);
	assert_int_equal(n.calls[STORE_FAULT_ROLLBACK_TO], 0);
	assert_int_equal(n.calls[STORE_FAULT_COMMIT], 1);
	assert_int_equal(n.injected, 0);

	/* statements are prepared once per connection; arming again counts from zero */
	store_fault_arm(f->store, &p);
	one_write(f->conn, "b");
	struct err e;
	struct incident inc;
	assert_int_equal(store_incident_find_active(f->conn, "manual", "b", &inc, &e), 0);
	incident_clear(&inc);
	store_fault_read(f->store, &n);
	assert_int_equal(n.calls[STORE_FAULT_PREPARE], 1); /* only the new query */
	assert_int_equal(n.calls[STORE_FAULT_STEP], 2);
	assert_int_equal(n.calls[STORE_FAULT_COMMIT], 1);

	/* disarmed: inert again, the counts stay readable */
	store_fault_disarm(f->store);
	one_write(f->conn, "c");
	store_fault_read(f->store, &n);
	assert_false(n.armed);
	assert_int_equal(n.calls[STORE_FAULT_STEP], 2);
}

/* Each op and error: the call fails at once, with the mapped code and a message that
 * names the operation and says the fault was injected; nothing of it is stored. */
static void test_each_op_fails_with_the_mapped_code(void **state)
{
	struct tmpdb_fixture *f = *state;
	static const struct {
		enum store_fault_error err;
		int code;
		const char *text;
	} errs[] = {
		{STORE_FAULT_FULL, ERR_IO, "database or disk is full"},
		{STORE_FAULT_IOERR, ERR_IO, "disk I/O error"},
		{STORE_FAULT_BUSY, ERR_BUSY, "database is locked"},
	};
	for (size_t i = 0; i < sizeof errs / sizeof errs[0]; i++) {
		for (int op = STORE_FAULT_STEP; op < STORE_FAULT_OPS; op++) {
			if (op == STORE_FAULT_ROLLBACK_TO)
				continue; /* test_rollback_to_fault */
			char key[32];
			snprintf(key, sizeof key, "k-%zu-%d", i, op);
			struct store_fault_plan p = plan((enum store_fault_op)op, errs[i].err, 1);
			store_fault_arm(f->store, &p);
			struct err e;
			err_clear(&e);
			int rc = store_begin(f->conn, &e);
			if (!rc)
				rc = store_savepoint(f->conn, &e);
			if (!rc)
				rc = insert_inc(f->conn, key, &e);
			if (!rc)
				rc = store_release(f->conn, &e);
			if (!rc)
				rc = store_commit(f->conn, &e);
			store_rollback(f->conn);
			store_fault_disarm(f->store);
			if (rc != errs[i].code)
				fail_msg("%s %s: expected %d, got %d (%s)",
					 store_fault_op_name((enum store_fault_op)op),
					 store_fault_error_name(errs[i].err), errs[i].code, rc,
					 e.msg);
			assert_int_equal(e.code, rc);
			assert_non_null(strstr(e.msg, errs[i].text));
			assert_non_null(strstr(e.msg, "(injected fault)"));
			struct store_fault_counts n;
			store_fault_read(f->store, &n);
			assert_int_equal(n.injected, 1);
			assert_false(exists(f->conn, key));
		}
	}
}

/* A failed ROLLBACK TO is reported (the caller must then give the transaction up),
 * and so is a failed RELEASE; both count as storage failures of the connection. */
static void test_rollback_to_and_release_faults(void **state)
{
	struct tmpdb_fixture *f = *state;
	struct err e;
	static const enum store_fault_error errs[] = {STORE_FAULT_FULL, STORE_FAULT_IOERR,
						      STORE_FAULT_BUSY};
	for (size_t i = 0; i < 3; i++) {
		unsigned long before = store_failures(f->conn, NULL);
		assert_int_equal(store_begin(f->conn, &e), 0);
		assert_int_equal(store_savepoint(f->conn, &e), 0);
		assert_int_equal(insert_inc(f->conn, "rb", &e), 0);
		struct store_fault_plan p = plan(STORE_FAULT_ROLLBACK_TO, errs[i], 1);
		store_fault_arm(f->store, &p);
		err_clear(&e);
		int rc = store_rollback_to(f->conn, &e);
		store_fault_disarm(f->store);
		assert_int_equal(rc, errs[i] == STORE_FAULT_BUSY ? ERR_BUSY : ERR_IO);
		assert_non_null(strstr(e.msg, "roll back to savepoint"));
		struct err last;
		assert_int_equal(store_failures(f->conn, &last), before + 1);
		assert_string_equal(last.msg, e.msg);
		assert_true(store_in_transaction(f->conn));
		assert_int_equal(store_rollback(f->conn), 0);
		assert_false(exists(f->conn, "rb"));

		assert_int_equal(store_begin(f->conn, &e), 0);
		assert_int_equal(store_savepoint(f->conn, &e), 0);
		p = plan(STORE_FAULT_RELEASE, errs[i], 1);
		store_fault_arm(f->store, &p);
		err_clear(&e);
		rc = store_release(f->conn, &e);
		store_fault_disarm(f->store);
		assert_int_equal(rc, errs[i] == STORE_FAULT_BUSY ? ERR_BUSY : ERR_IO);
		assert_non_null(strstr(e.msg, "release savepoint"));
		assert_int_equal(store_rollback_to(f->conn, &e), 0);
		assert_int_equal(store_commit(f->conn, &e), 0);
	}
}

/* A prepare that fails is retried by the next use: nothing half-prepared is cached. */
static void test_prepare_fault_then_recovery(void **state)
{
	struct tmpdb_fixture *f = *state;
	struct store_fault_plan p = plan(STORE_FAULT_PREPARE, STORE_FAULT_IOERR, 1);
	store_fault_arm(f->store, &p);
	struct err e;
	err_clear(&e);
	assert_int_equal(insert_inc(f->conn, "p", &e), ERR_IO);
	assert_non_null(strstr(e.msg, "insert incident"));
	assert_int_equal(insert_inc(f->conn, "p", &e), 0);
	store_fault_disarm(f->store);
	assert_true(exists(f->conn, "p"));
}

static void test_nth_and_persistent(void **state)
{
	struct tmpdb_fixture *f = *state;
	struct err e;
	/* warm the connection so that only steps are counted below */
	assert_int_equal(insert_inc(f->conn, "warm", &e), 0);
	struct store_fault_plan p = plan(STORE_FAULT_STEP, STORE_FAULT_FULL, 3);
	store_fault_arm(f->store, &p);
	int got[6];
	for (int i = 0; i < 6; i++) {
		char key[16];
		snprintf(key, sizeof key, "n%d", i);
		got[i] = insert_inc(f->conn, key, &e);
	}
	static const int once[6] = {0, 0, ERR_IO, 0, 0, 0};
	assert_memory_equal(got, once, sizeof once);

	p.persistent = true;
	store_fault_arm(f->store, &p);
	for (int i = 0; i < 6; i++) {
		char key[16];
		snprintf(key, sizeof key, "m%d", i);
		got[i] = insert_inc(f->conn, key, &e);
	}
	static const int from[6] = {0, 0, ERR_IO, ERR_IO, ERR_IO, ERR_IO};
	assert_memory_equal(got, from, sizeof from);
	struct store_fault_counts n;
	store_fault_read(f->store, &n);
	assert_int_equal(n.calls[STORE_FAULT_STEP], 6);
	assert_int_equal(n.injected, 4);
	store_fault_disarm(f->store);
	assert_true(exists(f->conn, "m1"));
	assert_false(exists(f->conn, "m2"));
}

static void test_writer_only(void **state)
{
	struct tmpdb_fixture *f = *state;
	struct err e;
	struct store_conn *w = NULL;
	assert_int_equal(store_connect(f->store, false, &w, &e), 0);
	assert_int_equal(store_writer_setup(w, &e), 0);
	assert_int_equal(insert_inc(w, "warm-w", &e), 0);
	assert_int_equal(insert_inc(f->conn, "warm-o", &e), 0);

	struct store_fault_plan p = plan(STORE_FAULT_STEP, STORE_FAULT_BUSY, 1);
	p.writer_only = true;
	p.persistent = true;
	store_fault_arm(f->store, &p);
	/* the other connection is neither counted nor failed */
	assert_int_equal(insert_inc(f->conn, "other", &e), 0);
	err_clear(&e);
	assert_int_equal(insert_inc(w, "writer", &e), ERR_BUSY);
	struct store_fault_counts n;
	store_fault_read(f->store, &n);
	assert_int_equal(n.calls[STORE_FAULT_STEP], 1);
	assert_int_equal(n.injected, 1);
	store_fault_disarm(f->store);
	store_disconnect(w);
	assert_true(exists(f->conn, "other"));
	assert_false(exists(f->conn, "writer"));
}

/* SQLite may roll the whole transaction back on a real disk-full or I/O error; the
 * lose_txn plan does the same, so callers can be tested against it. */
static void test_lose_transaction(void **state)
{
	struct tmpdb_fixture *f = *state;
	struct err e;
	assert_int_equal(insert_inc(f->conn, "warm", &e), 0);
	assert_int_equal(store_begin(f->conn, &e), 0);
	assert_int_equal(insert_inc(f->conn, "first", &e), 0);
	struct store_fault_plan p = plan(STORE_FAULT_STEP, STORE_FAULT_IOERR, 1);
	p.lose_txn = true;
	store_fault_arm(f->store, &p);
	assert_true(store_in_transaction(f->conn));
	assert_int_equal(insert_inc(f->conn, "second", &e), ERR_IO);
	store_fault_disarm(f->store);
	assert_false(store_in_transaction(f->conn));
	/* the transaction is gone: COMMIT has nothing to commit, and the first insert is
	 * lost with it */
	err_clear(&e);
	assert_int_equal(store_commit(f->conn, &e), ERR_IO);
	assert_false(exists(f->conn, "first"));
	assert_false(exists(f->conn, "second"));
}

/* An injected disk-full takes the path of a real one: same code, same text. */
static void test_injected_looks_like_real(void **state)
{
	struct tmpdb_fixture *f = *state;
	struct err real, fake;
	char key[256];
	/* a real SQLITE_FULL: cap the file at its current size, then grow it */
	struct err e;
	assert_int_equal(insert_inc(f->conn, "warm", &e), 0);
	assert_int_equal(store_exec_sql(f->conn, "PRAGMA max_page_count = 1", &e), 0);
	int rc_real = 0;
	err_clear(&real);
	for (int i = 0; i < 10000 && !rc_real; i++) {
		snprintf(key, sizeof key, "fill-%d-%0200d", i, i);
		rc_real = insert_inc(f->conn, key, &real);
	}
	assert_int_equal(rc_real, ERR_IO);
	assert_int_equal(store_exec_sql(f->conn, "PRAGMA max_page_count = 1073741823", &e), 0);

	struct store_fault_plan p = plan(STORE_FAULT_STEP, STORE_FAULT_FULL, 1);
	store_fault_arm(f->store, &p);
	err_clear(&fake);
	int rc_fake = insert_inc(f->conn, "fake", &fake);
	store_fault_disarm(f->store);
	assert_int_equal(rc_fake, rc_real);
	assert_int_equal(fake.code, real.code);
	char want[ERR_MSG_MAX + 32];
	snprintf(want, sizeof want, "%s (injected fault)", real.msg);
	assert_string_equal(fake.msg, want);
}

struct counter_arg {
	struct store *store;
	int n;
	int rc;
};

static void *count_thread(void *arg)
{
	struct counter_arg *a = arg;
	struct store_conn *c = NULL;
	struct err e;
	if ((a->rc = store_connect(a->store, true, &c, &e)))
		return NULL;
	int64_t v;
	for (int i = 0; i < a->n && !a->rc; i++)
		a->rc = store_token_version(c, &v, &e);
	store_disconnect(c);
	return NULL;
}

/* Counting is exact with several connections on several threads. */
static void test_counts_across_threads(void **state)
{
	struct tmpdb_fixture *f = *state;
	struct store_fault_plan p = plan(STORE_FAULT_STEP, STORE_FAULT_NONE, 0);
	store_fault_arm(f->store, &p);
	enum { THREADS = 4, PER = 2000 };
	pthread_t th[THREADS];
	struct counter_arg a[THREADS];
	for (int i = 0; i < THREADS; i++) {
		a[i] = (struct counter_arg){.store = f->store, .n = PER};
		assert_int_equal(pthread_create(&th[i], NULL, count_thread, &a[i]), 0);
	}
	for (int i = 0; i < THREADS; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(a[i].rc, 0);
	}
	struct store_fault_counts n;
	store_fault_read(f->store, &n);
	assert_int_equal(n.calls[STORE_FAULT_STEP], THREADS * PER);
	assert_int_equal(n.calls[STORE_FAULT_PREPARE], THREADS);
	store_fault_disarm(f->store);
}

static void test_names(void **state)
{
	(void)state;
	for (int op = 0; op < STORE_FAULT_OPS; op++) {
		enum store_fault_op got = STORE_FAULT_OPS;
		assert_true(
			store_fault_op_parse(store_fault_op_name((enum store_fault_op)op), &got));
		assert_int_equal(got, op);
	}
	static const char *const ops[] = {"prepare", "step",	    "begin", "savepoint",
					  "release", "rollback_to", "commit"};
	for (int op = 0; op < STORE_FAULT_OPS; op++)
		assert_string_equal(store_fault_op_name((enum store_fault_op)op), ops[op]);
	enum store_fault_op op;
	assert_false(store_fault_op_parse("Step", &op));
	assert_false(store_fault_op_parse(NULL, &op));
	static const char *const errs[] = {"none", "full", "ioerr", "busy"};
	for (int i = 0; i <= STORE_FAULT_BUSY; i++) {
		enum store_fault_error got = STORE_FAULT_NONE;
		assert_true(store_fault_error_parse(errs[i], &got));
		assert_int_equal(got, i);
		assert_string_equal(store_fault_error_name(got), errs[i]);
	}
	enum store_fault_error err;
	assert_false(store_fault_error_parse("nomem", &err));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_inert_until_armed, tmpdb_setup,
						tmpdb_teardown),
		cmocka_unit_test_setup_teardown(test_counts_every_op, tmpdb_setup, tmpdb_teardown),
		cmocka_unit_test_setup_teardown(test_each_op_fails_with_the_mapped_code,
						tmpdb_setup, tmpdb_teardown),
		cmocka_unit_test_setup_teardown(test_rollback_to_and_release_faults, tmpdb_setup,
						tmpdb_teardown),
		cmocka_unit_test_setup_teardown(test_prepare_fault_then_recovery, tmpdb_setup,
						tmpdb_teardown),
		cmocka_unit_test_setup_teardown(test_nth_and_persistent, tmpdb_setup,
						tmpdb_teardown),
		cmocka_unit_test_setup_teardown(test_writer_only, tmpdb_setup, tmpdb_teardown),
		cmocka_unit_test_setup_teardown(test_lose_transaction, tmpdb_setup, tmpdb_teardown),
		cmocka_unit_test_setup_teardown(test_injected_looks_like_real, tmpdb_setup,
						tmpdb_teardown),
		cmocka_unit_test_setup_teardown(test_counts_across_threads, tmpdb_setup,
						tmpdb_teardown),
		cmocka_unit_test(test_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
