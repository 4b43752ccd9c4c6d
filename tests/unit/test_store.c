/* test_store.c — the storage contract with the SQLite backend (src/store/store.h).
 *
 * Every test gets a fresh database in a mkdtemp directory under /tmp. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "tmpdb.h"

#include "store/store.h"
#include "util/json.h"

/* In the sanitizer build, undefined behaviour fails the test instead of only being
 * printed (unused otherwise). */
const char *__ubsan_default_options(void);
const char *__ubsan_default_options(void)
{
	return "halt_on_error=1:print_stacktrace=1";
}

#define T0 1767225600000LL /* 2026-01-01T00:00:00.000Z */

struct fixture {
	char dir[64];
	char path[128];
	struct store *store;
	struct store_conn *conn;
};

static void remove_db_files(const char *path)
{
	static const char *const suffixes[] = {"", "-wal", "-shm", "-journal"};
	for (size_t i = 0; i < sizeof suffixes / sizeof suffixes[0]; i++) {
		char p[160];
		snprintf(p, sizeof p, "%s%s", path, suffixes[i]);
		unlink(p);
	}
}

/* A throwaway store (tmpdb.h), not migrated, not connected. */
static int setup_bare(void **state)
{
	struct fixture *f = calloc(1, sizeof *f);
	if (!f)
		return -1;
	if (tmpdb_create_bare("store", f->dir, f->path, &f->store)) {
		free(f);
		return -1;
	}
	*state = f;
	return 0;
}

static int setup_db(void **state)
{
	if (setup_bare(state))
		return -1;
	struct fixture *f = *state;
	struct err e;
	int version = 0;
	if (store_migrate(f->store, &version, &e) || store_connect(f->store, false, &f->conn, &e)) {
		fprintf(stderr, "setup: %s\n", e.msg);
		return -1;
	}
	return 0;
}

static int teardown_db(void **state)
{
	struct fixture *f = *state;
	store_disconnect(f->conn);
	store_free(f->store);
	tmpdb_remove(f->dir, f->path);
	free(f);
	return 0;
}

/* An incident with the given identity and every other field at a plain value. */
static struct incident make_inc(const char *kind, const char *key, int sev, enum incident_status st,
				const char *summary, int64_t created)
{
	struct incident inc = {
		.kind = xstrdup(kind),
		.key = xstrdup(key),
		.severity = sev,
		.status = st,
		.summary = xstrdup(summary),
		.details = json_object(),
		.source = xstrdup("api"),
		.playbooks = json_array(),
		.occurrences = 1,
		.last_seen_at = created,
		.created_at = created,
		.updated_at = created,
		.notes = json_object(),
		.metadata = json_object(),
	};
	return inc;
}

static int64_t insert_ok(struct store_conn *c, const char *kind, const char *key, int sev,
			 enum incident_status st, const char *summary, int64_t created,
			 const char *assignee)
{
	struct err e;
	struct incident inc = make_inc(kind, key, sev, st, summary, created);
	inc.assigned_to = xstrdup(assignee);
	if (store_incident_insert(c, &inc, &e))
		fail_msg("insert %s/%s: %s", kind, key, e.msg);
	int64_t id = inc.id;
	assert_true(id > 0);
	incident_clear(&inc);
	return id;
}

static void assert_json_text(const json_t *v, const char *want)
{
	assert_non_null(v);
	char *s = json_canon(v);
	if (strcmp(s, want))
		fail_msg("expected %s, got %s", want, s);
	free(s);
}

static void assert_str_or_null(const char *got, const char *want)
{
	if (!want)
		assert_null(got);
	else
		assert_string_equal(got, want);
}

/* ---- opening and migrations ---- */

static void test_store_new_urls(void **state)
{
	(void)state;
	static const struct {
		const char *url;
		int rc;
	} cases[] = {
		{"sqlite:///tmp/x.db", 0},
		{"sqlite://relative.db", 0},
		{"sqlite://", ERR_INVALID},
		{"postgres://u:p@localhost:5432/db", ERR_INVALID},
		{"mysql://localhost/db", ERR_INVALID},
		{"/tmp/x.db", ERR_INVALID},
		{"", ERR_INVALID},
		{"SQLITE:///tmp/x.db", ERR_INVALID},
		{"sqlite:///tmp/x.db?cache=shared", ERR_INVALID},
		{"sqlite:///tmp/x.db#main", ERR_INVALID},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct store *s = (struct store *)&cases; /* must be reset */
		struct err e;
		err_clear(&e);
		int rc = store_new(cases[i].url, &s, &e);
		if (rc != cases[i].rc)
			fail_msg("store_new(%s): expected %d, got %d", cases[i].url, cases[i].rc,
				 rc);
		if (rc) {
			assert_null(s);
			assert_int_equal(e.code, rc);
			assert_true(e.msg[0] != '\0');
		} else {
			assert_non_null(s);
		}
		store_free(s);
	}
	store_free(NULL);
}

static void test_migrate_creates(void **state)
{
	struct fixture *f = *state;
	struct err e;
	struct stat st;
	assert_int_equal(stat(f->path, &st), -1); /* nothing yet */
	assert_true(store_check_schema(f->store, &e) < 0);

	int version = -1;
	assert_int_equal(store_migrate(f->store, &version, &e), 0);
	assert_true(version >= 1);
	assert_int_equal(stat(f->path, &st), 0);
	assert_int_equal(store_check_schema(f->store, &e), 0);

	/* the schema is usable: tables, the hash key, token_version */
	assert_int_equal(store_connect(f->store, false, &f->conn, &e), 0);
	unsigned char key[32], zero[32] = {0};
	assert_int_equal(store_meta_hash_key(f->conn, key, &e), 0);
	assert_memory_not_equal(key, zero, 32);
	int64_t tv = -1;
	assert_int_equal(store_token_version(f->conn, &tv, &e), 0);
	assert_int_equal(tv, 0);
	int64_t n = -1;
	assert_int_equal(store_incident_count_since(f->conn, "manual", "x", 0, &n, &e), 0);
	assert_int_equal(n, 0);

	/* migrating again changes nothing and keeps the data (and the key) */
	int64_t id = insert_ok(f->conn, "manual", "keep-me", 3, ST_OPEN, "s", T0, NULL);
	int v2 = -1;
	assert_int_equal(store_migrate(f->store, &v2, &e), 0);
	assert_int_equal(v2, version);
	assert_int_equal(store_migrate(f->store, &v2, &e), 0);
	assert_int_equal(v2, version);
	struct incident inc;
	assert_int_equal(store_incident_get(f->conn, id, &inc, &e), 0);
	assert_string_equal(inc.key, "keep-me");
	incident_clear(&inc);
	unsigned char key2[32];
	assert_int_equal(store_meta_hash_key(f->conn, key2, &e), 0);
	assert_memory_equal(key, key2, 32);
	assert_int_equal(store_check_schema(f->store, &e), 0);
}

static void test_migrate_key_per_database(void **state)
{
	struct fixture *f = *state;
	/* two databases get different hash keys */
	char path2[160], url2[192];
	snprintf(path2, sizeof path2, "%s/other.db", f->dir);
	snprintf(url2, sizeof url2, "sqlite://%s", path2);
	struct store *s2 = NULL;
	struct store_conn *c2 = NULL;
	struct err e;
	int v;
	assert_int_equal(store_new(url2, &s2, &e), 0);
	assert_int_equal(store_migrate(s2, &v, &e), 0);
	assert_int_equal(store_connect(s2, true, &c2, &e), 0);
	unsigned char k1[32], k2[32];
	assert_int_equal(store_meta_hash_key(f->conn, k1, &e), 0);
	assert_int_equal(store_meta_hash_key(c2, k2, &e), 0);
	assert_memory_not_equal(k1, k2, 32);
	store_disconnect(c2);
	store_free(s2);
	remove_db_files(path2);
}

static void test_migrate_refuses_newer(void **state)
{
	struct fixture *f = *state;
	struct err e;
	int version;
	assert_int_equal(store_migrate(f->store, &version, &e), 0);
	/* With every connection closed the database is one file; raise its schema version
	 * (SQLite's user_version, big-endian at byte 60 of the header) past ours. */
	FILE *fp = fopen(f->path, "r+b");
	assert_non_null(fp);
	unsigned char v[4] = {0, 0, 0, (unsigned char)(version + 1)};
	assert_int_equal(fseek(fp, 60, SEEK_SET), 0);
	assert_int_equal(fwrite(v, 1, 4, fp), 4);
	fclose(fp);

	err_clear(&e);
	int got = -1;
	assert_int_equal(store_migrate(f->store, &got, &e), ERR_BUSY);
	assert_int_equal(e.code, ERR_BUSY);
	assert_non_null(strstr(e.msg, "newer"));
	err_clear(&e);
	assert_int_equal(store_check_schema(f->store, &e), ERR_BUSY);
	assert_non_null(strstr(e.msg, "newer"));
}

static void test_check_schema_older(void **state)
{
	struct fixture *f = *state;
	/* an empty file is an SQLite database at schema version 0 */
	FILE *fp = fopen(f->path, "wb");
	assert_non_null(fp);
	fclose(fp);
	struct err e;
	err_clear(&e);
	assert_int_equal(store_check_schema(f->store, &e), ERR_BUSY);
	assert_int_equal(e.code, ERR_BUSY);
	assert_non_null(strstr(e.msg, "migrate"));
	int version = 0;
	assert_int_equal(store_migrate(f->store, &version, &e), 0);
	assert_int_equal(store_check_schema(f->store, &e), 0);
}

/* Several processes starting together on a database that does not exist yet: each
 * opens its own struct store and migrates (SPEC §3: "created with its schema on
 * first start"; sq_migrate takes the write lock "so two processes starting together
 * migrate once"). Every one of them must succeed. */
#define MIGRATORS      2
#define MIGRATE_ROUNDS 100

struct migrator {
	const char *url;
	pthread_barrier_t *barrier;
	int rc, version;
	struct err e;
};

static void *migrate_thread(void *arg)
{
	struct migrator *m = arg;
	struct store *s = NULL;
	err_clear(&m->e);
	m->rc = store_new(m->url, &s, &m->e);
	pthread_barrier_wait(m->barrier);
	if (!m->rc)
		m->rc = store_migrate(s, &m->version, &m->e);
	store_free(s);
	return NULL;
}

static void test_migrate_concurrent(void **state)
{
	struct fixture *f = *state;
	int failures = 0;
	char first_failure[ERR_MSG_MAX + 64] = "";
	for (int round = 0; round < MIGRATE_ROUNDS; round++) {
		char path[160], url[192];
		snprintf(path, sizeof path, "%s/race-%d.db", f->dir, round);
		snprintf(url, sizeof url, "sqlite://%s", path);
		pthread_barrier_t barrier;
		pthread_barrier_init(&barrier, NULL, MIGRATORS);
		struct migrator m[MIGRATORS];
		pthread_t th[MIGRATORS];
		for (int i = 0; i < MIGRATORS; i++) {
			m[i] = (struct migrator){.url = url, .barrier = &barrier, .rc = -999};
			assert_int_equal(pthread_create(&th[i], NULL, migrate_thread, &m[i]), 0);
		}
		for (int i = 0; i < MIGRATORS; i++)
			pthread_join(th[i], NULL);
		pthread_barrier_destroy(&barrier);
		for (int i = 0; i < MIGRATORS; i++) {
			if (m[i].rc) {
				if (!failures++)
					snprintf(first_failure, sizeof first_failure,
						 "rc %d, e.code %d: %.400s", m[i].rc, m[i].e.code,
						 m[i].e.msg);
			} else {
				assert_true(m[i].version >= 1);
			}
		}
		remove_db_files(path);
	}
	if (failures)
		fail_msg("%d of %d concurrent migrations of a new database failed; first: %s",
			 failures, MIGRATORS * MIGRATE_ROUNDS, first_failure);
}

static void test_migrate_bad_dir(void **state)
{
	(void)state;
	struct store *s = NULL;
	struct err e;
	assert_int_equal(store_new("sqlite:///nonexistent-dir-for-intervene/x/test.db", &s, &e), 0);
	int v;
	err_clear(&e);
	assert_int_equal(store_migrate(s, &v, &e), ERR_IO);
	assert_true(e.msg[0] != '\0');
	struct store_conn *c = NULL;
	assert_int_equal(store_connect(s, false, &c, &e), ERR_IO);
	store_free(s);
}

static void test_readonly_refuses_writes(void **state)
{
	struct fixture *f = *state;
	struct err e;
	struct store_conn *ro = NULL;
	assert_int_equal(store_connect(f->store, true, &ro, &e), 0);
	struct incident inc = make_inc("manual", "ro", 3, ST_OPEN, "s", T0);
	err_clear(&e);
	int rc = store_incident_insert(ro, &inc, &e);
	assert_true(rc < 0);
	assert_int_equal(e.code, rc);
	incident_clear(&inc);
	assert_int_equal(store_idem_put(ro, "s", "k", 200, "{}", T0, &e) < 0, 1);
	store_disconnect(ro);
	store_disconnect(NULL);
}

/* ---- incidents ---- */

static void test_incident_roundtrip(void **state)
{
	struct fixture *f = *state;
	struct err e;
	int64_t parent = insert_ok(f->conn, "manual", "parent", 2, ST_OPEN, "parent", T0, NULL);
	struct incident in = make_inc("invariant", "invariant:inv_x", 2, ST_MITIGATED,
				      "Disk full on db-1", T0 + 1);
	json_decref(in.details);
	in.details = json_pack("{ss si}", "host", "db-1", "pct", 99);
	json_decref(in.playbooks);
	in.playbooks = json_pack("[ss]", "restart", "page");
	free(in.source);
	in.source = xstrdup("watcher");
	in.assigned_to = xstrdup("alice");
	in.parent_id = parent;
	in.issue_url = xstrdup("https://github.com/o/r/issues/1");
	in.issue_ref = json_pack("{ss ss ss}", "provider", "github", "id", "1", "url",
				 "https://github.com/o/r/issues/1");
	in.occurrences = 7;
	in.last_seen_at = T0 + 9;
	in.updated_at = T0 + 8;
	in.acknowledged_at = T0 + 2;
	in.acknowledged_by = xstrdup("bob");
	in.mitigated_at = T0 + 3;
	in.mitigated_by = xstrdup("carol");
	in.reopened_at = T0 + 4;
	json_decref(in.notes);
	in.notes = json_pack("{s[{sssssi}]}", "mitigate", "by", "carol", "text", "done", "at", 5);
	json_decref(in.metadata);
	in.metadata = json_pack("{sb}", "x", 1);
	in.id = 12345; /* ignored */
	assert_int_equal(store_incident_insert(f->conn, &in, &e), 0);
	assert_true(in.id > parent);

	struct incident out;
	memset(&out, 0x55, sizeof out);
	assert_int_equal(store_incident_get(f->conn, in.id, &out, &e), 0);
	assert_int_equal(out.id, in.id);
	assert_string_equal(out.kind, "invariant");
	assert_string_equal(out.key, "invariant:inv_x");
	assert_int_equal(out.severity, 2);
	assert_int_equal(out.status, ST_MITIGATED);
	assert_string_equal(out.summary, "Disk full on db-1");
	assert_json_text(out.details, "{\"host\":\"db-1\",\"pct\":99}");
	assert_string_equal(out.source, "watcher");
	assert_json_text(out.playbooks, "[\"restart\",\"page\"]");
	assert_string_equal(out.assigned_to, "alice");
	assert_int_equal(out.parent_id, parent);
	assert_string_equal(out.issue_url, "https://github.com/o/r/issues/1");
	assert_json_text(out.issue_ref, "{\"id\":\"1\",\"provider\":\"github\",\"url\":"
					"\"https://github.com/o/r/issues/1\"}");
	assert_int_equal(out.occurrences, 7);
	assert_int_equal(out.last_seen_at, T0 + 9);
	assert_int_equal(out.created_at, T0 + 1);
	assert_int_equal(out.updated_at, T0 + 8);
	assert_int_equal(out.acknowledged_at, T0 + 2);
	assert_string_equal(out.acknowledged_by, "bob");
	assert_int_equal(out.mitigated_at, T0 + 3);
	assert_string_equal(out.mitigated_by, "carol");
	assert_int_equal(out.resolved_at, 0);
	assert_null(out.resolved_by);
	assert_int_equal(out.closed_at, 0);
	assert_null(out.closed_by);
	assert_int_equal(out.reopened_at, T0 + 4);
	assert_json_text(out.notes,
			 "{\"mitigate\":[{\"at\":5,\"by\":\"carol\",\"text\":\"done\"}]}");
	assert_json_text(out.metadata, "{\"x\":true}");
	incident_clear(&out);
	incident_clear(&in);

	/* the parent: optional fields come back NULL / 0, JSON fields as {} / [] */
	assert_int_equal(store_incident_get(f->conn, parent, &out, &e), 0);
	assert_null(out.assigned_to);
	assert_null(out.issue_url);
	assert_null(out.issue_ref);
	assert_int_equal(out.parent_id, 0);
	assert_int_equal(out.acknowledged_at, 0);
	assert_null(out.acknowledged_by);
	assert_json_text(out.details, "{}");
	assert_json_text(out.playbooks, "[]");
	assert_json_text(out.notes, "{}");
	assert_json_text(out.metadata, "{}");
	incident_clear(&out);

	/* NULL JSON fields on insert are stored as their empty values */
	struct incident bare = make_inc("manual", "bare", 3, ST_OPEN, "bare", T0);
	json_decref(bare.details);
	json_decref(bare.playbooks);
	json_decref(bare.notes);
	json_decref(bare.metadata);
	bare.details = bare.playbooks = bare.notes = bare.metadata = NULL;
	assert_int_equal(store_incident_insert(f->conn, &bare, &e), 0);
	assert_int_equal(store_incident_get(f->conn, bare.id, &out, &e), 0);
	assert_json_text(out.details, "{}");
	assert_json_text(out.playbooks, "[]");
	assert_json_text(out.notes, "{}");
	assert_json_text(out.metadata, "{}");
	incident_clear(&out);
	incident_clear(&bare);
	incident_clear(NULL);
}

static void test_incident_not_found(void **state)
{
	struct fixture *f = *state;
	struct err e;
	struct incident out;
	err_clear(&e);
	assert_int_equal(store_incident_get(f->conn, 999, &out, &e), ERR_NOTFOUND);
	assert_int_equal(e.code, ERR_NOTFOUND);
	assert_non_null(strstr(e.msg, "999"));
	err_clear(&e);
	assert_int_equal(store_incident_find_active(f->conn, "manual", "none", &out, &e),
			 ERR_NOTFOUND);
	assert_int_equal(e.code, ERR_NOTFOUND);
	/* NULL err is allowed */
	assert_int_equal(store_incident_get(f->conn, 999, &out, NULL), ERR_NOTFOUND);
}

static void test_find_active(void **state)
{
	struct fixture *f = *state;
	struct err e;
	int64_t old = insert_ok(f->conn, "manual", "k", 3, ST_CLOSED, "old", T0, NULL);
	int64_t res = insert_ok(f->conn, "manual", "k", 3, ST_RESOLVED, "resolved", T0 + 1, NULL);
	struct incident out;
	assert_int_equal(store_incident_find_active(f->conn, "manual", "k", &out, &e),
			 ERR_NOTFOUND);
	static const enum incident_status active[] = {ST_OPEN, ST_ACKNOWLEDGED, ST_MITIGATED};
	for (size_t i = 0; i < 3; i++) {
		char key[16];
		snprintf(key, sizeof key, "a%zu", i);
		int64_t id = insert_ok(f->conn, "budget", key, 2, active[i], "s", T0, NULL);
		assert_int_equal(store_incident_find_active(f->conn, "budget", key, &out, &e), 0);
		assert_int_equal(out.id, id);
		assert_int_equal(out.status, active[i]);
		incident_clear(&out);
		/* the kind is part of the identity */
		assert_int_equal(store_incident_find_active(f->conn, "manual", key, &out, &e),
				 ERR_NOTFOUND);
	}
	int64_t act = insert_ok(f->conn, "manual", "k", 1, ST_OPEN, "current", T0 + 2, NULL);
	assert_int_equal(store_incident_find_active(f->conn, "manual", "k", &out, &e), 0);
	assert_int_equal(out.id, act);
	assert_string_equal(out.summary, "current");
	incident_clear(&out);
	assert_true(old < res && res < act);
}

static void test_active_unique_index(void **state)
{
	struct fixture *f = *state;
	struct err e;
	int64_t first = insert_ok(f->conn, "manual", "dup", 3, ST_OPEN, "first", T0, NULL);

	/* a second active incident of the same (kind, key) is refused, in any active state */
	static const enum incident_status active[] = {ST_OPEN, ST_ACKNOWLEDGED, ST_MITIGATED};
	for (size_t i = 0; i < 3; i++) {
		struct incident inc = make_inc("manual", "dup", 3, active[i], "second", T0 + 1);
		err_clear(&e);
		assert_int_equal(store_incident_insert(f->conn, &inc, &e), ERR_CONFLICT);
		assert_int_equal(e.code, ERR_CONFLICT);
		incident_clear(&inc);
	}
	/* inactive rows with the key, and the key under another kind, are fine */
	insert_ok(f->conn, "manual", "dup", 3, ST_RESOLVED, "resolved twin", T0 + 2, NULL);
	insert_ok(f->conn, "manual", "dup", 3, ST_CLOSED, "closed twin", T0 + 3, NULL);
	insert_ok(f->conn, "invariant", "dup", 3, ST_OPEN, "other kind", T0 + 4, NULL);
	insert_ok(f->conn, "manual", "dup2", 3, ST_OPEN, "other key", T0 + 5, NULL);

	/* once the first is resolved, a new active one is allowed */
	struct incident inc;
	assert_int_equal(store_incident_get(f->conn, first, &inc, &e), 0);
	inc.status = ST_RESOLVED;
	inc.resolved_at = T0 + 10;
	inc.resolved_by = xstrdup("alice");
	assert_int_equal(store_incident_update(f->conn, &inc, &e), 0);
	int64_t second = insert_ok(f->conn, "manual", "dup", 2, ST_OPEN, "second", T0 + 11, NULL);
	assert_true(second > first);

	/* reopening the first while the second is active is a conflict too */
	inc.status = ST_OPEN;
	inc.reopened_at = T0 + 12;
	err_clear(&e);
	assert_int_equal(store_incident_update(f->conn, &inc, &e), ERR_CONFLICT);
	assert_int_equal(e.code, ERR_CONFLICT);
	incident_clear(&inc);

	/* the first keeps its resolved state */
	assert_int_equal(store_incident_get(f->conn, first, &inc, &e), 0);
	assert_int_equal(inc.status, ST_RESOLVED);
	assert_string_equal(inc.resolved_by, "alice");
	incident_clear(&inc);
}

static void test_incident_update(void **state)
{
	struct fixture *f = *state;
	struct err e;
	int64_t id = insert_ok(f->conn, "manual", "upd", 3, ST_OPEN, "before", T0, "alice");
	int64_t other = insert_ok(f->conn, "manual", "other", 4, ST_OPEN, "untouched", T0, NULL);
	struct incident inc;
	assert_int_equal(store_incident_get(f->conn, id, &inc, &e), 0);
	free(inc.summary);
	inc.summary = xstrdup("after");
	inc.status = ST_ACKNOWLEDGED;
	inc.severity = 1;
	inc.acknowledged_at = T0 + 100;
	inc.acknowledged_by = xstrdup("bob");
	free(inc.assigned_to);
	inc.assigned_to = NULL; /* cleared */
	inc.updated_at = T0 + 100;
	json_object_set_new(inc.metadata, "m", json_integer(1));
	inc.issue_ref = json_pack("{ss}", "provider", "jira");
	assert_int_equal(store_incident_update(f->conn, &inc, &e), 0);
	incident_clear(&inc);

	assert_int_equal(store_incident_get(f->conn, id, &inc, &e), 0);
	assert_string_equal(inc.summary, "after");
	assert_int_equal(inc.status, ST_ACKNOWLEDGED);
	assert_int_equal(inc.severity, 1);
	assert_int_equal(inc.acknowledged_at, T0 + 100);
	assert_string_equal(inc.acknowledged_by, "bob");
	assert_null(inc.assigned_to);
	assert_int_equal(inc.updated_at, T0 + 100);
	assert_int_equal(inc.created_at, T0);
	assert_json_text(inc.metadata, "{\"m\":1}");
	assert_json_text(inc.issue_ref, "{\"provider\":\"jira\"}");
	incident_clear(&inc);

	assert_int_equal(store_incident_get(f->conn, other, &inc, &e), 0);
	assert_string_equal(inc.summary, "untouched");
	assert_int_equal(inc.status, ST_OPEN);
	incident_clear(&inc);
}

static void test_incident_touch(void **state)
{
	struct fixture *f = *state;
	struct err e;
	int64_t id = insert_ok(f->conn, "manual", "t", 3, ST_OPEN, "s", T0, NULL);
	assert_int_equal(store_incident_touch(f->conn, id, 5, T0 + 500, 2, &e), 0);
	struct incident inc;
	assert_int_equal(store_incident_get(f->conn, id, &inc, &e), 0);
	assert_int_equal(inc.occurrences, 5);
	assert_int_equal(inc.last_seen_at, T0 + 500);
	assert_int_equal(inc.updated_at, T0 + 500);
	assert_int_equal(inc.severity, 2);
	assert_int_equal(inc.created_at, T0);
	assert_string_equal(inc.summary, "s");
	assert_int_equal(inc.status, ST_OPEN);
	incident_clear(&inc);
}

static void test_count_since(void **state)
{
	struct fixture *f = *state;
	struct err e;
	insert_ok(f->conn, "manual", "c", 3, ST_CLOSED, "s", T0, NULL);
	insert_ok(f->conn, "manual", "c", 3, ST_RESOLVED, "s", T0 + 1000, NULL);
	insert_ok(f->conn, "manual", "c", 3, ST_OPEN, "s", T0 + 2000, NULL);
	insert_ok(f->conn, "budget", "c", 3, ST_OPEN, "s", T0 + 2000, NULL);
	insert_ok(f->conn, "manual", "d", 3, ST_OPEN, "s", T0 + 2000, NULL);
	static const struct {
		const char *kind, *key;
		int64_t since, n;
	} cases[] = {
		{"manual", "c", 0, 3},	       {"manual", "c", T0, 3}, /* at or after */
		{"manual", "c", T0 + 1, 2},    {"manual", "c", T0 + 1000, 2},
		{"manual", "c", T0 + 2000, 1}, {"manual", "c", T0 + 2001, 0},
		{"budget", "c", 0, 1},	       {"manual", "d", 0, 1},
		{"planner", "c", 0, 0},	       {"manual", "C", 0, 0},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		int64_t n = -1;
		assert_int_equal(store_incident_count_since(f->conn, cases[i].kind, cases[i].key,
							    cases[i].since, &n, &e),
				 0);
		if (n != cases[i].n)
			fail_msg("count %s/%s since %lld: expected %lld, got %lld", cases[i].kind,
				 cases[i].key, (long long)(cases[i].since - T0),
				 (long long)cases[i].n, (long long)n);
	}
}

/* ---- listing ---- */

#define NLIST 30
static const char *const list_kinds[] = {"invariant", "budget", "planner", "manual"};

struct model {
	int64_t id;
	const char *kind;
	char key[32];
	int sev;
	enum incident_status st;
	const char *assignee;
	int64_t created;
	char summary[64];
};

static struct model rows[NLIST];

static void fill_list(struct store_conn *c)
{
	for (int i = 0; i < NLIST; i++) {
		struct model *m = &rows[i];
		m->kind = list_kinds[i % 4];
		snprintf(m->key, sizeof m->key, i % 10 == 7 ? "%s:disk-%d" : "%s:k%d", m->kind, i);
		m->sev = 1 + (i * 7) % 4;
		m->st = (enum incident_status)(i % 5);
		m->assignee = i % 3 == 0 ? "alice" : i % 3 == 1 ? "bob" : NULL;
		/* pairs share a created_at, so the id tie-break matters */
		m->created = T0 + ((i * 7) % 30 / 2) * 1000;
		snprintf(m->summary, sizeof m->summary, i % 6 == 0 ? "Disk FULL %d" : "Summary %d",
			 i);
		m->id = insert_ok(c, m->kind, m->key, m->sev, m->st, m->summary, m->created,
				  m->assignee);
	}
}

static bool in_list(const char *const *list, const char *s)
{
	if (!list)
		return true;
	for (; *list; list++)
		if (s && !strcmp(*list, s))
			return true;
	return false;
}

static bool ci_contains(const char *hay, const char *needle)
{
	size_t n = strlen(needle);
	for (; *hay; hay++) {
		size_t k = 0;
		while (k < n && hay[k] && (hay[k] | 0x20) == (needle[k] | 0x20))
			k++;
		if (k == n)
			return true;
	}
	return n == 0;
}

static bool model_match(const struct model *m, const struct incident_filter *f)
{
	if (f->statuses && !(f->statuses & (1 << m->st)))
		return false;
	if (f->severities && !(f->severities & (1 << m->sev)))
		return false;
	if (!in_list(f->kinds, m->kind) || !in_list(f->assignees, m->assignee))
		return false;
	if (f->q && *f->q && !ci_contains(m->summary, f->q) && !ci_contains(m->key, f->q))
		return false;
	if (f->since && m->created < f->since)
		return false;
	return true;
}

static const struct incident_filter *sort_filter;

static int model_cmp(const void *a, const void *b)
{
	const struct model *x = *(const struct model *const *)a,
			   *y = *(const struct model *const *)b;
	if (sort_filter->sort_severity) {
		if (x->sev != y->sev)
			return x->sev < y->sev ? -1 : 1;
	} else if (x->created != y->created) {
		return x->created > y->created ? -1 : 1;
	}
	return x->id > y->id ? -1 : x->id < y->id ? 1 : 0;
}

struct page {
	int64_t ids[NLIST + 1];
	int n;
	int stop_after; /* 0: never */
};

static int page_cb(const struct incident *inc, void *arg)
{
	struct page *p = arg;
	assert_true(p->n < NLIST);
	/* the lean columns are filled */
	const struct model *m = NULL;
	for (int i = 0; i < NLIST; i++)
		if (rows[i].id == inc->id)
			m = &rows[i];
	assert_non_null(m);
	assert_string_equal(inc->kind, m->kind);
	assert_string_equal(inc->key, m->key);
	assert_string_equal(inc->summary, m->summary);
	assert_int_equal(inc->severity, m->sev);
	assert_int_equal(inc->status, m->st);
	assert_int_equal(inc->created_at, m->created);
	assert_int_equal(inc->occurrences, 1);
	assert_str_or_null(inc->assigned_to, m->assignee);
	p->ids[p->n++] = inc->id;
	return p->stop_after && p->n >= p->stop_after;
}

static void check_list(struct store_conn *c, struct incident_filter f, const char *what)
{
	const struct model *want[NLIST];
	int nwant = 0;
	for (int i = 0; i < NLIST; i++)
		if (model_match(&rows[i], &f))
			want[nwant++] = &rows[i];
	sort_filter = &f;
	qsort(want, (size_t)nwant, sizeof want[0], model_cmp);

	/* whole list on one page */
	struct err e;
	struct page p = {0};
	int64_t total = -1;
	f.page = 1;
	f.per_page = 100;
	if (store_incident_list(c, &f, page_cb, &p, &total, &e))
		fail_msg("%s: %s", what, e.msg);
	if (total != nwant || p.n != nwant)
		fail_msg("%s: expected %d rows, got %d (total %lld)", what, nwant, p.n,
			 (long long)total);
	/* sort_severity: severity ascending, newest id first within a severity */
	for (int i = 0; i < nwant; i++) {
		if (p.ids[i] != want[i]->id)
			fail_msg("%s: row %d is id %lld, expected %lld", what, i,
				 (long long)p.ids[i], (long long)want[i]->id);
	}

	/* the same rows, page by page, with the exact total on every page */
	int seen = 0;
	for (int64_t pg = 1; pg <= 6; pg++) {
		struct page pp = {0};
		int64_t t = -1;
		f.page = pg;
		f.per_page = 7;
		assert_int_equal(store_incident_list(c, &f, page_cb, &pp, &t, &e), 0);
		assert_int_equal(t, nwant);
		int expect = nwant - seen < 7 ? nwant - seen : 7;
		if (expect < 0)
			expect = 0;
		if (pp.n != expect)
			fail_msg("%s: page %lld has %d rows, expected %d", what, (long long)pg,
				 pp.n, expect);
		for (int i = 0; i < pp.n; i++)
			assert_int_equal(pp.ids[i], want[seen + i]->id);
		seen += pp.n;
	}
	assert_int_equal(seen, nwant);

	/* total is optional */
	struct page q = {0};
	f.page = 1;
	f.per_page = 100;
	assert_int_equal(store_incident_list(c, &f, page_cb, &q, NULL, &e), 0);
	assert_int_equal(q.n, nwant);
}

static void test_incident_list(void **state)
{
	struct fixture *f = *state;
	fill_list(f->conn);
	static const char *const budget_manual[] = {"budget", "manual", NULL};
	static const char *const only_invariant[] = {"invariant", NULL};
	static const char *const alice[] = {"alice", NULL};
	static const char *const alice_bob[] = {"alice", "bob", NULL};
	static const char *const nobody[] = {"nobody", NULL};
	const int active = 1 << ST_OPEN | 1 << ST_ACKNOWLEDGED | 1 << ST_MITIGATED;
	struct {
		const char *what;
		struct incident_filter f;
	} cases[] = {
		{"no filter", {0}},
		{"open+acknowledged", {.statuses = 1 << ST_OPEN | 1 << ST_ACKNOWLEDGED}},
		{"closed", {.statuses = 1 << ST_CLOSED}},
		{"sev1+sev4", {.severities = 1 << 1 | 1 << 4}},
		{"sev2", {.severities = 1 << 2}},
		{"kinds budget,manual", {.kinds = budget_manual}},
		{"assignee alice", {.assignees = alice}},
		{"assignees alice,bob", {.assignees = alice_bob}},
		{"assignee nobody", {.assignees = nobody}},
		{"q disk", {.q = "disk"}},
		{"q DISK", {.q = "DISK"}},
		{"q in key only", {.q = "disk-"}},
		{"q matches nothing", {.q = "zzz"}},
		{"q empty", {.q = ""}},
		{"since", {.since = T0 + 10000}},
		{"combined",
		 {.statuses = active, .severities = 1 << 2 | 1 << 3, .kinds = only_invariant}},
		{"sort severity", {.sort_severity = true}},
		{"sort severity active", {.sort_severity = true, .statuses = active}},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		check_list(f->conn, cases[i].f, cases[i].what);
}

static void test_incident_list_stop_and_beyond(void **state)
{
	struct fixture *f = *state;
	fill_list(f->conn);
	struct err e;
	/* a callback returning non-zero stops the listing */
	struct page p = {.stop_after = 3};
	int64_t total = -1;
	struct incident_filter fl = {.page = 1, .per_page = 100};
	assert_int_equal(store_incident_list(f->conn, &fl, page_cb, &p, &total, &e), 0);
	assert_int_equal(p.n, 3);
	assert_int_equal(total, NLIST);
	/* a page past the end: no rows, same total */
	struct page q = {0};
	fl.page = 50;
	fl.per_page = 10;
	assert_int_equal(store_incident_list(f->conn, &fl, page_cb, &q, &total, &e), 0);
	assert_int_equal(q.n, 0);
	assert_int_equal(total, NLIST);
}

static int ignore_cb(const struct incident *inc, void *arg)
{
	(void)inc;
	(void)arg;
	return 0;
}

/* store.h: assignees is a NULL-terminated list, no length limit is stated. */
static void test_incident_list_many_assignees(void **state)
{
	struct fixture *f = *state;
	struct err e;
	static const char *const names[] = {"u00", "u01", "u02", "u03", "u04", "u05", "u06",
					    "u07", "u08", "u09", "u10", "u11", "u12", "u13",
					    "u14", "u15", "u16", "u17", NULL};
	for (int i = 0; names[i]; i++) {
		char key[16];
		snprintf(key, sizeof key, "k%d", i);
		insert_ok(f->conn, "manual", key, 3, ST_OPEN, "s", T0 + i, names[i]);
	}
	struct incident_filter fl = {.assignees = names, .page = 1, .per_page = 100};
	int64_t total = -1;
	assert_int_equal(store_incident_list(f->conn, &fl, ignore_cb, NULL, &total, &e), 0);
	if (total != 18)
		fail_msg("filtering by 18 assignees matched %lld of the 18 incidents",
			 (long long)total);
}

struct keys {
	char kk[16][64];
	int n;
};

static int key_cb(const char *kind, const char *key, void *arg)
{
	struct keys *k = arg;
	assert_true(k->n < 16);
	snprintf(k->kk[k->n++], 64, "%s/%s", kind, key);
	return 0;
}

static void test_recent_keys(void **state)
{
	struct fixture *f = *state;
	struct err e;
	insert_ok(f->conn, "manual", "a", 3, ST_CLOSED, "s", T0 + 1000, NULL);
	insert_ok(f->conn, "manual", "a", 3, ST_OPEN, "s", T0 + 5000, NULL);
	insert_ok(f->conn, "manual", "b", 3, ST_OPEN, "s", T0 + 3000, NULL);
	insert_ok(f->conn, "budget", "a", 3, ST_OPEN, "s", T0 + 4000, NULL);
	insert_ok(f->conn, "manual", "old", 3, ST_OPEN, "s", T0 - 1000, NULL);
	struct keys k = {0};
	assert_int_equal(store_incident_recent_keys(f->conn, T0, 10, key_cb, &k, &e), 0);
	assert_int_equal(k.n, 3);
	assert_string_equal(k.kk[0], "manual/a"); /* distinct, newest first */
	assert_string_equal(k.kk[1], "budget/a");
	assert_string_equal(k.kk[2], "manual/b");
	memset(&k, 0, sizeof k);
	assert_int_equal(store_incident_recent_keys(f->conn, T0, 2, key_cb, &k, &e), 0);
	assert_int_equal(k.n, 2);
	memset(&k, 0, sizeof k);
	assert_int_equal(store_incident_recent_keys(f->conn, T0 + 4500, 10, key_cb, &k, &e), 0);
	assert_int_equal(k.n, 1);
	assert_string_equal(k.kk[0], "manual/a");
}

/* ---- comments ---- */

struct comments {
	struct comment c[16];
	int n;
};

static int comment_cb(const struct comment *c, void *arg)
{
	struct comments *l = arg;
	assert_true(l->n < 16);
	struct comment *o = &l->c[l->n++];
	*o = *c;
	o->author = xstrdup(c->author);
	o->body = xstrdup(c->body);
	return 0;
}

static void comments_clear(struct comments *l)
{
	for (int i = 0; i < l->n; i++)
		comment_clear(&l->c[i]);
	l->n = 0;
}

static void test_comments(void **state)
{
	struct fixture *f = *state;
	struct err e;
	int64_t i1 = insert_ok(f->conn, "manual", "c1", 3, ST_OPEN, "s", T0, NULL);
	int64_t i2 = insert_ok(f->conn, "manual", "c2", 3, ST_OPEN, "s", T0, NULL);
	int64_t ids[5];
	for (int i = 0; i < 5; i++) {
		char body[32];
		snprintf(body, sizeof body, "comment %d", i);
		struct comment cm = {
			.incident_id = i1, .author = "alice", .body = body, .created_at = T0 + i};
		assert_int_equal(store_comment_insert(f->conn, &cm, &e), 0);
		assert_true(cm.id > 0);
		ids[i] = cm.id;
		if (i)
			assert_true(ids[i] > ids[i - 1]);
	}
	struct comment other = {
		.incident_id = i2, .author = "bob", .body = "elsewhere", .created_at = T0};
	assert_int_equal(store_comment_insert(f->conn, &other, &e), 0);

	struct comments l = {0};
	int64_t total = -1;
	assert_int_equal(store_comment_list(f->conn, i1, 0, 100, comment_cb, &l, &total, &e), 0);
	assert_int_equal(total, 5);
	assert_int_equal(l.n, 5);
	for (int i = 0; i < 5; i++) {
		char body[32];
		snprintf(body, sizeof body, "comment %d", i);
		assert_int_equal(l.c[i].id, ids[i]);
		assert_int_equal(l.c[i].incident_id, i1);
		assert_string_equal(l.c[i].author, "alice");
		assert_string_equal(l.c[i].body, body);
		assert_int_equal(l.c[i].created_at, T0 + i);
	}
	comments_clear(&l);

	/* offset and limit, total unaffected */
	assert_int_equal(store_comment_list(f->conn, i1, 1, 2, comment_cb, &l, &total, &e), 0);
	assert_int_equal(total, 5);
	assert_int_equal(l.n, 2);
	assert_int_equal(l.c[0].id, ids[1]);
	assert_int_equal(l.c[1].id, ids[2]);
	comments_clear(&l);

	assert_int_equal(store_comment_list(f->conn, i2, 0, 100, comment_cb, &l, NULL, &e), 0);
	assert_int_equal(l.n, 1);
	assert_string_equal(l.c[0].body, "elsewhere");
	comments_clear(&l);

	assert_int_equal(store_comment_list(f->conn, 9999, 0, 100, comment_cb, &l, &total, &e), 0);
	assert_int_equal(total, 0);
	assert_int_equal(l.n, 0);
	comment_clear(NULL);
}

/* ---- silences ---- */

struct silences {
	struct silence s[16];
	int n;
};

static int silence_cb(const struct silence *s, void *arg)
{
	struct silences *l = arg;
	assert_true(l->n < 16);
	struct silence *o = &l->s[l->n++];
	*o = *s;
	o->kind = xstrdup(s->kind);
	o->key_glob = xstrdup(s->key_glob);
	o->reason = xstrdup(s->reason);
	o->created_by = xstrdup(s->created_by);
	return 0;
}

static void silences_clear(struct silences *l)
{
	for (int i = 0; i < l->n; i++)
		silence_clear(&l->s[i]);
	l->n = 0;
}

static const struct silence *find_silence(const struct silences *l, int64_t id)
{
	for (int i = 0; i < l->n; i++)
		if (l->s[i].id == id)
			return &l->s[i];
	return NULL;
}

static int64_t add_silence(struct store_conn *c, const char *kind, const char *glob, int64_t starts,
			   int64_t ends)
{
	struct err e;
	struct silence s = {.kind = (char *)kind,
			    .key_glob = (char *)glob,
			    .reason = "maintenance",
			    .created_by = "alice",
			    .starts_at = starts,
			    .ends_at = ends};
	assert_int_equal(store_silence_insert(c, &s, &e), 0);
	assert_true(s.id > 0);
	return s.id;
}

static void test_silences(void **state)
{
	struct fixture *f = *state;
	struct err e;
	const int64_t now = T0 + 3600000;
	int64_t active = add_silence(f->conn, "manual", "db-*", now - 1000, now + 1000);
	int64_t ended = add_silence(f->conn, NULL, "*", now - 5000, now - 1000);
	int64_t future = add_silence(f->conn, "budget", "x", now + 1000, now + 5000);
	int64_t any_kind = add_silence(f->conn, NULL, "web-?", now - 1, now + 1);

	/* active at now: started, not yet ended (the order of rows is not part of the
	 * contract, so rows are looked up by id) */
	struct silences l = {0};
	int64_t total = -1;
	assert_int_equal(
		store_silence_list(f->conn, now, false, 0, 100, silence_cb, &l, &total, &e), 0);
	assert_int_equal(total, 2);
	assert_int_equal(l.n, 2);
	const struct silence *sa = find_silence(&l, active), *sk = find_silence(&l, any_kind);
	assert_non_null(sa);
	assert_non_null(sk);
	assert_null(sk->kind); /* NULL = any kind */
	assert_string_equal(sk->key_glob, "web-?");
	assert_string_equal(sa->kind, "manual");
	assert_string_equal(sa->key_glob, "db-*");
	assert_string_equal(sa->reason, "maintenance");
	assert_string_equal(sa->created_by, "alice");
	assert_int_equal(sa->starts_at, now - 1000);
	assert_int_equal(sa->ends_at, now + 1000);
	silences_clear(&l);

	/* all of them, and paging through all of them gives the same rows */
	struct silences all = {0};
	assert_int_equal(
		store_silence_list(f->conn, now, true, 0, 100, silence_cb, &all, &total, &e), 0);
	assert_int_equal(total, 4);
	assert_int_equal(all.n, 4);
	assert_non_null(find_silence(&all, active));
	assert_non_null(find_silence(&all, ended));
	assert_non_null(find_silence(&all, future));
	assert_non_null(find_silence(&all, any_kind));
	for (int64_t off = 0; off < 4; off += 2) {
		assert_int_equal(
			store_silence_list(f->conn, now, true, off, 2, silence_cb, &l, &total, &e),
			0);
		assert_int_equal(total, 4);
		assert_int_equal(l.n, 2);
		assert_int_equal(l.s[0].id, all.s[off].id);
		assert_int_equal(l.s[1].id, all.s[off + 1].id);
		silences_clear(&l);
	}
	silences_clear(&all);

	/* get and end */
	struct silence s;
	assert_int_equal(store_silence_get(f->conn, active, &s, &e), 0);
	assert_int_equal(s.id, active);
	assert_string_equal(s.key_glob, "db-*");
	silence_clear(&s);
	err_clear(&e);
	assert_int_equal(store_silence_get(f->conn, 9999, &s, &e), ERR_NOTFOUND);
	assert_int_equal(e.code, ERR_NOTFOUND);

	assert_int_equal(store_silence_set_end(f->conn, active, now, &e), 0);
	assert_int_equal(store_silence_get(f->conn, active, &s, &e), 0);
	assert_int_equal(s.ends_at, now);
	silence_clear(&s);
	assert_int_equal(
		store_silence_list(f->conn, now, false, 0, 100, silence_cb, &l, &total, &e), 0);
	assert_int_equal(total, 1);
	assert_int_equal(l.n, 1);
	assert_int_equal(l.s[0].id, any_kind);
	silences_clear(&l);

	/* later, the future one is the active one */
	assert_int_equal(
		store_silence_list(f->conn, now + 2000, false, 0, 100, silence_cb, &l, &total, &e),
		0);
	assert_int_equal(total, 1);
	assert_int_equal(l.s[0].id, future);
	silences_clear(&l);
	silence_clear(NULL);
}

/* ---- tokens ---- */

struct tokens {
	struct token_row t[8];
	int n;
};

static int token_cb(const struct token_row *t, void *arg)
{
	struct tokens *l = arg;
	assert_true(l->n < 8);
	struct token_row *o = &l->t[l->n++];
	*o = *t;
	o->name = xstrdup(t->name);
	o->role = xstrdup(t->role);
	o->created_by = xstrdup(t->created_by);
	return 0;
}

static void tokens_clear(struct tokens *l)
{
	for (int i = 0; i < l->n; i++)
		token_row_clear(&l->t[i]);
	l->n = 0;
}

static void test_tokens(void **state)
{
	struct fixture *f = *state;
	struct err e;
	int64_t v0, v1, v2, v3;
	assert_int_equal(store_token_version(f->conn, &v0, &e), 0);

	struct token_row a = {
		.name = "alice", .role = "admin", .created_at = T0, .created_by = "boot"};
	memset(a.hash, 0xA1, 32);
	assert_int_equal(store_token_insert(f->conn, &a, &e), 0);
	assert_true(a.id > 0);
	assert_int_equal(store_token_version(f->conn, &v1, &e), 0);
	assert_true(v1 != v0);

	struct token_row b = {
		.name = "bob", .role = "viewer", .created_at = T0 + 1, .expires_at = T0 + 1000};
	memset(b.hash, 0xB2, 32);
	assert_int_equal(store_token_insert(f->conn, &b, &e), 0);

	/* a live name or a hash may not repeat */
	struct token_row dup = {.name = "alice", .role = "viewer", .created_at = T0};
	memset(dup.hash, 0xC3, 32);
	err_clear(&e);
	assert_int_equal(store_token_insert(f->conn, &dup, &e), ERR_CONFLICT);
	assert_int_equal(e.code, ERR_CONFLICT);
	struct token_row duph = {.name = "carol", .role = "viewer", .created_at = T0};
	memset(duph.hash, 0xB2, 32);
	assert_int_equal(store_token_insert(f->conn, &duph, &e), ERR_CONFLICT);

	struct tokens l = {0};
	assert_int_equal(store_token_list(f->conn, token_cb, &l, &e), 0);
	assert_int_equal(l.n, 2);
	assert_string_equal(l.t[0].name, "alice");
	assert_string_equal(l.t[0].role, "admin");
	assert_string_equal(l.t[0].created_by, "boot");
	unsigned char ha[32];
	memset(ha, 0xA1, 32);
	assert_memory_equal(l.t[0].hash, ha, 32);
	assert_int_equal(l.t[0].created_at, T0);
	assert_int_equal(l.t[0].expires_at, 0);
	assert_int_equal(l.t[0].revoked_at, 0);
	assert_string_equal(l.t[1].name, "bob");
	assert_int_equal(l.t[1].expires_at, T0 + 1000);
	assert_null(l.t[1].created_by);
	tokens_clear(&l);

	assert_int_equal(store_token_version(f->conn, &v2, &e), 0);
	struct token_row out;
	assert_int_equal(store_token_revoke(f->conn, "alice", T0 + 50, &out, &e), 0);
	assert_string_equal(out.name, "alice");
	assert_string_equal(out.role, "admin");
	assert_int_equal(out.revoked_at, T0 + 50);
	assert_memory_equal(out.hash, ha, 32);
	token_row_clear(&out);
	assert_int_equal(store_token_version(f->conn, &v3, &e), 0);
	assert_true(v3 != v2);

	/* nothing live by that name any more */
	err_clear(&e);
	assert_int_equal(store_token_revoke(f->conn, "alice", T0 + 60, &out, &e), ERR_NOTFOUND);
	assert_int_equal(e.code, ERR_NOTFOUND);
	assert_int_equal(store_token_revoke(f->conn, "nobody", T0 + 60, &out, &e), ERR_NOTFOUND);
	int64_t v4;
	assert_int_equal(store_token_version(f->conn, &v4, &e), 0);
	assert_int_equal(v4, v3); /* a failed revoke changes nothing */

	/* the revoked row stays listed; the name can be used again */
	struct token_row again = {.name = "alice", .role = "responder", .created_at = T0 + 70};
	memset(again.hash, 0xD4, 32);
	assert_int_equal(store_token_insert(f->conn, &again, &e), 0);
	assert_int_equal(store_token_list(f->conn, token_cb, &l, &e), 0);
	assert_int_equal(l.n, 3);
	assert_int_equal(l.t[0].revoked_at, T0 + 50);
	assert_int_equal(l.t[2].revoked_at, 0);
	tokens_clear(&l);

	/* another connection sees the same version */
	struct store_conn *ro = NULL;
	assert_int_equal(store_connect(f->store, true, &ro, &e), 0);
	int64_t mine, theirs;
	assert_int_equal(store_token_version(f->conn, &mine, &e), 0);
	assert_int_equal(store_token_version(ro, &theirs, &e), 0);
	assert_int_equal(mine, theirs);
	store_disconnect(ro);
	token_row_clear(NULL);
}

/* ---- idempotency ---- */

static void test_idempotency(void **state)
{
	struct fixture *f = *state;
	struct err e;
	struct buf body = BUF_INIT;
	int status = -1;
	assert_int_equal(store_idem_get(f->conn, "POST /api/signals", "k1", 0, &status, &body, &e),
			 ERR_NOTFOUND);

	assert_int_equal(
		store_idem_put(f->conn, "POST /api/signals", "k1", 201, "{\"id\":1}", T0, &e), 0);
	assert_int_equal(
		store_idem_get(f->conn, "POST /api/signals", "k1", T0 - 1, &status, &body, &e), 0);
	assert_int_equal(status, 201);
	assert_string_equal(buf_cstr(&body), "{\"id\":1}");
	buf_reset(&body);

	/* too old */
	assert_int_equal(
		store_idem_get(f->conn, "POST /api/signals", "k1", T0 + 1, &status, &body, &e),
		ERR_NOTFOUND);
	/* the scope is part of the key */
	assert_int_equal(
		store_idem_get(f->conn, "POST /api/incidents", "k1", 0, &status, &body, &e),
		ERR_NOTFOUND);
	assert_int_equal(store_idem_get(f->conn, "POST /api/signals", "k2", 0, &status, &body, &e),
			 ERR_NOTFOUND);

	/* put again replaces */
	assert_int_equal(store_idem_put(f->conn, "POST /api/signals", "k1", 409, "{\"error\":1}",
					T0 + 100, &e),
			 0);
	assert_int_equal(
		store_idem_get(f->conn, "POST /api/signals", "k1", T0 + 50, &status, &body, &e), 0);
	assert_int_equal(status, 409);
	assert_string_equal(buf_cstr(&body), "{\"error\":1}");
	buf_reset(&body);

	/* an empty body round-trips */
	assert_int_equal(store_idem_put(f->conn, "s", "empty", 204, "", T0, &e), 0);
	assert_int_equal(store_idem_get(f->conn, "s", "empty", 0, &status, &body, &e), 0);
	assert_int_equal(status, 204);
	assert_string_equal(buf_cstr(&body), "");
	buf_free(&body);
}

/* ---- damaged stored values surface as errors ---- */

static void exec_ok(struct store_conn *c, const char *sql)
{
	struct err e;
	err_clear(&e);
	if (store_exec_sql(c, sql, &e))
		fail_msg("%s: %s", sql, e.msg);
}

static int count_incidents(const struct incident *inc, void *arg)
{
	(void)inc;
	(*(int *)arg)++;
	return 0;
}

/* The read fails with ERR_IO whose message names every part of want. */
static void assert_io_naming(int rc, const struct err *e, const char *const *want)
{
	if (rc != ERR_IO)
		fail_msg("expected ERR_IO, got %d (%s)", rc, e->msg);
	assert_int_equal(e->code, ERR_IO);
	for (int i = 0; want[i]; i++)
		if (!strstr(e->msg, want[i]))
			fail_msg("message \"%s\" does not name %s", e->msg, want[i]);
}

static void test_bad_json_is_an_error(void **state)
{
	struct fixture *f = *state;
	static const struct {
		const char *column, *value, *problem;
	} cases[] = {
		{"details", "'{\"host\":'", "not valid JSON"},
		{"details", "'[1,2]'", "not a JSON object"},
		{"playbooks", "'{}'", "not a JSON array"},
		{"notes", "'nope'", "not valid JSON"},
		{"metadata", "'7'", "not a JSON object"},
		{"issue_ref", "'[\"github\"]'", "not a JSON object"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char key[32], sql[256], row[32];
		snprintf(key, sizeof key, "bad-json-%zu", i);
		int64_t id = insert_ok(f->conn, "manual", key, 3, ST_OPEN, "s", T0, NULL);
		snprintf(sql, sizeof sql, "UPDATE incidents SET %s = %s WHERE id = %lld",
			 cases[i].column, cases[i].value, (long long)id);
		exec_ok(f->conn, sql);
		snprintf(row, sizeof row, "row %lld", (long long)id);
		char col[48];
		snprintf(col, sizeof col, "incidents.%s", cases[i].column);
		const char *want[] = {col, row, cases[i].problem, NULL};

		struct incident out;
		struct err e;
		err_clear(&e);
		assert_io_naming(store_incident_get(f->conn, id, &out, &e), &e, want);
		err_clear(&e);
		assert_io_naming(store_incident_find_active(f->conn, "manual", key, &out, &e), &e,
				 want);
		/* repaired, it reads again (nothing was cached or half-read) */
		snprintf(sql, sizeof sql, "UPDATE incidents SET %s = %s WHERE id = %lld",
			 cases[i].column, strcmp(cases[i].column, "playbooks") ? "'{}'" : "'[]'",
			 (long long)id);
		exec_ok(f->conn, sql);
		assert_int_equal(store_incident_get(f->conn, id, &out, &e), 0);
		incident_clear(&out);
	}
}

/* Text that is not UTF-8 (stored by something else than intervene) is damage: an
 * error naming the column, never a string that would make invalid JSON. */
static void test_text_not_utf8_is_an_error(void **state)
{
	struct fixture *f = *state;
	int64_t id = insert_ok(f->conn, "manual", "latin1", 3, ST_OPEN, "s", T0, NULL);
	char sql[160];
	snprintf(sql, sizeof sql,
		 "UPDATE incidents SET summary = CAST(x'636166e9' AS TEXT) WHERE id = %lld",
		 (long long)id);
	exec_ok(f->conn, sql);
	const char *want[] = {"summary", "not UTF-8", NULL};
	struct incident out;
	struct err e;
	err_clear(&e);
	assert_io_naming(store_incident_get(f->conn, id, &out, &e), &e, want);
	int n = 0;
	struct incident_filter flt = {.page = 1, .per_page = 50};
	err_clear(&e);
	assert_io_naming(store_incident_list(f->conn, &flt, count_incidents, &n, NULL, &e), &e,
			 want);
	assert_int_equal(n, 0);
}

static void test_unknown_status_is_an_error(void **state)
{
	struct fixture *f = *state;
	struct err e;
	int64_t ok = insert_ok(f->conn, "manual", "fine", 3, ST_OPEN, "s", T0, NULL);
	int64_t id = insert_ok(f->conn, "manual", "odd", 3, ST_OPEN, "s", T0 + 1, NULL);
	/* The CHECK constraint keeps such values out; damage gets past it. */
	char sql[160];
	snprintf(sql, sizeof sql,
		 "PRAGMA ignore_check_constraints = ON; UPDATE incidents SET status = 'paused' "
		 "WHERE id = %lld; PRAGMA ignore_check_constraints = OFF",
		 (long long)id);
	exec_ok(f->conn, sql);
	char row[32];
	snprintf(row, sizeof row, "row %lld", (long long)id);
	const char *want[] = {"incidents.status", row, "paused", NULL};

	struct incident out;
	err_clear(&e);
	assert_io_naming(store_incident_get(f->conn, id, &out, &e), &e, want);
	/* never read as "open": a list or a count that meets it fails */
	struct incident_filter flt = {.page = 1, .per_page = 50};
	int n = 0;
	err_clear(&e);
	assert_io_naming(store_incident_list(f->conn, &flt, count_incidents, &n, NULL, &e), &e,
			 want);
	int64_t counts[ST_COUNT][5];
	err_clear(&e);
	const char *want_count[] = {"incidents.status", "paused", NULL};
	assert_io_naming(store_incident_counts(f->conn, counts, &e), &e, want_count);
	/* the healthy row still reads */
	assert_int_equal(store_incident_get(f->conn, ok, &out, &e), 0);
	incident_clear(&out);

	/* a severity outside 1..4 is damage too */
	snprintf(sql, sizeof sql,
		 "PRAGMA ignore_check_constraints = ON; UPDATE incidents SET status = 'open', "
		 "severity = 9 WHERE id = %lld; PRAGMA ignore_check_constraints = OFF",
		 (long long)id);
	exec_ok(f->conn, sql);
	const char *want_sev[] = {"incidents.severity", row, NULL};
	err_clear(&e);
	assert_io_naming(store_incident_get(f->conn, id, &out, &e), &e, want_sev);
	const char *want_sev_count[] = {"incidents.severity", "9", NULL};
	err_clear(&e);
	assert_io_naming(store_incident_counts(f->conn, counts, &e), &e, want_sev_count);
}

static int count_tokens(const struct token_row *t, void *arg)
{
	(void)t;
	(*(int *)arg)++;
	return 0;
}

static int count_sessions(const struct session_row *r, void *arg)
{
	(void)r;
	(*(int *)arg)++;
	return 0;
}

static int count_events(const struct event *ev, void *arg)
{
	(void)ev;
	(*(int *)arg)++;
	return 0;
}

static void test_bad_hashes_are_errors(void **state)
{
	struct fixture *f = *state;
	struct err e;
	struct token_row t = {.name = "alice", .role = "admin", .created_at = T0};
	memset(t.hash, 0xA1, 32);
	assert_int_equal(store_token_insert(f->conn, &t, &e), 0);
	unsigned char sh[32];
	memset(sh, 0x5E, 32);
	assert_int_equal(store_session_insert(f->conn, sh, t.id, T0, T0 + 1000000, &e), 0);
	int n = 0;
	assert_int_equal(store_session_list(f->conn, T0 + 1, count_sessions, &n, &e), 0);
	assert_int_equal(n, 1);

	/* a session hash cut short is not skipped: the list fails naming it */
	exec_ok(f->conn, "UPDATE sessions SET hash = x'0102'");
	const char *want_s[] = {"sessions.hash", "row 1", "2 bytes", NULL};
	err_clear(&e);
	assert_io_naming(store_session_list(f->conn, T0 + 1, count_sessions, &n, &e), &e, want_s);

	exec_ok(f->conn, "UPDATE tokens SET hash = x'00'");
	char row[32];
	snprintf(row, sizeof row, "row %lld", (long long)t.id);
	const char *want_t[] = {"tokens.hash", row, NULL};
	err_clear(&e);
	assert_io_naming(store_token_list(f->conn, count_tokens, &n, &e), &e, want_t);
	struct token_row out;
	err_clear(&e);
	assert_io_naming(store_token_revoke(f->conn, "alice", T0 + 5, &out, &e), &e, want_t);

	exec_ok(f->conn, "UPDATE meta SET value = x'00' WHERE key = 'hash_key'");
	unsigned char key[32];
	const char *want_k[] = {"meta.hash_key", NULL};
	err_clear(&e);
	assert_io_naming(store_meta_hash_key(f->conn, key, &e), &e, want_k);
}

static void test_bad_event_fields_are_errors(void **state)
{
	struct fixture *f = *state;
	struct err e;
	struct event ev = {.id = 1,
			   .type = "incident_created",
			   .actor = "tester",
			   .data = "{}",
			   .created_at = "2026-01-01T00:00:00.000Z"};
	memset(ev.prev_hash, '0', 64);
	memset(ev.hash, 'a', 64);
	assert_int_equal(store_event_insert(f->conn, &ev, &e), 0);
	struct event_filter flt = {.limit = -1};
	int n = 0;
	assert_int_equal(store_event_list(f->conn, &flt, count_events, &n, NULL, &e), 0);
	assert_int_equal(n, 1);

	/* a timestamp too long for the row's field is not cut to fit */
	exec_ok(f->conn, "UPDATE events SET created_at = '2026-01-01T00:00:00.000000000000Z' "
			 "WHERE id = 1");
	const char *want_c[] = {"events.created_at", "row 1", NULL};
	err_clear(&e);
	assert_io_naming(store_event_list(f->conn, &flt, count_events, &n, NULL, &e), &e, want_c);
	exec_ok(f->conn, "UPDATE events SET created_at = '2026-01-01T00:00:00.000Z', "
			 "prev_hash = 'abc' WHERE id = 1");
	const char *want_p[] = {"events.prev_hash", "row 1", "hash", NULL};
	err_clear(&e);
	assert_io_naming(store_event_list(f->conn, &flt, count_events, &n, NULL, &e), &e, want_p);
}

/* ---- transactions ---- */

static void test_savepoints(void **state)
{
	struct fixture *f = *state;
	struct err e;
	assert_false(store_in_transaction(f->conn));
	assert_int_equal(store_begin(f->conn, &e), 0);
	assert_true(store_in_transaction(f->conn));
	insert_ok(f->conn, "manual", "A", 3, ST_OPEN, "s", T0, NULL);
	assert_int_equal(store_savepoint(f->conn, &e), 0);
	insert_ok(f->conn, "manual", "B", 3, ST_OPEN, "s", T0, NULL);
	assert_int_equal(store_rollback_to(f->conn, &e), 0);
	assert_int_equal(store_savepoint(f->conn, &e), 0);
	insert_ok(f->conn, "manual", "C", 3, ST_OPEN, "s", T0, NULL);
	assert_int_equal(store_release(f->conn, &e), 0);
	assert_int_equal(store_commit(f->conn, &e), 0);
	assert_false(store_in_transaction(f->conn));

	struct incident inc;
	assert_int_equal(store_incident_find_active(f->conn, "manual", "A", &inc, &e), 0);
	incident_clear(&inc);
	assert_int_equal(store_incident_find_active(f->conn, "manual", "B", &inc, &e),
			 ERR_NOTFOUND);
	assert_int_equal(store_incident_find_active(f->conn, "manual", "C", &inc, &e), 0);
	incident_clear(&inc);

	/* a rolled-back transaction leaves nothing */
	assert_int_equal(store_begin(f->conn, &e), 0);
	insert_ok(f->conn, "manual", "D", 3, ST_OPEN, "s", T0, NULL);
	store_rollback(f->conn);
	assert_int_equal(store_incident_find_active(f->conn, "manual", "D", &inc, &e),
			 ERR_NOTFOUND);
	/* rollback outside a transaction is harmless */
	store_rollback(f->conn);

	/* a conflict inside a savepoint spoils only that savepoint */
	assert_int_equal(store_begin(f->conn, &e), 0);
	assert_int_equal(store_savepoint(f->conn, &e), 0);
	struct incident dup = make_inc("manual", "A", 3, ST_OPEN, "dup", T0);
	assert_int_equal(store_incident_insert(f->conn, &dup, &e), ERR_CONFLICT);
	incident_clear(&dup);
	assert_int_equal(store_rollback_to(f->conn, &e), 0);
	assert_int_equal(store_savepoint(f->conn, &e), 0);
	insert_ok(f->conn, "manual", "E", 3, ST_OPEN, "s", T0, NULL);
	assert_int_equal(store_release(f->conn, &e), 0);
	assert_int_equal(store_commit(f->conn, &e), 0);
	assert_int_equal(store_incident_find_active(f->conn, "manual", "E", &inc, &e), 0);
	incident_clear(&inc);
	assert_int_equal(store_checkpoint(f->conn), 0);
}

static void test_read_snapshot(void **state)
{
	struct fixture *f = *state;
	struct err e;
	struct store_conn *ro = NULL;
	assert_int_equal(store_connect(f->store, true, &ro, &e), 0);
	insert_ok(f->conn, "manual", "s", 3, ST_OPEN, "s", T0, NULL);

	assert_int_equal(store_read_begin(ro, &e), 0);
	int64_t n = -1;
	assert_int_equal(store_incident_count_since(ro, "manual", "s", 0, &n, &e), 0);
	assert_int_equal(n, 1);
	/* a commit from the writer after the snapshot began is not visible in it */
	insert_ok(f->conn, "manual", "s", 3, ST_CLOSED, "s", T0, NULL);
	assert_int_equal(store_incident_count_since(ro, "manual", "s", 0, &n, &e), 0);
	assert_int_equal(n, 1);
	assert_int_equal(store_read_end(ro, &e), 0);
	assert_int_equal(store_incident_count_since(ro, "manual", "s", 0, &n, &e), 0);
	assert_int_equal(n, 2);
	store_disconnect(ro);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_store_new_urls),
		cmocka_unit_test_setup_teardown(test_migrate_creates, setup_bare, teardown_db),
		cmocka_unit_test_setup_teardown(test_migrate_key_per_database, setup_db,
						teardown_db),
		cmocka_unit_test_setup_teardown(test_migrate_refuses_newer, setup_bare,
						teardown_db),
		cmocka_unit_test_setup_teardown(test_check_schema_older, setup_bare, teardown_db),
		cmocka_unit_test_setup_teardown(test_migrate_concurrent, setup_bare, teardown_db),
		cmocka_unit_test(test_migrate_bad_dir),
		cmocka_unit_test_setup_teardown(test_readonly_refuses_writes, setup_db,
						teardown_db),
		cmocka_unit_test_setup_teardown(test_incident_roundtrip, setup_db, teardown_db),
		cmocka_unit_test_setup_teardown(test_incident_not_found, setup_db, teardown_db),
		cmocka_unit_test_setup_teardown(test_find_active, setup_db, teardown_db),
		cmocka_unit_test_setup_teardown(test_active_unique_index, setup_db, teardown_db),
		cmocka_unit_test_setup_teardown(test_incident_update, setup_db, teardown_db),
		cmocka_unit_test_setup_teardown(test_incident_touch, setup_db, teardown_db),
		cmocka_unit_test_setup_teardown(test_count_since, setup_db, teardown_db),
		cmocka_unit_test_setup_teardown(test_incident_list, setup_db, teardown_db),
		cmocka_unit_test_setup_teardown(test_incident_list_stop_and_beyond, setup_db,
						teardown_db),
		cmocka_unit_test_setup_teardown(test_incident_list_many_assignees, setup_db,
						teardown_db),
		cmocka_unit_test_setup_teardown(test_recent_keys, setup_db, teardown_db),
		cmocka_unit_test_setup_teardown(test_comments, setup_db, teardown_db),
		cmocka_unit_test_setup_teardown(test_silences, setup_db, teardown_db),
		cmocka_unit_test_setup_teardown(test_tokens, setup_db, teardown_db),
		cmocka_unit_test_setup_teardown(test_idempotency, setup_db, teardown_db),
		cmocka_unit_test_setup_teardown(test_bad_json_is_an_error, setup_db, teardown_db),
		cmocka_unit_test_setup_teardown(test_text_not_utf8_is_an_error, setup_db,
						teardown_db),
		cmocka_unit_test_setup_teardown(test_unknown_status_is_an_error, setup_db,
						teardown_db),
		cmocka_unit_test_setup_teardown(test_bad_hashes_are_errors, setup_db, teardown_db),
		cmocka_unit_test_setup_teardown(test_bad_event_fields_are_errors, setup_db,
						teardown_db),
		cmocka_unit_test_setup_teardown(test_savepoints, setup_db, teardown_db),
		cmocka_unit_test_setup_teardown(test_read_snapshot, setup_db, teardown_db),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
