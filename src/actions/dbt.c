/* dbt.c — rerun_dbt and refresh_dbt_dependencies (SPEC §9.1): `actions.dbt.command`
 * spawned through exec/subprocess.h — argv only, no shell, only the `actions.dbt.env`
 * variables, its own process group that dies with the server, the configured timeout,
 * output into the action's log — in one of `actions.dbt.project_dirs`. Selectors are
 * checked against dbt's selector grammar before anything runs: one starting with '-'
 * would be read by dbt as an option. Neither action is reversible. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "actions/action.h"
#include "exec/subprocess.h"
#include "util/json.h"

/* ---- params ---- */

static int selector_ok(const char *s)
{
	if (!*s || *s == '-' || strlen(s) > 512)
		return 0;
	for (const char *p = s; *p; p++)
		if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
		      (*p >= '0' && *p <= '9') || strchr("_.:+*/@-", *p)))
			return 0;
	return 1;
}

/* The project dir: absent → the first configured; else one of them, exactly. */
static int project_dir(const struct config *cfg, const json_t *params, const char **out,
		       struct err *e)
{
	const char *dir = json_get_str(params, "project_dir");
	if (dir && (strstr(dir, "..") || dir[0] != '/'))
		return err_field(e, ERR_INVALID, "params.project_dir",
				 "params.project_dir must be an absolute path without '..'");
	if (cfg->actions.dbt.n_project_dirs == 0) {
		if (dir)
			return err_field(e, ERR_INVALID, "params.project_dir",
					 "params.project_dir: no dbt project is configured "
					 "(actions.dbt.project_dirs is empty)");
		*out = NULL;
		return 0;
	}
	if (!dir) {
		*out = cfg->actions.dbt.project_dirs[0];
		return 0;
	}
	for (size_t i = 0; i < cfg->actions.dbt.n_project_dirs; i++)
		if (!strcmp(cfg->actions.dbt.project_dirs[i], dir)) {
			*out = cfg->actions.dbt.project_dirs[i];
			return 0;
		}
	return err_field(e, ERR_INVALID, "params.project_dir",
			 "params.project_dir must be one of actions.dbt.project_dirs");
}

static int common_check(const struct config *cfg, const json_t *params, struct err *e)
{
	const char *dir;
	return project_dir(cfg, params, &dir, e);
}

static int rerun_check(const struct config *cfg, const json_t *params, struct err *e)
{
	const json_t *models = json_object_get(params, "models");
	size_t i;
	json_t *m;
	json_array_foreach(models, i, m)
	{
		if (!selector_ok(json_string_value(m)))
			return err_field(e, ERR_INVALID, "params.models",
					 "params.models[%zu] must match [A-Za-z0-9_.:+*/@-]+ and "
					 "not start with '-'",
					 i);
	}
	return common_check(cfg, params, e);
}

/* A plan cannot be made without a project that exists. */
static int project_ready(const struct config *cfg, const json_t *params, const char **dir,
			 struct err *e)
{
	int rc = project_dir(cfg, params, dir, e);
	if (rc)
		return rc;
	if (!*dir)
		return err_set(e, ERR_CONFLICT,
			       "no dbt project is configured (actions.dbt.project_dirs is empty)");
	char path[4200];
	struct stat st;
	snprintf(path, sizeof path, "%s/dbt_project.yml", *dir);
	if (stat(path, &st) || !S_ISREG(st.st_mode))
		return err_set(e, ERR_CONFLICT, "%s is not a dbt project (no dbt_project.yml)",
			       *dir);
	return 0;
}

/* ---- command lines ---- */

struct argv {
	char **v;
	size_t n, cap;
};

static void argv_add(struct argv *a, const char *s)
{
	if (a->n + 2 > a->cap) {
		a->cap = a->cap ? a->cap * 2 : 16;
		a->v = xrealloc(a->v, a->cap * sizeof *a->v);
	}
	a->v[a->n++] = xstrdup(s);
	a->v[a->n] = NULL;
}

static void argv_free(struct argv *a)
{
	for (size_t i = 0; i < a->n; i++)
		free(a->v[i]);
	free(a->v);
	memset(a, 0, sizeof *a);
}

static void argv_tail(struct argv *a, const struct config *cfg, const char *dir)
{
	if (cfg->actions.dbt.target[0]) {
		argv_add(a, "--target");
		argv_add(a, cfg->actions.dbt.target);
	}
	argv_add(a, "--project-dir");
	argv_add(a, dir);
	if (cfg->actions.dbt.profiles_dir[0]) {
		argv_add(a, "--profiles-dir");
		argv_add(a, cfg->actions.dbt.profiles_dir);
	}
}

static void rerun_argv(const struct config *cfg, const json_t *params, const char *dir,
		       struct argv *a)
{
	argv_add(a, cfg->actions.dbt.command);
	argv_add(a, "run");
	argv_add(a, "--select");
	bool upstream = json_get_bool(params, "upstream", false);
	size_t i;
	json_t *m;
	json_array_foreach(json_object_get(params, "models"), i, m)
	{
		const char *s = json_string_value(m);
		if (upstream && s[0] != '+') {
			char *p = xmalloc(strlen(s) + 2);
			p[0] = '+';
			strcpy(p + 1, s);
			argv_add(a, p);
			free(p);
		} else {
			argv_add(a, s);
		}
	}
	if (json_get_bool(params, "full_refresh", false))
		argv_add(a, "--full-refresh");
	char n[24];
	snprintf(n, sizeof n, "%lld", (long long)json_get_int(params, "threads", 4));
	argv_add(a, "--threads");
	argv_add(a, n);
	argv_tail(a, cfg, dir);
}

static void simple_argv(const struct config *cfg, const char *sub, const char *dir, struct argv *a)
{
	argv_add(a, cfg->actions.dbt.command);
	argv_add(a, sub);
	argv_tail(a, cfg, dir);
}

/* A command line for people: words with anything unusual single-quoted. */
static char *shown(const struct argv *a)
{
	struct buf b = BUF_INIT;
	for (size_t i = 0; i < a->n; i++) {
		const char *w = a->v[i];
		bool plain = *w != '\0';
		for (const char *p = w; *p && plain; p++)
			plain = strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.:+*/@=,-",
				       *p) != NULL;
		if (i)
			buf_putc(&b, ' ');
		if (plain) {
			buf_puts(&b, w);
			continue;
		}
		buf_putc(&b, '\'');
		for (const char *p = w; *p; p++)
			*p == '\'' ? buf_puts(&b, "'\\''") : buf_putc(&b, *p);
		buf_putc(&b, '\'');
	}
	return buf_steal(&b);
}

static json_t *env_names(const struct config *cfg)
{
	json_t *names = json_array();
	for (size_t i = 0; i < cfg->actions.dbt.n_env; i++) {
		const char *e = cfg->actions.dbt.env[i];
		const char *eq = strchr(e, '=');
		json_array_append_new(names,
				      eq ? json_stringn(e, (size_t)(eq - e)) : json_string(e));
	}
	return names;
}

/* ---- plans ---- */

static const struct action_param rerun_params[] = {
	{.v = {.name = "models", .type = V_STRING_ARRAY, .required = true, .min = 1, .max = 100},
	 .description = "dbt selectors, each matching [A-Za-z0-9_.:+*/@-]+ and not starting with "
			"'-'"},
	{.v = {.name = "full_refresh", .type = V_BOOL},
	 .dflt = "false",
	 .description = "pass --full-refresh"},
	{.v = {.name = "upstream", .type = V_BOOL},
	 .dflt = "false",
	 .description = "prefix every selector with '+' (its parents run too)"},
	{.v = {.name = "threads", .type = V_INT, .min = 1, .max = 64},
	 .dflt = "4",
	 .description = "--threads"},
	{.v = {.name = "project_dir", .type = V_STRING, .min = 1, .max = 4096},
	 .description = "one of actions.dbt.project_dirs (default: the first)"},
	{.v = {.name = "task_id", .type = V_STRING, .min = 1, .max = 200},
	 .description = "an external task id, recorded"},
	{.v = {.name = NULL}},
};

/* The plan of dbt commands (argv lists, each shown as a command line) in dir. */
static void dbt_plan(const struct config *cfg, const char *dir, const char *message,
		     struct argv *cmds, size_t n_cmds, const char *risk, int64_t secs, double cost,
		     bool approval, struct action_plan *out)
{
	json_t *lines = json_array(), *systems = jpack("[s]", "dbt");
	for (size_t i = 0; i < n_cmds; i++) {
		char *line = shown(&cmds[i]);
		json_array_append_new(lines, jstr(line));
		free(line);
	}
	if (!strcmp(risk, "high") || !strcmp(risk, "medium"))
		json_array_append_new(systems, json_string("warehouse"));
	out->plan = jpack("{ss so so ss so ss s{sI sf} sI}", "message", message, "commands", lines,
			  "env", env_names(cfg), "cwd", dir, "systems", systems, "risk", risk,
			  "estimates", "duration_seconds", (json_int_t)secs, "cost_usd", cost,
			  "timeout_seconds", (json_int_t)(cfg->actions.dbt.timeout_ms / 1000));
	snprintf(out->target, sizeof out->target, "dbt:%s", dir);
	out->requires_approval = approval;
	for (size_t i = 0; i < n_cmds; i++)
		argv_free(&cmds[i]);
}

static int rerun_plan(const struct config *cfg, struct store_conn *c, const json_t *params,
		      struct action_plan *out, struct err *e)
{
	(void)c;
	const char *dir;
	int rc = project_ready(cfg, params, &dir, e);
	if (rc)
		return rc;
	struct argv a = {0};
	rerun_argv(cfg, params, dir, &a);
	size_t n = json_array_size(json_object_get(params, "models"));
	bool full = json_get_bool(params, "full_refresh", false);
	char msg[300];
	snprintf(msg, sizeof msg, "run %zu dbt selector%s%s in %s", n, n == 1 ? "" : "s",
		 full ? " with a full refresh" : "", dir);
	dbt_plan(cfg, dir, msg, &a, 1, full ? "high" : "medium", (int64_t)n * (full ? 300 : 120),
		 (double)n * (full ? 0.15 : 0.05), full, out);
	return 0;
}

static const struct action_param deps_params[] = {
	{.v = {.name = "project_dir", .type = V_STRING, .min = 1, .max = 4096},
	 .description = "one of actions.dbt.project_dirs (default: the first)"},
	{.v = {.name = NULL}},
};

static int deps_plan(const struct config *cfg, struct store_conn *c, const json_t *params,
		     struct action_plan *out, struct err *e)
{
	(void)c;
	const char *dir;
	int rc = project_ready(cfg, params, &dir, e);
	if (rc)
		return rc;
	struct argv cmds[2] = {{0}};
	simple_argv(cfg, "deps", dir, &cmds[0]);
	simple_argv(cfg, "compile", dir, &cmds[1]);
	char msg[300];
	snprintf(msg, sizeof msg, "refresh the dbt packages of %s, then compile it", dir);
	dbt_plan(cfg, dir, msg, cmds, 2, "low", 120, 0.0, false, out);
	return 0;
}

/* ---- execution ---- */

static void on_output(void *arg, const char *data, size_t n)
{
	struct action_run *run = arg;
	run->log(run, data, n);
}

/* The child's environment: NAME=VALUE entries as they are, a bare NAME from ours. */
static char **child_env(const struct config *cfg)
{
	char **env = xcalloc(cfg->actions.dbt.n_env + 1, sizeof *env);
	size_t n = 0;
	for (size_t i = 0; i < cfg->actions.dbt.n_env; i++) {
		const char *e = cfg->actions.dbt.env[i];
		if (strchr(e, '=')) {
			env[n++] = xstrdup(e);
			continue;
		}
		const char *v = getenv(e);
		if (!v)
			continue;
		char *kv = xmalloc(strlen(e) + strlen(v) + 2);
		sprintf(kv, "%s=%s", e, v);
		env[n++] = kv;
	}
	return env;
}

static void strv_free(char **v)
{
	for (size_t i = 0; v && v[i]; i++)
		free(v[i]);
	free(v);
}

/* Run one command; its record (command, exit_code, signal, timed_out, duration_ms) is
 * appended to runs. A failure (not started, non-zero exit, signal, timeout) is an
 * error in e; a cancel sets out->cancelled. */
static int run_one(struct action_run *run, const struct argv *a, const char *dir, json_t *runs,
		   struct action_outcome *out, struct err *e)
{
	char **env = child_env(run->cfg);
	char *line = shown(a);
	struct buf head = BUF_INIT;
	buf_printf(&head, "$ %s\n", line);
	run->log(run, head.data, head.len);
	buf_free(&head);
	struct subprocess_spec spec = {
		.argv = (const char *const *)a->v,
		.path_env = getenv("PATH"),
		.cwd = dir,
		.envp = (const char *const *)env,
		.timeout_ms = run->cfg->actions.dbt.timeout_ms,
		.log_cap = 4096,
		.cancel = run->cancel,
		.on_output = on_output,
		.arg = run,
	};
	struct subprocess_result res = {0};
	int rc = subprocess_run(&spec, &res, e);
	if (!rc) {
		json_array_append_new(runs, jpack("{ss si si sb sI}", "command", line, "exit_code",
						  res.exit_code, "signal", res.term_signal,
						  "timed_out", res.timed_out, "duration_ms",
						  (json_int_t)res.duration_ms));
		if (res.cancelled)
			out->cancelled = true;
		else if (res.timed_out)
			rc = err_set(e, ERR_UPSTREAM,
				     "dbt timed out after %lld s (actions.dbt.timeout)",
				     (long long)(run->cfg->actions.dbt.timeout_ms / 1000));
		else if (res.term_signal)
			rc = err_set(e, ERR_UPSTREAM, "dbt was killed by signal %d",
				     res.term_signal);
		else if (res.exit_code)
			rc = err_set(e, ERR_UPSTREAM, "dbt exited with status %d", res.exit_code);
		if (rc || out->cancelled) {
			/* The tail of its output is what people need to see. */
			struct buf t = BUF_INIT;
			buf_printf(&t, "[%s]\n", rc ? e->msg : "cancelled");
			run->log(run, t.data, t.len);
			buf_free(&t);
		}
	}
	subprocess_result_clear(&res);
	free(line);
	strv_free(env);
	return rc;
}

/* target/run_results.json as {model unique_id: status}, NULL when absent or unreadable. */
static json_t *run_results(const char *dir)
{
	char path[4200];
	snprintf(path, sizeof path, "%s/target/run_results.json", dir);
	json_t *doc = json_load_file(path, 0, NULL);
	if (!doc)
		return NULL;
	json_t *models = json_object();
	size_t i;
	json_t *r;
	json_array_foreach(json_object_get(doc, "results"), i, r)
	{
		const char *id = json_get_str(r, "unique_id");
		const char *st = json_get_str(r, "status");
		if (id && st)
			json_object_set_new(models, id, json_string(st));
	}
	json_t *out = jpack("{so sO*}", "models", models, "elapsed_time",
			    json_object_get(doc, "elapsed_time"));
	json_decref(doc);
	return out;
}

static int rerun_execute(struct action_run *run, struct action_outcome *out, struct err *e)
{
	const char *dir;
	int rc = project_ready(run->cfg, run->params, &dir, e);
	if (rc)
		return rc;
	/* A result left by an earlier run must not pass for this one's. */
	char path[4200];
	snprintf(path, sizeof path, "%s/target/run_results.json", dir);
	unlink(path);
	struct argv a = {0};
	rerun_argv(run->cfg, run->params, dir, &a);
	json_t *runs = json_array();
	rc = run_one(run, &a, dir, runs, out, e);
	out->result = jpack("{so}", "runs", runs);
	json_t *rr = run_results(dir);
	if (rr)
		json_object_set_new(out->result, "run_results", rr);
	const char *task = json_get_str(run->params, "task_id");
	if (task)
		json_object_set_new(out->result, "task_id", json_string(task));
	argv_free(&a);
	return rc;
}

static int deps_execute(struct action_run *run, struct action_outcome *out, struct err *e)
{
	const char *dir;
	int rc = project_ready(run->cfg, run->params, &dir, e);
	if (rc)
		return rc;
	json_t *runs = json_array();
	struct argv d = {0}, k = {0};
	simple_argv(run->cfg, "deps", dir, &d);
	simple_argv(run->cfg, "compile", dir, &k);
	rc = run_one(run, &d, dir, runs, out, e);
	if (!rc && !out->cancelled)
		rc = run_one(run, &k, dir, runs, out, e);
	out->result = jpack("{so}", "runs", runs);
	argv_free(&d);
	argv_free(&k);
	return rc;
}

const struct action_type action_rerun_dbt = {
	.name = "rerun_dbt",
	.display_name = "Re-run dbt models",
	.description = "Run dbt models again (dbt run --select …), e.g. after an upstream fix.",
	.approval_rule = "when full_refresh is true",
	.params = rerun_params,
	.check = rerun_check,
	.plan = rerun_plan,
	.execute = rerun_execute,
};

const struct action_type action_refresh_dbt_dependencies = {
	.name = "refresh_dbt_dependencies",
	.display_name = "Refresh dbt dependencies",
	.description = "dbt deps, then dbt compile: pick up changed packages.",
	.approval_rule = "never",
	.params = deps_params,
	.check = common_check,
	.plan = deps_plan,
	.execute = deps_execute,
};
