/* client_signal.c — `intervene signal`: one signal from options, or the signals of a
 * JSON file sent in batches (SPEC §4.2, §5.1, §12).
 *
 * A file holding an array is split into requests of at most BATCH_MAX items and at
 * most BODY_LIMIT bytes (the server's default body limit less headroom), in order;
 * the first failing request stops the run (the server validates a batch whole, so a
 * refused batch stores nothing; earlier batches stay stored). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/client.h"
#include "cli/textout.h"
#include "util/json.h"

#define BATCH_MAX  1000
#define BODY_LIMIT ((size_t)(1024 * 1024 - 16 * 1024))

/* ---- text output ---- */

/* "created incident 12", "silenced", ... */
static void put_outcome(struct buf *b, const json_t *r)
{
	text_safe(b, json_get_str(r, "outcome"), 0);
	long long id = json_get_int(r, "incident_id", 0);
	if (id)
		buf_printf(b, " incident %lld", id);
}

static int print_one(struct client *c, const struct client_cmd *cmd, const json_t *reply)
{
	(void)c, (void)cmd;
	struct buf b = BUF_INIT;
	put_outcome(&b, reply);
	printf("%s\n", buf_cstr(&b));
	buf_free(&b);
	return EXIT_OK;
}

static const struct table_col result_cols[] = {
	{"INDEX", 0}, {"OUTCOME", 0}, {"INCIDENT", 0}, {"KIND", 0}, {"KEY", 60}};

/* Per-item outcomes of the batches sent so far, and counts by outcome. */
struct results {
	struct table *t;
	json_t *counts; /* outcome → count */
	size_t requests;
};

static void add_results(struct results *rs, const json_t *items, size_t first, const json_t *reply)
{
	size_t i;
	const json_t *r;
	json_array_foreach(json_object_get(reply, "results"), i, r)
	{
		const json_t *item = json_array_get(items, first + i);
		const char *outcome = json_get_str(r, "outcome");
		long long id = json_get_int(r, "incident_id", 0);
		table_addf(rs->t, "%zu", first + i);
		table_add(rs->t, outcome);
		if (id)
			table_addf(rs->t, "%lld", id);
		else
			table_add(rs->t, NULL);
		table_add(rs->t, json_get_str(item, "kind"));
		table_add(rs->t, json_get_str(item, "key"));
		if (outcome)
			json_object_set_new(rs->counts, outcome,
					    json_integer(json_get_int(rs->counts, outcome, 0) + 1));
	}
}

static void print_results(const struct results *rs, size_t n_sent)
{
	table_print(rs->t, stdout);
	printf("%zu signal%s in %zu request%s", n_sent, n_sent == 1 ? "" : "s", rs->requests,
	       rs->requests == 1 ? "" : "s");
	const char *k;
	const json_t *v;
	const char *sep = ": ";
	json_object_foreach(rs->counts, k, v)
	{
		printf("%s%lld %s", sep, (long long)json_integer_value(v), k);
		sep = ", ";
	}
	printf("\n");
}

/* ---- the file ---- */

/* Serialize every item of arr (compact); usage error when one is not an object or
 * cannot fit in a request by itself. texts[i] is malloc'd. */
static int serialize_items(const struct client *c, const char *path, const json_t *arr,
			   char **texts)
{
	size_t i;
	const json_t *item;
	json_array_foreach(arr, i, item)
	{
		if (!json_is_object(item))
			return client_usage_error(c, "%s: item %zu is not a JSON object", path, i);
		texts[i] = json_dumps(item, JSON_COMPACT | JSON_REAL_PRECISION(15));
		size_t len = texts[i] ? strlen(texts[i]) : 0;
		if (!texts[i] || len + 2 > BODY_LIMIT)
			return client_usage_error(
				c, "%s: item %zu is %zu bytes; a request holds at most %zu", path,
				i, len, BODY_LIMIT);
	}
	return EXIT_OK;
}

/* Send items[first..first+n) as one array; on success add the outcomes. */
static int send_batch(struct client *c, const json_t *items, char **texts, size_t first, size_t n,
		      struct results *rs)
{
	struct buf body = BUF_INIT;
	struct http_response resp = {0};
	json_t *reply = NULL;
	buf_putc(&body, '[');
	for (size_t i = first; i < first + n; i++) {
		if (i > first)
			buf_putc(&body, ',');
		buf_puts(&body, texts[i]);
	}
	buf_putc(&body, ']');
	c->index_base = (long long)first;
	int code = client_request(c, "POST", "/api/signals", body.data, body.len, NULL, 0, &resp,
				  &reply);
	if (!code) {
		rs->requests++;
		if (c->json)
			client_put_body(&resp);
		else
			add_results(rs, items, first, reply);
	}
	json_decref(reply);
	http_response_clear(&resp);
	buf_free(&body);
	return code;
}

static int send_array(struct client *c, const char *path, const json_t *items)
{
	size_t n = json_array_size(items), sent = 0;
	if (!n)
		return client_usage_error(c, "%s holds an empty array", path);
	char **texts = xcalloc(n, sizeof *texts);
	struct results rs = {.counts = json_object()};
	rs.t = table_new(result_cols, sizeof result_cols / sizeof result_cols[0]);
	int code = serialize_items(c, path, items, texts);
	while (!code && sent < n) {
		size_t count = 0, bytes = 2; /* "[" and "]" */
		while (sent + count < n && count < BATCH_MAX) {
			size_t add = strlen(texts[sent + count]) + (count ? 1 : 0);
			if (bytes + add > BODY_LIMIT)
				break;
			bytes += add;
			count++;
		}
		code = send_batch(c, items, texts, sent, count, &rs);
		if (code && sent)
			fprintf(stderr,
				"intervene signal: items 0..%zu were accepted; the request with items "
				"%zu..%zu failed and later items were not sent\n",
				sent - 1, sent, sent + count - 1);
		if (!code)
			sent += count;
	}
	if (!c->json && sent)
		print_results(&rs, sent);
	for (size_t i = 0; i < n; i++)
		free(texts[i]);
	free(texts);
	table_free(rs.t);
	json_decref(rs.counts);
	return code;
}

static int send_file(struct client *c, const char *path)
{
	struct buf text = BUF_INIT;
	json_t *v = NULL;
	int code = EXIT_OK;
	if (client_read_all(path, &text)) {
		fprintf(stderr, "intervene signal: cannot read %s: %s\n", path, strerror(errno));
		code = EXIT_FAIL;
		goto out;
	}
	json_error_t je;
	v = json_loadb(buf_cstr(&text), text.len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &je);
	if (!v) {
		code = client_usage_error(c, "%s is not valid JSON: %s (line %d, column %d)", path,
					  je.text, je.line, je.column);
		goto out;
	}
	if (json_is_array(v)) {
		code = send_array(c, path, v);
		goto out;
	}
	if (!json_is_object(v)) {
		code = client_usage_error(c, "%s must hold a JSON object or an array of objects",
					  path);
		goto out;
	}
	struct http_response resp = {0};
	json_t *reply = NULL;
	code = client_request(c, "POST", "/api/signals", text.data, text.len, NULL, 0, &resp,
			      &reply);
	if (!code && c->json)
		client_put_body(&resp);
	else if (!code)
		code = print_one(c, NULL, reply);
	json_decref(reply);
	http_response_clear(&resp);
out:
	json_decref(v);
	buf_free(&text);
	return code;
}

/* ---- the command ---- */

/* Indices into signal_opts (the rows below are in this order). */
enum {
	OPT_KIND,
	OPT_KEY,
	OPT_SUMMARY,
	OPT_SEVERITY,
	OPT_PRIORITY,
	OPT_DETAILS,
	OPT_PLAYBOOK,
	OPT_SOURCE,
	OPT_RESOLVE,
	OPT_FILE,
};

static const struct copt signal_opts[] = {
	[OPT_KIND] =
		COPT_BODY("--kind", COPT_STRING, "kind", "K",
			  "invariant, budget, planner, manual or alert (required without --file)"),
	[OPT_KEY] = COPT_BODY("--key", COPT_STRING, "key", "K",
			      "deduplication key (required except for manual)"),
	[OPT_SUMMARY] = COPT_BODY("--summary", COPT_STRING, "summary", "S",
				  "what is wrong, 1..256 characters (required without --file)"),
	[OPT_SEVERITY] = {"--severity", NULL, COPT_STRING, TO_BODY, "severity", NULL, 0, 1, "SEV",
			  "sev1 .. sev4 (default sev3)"},
	[OPT_PRIORITY] = {"--priority", NULL, COPT_STRING, TO_BODY, "priority", NULL, 0, 1, "P",
			  "instead of --severity: critical, high, medium, low, or P0 .. P4"},
	[OPT_DETAILS] = COPT_BODY("--details", COPT_OBJECT, "details", "JSON", "a JSON object"),
	[OPT_PLAYBOOK] = COPT_BODY("--playbook", COPT_LIST, "playbooks", "NAME", "an action type"),
	[OPT_SOURCE] = COPT_BODY("--source", COPT_STRING, "source", "S",
				 "who sends it (default: the token's name)"),
	[OPT_RESOLVE] = {"--resolve", NULL, COPT_FLAG, TO_BODY, "action", "resolve", 0, 0, NULL,
			 "resolve the active incident of (kind, key) instead of triggering"},
	[OPT_FILE] = {"--file", NULL, COPT_STRING, TO_LOCAL, NULL, NULL, 0, 0, "FILE",
		      "send the signals of FILE ('-' = stdin): an object, or an array of them"},
	COPT_END,
};

static int signal_run(struct client *c, const struct client_cmd *cmd, struct client_args *a)
{
	if (a->local[OPT_FILE]) {
		if (json_object_size(a->body))
			return client_usage_error(
				c, "--file cannot be combined with other signal options");
		return send_file(c, a->local[OPT_FILE]);
	}
	if (!a->given[OPT_KIND] || !a->given[OPT_SUMMARY])
		return client_usage_error(c, "give --kind and --summary, or --file");
	return client_call(c, cmd, a);
}

static const struct client_cmd signal_cmd = {
	"signal",
	NULL,
	"POST",
	"/api/signals",
	signal_opts,
	"send a signal",
	"Send one signal built from the options, or the signals of a JSON file. The server\n"
	"deduplicates by (kind, key): the outcome is created, deduplicated, silenced,\n"
	"rate_limited, resolved or no_incident. A file's array is sent in batches of at\n"
	"most 1000 signals and 1 MiB, in order; one line per item is printed.",
	print_one,
	signal_run,
	NULL,
	false,
};

int cli_signal(const struct cli *g, int argc, char **argv)
{
	return client_single(g, &signal_cmd, argc, argv);
}
