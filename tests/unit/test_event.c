/* test_event.c — the hash-chained event log (src/core/event.h, SPEC §3).
 *
 * The chain tests run against a real SQLite store in a temporary directory. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "tmpdb.h"

#include "core/event.h"
#include "store/store.h"
#include "util/json.h"
#include "util/time.h"

/* In the sanitizer build, undefined behaviour fails the test instead of only being
 * printed (unused otherwise). */
const char *__ubsan_default_options(void);
const char *__ubsan_default_options(void)
{
	return "halt_on_error=1:print_stacktrace=1";
}

#define ZEROS "0000000000000000000000000000000000000000000000000000000000000000"

/* ---- a temporary database per test ---- */

/* Tests that need storage use the shared throwaway store of tmpdb.h. */

/* ---- the hash ---- */

static void test_spec_vector(void **state)
{
	(void)state;
	struct event ev = {
		.id = 1,
		.type = "incident_created",
		.incident_id = 1,
		.actor = "local",
		.data = "{\"id\":1}",
		.created_at = "2026-01-01T00:00:00.000Z",
		.prev_hash = ZEROS,
	};
	char h[65];
	memset(h, 'x', sizeof h);
	event_compute_hash(&ev, h);
	assert_string_equal(h, "6c4f21bfc4f206b5cc21e034254bc63e437b2c2b1541c85f1101725299f89e38");
}

static void test_hash_without_incident(void **state)
{
	(void)state;
	/* incident_id 0 hashes as an empty field, not as "0" */
	struct event ev = {
		.id = 2,
		.type = "token_created",
		.incident_id = 0,
		.actor = "admin",
		.data = "{\"name\":\"alice\",\"role\":\"viewer\"}",
		.created_at = "2026-01-01T00:00:00.000Z",
		.prev_hash = ZEROS,
	};
	char h[65];
	event_compute_hash(&ev, h);
	assert_string_equal(h, "4d202dc90f9d4e7f957790217e7647215a94b6d24b1105bd58474c29c64359d5");

	/* the SPEC vector with incident_id 0 is not the vector with "0" spelled out */
	struct event v0 = {
		.id = 1,
		.type = "incident_created",
		.actor = "local",
		.data = "{\"id\":1}",
		.created_at = "2026-01-01T00:00:00.000Z",
		.prev_hash = ZEROS,
	};
	event_compute_hash(&v0, h);
	/* sha256 of the same fields with incident_id "0" */
	assert_string_not_equal(h,
				"77a1d24bd197b8e3687c6d7e0d08f24771b43aeea776c69cc28dd922c381d327");
}

static void test_hash_covers_every_field(void **state)
{
	(void)state;
	const struct event base = {
		.id = 1,
		.type = "incident_created",
		.incident_id = 1,
		.actor = "local",
		.data = "{\"id\":1}",
		.created_at = "2026-01-01T00:00:00.000Z",
		.prev_hash = ZEROS,
	};
	char h0[65];
	event_compute_hash(&base, h0);
	for (int field = 0; field < 7; field++) {
		struct event ev = base;
		switch (field) {
		case 0: ev.id = 2; break;
		case 1: ev.type = "incident_updated"; break;
		case 2: ev.incident_id = 2; break;
		case 3: ev.actor = "locals"; break;
		case 4: ev.data = "{\"id\":2}"; break;
		case 5: ev.created_at[23] = '1'; break; /* ...00.001Z */
		case 6: ev.prev_hash[63] = '1'; break;
		}
		char h[65];
		event_compute_hash(&ev, h);
		if (!strcmp(h, h0))
			fail_msg("changing field %d does not change the hash", field);
	}
	/* the newline separators matter: moving text between fields changes the hash */
	struct event a = base, b = base;
	a.actor = "ab";
	a.data = "c";
	b.actor = "a";
	b.data = "bc";
	char ha[65], hb[65];
	event_compute_hash(&a, ha);
	event_compute_hash(&b, hb);
	assert_string_not_equal(ha, hb);
	/* deterministic */
	event_compute_hash(&base, ha);
	assert_string_equal(ha, h0);
}

static void test_to_json(void **state)
{
	(void)state;
	struct event ev = {
		.id = 9,
		.type = "incident_created",
		.incident_id = 4,
		.actor = "local",
		.data = "{\"b\":[1,2],\"a\":\"x\"}",
		.created_at = "2026-01-01T00:00:00.000Z",
		.prev_hash = ZEROS,
	};
	event_compute_hash(&ev, ev.hash);
	struct err e;
	err_clear(&e);
	json_t *j = event_to_json(&ev, &e);
	assert_true(json_is_object(j));
	assert_int_equal(json_object_size(j), 8);
	assert_int_equal(json_get_int(j, "id", 0), 9);
	assert_string_equal(json_get_str(j, "type"), "incident_created");
	assert_int_equal(json_get_int(j, "incident_id", 0), 4);
	assert_string_equal(json_get_str(j, "actor"), "local");
	assert_string_equal(json_get_str(j, "created_at"), "2026-01-01T00:00:00.000Z");
	assert_string_equal(json_get_str(j, "prev_hash"), ZEROS);
	assert_string_equal(json_get_str(j, "hash"), ev.hash);
	/* data is the parsed JSON value, not a string */
	const json_t *d = json_object_get(j, "data");
	assert_true(json_is_object(d));
	assert_string_equal(json_get_str(d, "a"), "x");
	json_decref(j);

	/* no incident: JSON null */
	ev.incident_id = 0;
	ev.data = "[]";
	j = event_to_json(&ev, &e);
	assert_true(json_is_null(json_object_get(j, "incident_id")));
	assert_true(json_is_array(json_object_get(j, "data")));
	json_decref(j);

	/* damaged data is an error, never an event with null data */
	ev.data = "{\"a\":";
	assert_null(event_to_json(&ev, &e));
	assert_int_equal(e.code, ERR_IO);
	assert_non_null(strstr(e.msg, "event 9"));
}

/* ---- the chain in a store ---- */

struct collected {
	struct event ev[32];
	int n;
};

static int collect_cb(const struct event *ev, void *arg)
{
	struct collected *c = arg;
	if (c->n >= 32)
		return 1;
	struct event *o = &c->ev[c->n++];
	*o = *ev;
	o->type = xstrdup(ev->type);
	o->actor = xstrdup(ev->actor);
	o->data = xstrdup(ev->data);
	return 0;
}

static void collected_clear(struct collected *c)
{
	for (int i = 0; i < c->n; i++)
		event_clear(&c->ev[i]);
	c->n = 0;
}

static void list_all(struct store_conn *conn, struct collected *out)
{
	struct err e;
	struct event_filter f = {.limit = -1};
	out->n = 0;
	if (store_event_list(conn, &f, collect_cb, out, NULL, &e))
		fail_msg("list events: %s", e.msg);
}

static void append_ok(struct store_conn *c, const char *type, int64_t inc, json_t *data,
		      int64_t want_id)
{
	struct err e;
	err_clear(&e);
	int64_t id = -1;
	int rc = event_append(c, type, inc, "tester", data, &id, &e);
	if (rc)
		fail_msg("event_append %s: %d %s", type, rc, e.msg);
	assert_int_equal(id, want_id);
}

static void test_append_and_audit(void **state)
{
	struct tmpdb_fixture *f = *state;
	struct err e;
	int64_t before = time_now_ms();
	assert_int_equal(store_begin(f->conn, &e), 0);
	append_ok(f->conn, "incident_created", 1, json_pack("{si ss}", "id", 1, "kind", "manual"),
		  1);
	append_ok(f->conn, "incident_updated", 1,
		  json_pack("{ss s{si}}", "change_type", "acknowledged", "incident", "id", 1), 2);
	append_ok(f->conn, "token_created", 0,
		  json_pack("{ss ss sn}", "role", "viewer", "name", "alice", "expires_at"), 3);
	assert_int_equal(store_commit(f->conn, &e), 0);
	/* a second transaction continues the chain */
	assert_int_equal(store_begin(f->conn, &e), 0);
	append_ok(f->conn, "sla_breached", 1, json_pack("{sf si}", "x", 0.03, "incident_id", 1), 4);
	/* id_out may be NULL */
	assert_int_equal(event_append(f->conn, "incident_created", 2, "tester",
				      json_pack("{si}", "id", 2), NULL, &e),
			 0);
	assert_int_equal(store_commit(f->conn, &e), 0);
	int64_t after = time_now_ms();

	struct collected c;
	list_all(f->conn, &c);
	assert_int_equal(c.n, 5);
	static const char *const want_data[] = {
		"{\"id\":1,\"kind\":\"manual\"}",
		"{\"change_type\":\"acknowledged\",\"incident\":{\"id\":1}}",
		"{\"expires_at\":null,\"name\":\"alice\",\"role\":\"viewer\"}",
		"{\"incident_id\":1,\"x\":0.03}",
		"{\"id\":2}",
	};
	static const int64_t want_inc[] = {1, 1, 0, 1, 2};
	const char *prev = ZEROS;
	for (int i = 0; i < c.n; i++) {
		struct event *ev = &c.ev[i];
		assert_int_equal(ev->id, i + 1);
		assert_int_equal(ev->incident_id, want_inc[i]);
		assert_string_equal(ev->actor, "tester");
		/* data is stored as canonical JSON */
		assert_string_equal(ev->data, want_data[i]);
		/* created_at is RFC 3339 text with ms and Z, taken at append time */
		int64_t at;
		assert_int_equal(strlen(ev->created_at), TIME_RFC3339_LEN - 1);
		assert_true(time_parse_ms(ev->created_at, &at));
		assert_true(at >= before - 1 && at <= after + 1);
		/* linked and self-consistent */
		assert_string_equal(ev->prev_hash, prev);
		char h[65];
		event_compute_hash(ev, h);
		assert_string_equal(ev->hash, h);
		prev = ev->hash;
	}

	struct audit_result r;
	memset(&r, 0x5A, sizeof r);
	assert_int_equal(event_audit(f->conn, &r, &e), 0);
	assert_int_equal(r.bad_id, 0);
	assert_int_equal(r.checked, 5);
	assert_int_equal(r.first_id, 1);
	assert_int_equal(r.last_id, 5);

	/* the store reports the newest event for the next append */
	int64_t last_id, next_id;
	char last_hash[65];
	assert_int_equal(store_event_last(f->conn, &last_id, last_hash, &e), 0);
	assert_int_equal(last_id, 5);
	assert_string_equal(last_hash, c.ev[4].hash);
	assert_int_equal(store_event_next_id(f->conn, &next_id, &e), 0);
	assert_int_equal(next_id, 6);
	collected_clear(&c);
}

static void test_audit_empty(void **state)
{
	struct tmpdb_fixture *f = *state;
	struct err e;
	struct audit_result r;
	memset(&r, 0x5A, sizeof r);
	assert_int_equal(event_audit(f->conn, &r, &e), 0);
	assert_int_equal(r.checked, 0);
	assert_int_equal(r.bad_id, 0);

	int64_t id = -1;
	char hash[65];
	assert_int_equal(store_event_last(f->conn, &id, hash, &e), 0);
	assert_int_equal(id, 0);
	assert_string_equal(hash, ZEROS);
	assert_int_equal(store_event_next_id(f->conn, &id, &e), 0);
	assert_int_equal(id, 1);
}

static void exec_ok(struct store_conn *c, const char *sql)
{
	struct err e;
	err_clear(&e);
	if (store_exec_sql(c, sql, &e))
		fail_msg("%s: %s", sql, e.msg);
}

/* Insert an event after the current last one, with a chosen flaw. */
enum flaw { FLAW_NONE, FLAW_HASH, FLAW_PREV };

static int64_t insert_raw(struct store_conn *c, enum flaw flaw)
{
	struct err e;
	struct event ev = {.type = "incident_updated",
			   .incident_id = 1,
			   .actor = "mallory",
			   .data = "{\"evil\":true}"};
	int64_t last;
	assert_int_equal(store_event_last(c, &last, ev.prev_hash, &e), 0);
	assert_int_equal(store_event_next_id(c, &ev.id, &e), 0);
	time_format_ms(time_now_ms(), ev.created_at);
	if (flaw == FLAW_PREV)
		memcpy(ev.prev_hash, "deadbeef", 8);
	event_compute_hash(&ev, ev.hash);
	if (flaw == FLAW_HASH)
		ev.hash[0] = ev.hash[0] == 'a' ? 'b' : 'a';
	if (store_event_insert(c, &ev, &e))
		fail_msg("store_event_insert: %s", e.msg);
	return ev.id;
}

static void test_tamper_hash(void **state)
{
	struct tmpdb_fixture *f = *state;
	struct err e;
	assert_int_equal(store_begin(f->conn, &e), 0);
	append_ok(f->conn, "incident_created", 1, json_pack("{si}", "id", 1), 1);
	append_ok(f->conn, "incident_updated", 1, json_pack("{si}", "id", 1), 2);
	int64_t bad = insert_raw(f->conn, FLAW_HASH);
	assert_int_equal(bad, 3);
	/* later events chain onto the bad one; the audit names the first failure */
	append_ok(f->conn, "incident_updated", 1, json_pack("{si}", "id", 1), 4);
	assert_int_equal(store_commit(f->conn, &e), 0);

	struct audit_result r;
	assert_int_equal(event_audit(f->conn, &r, &e), 0);
	assert_int_equal(r.bad_id, 3);
	assert_int_equal(r.checked, 2);
	assert_int_equal(r.first_id, 1);
	assert_int_equal(r.last_id, 2);
	assert_non_null(strstr(r.problem, "hash"));
}

static void test_tamper_prev_hash(void **state)
{
	struct tmpdb_fixture *f = *state;
	struct err e;
	assert_int_equal(store_begin(f->conn, &e), 0);
	append_ok(f->conn, "incident_created", 1, json_pack("{si}", "id", 1), 1);
	/* self-consistent hash, but it does not link to event 1 */
	int64_t bad = insert_raw(f->conn, FLAW_PREV);
	assert_int_equal(bad, 2);
	assert_int_equal(store_commit(f->conn, &e), 0);

	struct audit_result r;
	assert_int_equal(event_audit(f->conn, &r, &e), 0);
	assert_int_equal(r.bad_id, 2);
	assert_int_equal(r.checked, 1);
	assert_non_null(strstr(r.problem, "prev_hash"));
}

static void test_tamper_first_event(void **state)
{
	struct tmpdb_fixture *f = *state;
	struct err e;
	/* the first event must link to 64 zeros */
	assert_int_equal(store_begin(f->conn, &e), 0);
	assert_int_equal(insert_raw(f->conn, FLAW_PREV), 1);
	append_ok(f->conn, "incident_created", 1, json_pack("{si}", "id", 1), 2);
	assert_int_equal(store_commit(f->conn, &e), 0);
	struct audit_result r;
	assert_int_equal(event_audit(f->conn, &r, &e), 0);
	assert_int_equal(r.bad_id, 1);
	assert_int_equal(r.checked, 0);
}

static void test_raw_insert_valid(void **state)
{
	struct tmpdb_fixture *f = *state;
	struct err e;
	/* a correctly built raw insert is indistinguishable from an append */
	assert_int_equal(store_begin(f->conn, &e), 0);
	append_ok(f->conn, "incident_created", 1, json_pack("{si}", "id", 1), 1);
	assert_int_equal(insert_raw(f->conn, FLAW_NONE), 2);
	append_ok(f->conn, "incident_updated", 1, json_pack("{si}", "id", 1), 3);
	assert_int_equal(store_commit(f->conn, &e), 0);
	struct audit_result r;
	assert_int_equal(event_audit(f->conn, &r, &e), 0);
	assert_int_equal(r.bad_id, 0);
	assert_int_equal(r.checked, 3);
}

static void test_anchor_start(void **state)
{
	struct tmpdb_fixture *f = *state;
	struct err e;
	/* A log whose first retained event is an audit_anchor that kept everything from
	 * itself on: it links to whatever the pruned predecessor's hash was, and records
	 * that very link; the audit starts from it. */
	char prev[65];
	memset(prev, 'a', 64);
	prev[64] = '\0';
	char data[128];
	snprintf(data, sizeof data, "{\"first_kept_id\":1,\"prev_hash\":\"%s\"}", prev);
	struct event anchor = {.id = 1, .type = "audit_anchor", .actor = "intervene", .data = data};
	memcpy(anchor.prev_hash, prev, 65);
	time_format_ms(time_now_ms(), anchor.created_at);
	event_compute_hash(&anchor, anchor.hash);
	assert_int_equal(store_begin(f->conn, &e), 0);
	assert_int_equal(store_event_insert(f->conn, &anchor, &e), 0);
	append_ok(f->conn, "incident_created", 1, json_pack("{si}", "id", 1), 2);
	assert_int_equal(store_commit(f->conn, &e), 0);
	struct audit_result r;
	assert_int_equal(event_audit(f->conn, &r, &e), 0);
	if (r.bad_id)
		fail_msg("event %lld: %s", (long long)r.bad_id, r.problem);
	assert_int_equal(r.checked, 2);
	assert_int_equal(r.first_id, 1);
	assert_int_equal(r.last_id, 2);
	assert_int_equal(r.anchor_id, 1);

	/* an anchor whose record disagrees with the start of the log fails */
	exec_ok(f->conn, "UPDATE events SET prev_hash = 'b' || substr(prev_hash, 2) WHERE id = 1");
	assert_int_equal(event_audit(f->conn, &r, &e), 0);
	assert_int_equal(r.bad_id, 1);
	assert_non_null(strstr(r.problem, "audit_anchor"));
}

/* Five events appended through the API: the chain the tamper tests cut up. */
static void five_events(struct store_conn *c)
{
	struct err e;
	assert_int_equal(store_begin(c, &e), 0);
	for (int i = 1; i <= 5; i++)
		append_ok(c, "incident_updated", 1, json_pack("{si}", "n", i), i);
	assert_int_equal(store_commit(c, &e), 0);
}

static void expect_bad(struct store_conn *c, int64_t bad_id, const char *words)
{
	struct err e;
	struct audit_result r;
	assert_int_equal(event_audit(c, &r, &e), 0);
	if (r.bad_id != bad_id)
		fail_msg("expected event %lld to fail, got %lld (%s)", (long long)bad_id,
			 (long long)r.bad_id, r.problem);
	if (!strstr(r.problem, words))
		fail_msg("\"%s\" does not say \"%s\"", r.problem, words);
}

static void test_head_and_count(void **state)
{
	struct tmpdb_fixture *f = *state;
	struct err e;
	five_events(f->conn);
	struct store_event_head h;
	assert_int_equal(store_event_head(f->conn, &h, &e), 0);
	assert_int_equal(h.last_id, 5);
	assert_int_equal(h.retained, 5);
	struct collected c;
	list_all(f->conn, &c);
	assert_string_equal(h.hash, c.ev[4].hash);
	collected_clear(&c);
	/* a rolled-back append leaves the head alone */
	assert_int_equal(store_begin(f->conn, &e), 0);
	append_ok(f->conn, "incident_updated", 1, json_pack("{si}", "n", 6), 6);
	assert_int_equal(store_rollback(f->conn), 0);
	struct store_event_head h2;
	assert_int_equal(store_event_head(f->conn, &h2, &e), 0);
	assert_int_equal(h2.last_id, h.last_id);
	assert_string_equal(h2.hash, h.hash);
	assert_int_equal(h2.retained, h.retained);
}

static void test_tail_deleted(void **state)
{
	struct tmpdb_fixture *f = *state;
	five_events(f->conn);
	exec_ok(f->conn, "DELETE FROM events WHERE id > 3");
	expect_bad(f->conn, 4, "events 4..5 are missing from the end of the log");
	exec_ok(f->conn, "DELETE FROM events");
	expect_bad(f->conn, 5, "the log is empty, but the stored head is event 5");
}

static void test_tail_added_behind_the_head(void **state)
{
	struct tmpdb_fixture *f = *state;
	five_events(f->conn);
	/* a correctly chained event written with raw SQL, not through the store */
	struct collected c;
	list_all(f->conn, &c);
	struct event ev = {.id = 6,
			   .type = "incident_updated",
			   .incident_id = 1,
			   .actor = "mallory",
			   .data = "{}",
			   .created_at = "2026-01-01T00:00:00.000Z"};
	memcpy(ev.prev_hash, c.ev[4].hash, 65);
	event_compute_hash(&ev, ev.hash);
	collected_clear(&c);
	char sql[512];
	snprintf(sql, sizeof sql,
		 "INSERT INTO events (id, type, incident_id, actor, data, created_at, prev_hash, "
		 "hash) VALUES (6, 'incident_updated', 1, 'mallory', '{}', '%s', '%s', '%s')",
		 ev.created_at, ev.prev_hash, ev.hash);
	exec_ok(f->conn, sql);
	expect_bad(f->conn, 6, "follow the stored head");
}

static void test_middle_deleted(void **state)
{
	struct tmpdb_fixture *f = *state;
	five_events(f->conn);
	exec_ok(f->conn, "DELETE FROM events WHERE id = 3");
	expect_bad(f->conn, 4, "events 3..3 are missing");
}

/* The count alone: every link and the head's id and hash agree. */
static void test_count_mismatch(void **state)
{
	struct tmpdb_fixture *f = *state;
	five_events(f->conn);
	exec_ok(f->conn, "UPDATE event_head SET retained = 7");
	expect_bad(f->conn, 1, "5 events are retained but the stored head counts 7");
	exec_ok(f->conn, "DELETE FROM events");
	exec_ok(f->conn, "UPDATE event_head SET last_id = 0, hash = '" ZEROS "', retained = 1");
	expect_bad(f->conn, 1, "the log is empty, but the stored head is event 0 (1 events");
}

/* A changed link and changed contents are told apart. */
static void test_link_versus_contents(void **state)
{
	struct tmpdb_fixture *f = *state;
	five_events(f->conn);
	exec_ok(f->conn, "UPDATE events SET data = '{\"n\":33}' WHERE id = 3");
	expect_bad(f->conn, 3, "contents changed");
	exec_ok(f->conn, "UPDATE events SET data = '{\"n\":3}' WHERE id = 3");
	expect_bad(f->conn, 0, ""); /* repaired: passes again */
	/* Change the first hex digit (whatever it was: 'f' itself turns into 'e'). */
	exec_ok(f->conn, "UPDATE events SET prev_hash = (CASE substr(prev_hash, 1, 1) WHEN 'f' "
			 "THEN 'e' ELSE 'f' END) || substr(prev_hash, 2) WHERE id = 3");
	expect_bad(f->conn, 3, "broken link: prev_hash does not match the hash of event 2");
}

static void test_append_readonly_fails(void **state)
{
	struct tmpdb_fixture *f = *state;
	struct err e;
	struct store_conn *ro = NULL;
	assert_int_equal(store_connect(f->store, true, &ro, &e), 0);
	err_clear(&e);
	/* data is stolen even when the append fails (ASan would report a leak) */
	int rc = event_append(ro, "incident_created", 1, "tester", json_pack("{si}", "id", 1), NULL,
			      &e);
	assert_true(rc < 0);
	assert_int_equal(e.code, rc);
	assert_true(e.msg[0] != '\0');
	store_disconnect(ro);

	/* nothing was written */
	struct audit_result r;
	assert_int_equal(event_audit(f->conn, &r, &e), 0);
	assert_int_equal(r.checked, 0);
}

static void test_rollback_leaves_no_event(void **state)
{
	struct tmpdb_fixture *f = *state;
	struct err e;
	assert_int_equal(store_begin(f->conn, &e), 0);
	append_ok(f->conn, "incident_created", 1, json_pack("{si}", "id", 1), 1);
	assert_int_equal(store_commit(f->conn, &e), 0);
	assert_int_equal(store_begin(f->conn, &e), 0);
	append_ok(f->conn, "incident_created", 2, json_pack("{si}", "id", 2), 2);
	store_rollback(f->conn);
	assert_int_equal(store_begin(f->conn, &e), 0);
	append_ok(f->conn, "incident_created", 3, json_pack("{si}", "id", 3), 2);
	assert_int_equal(store_commit(f->conn, &e), 0);
	struct audit_result r;
	assert_int_equal(event_audit(f->conn, &r, &e), 0);
	assert_int_equal(r.bad_id, 0);
	assert_int_equal(r.checked, 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_spec_vector),
		cmocka_unit_test(test_hash_without_incident),
		cmocka_unit_test(test_hash_covers_every_field),
		cmocka_unit_test(test_to_json),
		cmocka_unit_test_setup_teardown(test_append_and_audit, tmpdb_setup, tmpdb_teardown),
		cmocka_unit_test_setup_teardown(test_audit_empty, tmpdb_setup, tmpdb_teardown),
		cmocka_unit_test_setup_teardown(test_tamper_hash, tmpdb_setup, tmpdb_teardown),
		cmocka_unit_test_setup_teardown(test_tamper_prev_hash, tmpdb_setup, tmpdb_teardown),
		cmocka_unit_test_setup_teardown(test_tamper_first_event, tmpdb_setup,
						tmpdb_teardown),
		cmocka_unit_test_setup_teardown(test_raw_insert_valid, tmpdb_setup, tmpdb_teardown),
		cmocka_unit_test_setup_teardown(test_anchor_start, tmpdb_setup, tmpdb_teardown),
		cmocka_unit_test_setup_teardown(test_head_and_count, tmpdb_setup, tmpdb_teardown),
		cmocka_unit_test_setup_teardown(test_tail_deleted, tmpdb_setup, tmpdb_teardown),
		cmocka_unit_test_setup_teardown(test_tail_added_behind_the_head, tmpdb_setup,
						tmpdb_teardown),
		cmocka_unit_test_setup_teardown(test_middle_deleted, tmpdb_setup, tmpdb_teardown),
		cmocka_unit_test_setup_teardown(test_count_mismatch, tmpdb_setup, tmpdb_teardown),
		cmocka_unit_test_setup_teardown(test_link_versus_contents, tmpdb_setup,
						tmpdb_teardown),
		cmocka_unit_test_setup_teardown(test_append_readonly_fails, tmpdb_setup,
						tmpdb_teardown),
		cmocka_unit_test_setup_teardown(test_rollback_leaves_no_event, tmpdb_setup,
						tmpdb_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
