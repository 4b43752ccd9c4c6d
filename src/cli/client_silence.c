/* client_silence.c — `intervene silence add|list|end|preview` (SPEC §4.5, §12). */
#include <stdio.h>

#include "cli/client.h"
#include "cli/textout.h"
#include "util/json.h"
#include "util/time.h"

/* "kind=manual key_glob=db-*" */
static void put_matcher(struct buf *b, const json_t *s)
{
	const json_t *m = json_object_get(s, "matcher");
	const char *kind = json_get_str(m, "kind");
	if (kind)
		buf_printf(b, "kind=%s ", kind);
	buf_printf(b, "key_glob=%s",
		   json_get_str(m, "key_glob") ? json_get_str(m, "key_glob") : "");
}

/* "silence 3 created: kind=manual key_glob=db-* until 2026-05-01T10:00:00.000Z (in 2h)" */
static int print_silence(struct client *c, const struct client_cmd *cmd, const json_t *reply)
{
	(void)c;
	const json_t *s = json_object_get(reply, "silence");
	const char *ends = json_get_str(s, "ends_at");
	char age[32];
	text_age(ends, time_now_ms(), true, age);
	struct buf b = BUF_INIT, safe = BUF_INIT;
	buf_printf(&b, "silence %lld %s: ", (long long)json_get_int(s, "id", 0),
		   (const char *)cmd->data);
	put_matcher(&b, s);
	buf_printf(&b, " until %s (%s)", ends ? ends : "-", age);
	text_safe(&safe, b.data, 0);
	printf("%s\n", safe.data);
	buf_free(&safe);
	buf_free(&b);
	return EXIT_OK;
}

static const struct table_col silence_cols[] = {
	{"ID", 0},   {"ACTIVE", 0},	 {"KIND", 0},	 {"KEY_GLOB", 40},
	{"ENDS", 0}, {"CREATED_BY", 24}, {"REASON", 60},
};

static void silence_row(struct table *t, const json_t *s, int64_t now)
{
	const json_t *m = json_object_get(s, "matcher");
	char ends[32];
	text_age(json_get_str(s, "ends_at"), now, true, ends);
	table_addf(t, "%lld", (long long)json_get_int(s, "id", 0));
	table_add(t, json_get_bool(s, "active", false) ? "yes" : "no");
	table_add(t, json_get_str(m, "kind") ? json_get_str(m, "kind") : "any");
	table_add(t, json_get_str(m, "key_glob"));
	table_add(t, ends);
	table_add(t, json_get_str(s, "created_by"));
	table_add(t, json_get_str(s, "reason"));
}

static int print_list(struct client *c, const struct client_cmd *cmd, const json_t *reply)
{
	(void)c, (void)cmd;
	const json_t *items = json_object_get(reply, "silences");
	table_print_items(stdout, items, silence_cols, sizeof silence_cols / sizeof silence_cols[0],
			  "silences", silence_row);
	client_print_more(reply, json_array_size(items));
	return EXIT_OK;
}

static const struct table_col key_cols[] = {{"KIND", 0}, {"KEY", 80}};

static void key_row(struct table *t, const json_t *k, int64_t now)
{
	(void)now;
	table_add(t, json_get_str(k, "kind"));
	table_add(t, json_get_str(k, "key"));
}

static int print_preview(struct client *c, const struct client_cmd *cmd, const json_t *reply)
{
	(void)c, (void)cmd;
	printf("active incidents matching (a silence leaves them as they are):\n");
	client_print_incidents(json_object_get(reply, "incidents"));
	printf("\nkeys seen in the last 7 days that it would silence:\n");
	table_print_items(stdout, json_object_get(reply, "keys"), key_cols, 2, "keys", key_row);
	return EXIT_OK;
}

static const struct copt add_opts[] = {
	{"--key-glob", NULL, COPT_STRING, TO_BODY, "key_glob", NULL, COPT_REQUIRED, 0, "G",
	 "glob over incident keys (* ? [...])"},
	COPT_BODY("--kind", COPT_STRING, "kind", "K", "only this kind (default: any)"),
	{"--reason", NULL, COPT_STRING, TO_BODY, "reason", NULL, COPT_REQUIRED, 0, "R",
	 "why (shown to everyone)"},
	{"--duration", NULL, COPT_STRING, TO_BODY, "duration", NULL, COPT_REQUIRED, 1, "D",
	 "how long: 30m, 4h, 7d (at most 7 days)"},
	{"--ends-at", NULL, COPT_STRING, TO_BODY, "ends_at", NULL, COPT_REQUIRED, 1, "TIME",
	 "instead of --duration: when it ends (RFC 3339)"},
	COPT_BODY("--starts-at", COPT_STRING, "starts_at", "TIME",
		  "when it starts (RFC 3339; default now)"),
	COPT_END,
};

static const struct copt list_opts[] = {
	{"--all", NULL, COPT_FLAG, TO_QUERY, "all", "true", 0, 0, NULL,
	 "include ended and future silences"},
	COPT_PAGING,
	COPT_END,
};

static const struct copt end_opts[] = {COPT_PATH_ID("the silence id"), COPT_END};

/* The preview takes the matcher as query parameters. */
static const struct copt preview_opts[] = {
	{"--key-glob", NULL, COPT_STRING, TO_QUERY, "key_glob", NULL, COPT_REQUIRED, 0, "G",
	 "glob over incident keys"},
	COPT_QUERY("--kind", COPT_STRING, "kind", "K", "only this kind"),
	COPT_END,
};

static const struct client_cmd silence_cmds[] = {
	{"add", NULL, "POST", "/api/silences", add_opts, "silence new incidents matching a glob",
	 "Create a silence: signals whose (kind, key) match create no incident while it\n"
	 "lasts (they are recorded as signal_suppressed). Existing incidents are untouched.",
	 print_silence, NULL, "created", false},
	{"list", "ls", "GET", "/api/silences", list_opts, "list active silences (--all: every one)",
	 "List the silences in effect now, or with --all every silence.", print_list, NULL, NULL,
	 false},
	{"end", NULL, "DELETE", "/api/silences/{}", end_opts, "end a silence now",
	 "End a silence now.", print_silence, NULL, "ended", false},
	{"preview", NULL, "GET", "/api/silences/preview", preview_opts,
	 "what a silence would match",
	 "Show the active incidents and the keys seen in the last 7 days that a silence with\n"
	 "this matcher would match.",
	 print_preview, NULL, NULL, false},
};

int cli_silence(const struct cli *g, int argc, char **argv)
{
	return client_group(
		g, "silence",
		"Silence signals by a glob over their keys for a while (at most 7 days).",
		silence_cmds, sizeof silence_cmds / sizeof silence_cmds[0], argc, argv);
}
