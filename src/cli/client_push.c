/* client_push.c — `intervene eval push FILE`, `metrics push FILE`, `canary push FILE`
 * (SPEC §10, §12): the items of a file sent in requests that fit the server's limits.
 *
 * FILE ('-' = stdin) is a JSON array or NDJSON, told apart by its first character that
 * is not white space ('[' = an array). NDJSON is read line by line, so a file of any
 * size needs memory for one request only; an array is parsed whole by jansson first
 * (memory grows with the file: use NDJSON for very large files). Items are re-encoded
 * compactly and sent as JSON arrays of at most --max-items items (default and maximum
 * 10,000, the server's per-request limit) and --max-bytes bytes (default 512 KiB,
 * under the server's default body limit of 1 MiB). A line that is not JSON, or an item
 * too large for one request, is rejected here without being sent. Rejected items are
 * reported with their index in FILE (counting items: array positions or non-blank
 * lines). A request that fails stops the run: earlier requests stay stored, the items
 * of the failed one and later ones are not sent.
 *
 * Exit: 0 every item accepted, 1 some rejected or a request failed, 2 usage. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/client.h"
#include "cli/textout.h"
#include "util/json.h"

#define PUSH_MAX_ITEMS	   10000
#define PUSH_DEFAULT_BYTES (512 * 1024)

struct push {
	struct client *c;
	const char *path;  /* the API path */
	const char *file;  /* for messages */
	size_t max_items;  /* per request */
	size_t max_bytes;  /* per request body */
	struct buf body;   /* the request being built: "[item,item" */
	size_t *index;	   /* file index of each item in body */
	size_t n;	   /* items in body */
	size_t accepted;   /* over the whole file */
	size_t n_rejected; /* over the whole file */
	json_t *rejected;  /* [{index, error}] with file indexes, in order */
	size_t requests;
	bool failed; /* a request failed: nothing more is sent */
};

static void reject(struct push *p, size_t index, const char *code, const char *msg)
{
	p->n_rejected++;
	json_array_append_new(p->rejected, jpack("{sI s{ss ss s{}}}", "index", (json_int_t)index,
						 "error", "code", code, "message", msg, "details"));
}

/* Send the request being built; add its outcome with file indexes. */
static int flush(struct push *p)
{
	if (!p->n || p->failed)
		return 0;
	buf_putc(&p->body, ']');
	struct http_response resp = {0};
	json_t *reply = NULL;
	int code = client_request(p->c, "POST", p->path, p->body.data, p->body.len, NULL, 0, &resp,
				  &reply);
	if (code) {
		fprintf(stderr,
			"intervene: items %zu..%zu of %s were not stored (the request failed); "
			"later items were not sent\n",
			p->index[0], p->index[p->n - 1], p->file);
		p->failed = true;
	} else {
		p->requests++;
		p->accepted += (size_t)json_get_int(reply, "accepted", 0);
		size_t i;
		const json_t *r;
		json_array_foreach(json_object_get(reply, "rejected"), i, r)
		{
			json_int_t at = json_integer_value(json_object_get(r, "index"));
			json_t *copy = json_deep_copy(r);
			if (at >= 0 && (size_t)at < p->n)
				json_object_set_new(copy, "index",
						    json_integer((json_int_t)p->index[at]));
			json_array_append_new(p->rejected, copy);
			p->n_rejected++;
		}
	}
	json_decref(reply);
	http_response_clear(&resp);
	buf_reset(&p->body);
	p->n = 0;
	return code;
}

/* Add one item (compact JSON text) with its file index, sending first when it would
 * not fit. */
static void add(struct push *p, size_t index, const char *text)
{
	size_t len = strlen(text);
	if (len + 2 > p->max_bytes) {
		char msg[160];
		snprintf(msg, sizeof msg,
			 "the item is %zu bytes; a request holds at most %zu (--max-bytes)", len,
			 p->max_bytes);
		reject(p, index, "payload_too_large", msg);
		return;
	}
	if (p->n && (p->n == p->max_items || p->body.len + 1 + len + 1 > p->max_bytes))
		flush(p);
	if (p->failed)
		return;
	buf_putc(&p->body, p->n ? ',' : '[');
	buf_append(&p->body, text, len);
	p->index[p->n++] = index;
}

static void add_value(struct push *p, size_t index, const json_t *v)
{
	char *text = json_dumps(v, JSON_COMPACT | JSON_REAL_PRECISION(15));
	add(p, index, text);
	free(text);
}

static bool blank_line(const char *s)
{
	for (; *s; s++)
		if (*s != ' ' && *s != '\t' && *s != '\r' && *s != '\n')
			return false;
	return true;
}

static int push_ndjson(struct push *p, FILE *f)
{
	char *line = NULL;
	size_t cap = 0, index = 0, lineno = 0;
	ssize_t got;
	while (!p->failed && (got = getline(&line, &cap, f)) >= 0) {
		lineno++;
		if (blank_line(line))
			continue;
		json_error_t je;
		json_t *v = json_loadb(line, (size_t)got, JSON_REJECT_DUPLICATES, &je);
		if (!v) {
			char msg[300];
			snprintf(msg, sizeof msg, "line %zu is not valid JSON (column %d: %s)",
				 lineno, je.column, je.text);
			reject(p, index, "invalid_json", msg);
		} else {
			add_value(p, index, v);
			json_decref(v);
		}
		index++;
	}
	free(line);
	if (ferror(f)) {
		fprintf(stderr, "intervene: cannot read %s: %s\n", p->file, strerror(errno));
		return EXIT_FAIL;
	}
	return EXIT_OK;
}

static int push_array(struct push *p, FILE *f)
{
	json_error_t je;
	json_t *v = json_loadf(f, JSON_REJECT_DUPLICATES, &je);
	if (!v || !json_is_array(v)) {
		int code =
			v ? client_usage_error(p->c, "%s must hold a JSON array or NDJSON", p->file)
			  : client_usage_error(p->c,
					       "%s is not valid JSON: %s (line %d, column %d)",
					       p->file, je.text, je.line, je.column);
		json_decref(v);
		return code;
	}
	size_t i;
	const json_t *it;
	json_array_foreach(v, i, it)
	{
		if (p->failed)
			break;
		add_value(p, i, it);
	}
	json_decref(v);
	return EXIT_OK;
}

/* The first character that is not white space, pushed back; EOF when none. */
static int first_char(FILE *f)
{
	int ch;
	while ((ch = getc(f)) != EOF && (ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n'))
		;
	if (ch != EOF)
		ungetc(ch, f);
	return ch;
}

static void print_report(const struct push *p)
{
	if (p->c->json) {
		json_t *o = jpack("{sI sI sO sI}", "accepted", (json_int_t)p->accepted,
				  "rejected_count", (json_int_t)p->n_rejected, "rejected",
				  p->rejected, "requests", (json_int_t)p->requests);
		char *s = json_canon(o);
		printf("%s\n", s);
		free(s);
		json_decref(o);
		return;
	}
	size_t i;
	const json_t *r;
	json_array_foreach(p->rejected, i, r)
	{
		const json_t *e = json_object_get(r, "error");
		const char *field = json_get_str(json_object_get(e, "details"), "field");
		struct buf b = BUF_INIT;
		buf_printf(&b, "rejected item %lld: ", (long long)json_get_int(r, "index", -1));
		text_safe(&b, json_get_str(e, "message"), 0);
		if (field) {
			buf_puts(&b, " (field ");
			text_safe(&b, field, 0);
			buf_puts(&b, ")");
		}
		printf("%s\n", buf_cstr(&b));
		buf_free(&b);
	}
	printf("%zu accepted, %zu rejected, in %zu request%s\n", p->accepted, p->n_rejected,
	       p->requests, p->requests == 1 ? "" : "s");
}

/* Indices into push_opts. */
enum { OPT_FILE, OPT_MAX_ITEMS, OPT_MAX_BYTES };

static int parse_size(struct client *c, const char *v, const char *opt, size_t min, size_t max,
		      size_t *out)
{
	char *end = NULL;
	errno = 0;
	unsigned long long n = strtoull(v, &end, 10);
	if (!*v || *end || errno || n < min || n > max || *v == '-')
		return client_usage_error(c, "%s must be an integer from %zu to %zu", opt, min,
					  max);
	*out = (size_t)n;
	return EXIT_OK;
}

static int push_run(struct client *c, const struct client_cmd *cmd, struct client_args *a)
{
	struct push p = {.c = c,
			 .path = cmd->path,
			 .file = a->local[OPT_FILE],
			 .max_items = PUSH_MAX_ITEMS,
			 .max_bytes = PUSH_DEFAULT_BYTES};
	int code;
	if (a->local[OPT_MAX_ITEMS] && (code = parse_size(c, a->local[OPT_MAX_ITEMS], "--max-items",
							  1, PUSH_MAX_ITEMS, &p.max_items)))
		return code;
	if (a->local[OPT_MAX_BYTES] &&
	    (code = parse_size(c, a->local[OPT_MAX_BYTES], "--max-bytes", 1024,
			       (size_t)64 * 1024 * 1024, &p.max_bytes)))
		return code;
	FILE *f = strcmp(p.file, "-") ? fopen(p.file, "rb") : stdin;
	if (!f) {
		fprintf(stderr, "intervene: cannot open %s: %s\n", p.file, strerror(errno));
		return EXIT_FAIL;
	}
	p.index = xmalloc(p.max_items * sizeof *p.index);
	p.rejected = json_array();
	code = first_char(f) == '[' ? push_array(&p, f) : push_ndjson(&p, f);
	if (code == EXIT_OK) {
		flush(&p);
		print_report(&p);
		code = p.failed || p.n_rejected ? EXIT_FAIL : EXIT_OK;
	}
	if (f != stdin)
		fclose(f);
	json_decref(p.rejected);
	free(p.index);
	buf_free(&p.body);
	return code;
}

static const struct copt push_opts[] = {
	[OPT_FILE] = {"FILE", NULL, COPT_STRING, TO_LOCAL, NULL, NULL, COPT_REQUIRED, 0, NULL,
		      "a JSON array or NDJSON file ('-' = stdin)"},
	[OPT_MAX_ITEMS] = {"--max-items", NULL, COPT_STRING, TO_LOCAL, NULL, NULL, 0, 0, "N",
			   "items per request, 1..10000 (default 10000)"},
	[OPT_MAX_BYTES] = {"--max-bytes", NULL, COPT_STRING, TO_LOCAL, NULL, NULL, 0, 0, "N",
			   "bytes per request body (default 524288; keep it under the "
			   "server's server.max_body_bytes)"},
	COPT_END,
};

#define PUSH_DESC(what)                                                                            \
	"Send the " what " of FILE, a JSON array or NDJSON (one item per line), in\n"              \
	"requests of at most --max-items items and --max-bytes bytes. Prints each rejected\n"      \
	"item with its index in FILE and why, then the totals. Exit 0 when every item was\n"       \
	"accepted, 1 when some were rejected or a request failed (later items are then not\n"      \
	"sent), 2 on a usage error. Duplicates are found within one request only."

static const struct client_cmd eval_cmds[] = {
	{"push", NULL, "POST", "/api/eval/results", push_opts, "send eval results from a file",
	 PUSH_DESC("eval results"), NULL, push_run, NULL, false},
};
static const struct client_cmd metrics_cmds[] = {
	{"push", NULL, "POST", "/api/metrics/daily", push_opts,
	 "send daily metrics from a file (upsert by agent and date)",
	 PUSH_DESC("daily metrics (a rollup replaces the stored one of its agent and date)"), NULL,
	 push_run, NULL, false},
};
static const struct client_cmd canary_cmds[] = {
	{"push", NULL, "POST", "/api/canary/runs", push_opts, "send canary run samples from a file",
	 PUSH_DESC("canary run samples"), NULL, push_run, NULL, false},
};

int cli_eval(const struct cli *g, int argc, char **argv)
{
	return client_group(g, "eval", "Eval results on a server (SPEC §10.1).", eval_cmds, 1, argc,
			    argv);
}

int cli_metrics(const struct cli *g, int argc, char **argv)
{
	return client_group(g, "metrics", "Daily metrics of agents on a server (SPEC §10.2).",
			    metrics_cmds, 1, argc, argv);
}

int cli_canary(const struct cli *g, int argc, char **argv)
{
	return client_group(g, "canary", "Canary run samples on a server (SPEC §10.4).",
			    canary_cmds, 1, argc, argv);
}
