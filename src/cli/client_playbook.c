/* client_playbook.c — `intervene playbook list|offered|dry-run|approve|execute|rollback|
 * cancel|history|show` (SPEC §5.2, §9, §12): the playbook actions of a running server.
 *
 * dry-run and rollback (which plans the inverse) exit 1 when the plan they stored
 * failed; execute exits 1 when the action ended failed or cancelled. The exit code is
 * the same with --format json, so a script can test it without reading the body. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/client.h"
#include "cli/textout.h"
#include "util/json.h"
#include "util/time.h"

/* What an action reply's exit code depends on (client_cmd.data). */
enum judge { JUDGE_NONE, JUDGE_PLAN, JUDGE_RUN };
static const enum judge judge_plan = JUDGE_PLAN, judge_run = JUDGE_RUN;

static const char *or_dash(const char *s)
{
	return s && *s ? s : "-";
}

/* One line on f, made safe for a terminal. */
__attribute__((format(printf, 2, 3))) static void safe_line(FILE *f, const char *fmt, ...)
{
	struct buf b = BUF_INIT, safe = BUF_INIT;
	va_list ap;
	va_start(ap, fmt);
	buf_vprintf(&b, fmt, ap);
	va_end(ap);
	text_safe(&safe, buf_cstr(&b), 0);
	fprintf(f, "%s\n", buf_cstr(&safe));
	buf_free(&safe);
	buf_free(&b);
}

/* ---- one action, for people ---- */

/* Numbers on one line ("50, 40, 30"); anything else one item per line below the key
 * (command lines, HTTP calls, canary states), or inline when there is one. */
static void fmt_lines(struct buf *b, const json_t *v, int64_t now)
{
	(void)now;
	size_t i;
	const json_t *x;
	bool numbers = true;
	json_array_foreach(v, i, x)
	{
		numbers = numbers && json_is_number(x);
	}
	if (!json_is_array(v) || numbers) {
		text_scalar(b, v);
		return;
	}
	if (json_array_size(v) == 1) {
		text_scalar(b, json_array_get(v, 0));
		return;
	}
	json_array_foreach(v, i, x)
	{
		buf_puts(b, "\n  ");
		text_scalar(b, x);
	}
}

/* An object on one line, as compact JSON. */
static void fmt_compact(struct buf *b, const json_t *v, int64_t now)
{
	(void)now;
	text_scalar(b, v);
}

/* The log below the key, indented; "-" when empty. */
static void fmt_log(struct buf *b, const json_t *v, int64_t now)
{
	(void)now;
	const char *s = json_string_value(v);
	if (!s || !*s) {
		buf_puts(b, "-");
		return;
	}
	while (*s) {
		const char *nl = strchr(s, '\n');
		size_t n = nl ? (size_t)(nl - s) : strlen(s);
		buf_puts(b, "\n  ");
		buf_append(b, s, n);
		s += n + (nl ? 1 : 0);
	}
}

static const struct text_field action_order[] = {
	{"id", NULL},
	{"incident_id", NULL},
	{"action_type", NULL},
	{"status", NULL},
	{"target", NULL},
	{"message", NULL},
	{"commands", fmt_lines},
	{"http_calls", fmt_lines},
	{"steps", fmt_lines},
	{"systems", NULL},
	{"risk", NULL},
	{"estimates", NULL},
	{"requires_approval", NULL},
	{"reversible", NULL},
	{"plan_hash", NULL},
	{"params", fmt_compact},
	{"rollback_of", NULL},
	{"requested_by", NULL},
	{"created_at", NULL},
	{"approved_by", NULL},
	{"approved_at", NULL},
	{"executed_by", NULL},
	{"started_at", NULL},
	{"finished_at", NULL},
	{"error", NULL},
	{"result", NULL},
	{"log", fmt_log},
	{NULL, NULL},
};

static void copy_key(json_t *view, const json_t *from, const char *key, bool keep_null)
{
	json_t *v = json_object_get(from, key);
	if (v && (keep_null || !json_is_null(v)))
		json_object_set(view, key, v);
}

/* The fields a person reads, in action_order's order: the plan's message, commands or
 * HTTP calls, steps, systems, risk and estimates lifted out of `plan`, the rest of the
 * row as it is (times and people only once they are set). */
static json_t *action_view(const json_t *act)
{
	const json_t *plan = json_object_get(act, "plan");
	json_t *v = json_object();
	static const char *const always[] = {"id",     "incident_id", "action_type",
					     "status", "target",      NULL};
	static const char *const when_set[] = {
		"rollback_of", "approved_by", "approved_at", "executed_by", "started_at",
		"finished_at", "error",	      "result",	     "log",	    NULL};
	for (const char *const *k = always; *k; k++)
		copy_key(v, act, *k, true);
	const char *msg = json_get_str(plan, "message"), *error = json_get_str(act, "error");
	if (msg && (!error || strcmp(msg, error)))
		json_object_set_new(v, "message", jstr(msg));
	const json_t *cmds = json_object_get(plan, "commands");
	if (json_array_size(cmds)) {
		json_object_set(v, "commands", (json_t *)cmds);
	} else if (json_array_size(json_object_get(plan, "http_calls"))) {
		json_t *calls = json_array();
		size_t i;
		const json_t *call;
		json_array_foreach(json_object_get(plan, "http_calls"), i, call)
		{
			struct buf line = BUF_INIT;
			buf_printf(&line, "%s %s", or_dash(json_get_str(call, "method")),
				   or_dash(json_get_str(call, "path")));
			json_array_append_new(calls, jstr(line.data));
			buf_free(&line);
		}
		json_object_set_new(v, "http_calls", calls);
	}
	copy_key(v, plan, "steps", false);
	copy_key(v, plan, "systems", false);
	copy_key(v, plan, "risk", false);
	const json_t *est = json_object_get(plan, "estimates");
	if (json_is_object(est)) {
		char d[24];
		text_duration(json_get_int(est, "duration_seconds", 0) * 1000, d);
		const json_t *cost = json_object_get(est, "cost_usd");
		struct buf b = BUF_INIT;
		buf_printf(&b, "about %s, $%.2f", d,
			   json_is_number(cost) ? json_number_value(cost) : 0.0);
		json_object_set_new(v, "estimates", jstr(b.data));
		buf_free(&b);
	}
	const char *rule = json_get_str(plan, "approval_rule");
	struct buf b = BUF_INIT;
	buf_printf(&b, "%s", json_get_bool(act, "requires_approval", false) ? "yes" : "no");
	if (rule)
		buf_printf(&b, " (rule: %s)", rule);
	json_object_set_new(v, "requires_approval", jstr(b.data));
	buf_reset(&b);
	const char *undo = json_get_str(plan, "rollback");
	if (json_get_bool(act, "reversible", false))
		buf_printf(&b, "yes%s%s%s", undo ? " (" : "", undo ? undo : "", undo ? ")" : "");
	else
		buf_puts(&b, "no");
	json_object_set_new(v, "reversible", jstr(b.data));
	buf_free(&b);
	copy_key(v, act, "plan_hash", true);
	copy_key(v, act, "params", true);
	copy_key(v, act, "requested_by", true);
	copy_key(v, act, "created_at", true);
	for (const char *const *k = when_set; *k; k++)
		copy_key(v, act, *k, false);
	return v;
}

/* What to type next, under the fields. */
static void print_next(const json_t *act)
{
	long long inc = (long long)json_get_int(act, "incident_id", 0),
		  id = (long long)json_get_int(act, "id", 0);
	const char *st = or_dash(json_get_str(act, "status"));
	if (!strcmp(st, "dry_run_success") && json_get_bool(act, "requires_approval", false))
		safe_line(stdout,
			  "(next: someone with the approver role other than %s: intervene playbook "
			  "approve %lld %lld --plan-hash %s; then: intervene playbook execute %lld "
			  "%lld)",
			  or_dash(json_get_str(act, "requested_by")), inc, id,
			  or_dash(json_get_str(act, "plan_hash")), inc, id);
	else if (!strcmp(st, "dry_run_success") || !strcmp(st, "approved"))
		printf("(next: intervene playbook execute %lld %lld)\n", inc, id);
	else if (!strcmp(st, "running"))
		printf("(still running: intervene playbook show %lld %lld)\n", inc, id);
	else if (!strcmp(st, "success") && json_get_bool(act, "reversible", false))
		printf("(undo: intervene playbook rollback %lld %lld)\n", inc, id);
}

static void print_one(const json_t *act)
{
	json_t *view = action_view(act);
	text_fields(stdout, view, action_order, time_now_ms());
	json_decref(view);
	print_next(act);
}

/* approve, cancel, show: {action}. */
static int print_action(struct client *c, const struct client_cmd *cmd, const json_t *reply)
{
	(void)c, (void)cmd;
	print_one(json_object_get(reply, "action"));
	return EXIT_OK;
}

/* ---- requests whose exit code depends on the action ---- */

/* Send cmd's request with a->body, print the {action} it answers (the body unchanged
 * with --format json) and judge it by cmd->data: a failed plan, or an execution that
 * ended failed or cancelled, is EXIT_FAIL with the reason on stderr. */
static int run_judged(struct client *c, const struct client_cmd *cmd, struct client_args *a)
{
	struct buf path = BUF_INIT;
	struct http_response resp = {0};
	json_t *reply = NULL;
	client_build_path(&path, cmd, a);
	char *body = json_canon(a->body);
	int code = client_request(c, cmd->method, path.data, body, strlen(body), a->headers,
				  a->n_headers, &resp, &reply);
	if (code)
		goto out;
	const json_t *act = json_object_get(reply, "action");
	if (c->json)
		client_put_body(&resp);
	else
		print_one(act);
	enum judge how = cmd->data ? *(const enum judge *)cmd->data : JUDGE_NONE;
	const char *st = or_dash(json_get_str(act, "status"));
	long long id = (long long)json_get_int(act, "id", 0);
	const char *error = json_get_str(act, "error");
	if (how == JUDGE_PLAN && !strcmp(st, "dry_run_failed")) {
		safe_line(stderr, "intervene %s: the plan of action %lld failed: %s", c->cmd, id,
			  or_dash(error));
		code = EXIT_FAIL;
	} else if (how == JUDGE_RUN && (!strcmp(st, "failed") || !strcmp(st, "cancelled"))) {
		safe_line(stderr, "intervene %s: action %lld %s%s%s", c->cmd, id, st,
			  error ? ": " : "", error ? error : "");
		code = EXIT_FAIL;
	}
out:
	json_decref(reply);
	free(body);
	http_response_clear(&resp);
	buf_free(&path);
	return code;
}

/* ---- dry-run ---- */

enum { DR_INC, DR_TYPE, DR_PARAM, DR_PARAMS, DR_PARAMS_FILE };

/* The params object of --params, --params-file or neither ({}); NULL after a message
 * (*code says which exit). New reference. */
static json_t *base_params(struct client *c, struct client_args *a, int *code)
{
	json_t *inline_params = json_object_get(a->body, "params");
	if (inline_params)
		return json_incref(inline_params);
	const char *path = a->local[DR_PARAMS_FILE];
	if (!path)
		return json_object();
	struct buf text = BUF_INIT;
	json_t *v = NULL;
	json_error_t je;
	if (client_read_all(path, &text)) {
		fprintf(stderr, "intervene %s: cannot read %s: %s\n", c->cmd, path,
			strerror(errno));
		*code = EXIT_FAIL;
	} else if (!(v = json_loadb(buf_cstr(&text), text.len, JSON_REJECT_DUPLICATES, &je))) {
		*code = client_usage_error(c, "%s is not valid JSON: %s (line %d, column %d)", path,
					   je.text, je.line, je.column);
	} else if (!json_is_object(v)) {
		json_decref(v);
		v = NULL;
		*code = client_usage_error(c, "%s must hold a JSON object", path);
	}
	buf_free(&text);
	return v;
}

/* The type ("string", "array", ...) the catalogue gives param name of action type, or
 * NULL when either is not in it. */
static const char *param_type(const json_t *catalogue, const char *type, const char *name)
{
	size_t i, k;
	const json_t *t, *p;
	json_array_foreach(json_object_get(catalogue, "actions"), i, t)
	{
		if (!json_get_str(t, "name") || strcmp(json_get_str(t, "name"), type))
			continue;
		json_array_foreach(json_object_get(t, "params"), k, p)
		{
			if (json_get_str(p, "name") && !strcmp(json_get_str(p, "name"), name))
				return json_get_str(p, "type");
		}
	}
	return NULL;
}

/* Put one --param NAME=VALUE into params. string params take VALUE as it is; array
 * params take a JSON array's items, or VALUE as one item, and a repeated NAME adds
 * to them; any other param takes VALUE as JSON when it parses, else as a string.
 * seen: the names --param set so far; catalogue: the reply of GET
 * /api/playbooks/actions (NULL: types unknown). */
static int add_param(struct client *c, json_t *params, json_t *seen, const json_t *catalogue,
		     const char *action_type, const char *arg)
{
	const char *eq = strchr(arg, '=');
	char *name = xstrndup(arg, (size_t)(eq - arg));
	const char *text = eq + 1, *type = param_type(catalogue, action_type, name);
	bool array = type && !strcmp(type, "array"), again = json_object_get(seen, name);
	int code = EXIT_OK;
	json_t *v = NULL;
	if (again && !array) {
		code = client_usage_error(c, "--param %s is given twice", name);
		goto out;
	}
	if (!type || strcmp(type, "string"))
		v = json_loads(text, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, NULL);
	if (!v && !(v = json_string(text))) {
		code = client_usage_error(c, "--param %s is not valid UTF-8", name);
		goto out;
	}
	if (array) {
		json_t *items = again ? json_object_get(params, name) : json_array();
		if (!again)
			json_object_set_new(params, name, items);
		if (json_is_array(v))
			json_array_extend(items, v);
		else if (json_is_string(v))
			json_array_append(items, v);
		else /* 5 or true as an item: the text, for the server to judge */
			json_array_append_new(items, json_string(text));
	} else {
		json_object_set(params, name, v);
	}
	json_object_set_new(seen, name, json_true());
out:
	json_decref(v);
	free(name);
	return code;
}

static int run_dry_run(struct client *c, const struct client_cmd *cmd, struct client_args *a)
{
	json_t *list = json_incref(json_object_get(a->body, "param")); /* gathered by the engine */
	json_object_del(a->body, "param");
	json_t *params = NULL, *catalogue = NULL, *seen = json_object();
	struct http_response resp = {0};
	int code = EXIT_OK;
	size_t i;
	const json_t *p;
	json_array_foreach(list, i, p)
	{
		const char *s = json_string_value(p);
		if (!strchr(s, '=') || s[0] == '=') {
			code = client_usage_error(c, "--param must be NAME=VALUE (got '%s')", s);
			goto out;
		}
	}
	if (!(params = base_params(c, a, &code)))
		goto out;
	/* the types of the params, so that version=2 stays the string "2" */
	if (json_array_size(list) && (code = client_request(c, "GET", "/api/playbooks/actions",
							    NULL, 0, NULL, 0, &resp, &catalogue)))
		goto out;
	const char *type = json_get_str(a->body, "action_type");
	json_array_foreach(list, i, p)
	{
		if ((code = add_param(c, params, seen, catalogue, type, json_string_value(p))))
			goto out;
	}
	json_object_set(a->body, "params", params);
	code = run_judged(c, cmd, a);
out:
	http_response_clear(&resp);
	json_decref(catalogue);
	json_decref(seen);
	json_decref(params);
	json_decref(list);
	return code;
}

/* ---- execute ---- */

enum { EX_INC, EX_ACTION, EX_WAIT, EX_KEY };

static int run_execute(struct client *c, const struct client_cmd *cmd, struct client_args *a)
{
	const char *w = a->local[EX_WAIT];
	if (w) {
		long long secs = strtoll(w, NULL, 10);
		if (secs > 60)
			return client_usage_error(c, "--wait must be 0..60 seconds (got '%s')", w);
		buf_printf(&a->query, "?wait=%lld", secs);
		/* the reply may take that long: the request's own limit must outlast it */
		http_client_set_limits(c->http, 0, (long)(secs + 30) * 1000, 0);
	}
	return run_judged(c, cmd, a);
}

/* ---- list, offered, history ---- */

static const struct table_col type_cols[] = {
	{"NAME", 0},
	{"REVERSIBLE", 0},
	{"APPROVAL", 48},
	{"PARAMS", 0},
};

/* PARAMS as a usage line: "models [full_refresh] [threads]". */
static void type_row(struct table *t, const json_t *a, int64_t now)
{
	(void)now;
	struct buf p = BUF_INIT;
	size_t i;
	const json_t *prm;
	json_array_foreach(json_object_get(a, "params"), i, prm)
	{
		bool req = json_get_bool(prm, "required", false);
		buf_printf(&p, "%s%s%s%s", i ? " " : "", req ? "" : "[",
			   or_dash(json_get_str(prm, "name")), req ? "" : "]");
	}
	table_add(t, json_get_str(a, "name"));
	table_add(t, json_get_bool(a, "reversible", false) ? "yes" : "no");
	table_add(t, json_get_str(a, "approval"));
	table_add(t, p.data);
	buf_free(&p);
}

static int print_types(struct client *c, const struct client_cmd *cmd, const json_t *reply)
{
	(void)c, (void)cmd;
	table_print_items(stdout, json_object_get(reply, "actions"), type_cols,
			  sizeof type_cols / sizeof type_cols[0], "action types", type_row);
	return EXIT_OK;
}

static const struct table_col offered_cols[] = {
	{"TYPE", 0},
	{"APPROVAL", 0},
	{"NAME", 32},
	{"PARAMS", 80},
};

static void offered_row(struct table *t, const json_t *a, int64_t now)
{
	(void)now;
	struct buf p = BUF_INIT;
	text_scalar(&p, json_object_get(a, "params"));
	table_add(t, json_get_str(a, "action_type"));
	table_add(t, json_get_bool(a, "requires_approval", false) ? "needed" : "no");
	table_add(t, json_get_str(a, "display_name"));
	table_add(t, p.data);
	buf_free(&p);
}

static int print_offered(struct client *c, const struct client_cmd *cmd, const json_t *reply)
{
	(void)c, (void)cmd;
	table_print_items(stdout, json_object_get(reply, "actions"), offered_cols,
			  sizeof offered_cols / sizeof offered_cols[0], "actions offered",
			  offered_row);
	return EXIT_OK;
}

static const struct table_col history_cols[] = {
	{"ID", 0},	     {"TYPE", 0}, {"STATUS", 0}, {"TARGET", 32}, {"REQUESTED_BY", 20},
	{"APPROVED_BY", 20}, {"AGE", 0},  {"ERROR", 60},
};

static void history_row(struct table *t, const json_t *a, int64_t now)
{
	char age[32];
	text_age(json_get_str(a, "created_at"), now, false, age);
	table_addf(t, "%lld", (long long)json_get_int(a, "id", 0));
	table_add(t, json_get_str(a, "action_type"));
	table_add(t, json_get_str(a, "status"));
	table_add(t, json_get_str(a, "target"));
	table_add(t, json_get_str(a, "requested_by"));
	table_add(t, json_get_str(a, "approved_by"));
	table_add(t, age);
	table_add(t, json_get_str(a, "error"));
}

static int print_history(struct client *c, const struct client_cmd *cmd, const json_t *reply)
{
	(void)c, (void)cmd;
	const json_t *items = json_object_get(reply, "actions");
	table_print_items(stdout, items, history_cols, sizeof history_cols / sizeof history_cols[0],
			  "actions", history_row);
	client_print_more(reply, json_array_size(items));
	return EXIT_OK;
}

/* ---- the table ---- */

#define PB_INC                                                                                     \
	{                                                                                          \
		"INC", NULL, COPT_ID, TO_PATH, NULL, NULL, COPT_REQUIRED, 0, NULL,                 \
			"the incident id"                                                          \
	}
#define PB_ACTION(dest, key)                                                                       \
	{                                                                                          \
		"ACTION", NULL, COPT_ID, dest, key, NULL, COPT_REQUIRED, 0, NULL,                  \
			"the action id (dry-run and history show it)"                              \
	}

static const struct copt no_opts[] = {COPT_END};
static const struct copt inc_opts[] = {PB_INC, COPT_END};
static const struct copt action_opts[] = {PB_INC, PB_ACTION(TO_PATH, NULL), COPT_END};
static const struct copt history_opts[] = {PB_INC, COPT_PAGING, COPT_END};

/* Indexes follow the DR_* enum (run_dry_run reads a->local by it). */
static const struct copt dry_run_opts[] = {
	PB_INC,
	{"TYPE", NULL, COPT_STRING, TO_BODY, "action_type", NULL, COPT_REQUIRED, 0, NULL,
	 "the action type (see 'intervene playbook list')"},
	/* gathered under a scratch body key; run_dry_run turns them into params */
	{"--param", NULL, COPT_LIST, TO_BODY, "param", NULL, 0, 0, "NAME=VALUE",
	 "one param (VALUE typed as said above)"},
	{"--params", NULL, COPT_OBJECT, TO_BODY, "params", NULL, 0, 1, "JSON",
	 "the params as a JSON object (--param entries replace its keys)"},
	{"--params-file", NULL, COPT_STRING, TO_LOCAL, NULL, NULL, 0, 1, "FILE",
	 "instead of --params: a file holding them ('-': standard input)"},
	COPT_END,
};

static const struct copt approve_opts[] = {
	PB_INC,
	PB_ACTION(TO_PATH, NULL),
	COPT_BODY("--plan-hash", COPT_STRING, "plan_hash", "H",
		  "approve only if the plan is still this one (its plan_hash)"),
	COPT_END,
};

/* Indexes follow the EX_* enum. */
static const struct copt execute_opts[] = {
	PB_INC,
	PB_ACTION(TO_BODY, "action_id"),
	{"--wait", NULL, COPT_INT, TO_LOCAL, NULL, NULL, 0, 0, "SECONDS",
	 "wait up to 0..60 s for the action to end (default: reply at once)"},
	{"--idempotency-key", NULL, COPT_STRING, TO_HEADER, "Idempotency-Key", NULL, 0, 0, "K",
	 "a repeat with the same key within 24 h returns the first reply"},
	COPT_END,
};

#define PB_PATH "/api/playbooks/incidents/{}/actions"

static const struct client_cmd playbook_cmds[] = {
	{"list", "ls", "GET", "/api/playbooks/actions", no_opts, "the action types a server has",
	 "List every action type: its name, whether it can be rolled back, when it needs\n"
	 "a second person's approval, and its params (optional ones in brackets).\n"
	 "--format json gives the whole schema: types, defaults, bounds, allowed values.",
	 print_types, NULL, NULL, false},
	{"offered", NULL, "GET", PB_PATH, inc_opts, "the actions offered for an incident",
	 "List the actions offered for incident INC (its playbooks, then the suggestions\n"
	 "for its kind), with params pre-filled from its details and whether they need\n"
	 "approval. Offered params can be passed to dry-run with --params.",
	 print_offered, NULL, NULL, false},
	{"dry-run", NULL, "POST", PB_PATH "/dry-run", dry_run_opts,
	 "plan an action (nothing runs yet)",
	 "Plan an action of TYPE for incident INC and store the plan: the command lines or\n"
	 "HTTP calls, steps, systems, risk, estimates, whether it needs approval, its\n"
	 "plan_hash and the action id that approve and execute take. Params come from\n"
	 "--params (or --params-file) and --param NAME=VALUE: a string param takes VALUE\n"
	 "as it is, an array param a JSON array (models='[\"a\",\"b\"]') or one item per\n"
	 "--param (--param models=a --param models=b), any other VALUE is JSON when it\n"
	 "parses (5, true), else a string. Exits 1 when the plan failed (target\n"
	 "unreachable, canary missing, a move that changes nothing), printing the reason.",
	 NULL, run_dry_run, &judge_plan, false},
	{"approve", NULL, "POST", PB_PATH "/{}/approve", approve_opts,
	 "approve a plan (approver; not its requester)",
	 "Approve the plan ACTION of incident INC (the approver role; not the person who\n"
	 "requested it). An approval holds for this plan while the plan and the approval\n"
	 "are younger than actions.approval_ttl.",
	 print_action, NULL, NULL, false},
	{"execute", NULL, "POST", PB_PATH "/execute", execute_opts, "run a plan",
	 "Run the plan ACTION of incident INC. A plan that needs approval runs only once\n"
	 "approved (else approval_required, HTTP 403). The server answers at once with the\n"
	 "action running, or with --wait when it ends or the wait passes. Exits 0 when the\n"
	 "action succeeded or is still running, 1 when it ended failed or cancelled\n"
	 "(printing its error).",
	 NULL, run_execute, &judge_run, false},
	{"rollback", NULL, "POST", PB_PATH "/{}/rollback", action_opts,
	 "plan the undo of an action that succeeded",
	 "Plan the inverse of the executed, successful action ACTION: a new plan (with\n"
	 "rollback_of) that is approved when its rule says so and executed like any other.\n"
	 "Exits 1 when that plan failed.",
	 NULL, run_judged, &judge_plan, false},
	{"cancel", NULL, "POST", PB_PATH "/{}/cancel", action_opts, "cancel a running action",
	 "Cancel the running action ACTION: its process group is terminated and it ends\n"
	 "cancelled ('playbook show' tells when).",
	 print_action, NULL, NULL, false},
	{"history", NULL, "GET", PB_PATH "/history", history_opts,
	 "the incident's actions, newest first",
	 "List the actions planned for incident INC, newest first, with their status.",
	 print_history, NULL, NULL, false},
	{"show", NULL, "GET", PB_PATH "/{}", action_opts, "one action with its log",
	 "Show the action ACTION of incident INC: its plan, who requested, approved and\n"
	 "executed it and when, its result, its error and its log.",
	 print_action, NULL, NULL, false},
};

int cli_playbook(const struct cli *g, int argc, char **argv)
{
	return client_group(g, "playbook",
			    "Playbook actions on a server: plan (dry-run), approve, execute, roll "
			    "back.",
			    playbook_cmds, sizeof playbook_cmds / sizeof playbook_cmds[0], argc,
			    argv);
}
