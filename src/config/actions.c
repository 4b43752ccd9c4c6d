/* actions.c — the `actions` section: how playbook actions reach dbt and Elasticsearch.
 *
 * dbt values become argv elements and the child's whole environment: a target may not
 * look like an option, and each env entry must start with a variable name. */
#include "config/keys.h"
#include "config/sections.h"

/* It becomes an argv element: a leading '-' would turn it into a dbt option. */
static int check_dbt_target(const char *dir, char **s, struct buf *why)
{
	(void)dir;
	if (**s == '-') {
		buf_puts(why, "must not start with '-'");
		return -1;
	}
	return 0;
}

static int check_dbt_env(const char *dir, char **s, struct buf *why)
{
	(void)dir;
	const char *p = *s;
	bool ok = ident_start(*p);
	for (; ok && *p && *p != '='; p++)
		ok = ident_char(*p);
	if (!ok) {
		buf_puts(why,
			 "expected NAME or NAME=VALUE with NAME like [A-Za-z_][A-Za-z0-9_]*, got ");
		cfg_put_echo(why, *s);
		return -1;
	}
	return 0;
}

static const struct key dbt_keys[] = {
	KSTR("command", C(actions.dbt.command), "dbt", F_EXEC | F_REQUIRED, NULL),
	KSTRLIST("project_dirs", C(actions.dbt.project_dirs), C(actions.dbt.n_project_dirs), F_PATH,
		 NULL),
	KSTR("profiles_dir", C(actions.dbt.profiles_dir), "", F_PATH, NULL),
	KSTR("target", C(actions.dbt.target), "", 0, check_dbt_target),
	KDUR("timeout", C(actions.dbt.timeout_ms), "2h", SECOND, 7 * DAY, 0),
	KSTRLIST("env", C(actions.dbt.env), C(actions.dbt.n_env), 0, check_dbt_env),
	KEND,
};

static const struct key es_keys[] = {
	KSTR("url", C(actions.elasticsearch.url), "http://127.0.0.1:9200", F_BASEURL, NULL),
	KSTR("api_key", C(actions.elasticsearch.api_key), "", F_SECRET | F_HEADER, NULL),
	KSTR("username", C(actions.elasticsearch.username), "", F_HEADER, NULL),
	KSTR("password", C(actions.elasticsearch.password), "", F_SECRET | F_HEADER, NULL),
	KDUR("timeout", C(actions.elasticsearch.timeout_ms), "30s", 100, 10 * MINUTE, 0),
	KEND,
};

const struct key cfg_actions_keys[] = {
	KSECTION("dbt", dbt_keys, 0, 0),
	KSECTION("elasticsearch", es_keys, 0, 0),
	KDUR("approval_ttl", C(actions.approval_ttl_ms), "1h", SECOND, 30 * DAY, 0),
	KDUR("canary_step_interval", C(actions.canary_step_ms), "30s", 100, DAY, 0),
	KDUR("rollback_duration", C(actions.rollback_duration_ms), "15m", 100, DAY, 0),
	KEND,
};
