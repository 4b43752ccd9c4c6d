/* client_incident.c — `intervene incident ...`: list, show, declare, update, assign,
 * the lifecycle verbs, comments and the timeline (SPEC §5.1, §12). */
#include <stdio.h>
#include <string.h>

#include "cli/client.h"
#include "cli/textout.h"
#include "util/json.h"
#include "util/time.h"

/* ---- text output ---- */

static const struct table_col incident_cols[] = {
	{"ID", 0},   {"SEV", 0},      {"STATUS", 0},	{"KIND", 0},
	{"KEY", 40}, {"SUMMARY", 60}, {"ASSIGNED", 20}, {"AGE", 0},
};

static void incident_row(struct table *t, const json_t *inc, int64_t now)
{
	char age[32];
	text_age(json_get_str(inc, "created_at"), now, false, age);
	table_addf(t, "%lld", (long long)json_get_int(inc, "id", 0));
	table_add(t, json_get_str(inc, "severity"));
	table_add(t, json_get_str(inc, "status"));
	table_add(t, json_get_str(inc, "kind"));
	table_add(t, json_get_str(inc, "key"));
	table_add(t, json_get_str(inc, "summary"));
	table_add(t, json_get_str(inc, "assigned_to"));
	table_add(t, age);
}

void client_print_incidents(const json_t *items)
{
	table_print_items(stdout, items, incident_cols,
			  sizeof incident_cols / sizeof incident_cols[0], "incidents",
			  incident_row);
}

static int print_list(struct client *c, const struct client_cmd *cmd, const json_t *reply)
{
	(void)c, (void)cmd;
	const json_t *items = json_object_get(reply, "incidents");
	client_print_incidents(items);
	client_print_more(reply, json_array_size(items));
	return EXIT_OK;
}

/* "ack: met, mitigate: pending (due in 25m), resolve: no target" */
static void fmt_sla(struct buf *b, const json_t *sla, int64_t now)
{
	static const char *const stages[] = {"ack", "mitigate", "resolve", NULL};
	for (const char *const *s = stages; *s; s++) {
		const json_t *st = json_object_get(sla, *s);
		const json_t *met = json_object_get(st, "met");
		const char *due = json_get_str(st, "due_at");
		char age[32];
		text_age(due, now, true, age);
		buf_printf(b, "%s%s: ", s == stages ? "" : ", ", *s);
		if (!due)
			buf_puts(b, "no target");
		else if (json_is_true(met))
			buf_puts(b, "met");
		else
			buf_printf(b, "%s (due %s)", json_is_false(met) ? "breached" : "pending",
				   age);
	}
}

static const struct text_field incident_fields[] = {
	{"id", NULL},
	{"summary", NULL},
	{"status", NULL},
	{"severity", NULL},
	{"kind", NULL},
	{"key", NULL},
	{"assigned_to", NULL},
	{"occurrences", NULL},
	{"source", NULL},
	{"created_at", NULL},
	{"updated_at", NULL},
	{"last_seen_at", NULL},
	{"acknowledged_at", NULL},
	{"acknowledged_by", NULL},
	{"mitigated_at", NULL},
	{"mitigated_by", NULL},
	{"resolved_at", NULL},
	{"resolved_by", NULL},
	{"closed_at", NULL},
	{"closed_by", NULL},
	{"reopened_at", NULL},
	{"sla", fmt_sla},
	{"available_transitions", NULL},
	{"comments_count", NULL},
	{"issue_url", NULL},
	{"playbooks", NULL},
	{"details", NULL},
	{"metadata", NULL},
	{"notes", NULL},
	{NULL, NULL},
};

static int print_show(struct client *c, const struct client_cmd *cmd, const json_t *reply)
{
	(void)c, (void)cmd;
	text_fields(stdout, json_object_get(reply, "incident"), incident_fields, time_now_ms());
	return EXIT_OK;
}

/* After a change: "incident 12 acknowledged: acknowledged, sev2, assigned to bob". */
static int print_changed(struct client *c, const struct client_cmd *cmd, const json_t *reply)
{
	(void)c;
	const json_t *inc = json_object_get(reply, "incident");
	const char *who = json_get_str(inc, "assigned_to");
	struct buf b = BUF_INIT;
	buf_printf(&b, "incident %lld %s: %s, %s, ", (long long)json_get_int(inc, "id", 0),
		   (const char *)cmd->data, json_get_str(inc, "status"),
		   json_get_str(inc, "severity"));
	if (who)
		buf_printf(&b, "assigned to %s", who);
	else
		buf_puts(&b, "unassigned");
	struct buf safe = BUF_INIT;
	text_safe(&safe, b.data, 0);
	printf("%s\n", safe.data);
	buf_free(&safe);
	buf_free(&b);
	return EXIT_OK;
}

static int print_comment(struct client *c, const struct client_cmd *cmd, const json_t *reply)
{
	(void)c, (void)cmd;
	const json_t *cm = json_object_get(reply, "comment");
	printf("comment %lld added to incident %lld\n", (long long)json_get_int(cm, "id", 0),
	       (long long)json_get_int(cm, "incident_id", 0));
	return EXIT_OK;
}

static const struct table_col comment_cols[] = {
	{"ID", 0}, {"AUTHOR", 24}, {"AGE", 0}, {"BODY", 80}};

static void comment_row(struct table *t, const json_t *cm, int64_t now)
{
	char age[32];
	text_age(json_get_str(cm, "created_at"), now, false, age);
	table_addf(t, "%lld", (long long)json_get_int(cm, "id", 0));
	table_add(t, json_get_str(cm, "author"));
	table_add(t, age);
	table_add(t, json_get_str(cm, "body"));
}

static int print_comments(struct client *c, const struct client_cmd *cmd, const json_t *reply)
{
	(void)c, (void)cmd;
	const json_t *items = json_object_get(reply, "comments");
	table_print_items(stdout, items, comment_cols, sizeof comment_cols / sizeof comment_cols[0],
			  "comments", comment_row);
	client_print_more(reply, json_array_size(items));
	return EXIT_OK;
}

static int print_timeline(struct client *c, const struct client_cmd *cmd, const json_t *reply)
{
	(void)c, (void)cmd;
	const json_t *events = json_object_get(reply, "events");
	client_print_events(events);
	client_print_more(reply, json_array_size(events));
	return EXIT_OK;
}

/* ---- the commands ---- */

#define INC_ID COPT_PATH_ID("the incident id")

static const struct copt list_opts[] = {
	COPT_QUERY("--status", COPT_LIST, "status", "S",
		   "open, acknowledged, mitigated, resolved, closed, or active (the first three)"),
	COPT_QUERY("--severity", COPT_LIST, "severity", "SEV", "sev1 .. sev4"),
	COPT_QUERY("--kind", COPT_LIST, "kind", "K", "invariant, budget, planner, manual or alert"),
	COPT_QUERY("--assigned-to", COPT_LIST, "assigned_to", "A", "assignee"),
	{"--query", "-q", COPT_STRING, TO_QUERY, "q", NULL, 0, 0, "TEXT",
	 "case-insensitive substring of the summary or key"},
	COPT_QUERY("--since", COPT_SINCE, "since", "TIME",
		   "created at or after TIME (RFC 3339, or a duration: 2h = two hours ago)"),
	COPT_QUERY("--sort", COPT_STRING, "sort", "ORDER",
		   "created_at (newest first; default) or severity (sev1 first)"),
	COPT_PAGING,
	COPT_END,
};

static const struct copt show_opts[] = {INC_ID, COPT_END};

static const struct copt declare_opts[] = {
	{"--summary", NULL, COPT_STRING, TO_BODY, "summary", NULL, COPT_REQUIRED, 0, "S",
	 "what is wrong, 1..256 characters"},
	COPT_BODY("--severity", COPT_STRING, "severity", "SEV", "sev1 .. sev4 (default sev3)"),
	COPT_BODY("--key", COPT_STRING, "key", "K", "deduplication key (default manual:<uuid>)"),
	COPT_BODY("--details", COPT_OBJECT, "details", "JSON", "a JSON object"),
	COPT_BODY("--playbook", COPT_LIST, "playbooks", "NAME", "an action type"),
	{"--idempotency-key", NULL, COPT_STRING, TO_HEADER, "Idempotency-Key", NULL, 0, 0, "K",
	 "a repeat with the same key within 24 h returns the first reply"},
	COPT_END,
};

static const struct copt update_opts[] = {
	INC_ID,
	COPT_BODY("--summary", COPT_STRING, "summary", "S", "new summary"),
	COPT_BODY("--assigned-to", COPT_CLEARABLE, "assigned_to", "A", "new assignee ('-' clears)"),
	COPT_BODY("--severity", COPT_STRING, "severity", "SEV",
		  "new severity (a change needs --reason)"),
	COPT_BODY("--reason", COPT_STRING, "reason", "R", "why the severity changes"),
	COPT_BODY("--metadata", COPT_OBJECT, "metadata", "JSON",
		  "a JSON object merged into metadata (null removes a key)"),
	COPT_BODY("--playbook", COPT_LIST, "playbooks", "NAME", "replaces the playbooks"),
	COPT_END,
};

static const struct copt assign_opts[] = {
	INC_ID,
	{"USER", NULL, COPT_CLEARABLE, TO_BODY, "assigned_to", NULL, COPT_REQUIRED, 0, NULL,
	 "the assignee; '-' or '' clears"},
	COPT_END,
};

static const struct copt verb_opts[] = {
	INC_ID,
	COPT_BODY("--notes", COPT_STRING, "notes", "TEXT", "notes kept with the transition"),
	COPT_BODY("--assign", COPT_CLEARABLE, "assigned_to", "USER", "also assign ('-' clears)"),
	COPT_END,
};

static const struct copt comment_opts[] = {
	INC_ID,
	{"TEXT", NULL, COPT_STRING, TO_BODY, "body", NULL, COPT_REQUIRED, 0, NULL,
	 "the comment, 1..10000 characters"},
	COPT_END,
};

static const struct copt paged_opts[] = {INC_ID, COPT_PAGING, COPT_END};

#define VERB(name, alias, path, word, summary)                                                     \
	{                                                                                          \
		name, alias, "POST", "/api/incidents/{}/" path, verb_opts, summary,                \
			"Move the incident: " summary                                              \
			". Refused (409) from a status that does not allow it.",                   \
			print_changed, NULL, word, false                                           \
	}

static const struct client_cmd incident_cmds[] = {
	{"list", "ls", "GET", "/api/incidents", list_opts, "list incidents (filters, paging)",
	 "List incidents, newest first. Filters of the same option are alternatives (OR);\n"
	 "different options must all match (AND).",
	 print_list, NULL, NULL, false},
	{"show", "get", "GET", "/api/incidents/{}", show_opts, "show one incident in full",
	 "Show every field of one incident, with its SLA and the transitions it allows.",
	 print_show, NULL, NULL, false},
	{"declare", NULL, "POST", "/api/incidents", declare_opts, "declare a manual incident",
	 "Declare a manual incident. A key that is already active is refused (409) and the\n"
	 "error names the active incident.",
	 print_changed, NULL, "declared", false},
	{"update", NULL, "PATCH", "/api/incidents/{}", update_opts,
	 "change summary, assignee, severity, metadata, playbooks",
	 "Change fields of an incident; give at least one option.", print_changed, NULL, "updated",
	 true},
	{"assign", NULL, "POST", "/api/incidents/{}/assign", assign_opts, "assign (or unassign)",
	 "Assign the incident to USER, or clear the assignee with '-' or ''.", print_changed, NULL,
	 "assigned", false},
	VERB("ack", "acknowledge", "acknowledge", "acknowledged", "acknowledge (from open)"),
	VERB("mitigate", NULL, "mitigate", "mitigated", "mitigate (from open or acknowledged)"),
	VERB("resolve", NULL, "resolve", "resolved", "resolve (from acknowledged or mitigated)"),
	VERB("close", NULL, "close", "closed", "close (from resolved or mitigated)"),
	VERB("reopen", NULL, "reopen", "reopened", "reopen (from resolved or closed)"),
	{"comment", NULL, "POST", "/api/incidents/{}/comments", comment_opts, "add a comment",
	 "Add a comment to the incident (mirrored to its tracker issue).", print_comment, NULL,
	 NULL, false},
	{"comments", NULL, "GET", "/api/incidents/{}/comments", paged_opts, "list the comments",
	 "List the incident's comments, oldest first.", print_comments, NULL, NULL, false},
	{"timeline", NULL, "GET", "/api/incidents/{}/timeline", paged_opts,
	 "the incident's events, oldest first", "List the incident's events, oldest first.",
	 print_timeline, NULL, NULL, false},
};

int cli_incident(const struct cli *g, int argc, char **argv)
{
	return client_group(
		g, "incident",
		"Work with incidents on a running server: list and inspect them, declare\n"
		"one, change it, move it through its lifecycle, comment on it.",
		incident_cmds, sizeof incident_cmds / sizeof incident_cmds[0], argc, argv);
}
