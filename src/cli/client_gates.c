/* client_gates.c — `intervene gates run` (SPEC §10.3): the gate report of a running
 * server, for people and for CI pipelines.
 *
 * Exit codes are the gate's, not the client engine's: 0 every agent passed (or only
 * error/warning violations without --fail-on-warning), 1 a critical violation, 2
 * error/warning violations with --fail-on-warning, 3 the gates could not be evaluated
 * (a usage error, the server unreachable or answering an error). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/client.h"
#include "cli/textout.h"
#include "util/json.h"

/* run() returns GATE_EXIT + the gate's code, so that cli_gates can tell it from the
 * engine's own usage and request failures (all of which become 3). */
#define GATE_EXIT 100

enum { OPT_AGENT, OPT_LOOKBACK, OPT_BASELINE, OPT_FAIL_ON_WARNING, OPT_CREATE };

static const struct copt run_opts[] = {
	[OPT_AGENT] = COPT_BODY("--agent", COPT_STRING, "agent", "A",
				"only this agent's budget (default: every budget)"),
	[OPT_LOOKBACK] = COPT_BODY("--lookback-days", COPT_INT, "lookback_days", "N",
				   "the current window: the N days before today (default 7)"),
	[OPT_BASELINE] = COPT_BODY("--baseline-days", COPT_INT, "baseline_days", "N",
				   "the baseline: the N days before that (default 14)"),
	[OPT_FAIL_ON_WARNING] = {"--fail-on-warning", NULL, COPT_FLAG, TO_LOCAL, NULL, NULL, 0, 0,
				 NULL, "exit 2 when only error or warning violations are found"},
	[OPT_CREATE] = {"--create-incidents", NULL, COPT_FLAG, TO_LOCAL, NULL, NULL, 0, 0, NULL,
			"send each violation as a budget signal (deduplicated by agent and type)"},
	COPT_END,
};

static const struct table_col cols[] = {
	{"AGENT", 24},	  {"BUDGET_TYPE", 0}, {"SEVERITY", 0},
	{"THRESHOLD", 0}, {"ACTUAL", 0},      {"MESSAGE", 70},
};

static void num_cell(struct table *t, const json_t *v)
{
	if (json_is_number(v))
		table_addf(t, "%.6g", json_number_value(v));
	else
		table_add(t, "-");
}

static void print_report(const json_t *report)
{
	const json_t *w = json_object_get(report, "window");
	const json_t *b = json_object_get(report, "baseline");
	printf("window %s .. %s (baseline %s .. %s)\n", json_get_str(w, "from"),
	       json_get_str(w, "to"), json_get_str(b, "from"), json_get_str(b, "to"));
	struct table *t = table_new(cols, sizeof cols / sizeof cols[0]);
	size_t i, k, rows = 0;
	const json_t *a, *v;
	json_array_foreach(json_object_get(report, "agents"), i, a)
	{
		json_array_foreach(json_object_get(a, "violations"), k, v)
		{
			table_add(t, json_get_str(v, "agent"));
			table_add(t, json_get_str(v, "budget_type"));
			table_add(t, json_get_str(v, "severity"));
			num_cell(t, json_object_get(v, "threshold"));
			num_cell(t, json_object_get(v, "actual"));
			table_add(t, json_get_str(v, "message"));
			rows++;
		}
	}
	if (rows)
		table_print(t, stdout);
	table_free(t);
	json_array_foreach(json_object_get(report, "agents"), i, a)
	{
		if (json_get_bool(a, "passed", false)) {
			const char *note = json_get_str(a, "note");
			struct buf line = BUF_INIT, safe = BUF_INIT;
			buf_printf(&line, "%s: passed%s%s", json_get_str(a, "agent"),
				   note ? " — " : "", note ? note : "");
			text_safe(&safe, line.data, 0);
			printf("%s\n", safe.data);
			buf_free(&safe);
			buf_free(&line);
		}
	}
	const json_t *s = json_object_get(report, "summary");
	printf("%lld agents: %lld passed, %lld failed; violations: %lld critical, %lld error, "
	       "%lld warning\n",
	       (long long)json_get_int(s, "agents", 0), (long long)json_get_int(s, "passed", 0),
	       (long long)json_get_int(s, "failed", 0), (long long)json_get_int(s, "critical", 0),
	       (long long)json_get_int(s, "error", 0), (long long)json_get_int(s, "warning", 0));
	const json_t *n = json_object_get(report, "incidents");
	if (n)
		printf("incidents: %lld created, %lld deduplicated, %lld silenced, %lld "
		       "rate_limited\n",
		       (long long)json_get_int(n, "created", 0),
		       (long long)json_get_int(n, "deduplicated", 0),
		       (long long)json_get_int(n, "silenced", 0),
		       (long long)json_get_int(n, "rate_limited", 0));
}

static int gates_run(struct client *c, const struct client_cmd *cmd, struct client_args *a)
{
	if (a->local[OPT_CREATE])
		json_object_set_new(a->body, "create_incidents", json_true());
	char *body = json_canon(a->body);
	struct http_response resp = {0};
	json_t *reply = NULL;
	int code = client_request(c, cmd->method, cmd->path, body, strlen(body), NULL, 0, &resp,
				  &reply);
	free(body);
	if (code) {
		http_response_clear(&resp);
		return code; /* printed; becomes 3 */
	}
	if (c->json)
		client_put_body(&resp);
	else
		print_report(reply);
	const json_t *s = json_object_get(reply, "summary");
	int gate = 0;
	if (json_get_int(s, "critical", 0) > 0)
		gate = 1;
	else if (a->local[OPT_FAIL_ON_WARNING] &&
		 json_get_int(s, "error", 0) + json_get_int(s, "warning", 0) > 0)
		gate = 2;
	json_decref(reply);
	http_response_clear(&resp);
	return GATE_EXIT + gate;
}

static const struct client_cmd gates_cmds[] = {
	{"run", NULL, "POST", "/api/gates/run", run_opts, "evaluate the budgets of the agents",
	 "Evaluate each configured budget over the agents' daily metrics: the current\n"
	 "window is the N days before today (today is partial and left out), the baseline\n"
	 "the days before that. Prints each violation (agent, budget type, threshold,\n"
	 "actual, severity, message). Exit codes: 0 every agent passed (or only error or\n"
	 "warning violations without --fail-on-warning), 1 a critical violation, 2 error or\n"
	 "warning violations with --fail-on-warning, 3 the gates could not be evaluated.",
	 NULL, gates_run, NULL, false},
};

int cli_gates(const struct cli *g, int argc, char **argv)
{
	int rc = client_group(g, "gates", "Budget gates over the agents' daily metrics.",
			      gates_cmds, sizeof gates_cmds / sizeof gates_cmds[0], argc, argv);
	if (rc >= GATE_EXIT)
		return rc - GATE_EXIT;
	return rc == EXIT_OK ? EXIT_OK : 3; /* --help: 0; anything else went wrong */
}

/* ---- intervene watch --once ---- */

static int print_cycle(struct client *c, const struct client_cmd *cmd, const json_t *reply)
{
	(void)c, (void)cmd;
	const char *name;
	const json_t *counts;
	json_object_foreach((json_t *)json_object_get(reply, "checks"), name, counts)
	{
		char *text = json_canon(counts);
		struct buf line = BUF_INIT, safe = BUF_INIT;
		buf_printf(&line, "%s: %s", name, text);
		text_safe(&safe, line.data, 0);
		printf("%s\n", safe.data);
		buf_free(&safe);
		buf_free(&line);
		free(text);
	}
	bool ok = json_get_bool(reply, "ok", false);
	printf("cycle %s in %lld ms\n", ok ? "done" : "done with failed checks",
	       (long long)json_get_int(reply, "duration_ms", 0));
	return ok ? EXIT_OK : EXIT_FAIL;
}

enum { WOPT_ONCE };

static const struct copt watch_opts[] = {
	[WOPT_ONCE] = {"--once", NULL, COPT_FLAG, TO_LOCAL, NULL, NULL, 0, 0, NULL,
		       "run one cycle now and print its counts"},
	COPT_END,
};

static int watch_run(struct client *c, const struct client_cmd *cmd, struct client_args *a)
{
	if (!a->local[WOPT_ONCE])
		return client_usage_error(c, "give --once (the server runs the watcher on its "
					     "own interval)");
	return client_call(c, cmd, a);
}

static const struct client_cmd watch_cmd = {
	"watch",
	NULL,
	"POST",
	"/api/watcher/run",
	watch_opts,
	"run a watcher cycle now",
	"Ask the server to run one watcher cycle now (admin): failed invariants in new\n"
	"eval results, budgets of agents with new metrics, canaries with new runs, and\n"
	"auto-resolve; prints each check's counts. Exits 1 when a check failed.",
	print_cycle,
	watch_run,
	NULL,
	false,
};

int cli_watch(const struct cli *g, int argc, char **argv)
{
	return client_single(g, &watch_cmd, argc, argv);
}
