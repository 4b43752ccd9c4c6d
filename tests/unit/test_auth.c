/* test_auth.c — roles, token names, tokens and the token cache (src/core/auth.h,
 * SPEC §11). Store-backed tests use a temporary SQLite database. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "tmpdb.h"
#include <sodium.h>

#include "core/auth.h"
#include "core/event.h"
#include "store/store.h"
#include "util/time.h"

/* In the sanitizer build, undefined behaviour fails the test instead of only being
 * printed (unused otherwise). */
const char *__ubsan_default_options(void);
const char *__ubsan_default_options(void)
{
	return "halt_on_error=1:print_stacktrace=1";
}

/* Tests that need storage use the shared throwaway store of tmpdb.h. */

/* ---- pure parts ---- */

static void test_roles(void **state)
{
	(void)state;
	static const struct {
		enum role r;
		const char *name;
	} roles[] = {
		{ROLE_VIEWER, "viewer"},
		{ROLE_RESPONDER, "responder"},
		{ROLE_APPROVER, "approver"},
		{ROLE_ADMIN, "admin"},
	};
	for (size_t i = 0; i < sizeof roles / sizeof roles[0]; i++) {
		assert_string_equal(auth_role_name(roles[i].r), roles[i].name);
		assert_int_equal(auth_parse_role(roles[i].name), roles[i].r);
	}
	/* viewer < responder < approver < admin */
	assert_true(ROLE_NONE < ROLE_VIEWER && ROLE_VIEWER < ROLE_RESPONDER &&
		    ROLE_RESPONDER < ROLE_APPROVER && ROLE_APPROVER < ROLE_ADMIN);
	static const char *const bad[] = {"",	  "none",   "Admin", "ADMIN",
					  "root", "admin ", "view",  "viewers"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		assert_int_equal(auth_parse_role(bad[i]), ROLE_NONE);
	assert_int_equal(auth_parse_role(NULL), ROLE_NONE);
}

static void test_valid_names(void **state)
{
	(void)state;
	char max[AUTH_NAME_MAX + 1], over[AUTH_NAME_MAX + 2];
	memset(max, 'a', AUTH_NAME_MAX);
	max[AUTH_NAME_MAX] = '\0';
	memset(over, 'a', AUTH_NAME_MAX + 1);
	over[AUTH_NAME_MAX + 1] = '\0';
	const struct {
		const char *name;
		bool ok;
	} cases[] = {
		{"alice", true},
		{"a", true},
		{"Z", true},
		{"0", true},
		{"alice@example.com", true},
		{"ci-bot_2.prod", true},
		{"A-Z.a_z@0-9", true},
		{"...", true},
		{max, true},
		{over, false},
		{"", false},
		{"with space", false},
		{"tab\t", false},
		{"new\nline", false},
		{"slash/", false},
		{"colon:", false},
		{"plus+", false},
		{"quote\"", false},
		{"semi;", false},
		{"percent%", false},
		{"caf\xc3\xa9", false},
		{"star*", false},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		if (auth_valid_name(cases[i].name) != cases[i].ok)
			fail_msg("name \"%s\": expected %s", cases[i].name,
				 cases[i].ok ? "valid" : "invalid");
}

static bool b64url_char(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '_';
}

static void test_token_generate(void **state)
{
	(void)state;
	enum { N = 200 };
	static char toks[N][AUTH_TOKEN_LEN + 1];
	for (int i = 0; i < N; i++) {
		memset(toks[i], '#', sizeof toks[i]);
		auth_token_generate(toks[i]);
		assert_int_equal(strlen(toks[i]), AUTH_TOKEN_LEN);
		for (int k = 0; k < AUTH_TOKEN_LEN; k++)
			if (!b64url_char(toks[i][k]))
				fail_msg("token %s has a non-base64url character", toks[i]);
		/* 32 bytes decode back from 43 characters, no padding */
		unsigned char raw[40];
		size_t len = 0;
		assert_int_equal(sodium_base642bin(raw, sizeof raw, toks[i], AUTH_TOKEN_LEN, NULL,
						   &len, NULL,
						   sodium_base64_VARIANT_URLSAFE_NO_PADDING),
				 0);
		assert_int_equal(len, 32);
		for (int j = 0; j < i; j++)
			if (!strcmp(toks[i], toks[j]))
				fail_msg("token %d repeats token %d", i, j);
	}
}

static void test_token_hash(void **state)
{
	(void)state;
	unsigned char k1[32], k2[32];
	memset(k1, 1, sizeof k1);
	memset(k2, 1, sizeof k2);
	k2[31] = 2;
	unsigned char h1[32], h1b[32], h2[32], h3[32];
	auth_token_hash(k1, "token-a", h1);
	auth_token_hash(k1, "token-a", h1b);
	auth_token_hash(k2, "token-a", h2);
	auth_token_hash(k1, "token-b", h3);
	assert_memory_equal(h1, h1b, 32);    /* deterministic */
	assert_memory_not_equal(h1, h2, 32); /* keyed */
	assert_memory_not_equal(h1, h3, 32); /* depends on the token */
	/* not the bare unkeyed hash */
	unsigned char plain[32];
	crypto_generichash(plain, 32, (const unsigned char *)"token-a", 7, NULL, 0);
	assert_memory_not_equal(h1, plain, 32);
}

/* A known answer: keyed BLAKE2b-256 of the token with the database's 32-byte key, as
 * computed independently of libsodium by Python's hashlib:
 *   hashlib.blake2b(b"itv_known-answer-token", key=bytes(range(32)),
 *                   digest_size=32).hexdigest() */
static void test_token_hash_known_answer(void **state)
{
	(void)state;
	unsigned char key[32], h[32];
	char hex[65];
	for (int i = 0; i < 32; i++)
		key[i] = (unsigned char)i;
	auth_token_hash(key, "itv_known-answer-token", h);
	sodium_bin2hex(hex, sizeof hex, h, sizeof h);
	assert_string_equal(hex,
			    "1f1de0b99b45ea76941fb4852792eb5af08ef8ea9f51a291c23b6659d20bebed");
}

/* ---- store-backed ---- */

struct token_list {
	struct token_row rows[16];
	int n;
};

static int collect_tokens(const struct token_row *t, void *arg)
{
	struct token_list *l = arg;
	if (l->n >= 16)
		return 1;
	struct token_row *o = &l->rows[l->n++];
	*o = *t;
	o->name = xstrdup(t->name);
	o->role = xstrdup(t->role);
	o->created_by = xstrdup(t->created_by);
	return 0;
}

static void tokens_clear(struct token_list *l)
{
	for (int i = 0; i < l->n; i++)
		token_row_clear(&l->rows[i]);
	l->n = 0;
}

struct type_count {
	int created, revoked, other;
	char last_data[256];
};

static int count_events(const struct event *ev, void *arg)
{
	struct type_count *c = arg;
	if (!strcmp(ev->type, "token_created"))
		c->created++;
	else if (!strcmp(ev->type, "token_revoked"))
		c->revoked++;
	else
		c->other++;
	snprintf(c->last_data, sizeof c->last_data, "%s", ev->data);
	assert_int_equal(ev->incident_id, 0);
	assert_string_equal(ev->actor, "test");
	return 0;
}

static void test_create_and_revoke(void **state)
{
	struct tmpdb_fixture *f = *state;
	struct err e;
	char tok[AUTH_TOKEN_LEN + 1] = "";

	assert_int_equal(store_begin(f->conn, &e), 0);
	/* generated token written to token_out */
	assert_int_equal(
		auth_token_create(f->conn, NULL, "alice", ROLE_APPROVER, 0, "test", NULL, tok, &e),
		0);
	assert_int_equal(strlen(tok), AUTH_TOKEN_LEN);
	/* a given token: token_out untouched */
	char untouched[AUTH_TOKEN_LEN + 1] = "unchanged";
	assert_int_equal(auth_token_create(f->conn, NULL, "bob", ROLE_VIEWER, 0, "test",
					   "bob-secret", untouched, &e),
			 0);
	assert_string_equal(untouched, "unchanged");
	assert_int_equal(store_commit(f->conn, &e), 0);

	/* only the keyed hash is stored */
	unsigned char key[32];
	assert_int_equal(store_meta_hash_key(f->conn, key, &e), 0);
	struct token_list l = {0};
	assert_int_equal(store_token_list(f->conn, collect_tokens, &l, &e), 0);
	assert_int_equal(l.n, 2);
	assert_string_equal(l.rows[0].name, "alice");
	assert_string_equal(l.rows[0].role, "approver");
	assert_string_equal(l.rows[0].created_by, "test");
	assert_int_equal(l.rows[0].expires_at, 0);
	assert_int_equal(l.rows[0].revoked_at, 0);
	assert_true(l.rows[0].created_at > 0);
	unsigned char h[32];
	auth_token_hash(key, tok, h);
	assert_memory_equal(l.rows[0].hash, h, 32);
	auth_token_hash(key, "bob-secret", h);
	assert_memory_equal(l.rows[1].hash, h, 32);
	assert_string_equal(l.rows[1].role, "viewer");
	tokens_clear(&l);

	/* creation is an event */
	struct type_count tc = {0};
	struct event_filter ef = {.limit = -1};
	assert_int_equal(store_event_list(f->conn, &ef, count_events, &tc, NULL, &e), 0);
	assert_int_equal(tc.created, 2);
	assert_string_equal(tc.last_data,
			    "{\"expires_at\":null,\"name\":\"bob\",\"role\":\"viewer\"}");

	/* a second live token with the same name is refused */
	assert_int_equal(store_begin(f->conn, &e), 0);
	assert_int_equal(
		auth_token_create(f->conn, NULL, "alice", ROLE_VIEWER, 0, "test", NULL, NULL, &e),
		ERR_CONFLICT);
	store_rollback(f->conn);

	/* revoke: event, and revoked_at set */
	assert_int_equal(store_begin(f->conn, &e), 0);
	assert_int_equal(auth_token_revoke(f->conn, NULL, "alice", "test", &e), 0);
	assert_int_equal(store_commit(f->conn, &e), 0);
	memset(&tc, 0, sizeof tc);
	assert_int_equal(store_event_list(f->conn, &ef, count_events, &tc, NULL, &e), 0);
	assert_int_equal(tc.revoked, 1);
	assert_string_equal(tc.last_data, "{\"name\":\"alice\",\"role\":\"approver\"}");
	assert_int_equal(store_token_list(f->conn, collect_tokens, &l, &e), 0);
	assert_int_equal(l.n, 2);
	assert_true(l.rows[0].revoked_at > 0);
	assert_int_equal(l.rows[1].revoked_at, 0);
	tokens_clear(&l);

	/* revoking again, or an unknown name: ERR_NOTFOUND */
	assert_int_equal(store_begin(f->conn, &e), 0);
	err_clear(&e);
	assert_int_equal(auth_token_revoke(f->conn, NULL, "alice", "test", &e), ERR_NOTFOUND);
	assert_int_equal(e.code, ERR_NOTFOUND);
	assert_int_equal(auth_token_revoke(f->conn, NULL, "nobody", "test", &e), ERR_NOTFOUND);
	store_rollback(f->conn);

	/* the name is free again once revoked */
	assert_int_equal(store_begin(f->conn, &e), 0);
	assert_int_equal(
		auth_token_create(f->conn, NULL, "alice", ROLE_ADMIN, 0, "test", NULL, tok, &e), 0);
	assert_int_equal(store_commit(f->conn, &e), 0);

	/* the chain stays valid through all of it */
	struct audit_result r;
	assert_int_equal(event_audit(f->conn, &r, &e), 0);
	assert_int_equal(r.bad_id, 0);
	assert_int_equal(r.checked, 4);
}

static void test_create_invalid(void **state)
{
	struct tmpdb_fixture *f = *state;
	struct err e;
	assert_int_equal(store_begin(f->conn, &e), 0);
	err_clear(&e);
	assert_int_equal(auth_token_create(f->conn, NULL, "bad name", ROLE_VIEWER, 0, "test", NULL,
					   NULL, &e),
			 ERR_INVALID);
	assert_string_equal(e.field, "name");
	err_clear(&e);
	assert_int_equal(
		auth_token_create(f->conn, NULL, "", ROLE_VIEWER, 0, "test", NULL, NULL, &e),
		ERR_INVALID);
	assert_string_equal(e.field, "name");
	err_clear(&e);
	assert_int_equal(
		auth_token_create(f->conn, NULL, "ok", ROLE_NONE, 0, "test", NULL, NULL, &e),
		ERR_INVALID);
	assert_string_equal(e.field, "role");
	store_rollback(f->conn);
	struct token_list l = {0};
	assert_int_equal(store_token_list(f->conn, collect_tokens, &l, &e), 0);
	assert_int_equal(l.n, 0);
}

static void test_cache(void **state)
{
	struct tmpdb_fixture *f = *state;
	struct err e;
	int64_t now = time_now_ms();
	char t_admin[AUTH_TOKEN_LEN + 1], t_view[AUTH_TOKEN_LEN + 1], t_exp[AUTH_TOKEN_LEN + 1],
		t_rev[AUTH_TOKEN_LEN + 1];
	assert_int_equal(store_begin(f->conn, &e), 0);
	assert_int_equal(
		auth_token_create(f->conn, NULL, "root", ROLE_ADMIN, 0, "test", NULL, t_admin, &e),
		0);
	assert_int_equal(auth_token_create(f->conn, NULL, "viewer1", ROLE_VIEWER, now + 3600000,
					   "test", NULL, t_view, &e),
			 0);
	assert_int_equal(auth_token_create(f->conn, NULL, "old", ROLE_RESPONDER, now - 1000, "test",
					   NULL, t_exp, &e),
			 0);
	assert_int_equal(
		auth_token_create(f->conn, NULL, "gone", ROLE_APPROVER, 0, "test", NULL, t_rev, &e),
		0);
	assert_int_equal(auth_token_revoke(f->conn, NULL, "gone", "test", &e), 0);
	assert_int_equal(store_commit(f->conn, &e), 0);

	struct auth_cache *ac = NULL;
	assert_int_equal(auth_cache_load(f->conn, &ac, &e), 0);
	assert_non_null(ac);
	assert_int_equal(ac->live_tokens, 3); /* unrevoked, expired or not */
	int64_t version;
	assert_int_equal(store_token_version(f->conn, &version, &e), 0);
	assert_int_equal(ac->version, version);
	/* entries sorted by hash */
	for (size_t i = 1; i < ac->n; i++)
		assert_true(memcmp(ac->entries[i - 1].hash, ac->entries[i].hash, 32) < 0);

	const struct auth_entry *en = auth_cache_check(ac, t_admin, now);
	assert_non_null(en);
	assert_string_equal(en->name, "root");
	assert_int_equal(en->role, ROLE_ADMIN);
	assert_int_equal(en->expires_at, 0);

	en = auth_cache_check(ac, t_view, now);
	assert_non_null(en);
	assert_string_equal(en->name, "viewer1");
	assert_int_equal(en->role, ROLE_VIEWER);
	/* valid until its expiry, not at it */
	assert_non_null(auth_cache_check(ac, t_view, now + 3600000 - 1));
	assert_null(auth_cache_check(ac, t_view, now + 3600000));
	assert_null(auth_cache_check(ac, t_view, now + 3600001));

	/* expired, revoked, unknown, malformed */
	assert_null(auth_cache_check(ac, t_exp, now));
	assert_non_null(auth_cache_check(ac, t_exp, now - 2000)); /* it was valid before */
	assert_null(auth_cache_check(ac, t_rev, now));
	char unknown[AUTH_TOKEN_LEN + 1];
	auth_token_generate(unknown);
	assert_null(auth_cache_check(ac, unknown, now));
	assert_null(auth_cache_check(ac, "", now));
	assert_null(auth_cache_check(ac, NULL, now));
	char prefix[AUTH_TOKEN_LEN + 1];
	memcpy(prefix, t_admin, AUTH_TOKEN_LEN);
	prefix[AUTH_TOKEN_LEN - 1] = '\0';
	assert_null(auth_cache_check(ac, prefix, now));
	char longer[AUTH_TOKEN_LEN + 2];
	snprintf(longer, sizeof longer, "%sA", t_admin);
	assert_null(auth_cache_check(ac, longer, now));
	char huge[1024];
	memset(huge, 'a', sizeof huge - 1);
	huge[sizeof huge - 1] = '\0';
	assert_null(auth_cache_check(ac, huge, now));
	assert_null(auth_cache_check(NULL, t_admin, now));
	auth_cache_free(ac);
	auth_cache_free(NULL);
}

static void test_cache_follows_changes(void **state)
{
	struct tmpdb_fixture *f = *state;
	struct err e;
	int64_t now = time_now_ms();
	char keep[AUTH_TOKEN_LEN + 1], tok[AUTH_TOKEN_LEN + 1];
	assert_int_equal(store_begin(f->conn, &e), 0);
	assert_int_equal(
		auth_token_create(f->conn, NULL, "dave", ROLE_VIEWER, 0, "test", NULL, keep, &e),
		0);
	assert_int_equal(store_commit(f->conn, &e), 0);
	struct auth_cache *before = NULL;
	assert_int_equal(auth_cache_load(f->conn, &before, &e), 0);
	assert_int_equal(before->n, 1);
	assert_int_equal(before->live_tokens, 1);

	assert_int_equal(store_begin(f->conn, &e), 0);
	assert_int_equal(
		auth_token_create(f->conn, NULL, "carol", ROLE_RESPONDER, 0, "test", NULL, tok, &e),
		0);
	assert_int_equal(store_commit(f->conn, &e), 0);
	assert_null(auth_cache_check(before, tok, now)); /* the old cache does not know it */
	assert_non_null(auth_cache_check(before, keep, now));

	/* a second connection (another process, say) sees the new version */
	struct store_conn *other = NULL;
	assert_int_equal(store_connect(f->store, true, &other, &e), 0);
	int64_t v;
	assert_int_equal(store_token_version(other, &v, &e), 0);
	assert_true(v != before->version);
	struct auth_cache *ac = NULL;
	assert_int_equal(auth_cache_load(other, &ac, &e), 0);
	assert_int_equal(ac->version, v);
	assert_memory_equal(ac->key, before->key, 32); /* the database's key */
	const struct auth_entry *en = auth_cache_check(ac, tok, now);
	assert_non_null(en);
	assert_int_equal(en->role, ROLE_RESPONDER);
	assert_non_null(auth_cache_check(ac, keep, now));
	auth_cache_free(ac);

	assert_int_equal(store_begin(f->conn, &e), 0);
	assert_int_equal(auth_token_revoke(f->conn, NULL, "carol", "test", &e), 0);
	assert_int_equal(store_commit(f->conn, &e), 0);
	int64_t v2;
	assert_int_equal(store_token_version(other, &v2, &e), 0);
	assert_true(v2 != v);
	assert_int_equal(auth_cache_load(other, &ac, &e), 0);
	assert_null(auth_cache_check(ac, tok, now));
	assert_non_null(auth_cache_check(ac, keep, now));
	assert_int_equal(ac->live_tokens, 1);
	auth_cache_free(ac);
	store_disconnect(other);
	auth_cache_free(before);
}

/* A store with no live token (a fresh database, or every token revoked): loading and
 * checking must work without undefined behaviour. The cache part runs in a child
 * process so that, under -fsanitize=undefined with halt_on_error, a report fails this
 * test without killing the rest of the suite (or leaving the database behind). */
static void test_cache_empty(void **state)
{
	struct tmpdb_fixture *f = *state;
	struct err e;
	char tok[AUTH_TOKEN_LEN + 1];
	assert_int_equal(store_begin(f->conn, &e), 0);
	assert_int_equal(
		auth_token_create(f->conn, NULL, "erin", ROLE_ADMIN, 0, "test", NULL, tok, &e), 0);
	assert_int_equal(auth_token_revoke(f->conn, NULL, "erin", "test", &e), 0);
	assert_int_equal(store_commit(f->conn, &e), 0);

	fflush(NULL);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct store_conn *c = NULL;
		struct auth_cache *ac = NULL;
		int code = 0;
		if (store_connect(f->store, true, &c, &e))
			code = 10;
		else if (auth_cache_load(c, &ac, &e))
			code = 11;
		else if (ac->n != 0 || ac->live_tokens != 0)
			code = 12;
		else if (auth_cache_check(ac, tok, time_now_ms()))
			code = 13;
		auth_cache_free(ac);
		store_disconnect(c);
		_exit(code);
	}
	int status = 0;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		fail_msg("empty cache: child %s %d (see the sanitizer report above, if any)",
			 WIFEXITED(status) ? "exited with" : "killed by signal",
			 WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
}

int main(void)
{
	if (sodium_init() < 0)
		return 1;
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roles),
		cmocka_unit_test(test_valid_names),
		cmocka_unit_test(test_token_generate),
		cmocka_unit_test(test_token_hash),
		cmocka_unit_test(test_token_hash_known_answer),
		cmocka_unit_test_setup_teardown(test_create_and_revoke, tmpdb_setup,
						tmpdb_teardown),
		cmocka_unit_test_setup_teardown(test_create_invalid, tmpdb_setup, tmpdb_teardown),
		cmocka_unit_test_setup_teardown(test_cache, tmpdb_setup, tmpdb_teardown),
		cmocka_unit_test_setup_teardown(test_cache_follows_changes, tmpdb_setup,
						tmpdb_teardown),
		cmocka_unit_test_setup_teardown(test_cache_empty, tmpdb_setup, tmpdb_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
