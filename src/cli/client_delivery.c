/* client_delivery.c — `intervene outbox list|retry` and `intervene tracker test`
 * (SPEC §12): the delivery ledger and the tracker connection of a running server. */
#include <stdio.h>

#include "cli/client.h"
#include "cli/textout.h"
#include "util/json.h"
#include "util/time.h"

static const struct table_col outbox_cols[] = {
	{"ID", 0},	 {"INCIDENT", 0}, {"TARGET", 24},      {"OP", 0},	   {"STATUS", 0},
	{"ATTEMPTS", 0}, {"NEXT", 0},	  {"EXTERNAL_ID", 24}, {"LAST_ERROR", 60},
};

static void outbox_row(struct table *t, const json_t *o, int64_t now)
{
	char next[32] = "-";
	if (json_get_str(o, "next_attempt_at"))
		text_age(json_get_str(o, "next_attempt_at"), now, true, next);
	table_addf(t, "%lld", (long long)json_get_int(o, "id", 0));
	table_addf(t, "%lld", (long long)json_get_int(o, "incident_id", 0));
	table_add(t, json_get_str(o, "target"));
	table_add(t, json_get_str(o, "op"));
	table_add(t, json_get_str(o, "status"));
	table_addf(t, "%lld", (long long)json_get_int(o, "attempts", 0));
	table_add(t, next);
	table_add(t, json_get_str(o, "external_id") ? json_get_str(o, "external_id") : "-");
	table_add(t, json_get_str(o, "last_error") ? json_get_str(o, "last_error") : "");
}

static int print_list(struct client *c, const struct client_cmd *cmd, const json_t *reply)
{
	(void)c, (void)cmd;
	const json_t *items = json_object_get(reply, "outbox");
	table_print_items(stdout, items, outbox_cols, sizeof outbox_cols / sizeof outbox_cols[0],
			  "outbox rows", outbox_row);
	client_print_more(reply, json_array_size(items));
	return EXIT_OK;
}

static int print_retry(struct client *c, const struct client_cmd *cmd, const json_t *reply)
{
	(void)c, (void)cmd;
	const json_t *o = json_object_get(reply, "outbox");
	struct buf b = BUF_INIT, safe = BUF_INIT;
	buf_printf(&b, "outbox row %lld (%s %s of incident %lld) queued again",
		   (long long)json_get_int(o, "id", 0), json_get_str(o, "op"),
		   json_get_str(o, "target"), (long long)json_get_int(o, "incident_id", 0));
	text_safe(&safe, b.data, 0);
	printf("%s\n", safe.data);
	buf_free(&safe);
	buf_free(&b);
	return EXIT_OK;
}

static const struct copt list_opts[] = {
	{"--status", NULL, COPT_LIST, TO_QUERY, "status", NULL, 0, 0, "S",
	 "pending, uncertain, done or dead (repeat for several)"},
	COPT_QUERY("--incident", COPT_ID, "incident_id", "ID", "only this incident's rows"),
	COPT_PAGING,
	COPT_END,
};

static const struct copt retry_opts[] = {COPT_PATH_ID("the outbox row id"), COPT_END};

static const struct client_cmd outbox_cmds[] = {
	{"list", "ls", "GET", "/api/outbox", list_opts, "the delivery ledger, newest first",
	 "List outbox rows (tracker calls and webhook notifications) with their status,\n"
	 "attempts and last error; --format json shows every call of each row.",
	 print_list, NULL, NULL, false},
	{"retry", NULL, "POST", "/api/outbox/{}/retry", retry_opts, "queue a dead row again",
	 "Queue a dead row again (admin): its attempts start over, the ledger keeps the\n"
	 "calls made so far. Fix the cause first (PUT /api/settings/tracker).",
	 print_retry, NULL, NULL, false},
};

int cli_outbox(const struct cli *g, int argc, char **argv)
{
	return client_group(g, "outbox",
			    "The outbox: tracker calls and webhook notifications, with their "
			    "retries.",
			    outbox_cmds, sizeof outbox_cmds / sizeof outbox_cmds[0], argc, argv);
}

static int print_test(struct client *c, const struct client_cmd *cmd, const json_t *reply)
{
	(void)c, (void)cmd;
	bool ok = json_get_bool(reply, "ok", false);
	const char *provider = json_get_str(reply, "provider");
	struct buf b = BUF_INIT, safe = BUF_INIT;
	buf_printf(&b, "%s: %s: %s", provider ? provider : "tracker", ok ? "ok" : "FAILED",
		   json_get_str(reply, "detail") ? json_get_str(reply, "detail") : "");
	text_safe(&safe, b.data, 0);
	printf("%s\n", safe.data);
	buf_free(&safe);
	buf_free(&b);
	return ok ? EXIT_OK : EXIT_FAIL;
}

static const struct copt test_opts[] = {COPT_END};

static const struct client_cmd tracker_cmds[] = {
	{"test", NULL, "POST", "/api/tracker/test", test_opts,
	 "test the tracker connection in effect",
	 "Ask the server to call its tracker (the `tracker` setting, else the config) with\n"
	 "the credentials in effect and report what fails: DNS, connect, TLS, credentials\n"
	 "(401), the repository or project (404). Exits 1 when the test fails.",
	 print_test, NULL, NULL, false},
};

int cli_tracker(const struct cli *g, int argc, char **argv)
{
	return client_group(g, "tracker", "The issue tracker a server delivers to.", tracker_cmds,
			    sizeof tracker_cmds / sizeof tracker_cmds[0], argc, argv);
}
