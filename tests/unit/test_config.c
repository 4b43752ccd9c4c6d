/* test_config.c — the configuration loader (src/config/config.c).
 *
 * Runs with cwd = tests/ and SOURCE_ROOT = the repository root. Golden error texts live
 * in golden/config/<name>.{yaml,err}; UPDATE_GOLDEN=1 rewrites the .err files. */
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

#include "config/config.h"
#include "util/buf.h"

#define TEST_DIR "/srv/intervene"

static struct config *load_text_dir(const char *yaml, const char *dir, struct err *e)
{
	struct config *c = NULL;
	int rc = config_load_string(yaml, strlen(yaml), "t.yaml", dir, &c, e);
	if (rc == 0)
		assert_non_null(c);
	else
		assert_null(c);
	return c;
}

static struct config *load_ok(const char *yaml)
{
	struct err e;
	struct config *c = load_text_dir(yaml, TEST_DIR, &e);
	if (!c)
		fail_msg("unexpected error for:\n%s\n-> %s", yaml, e.msg);
	return c;
}

static void expect_error(const char *yaml, const char *msg)
{
	struct err e;
	struct config *c = load_text_dir(yaml, TEST_DIR, &e);
	if (c) {
		config_free(c);
		fail_msg("expected an error for:\n%s", yaml);
	}
	assert_int_equal(e.code, ERR_INVALID);
	if (strcmp(e.msg, msg))
		fail_msg("for:\n%s\nexpected: %s\n     got: %s", yaml, msg, e.msg);
}

static char *dump_str(const struct config *c)
{
	char *s = NULL;
	size_t n = 0;
	FILE *f = open_memstream(&s, &n);
	assert_non_null(f);
	config_dump(c, f);
	fclose(f);
	return s;
}

static char *read_all(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	struct buf b = BUF_INIT;
	char chunk[4096];
	size_t n;
	while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
		buf_append(&b, chunk, n);
	fclose(f);
	return buf_steal(&b);
}

/* ---- defaults ---- */

static void check_default_values(const struct config *c, const char *cwd)
{
	char want[4096];
	assert_string_equal(c->server.listen, "127.0.0.1:8080");
	assert_string_equal(c->server.public_url, "");
	assert_int_equal(c->server.max_body_bytes, 1048576);
	assert_int_equal(c->server.read_timeout_ms, 10000);
	assert_int_equal(c->server.max_connections, 10000);
	assert_int_equal(c->server.sse_heartbeat_ms, 15000);
	assert_int_equal(c->server.sse_max_clients, 10000);
	assert_false(c->server.metrics_public);
	assert_true(c->server.web);
	snprintf(want, sizeof want, "sqlite://%s/intervene.db", cwd);
	assert_string_equal(c->storage.url, want);
	assert_int_equal(c->storage.event_retention_ms, 30LL * 86400000);
	assert_int_equal(c->auth.mode, CONFIG_AUTH_TOKENS);
	assert_true(c->watcher.enabled);
	assert_int_equal(c->watcher.interval_ms, 15 * 60000);
	assert_int_equal(c->watcher.sla_interval_ms, 30000);
	assert_int_equal(c->watcher.invariant_lookback_ms, 60 * 60000);
	assert_true(c->watcher.auto_resolve);
	assert_int_equal(c->watcher.auto_resolve_after, 2);
	assert_int_equal(c->policy.rate_limit_max, 3);
	assert_int_equal(c->policy.rate_limit_window_ms[CONFIG_KIND_INVARIANT], 3600000);
	assert_int_equal(c->policy.rate_limit_window_ms[CONFIG_KIND_BUDGET], 4 * 3600000);
	assert_int_equal(c->policy.rate_limit_window_ms[CONFIG_KIND_PLANNER], 2 * 3600000);
	assert_int_equal(c->policy.rate_limit_window_ms[CONFIG_KIND_MANUAL], 3600000);
	assert_int_equal(c->policy.rate_limit_window_ms[CONFIG_KIND_ALERT], 3600000);
	assert_int_equal(c->policy.n_severity, 4);
	const char *words[] = {"critical", "high", "medium", "low"};
	for (int i = 0; i < 4; i++) {
		assert_string_equal(c->policy.severity[i].word, words[i]);
		assert_int_equal(c->policy.severity[i].sev, i + 1);
	}
	assert_int_equal(c->policy.sla[1].ack_ms, 5 * 60000);
	assert_int_equal(c->policy.sla[1].mitigate_ms, 30 * 60000);
	assert_int_equal(c->policy.sla[1].resolve_ms, 4 * 3600000);
	assert_int_equal(c->policy.sla[2].ack_ms, 15 * 60000);
	assert_int_equal(c->policy.sla[2].mitigate_ms, 4 * 3600000);
	assert_int_equal(c->policy.sla[2].resolve_ms, 24 * 3600000);
	assert_int_equal(c->policy.sla[3].ack_ms, 3600000);
	assert_int_equal(c->policy.sla[3].mitigate_ms, 24 * 3600000);
	assert_int_equal(c->policy.sla[3].resolve_ms, 7LL * 86400000);
	assert_int_equal(c->policy.sla[4].ack_ms, 0);
	assert_int_equal(c->policy.sla[4].mitigate_ms, 0);
	assert_int_equal(c->policy.sla[4].resolve_ms, 0);
	assert_int_equal(c->tracker.provider, CONFIG_PROVIDER_NONE);
	assert_string_equal(c->tracker.github.token, "");
	assert_string_equal(c->tracker.github.owner, "");
	assert_string_equal(c->tracker.github.repo, "");
	assert_string_equal(c->tracker.github.base_url, "https://api.github.com");
	assert_int_equal(c->tracker.github.n_assignees, 0);
	assert_string_equal(c->tracker.gitlab.token, "");
	assert_string_equal(c->tracker.gitlab.project_id, "");
	assert_string_equal(c->tracker.gitlab.base_url, "https://gitlab.com");
	assert_string_equal(c->tracker.jira.base_url, "");
	assert_string_equal(c->tracker.jira.email, "");
	assert_string_equal(c->tracker.jira.api_token, "");
	assert_string_equal(c->tracker.jira.project_key, "");
	assert_string_equal(c->tracker.jira.issue_type, "Bug");
	assert_string_equal(c->tracker.jira.close_transition, "");
	assert_true(c->tracker.sync.comment_on_transition);
	assert_int_equal(c->tracker.sync.close_on, CONFIG_CLOSE_ON_RESOLVED);
	assert_string_equal(c->tracker.templates_dir, "");
	assert_int_equal(c->notify.n_webhooks, 0);
	assert_string_equal(c->actions.dbt.command, "dbt");
	assert_int_equal(c->actions.dbt.n_project_dirs, 0);
	assert_non_null(c->actions.dbt.project_dirs);
	assert_null(c->actions.dbt.project_dirs[0]);
	assert_string_equal(c->actions.dbt.profiles_dir, "");
	assert_string_equal(c->actions.dbt.target, "");
	assert_int_equal(c->actions.dbt.timeout_ms, 2 * 3600000);
	assert_int_equal(c->actions.dbt.n_env, 0);
	assert_non_null(c->actions.dbt.env);
	assert_string_equal(c->actions.elasticsearch.url, "http://127.0.0.1:9200");
	assert_string_equal(c->actions.elasticsearch.api_key, "");
	assert_string_equal(c->actions.elasticsearch.username, "");
	assert_string_equal(c->actions.elasticsearch.password, "");
	assert_int_equal(c->actions.elasticsearch.timeout_ms, 30000);
	assert_int_equal(c->actions.approval_ttl_ms, 3600000);
	assert_int_equal(c->n_budgets, 0);
	assert_int_equal(c->canary.window_runs, 100);
	assert_int_equal(c->canary.min_samples, 30);
	assert_true(c->canary.max_quality_drop == 5);
	assert_true(c->canary.max_p95_latency_ms == 1600);
	assert_true(c->canary.max_avg_cost == 0.03);
}

/* Runs fn in a fresh empty directory (no intervene.yaml there). */
static void in_temp_dir(void (*fn)(const char *dir))
{
	char tmpl[] = "/tmp/test_config.XXXXXX";
	char old[4096], cwd[4096];
	assert_non_null(getcwd(old, sizeof old));
	assert_non_null(mkdtemp(tmpl));
	assert_int_equal(chdir(tmpl), 0);
	assert_non_null(getcwd(cwd, sizeof cwd));
	fn(cwd);
	assert_int_equal(chdir(old), 0);
	char cmd[4200];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpl);
	assert_int_equal(system(cmd), 0);
}

static void defaults_body(const char *cwd)
{
	unsetenv("INTERVENE_CONFIG");
	struct config *c = NULL;
	struct err e;
	assert_int_equal(config_load(NULL, &c, &e), 0);
	assert_string_equal(c->path, "");
	assert_string_equal(c->dir, cwd);
	check_default_values(c, cwd);

	struct config *d = config_defaults();
	check_default_values(d, cwd);
	char *a = dump_str(c), *b = dump_str(d);
	assert_string_equal(a, b);
	free(a);
	free(b);
	config_free(d);
	config_free(c);

	/* An empty file and a file holding only comments also give the defaults. */
	c = load_text_dir("", cwd, &e);
	assert_non_null(c);
	check_default_values(c, cwd);
	config_free(c);
	c = load_text_dir("# nothing here\n", cwd, &e);
	assert_non_null(c);
	check_default_values(c, cwd);
	config_free(c);

	/* ./intervene.yaml is picked up, then INTERVENE_CONFIG wins over it. */
	FILE *f = fopen("intervene.yaml", "w");
	fputs("server: {listen: 127.0.0.1:9001}\n", f);
	fclose(f);
	assert_int_equal(mkdir("sub", 0700), 0);
	f = fopen("sub/other.yaml", "w");
	fputs("server: {listen: 127.0.0.1:9002}\n", f);
	fclose(f);
	assert_int_equal(config_load(NULL, &c, &e), 0);
	assert_string_equal(c->server.listen, "127.0.0.1:9001");
	assert_string_equal(c->path, "intervene.yaml");
	config_free(c);
	setenv("INTERVENE_CONFIG", "sub/other.yaml", 1);
	assert_int_equal(config_load(NULL, &c, &e), 0);
	assert_string_equal(c->server.listen, "127.0.0.1:9002");
	char want[4200];
	snprintf(want, sizeof want, "%s/sub", cwd);
	assert_string_equal(c->dir, want);
	snprintf(want, sizeof want, "sqlite://%s/sub/intervene.db", cwd);
	assert_string_equal(c->storage.url, want);
	config_free(c);
	/* An explicit path wins over both. */
	assert_int_equal(config_load("intervene.yaml", &c, &e), 0);
	assert_string_equal(c->server.listen, "127.0.0.1:9001");
	config_free(c);
	unsetenv("INTERVENE_CONFIG");
}

static void test_defaults(void **state)
{
	(void)state;
	in_temp_dir(defaults_body);
}

static void test_missing_file(void **state)
{
	(void)state;
	struct config *c = (struct config *)1;
	struct err e;
	assert_int_equal(config_load("golden/config/does-not-exist.yaml", &c, &e), ERR_IO);
	assert_null(c);
	assert_string_equal(
		e.msg, "cannot read golden/config/does-not-exist.yaml: No such file or directory");
	assert_int_equal(config_load("golden", &c, &e), ERR_IO);
	assert_string_equal(e.msg, "cannot read golden: Is a directory");
	char *all = NULL;
	assert_int_equal(config_load_verbose("nope.yaml", &c, &e, &all), ERR_IO);
	assert_string_equal(all, "cannot read nope.yaml: No such file or directory");
	free(all);
}

/* ---- types, bounds and single-value checks ---- */

struct err_case {
	const char *yaml;
	const char *msg;
};

static const struct err_case type_cases[] = {
	/* every scalar type */
	{"server: {listen: {a: 1}}",
	 "t.yaml:1:18: server.listen: expected a string, got a mapping"},
	{"server: {web: yes}", "t.yaml:1:15: server.web: expected true or false, got \"yes\""},
	{"server: {web: [true]}", "t.yaml:1:15: server.web: expected true or false, got a list"},
	{"server: {max_connections: 1.5}",
	 "t.yaml:1:27: server.max_connections: expected an integer, got \"1.5\""},
	{"server: {max_connections: 0x10}",
	 "t.yaml:1:27: server.max_connections: expected an integer, got \"0x10\""},
	{"server: {max_connections: 99999999999999999999}",
	 "t.yaml:1:27: server.max_connections: expected an integer, got \"99999999999999999999\""},
	{"canary: {max_avg_cost: cheap}",
	 "t.yaml:1:24: canary.max_avg_cost: expected a number, got \"cheap\""},
	{"canary: {max_avg_cost: .inf}",
	 "t.yaml:1:24: canary.max_avg_cost: expected a number, got \".inf\""},
	{"canary: {max_avg_cost: nan}",
	 "t.yaml:1:24: canary.max_avg_cost: expected a number, got \"nan\""},
	{"canary: {max_avg_cost: 0x1p3}",
	 "t.yaml:1:24: canary.max_avg_cost: expected a number, got \"0x1p3\""},
	{"watcher: {interval: 15}",
	 "t.yaml:1:21: watcher.interval: expected a duration like 500ms, 30s, 15m, 4h or 7d, got \"15\""},
	{"watcher: {interval: 1h30m}",
	 "t.yaml:1:21: watcher.interval: expected a duration like 500ms, 30s, 15m, 4h or 7d, got \"1h30m\""},
	{"auth: {mode: basic}",
	 "t.yaml:1:14: auth.mode: expected one of tokens or none, got \"basic\""},
	{"tracker: {provider: GitHub}",
	 "t.yaml:1:21: tracker.provider: expected one of none, github, gitlab or jira, got \"GitHub\""},
	{"tracker: {sync: {close_on: done}}",
	 "t.yaml:1:28: tracker.sync.close_on: expected one of resolved, closed or never, got \"done\""},
	{"budgets: {a: {max_avg_cost: x}}",
	 "t.yaml:1:29: budgets.a.max_avg_cost: expected a number, got \"x\""},
	/* containers */
	{"server: 8080", "t.yaml:1:9: server: expected a mapping, got a scalar"},
	{"server: [a]", "t.yaml:1:9: server: expected a mapping, got a list"},
	{"actions: {dbt: {project_dirs: a}}",
	 "t.yaml:1:31: actions.dbt.project_dirs: expected a list, got a scalar"},
	{"actions: {dbt: {project_dirs: [a, {b: c}]}}",
	 "t.yaml:1:35: actions.dbt.project_dirs[1]: expected a string, got a mapping"},
	{"actions: {dbt: {project_dirs: [a, ~]}}",
	 "t.yaml:1:35: actions.dbt.project_dirs[1]: expected a string, got null"},
	{"actions: {dbt: {project_dirs: [\"\"]}}",
	 "t.yaml:1:32: actions.dbt.project_dirs[0]: must not be empty"},
	{"budgets: [a]", "t.yaml:1:10: budgets: expected a mapping, got a list"},
	{"budgets: {a: 3}", "t.yaml:1:14: budgets.a: expected a mapping, got a scalar"},
	{"notify: {webhooks: {a: b}}",
	 "t.yaml:1:20: notify.webhooks: expected a list, got a mapping"},
	{"notify: {webhooks: [x]}",
	 "t.yaml:1:21: notify.webhooks[0]: expected a mapping, got a scalar"},
	{"policy: {severity: {blocker: 1}}",
	 "t.yaml:1:30: policy.severity.blocker: expected one of sev1, sev2, sev3 or sev4, got \"1\""},
	{"policy: {sla: {sev5: {ack: 1m}}}",
	 "t.yaml:1:16: policy.sla.sev5: unknown key; did you mean sev1?"},
	{"policy: {sla: {sev1: {ack: 1m, respond: 1h}}}",
	 "t.yaml:1:32: policy.sla.sev1.respond: unknown key"},
	{"policy: {rate_limit: {window: {incident: 1h}}}",
	 "t.yaml:1:32: policy.rate_limit.window.incident: unknown key"},
	/* keys */
	{"servers: {}", "t.yaml:1:1: servers: unknown key; did you mean server?"},
	{"server: {web: true, web: false}", "t.yaml:1:21: server.web: duplicate key"},
	{"server: {[a]: 1}", "t.yaml:1:10: server: keys must be plain names, got a list"},
	{"server: {listen: \"a\\0b\"}", "t.yaml:1:18: server.listen: contains a NUL character"},
	{"- a\n- b\n",
	 "t.yaml:1:1: the top level must be a mapping of sections (server:, storage:, ...)"},
	{"a: 1\n---\nb: 2\n", "t.yaml:3:1: only one YAML document is allowed"},
	{"server:\n  web: [true\n",
	 "t.yaml:3:1: invalid YAML: did not find expected ',' or ']' (while parsing a flow sequence at 2:8)"},
	{"server: {listen: \"\xff\"}", "t.yaml:1:19: invalid YAML: invalid leading UTF-8 octet"},
	/* bounds */
	{"server: {max_body_bytes: 1023}",
	 "t.yaml:1:26: server.max_body_bytes: must be between 1024 and 67108864, got 1023"},
	{"server: {max_body_bytes: 67108865}",
	 "t.yaml:1:26: server.max_body_bytes: must be between 1024 and 67108864, got 67108865"},
	{"server: {max_connections: 0}",
	 "t.yaml:1:27: server.max_connections: must be between 1 and 1000000, got 0"},
	{"server: {max_connections: -5}",
	 "t.yaml:1:27: server.max_connections: must be between 1 and 1000000, got -5"},
	{"server: {read_timeout: 50ms}",
	 "t.yaml:1:24: server.read_timeout: must be between 100ms and 1h, got 50ms"},
	{"server: {read_timeout: 61m}",
	 "t.yaml:1:24: server.read_timeout: must be between 100ms and 1h, got 61m"},
	{"watcher: {auto_resolve_after: 1001}",
	 "t.yaml:1:31: watcher.auto_resolve_after: must be between 1 and 1000, got 1001"},
	{"policy: {rate_limit: {max: 0}}",
	 "t.yaml:1:28: policy.rate_limit.max: must be between 1 and 1000000, got 0"},
	{"canary: {window_runs: 100001}",
	 "t.yaml:1:23: canary.window_runs: must be between 1 and 100000, got 100001"},
	{"canary: {max_quality_drop: -1}",
	 "t.yaml:1:28: canary.max_quality_drop: must be between 0 and 100, got -1"},
	{"budgets: {a: {min_success_rate: 95}}",
	 "t.yaml:1:33: budgets.a.min_success_rate: must be between 0 and 1, got 95"},
	{"storage: {event_retention: 0s}",
	 "t.yaml:1:28: storage.event_retention: must be between 1s and 3650d, got 0s"},
	/* listen */
	{"server: {listen: 8080}",
	 "t.yaml:1:18: server.listen: expected HOST:PORT, e.g. 127.0.0.1:8080"},
	{"server: {listen: \":8080\"}",
	 "t.yaml:1:18: server.listen: missing host (use 0.0.0.0:PORT for every address)"},
	{"server: {listen: \"::1:8080\"}",
	 "t.yaml:1:18: server.listen: an IPv6 address needs brackets, e.g. [::1]:8080"},
	{"server: {listen: \"[::1]\"}",
	 "t.yaml:1:18: server.listen: expected [IPv6]:PORT, e.g. [::1]:8080"},
	{"server: {listen: \"[::g]:80\"}", "t.yaml:1:18: server.listen: bad IPv6 address \"::g\""},
	{"server: {listen: 127.0.0.1:65536}",
	 "t.yaml:1:18: server.listen: port must be a number from 0 to 65535"},
	{"server: {listen: 127.0.0.1:http}",
	 "t.yaml:1:18: server.listen: port must be a number from 0 to 65535"},
	{"server: {listen: 300.1.1.1:80}",
	 "t.yaml:1:18: server.listen: bad IPv4 address \"300.1.1.1\""},
	{"server: {listen: bad_host:80}", "t.yaml:1:18: server.listen: bad host name"},
	{"server: {listen: \"\"}", "t.yaml:1:18: server.listen: required"},
	/* URLs and string rules */
	{"server: {public_url: example.com}",
	 "t.yaml:1:22: server.public_url: must be an http:// or https:// URL, got \"example.com\""},
	{"server: {public_url: \"http://\"}",
	 "t.yaml:1:22: server.public_url: must be an http:// or https:// URL, got \"http://\""},
	{"server: {public_url: \"http://a b\"}",
	 "t.yaml:1:22: server.public_url: must be an http:// or https:// URL, got \"http://a b\""},
	{"actions: {elasticsearch: {url: \"ftp://u:pw@es\"}}",
	 "t.yaml:1:32: actions.elasticsearch.url: must be an http:// or https:// URL, got \"ftp://u:****@es\""},
	/* paths are appended to base URLs: no query or fragment; user info is no origin */
	{"server: {public_url: \"https://x.example/?tab=1\"}",
	 "t.yaml:1:22: server.public_url: must be a base URL without ?query or #fragment (paths are appended to it), got \"https://x.example/?tab=1\""},
	{"server: {public_url: \"https://x.example/#top\"}",
	 "t.yaml:1:22: server.public_url: must be a base URL without ?query or #fragment (paths are appended to it), got \"https://x.example/#top\""},
	{"server: {public_url: \"https://admin:pw@x.example/\"}",
	 "t.yaml:1:22: server.public_url: must not contain user:password@ (browsers never send it in the Origin header, and links in tickets would carry it)"},
	{"tracker: {github: {base_url: \"https://ghe.example/api/v3?x=1\"}}",
	 "t.yaml:1:30: tracker.github.base_url: must be a base URL without ?query or #fragment (paths are appended to it), got \"https://ghe.example/api/v3?x=1\""},
	{"actions: {elasticsearch: {url: \"http://u:pw@es:9200/?pretty\"}}",
	 "t.yaml:1:32: actions.elasticsearch.url: must be a base URL without ?query or #fragment (paths are appended to it), got \"http://u:****@es:9200/?pretty\""},
	{"storage: {url: mysql://db/x}",
	 "t.yaml:1:16: storage.url: expected sqlite://PATH or postgres://USER:PASSWORD@HOST:PORT/DB, got \"mysql://db/x\""},
	{"storage: {url: \"sqlite://\"}",
	 "t.yaml:1:16: storage.url: sqlite:// needs a file path, e.g. sqlite://intervene.db"},
	{"storage: {url: \"postgres://\"}",
	 "t.yaml:1:16: storage.url: postgres:// URL has no host"},
	/* a query or fragment would become part of the SQLite file name */
	{"storage: {url: \"sqlite://x.db?cache=shared\"}",
	 "t.yaml:1:16: storage.url: a sqlite:// URL takes a file path only (sqlite://PATH): ?query and #fragment are not supported, got \"?cache=shared\""},
	{"storage: {url: \"sqlite:///var/lib/i.db?mode=ro\"}",
	 "t.yaml:1:16: storage.url: a sqlite:// URL takes a file path only (sqlite://PATH): ?query and #fragment are not supported, got \"?mode=ro\""},
	{"storage:\n  url: sqlite://data/x.db#main\n",
	 "t.yaml:2:8: storage.url: a sqlite:// URL takes a file path only (sqlite://PATH): ?query and #fragment are not supported, got \"#main\""},
	{"storage: {url: \"sqlite://x.db?\"}",
	 "t.yaml:1:16: storage.url: a sqlite:// URL takes a file path only (sqlite://PATH): ?query and #fragment are not supported, got \"?\""},
	{"storage: {url: \"sqlite://?mode=memory\"}",
	 "t.yaml:1:16: storage.url: sqlite:// needs a file path, e.g. sqlite://intervene.db"},
	{"tracker: {github: {owner: ../x}}",
	 "t.yaml:1:27: tracker.github.owner: may contain only letters, digits, '-', '_' and '.', got \"../x\""},
	{"tracker: {github: {repo: \"..\"}}",
	 "t.yaml:1:26: tracker.github.repo: may contain only letters, digits, '-', '_' and '.', got \"..\""},
	{"tracker: {jira: {project_key: \"OPS OR 1=1\"}}",
	 "t.yaml:1:31: tracker.jira.project_key: expected a Jira project key (a letter, then letters, digits or '_'), got \"OPS OR 1=1\""},
	{"tracker: {github: {token: \"a\\r\\nX: y\"}}",
	 "t.yaml:1:27: tracker.github.token: must not contain CR or LF (the value is sent in an HTTP header)"},
	{"tracker: {gitlab: {token: \"a\\n\"}}",
	 "t.yaml:1:27: tracker.gitlab.token: must not contain CR or LF (the value is sent in an HTTP header)"},
	{"actions: {elasticsearch: {username: \"u\\n\"}}",
	 "t.yaml:1:37: actions.elasticsearch.username: must not contain CR or LF (the value is sent in an HTTP header)"},
	{"actions: {elasticsearch: {password: \"p\\r\"}}",
	 "t.yaml:1:37: actions.elasticsearch.password: must not contain CR or LF (the value is sent in an HTTP header)"},
	{"actions: {dbt: {env: [\"1X=2\"]}}",
	 "t.yaml:1:23: actions.dbt.env[0]: expected NAME or NAME=VALUE with NAME like [A-Za-z_][A-Za-z0-9_]*, got \"1X=2\""},
	{"actions: {dbt: {target: --debug}}",
	 "t.yaml:1:25: actions.dbt.target: must not start with '-'"},
	{"actions: {dbt: {command: \"\"}}", "t.yaml:1:26: actions.dbt.command: required"},
	{"tracker: {github: {assignees: {alice: \" \"}}}",
	 "t.yaml:1:39: tracker.github.assignees.alice: must not be blank"},
	{"budgets: {\"\": {}}",
	 "t.yaml:1:11: budgets.: a name must be non-empty text without control characters"},
	{"policy: {severity: {\"a\\tb\": sev1}}",
	 "t.yaml:1:21: policy.severity.a?b: a name must be non-empty text without control characters"},
	/* webhooks */
	{"notify: {webhooks: [{name: a}]}",
	 "t.yaml:1:28: notify.webhooks[0].url: url is required for a json webhook"},
	{"notify: {webhooks: [{name: a, format: pagerduty}]}",
	 "t.yaml:1:28: notify.webhooks[0].routing_key: routing_key is required for a pagerduty "
	 "webhook"},
	{"notify: {webhooks: [{url: \"http://h\"}]}",
	 "t.yaml:1:21: notify.webhooks[0].name: required"},
	{"notify: {webhooks: [{name: \"a b\", url: \"http://h\"}]}",
	 "t.yaml:1:28: notify.webhooks[0].name: may contain only letters, digits, '-', '_' and '.' (at most 64), got \"a b\""},
	{"notify: {webhooks: [{name: a, url: \"http://h\", events: [incident_created, incident_opened]}]}",
	 "t.yaml:1:75: notify.webhooks[0].events[1]: unknown event type \"incident_opened\""},
	{"notify: {webhooks: [{name: a, url: \"http://h\", min_severity: 2}]}",
	 "t.yaml:1:62: notify.webhooks[0].min_severity: expected one of sev1, sev2, sev3 or sev4, got \"2\""},
	{"notify: {webhooks: [{name: a, url: \"http://h\"}, {name: a, url: \"http://i\"}]}",
	 "t.yaml:1:56: notify.webhooks[1].name: duplicate webhook name \"a\""},
	{"notify: {webhooks: [{name: a, url: \"http://h\", secret: \"s\\n\"}]}",
	 "t.yaml:1:56: notify.webhooks[0].secret: must not contain CR or LF (the value is sent in an HTTP header)"},
	/* across keys */
	{"canary: {window_runs: 10, min_samples: 30}",
	 "t.yaml:1:40: canary.min_samples: must not exceed canary.window_runs (10)"},
	{"tracker:\n  provider: github\n  github: {owner: acme, repo: r}\n",
	 "t.yaml:3:11: tracker.github.token: required when tracker.provider is github"},
	{"tracker:\n  provider: github\n  github: {owner: acme, repo: r, token: \"\"}\n",
	 "t.yaml:3:41: tracker.github.token: required when tracker.provider is github"},
	{"tracker:\n  provider: jira\n",
	 "t.yaml:2:13: tracker.jira.base_url: required when tracker.provider is jira\n"
	 "t.yaml:2:13: tracker.jira.email: required when tracker.provider is jira\n"
	 "t.yaml:2:13: tracker.jira.api_token: required when tracker.provider is jira\n"
	 "t.yaml:2:13: tracker.jira.project_key: required when tracker.provider is jira"},
	{"tracker:\n  provider: gitlab\n  gitlab: {token: t}\n",
	 "t.yaml:3:11: tracker.gitlab.project_id: required when tracker.provider is gitlab"},
	/* the GitLab project goes into the URL path */
	{"tracker: {gitlab: {project_id: \"acme\\r\\nX-Injected: 1\"}}",
	 "t.yaml:1:32: tracker.gitlab.project_id: expected a numeric project id or a path like group/project (letters, digits, '-', '_' and '.' between single '/'), got \"acme\\x0d\\x0aX-Injected: 1\""},
	{"tracker: {gitlab: {project_id: \"acme//ops\"}}",
	 "t.yaml:1:32: tracker.gitlab.project_id: expected a numeric project id or a path like group/project (letters, digits, '-', '_' and '.' between single '/'), got \"acme//ops\""},
	{"tracker: {gitlab: {project_id: ../ops}}",
	 "t.yaml:1:32: tracker.gitlab.project_id: expected a numeric project id or a path like group/project (letters, digits, '-', '_' and '.' between single '/'), got \"../ops\""},
	/* priority words the lookup could never reach (core/policy.c: P0..P4 first, then the
	 * map without regard to case) */
	{"policy: {severity: {Critical: sev2}}",
	 "t.yaml:1:31: policy.severity.Critical: same word as \"critical\": priority words are matched without regard to case"},
	{"policy:\n  severity:\n    urgent: sev1\n    URGENT:\n",
	 "t.yaml:4:12: policy.severity.URGENT: same word as \"urgent\": priority words are matched without regard to case"},
	{"policy: {severity: {p2: sev1}}",
	 "t.yaml:1:25: policy.severity.p2: P0..P4 are built in (P0 and P1 mean sev1, P2 sev2, P3 sev3, P4 sev4) and cannot be remapped"},
	{"server: {listen: \"[::]:8080\"}\nauth: {mode: none}\n",
	 "t.yaml:2:14: auth.mode: none is only allowed when server.listen is a loopback address (127.0.0.0/8, [::1] or localhost), not [::]:8080"},
};

static void test_type_errors(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof type_cases / sizeof type_cases[0]; i++)
		expect_error(type_cases[i].yaml, type_cases[i].msg);

	static const char *const projects[] = {"12345", "acme/ml-quality", "acme/sub.group/x_y"};
	for (size_t i = 0; i < sizeof projects / sizeof projects[0]; i++) {
		char y[128];
		snprintf(y, sizeof y, "tracker: {gitlab: {project_id: \"%s\"}}", projects[i]);
		struct config *c = load_ok(y);
		assert_string_equal(c->tracker.gitlab.project_id, projects[i]);
		config_free(c);
	}
}

/* Several problems are all reported, in document order, at most 20. */
static void test_error_collection(void **state)
{
	(void)state;
	expect_error(
		"server:\n  web: 1\n  max_connections: x\nwatcher:\n  interval: soon\n",
		"t.yaml:2:8: server.web: expected true or false, got \"1\"\n"
		"t.yaml:3:20: server.max_connections: expected an integer, got \"x\"\n"
		"t.yaml:5:13: watcher.interval: expected a duration like 500ms, 30s, 15m, 4h or 7d, got \"soon\"");

	/* a duplicate is reported where it stands, not before earlier problems */
	expect_error("server: {web: 1, listen: \"127.0.0.1:1\", web: 2}",
		     "t.yaml:1:15: server.web: expected true or false, got \"1\"\n"
		     "t.yaml:1:41: server.web: duplicate key");

	struct buf y = BUF_INIT;
	buf_puts(&y, "server:\n");
	for (int i = 0; i < 30; i++)
		buf_printf(&y, "  unknown_key_number_%02d: 1\n", i);
	FILE *f = fopen("/tmp/test_config_many.yaml", "w");
	assert_non_null(f);
	fputs(y.data, f);
	fclose(f);
	struct config *c;
	struct err e;
	char *all = NULL;
	assert_int_equal(config_load_verbose("/tmp/test_config_many.yaml", &c, &e, &all),
			 ERR_INVALID);
	unlink("/tmp/test_config_many.yaml");
	assert_non_null(all);
	int lines = 1;
	for (const char *p = all; *p; p++)
		lines += *p == '\n';
	assert_int_equal(lines, 20);
	assert_non_null(strstr(
		all, "/tmp/test_config_many.yaml:21:3: server.unknown_key_number_19: unknown key"));
	assert_null(strstr(all, "unknown_key_number_20"));
	/* e->msg holds whole lines and says how many were left out */
	assert_true(strlen(e.msg) < sizeof e.msg - 1);
	assert_string_equal(e.field, "server.unknown_key_number_00");
	assert_int_equal(strncmp(e.msg, all, strlen(e.msg) - strlen(strrchr(e.msg, '\n'))), 0);
	const char *tail = strrchr(e.msg, '\n') + 1;
	int more = 0;
	assert_int_equal(sscanf(tail, "(%d more errors)", &more), 1);
	int shown = 1;
	for (const char *p = e.msg; p < tail - 1; p++)
		shown += *p == '\n';
	assert_int_equal(shown + more, 20);
	free(all);
	buf_free(&y);
}

/* ---- durations ---- */

static void test_durations(void **state)
{
	(void)state;
	static const struct {
		const char *s;
		int64_t ms;
	} cases[] = {
		{"500ms", 500},
		{"0ms", 0},
		{"0s", 0},
		{"30s", 30000},
		{"15m", 900000},
		{"4h", 14400000},
		{"7d", 604800000},
		{"60m", 3600000},
		{"0010s", 10000},
		{"9223372036854775807ms", INT64_MAX},
		{"9223372036854775808ms", -1},
		{"106751991167301d", -1},
		{"", -1},
		{"s", -1},
		{"10", -1},
		{"-5s", -1},
		{"+5s", -1},
		{" 5s", -1},
		{"5s ", -1},
		{"5 s", -1},
		{"1.5h", -1},
		{"1h30m", -1},
		{"5S", -1},
		{"5sec", -1},
		{"5w", -1},
		{"5us", -1},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		if (config_parse_duration(cases[i].s) != cases[i].ms)
			fail_msg("config_parse_duration(\"%s\") = %lld, want %lld", cases[i].s,
				 (long long)config_parse_duration(cases[i].s),
				 (long long)cases[i].ms);
	assert_int_equal(config_parse_duration(NULL), -1);

	/* The dump writes the largest exact unit back. */
	struct config *c = load_ok("server: {read_timeout: 90s, sse_heartbeat: 1500ms}\n"
				   "watcher: {interval: 120m, invariant_lookback: 48h}\n"
				   "storage: {event_retention: 1440m}\n");
	char *d = dump_str(c);
	assert_non_null(strstr(d, "  read_timeout: 90s\n"));
	assert_non_null(strstr(d, "  sse_heartbeat: 1500ms\n"));
	assert_non_null(strstr(d, "  interval: 2h\n"));
	assert_non_null(strstr(d, "  invariant_lookback: 2d\n"));
	assert_non_null(strstr(d, "  event_retention: 1d\n"));
	free(d);
	config_free(c);

	/* The alert kind's window is its own key (SPEC §2), next to the others. */
	c = load_ok("policy: {rate_limit: {window: {alert: 30m, manual: 2h}}}\n");
	assert_int_equal(c->policy.rate_limit_window_ms[CONFIG_KIND_ALERT], 1800000);
	assert_int_equal(c->policy.rate_limit_window_ms[CONFIG_KIND_MANUAL], 7200000);
	assert_int_equal(c->policy.rate_limit_window_ms[CONFIG_KIND_PLANNER], 7200000);
	d = dump_str(c);
	assert_non_null(strstr(d, "      alert: 30m\n"));
	free(d);
	config_free(c);
}

/* ---- ${VAR} ---- */

static void test_env_expansion(void **state)
{
	(void)state;
	setenv("CFG_T_A", "alpha", 1);
	setenv("CFG_T_B", "beta", 1);
	setenv("CFG_T_EMPTY", "", 1);
	setenv("CFG_T_NUM", "42", 1);
	unsetenv("CFG_T_UNSET");

	struct config *c = load_ok(
		"tracker:\n"
		"  jira:\n"
		"    issue_type: \"${CFG_T_A}-${CFG_T_B}/${CFG_T_UNSET:-gamma}.${CFG_T_EMPTY:-delta}\"\n"
		"    close_transition: 'x${CFG_T_EMPTY}y $CFG_T_A $$ $ {CFG_T_A} ${CFG_T_UNSET:-}z'\n"
		"    project_key: ${CFG_T_UNSET:-OPS}\n"
		"server:\n"
		"  max_connections: ${CFG_T_NUM}\n"
		"  sse_max_clients: ${CFG_T_UNSET:-7}\n"
		"  web: ${CFG_T_UNSET:-false}\n"
		"watcher:\n"
		"  interval: ${CFG_T_NUM}s\n"
		"actions:\n"
		"  dbt:\n"
		"    env: [\"A=${CFG_T_A}\", \"${CFG_T_UNSET:-B}\"]\n");
	assert_string_equal(c->tracker.jira.issue_type, "alpha-beta/gamma.delta");
	assert_string_equal(c->tracker.jira.close_transition, "xy $CFG_T_A $$ $ {CFG_T_A} z");
	assert_string_equal(c->tracker.jira.project_key, "OPS");
	assert_int_equal(c->server.max_connections, 42);
	assert_int_equal(c->server.sse_max_clients, 7);
	assert_false(c->server.web);
	assert_int_equal(c->watcher.interval_ms, 42000);
	assert_int_equal(c->actions.dbt.n_env, 2);
	assert_string_equal(c->actions.dbt.env[0], "A=alpha");
	assert_string_equal(c->actions.dbt.env[1], "B");
	config_free(c);

	/* Keys are not expanded. */
	expect_error("${CFG_T_A}: {}", "t.yaml:1:1: ${CFG_T_A}: unknown key");
	/* The value after expansion is what gets checked. */
	expect_error("server: {max_connections: \"${CFG_T_A}\"}",
		     "t.yaml:1:27: server.max_connections: expected an integer, got \"alpha\"");
	expect_error("server: {max_connections: \"${CFG_T_EMPTY}\"}",
		     "t.yaml:1:27: server.max_connections: expected an integer, got \"\"");

	expect_error(
		"server:\n  public_url: \"https://${CFG_T_UNSET}.example.com\"\n",
		"t.yaml:2:15: environment variable CFG_T_UNSET is not set (key server.public_url)");
	expect_error(
		"actions: {dbt: {env: [\"X=${CFG_T_UNSET}\"]}}",
		"t.yaml:1:23: environment variable CFG_T_UNSET is not set (key actions.dbt.env[0])");
	expect_error(
		"budgets: {a: {description: \"${CFG_T_A} ${CFG_T_UNSET}\"}}",
		"t.yaml:1:28: environment variable CFG_T_UNSET is not set (key budgets.a.description)");
	expect_error(
		"server: {public_url: \"${\"}",
		"t.yaml:1:22: server.public_url: ${ must be followed by a variable name ([A-Za-z_][A-Za-z0-9_]*)");
	expect_error(
		"server: {public_url: \"${1A}\"}",
		"t.yaml:1:22: server.public_url: ${ must be followed by a variable name ([A-Za-z_][A-Za-z0-9_]*)");
	expect_error("server: {public_url: \"${CFG_T_A\"}",
		     "t.yaml:1:22: server.public_url: expected } or :- after ${CFG_T_A");
	expect_error("server: {public_url: \"${CFG_T_A:x}\"}",
		     "t.yaml:1:22: server.public_url: expected } or :- after ${CFG_T_A");
	expect_error("server: {public_url: \"${CFG_T_A:-abc\"}",
		     "t.yaml:1:22: server.public_url: unterminated ${CFG_T_A:-...}");

	/* A header-bound value from the environment is checked after expansion. */
	setenv("CFG_T_NL", "tok\n", 1);
	expect_error(
		"actions: {elasticsearch: {api_key: \"${CFG_T_NL}\"}}",
		"t.yaml:1:36: actions.elasticsearch.api_key: must not contain CR or LF (the value is sent in an HTTP header)");
	unsetenv("CFG_T_NL");
	unsetenv("CFG_T_A");
	unsetenv("CFG_T_B");
	unsetenv("CFG_T_EMPTY");
	unsetenv("CFG_T_NUM");
}

/* An unset variable only matters where the key is used. */
static void test_provider_scope(void **state)
{
	(void)state;
	unsetenv("CFG_T_GH");
	unsetenv("CFG_T_GL");
	unsetenv("CFG_T_JIRA");
	unsetenv("CFG_T_PROVIDER");
	static const char sections[] =
		"  github: {token: \"${CFG_T_GH}\", owner: acme, repo: svc}\n"
		"  gitlab: {token: \"${CFG_T_GL}\", project_id: \"12\"}\n"
		"  jira: {base_url: \"https://a.example\", email: e@x, api_token: \"${CFG_T_JIRA}\",\n"
		"         project_key: OPS}\n";
	struct buf y = BUF_INIT;

	buf_printf(&y, "tracker:\n%s", sections);
	struct config *c = load_ok(y.data);
	assert_int_equal(c->tracker.provider, CONFIG_PROVIDER_NONE);
	assert_string_equal(c->tracker.github.token, "");
	assert_string_equal(c->tracker.github.owner, "acme");
	config_free(c);

	buf_reset(&y);
	buf_printf(&y, "tracker:\n  provider: github\n%s", sections);
	expect_error(
		y.data,
		"t.yaml:3:19: environment variable CFG_T_GH is not set (key tracker.github.token)");
	setenv("CFG_T_GH", "ghp_secret", 1);
	c = load_ok(y.data); /* gitlab and jira references stay unresolved: not used */
	assert_int_equal(c->tracker.provider, CONFIG_PROVIDER_GITHUB);
	assert_string_equal(c->tracker.github.token, "ghp_secret");
	assert_string_equal(c->tracker.gitlab.token, "");
	config_free(c);

	/* The provider itself may come from the environment. */
	buf_reset(&y);
	buf_printf(&y, "tracker:\n  provider: ${CFG_T_PROVIDER:-none}\n%s", sections);
	c = load_ok(y.data);
	assert_int_equal(c->tracker.provider, CONFIG_PROVIDER_NONE);
	config_free(c);
	setenv("CFG_T_PROVIDER", "jira", 1);
	expect_error(
		y.data,
		"t.yaml:5:64: environment variable CFG_T_JIRA is not set (key tracker.jira.api_token)");
	setenv("CFG_T_JIRA", "jt", 1);
	c = load_ok(y.data);
	assert_int_equal(c->tracker.provider, CONFIG_PROVIDER_JIRA);
	assert_string_equal(c->tracker.jira.api_token, "jt");
	config_free(c);
	setenv("CFG_T_PROVIDER", "gitlab", 1);
	expect_error(
		y.data,
		"t.yaml:4:19: environment variable CFG_T_GL is not set (key tracker.gitlab.token)");

	/* Type errors and unknown keys count everywhere, used or not. */
	expect_error(
		"tracker: {gitlab: {base_url: gitlab.example}}",
		"t.yaml:1:30: tracker.gitlab.base_url: must be an http:// or https:// URL, got \"gitlab.example\"");
	expect_error("tracker: {jira: {tokn: x}}", "t.yaml:1:18: tracker.jira.tokn: unknown key");
	/* Outside provider sections an unset variable is always an error. */
	expect_error(
		"tracker: {templates_dir: \"${CFG_T_GL}\"}",
		"t.yaml:1:26: environment variable CFG_T_GL is not set (key tracker.templates_dir)");

	unsetenv("CFG_T_GH");
	unsetenv("CFG_T_JIRA");
	unsetenv("CFG_T_PROVIDER");
	buf_free(&y);
}

/* ---- paths ---- */

/* A file's paths are relative to the file's directory, not to the working directory. */
static void file_paths_body(const char *cwd)
{
	assert_int_equal(mkdir("etc", 0700), 0);
	assert_int_equal(mkdir("etc/intervene", 0700), 0);
	FILE *f = fopen("etc/intervene/i.yaml", "w");
	assert_non_null(f);
	fputs("storage: {url: \"sqlite://state/i.db\"}\ntracker: {templates_dir: ../tpl}\n", f);
	fclose(f);
	struct config *c = NULL;
	struct err e;
	char want[4300];
	assert_int_equal(config_load("./etc//intervene/i.yaml", &c, &e), 0);
	snprintf(want, sizeof want, "%s/etc/intervene", cwd);
	assert_string_equal(c->dir, want);
	assert_string_equal(c->path, "./etc//intervene/i.yaml");
	snprintf(want, sizeof want, "sqlite://%s/etc/intervene/state/i.db", cwd);
	assert_string_equal(c->storage.url, want);
	snprintf(want, sizeof want, "%s/etc/intervene/../tpl", cwd);
	assert_string_equal(c->tracker.templates_dir, want);
	config_free(c);
	snprintf(want, sizeof want, "%s/etc/intervene/i.yaml", cwd);
	assert_int_equal(config_load(want, &c, &e), 0);
	snprintf(want, sizeof want, "%s/etc/intervene", cwd);
	assert_string_equal(c->dir, want);
	config_free(c);
}

static void test_paths(void **state)
{
	(void)state;
	struct config *c = load_ok("storage: {url: \"sqlite://data/./x.db\"}\n"
				   "tracker: {templates_dir: ./templates/}\n"
				   "actions:\n"
				   "  dbt:\n"
				   "    command: ./bin/dbt\n"
				   "    project_dirs: [analytics, /opt/dbt/core, ../shared//proj]\n"
				   "    profiles_dir: profiles\n");
	assert_string_equal(c->dir, TEST_DIR);
	assert_string_equal(c->storage.url, "sqlite://" TEST_DIR "/data/x.db");
	assert_string_equal(c->tracker.templates_dir, TEST_DIR "/templates");
	assert_string_equal(c->actions.dbt.command, TEST_DIR "/bin/dbt");
	assert_int_equal(c->actions.dbt.n_project_dirs, 3);
	assert_string_equal(c->actions.dbt.project_dirs[0], TEST_DIR "/analytics");
	assert_string_equal(c->actions.dbt.project_dirs[1], "/opt/dbt/core");
	assert_string_equal(c->actions.dbt.project_dirs[2], TEST_DIR "/../shared/proj");
	assert_null(c->actions.dbt.project_dirs[3]);
	assert_string_equal(c->actions.dbt.profiles_dir, TEST_DIR "/profiles");
	config_free(c);

	c = load_ok("storage: {url: \"sqlite:///var/lib/intervene/i.db\"}\n"
		    "actions: {dbt: {command: dbt-1.7}}\n");
	assert_string_equal(c->storage.url, "sqlite:///var/lib/intervene/i.db");
	assert_string_equal(c->actions.dbt.command, "dbt-1.7"); /* no '/': looked up in $PATH */
	assert_string_equal(c->tracker.templates_dir, "");	/* empty stays empty */
	config_free(c);

	c = load_ok("storage: {url: \"postgres://u:p@db:5432/intervene?sslmode=require\"}");
	assert_string_equal(c->storage.url, "postgres://u:p@db:5432/intervene?sslmode=require");
	config_free(c);

	/* Without a dir, the working directory; a relative dir is taken from it. */
	char cwd[4096], want[4300];
	assert_non_null(getcwd(cwd, sizeof cwd));
	struct err e;
	c = load_text_dir("", NULL, &e);
	snprintf(want, sizeof want, "sqlite://%s/intervene.db", cwd);
	assert_string_equal(c->storage.url, want);
	assert_string_equal(c->dir, cwd);
	config_free(c);
	c = load_text_dir("", "golden/config", &e);
	snprintf(want, sizeof want, "%s/golden/config", cwd);
	assert_string_equal(c->dir, want);
	config_free(c);

	/* A query arriving through ${VAR} is refused at the value, like one written there. */
	setenv("CFG_T_DB", "state.db?mode=ro", 1);
	expect_error(
		"storage:\n  url: \"sqlite://${CFG_T_DB}\"\n",
		"t.yaml:2:8: storage.url: a sqlite:// URL takes a file path only (sqlite://PATH): ?query and #fragment are not supported, got \"?mode=ro\"");
	unsetenv("CFG_T_DB");

	in_temp_dir(file_paths_body);
}

/* ---- maps, lists, sections ---- */

static void test_collections(void **state)
{
	(void)state;
	struct config *c = load_ok(
		"policy:\n"
		"  severity: {high: sev1, blocker: sev1, trivial: sev4, weird: ~, P5: sev2}\n"
		"  sla:\n"
		"    sev1: {ack: 1m}\n"
		"    sev4: {resolve: 30d}\n"
		"tracker:\n"
		"  github:\n"
		"    assignees: {alice: alice-gh, \"bob smith\": bob}\n"
		"notify:\n"
		"  webhooks:\n"
		"    - name: pager\n"
		"      url: https://hooks.example.com/p/\n"
		"      secret: s3cret\n"
		"      events: [incident_created, sla_breached]\n"
		"      min_severity: sev2\n"
		"    - {name: chat, url: \"http://chat.local:8080/hook?x=1\"}\n"
		"budgets:\n"
		"  inbox.triage: {min_quality_score: 85, max_avg_cost: 0.05, max_invariant_failures: 0}\n"
		"  quiet:\n"
		"  off: {enabled: false, description: \"old agent\"}\n");
	/* severity merges into the default words */
	assert_int_equal(c->policy.n_severity, 8);
	static const struct {
		const char *w;
		int sev;
	} sev[] = {{"critical", 1}, {"high", 1},    {"medium", 3}, {"low", 4},
		   {"blocker", 1},  {"trivial", 4}, {"weird", 3},  {"P5", 2}};
	for (size_t i = 0; i < 7; i++) {
		assert_string_equal(c->policy.severity[i].word, sev[i].w);
		assert_int_equal(c->policy.severity[i].sev, sev[i].sev);
	}
	/* a severity block written in the file replaces that block's defaults */
	assert_int_equal(c->policy.sla[1].ack_ms, 60000);
	assert_int_equal(c->policy.sla[1].mitigate_ms, 0);
	assert_int_equal(c->policy.sla[1].resolve_ms, 0);
	assert_int_equal(c->policy.sla[2].ack_ms, 15 * 60000); /* untouched */
	assert_int_equal(c->policy.sla[4].resolve_ms, 30LL * 86400000);
	assert_int_equal(c->tracker.github.n_assignees, 2);
	assert_string_equal(c->tracker.github.assignees[1].key, "bob smith");
	assert_string_equal(c->tracker.github.assignees[1].value, "bob");

	assert_int_equal(c->notify.n_webhooks, 2);
	struct config_webhook *w = &c->notify.webhooks[0];
	assert_string_equal(w->name, "pager");
	assert_string_equal(w->url, "https://hooks.example.com/p/"); /* exact endpoint, kept */
	assert_string_equal(w->secret, "s3cret");
	assert_int_equal(w->n_events, 2);
	assert_string_equal(w->events[1], "sla_breached");
	assert_null(w->events[2]);
	assert_int_equal(w->min_severity, 2);
	w = &c->notify.webhooks[1];
	assert_string_equal(w->secret, "");
	assert_int_equal(w->n_events, 0);
	assert_non_null(w->events);
	assert_null(w->events[0]);
	assert_int_equal(w->min_severity, 4);

	assert_int_equal(c->n_budgets, 3);
	struct config_budget *b = &c->budgets[0];
	assert_string_equal(b->agent, "inbox.triage");
	assert_true(b->enabled);
	assert_string_equal(b->description, "");
	assert_true(b->min_quality_score.set && b->min_quality_score.value == 85);
	assert_true(b->max_avg_cost.set && b->max_avg_cost.value == 0.05);
	assert_true(b->max_invariant_failures.set && b->max_invariant_failures.value == 0);
	assert_false(b->min_success_rate.set);
	assert_false(b->max_p99_latency_ms.set);
	assert_string_equal(c->budgets[1].agent, "quiet");
	assert_true(c->budgets[1].enabled);
	assert_false(c->budgets[1].min_quality_score.set);
	assert_string_equal(c->budgets[2].agent, "off");
	assert_false(c->budgets[2].enabled);
	assert_string_equal(c->budgets[2].description, "old agent");
	config_free(c);

	/* Base URLs lose trailing slashes; null means "keep the default". */
	c = load_ok(
		"server: {public_url: \"https://oncall.example.com/\", web: ~, listen: null}\n"
		"tracker: {github: {base_url: \"https://ghe.example.com/api/v3//\"}, jira: {issue_type: }}\n"
		"policy: {sla: {sev1: ~}}\n"
		"budgets: ~\n");
	assert_string_equal(c->server.public_url, "https://oncall.example.com");
	assert_true(c->server.web);
	assert_string_equal(c->server.listen, "127.0.0.1:8080");
	assert_string_equal(c->tracker.github.base_url, "https://ghe.example.com/api/v3");
	assert_string_equal(c->tracker.jira.issue_type, "Bug");
	assert_int_equal(c->policy.sla[1].ack_ms, 5 * 60000);
	config_free(c);

	/* An explicitly empty block clears its targets. */
	c = load_ok("policy: {sla: {sev3: {}}}");
	assert_int_equal(c->policy.sla[3].ack_ms, 0);
	assert_int_equal(c->policy.sla[3].resolve_ms, 0);
	char *d = dump_str(c);
	assert_non_null(strstr(d, "    sev3: {}\n"));
	free(d);
	config_free(c);

	/* Aliases are followed; a file that multiplies them is refused. */
	c = load_ok("budgets:\n  a: &b {min_quality_score: 80}\n  b: *b\n");
	assert_int_equal(c->n_budgets, 2);
	assert_string_equal(c->budgets[1].agent, "b");
	assert_true(c->budgets[1].min_quality_score.value == 80);
	config_free(c);
	struct err e;
	struct buf y = BUF_INIT;
	/* A list of many aliased webhooks, each with an aliased event list. */
	buf_puts(&y, "notify:\n  webhooks:\n");
	buf_puts(&y, "    - &h {name: h, url: \"http://h\", events: &ev [");
	for (int j = 0; j < 400; j++)
		buf_printf(&y, "%sincident_created", j ? ", " : "");
	buf_puts(&y, "]}\n");
	for (int i = 0; i < 400; i++)
		buf_puts(&y, "    - *h\n");
	c = load_text_dir(y.data, TEST_DIR, &e);
	assert_null(c);
	assert_non_null(
		strstr(e.msg, "too many values (more than 100000 after expanding aliases)"));
	buf_free(&y);
}

/* ---- dump ---- */

static void test_dump_masking(void **state)
{
	(void)state;
	struct config *c = load_ok(
		"storage: {url: \"postgres://intervene:pg-pass@db:5432/x\"}\n"
		"tracker:\n"
		"  github: {token: ghp_topsecret}\n"
		"  jira: {api_token: jira-secret, email: me@x}\n"
		"actions:\n"
		"  elasticsearch: {api_key: es-key, username: elastic, password: es-pass, url: \"http://u:es-url-pass@es:9200\"}\n"
		"notify:\n"
		"  webhooks: [{name: w, url: \"https://hooks/x\", secret: wh-secret}]\n");
	char *d = dump_str(c);
	static const char *const secrets[] = {"pg-pass", "ghp_topsecret", "jira-secret", "es-key",
					      "es-pass", "es-url-pass",	  "wh-secret"};
	for (size_t i = 0; i < sizeof secrets / sizeof secrets[0]; i++)
		if (strstr(d, secrets[i]))
			fail_msg("dump shows %s:\n%s", secrets[i], d);
	assert_non_null(strstr(d, "  url: postgres://intervene:****@db:5432/x\n"));
	assert_non_null(strstr(d, "    token: \"****\"\n"));
	assert_non_null(strstr(d, "    api_token: \"****\"\n"));
	assert_non_null(strstr(d, "    email: me@x\n"));
	assert_non_null(strstr(d, "    api_key: \"****\"\n"));
	assert_non_null(strstr(d, "    username: elastic\n"));
	assert_non_null(strstr(d, "    password: \"****\"\n"));
	assert_non_null(strstr(d, "    url: http://u:****@es:9200\n"));
	assert_non_null(strstr(d, "      secret: \"****\"\n"));
	/* unset secrets stay visibly empty */
	assert_non_null(strstr(d, "    token: \"\"\n")); /* gitlab */
	free(d);
	config_free(c);
}

/* Whatever the dump writes loads back to the same configuration. */
static void test_dump_round_trip(void **state)
{
	(void)state;
	struct config *c = load_ok(
		"server: {listen: \"[::1]:0\", public_url: \"https://x.example/oncall\"}\n"
		"policy: {severity: {\"yes\": sev2, \"a: b\": sev1, \"#x\": sev3, \"12\": sev4}, sla: {sev2: {ack: 90s}}}\n"
		"tracker: {jira: {close_transition: \"Done: shipped\", issue_type: \"true\"}}\n"
		"notify: {webhooks: [{name: a, url: \"http://h/\", events: [incident_created, issue_failed]}]}\n"
		"actions: {dbt: {env: [\"X=a b\", \"Y=#1\", \"Z=\\\"q\\\"\"], project_dirs: [\"/with space/x\"]}}\n"
		"budgets: {\"agent one\": {description: \"multi\\nline\\ttext\", min_success_rate: 0.9}, \"true\": {}}\n");
	char *d1 = dump_str(c);
	struct err e;
	struct config *c2 = load_text_dir(d1, TEST_DIR, &e);
	if (!c2)
		fail_msg("dump does not load back: %s\n%s", e.msg, d1);
	char *d2 = dump_str(c2);
	assert_string_equal(d1, d2);
	assert_string_equal(c2->tracker.jira.close_transition, "Done: shipped");
	assert_string_equal(c2->budgets[0].description, "multi\nline\ttext");
	assert_string_equal(c2->actions.dbt.env[2], "Z=\"q\"");
	free(d1);
	free(d2);
	config_free(c2);
	config_free(c);
}

/* Keys accepted before the code that uses them exists are named after the configuration,
 * one comment line per section and feature, so the dump still loads back. */
/* Every key is in effect (server.web was the last of a feature still to come): the
 * dump carries no "# note:" line and ends with the configuration itself. */
static void test_dump_notes(void **state)
{
	(void)state;
	static const char tail[] = "  max_avg_cost: 0.03\n";
	struct config *c = config_defaults();
	char *d = dump_str(c);
	size_t n = strlen(d);
	if (strstr(d, "# note:"))
		fail_msg("the dump notes a key without effect:\n%s", d);
	if (n < sizeof tail - 1 || strcmp(d + n - (sizeof tail - 1), tail))
		fail_msg("the dump does not end with the configuration:\n%s", d);
	free(d);
	config_free(c);
}

/* ---- listen and loopback ---- */

static void test_loopback(void **state)
{
	(void)state;
	static const struct {
		const char *listen;
		bool loopback;
	} cases[] = {
		{"127.0.0.1:8080", true},
		{"127.255.0.9:1", true},
		{"localhost:80", true},
		{"LocalHost:80", true},
		{"[::1]:8080", true},
		{"[::ffff:127.0.0.1]:8080", true},
		{"0.0.0.0:8080", false},
		{"10.0.0.1:8080", false},
		{"128.0.0.1:80", false},
		{"[::]:8080", false},
		{"[fe80::1]:80", false},
		{"example.com:80", false},
		{"localhost.example:80", false},
		{"127.0.0.1", false},
		{"::1:8080", false},
		{"", false},
		{"127.0.0.1:99999", false},
		{NULL, false},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		if (config_listen_is_loopback(cases[i].listen) != cases[i].loopback)
			fail_msg("config_listen_is_loopback(\"%s\") != %d",
				 cases[i].listen ? cases[i].listen : "(null)", cases[i].loopback);

	static const char *const ok_none[] = {"127.0.0.1:8080", "[::1]:8080", "localhost:0",
					      "127.1.2.3:65535"};
	for (size_t i = 0; i < sizeof ok_none / sizeof ok_none[0]; i++) {
		char y[256];
		snprintf(y, sizeof y, "server: {listen: \"%s\"}\nauth: {mode: none}\n", ok_none[i]);
		struct config *c = load_ok(y);
		assert_int_equal(c->auth.mode, CONFIG_AUTH_NONE);
		config_free(c);
	}
	expect_error(
		"server: {listen: 192.168.1.5:8080}\nauth: {mode: none}\n",
		"t.yaml:2:14: auth.mode: none is only allowed when server.listen is a loopback address (127.0.0.0/8, [::1] or localhost), not 192.168.1.5:8080");
	/* tokens mode listens anywhere */
	struct config *c = load_ok("server: {listen: \"0.0.0.0:8080\"}");
	config_free(c);
	c = load_ok("server: {listen: \"[2001:db8::1]:443\"}");
	config_free(c);
	c = load_ok("server: {listen: \"intervene-1.internal:9000\"}");
	config_free(c);
}

static void test_public_url(void **state)
{
	(void)state;
	char buf[128];
	struct config *c = load_ok("server: {listen: \"[::1]:9000\"}");
	assert_string_equal(config_public_url(c, buf, sizeof buf), "http://[::1]:9000");
	config_free(c);
	c = load_ok("server: {public_url: \"https://oncall.example.com/\"}");
	assert_string_equal(config_public_url(c, buf, sizeof buf), "https://oncall.example.com");
	config_free(c);

	/* The origin part is kept the way browsers send it in Origin: lowercase scheme and
	 * host, no default port; the path is left alone. */
	static const struct {
		const char *in, *out;
	} canon[] = {
		{"HTTPS://OnCall.Example.COM:443/Inter/Vene/",
		 "https://oncall.example.com/Inter/Vene"},
		{"http://oncall.example.com:80", "http://oncall.example.com"},
		{"http://oncall.example.com:8080/x", "http://oncall.example.com:8080/x"},
		{"https://oncall.example.com:80", "https://oncall.example.com:80"},
		{"http://oncall.example.com:443", "http://oncall.example.com:443"},
		{"http://[::1]:80/", "http://[::1]"},
		{"http://[::80]", "http://[::80]"},
	};
	for (size_t i = 0; i < sizeof canon / sizeof canon[0]; i++) {
		char y[200];
		snprintf(y, sizeof y, "server: {public_url: \"%s\"}", canon[i].in);
		c = load_ok(y);
		assert_string_equal(c->server.public_url, canon[i].out);
		config_free(c);
	}
	/* ...and so is the default built from listen. */
	c = load_ok("server: {listen: \"LocalHost:80\"}");
	assert_string_equal(config_public_url(c, buf, sizeof buf), "http://localhost");
	config_free(c);
	c = load_ok("server: {listen: \"127.0.0.1:8080\"}");
	assert_string_equal(config_public_url(c, buf, sizeof buf), "http://127.0.0.1:8080");
	config_free(c);
}

/* ---- golden error files and the example ---- */

static const char *const golden[] = {
	"unknown_key",	  "wrong_type",	 "bad_duration",     "out_of_range", "unset_env",
	"webhook_scheme", "header_crlf", "auth_none_public", "yaml_syntax",  "sqlite_query",
};

static void test_golden(void **state)
{
	(void)state;
	bool update = getenv("UPDATE_GOLDEN") && *getenv("UPDATE_GOLDEN") &&
		      strcmp(getenv("UPDATE_GOLDEN"), "0");
	unsetenv("INTERVENE_TEST_UNSET_VAR");
	for (size_t i = 0; i < sizeof golden / sizeof golden[0]; i++) {
		char yaml[256], errp[256];
		snprintf(yaml, sizeof yaml, "golden/config/%s.yaml", golden[i]);
		snprintf(errp, sizeof errp, "golden/config/%s.err", golden[i]);
		struct config *c = NULL;
		struct err e;
		int rc = config_load(yaml, &c, &e);
		if (rc != ERR_INVALID) {
			config_free(c);
			fail_msg("%s: expected ERR_INVALID, got %d", yaml, rc);
		}
		if (update) {
			FILE *f = fopen(errp, "w");
			assert_non_null(f);
			fprintf(f, "%s\n", e.msg);
			fclose(f);
			continue;
		}
		char *want = read_all(errp);
		if (!want)
			fail_msg("%s missing (run with UPDATE_GOLDEN=1 to create it)", errp);
		size_t n = strlen(want);
		while (n > 0 && want[n - 1] == '\n')
			want[--n] = '\0';
		if (strcmp(want, e.msg))
			fail_msg("%s:\nexpected: %s\n     got: %s", yaml, want, e.msg);
		free(want);
	}
}

/* Unset every variable the example mentions, so it loads as on a fresh machine. */
static void unset_referenced_vars(const char *text)
{
	for (const char *p = strstr(text, "${"); p; p = strstr(p + 2, "${")) {
		size_t n = strspn(
			p + 2, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_");
		char *name = xstrndup(p + 2, n);
		unsetenv(name);
		free(name);
	}
}

static void test_example_file(void **state)
{
	(void)state;
	const char *root = getenv("SOURCE_ROOT");
	if (!root)
		root = "..";
	char path[4096];
	snprintf(path, sizeof path, "%s/intervene.example.yaml", root);
	char *text = read_all(path);
	if (!text)
		fail_msg("cannot read %s", path);
	unset_referenced_vars(text);
	free(text);

	struct config *c = NULL;
	struct err e;
	if (config_load(path, &c, &e))
		fail_msg("%s does not load: %s", path, e.msg);
	assert_int_equal(c->tracker.provider, CONFIG_PROVIDER_NONE);
	assert_true(c->notify.n_webhooks > 0);
	assert_true(c->n_budgets > 0);
	assert_int_equal(strncmp(c->storage.url, "sqlite:///", 10), 0);

	char *d1 = dump_str(c);
	struct config *c2 = load_text_dir(d1, c->dir, &e);
	if (!c2)
		fail_msg("dump of the example does not load back: %s", e.msg);
	char *d2 = dump_str(c2);
	assert_string_equal(d1, d2);
	free(d1);
	free(d2);
	config_free(c2);
	config_free(c);

	/* With a provider chosen and its token given, it still loads. */
	setenv("TRACKER_PROVIDER", "github", 1);
	setenv("GITHUB_TOKEN", "ghp_example", 1);
	assert_int_equal(config_load(path, &c, &e), 0);
	assert_int_equal(c->tracker.provider, CONFIG_PROVIDER_GITHUB);
	assert_string_equal(c->tracker.github.token, "ghp_example");
	config_free(c);
	/* ...and names what is missing when it is not. */
	unsetenv("GITHUB_TOKEN");
	assert_int_equal(config_load(path, &c, &e), ERR_INVALID);
	assert_non_null(
		strstr(e.msg, "tracker.github.token: required when tracker.provider is github"));
	unsetenv("TRACKER_PROVIDER");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),	cmocka_unit_test(test_missing_file),
		cmocka_unit_test(test_type_errors),	cmocka_unit_test(test_error_collection),
		cmocka_unit_test(test_durations),	cmocka_unit_test(test_env_expansion),
		cmocka_unit_test(test_provider_scope),	cmocka_unit_test(test_paths),
		cmocka_unit_test(test_collections),	cmocka_unit_test(test_dump_masking),
		cmocka_unit_test(test_dump_round_trip), cmocka_unit_test(test_dump_notes),
		cmocka_unit_test(test_loopback),	cmocka_unit_test(test_public_url),
		cmocka_unit_test(test_golden),		cmocka_unit_test(test_example_file),
	};
	return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
