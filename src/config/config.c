/* config.c — the configuration loader: one table of keys over libyaml's document API.
 *
 * Every key of the file is one row of the static tables below (name, type, where it
 * lives in struct config, default written as it would be in the file, bounds, flags).
 * Loading, defaults, validation, dump and free all walk the same tables, so a new key
 * is one new row. Scalar conversion works on text and reports problems as text without
 * positions, so a JSON walker can later validate a `tracker` setting against
 * tracker_keys with the same rules; the YAML walker adds file:line:column.
 *
 * Order of work for a file: parse the whole document, look up tracker.provider first
 * (it decides which ${VAR} references must resolve), walk the document against the
 * tables on top of the defaults, then run the checks that need more than one key
 * (required keys, auth.mode none vs listen, canary sample counts, webhook names). */
#include "config/config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

#include "config/keys.h"
#include "config/sections.h"
#include "util/buf.h"

/* Enums are stored through an int lvalue; that is only sound if they are int-sized. */
_Static_assert(sizeof(enum config_provider) == sizeof(int), "enum size");
_Static_assert(sizeof(enum config_close_on) == sizeof(int), "enum size");

#define MAX_FILE_BYTES (4 * 1024 * 1024)

static int check_gh_name(const char *dir, char **s, struct buf *why);
static int check_jira_key(const char *dir, char **s, struct buf *why);
static int check_webhook_name(const char *dir, char **s, struct buf *why);
static int check_event(const char *dir, char **s, struct buf *why);
static int check_dbt_target(const char *dir, char **s, struct buf *why);
static int check_dbt_env(const char *dir, char **s, struct buf *why);
static int check_nonblank(const char *dir, char **s, struct buf *why);

/* ---- the tables ---- */

const struct enum_name cfg_providers[] = {{"none", CONFIG_PROVIDER_NONE},
					  {"github", CONFIG_PROVIDER_GITHUB},
					  {"gitlab", CONFIG_PROVIDER_GITLAB},
					  {"jira", CONFIG_PROVIDER_JIRA},
					  {NULL, 0}};
static const struct enum_name close_ons[] = {{"resolved", CONFIG_CLOSE_ON_RESOLVED},
					     {"closed", CONFIG_CLOSE_ON_CLOSED},
					     {"never", CONFIG_CLOSE_ON_NEVER},
					     {NULL, 0}};
/* SPEC §6: the event types a webhook may subscribe to. */
static const char *const event_types[] = {
	"incident_created", "incident_updated", "signal_suppressed",
	"sla_breached",	    "action_planned",	"action_approved",
	"action_started",   "action_executed",	"action_rolled_back",
	"issue_delivered",  "issue_failed",	"settings_changed",
	"silence_created",  "silence_ended",	"token_created",
	"token_revoked",    "audit_anchor",	NULL};

static const struct key watcher_keys[] = {
	KBOOL("enabled", C(watcher.enabled), "true"),
	KDUR("interval", C(watcher.interval_ms), "15m", 100, 7 * DAY, 0),
	KDUR("sla_interval", C(watcher.sla_interval_ms), "30s", 100, DAY, 0),
	KDUR("invariant_lookback", C(watcher.invariant_lookback_ms), "60m", SECOND, 365 * DAY, 0),
	KBOOL("auto_resolve", C(watcher.auto_resolve), "true"),
	KINT("auto_resolve_after", C(watcher.auto_resolve_after), "2", 1, 1000),
	KEND,
};

static const struct key assignee_value =
	KSTR("", offsetof(struct config_kv, value), "", 0, check_nonblank);
static const struct coll assignee_coll = {
	.elem_size = sizeof(struct config_kv),
	.name_off = offsetof(struct config_kv, key),
	.elem = &assignee_value,
};

static const struct key github_keys[] = {
	KSTR("token", C(tracker.github.token), "", F_SECRET | F_HEADER | F_REQUIRED, NULL),
	KSTR("owner", C(tracker.github.owner), "", F_REQUIRED, check_gh_name),
	KSTR("repo", C(tracker.github.repo), "", F_REQUIRED, check_gh_name),
	KSTR("base_url", C(tracker.github.base_url), "https://api.github.com",
	     F_BASEURL | F_REQUIRED, NULL),
	KMAP("assignees", C(tracker.github.assignees), C(tracker.github.n_assignees),
	     &assignee_coll),
	KEND,
};

static const struct key gitlab_keys[] = {
	KSTR("token", C(tracker.gitlab.token), "", F_SECRET | F_HEADER | F_REQUIRED, NULL),
	KSTR("project_id", C(tracker.gitlab.project_id), "", F_REQUIRED, NULL),
	KSTR("base_url", C(tracker.gitlab.base_url), "https://gitlab.com", F_BASEURL | F_REQUIRED,
	     NULL),
	KEND,
};

static const struct key jira_keys[] = {
	KSTR("base_url", C(tracker.jira.base_url), "", F_BASEURL | F_REQUIRED, NULL),
	KSTR("email", C(tracker.jira.email), "", F_HEADER | F_REQUIRED, NULL),
	KSTR("api_token", C(tracker.jira.api_token), "", F_SECRET | F_HEADER | F_REQUIRED, NULL),
	KSTR("project_key", C(tracker.jira.project_key), "", F_REQUIRED, check_jira_key),
	KSTR("issue_type", C(tracker.jira.issue_type), "Bug", F_REQUIRED, NULL),
	KSTR("close_transition", C(tracker.jira.close_transition), "", 0, NULL),
	KEND,
};

static const struct key sync_keys[] = {
	KBOOL("comment_on_transition", C(tracker.sync.comment_on_transition), "true"),
	KENUM("close_on", C(tracker.sync.close_on), "resolved", close_ons),
	KEND,
};

/* Also the schema of the runtime `tracker` setting (SPEC §5.3). */
static const struct key tracker_keys[] = {
	KENUM("provider", C(tracker.provider), "none", cfg_providers),
	KSECTION("github", github_keys, 0, CONFIG_PROVIDER_GITHUB),
	KSECTION("gitlab", gitlab_keys, 0, CONFIG_PROVIDER_GITLAB),
	KSECTION("jira", jira_keys, 0, CONFIG_PROVIDER_JIRA),
	KSECTION("sync", sync_keys, 0, 0),
	KSTR("templates_dir", C(tracker.templates_dir), "", F_PATH, NULL),
	KEND,
};

#define W(f) offsetof(struct config_webhook, f)
static const struct key webhook_keys[] = {
	KSTR("name", W(name), "", F_REQUIRED, check_webhook_name),
	KSTR("url", W(url), "", F_URL | F_REQUIRED, NULL),
	/* Not a header itself, but a trailing newline from `$(cat file)` would silently
	 * produce signatures no receiver accepts. */
	KSTR("secret", W(secret), "", F_SECRET | F_HEADER, NULL),
	KSTRLIST("events", W(events), W(n_events), 0, check_event),
	KENUM("min_severity", W(min_severity), "sev4", cfg_severities),
	KEND,
};
static const struct key webhook_value = KSECTION("", webhook_keys, 0, 0);
static const struct coll webhook_coll = {
	.elem_size = sizeof(struct config_webhook),
	.elem = &webhook_value,
};

static const struct key notify_keys[] = {
	KLIST("webhooks", C(notify.webhooks), C(notify.n_webhooks), &webhook_coll),
	KEND,
};

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

static const struct key actions_keys[] = {
	KSECTION("dbt", dbt_keys, 0, 0),
	KSECTION("elasticsearch", es_keys, 0, 0),
	KDUR("approval_ttl", C(actions.approval_ttl_ms), "1h", SECOND, 30 * DAY, 0),
	KEND,
};

#define B(f)	    offsetof(struct config_budget, f)
#define LATENCY_MAX 86400000.0 /* a day, in ms */
#define COST_MAX    1e6
static const struct key budget_keys[] = {
	KBOOL("enabled", B(enabled), "true"),
	KSTR("description", B(description), "", 0, NULL),
	KTHRESH("min_quality_score", B(min_quality_score), 0, 100),
	KTHRESH("min_success_rate", B(min_success_rate), 0, 1),
	KTHRESH("max_avg_latency_ms", B(max_avg_latency_ms), 0, LATENCY_MAX),
	KTHRESH("max_p95_latency_ms", B(max_p95_latency_ms), 0, LATENCY_MAX),
	KTHRESH("max_p99_latency_ms", B(max_p99_latency_ms), 0, LATENCY_MAX),
	KTHRESH("max_avg_cost", B(max_avg_cost), 0, COST_MAX),
	KTHRESH("max_invariant_failures", B(max_invariant_failures), 0, 1e9),
	KEND,
};
static const struct key budget_value = KSECTION("", budget_keys, 0, 0);
static const struct coll budget_coll = {
	.elem_size = sizeof(struct config_budget),
	.name_off = offsetof(struct config_budget, agent),
	.elem = &budget_value,
};

static const struct key canary_keys[] = {
	KINT("window_runs", C(canary.window_runs), "100", 1, 100000),
	KINT("min_samples", C(canary.min_samples), "30", 1, 100000),
	KFLOAT("max_quality_drop", C(canary.max_quality_drop), "5", 0, 100),
	KFLOAT("max_p95_latency_ms", C(canary.max_p95_latency_ms), "1600", 0, LATENCY_MAX),
	KFLOAT("max_avg_cost", C(canary.max_avg_cost), "0.03", 0, COST_MAX),
	KEND,
};

const struct key cfg_root_keys[] = {
	KSECTION("server", cfg_server_keys, 0, 0),
	KSECTION("storage", cfg_storage_keys, 0, 0),
	KSECTION("auth", cfg_auth_keys, 0, 0),
	KSECTION("watcher", watcher_keys, 0, 0),
	KSECTION("policy", cfg_policy_keys, 0, 0),
	KSECTION("tracker", tracker_keys, 0, 0),
	KSECTION("notify", notify_keys, 0, 0),
	KSECTION("actions", actions_keys, 0, 0),
	KMAP("budgets", C(budgets), C(n_budgets), &budget_coll),
	KSECTION("canary", canary_keys, 0, 0),
	KEND,
};

/* ---- small helpers ---- */

static char *cwd_dup(void)
{
	size_t sz = 256;
	for (;;) {
		char *p = xmalloc(sz);
		if (getcwd(p, sz))
			return p;
		free(p);
		if (errno != ERANGE || sz > 65536)
			return xstrdup(".");
		sz *= 2;
	}
}

/* ---- checks of single values ---- */

/* GitHub owner and repo names go into the URL path: keep them to their real alphabet. */
static int check_gh_name(const char *dir, char **s, struct buf *why)
{
	(void)dir;
	size_t n = strlen(*s);
	if (strspn(*s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.") != n ||
	    !strcmp(*s, ".") || !strcmp(*s, "..") || n > 100) {
		buf_puts(why, "may contain only letters, digits, '-', '_' and '.', got ");
		cfg_put_echo(why, *s);
		return -1;
	}
	return 0;
}

/* The project key is written into JQL (`project = KEY`); allow only what Jira allows. */
static int check_jira_key(const char *dir, char **s, struct buf *why)
{
	(void)dir;
	const char *p = *s;
	bool ok = ident_start(*p) && *p != '_' && strlen(p) <= 64;
	for (; ok && *p; p++)
		ok = ident_char(*p);
	if (!ok) {
		buf_puts(
			why,
			"expected a Jira project key (a letter, then letters, digits or '_'), got ");
		cfg_put_echo(why, *s);
		return -1;
	}
	return 0;
}

/* The name is the outbox target `webhook:<name>` and appears in logs and the API. */
static int check_webhook_name(const char *dir, char **s, struct buf *why)
{
	(void)dir;
	size_t n = strlen(*s);
	if (n > 64 ||
	    strspn(*s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.") != n) {
		buf_puts(why,
			 "may contain only letters, digits, '-', '_' and '.' (at most 64), got ");
		cfg_put_echo(why, *s);
		return -1;
	}
	return 0;
}

static int check_event(const char *dir, char **s, struct buf *why)
{
	(void)dir;
	for (size_t i = 0; event_types[i]; i++)
		if (!strcmp(*s, event_types[i]))
			return 0;
	buf_puts(why, "unknown event type ");
	cfg_put_echo(why, *s);
	return -1;
}

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

static int check_nonblank(const char *dir, char **s, struct buf *why)
{
	(void)dir;
	if (strspn(*s, " \t") == strlen(*s)) {
		buf_puts(why, "must not be blank");
		return -1;
	}
	return 0;
}

/* A webhook's name and where it sits in the list, to find duplicates by sorting. */
struct named {
	const char *name;
	size_t idx;
};

static int named_cmp(const void *a, const void *b)
{
	const struct named *p = a, *q = b;
	int c = strcmp(p->name, q->name);
	if (c)
		return c;
	return (p->idx > q->idx) - (p->idx < q->idx);
}

void cfg_check_across(struct ctx *x, const struct config *c)
{
	struct pos top = {1, 1};
	cfg_check_auth(x, c);
	if (c->canary.min_samples > c->canary.window_runs)
		cfg_error(x, "canary.min_samples",
			  cfg_pos_of(x, c, C(canary.min_samples),
				     cfg_pos_of(x, c, C(canary.window_runs), top)),
			  "must not exceed canary.window_runs (%" PRId64 ")",
			  c->canary.window_runs);
	/* Duplicate webhook names: sort by name, report every entry after the first. */
	size_t n = c->notify.n_webhooks;
	struct named *v = xcalloc(n, sizeof *v);
	for (size_t i = 0; i < n; i++)
		v[i] = (struct named){c->notify.webhooks[i].name, i};
	qsort(v, n, sizeof *v, named_cmp);
	for (size_t i = 1; i < n; i++) {
		if (strcmp(v[i].name, v[i - 1].name))
			continue;
		const struct config_webhook *w = &c->notify.webhooks[v[i].idx];
		struct buf key = BUF_INIT;
		buf_printf(&key, "notify.webhooks[%zu].name", v[i].idx);
		cfg_error(x, key.data, cfg_pos_of(x, w, W(name), top),
			  "duplicate webhook name \"%s\"", w->name);
		buf_free(&key);
	}
	free(v);
}

/* ---- load ---- */

static struct config *new_config(const char *path, const char *dir)
{
	struct config *c = xcalloc(1, sizeof *c);
	c->path = xstrdup(path);
	c->dir = xstrdup(dir);
	cfg_apply_defaults(dir, cfg_root_keys, c, false);
	return c;
}

static int load_text(const char *text, size_t len, const char *name, const char *dir,
		     struct config **out, struct err *e, char **all)
{
	*out = NULL;
	struct config *c = new_config(name, dir);
	int rc = cfg_walk(text, len, c, e, all);
	if (rc) {
		config_free(c);
		return rc;
	}
	*out = c;
	return 0;
}

int config_load_string(const char *text, size_t len, const char *name, const char *dir,
		       struct config **out, struct err *e)
{
	char *cwd = cwd_dup();
	char *abs = dir ? cfg_join_path(cwd, dir) : xstrdup(cwd);
	int rc = load_text(text, len, name ? name : "<string>", abs, out, e, NULL);
	free(abs);
	free(cwd);
	return rc;
}

static int read_file(const char *path, struct buf *b, struct err *e)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return err_set(e, ERR_IO, "cannot read %s: %s", path, strerror(errno));
	char chunk[8192];
	size_t n;
	int rc = 0;
	while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
		buf_append(b, chunk, n);
		if (b->len > MAX_FILE_BYTES) {
			rc = err_set(e, ERR_INVALID, "%s: larger than %d bytes", path,
				     MAX_FILE_BYTES);
			goto out;
		}
	}
	if (ferror(f))
		rc = err_set(e, ERR_IO, "cannot read %s: %s", path, strerror(errno));
out:
	fclose(f);
	return rc;
}

int config_load_verbose(const char *path, struct config **out, struct err *e, char **errors)
{
	struct stat st;
	*out = NULL;
	if (errors)
		*errors = NULL;
	if (!path) {
		const char *envp = getenv("INTERVENE_CONFIG");
		if (envp && *envp)
			path = envp;
		else if (stat("intervene.yaml", &st) == 0)
			path = "intervene.yaml";
	}
	char *cwd = cwd_dup();
	int rc;
	if (!path) {
		*out = new_config("", cwd);
		err_clear(e);
		rc = 0;
		goto out;
	}
	struct buf text = BUF_INIT;
	rc = read_file(path, &text, e);
	if (rc == 0) {
		char *abs = cfg_join_path(cwd, path);
		char *slash = strrchr(abs, '/');
		if (slash == abs)
			slash[1] = '\0';
		else if (slash)
			*slash = '\0';
		rc = load_text(buf_cstr(&text), text.len, path, abs, out, e, errors);
		free(abs);
	} else if (errors) {
		*errors = xstrdup(e ? e->msg : "");
	}
	buf_free(&text);
out:
	free(cwd);
	return rc;
}

int config_load(const char *path, struct config **out, struct err *e)
{
	return config_load_verbose(path, out, e, NULL);
}

struct config *config_defaults(void)
{
	char *cwd = cwd_dup();
	struct config *c = new_config("", cwd);
	free(cwd);
	return c;
}

void config_free(struct config *c)
{
	if (!c)
		return;
	cfg_free_keys(cfg_root_keys, c);
	free(c->path);
	free(c->dir);
	free(c);
}
