/* render.c — `intervene render`: render an issue template for an incident given as a
 * JSON file, locally, without a server (SPEC §7, §12). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "template/issue.h"
#include "util/buf.h"
#include "util/json.h"

/* Context files larger than this are refused. */
#define CONTEXT_MAX (16 * 1024 * 1024)

static const char render_help[] =
	"usage: intervene [--config PATH] render [TEMPLATE] --context FILE.json [--strict]\n"
	"                 [--format text|json]\n\n"
	"Render the issue template TEMPLATE for the incident in FILE.json, as the tracker\n"
	"integration would, and print it. TEMPLATE is a built-in (invariant_failure,\n"
	"budget_exceeded, planner_regression, generic_incident) or the name of a file\n"
	"TEMPLATE.md in the configuration's tracker.templates_dir, which overrides a\n"
	"built-in of the same name. Without TEMPLATE the template is chosen by the\n"
	"incident's kind. public_url comes from the configuration.\n\n"
	"options:\n"
	"  --context FILE  the incident: its JSON object, or {\"incident\": {...}} as\n"
	"                  GET /api/incidents/{id} returns it; - reads standard input\n"
	"  --strict        after the output, name every tag that resolved to a missing or\n"
	"                  empty value on stderr ('missing: NAME', once each) and exit 1\n"
	"                  if there is any\n"
	"  --format FMT    text (default): 'title: ...', 'labels: a, b', a blank line and\n"
	"                  the body; json: {\"title\", \"labels\", \"body\"}\n\n"
	"Exit 0 when rendered, 1 when the context is unreadable or invalid, the template\n"
	"is broken (the error names its line and column) or --strict found missing\n"
	"values, 2 for a usage error. See docs/templates.md.\n";

struct missing_names {
	char **v;
	size_t n;
};

static void on_missing(const char *name, void *arg)
{
	struct missing_names *m = arg;
	for (size_t i = 0; i < m->n; i++)
		if (!strcmp(m->v[i], name))
			return;
	m->v = xrealloc(m->v, (m->n + 1) * sizeof *m->v);
	m->v[m->n++] = xstrdup(name);
}

static void missing_free(struct missing_names *m)
{
	for (size_t i = 0; i < m->n; i++)
		free(m->v[i]);
	free(m->v);
}

/* Read path ("-" = stdin) into b; prints the error and returns false on failure. */
static bool read_context(const char *path, struct buf *b)
{
	bool is_stdin = !strcmp(path, "-");
	FILE *f = is_stdin ? stdin : fopen(path, "rb");
	if (!f) {
		fprintf(stderr, "intervene render: cannot read %s: %s\n", path, strerror(errno));
		return false;
	}
	char chunk[8192];
	size_t n;
	bool ok = true;
	while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
		if (b->len + n > CONTEXT_MAX) {
			fprintf(stderr, "intervene render: %s is larger than %d bytes\n", path,
				CONTEXT_MAX);
			ok = false;
			break;
		}
		buf_append(b, chunk, n);
	}
	if (ok && ferror(f)) {
		fprintf(stderr, "intervene render: cannot read %s: %s\n", path, strerror(errno));
		ok = false;
	}
	if (!is_stdin)
		fclose(f);
	return ok;
}

static void print_list(const char *label, char **v, size_t n)
{
	printf("%s:", label);
	for (size_t i = 0; i < n; i++)
		printf("%s %s", i ? "," : "", v[i]);
	putchar('\n');
}

static json_t *string_array(char **v, size_t n)
{
	json_t *a = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, jstr(v[i]));
	return a;
}

static void print_doc(const struct issue_doc *d, bool as_json)
{
	if (as_json) {
		json_t *o = json_object();
		json_object_set_new(o, "title", jstr(d->title));
		json_object_set_new(o, "labels", string_array(d->labels, d->n_labels));
		if (d->n_assignees)
			json_object_set_new(o, "assignees",
					    string_array(d->assignees, d->n_assignees));
		json_object_set_new(o, "body", jstr(d->body));
		json_dumpf(o, stdout, JSON_INDENT(2));
		putchar('\n');
		json_decref(o);
		return;
	}
	printf("title: %s\n", d->title);
	print_list("labels", d->labels, d->n_labels);
	if (d->n_assignees)
		print_list("assignees", d->assignees, d->n_assignees);
	putchar('\n');
	fputs(d->body, stdout);
}

/* The value of option `name` at argv[*i] ("--name VALUE" or "--name=VALUE"), advancing
 * *i; NULL when argv[*i] is not that option. *bad is set when the value is missing. */
static const char *opt_value(int argc, char **argv, int *i, const char *name, bool *bad)
{
	size_t n = strlen(name);
	if (strncmp(argv[*i], name, n))
		return NULL;
	if (argv[*i][n] == '=')
		return argv[*i] + n + 1;
	if (argv[*i][n])
		return NULL;
	if (*i + 1 >= argc) {
		*bad = true;
		return NULL;
	}
	return argv[++*i];
}

int cli_render(const struct cli *g, int argc, char **argv)
{
	if (cli_wants_help(argc, argv, render_help))
		return EXIT_OK;
	const char *name = NULL, *context = NULL, *format = "text";
	bool strict = false, opts_done = false;
	for (int i = 1; i < argc; i++) {
		bool bad = false;
		const char *v;
		if (!opts_done && !strcmp(argv[i], "--")) {
			opts_done = true;
		} else if (!opts_done && !strcmp(argv[i], "--strict")) {
			strict = true;
		} else if (!opts_done &&
			   ((v = opt_value(argc, argv, &i, "--context", &bad)) || bad)) {
			if (bad) {
				fprintf(stderr, "intervene render: --context needs a file\n");
				return EXIT_USAGE;
			}
			context = v;
		} else if (!opts_done &&
			   ((v = opt_value(argc, argv, &i, "--format", &bad)) || bad)) {
			if (bad || (strcmp(v, "text") && strcmp(v, "json"))) {
				fprintf(stderr,
					"intervene render: --format must be text or json\n");
				return EXIT_USAGE;
			}
			format = v;
		} else if (!opts_done && argv[i][0] == '-' && argv[i][1]) {
			fprintf(stderr, "intervene render: unknown option '%s'\n\n%s", argv[i],
				render_help);
			return EXIT_USAGE;
		} else if (!name) {
			name = argv[i];
		} else {
			fprintf(stderr, "intervene render: unexpected argument '%s'\n\n%s", argv[i],
				render_help);
			return EXIT_USAGE;
		}
	}
	if (!context) {
		fprintf(stderr, "intervene render: --context FILE is required\n\n%s", render_help);
		return EXIT_USAGE;
	}
	if (name && !issue_template_name_valid(name)) {
		fprintf(stderr,
			"intervene render: invalid template name '%s': use 1 to %d characters of "
			"a-z, 0-9 and _\n",
			name, ISSUE_NAME_MAX);
		return EXIT_USAGE;
	}

	int rc = EXIT_FAIL;
	struct config *cfg = NULL;
	json_t *doc = NULL;
	struct buf text = BUF_INIT;
	struct missing_names missing = {0};
	struct issue_doc d = {0};
	struct err e;
	err_clear(&e);
	if (!(cfg = cli_load_config(g)))
		goto out;
	if (!read_context(context, &text))
		goto out;
	if (!(doc = json_parse_strict(buf_cstr(&text), text.len, &e))) {
		fprintf(stderr, "intervene render: %s: %s\n", context, e.msg);
		goto out;
	}
	/* {"incident": {...}} as the API answers, or the bare incident object. */
	const json_t *incident = doc;
	json_t *inner = json_object_get(doc, "incident");
	if (json_is_object(inner) && !json_object_get(doc, "id"))
		incident = inner;
	char urlbuf[512];
	const char *public_url = config_public_url(cfg, urlbuf, sizeof urlbuf);
	if (issue_render(name, cfg->tracker.templates_dir, incident, public_url, on_missing,
			 &missing, &d, &e)) {
		if (e.field[0])
			fprintf(stderr, "intervene render: %s: %s\n", context, e.msg);
		else
			fprintf(stderr, "intervene render: %s\n", e.msg);
		goto out;
	}
	print_doc(&d, !strcmp(format, "json"));
	fflush(stdout);
	rc = EXIT_OK;
	if (strict && missing.n) {
		for (size_t i = 0; i < missing.n; i++)
			fprintf(stderr, "missing: %s\n", missing.v[i]);
		rc = EXIT_FAIL;
	}
out:
	issue_doc_clear(&d);
	missing_free(&missing);
	json_decref(doc);
	buf_free(&text);
	config_free(cfg);
	return rc;
}
