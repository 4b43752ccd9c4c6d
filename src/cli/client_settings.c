/* client_settings.c — `intervene settings get|set` (SPEC §5.3, §12): the runtime
 * settings of a running server. Values come back with secrets masked, and a "****"
 * sent back keeps the stored secret, so `get --format json` → edit → `set` works. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/client.h"
#include "cli/textout.h"
#include "util/json.h"
#include "util/time.h"

/* ---- text output ---- */

static const struct table_col setting_cols[] = {
	{"KEY", 0},	    {"SOURCE", 0},  {"UPDATED", 0},
	{"UPDATED_BY", 24}, {"REASON", 40}, {"VALUE", 60},
};

static void setting_row(struct table *t, const json_t *s, int64_t now)
{
	char age[32];
	text_age(json_get_str(s, "updated_at"), now, false, age);
	struct buf v = BUF_INIT;
	text_scalar(&v, json_object_get(s, "value"));
	table_add(t, json_get_str(s, "key"));
	table_add(t, json_get_str(s, "source"));
	table_add(t, json_get_str(s, "updated_at") ? age : NULL);
	table_add(t, json_get_str(s, "updated_by"));
	table_add(t, json_get_str(s, "reason"));
	table_add(t, v.data);
	buf_free(&v);
}

static const struct text_field setting_order[] = {
	{"key", NULL},	  {"source", NULL}, {"updated_at", NULL}, {"updated_by", NULL},
	{"reason", NULL}, {"value", NULL},  {NULL, NULL},
};

/* A list as a table; one setting (get KEY, set) as a key: value listing. */
static int print_settings(struct client *c, const struct client_cmd *cmd, const json_t *reply)
{
	(void)c, (void)cmd;
	const json_t *items = json_object_get(reply, "settings");
	if (items) {
		table_print_items(stdout, items, setting_cols,
				  sizeof setting_cols / sizeof setting_cols[0], "settings",
				  setting_row);
		client_print_more(reply, json_array_size(items));
	} else {
		text_fields(stdout, json_object_get(reply, "setting"), setting_order,
			    time_now_ms());
	}
	return EXIT_OK;
}

/* ---- get ---- */

static int run_get(struct client *c, const struct client_cmd *cmd, struct client_args *a)
{
	/* one path or the other: the engine's {} would stay literal without a KEY */
	struct client_cmd one = *cmd;
	one.path = a->n_path ? "/api/settings/{}" : "/api/settings?per_page=200";
	return client_call(c, &one, a);
}

/* ---- set ---- */

enum { SET_KEY, SET_VALUE, SET_VALUE_FILE, SET_REASON };

static int run_set(struct client *c, const struct client_cmd *cmd, struct client_args *a)
{
	const char *path = a->local[SET_VALUE_FILE];
	if (!path)
		return client_call(c, cmd, a);
	struct buf text = BUF_INIT;
	json_t *v = NULL;
	int code;
	if (client_read_all(path, &text)) {
		fprintf(stderr, "intervene %s: cannot read %s: %s\n", c->cmd, path,
			strerror(errno));
		code = EXIT_FAIL;
		goto out;
	}
	json_error_t je;
	v = json_loadb(buf_cstr(&text), text.len, JSON_REJECT_DUPLICATES, &je);
	if (!v) {
		code = client_usage_error(c, "%s is not valid JSON: %s (line %d, column %d)", path,
					  je.text, je.line, je.column);
		goto out;
	}
	if (!json_is_object(v)) {
		code = client_usage_error(c, "%s must hold a JSON object", path);
		goto out;
	}
	json_object_set(a->body, "value", v);
	code = client_call(c, cmd, a);
out:
	json_decref(v);
	buf_free(&text);
	return code;
}

/* ---- the table ---- */

static const struct copt get_opts[] = {
	/* optional: the brackets say so in the usage line */
	{"[KEY]", NULL, COPT_STRING, TO_PATH, NULL, NULL, 0, 0, NULL,
	 "tracker or canary.<name> (default: every setting)"},
	COPT_END,
};

/* Indexes follow the SET_* enum (run_set reads a->local by it). */
static const struct copt set_opts[] = {
	{"KEY", NULL, COPT_STRING, TO_PATH, NULL, NULL, COPT_REQUIRED, 0, NULL,
	 "tracker or canary.<name>"},
	{"--value", NULL, COPT_OBJECT, TO_BODY, "value", NULL, COPT_REQUIRED, 1, "JSON",
	 "the new value, a JSON object"},
	{"--value-file", NULL, COPT_STRING, TO_LOCAL, NULL, NULL, COPT_REQUIRED, 1, "FILE",
	 "instead of --value: a file holding it ('-': standard input)"},
	{"--reason", NULL, COPT_STRING, TO_BODY, "reason", NULL, COPT_REQUIRED, 0, "TEXT",
	 "why (1..1000 characters; recorded in the settings_changed event)"},
	COPT_END,
};

static const struct client_cmd settings_cmds[] = {
	{"get", NULL, "GET", "/api/settings", get_opts, "show one setting or every setting",
	 "Show the setting KEY, or every setting (tracker first). Secrets are shown as\n"
	 "\"****\". tracker shows the configuration file's block (source config) until a\n"
	 "setting replaces it; an unset canary is an error (404).",
	 print_settings, run_get, NULL, false},
	{"set", NULL, "PUT", "/api/settings/{}", set_opts, "change a setting (admin)",
	 "Replace the value of KEY. tracker takes a whole tracker block as in the\n"
	 "configuration file (keys left out take their defaults; \"****\" for a secret keeps\n"
	 "the stored one; ${VAR} is refused); canary.<name> takes {version,\n"
	 "baseline_version, canary_pct, kill_switch}. The change takes effect without a\n"
	 "restart and is recorded as a settings_changed event naming the fields changed.",
	 print_settings, run_set, NULL, false},
};

int cli_settings(const struct cli *g, int argc, char **argv)
{
	return client_group(g, "settings",
			    "Runtime settings of a server: the tracker block and canary rollouts.",
			    settings_cmds, sizeof settings_cmds / sizeof settings_cmds[0], argc,
			    argv);
}
