/* test_settings.c — runtime settings (src/core/settings.h, SPEC §5.3): the tracker
 * value validated by the configuration's own key table with every key path named,
 * ${VAR} refused, secrets kept with "****" and masked, canary bounds, changed_fields
 * in the settings_changed event, the API forms, and the provider read. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "tmpdb.h"

#include "config/config.h"
#include "core/event.h"
#include "core/settings.h"
#include "store/store.h"
#include "util/json.h"

/* In the sanitizer build, undefined behaviour fails the test instead of only being
 * printed (unused otherwise). */
const char *__ubsan_default_options(void);
const char *__ubsan_default_options(void)
{
	return "halt_on_error=1:print_stacktrace=1";
}

/* A file tracker block with secrets, for "****" to keep. */
static const char file_yaml[] = "tracker:\n"
				"  provider: github\n"
				"  github: {token: file-token, owner: acme, repo: web}\n"
				"  jira: {api_token: file-jira}\n";

static json_t *J(const char *text)
{
	json_error_t je;
	json_t *v = json_loads(text, JSON_DECODE_ANY, &je);
	if (!v)
		fail_msg("bad test JSON: %s: %s", text, je.text);
	return v;
}

static struct config *file_config(void)
{
	struct config *c = NULL;
	struct err e;
	err_clear(&e);
	if (config_load_string(file_yaml, strlen(file_yaml), "test.yaml", NULL, &c, &e))
		fail_msg("config: %s", e.msg);
	return c;
}

static const char *at_path(const json_t *v, const char *a, const char *b)
{
	const json_t *o = json_object_get(v, a);
	return json_get_str(b ? o : v, b ? b : a);
}

/* ---- keys ---- */

static void test_key_known(void **state)
{
	(void)state;
	static const struct {
		const char *key;
		bool ok;
	} cases[] = {
		{"tracker", true},     {"canary.web", true}, {"canary.a-b_c.1", true},
		{"canary.", false},    {"canary", false},    {"canary.a/b", false},
		{"canary.a b", false}, {"canary.é", false},  {"tracker.github", false},
		{"Tracker", false},    {"notify", false},    {"", false},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		assert_int_equal(settings_key_known(cases[i].key), cases[i].ok);
	char name[7 + 66] = "canary.";
	memset(name + 7, 'x', 64);
	name[7 + 64] = '\0';
	assert_true(settings_key_known(name));
	name[7 + 64] = 'x';
	name[7 + 65] = '\0';
	assert_false(settings_key_known(name));
	assert_false(settings_key_known(NULL));
}

/* ---- tracker validation: every key path of the table is named ---- */

static void test_tracker_errors_name_the_key(void **state)
{
	(void)state;
	static const struct {
		const char *value, *field, *msg;
	} cases[] = {
		{"{\"provider\": \"bugzilla\"}", "value.provider", "one of none, github"},
		{"{\"provider\": 1}", "value.provider", "one of none"},
		{"{\"provider\": \"github\", \"github\": {\"owner\": \"o\", \"repo\": \"r\"}}",
		 "value.github.token", "required when tracker.provider is github"},
		{"{\"github\": {\"token\": \"a\\nb\"}}", "value.github.token", "CR or LF"},
		{"{\"github\": {\"owner\": \"a/b\"}}", "value.github.owner", "may contain only"},
		{"{\"github\": {\"repo\": \"..\"}}", "value.github.repo", "may contain only"},
		{"{\"github\": {\"base_url\": \"ftp://x\"}}", "value.github.base_url",
		 "http:// or https://"},
		{"{\"github\": {\"base_url\": \"https://x/?q\"}}", "value.github.base_url",
		 "without ?query"},
		{"{\"github\": {\"assignees\": {\"alice\": \" \"}}}",
		 "value.github.assignees.alice", "must not be blank"},
		{"{\"github\": {\"assignees\": []}}", "value.github.assignees",
		 "expected a mapping"},
		{"{\"github\": {\"tokn\": \"x\"}}", "value.github.tokn", "did you mean token?"},
		{"{\"github\": \"x\"}", "value.github", "expected a mapping"},
		{"{\"provider\": \"gitlab\"}", "value.gitlab.token",
		 "required when tracker.provider is gitlab"},
		{"{\"gitlab\": {\"project_id\": \"-x\"}}", "value.gitlab.project_id", "numeric"},
		{"{\"gitlab\": {\"base_url\": \"gitlab.com\"}}", "value.gitlab.base_url",
		 "http:// or https://"},
		{"{\"provider\": \"jira\"}", "value.jira.base_url",
		 "required when tracker.provider is jira"},
		{"{\"jira\": {\"email\": \"a\\r\\nX-Evil: 1\"}}", "value.jira.email", "CR or LF"},
		{"{\"provider\": \"jira\", \"jira\": {\"base_url\": \"https://j\", \"email\": \"e\", "
		 "\"project_key\": \"OPS\"}}",
		 "value.jira.api_token", "required when tracker.provider is jira"},
		{"{\"jira\": {\"project_key\": \"1OPS\"}}", "value.jira.project_key",
		 "Jira project"},
		{"{\"jira\": {\"issue_type\": [\"Bug\"]}}", "value.jira.issue_type",
		 "expected a string"},
		{"{\"jira\": {\"close_transition\": {}}}", "value.jira.close_transition",
		 "expected a string"},
		{"{\"sync\": {\"comment_on_transition\": \"maybe\"}}",
		 "value.sync.comment_on_transition", "true or false"},
		{"{\"sync\": {\"close_on\": \"sometimes\"}}", "value.sync.close_on",
		 "one of resolved, closed or never"},
		{"{\"sync\": {\"nope\": 1}}", "value.sync.nope", "unknown key"},
		{"{\"pace\": {\"per_minute\": 0}}", "value.pace.per_minute",
		 "between 1 and 100000"},
		{"{\"pace\": {\"burst\": 100001}}", "value.pace.burst", "between 1 and 100000"},
		{"{\"pace\": {\"burst\": 1.5}}", "value.pace.burst", "expected an integer"},
		{"{\"templates_dir\": []}", "value.templates_dir", "expected a string"},
		{"{\"githb\": {}}", "value.githb", "did you mean github?"},
		{"{\"github\": {\"owner\": \"${HOME}\"}}", "value.github.owner", "not expanded"},
		{"{\"jira\": {\"api_token\": \"x${SECRET:-y}\"}}", "value.jira.api_token",
		 "not expanded"},
		{"[]", "value", "a tracker block"},
		{"\"github\"", "value", "a tracker block"},
	};
	struct config *cfg = config_defaults();
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		json_t *v = J(cases[i].value), *out = NULL;
		struct err e;
		err_clear(&e);
		int rc = settings_validate(cfg, "tracker", v, NULL, &out, &e);
		if (rc != ERR_INVALID || strcmp(e.field, cases[i].field) ||
		    !strstr(e.msg, cases[i].msg) || strstr(e.msg, "tracker.github") ||
		    strstr(e.msg, ":1:"))
			fail_msg("case %zu %s: rc %d field '%s' msg '%s'", i, cases[i].value, rc,
				 e.field, e.msg);
		assert_null(out);
		json_decref(v);
	}
	config_free(cfg);
}

/* Several problems are all reported, each with its own name. */
static void test_tracker_every_problem(void **state)
{
	(void)state;
	struct config *cfg = config_defaults();
	json_t *v = J("{\"provider\": \"github\", \"pace\": {\"burst\": 0}, \"sync\": {\"x\": 1}}");
	json_t *out = NULL;
	struct err e;
	err_clear(&e);
	assert_int_equal(settings_validate(cfg, "tracker", v, NULL, &out, &e), ERR_INVALID);
	assert_string_equal(e.field, "value.pace.burst");
	assert_non_null(strstr(e.msg, "value.pace.burst: must be between 1 and 100000, got 0; "
				      "value.sync.x: unknown key"));
	json_decref(v);
	/* NUL inside a string cannot hide the rest of it */
	v = J("{\"github\": {}}");
	json_object_set_new(json_object_get(v, "github"), "owner", json_stringn("a\0b", 3));
	assert_int_equal(settings_validate(cfg, "tracker", v, NULL, &out, &e), ERR_INVALID);
	assert_string_equal(e.field, "value.github.owner");
	assert_non_null(strstr(e.msg, "NUL"));
	json_decref(v);
	config_free(cfg);
}

/* A valid block is stored whole, as the loader normalised it. */
static void test_tracker_normalised(void **state)
{
	(void)state;
	struct config *cfg = config_defaults();
	json_t *v = J("{\"provider\": \"github\", \"github\": {\"token\": \"t0k\", \"owner\": "
		      "\"acme\", \"repo\": \"web\", \"base_url\": \"https://ghe.example/api/\", "
		      "\"assignees\": {\"alice\": \"al\"}}, \"sync\": {\"close_on\": null}}");
	json_t *out = NULL;
	struct err e;
	err_clear(&e);
	assert_int_equal(settings_validate(cfg, "tracker", v, NULL, &out, &e), 0);
	assert_string_equal(json_get_str(out, "provider"), "github");
	assert_string_equal(at_path(out, "github", "token"), "t0k");
	assert_string_equal(at_path(out, "github", "base_url"), "https://ghe.example/api");
	assert_string_equal(
		json_get_str(json_object_get(json_object_get(out, "github"), "assignees"), "alice"),
		"al");
	assert_string_equal(at_path(out, "gitlab", "base_url"), "https://gitlab.com");
	assert_string_equal(at_path(out, "jira", "issue_type"), "Bug");
	assert_string_equal(at_path(out, "sync", "close_on"), "resolved");
	assert_true(json_is_true(
		json_object_get(json_object_get(out, "sync"), "comment_on_transition")));
	assert_int_equal(
		json_integer_value(json_object_get(json_object_get(out, "pace"), "per_minute")),
		60);
	assert_string_equal(json_get_str(out, "templates_dir"), "");
	/* what is stored loads back to itself */
	json_t *again = NULL;
	assert_int_equal(settings_validate(cfg, "tracker", out, NULL, &again, &e), 0);
	assert_true(json_equal(out, again));
	json_decref(again);
	json_decref(out);
	json_decref(v);
	config_free(cfg);
}

/* Strings reach the loader exactly as sent: quotes, backslashes, non-ASCII, line
 * separators YAML would fold, characters libyaml's reader refuses raw. */
static void test_tracker_strings_exact(void **state)
{
	(void)state;
	static const char *const texts[] = {
		"say \"hi\" \\ back",
		"é ü 漢字 😀",
		"a\xc2\x85"
		"b",
		"a\xe2\x80\xa8"
		"b",
		"a\xef\xbf\xbe"
		"b",
		"\xc2\x80\xc2\x9f",
		"\t tab",
		"#not a comment",
		"- x: y",
		"null",
		"true",
		"0x1F",
		"~",
	};
	struct config *cfg = config_defaults();
	for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
		json_t *v = jpack("{s{ss}}", "jira", "close_transition", texts[i]), *out = NULL;
		struct err e;
		err_clear(&e);
		if (settings_validate(cfg, "tracker", v, NULL, &out, &e))
			fail_msg("case %zu: %s", i, e.msg);
		assert_string_equal(at_path(out, "jira", "close_transition"), texts[i]);
		json_decref(out);
		json_decref(v);
	}
	config_free(cfg);
}

/* "****" keeps the stored secret, else the file's; anything else replaces it. */
static void test_tracker_secret_kept(void **state)
{
	(void)state;
	struct config *cfg = file_config();
	json_t *v = J("{\"provider\": \"github\", \"github\": {\"token\": \"****\", \"owner\": "
		      "\"acme\", \"repo\": \"web\"}, \"jira\": {\"api_token\": \"****\"}}");
	json_t *out = NULL, *out2 = NULL, *out3 = NULL;
	struct err e;
	err_clear(&e);
	assert_int_equal(settings_validate(cfg, "tracker", v, NULL, &out, &e), 0);
	assert_string_equal(at_path(out, "github", "token"), "file-token");
	assert_string_equal(at_path(out, "jira", "api_token"), "file-jira");
	/* with a stored value, that one is kept */
	json_t *stored = json_deep_copy(out);
	json_object_set_new(json_object_get(stored, "github"), "token", json_string("stored"));
	assert_int_equal(settings_validate(cfg, "tracker", v, stored, &out2, &e), 0);
	assert_string_equal(at_path(out2, "github", "token"), "stored");
	/* a new secret replaces it; a "****" where nothing is stored keeps "" */
	json_object_set_new(json_object_get(v, "github"), "token", json_string("new-token"));
	json_object_set_new(json_object_get(v, "jira"), "api_token", json_string("****"));
	json_object_set_new(json_object_get(stored, "jira"), "api_token", json_string(""));
	assert_int_equal(settings_validate(cfg, "tracker", v, stored, &out3, &e), 0);
	assert_string_equal(at_path(out3, "github", "token"), "new-token");
	assert_string_equal(at_path(out3, "jira", "api_token"), "");
	/* a kept secret stays with its host: "****" beside a changed base_url is refused,
	 * a new secret beside it is not; a trailing '/' or the default written out is no
	 * change */
	json_t *moved = J("{\"provider\": \"github\", \"github\": {\"token\": \"****\", "
			  "\"owner\": \"acme\", \"repo\": \"web\", \"base_url\": "
			  "\"https://evil.example\"}}"),
	       *out4 = NULL;
	assert_int_equal(settings_validate(cfg, "tracker", moved, NULL, &out4, &e), ERR_INVALID);
	assert_string_equal(e.field, "value.github.token");
	assert_non_null(strstr(e.msg, "only while base_url stays the same"));
	assert_null(strstr(e.msg, "file-token"));
	json_object_set_new(json_object_get(moved, "github"), "base_url",
			    json_string("https://api.github.com/"));
	assert_int_equal(settings_validate(cfg, "tracker", moved, NULL, &out4, &e), 0);
	assert_string_equal(at_path(out4, "github", "token"), "file-token");
	json_decref(out4);
	json_object_set_new(json_object_get(moved, "github"), "base_url",
			    json_string("https://ghe.example/api"));
	json_object_set_new(json_object_get(moved, "github"), "token", json_string("ghe-token"));
	assert_int_equal(settings_validate(cfg, "tracker", moved, NULL, &out4, &e), 0);
	json_decref(out4);
	json_decref(moved);
	moved = J("{\"jira\": {\"api_token\": \"****\", \"base_url\": \"https://j.example\"}}");
	assert_int_equal(settings_validate(cfg, "tracker", moved, NULL, &out4, &e), ERR_INVALID);
	assert_string_equal(e.field, "value.jira.api_token");
	json_decref(moved);

	/* "****" in a key that is no secret is a value like any other */
	json_object_set_new(json_object_get(v, "github"), "owner", json_string("****"));
	json_decref(out3);
	assert_int_equal(settings_validate(cfg, "tracker", v, stored, &out3, &e), ERR_INVALID);
	assert_string_equal(e.field, "value.github.owner");
	json_decref(stored);
	json_decref(out);
	json_decref(out2);
	json_decref(v);
	config_free(cfg);
}

/* A file secret holding "${...}" after expansion is kept as that text, not expanded
 * a second time through the setting. */
static void test_tracker_kept_secret_not_expanded(void **state)
{
	(void)state;
	setenv("SETTINGS_TEST_TOKEN", "ab${HOME}cd", 1);
	static const char yaml[] =
		"tracker:\n  provider: gitlab\n"
		"  gitlab: {token: \"${SETTINGS_TEST_TOKEN}\", project_id: 42}\n";
	struct config *cfg = NULL;
	struct err e;
	err_clear(&e);
	assert_int_equal(config_load_string(yaml, strlen(yaml), "t.yaml", NULL, &cfg, &e), 0);
	assert_string_equal(cfg->tracker.gitlab.token, "ab${HOME}cd");
	json_t *v = J("{\"provider\": \"gitlab\", \"gitlab\": {\"token\": \"****\", "
		      "\"project_id\": \"42\"}}"),
	       *out = NULL;
	assert_int_equal(settings_validate(cfg, "tracker", v, NULL, &out, &e), 0);
	assert_string_equal(at_path(out, "gitlab", "token"), "ab${HOME}cd");
	json_decref(out);
	json_decref(v);
	config_free(cfg);
	unsetenv("SETTINGS_TEST_TOKEN");
}

/* ---- canary ---- */

static void test_canary_bounds(void **state)
{
	(void)state;
	static const char *const ok[] = {
		"{\"version\": \"v2\", \"baseline_version\": \"v1\", \"canary_pct\": 0, "
		"\"kill_switch\": false}",
		"{\"version\": \"v2\", \"baseline_version\": \"\", \"canary_pct\": 100, "
		"\"kill_switch\": true}",
	};
	static const struct {
		const char *value, *field;
	} bad[] = {
		{"{\"baseline_version\": \"v1\", \"canary_pct\": 5, \"kill_switch\": false}",
		 "value.version"},
		{"{\"version\": \"v2\", \"canary_pct\": 5, \"kill_switch\": false}",
		 "value.baseline_version"},
		{"{\"version\": \"v2\", \"baseline_version\": \"v1\", \"kill_switch\": false}",
		 "value.canary_pct"},
		{"{\"version\": \"v2\", \"baseline_version\": \"v1\", \"canary_pct\": 5}",
		 "value.kill_switch"},
		{"{\"version\": \"\", \"baseline_version\": \"v1\", \"canary_pct\": 5, "
		 "\"kill_switch\": false}",
		 "value.version"},
		{"{\"version\": \"  \", \"baseline_version\": \"v1\", \"canary_pct\": 5, "
		 "\"kill_switch\": false}",
		 "value.version"},
		{"{\"version\": 2, \"baseline_version\": \"v1\", \"canary_pct\": 5, "
		 "\"kill_switch\": false}",
		 "value.version"},
		{"{\"version\": \"v2\", \"baseline_version\": null, \"canary_pct\": 5, "
		 "\"kill_switch\": false}",
		 "value.baseline_version"},
		{"{\"version\": \"v2\", \"baseline_version\": \"v1\", \"canary_pct\": -1, "
		 "\"kill_switch\": false}",
		 "value.canary_pct"},
		{"{\"version\": \"v2\", \"baseline_version\": \"v1\", \"canary_pct\": 101, "
		 "\"kill_switch\": false}",
		 "value.canary_pct"},
		{"{\"version\": \"v2\", \"baseline_version\": \"v1\", \"canary_pct\": 50.0, "
		 "\"kill_switch\": false}",
		 "value.canary_pct"},
		{"{\"version\": \"v2\", \"baseline_version\": \"v1\", \"canary_pct\": \"5\", "
		 "\"kill_switch\": false}",
		 "value.canary_pct"},
		{"{\"version\": \"v2\", \"baseline_version\": \"v1\", \"canary_pct\": 5, "
		 "\"kill_switch\": \"false\"}",
		 "value.kill_switch"},
		{"{\"version\": \"v2\", \"baseline_version\": \"v1\", \"canary_pct\": 5, "
		 "\"kill_switch\": false, \"weight\": 1}",
		 "value.weight"},
		{"[1]", "value"},
	};
	struct config *cfg = config_defaults();
	struct err e;
	for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
		json_t *v = J(ok[i]), *out = NULL;
		err_clear(&e);
		if (settings_validate(cfg, "canary.web", v, NULL, &out, &e))
			fail_msg("ok %zu: %s", i, e.msg);
		assert_true(json_equal(v, out));
		json_decref(out);
		json_decref(v);
	}
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		json_t *v = J(bad[i].value), *out = NULL;
		err_clear(&e);
		int rc = settings_validate(cfg, "canary.web", v, NULL, &out, &e);
		if (rc != ERR_INVALID || strcmp(e.field, bad[i].field))
			fail_msg("bad %zu: rc %d field '%s' (%s)", i, rc, e.field, e.msg);
		json_decref(v);
	}
	/* lengths count characters: 128 é pass, 129 do not */
	for (int n = 128; n <= 129; n++) {
		for (int which = 0; which < 2; which++) {
			struct buf s = BUF_INIT;
			for (int k = 0; k < n; k++)
				buf_puts(&s, "é");
			json_t *v = jpack("{ss ss si sb}", "version", which ? "v" : s.data,
					  "baseline_version", which ? s.data : "", "canary_pct", 1,
					  "kill_switch", 0),
			       *out = NULL;
			err_clear(&e);
			int rc = settings_validate(cfg, "canary.web", v, NULL, &out, &e);
			assert_int_equal(rc, n == 128 ? 0 : ERR_INVALID);
			if (rc)
				assert_string_equal(e.field, which ? "value.baseline_version"
								   : "value.version");
			json_decref(out);
			json_decref(v);
			buf_free(&s);
		}
	}
	json_t *v = J("{}"), *out = NULL;
	assert_int_equal(settings_validate(cfg, "canary.", v, NULL, &out, &e), ERR_NOTFOUND);
	assert_int_equal(settings_validate(cfg, "webhooks", v, NULL, &out, &e), ERR_NOTFOUND);
	json_decref(v);
	config_free(cfg);
}

/* ---- masking ---- */

static void test_mask(void **state)
{
	(void)state;
	json_t *v = J("{\"token\": \"t\", \"api_token\": \"a\", \"api_key\": \"k\", "
		      "\"password\": \"p\", \"secret\": \"s\", \"routing_key\": \"r\", "
		      "\"owner\": \"acme\", \"nested\": {\"token\": \"deep\", \"list\": "
		      "[{\"secret\": \"x\"}]}, \"empty\": {\"token\": \"\", \"secret\": null}, "
		      "\"num\": {\"password\": 1234}, \"tokens\": \"not a secret key\"}");
	json_t *m = settings_mask(v);
	json_t *want =
		J("{\"token\": \"****\", \"api_token\": \"****\", \"api_key\": \"****\", "
		  "\"password\": \"****\", \"secret\": \"****\", \"routing_key\": \"****\", "
		  "\"owner\": \"acme\", \"nested\": {\"token\": \"****\", \"list\": "
		  "[{\"secret\": \"****\"}]}, \"empty\": {\"token\": \"\", \"secret\": null}, "
		  "\"num\": {\"password\": \"****\"}, \"tokens\": \"not a secret key\"}");
	assert_true(json_equal(m, want));
	/* the input is not touched */
	assert_string_equal(json_get_str(v, "token"), "t");
	json_decref(want);
	json_decref(m);
	json_decref(v);
}

/* ---- with a store ---- */

struct fx {
	struct tmpdb_fixture *db;
	struct config *cfg;
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof *f);
	void *db = NULL;
	if (!f || tmpdb_setup(&db)) {
		free(f);
		return -1;
	}
	f->db = db;
	f->cfg = file_config();
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

static int put(struct fx *f, const char *key, const char *value, const char *reason, struct err *e)
{
	json_t *v = J(value);
	err_clear(e);
	assert_int_equal(store_begin(f->db->conn, e), 0);
	int rc = settings_put(f->db->conn, f->cfg, key, v, "alice", reason, e);
	if (rc)
		store_rollback(f->db->conn);
	else
		assert_int_equal(store_commit(f->db->conn, e), 0);
	json_decref(v);
	return rc;
}

/* The data of the newest settings_changed event; its canonical text in *text. */
static json_t *last_change(struct fx *f, char **text)
{
	struct event ev = {0};
	struct err e;
	assert_int_equal(store_event_latest(f->db->conn, "settings_changed", &ev, &e), 0);
	assert_string_equal(ev.actor, "alice");
	json_t *d = J(ev.data);
	if (text)
		*text = strdup(ev.data);
	event_clear(&ev);
	return d;
}

static void assert_fields(const json_t *d, const char *want)
{
	json_t *w = J(want);
	if (!json_equal(json_object_get(d, "changed_fields"), w)) {
		char *got = json_dumps(d, JSON_COMPACT);
		fail_msg("changed_fields: want %s, event %s", want, got);
	}
	json_decref(w);
}

#define GH_PUT                                                                                     \
	"{\"provider\": \"github\", \"github\": {\"token\": \"%s\", \"owner\": \"acme\", "         \
	"\"repo\": \"%s\"}, \"jira\": {\"api_token\": \"****\"}}"

static void test_put_changed_fields(void **state)
{
	struct fx *f = *state;
	struct err e;
	char body[512], *text = NULL;
	/* first put against the file's block: the token and the repo */
	snprintf(body, sizeof body, GH_PUT, "ghp_SECRET1", "api");
	assert_int_equal(put(f, "tracker", body, "rotate", &e), 0);
	json_t *d = last_change(f, &text);
	assert_fields(d, "[\"github.repo\", \"github.token\"]");
	assert_string_equal(json_get_str(d, "key"), "tracker");
	assert_string_equal(json_get_str(d, "updated_by"), "alice");
	assert_string_equal(json_get_str(d, "reason"), "rotate");
	assert_int_equal(json_object_size(d), 4);
	assert_null(strstr(text, "ghp_SECRET1"));
	assert_null(strstr(text, "file-jira"));
	free(text);
	json_decref(d);
	/* the same again, secret sent back masked: nothing changed, still recorded */
	snprintf(body, sizeof body, GH_PUT, "****", "api");
	assert_int_equal(put(f, "tracker", body, "  no-op  ", &e), 0);
	d = last_change(f, NULL);
	assert_fields(d, "[]");
	assert_string_equal(json_get_str(d, "reason"), "no-op");
	json_decref(d);
	/* a new token is named, its value nowhere */
	snprintf(body, sizeof body, GH_PUT, "ghp_SECRET2", "api");
	assert_int_equal(put(f, "tracker", body, "rotate again", &e), 0);
	d = last_change(f, &text);
	assert_fields(d, "[\"github.token\"]");
	assert_null(strstr(text, "ghp_SECRET2"));
	free(text);
	json_decref(d);
	/* a provider switch names every leaf that moved, map entries included */
	assert_int_equal(
		put(f, "tracker",
		    "{\"provider\": \"gitlab\", \"gitlab\": {\"token\": \"gl\", "
		    "\"project_id\": \"g/p\"}, \"github\": {\"assignees\": {\"a\": \"b\"}}}",
		    "move", &e),
		0);
	d = last_change(f, NULL);
	assert_fields(d, "[\"github.assignees.a\", \"github.owner\", \"github.repo\", "
			 "\"github.token\", \"gitlab.project_id\", \"gitlab.token\", "
			 "\"jira.api_token\", \"provider\"]");
	json_decref(d);
	/* canary: everything is new the first time, then only what changed */
	assert_int_equal(
		put(f, "canary.web",
		    "{\"version\": \"v2\", \"baseline_version\": \"v1\", \"canary_pct\": 5, "
		    "\"kill_switch\": false}",
		    "start", &e),
		0);
	d = last_change(f, NULL);
	assert_fields(d, "[\"baseline_version\", \"canary_pct\", \"kill_switch\", \"version\"]");
	assert_string_equal(json_get_str(d, "key"), "canary.web");
	json_decref(d);
	assert_int_equal(
		put(f, "canary.web",
		    "{\"version\": \"v2\", \"baseline_version\": \"v1\", \"canary_pct\": 25, "
		    "\"kill_switch\": false}",
		    "ramp", &e),
		0);
	d = last_change(f, NULL);
	assert_fields(d, "[\"canary_pct\"]");
	json_decref(d);
	/* a refused value stores nothing and records nothing */
	assert_int_equal(
		put(f, "canary.web",
		    "{\"version\": \"v3\", \"baseline_version\": \"v1\", \"canary_pct\": 250, "
		    "\"kill_switch\": false}",
		    "too far", &e),
		ERR_INVALID);
	assert_string_equal(e.field, "value.canary_pct");
	d = last_change(f, NULL);
	assert_string_equal(json_get_str(d, "reason"), "ramp");
	json_decref(d);
}

static void test_put_reason_and_key(void **state)
{
	struct fx *f = *state;
	struct err e;
	const char *canary = "{\"version\": \"v2\", \"baseline_version\": \"v1\", "
			     "\"canary_pct\": 5, \"kill_switch\": false}";
	assert_int_equal(put(f, "canary.web", canary, "", &e), ERR_INVALID);
	assert_string_equal(e.field, "reason");
	assert_int_equal(put(f, "canary.web", canary, " \t ", &e), ERR_INVALID);
	assert_string_equal(e.field, "reason");
	assert_int_equal(put(f, "canary.web", canary, NULL, &e), ERR_INVALID);
	assert_string_equal(e.field, "reason");
	struct buf r = BUF_INIT;
	for (int i = 0; i < 1000; i++)
		buf_puts(&r, "é");
	assert_int_equal(put(f, "canary.web", canary, r.data, &e), 0);
	buf_puts(&r, "é");
	assert_int_equal(put(f, "canary.web", canary, r.data, &e), ERR_INVALID);
	assert_string_equal(e.field, "reason");
	buf_free(&r);
	assert_int_equal(put(f, "canary.bad/name", canary, "r", &e), ERR_NOTFOUND);
	assert_int_equal(put(f, "notify", "{}", "r", &e), ERR_NOTFOUND);
}

static void test_get_and_list(void **state)
{
	struct fx *f = *state;
	struct err e;
	json_t *g = NULL;
	/* unset tracker: the file's block, masked */
	assert_int_equal(settings_get_json(f->db->conn, f->cfg, "tracker", &g, &e), 0);
	assert_string_equal(json_get_str(g, "source"), "config");
	assert_true(json_is_null(json_object_get(g, "updated_at")));
	assert_true(json_is_null(json_object_get(g, "updated_by")));
	assert_true(json_is_null(json_object_get(g, "reason")));
	const json_t *v = json_object_get(g, "value");
	assert_string_equal(at_path(v, "github", "token"), "****");
	assert_string_equal(at_path(v, "github", "owner"), "acme");
	assert_string_equal(at_path(v, "gitlab", "token"), "");
	json_decref(g);
	assert_int_equal(settings_get_json(f->db->conn, f->cfg, "canary.web", &g, &e),
			 ERR_NOTFOUND);
	assert_int_equal(settings_get_json(f->db->conn, f->cfg, "bogus", &g, &e), ERR_NOTFOUND);
	assert_null(g);
	assert_int_equal(settings_canary_json(f->db->conn, "web", &g, &e), ERR_NOTFOUND);
	assert_int_equal(settings_canary_json(f->db->conn, "../x", &g, &e), ERR_NOTFOUND);

	char body[512];
	snprintf(body, sizeof body, GH_PUT, "ghp_SECRET", "api");
	assert_int_equal(put(f, "tracker", body, "why", &e), 0);
	assert_int_equal(put(f, "canary.zeta",
			     "{\"version\": \"z\", \"baseline_version\": \"y\", \"canary_pct\": 1, "
			     "\"kill_switch\": true}",
			     "z", &e),
			 0);
	assert_int_equal(
		put(f, "canary.alpha",
		    "{\"version\": \"a\", \"baseline_version\": \"\", \"canary_pct\": 100, "
		    "\"kill_switch\": false}",
		    "a", &e),
		0);
	assert_int_equal(settings_get_json(f->db->conn, f->cfg, "tracker", &g, &e), 0);
	assert_string_equal(json_get_str(g, "source"), "setting");
	assert_string_equal(json_get_str(g, "updated_by"), "alice");
	assert_string_equal(json_get_str(g, "reason"), "why");
	assert_true(json_is_string(json_object_get(g, "updated_at")));
	char *text = json_dumps(g, JSON_COMPACT);
	assert_null(strstr(text, "ghp_SECRET"));
	assert_null(strstr(text, "file-jira"));
	free(text);
	assert_string_equal(at_path(json_object_get(g, "value"), "jira", "api_token"), "****");
	json_decref(g);

	json_t *list = NULL;
	assert_int_equal(settings_list_json(f->db->conn, f->cfg, &list, &e), 0);
	assert_int_equal(json_array_size(list), 3);
	assert_string_equal(json_get_str(json_array_get(list, 0), "key"), "tracker");
	assert_string_equal(json_get_str(json_array_get(list, 1), "key"), "canary.alpha");
	assert_string_equal(json_get_str(json_array_get(list, 2), "key"), "canary.zeta");
	text = json_dumps(list, JSON_COMPACT);
	assert_null(strstr(text, "ghp_SECRET"));
	free(text);
	json_decref(list);

	assert_int_equal(settings_canary_json(f->db->conn, "zeta", &g, &e), 0);
	json_t *want = J("{\"name\": \"zeta\", \"version\": \"z\", \"baseline_version\": \"y\", "
			 "\"canary_pct\": 1, \"kill_switch\": true}");
	json_object_set(want, "updated_at", json_object_get(g, "updated_at"));
	assert_true(json_is_string(json_object_get(g, "updated_at")));
	assert_true(json_equal(g, want));
	json_decref(want);
	json_decref(g);

	/* a damaged row is a storage error, never a default */
	assert_int_equal(
		store_exec_sql(f->db->conn,
			       "UPDATE settings SET value = 'nope' WHERE key = 'canary.zeta'", &e),
		0);
	assert_int_equal(settings_get_json(f->db->conn, f->cfg, "canary.zeta", &g, &e), ERR_IO);
	assert_int_equal(settings_list_json(f->db->conn, f->cfg, &list, &e), ERR_IO);
	assert_int_equal(settings_canary_json(f->db->conn, "zeta", &g, &e), ERR_IO);
	assert_int_equal(
		store_exec_sql(f->db->conn,
			       "UPDATE settings SET value = '{\"version\": 1}' WHERE key = "
			       "'canary.alpha'",
			       &e),
		0);
	assert_int_equal(settings_canary_json(f->db->conn, "alpha", &g, &e), ERR_IO);
}

static void test_tracker_in_effect(void **state)
{
	struct fx *f = *state;
	struct err e;
	enum config_provider p = CONFIG_PROVIDER_JIRA;
	struct config *t = NULL;
	/* unset: the file's block */
	assert_int_equal(settings_tracker_provider(f->db->conn, f->cfg, &p, &e), 0);
	assert_int_equal(p, CONFIG_PROVIDER_GITHUB);
	assert_int_equal(settings_tracker(f->db->conn, f->cfg, &t, &e), 0);
	assert_int_equal(t->tracker.provider, CONFIG_PROVIDER_GITHUB);
	assert_string_equal(t->tracker.github.token, "file-token");
	assert_string_equal(t->tracker.github.repo, "web");
	assert_string_equal(t->tracker.jira.api_token, "file-jira");
	config_free(t);
	/* set: the setting's, with the kept secret */
	assert_int_equal(put(f, "tracker",
			     "{\"provider\": \"gitlab\", \"gitlab\": {\"token\": \"gl-t\", "
			     "\"project_id\": \"7\"}, \"jira\": {\"api_token\": \"****\"}, "
			     "\"pace\": {\"burst\": 3}}",
			     "switch", &e),
			 0);
	assert_int_equal(settings_tracker_provider(f->db->conn, f->cfg, &p, &e), 0);
	assert_int_equal(p, CONFIG_PROVIDER_GITLAB);
	assert_int_equal(settings_tracker(f->db->conn, f->cfg, &t, &e), 0);
	assert_int_equal(t->tracker.provider, CONFIG_PROVIDER_GITLAB);
	assert_string_equal(t->tracker.gitlab.token, "gl-t");
	assert_string_equal(t->tracker.gitlab.project_id, "7");
	assert_string_equal(t->tracker.github.token, "");
	assert_string_equal(t->tracker.jira.api_token, "file-jira");
	assert_int_equal(t->tracker.pace.burst, 3);
	config_free(t);
	/* the file is not touched by a setting */
	assert_int_equal(f->cfg->tracker.provider, CONFIG_PROVIDER_GITHUB);

	/* how cheap the provider read is, against the full tracker (for the record) */
	enum { N = 2000 };
	struct timespec a, b, c;
	clock_gettime(CLOCK_MONOTONIC, &a);
	for (int i = 0; i < N; i++)
		assert_int_equal(settings_tracker_provider(f->db->conn, f->cfg, &p, &e), 0);
	clock_gettime(CLOCK_MONOTONIC, &b);
	for (int i = 0; i < N; i++) {
		assert_int_equal(settings_tracker(f->db->conn, f->cfg, &t, &e), 0);
		config_free(t);
	}
	clock_gettime(CLOCK_MONOTONIC, &c);
	double us_p =
		((double)(b.tv_sec - a.tv_sec) * 1e9 + (double)(b.tv_nsec - a.tv_nsec)) / N / 1e3;
	double us_t =
		((double)(c.tv_sec - b.tv_sec) * 1e9 + (double)(c.tv_nsec - b.tv_nsec)) / N / 1e3;
	printf("# settings_tracker_provider %.2f us/call, settings_tracker %.2f us/call\n", us_p,
	       us_t);

	/* the cheap read takes the top-level member only, and agrees with a full parse */
	static const struct {
		const char *stored;
		enum config_provider want;
	} scans[] = {
		{"{\"github\":{\"assignees\":{\"provider\":\"jira\"}},\"provider\":\"gitlab\"}",
		 CONFIG_PROVIDER_GITLAB},
		{"{\"a\":\"\\\"provider\\\":\\\"jira\\\"\",\"provider\":\"none\"}",
		 CONFIG_PROVIDER_NONE},
		{"{\"x\":[\"provider\",{\"provider\":\"jira\"}],\"provider\":\"github\"}",
		 CONFIG_PROVIDER_GITHUB},
		{" { \"provider\" :\n \"jira\" } ", CONFIG_PROVIDER_JIRA},
		{"{\"provid\\u0065r\":\"gitlab\"}", CONFIG_PROVIDER_GITLAB},
		{"{\"provider\":\"git\\u006cab\"}", CONFIG_PROVIDER_GITLAB},
	};
	for (size_t i = 0; i < sizeof scans / sizeof scans[0]; i++) {
		struct buf q = BUF_INIT;
		buf_printf(&q, "UPDATE settings SET value = '%s' WHERE key = 'tracker'",
			   scans[i].stored);
		assert_int_equal(store_exec_sql(f->db->conn, q.data, &e), 0);
		buf_free(&q);
		p = scans[i].want == CONFIG_PROVIDER_NONE ? CONFIG_PROVIDER_JIRA
							  : CONFIG_PROVIDER_NONE;
		if (settings_tracker_provider(f->db->conn, f->cfg, &p, &e) || p != scans[i].want)
			fail_msg("scan %zu (%s): provider %d, want %d", i, scans[i].stored, (int)p,
				 (int)scans[i].want);
	}

	/* a stored value naming no provider is a storage error */
	assert_int_equal(
		store_exec_sql(f->db->conn,
			       "UPDATE settings SET value = '{\"provider\": \"bugzilla\"}' "
			       "WHERE key = 'tracker'",
			       &e),
		0);
	assert_int_equal(settings_tracker_provider(f->db->conn, f->cfg, &p, &e), ERR_IO);
	assert_int_equal(settings_tracker(f->db->conn, f->cfg, &t, &e), ERR_IO);
	assert_null(t);
	static const char *const broken[] = {
		"[",
		"{\"github\":{\"provider\":\"jira\"}}",
		"{\"provider\":1}",
		"{\"provider\":\"gitlab",
	};
	for (size_t i = 0; i < sizeof broken / sizeof broken[0]; i++) {
		struct buf q = BUF_INIT;
		buf_printf(&q, "UPDATE settings SET value = '%s' WHERE key = 'tracker'", broken[i]);
		assert_int_equal(store_exec_sql(f->db->conn, q.data, &e), 0);
		buf_free(&q);
		if (settings_tracker_provider(f->db->conn, f->cfg, &p, &e) != ERR_IO)
			fail_msg("broken %zu (%s) was read", i, broken[i]);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_key_known),
		cmocka_unit_test(test_tracker_errors_name_the_key),
		cmocka_unit_test(test_tracker_every_problem),
		cmocka_unit_test(test_tracker_normalised),
		cmocka_unit_test(test_tracker_strings_exact),
		cmocka_unit_test(test_tracker_secret_kept),
		cmocka_unit_test(test_tracker_kept_secret_not_expanded),
		cmocka_unit_test(test_canary_bounds),
		cmocka_unit_test(test_mask),
		cmocka_unit_test_setup_teardown(test_put_changed_fields, setup, teardown),
		cmocka_unit_test_setup_teardown(test_put_reason_and_key, setup, teardown),
		cmocka_unit_test_setup_teardown(test_get_and_list, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tracker_in_effect, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
