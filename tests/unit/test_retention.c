/* test_retention.c — one bounded round of pruning (src/core/retention.h, SPEC §3):
 * exactly the expected events go, only as a prefix, with an audit_anchor that lets
 * the audit pass after every round; idempotency records and dead sessions go too.
 *
 * Old events are written through store_event_insert with their own (old) created_at
 * and a correct hash, as event_append would have made them back then. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tmpdb.h"

#include "config/config.h"
#include "core/event.h"
#include "core/retention.h"
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

#define DAY (24LL * 3600 * 1000)

struct fx {
	struct tmpdb_fixture *db;
	struct config *cfg;
	int64_t now;
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof *f);
	if (!f)
		return -1;
	void *db = NULL;
	if (tmpdb_setup(&db)) {
		free(f);
		return -1;
	}
	f->db = db;
	f->cfg = config_defaults();
	f->cfg->storage.event_retention_ms = 30 * DAY;
	f->now = time_now_ms();
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	void *db = f->db;
	tmpdb_teardown(&db);
	config_free(f->cfg);
	free(f);
	return 0;
}

/* An event created at `at`, chained like event_append would have chained it. */
static int64_t old_event(struct store_conn *c, int64_t incident_id, int64_t at)
{
	struct err e;
	struct event ev = {
		.type = incident_id ? "incident_updated" : "silence_created",
		.incident_id = incident_id,
		.actor = "tester",
		.data = "{}",
	};
	int64_t last;
	if (store_event_last(c, &last, ev.prev_hash, &e) || store_event_next_id(c, &ev.id, &e))
		fail_msg("%s", e.msg);
	time_format_ms(at, ev.created_at);
	event_compute_hash(&ev, ev.hash);
	if (store_event_insert(c, &ev, &e))
		fail_msg("insert event: %s", e.msg);
	return ev.id;
}

/* An incident created long ago, closed at closed_at (0: still open). */
static int64_t incident(struct store_conn *c, const char *key, int64_t created, int64_t closed_at)
{
	struct err e;
	struct incident inc = {
		.kind = xstrdup("manual"),
		.key = xstrdup(key),
		.severity = 3,
		.status = closed_at ? ST_CLOSED : ST_OPEN,
		.summary = xstrdup("retention"),
		.source = xstrdup("test"),
		.occurrences = 1,
		.last_seen_at = created,
		.created_at = created,
		.updated_at = closed_at ? closed_at : created,
		.closed_at = closed_at,
	};
	if (store_incident_insert(c, &inc, &e))
		fail_msg("insert incident: %s", e.msg);
	int64_t id = inc.id;
	incident_clear(&inc);
	return id;
}

static void audit_ok(struct store_conn *c, const char *when)
{
	struct err e;
	struct audit_result r;
	if (event_audit(c, &r, &e))
		fail_msg("%s: audit: %s", when, e.msg);
	if (r.bad_id)
		fail_msg("%s: audit fails at event %lld: %s", when, (long long)r.bad_id, r.problem);
}

/* One round in its own transaction, like the server's write job. */
static struct retention_result round_ok(struct fx *f)
{
	struct err e;
	struct retention_result r = {0};
	struct store_conn *c = f->db->conn;
	if (store_begin(c, &e) || retention_run(c, f->cfg, f->now, &r, &e) || store_commit(c, &e))
		fail_msg("retention round: %s", e.msg);
	audit_ok(c, "after a round");
	return r;
}

struct ids {
	int64_t id[4096];
	int n;
};

static int ids_cb(const struct event *ev, void *arg)
{
	struct ids *l = arg;
	if (l->n < 4096)
		l->id[l->n++] = ev->id;
	return 0;
}

static void retained(struct store_conn *c, struct ids *out)
{
	struct err e;
	struct event_filter flt = {.limit = -1};
	out->n = 0;
	if (store_event_list(c, &flt, ids_cb, out, NULL, &e))
		fail_msg("list: %s", e.msg);
}

static void assert_retained(struct store_conn *c, const int64_t *want, int n)
{
	struct ids got;
	retained(c, &got);
	char g[512] = "", w[512] = "";
	for (int i = 0; i < got.n && strlen(g) < 480; i++)
		snprintf(g + strlen(g), sizeof g - strlen(g), " %lld", (long long)got.id[i]);
	for (int i = 0; i < n && strlen(w) < 480; i++)
		snprintf(w + strlen(w), sizeof w - strlen(w), " %lld", (long long)want[i]);
	if (strcmp(g, w))
		fail_msg("retained events:%s, expected:%s", g, w);
}

static void anchor_says(struct store_conn *c, int64_t anchor_id, int64_t first_kept,
			const char *prev_hash)
{
	struct err e;
	struct event a;
	assert_int_equal(store_event_latest(c, "audit_anchor", &a, &e), 0);
	assert_int_equal(a.id, anchor_id);
	assert_int_equal(a.incident_id, 0);
	assert_string_equal(a.actor, RETENTION_ACTOR);
	char want[160];
	snprintf(want, sizeof want, "{\"first_kept_id\":%lld,\"prev_hash\":\"%s\"}",
		 (long long)first_kept, prev_hash);
	assert_string_equal(a.data, want);
	event_clear(&a);
}

struct hashes {
	char h[64][65];
};

static int hash_cb(const struct event *ev, void *arg)
{
	struct hashes *hs = arg;
	if (ev->id < 64)
		memcpy(hs->h[ev->id], ev->hash, 65);
	return 0;
}

static void test_prunes_exactly_the_prefix(void **state)
{
	struct fx *f = *state;
	struct store_conn *c = f->db->conn;
	struct err e;
	int64_t old = f->now - 40 * DAY;
	int64_t closed_long_ago = incident(c, "closed-long-ago", old, old + DAY);
	int64_t closed_recently = incident(c, "closed-recently", old, f->now - DAY);
	int64_t still_open = incident(c, "still-open", old, 0);
	/* 1..4 qualify; 5 is of an incident closed a day ago and stops the prefix, so 6
	 * (qualifying) stays too; 7 is of an open incident */
	old_event(c, 0, old);			      /* 1 */
	old_event(c, closed_long_ago, old);	      /* 2 */
	old_event(c, closed_long_ago, old + DAY);     /* 3 */
	old_event(c, 0, old + 2 * DAY);		      /* 4 */
	old_event(c, closed_recently, old + 2 * DAY); /* 5 */
	old_event(c, 0, old + 3 * DAY);		      /* 6 */
	old_event(c, still_open, old + 3 * DAY);      /* 7 */
	old_event(c, 0, f->now - DAY);		      /* 8: too young */
	audit_ok(c, "before");
	struct hashes hs;
	struct event_filter flt = {.limit = -1};
	assert_int_equal(store_event_list(c, &flt, hash_cb, &hs, NULL, &e), 0);

	struct retention_result r = round_ok(f);
	assert_int_equal(r.events_pruned, 4);
	assert_int_equal(r.first_kept_id, 5);
	assert_int_equal(r.anchor_id, 9);
	assert_false(r.more);
	static const int64_t after1[] = {5, 6, 7, 8, 9};
	assert_retained(c, after1, 5);
	anchor_says(c, 9, 5, hs.h[4]);
	struct store_event_head h;
	assert_int_equal(store_event_head(c, &h, &e), 0);
	assert_int_equal(h.last_id, 9);
	assert_int_equal(h.retained, 5);

	/* rounds converge: the recent close still stops the prefix */
	r = round_ok(f);
	assert_int_equal(r.events_pruned, 0);
	assert_int_equal(r.anchor_id, 0);
	assert_retained(c, after1, 5);

	/* a month later that incident is closed long enough; the open one stops it */
	f->now += 31 * DAY;
	r = round_ok(f);
	assert_int_equal(r.events_pruned, 2);
	assert_int_equal(r.first_kept_id, 7);
	assert_int_equal(r.anchor_id, 10);
	static const int64_t after2[] = {7, 8, 9, 10};
	assert_retained(c, after2, 4);
	anchor_says(c, 10, 7, hs.h[6]);
	r = round_ok(f);
	assert_int_equal(r.events_pruned, 0);

	/* closed long ago too: everything old goes, the first anchor included; the new
	 * anchor is then the whole log and records the last pruned event's hash */
	char sql[160];
	snprintf(sql, sizeof sql,
		 "UPDATE incidents SET status = 'closed', closed_at = %lld WHERE id = %lld",
		 (long long)(f->now - 31 * DAY), (long long)still_open);
	assert_int_equal(store_exec_sql(c, sql, &e), 0);
	struct hashes hs2;
	assert_int_equal(store_event_list(c, &flt, hash_cb, &hs2, NULL, &e), 0);
	f->now += 31 * DAY;
	r = round_ok(f);
	assert_int_equal(r.events_pruned, 4);
	assert_int_equal(r.first_kept_id, 11);
	assert_int_equal(r.anchor_id, 11);
	static const int64_t after3[] = {11};
	assert_retained(c, after3, 1);
	anchor_says(c, 11, 11, hs2.h[10]);
	assert_int_equal(store_event_head(c, &h, &e), 0);
	assert_int_equal(h.retained, 1);
	/* and appending goes on from it */
	assert_int_equal(store_begin(c, &e), 0);
	assert_int_equal(event_append(c, "silence_created", 0, "tester", json_object(), NULL, &e),
			 0);
	assert_int_equal(store_commit(c, &e), 0);
	audit_ok(c, "after an append");
}

static void test_bounded_chunks_converge(void **state)
{
	struct fx *f = *state;
	struct store_conn *c = f->db->conn;
	struct err e;
	int64_t old = f->now - 60 * DAY;
	assert_int_equal(store_begin(c, &e), 0);
	for (int i = 0; i < 2500; i++)
		old_event(c, 0, old + i);
	assert_int_equal(store_commit(c, &e), 0);

	/* 1000 per round; each round's anchor is new, so it stops the next prefix only
	 * once the old events are gone */
	static const struct {
		int64_t pruned, first_kept, anchor;
		bool more;
	} want[] = {
		{1000, 1001, 2501, true},
		{1000, 2001, 2502, true},
		{500, 2501, 2503, false},
		{0, 0, 0, false},
	};
	for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
		struct retention_result r = round_ok(f);
		if (r.events_pruned != want[i].pruned || r.first_kept_id != want[i].first_kept ||
		    r.anchor_id != want[i].anchor || r.more != want[i].more)
			fail_msg("round %zu: pruned %lld, first kept %lld, anchor %lld, more %d",
				 i + 1, (long long)r.events_pruned, (long long)r.first_kept_id,
				 (long long)r.anchor_id, r.more);
		struct ids got;
		retained(c, &got);
		if (want[i].first_kept)
			assert_int_equal(got.id[0], want[i].first_kept);
	}
	static const int64_t left[] = {2501, 2502, 2503};
	assert_retained(c, left, 3);
}

static void test_rolled_back_round_leaves_everything(void **state)
{
	struct fx *f = *state;
	struct store_conn *c = f->db->conn;
	struct err e;
	for (int i = 0; i < 3; i++)
		old_event(c, 0, f->now - 40 * DAY);
	struct retention_result r;
	assert_int_equal(store_begin(c, &e), 0);
	assert_int_equal(retention_run(c, f->cfg, f->now, &r, &e), 0);
	assert_int_equal(r.events_pruned, 3);
	assert_int_equal(store_rollback(c), 0);
	static const int64_t all[] = {1, 2, 3};
	assert_retained(c, all, 3);
	struct store_event_head h;
	assert_int_equal(store_event_head(c, &h, &e), 0);
	assert_int_equal(h.retained, 3);
	assert_int_equal(h.last_id, 3);
	audit_ok(c, "after a rolled-back round");
}

static void test_idempotency_records(void **state)
{
	struct fx *f = *state;
	struct store_conn *c = f->db->conn;
	struct err e;
	assert_int_equal(store_begin(c, &e), 0);
	for (int i = 0; i < 1500; i++) {
		char key[32];
		snprintf(key, sizeof key, "old-%d", i);
		assert_int_equal(store_idem_put(c, "POST /api/incidents admin", key, 201, "{}",
						f->now - 25 * 3600 * 1000LL - i, &e),
				 0);
	}
	assert_int_equal(store_idem_put(c, "POST /api/incidents admin", "young", 201, "{}",
					f->now - 23 * 3600 * 1000LL, &e),
			 0);
	assert_int_equal(store_commit(c, &e), 0);
	struct retention_result r = round_ok(f);
	assert_int_equal(r.idempotency_deleted, 1000);
	assert_true(r.more);
	r = round_ok(f);
	assert_int_equal(r.idempotency_deleted, 500);
	assert_false(r.more);
	r = round_ok(f);
	assert_int_equal(r.idempotency_deleted, 0);
	/* the young one stays; since = 0 would find an old one that was left */
	int status;
	struct buf body = BUF_INIT;
	assert_int_equal(
		store_idem_get(c, "POST /api/incidents admin", "young", 0, &status, &body, &e), 0);
	assert_int_equal(
		store_idem_get(c, "POST /api/incidents admin", "old-0", 0, &status, &body, &e),
		ERR_NOTFOUND);
	assert_int_equal(
		store_idem_get(c, "POST /api/incidents admin", "old-1499", 0, &status, &body, &e),
		ERR_NOTFOUND);
	buf_free(&body);
}

static int count_sessions(const struct session_row *s, void *arg)
{
	(void)s;
	(*(int *)arg)++;
	return 0;
}

static int64_t token(struct store_conn *c, const char *name, unsigned char fill, int64_t created,
		     int64_t expires_at)
{
	struct err e;
	struct token_row t = {.name = (char *)name,
			      .role = "viewer",
			      .created_at = created,
			      .expires_at = expires_at};
	memset(t.hash, fill, 32);
	if (store_token_insert(c, &t, &e))
		fail_msg("token: %s", e.msg);
	return t.id;
}

static void session(struct store_conn *c, int64_t token_id, unsigned char fill, int64_t created,
		    int64_t expires_at)
{
	struct err e;
	unsigned char h[32];
	memset(h, fill, 32);
	if (store_session_insert(c, h, token_id, created, expires_at, &e))
		fail_msg("session: %s", e.msg);
}

static void test_dead_sessions(void **state)
{
	struct fx *f = *state;
	struct store_conn *c = f->db->conn;
	struct err e;
	int64_t t0 = f->now - DAY;
	int64_t live = token(c, "live", 0x01, t0, 0);
	int64_t revoked = token(c, "revoked", 0x02, t0, 0);
	int64_t expired = token(c, "expired", 0x03, t0, f->now - 1);
	struct token_row out;
	assert_int_equal(store_token_revoke(c, "revoked", t0 + 1, &out, &e), 0);
	token_row_clear(&out);
	session(c, live, 0x11, t0, f->now + DAY);    /* kept */
	session(c, live, 0x12, t0, f->now - 1);	     /* expired */
	session(c, live, 0x13, t0, f->now + DAY);    /* ended below */
	session(c, revoked, 0x14, t0, f->now + DAY); /* its token is revoked */
	session(c, expired, 0x15, t0, f->now + DAY); /* its token expired */
	unsigned char h[32];
	memset(h, 0x13, 32);
	assert_int_equal(store_session_end(c, h, t0 + 2, &e), 0);

	struct retention_result r = round_ok(f);
	assert_int_equal(r.sessions_deleted, 4);
	assert_false(r.more);
	/* really gone: a second round finds nothing to delete, the live one stays */
	r = round_ok(f);
	assert_int_equal(r.sessions_deleted, 0);
	int n = 0;
	assert_int_equal(store_session_list(c, f->now, count_sessions, &n, &e), 0);
	assert_int_equal(n, 1);
	memset(h, 0x11, 32);
	assert_int_equal(store_session_end(c, h, f->now, &e), 0);
}

/* Many dead sessions: bounded per round. */
static void test_dead_sessions_in_chunks(void **state)
{
	struct fx *f = *state;
	struct store_conn *c = f->db->conn;
	struct err e;
	int64_t t = token(c, "many", 0x01, f->now - DAY, 0);
	assert_int_equal(store_begin(c, &e), 0);
	for (int i = 0; i < 1200; i++) {
		unsigned char h[32] = {0};
		memcpy(h, &i, sizeof i);
		h[31] = 0xEE;
		assert_int_equal(store_session_insert(c, h, t, f->now - DAY, f->now - 1, &e), 0);
	}
	assert_int_equal(store_commit(c, &e), 0);
	struct retention_result r = round_ok(f);
	assert_int_equal(r.sessions_deleted, 1000);
	assert_true(r.more);
	r = round_ok(f);
	assert_int_equal(r.sessions_deleted, 200);
	assert_false(r.more);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_prunes_exactly_the_prefix, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bounded_chunks_converge, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rolled_back_round_leaves_everything, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_idempotency_records, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dead_sessions, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dead_sessions_in_chunks, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
