/* test_issue.c — front-matter issue templates (src/template/issue.c): names, the kind →
 * template mapping, override loading, front matter, labels, footer and derived values.
 * The golden renders of the built-ins are tests/integration/test_templates.py. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "template/issue.h"
#include "util/buf.h"
#include "util/json.h"

/* ---- helpers ---- */

static json_t *parse(const char *text)
{
	struct err e;
	json_t *v = json_parse_strict(text, strlen(text), &e);
	if (!v)
		fail_msg("bad test JSON: %s\n%s", e.msg, text);
	return v;
}

/* A small incident with the given details (JSON text). */
static json_t *incident(const char *kind, const char *details)
{
	json_t *inc =
		parse("{\"id\": 5, \"kind\": \"manual\", \"key\": \"manual:k\", \"severity\": "
		      "\"sev2\", \"status\": \"open\", \"summary\": \"Something broke\", "
		      "\"playbooks\": []}");
	json_object_set_new(inc, "kind", json_string(kind));
	json_object_set_new(inc, "details", parse(details));
	return inc;
}

static json_t *derived_of(const json_t *inc)
{
	json_t *ctx = NULL;
	struct err e;
	err_clear(&e);
	if (issue_context(inc, "https://ops.example.com/", &ctx, &e))
		fail_msg("issue_context: %s", e.msg);
	return ctx;
}

static const char *dstr(const json_t *ctx, const char *key)
{
	const char *s = json_string_value(json_object_get(json_object_get(ctx, "derived"), key));
	return s ? s : "(absent)";
}

static char *make_tmpdir(void)
{
	char tmpl[] = "/tmp/test_issue_XXXXXX";
	char *d = mkdtemp(tmpl);
	assert_non_null(d);
	return strdup(d);
}

static void write_file(const char *dir, const char *name, const char *text)
{
	char path[512];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void rm_rf(const char *dir)
{
	char cmd[600];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
}

struct names {
	char list[1024];
};

static void collect(const char *name, void *arg)
{
	struct names *n = arg;
	strncat(n->list, name, sizeof n->list - strlen(n->list) - 2);
	strcat(n->list, ";");
}

static int render_text(const char *tmpl, const json_t *inc, struct issue_doc *d, struct err *e)
{
	err_clear(e);
	return issue_render_text(tmpl, strlen(tmpl), "t.md", inc, "https://ops.example.com", NULL,
				 NULL, d, e);
}

static void expect_render_error(const char *tmpl, const char *msg)
{
	json_t *inc = incident("manual", "{}");
	struct issue_doc d;
	struct err e;
	if (!render_text(tmpl, inc, &d, &e)) {
		issue_doc_clear(&d);
		fail_msg("expected an error for:\n%s", tmpl);
	}
	assert_int_equal(e.code, ERR_INVALID);
	if (strcmp(e.msg, msg))
		fail_msg("for:\n%s\nexpected: %s\n     got: %s", tmpl, msg, e.msg);
	assert_null(d.title);
	assert_null(d.body);
	json_decref(inc);
}

/* ---- names and kinds ---- */

static void test_names(void **state)
{
	(void)state;
	static const struct {
		const char *name;
		bool ok;
	} cases[] = {
		{"invariant_failure", true},
		{"a", true},
		{"x_1_y", true},
		{"", false},
		{"Budget", false},
		{"../etc/passwd", false},
		{"a/b", false},
		{"a.md", false},
		{"a-b", false},
		{"a b", false},
		{".", false},
		{"..", false},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		if (issue_template_name_valid(cases[i].name) != cases[i].ok)
			fail_msg("name '%s': expected %d", cases[i].name, cases[i].ok);
	assert_false(issue_template_name_valid(NULL));
	char longest[ISSUE_NAME_MAX + 2];
	memset(longest, 'a', sizeof longest);
	longest[ISSUE_NAME_MAX] = '\0';
	assert_true(issue_template_name_valid(longest));
	longest[ISSUE_NAME_MAX] = 'a';
	longest[ISSUE_NAME_MAX + 1] = '\0';
	assert_false(issue_template_name_valid(longest));
}

static void test_kind_mapping(void **state)
{
	(void)state;
	assert_string_equal(issue_template_for_kind("invariant"), "invariant_failure");
	assert_string_equal(issue_template_for_kind("budget"), "budget_exceeded");
	assert_string_equal(issue_template_for_kind("planner"), "planner_regression");
	assert_string_equal(issue_template_for_kind("manual"), "generic_incident");
	assert_string_equal(issue_template_for_kind("data_freshness"), "generic_incident");
	assert_string_equal(issue_template_for_kind("Invariant"), "generic_incident");
	assert_string_equal(issue_template_for_kind(""), "generic_incident");
	assert_string_equal(issue_template_for_kind(NULL), "generic_incident");
}

static void test_builtins_load_and_render(void **state)
{
	(void)state;
	const char *const *names = issue_builtin_names();
	size_t n = 0;
	for (; names[n]; n++) {
		char *text = NULL, *origin = NULL;
		struct err e;
		assert_int_equal(issue_template_load(names[n], NULL, &text, &origin, &e), 0);
		assert_true(!strncmp(text, "---\n", 4));
		char want[128];
		snprintf(want, sizeof want, "builtin:%s.md", names[n]);
		assert_string_equal(origin, want);
		free(text);
		free(origin);
		/* every built-in renders even an empty context without error */
		json_t *inc = incident("manual", "{}");
		struct issue_doc d;
		assert_int_equal(issue_render(names[n], "", inc, "", NULL, NULL, &d, &e), 0);
		assert_non_null(d.title);
		assert_true(*d.title);
		issue_doc_clear(&d);
		json_decref(inc);
	}
	assert_int_equal(n, 4);
}

/* ---- loading and overrides ---- */

static void test_override_loading(void **state)
{
	(void)state;
	char *dir = make_tmpdir();
	write_file(dir, "budget_exceeded.md", "---\ntitle: mine\nlabels: []\n---\nOverride\n");
	write_file(dir, "extra.md", "---\ntitle: extra\nlabels: [x]\n---\nExtra\n");
	char sub[512];
	snprintf(sub, sizeof sub, "%s/adir.md", dir);
	assert_int_equal(mkdir(sub, 0700), 0);
	struct err e;
	char *text = NULL, *origin = NULL;

	assert_int_equal(issue_template_load("budget_exceeded", dir, &text, &origin, &e), 0);
	assert_string_equal(text, "---\ntitle: mine\nlabels: []\n---\nOverride\n");
	char want[600];
	snprintf(want, sizeof want, "%s/budget_exceeded.md", dir);
	assert_string_equal(origin, want);
	free(text);
	free(origin);

	/* not overridden → built-in */
	assert_int_equal(issue_template_load("planner_regression", dir, &text, &origin, &e), 0);
	assert_string_equal(origin, "builtin:planner_regression.md");
	free(text);
	free(origin);

	/* a new name only in the directory */
	assert_int_equal(issue_template_load("extra", dir, &text, NULL, &e), 0);
	free(text);
	assert_int_equal(issue_template_load("extra", NULL, &text, NULL, &e), ERR_NOTFOUND);
	assert_null(text);
	assert_int_equal(issue_template_load("nothing_here", dir, &text, NULL, &e), ERR_NOTFOUND);
	assert_non_null(strstr(e.msg, "no template named 'nothing_here'"));

	/* names are checked before any path is built */
	assert_int_equal(issue_template_load("../budget_exceeded", dir, &text, NULL, &e),
			 ERR_INVALID);
	assert_int_equal(issue_template_load("Extra", dir, &text, NULL, &e), ERR_INVALID);

	/* unreadable (a directory, a FIFO) → ERR_IO; too large → ERR_TOOLARGE */
	assert_int_equal(issue_template_load("adir", dir, &text, NULL, &e), ERR_IO);
	snprintf(sub, sizeof sub, "%s/fifo.md", dir);
	assert_int_equal(mkfifo(sub, 0600), 0);
	assert_int_equal(issue_template_load("fifo", dir, &text, NULL, &e), ERR_IO);
	assert_non_null(strstr(e.msg, "not a regular file"));
	char *big = malloc(ISSUE_TEMPLATE_MAX + 2);
	memset(big, 'x', ISSUE_TEMPLATE_MAX + 1);
	big[ISSUE_TEMPLATE_MAX + 1] = '\0';
	write_file(dir, "big.md", big);
	free(big);
	assert_int_equal(issue_template_load("big", dir, &text, NULL, &e), ERR_TOOLARGE);

	/* issue_render picks the override by kind */
	json_t *inc = incident("budget", "{}");
	struct issue_doc d;
	assert_int_equal(issue_render(NULL, dir, inc, "http://x", NULL, NULL, &d, &e), 0);
	assert_string_equal(d.title, "mine");
	assert_true(!strncmp(d.body,
			     "Override\n\n---\n_Opened by [intervene](http://x/incidents/5)", 57));
	issue_doc_clear(&d);
	issue_doc_clear(&d); /* twice is fine */
	issue_doc_clear(NULL);
	json_decref(inc);
	rm_rf(dir);
	free(dir);
}

/* ---- front matter, labels, footer ---- */

static void test_labels(void **state)
{
	(void)state;
	json_t *inc = incident("manual", "{\"team\": \"Search\"}");
	struct issue_doc d;
	struct err e;
	const char *t =
		"---\n"
		"title: t\n"
		"labels: [b, A, a, '', '{{severity}}', 'sev2', intervene, INTERVENE-5,\n"
		"         'team:{{details.team}}', 'Team:search', '{{nothing}}', \"x\\ny\"]\n"
		"---\n";
	assert_int_equal(render_text(t, inc, &d, &e), 0);
	const char *want[] = {"b", "A", "sev2", "team:Search", "x y", "intervene", "intervene-5"};
	assert_int_equal(d.n_labels, sizeof want / sizeof want[0]);
	for (size_t i = 0; i < d.n_labels; i++)
		assert_string_equal(d.labels[i], want[i]);
	assert_null(d.assignees);
	assert_string_equal(d.body,
			    "---\n_Opened by [intervene](https://ops.example.com/incidents/5) "
			    "for incident #5 · key `manual:k`_\n");
	issue_doc_clear(&d);

	/* no labels at all still gets the two of code */
	assert_int_equal(
		render_text("---\ntitle: t\nlabels: []\nassignees: [ann, '{{x}}', Ann]\n---\nB",
			    inc, &d, &e),
		0);
	assert_int_equal(d.n_labels, 2);
	assert_string_equal(d.labels[0], "intervene");
	assert_string_equal(d.labels[1], "intervene-5");
	assert_int_equal(d.n_assignees, 1);
	assert_string_equal(d.assignees[0], "ann");
	issue_doc_clear(&d);
	json_decref(inc);
}

static void test_title(void **state)
{
	(void)state;
	json_t *inc = incident("manual", "{\"name\": \"a\\r\\n  b\\tc\\u2028d\"}");
	struct issue_doc d;
	struct err e;
	assert_int_equal(
		render_text("---\ntitle: '  [{{severity}}] {{details.name}}  '\nlabels: []\n---\n",
			    inc, &d, &e),
		0);
	assert_string_equal(d.title, "[sev2] a b c d");
	issue_doc_clear(&d);
	/* values are not escaped in the front matter */
	json_object_set_new(inc, "summary", json_string("<b> & \"q\" @all"));
	assert_int_equal(render_text("---\ntitle: '{{summary}}'\nlabels: []\n---\n", inc, &d, &e),
			 0);
	assert_string_equal(d.title, "<b> & \"q\" @all");
	issue_doc_clear(&d);
	/* an empty title falls back to the summary, then to "Incident #<id>" */
	assert_int_equal(render_text("---\ntitle: '{{nothing}}'\nlabels: []\n---\n", inc, &d, &e),
			 0);
	assert_string_equal(d.title, "<b> & \"q\" @all");
	issue_doc_clear(&d);
	json_object_del(inc, "summary");
	assert_int_equal(render_text("---\ntitle: ' {{nothing}} '\nlabels: []\n---\n", inc, &d, &e),
			 0);
	assert_string_equal(d.title, "Incident #5");
	issue_doc_clear(&d);
	json_decref(inc);
}

static void test_body_and_footer(void **state)
{
	(void)state;
	json_t *inc = incident("manual", "{\"v\": \"@here <!-- x -->\"}");
	json_object_set_new(inc, "key", json_string("a`b"));
	struct issue_doc d;
	struct err e;
	/* CRLF and a byte order mark are accepted; the body keeps its text; trailing blank
	 * lines before the footer are folded */
	assert_int_equal(render_text("\xef\xbb\xbf---\r\ntitle: t\r\nlabels: []\r\n---  \r\n"
				     "Value: {{details.v}} & <i>\r\n\r\n\r\n",
				     inc, &d, &e),
			 0);
	assert_string_equal(d.body,
			    "Value: @\xe2\x80\x8bhere <\xe2\x80\x8b!-- x --\xe2\x80\x8b> & <i>\n\n"
			    "---\n_Opened by [intervene](https://ops.example.com/incidents/5) "
			    "for incident #5 · key ``a`b``_\n");
	issue_doc_clear(&d);
	json_decref(inc);
}

static void test_missing_callback(void **state)
{
	(void)state;
	json_t *inc = incident("manual", "{\"a\": \"x\", \"e\": \"\", \"n\": null}");
	struct issue_doc d;
	struct err e;
	struct names n = {{0}};
	const char *t =
		"---\ntitle: '{{details.a}} {{details.zz}}'\nlabels: ['{{details.e}}']\n---\n"
		"{{details.n}} {{#details.gone}}{{x}}{{/details.gone}} {{details.a}}\n";
	assert_int_equal(issue_render_text(t, strlen(t), "t.md", inc, "", collect, &n, &d, &e), 0);
	assert_string_equal(n.list, "details.zz;details.e;details.n;");
	issue_doc_clear(&d);
	json_decref(inc);
}

static void test_front_matter_errors(void **state)
{
	(void)state;
	expect_render_error(
		"# no front matter\n",
		"t.md:1:1: a template must start with a front matter: a line '---', YAML "
		"with title and labels, and a closing line '---'");
	expect_render_error("---\ntitle: t\nlabels: []\n",
			    "t.md:1:1: the front matter has no closing '---' line");
	expect_render_error("---\n---\n",
			    "t.md:2:1: the front matter is empty: it needs title and labels");
	expect_render_error("---\n- a\n---\n",
			    "t.md:2:1: the front matter must be a mapping of title, labels and "
			    "optionally assignees, not a list");
	expect_render_error("---\ntitle: [a]\nlabels: []\n---\n",
			    "t.md:2:8: title must be a string, not a list");
	expect_render_error("---\ntitle: ~\nlabels: []\n---\n",
			    "t.md:2:8: title must be a string, not null");
	expect_render_error("---\ntitle: t\nlabels: {a: b}\n---\n",
			    "t.md:3:9: labels must be a list of strings, not a mapping");
	expect_render_error("---\ntitle: t\nlabels:\n  - a\n  - [b]\n---\n",
			    "t.md:5:5: labels[1] must be a string, not a list");
	expect_render_error("---\ntitle: t\nlabels: []\nassignees: x\n---\n",
			    "t.md:4:12: assignees must be a list of strings, not a string");
	expect_render_error(
		"---\ntitle: t\nlabels: []\nabout: x\n---\n",
		"t.md:4:1: unknown front matter key 'about' (expected title, labels and "
		"optionally assignees)");
	expect_render_error("---\ntitle: t\nlabels: []\nlabels: []\n---\n",
			    "t.md:4:1: duplicate front matter key 'labels'");
	expect_render_error("---\nlabels: []\n---\n", "t.md:2:1: the front matter has no title");
	expect_render_error("---\ntitle: t\n---\n",
			    "t.md:2:1: the front matter has no labels (write labels: [] for none)");
	expect_render_error("---\ntitle: \"t\nlabels: []\n---\n",
			    "t.md:4:1: invalid YAML in the front matter: found unexpected end of "
			    "stream while scanning a quoted scalar");
	expect_render_error("---\ntitle: t\nlabels: []\n...\nmore: 1\n---\n",
			    "t.md:5:1: invalid YAML in the front matter: did not find expected "
			    "<document start>");
	/* Mustache errors point into the file */
	expect_render_error("---\ntitle: t\nlabels: []\n---\nok\n{{#a}}\n",
			    "t.md:6:1: unclosed section \"a\"");
	expect_render_error("---\ntitle: \"x {{#a}}\"\nlabels: []\n---\n",
			    "t.md:2:11: in title: unclosed section \"a\"");
}

static void test_bad_incident(void **state)
{
	(void)state;
	static const char *const bad[] = {
		"[]",
		"{\"kind\": \"x\", \"key\": \"k\"}",
		"{\"id\": 0, \"kind\": \"x\", \"key\": \"k\"}",
		"{\"id\": \"5\", \"kind\": \"x\", \"key\": \"k\"}",
		"{\"id\": 5, \"key\": \"k\"}",
		"{\"id\": 5, \"kind\": \"x\"}",
		"{\"id\": 5, \"kind\": \"x\", \"key\": \"k\", \"details\": [1]}",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		json_t *inc = parse(bad[i]);
		json_t *ctx = (json_t *)1;
		struct err e;
		assert_int_equal(issue_context(inc, "", &ctx, &e), ERR_INVALID);
		assert_null(ctx);
		json_decref(inc);
	}
}

/* ---- derived values ---- */

static void test_derived_common(void **state)
{
	(void)state;
	json_t *inc = incident("manual", "{\"b\": 1, \"a\": \"x```y\"}");
	json_object_set_new(inc, "derived", json_string("theirs"));
	json_object_set_new(inc, "playbooks", parse("[\"clear_cache\"]"));
	json_t *ctx = derived_of(inc);
	assert_string_equal(json_string_value(json_object_get(ctx, "public_url")),
			    "https://ops.example.com");
	assert_string_equal(json_string_value(json_object_get(ctx, "incident_url")),
			    "https://ops.example.com/incidents/5");
	assert_string_equal(dstr(ctx, "details_json"), "{\n  \"a\": \"x```y\",\n  \"b\": 1\n}");
	assert_string_equal(dstr(ctx, "details_fence"), "````");
	json_t *d = json_object_get(ctx, "derived");
	assert_true(json_is_true(json_object_get(d, "has_details")));
	assert_true(json_is_true(json_object_get(d, "has_playbooks")));
	assert_true(json_is_false(json_object_get(d, "has_evidence")));
	/* the incident itself is not changed */
	assert_string_equal(json_string_value(json_object_get(inc, "derived")), "theirs");
	json_decref(ctx);
	json_decref(inc);

	inc = incident("manual", "{}");
	ctx = derived_of(inc);
	d = json_object_get(ctx, "derived");
	assert_true(json_is_false(json_object_get(d, "has_details")));
	assert_true(json_is_false(json_object_get(d, "has_playbooks")));
	assert_string_equal(dstr(ctx, "details_fence"), "```");
	json_decref(ctx);
	json_decref(inc);
}

static void test_derived_invariant(void **state)
{
	(void)state;
	json_t *inc = incident("invariant", "{\"evidence\": {\"z\": [1], \"a\": \"t\"}}");
	json_t *ctx = derived_of(inc);
	assert_true(json_is_true(json_object_get(json_object_get(ctx, "derived"), "has_evidence")));
	assert_string_equal(dstr(ctx, "evidence_json"),
			    "{\n  \"a\": \"t\",\n  \"z\": [\n    1\n  ]\n}");
	assert_string_equal(dstr(ctx, "evidence_fence"), "```");
	json_decref(ctx);
	json_decref(inc);
	static const char *const empty[] = {"{\"evidence\": {}}", "{\"evidence\": null}",
					    "{\"evidence\": []}", "{\"evidence\": \"\"}", "{}"};
	for (size_t i = 0; i < sizeof empty / sizeof empty[0]; i++) {
		inc = incident("invariant", empty[i]);
		ctx = derived_of(inc);
		assert_true(json_is_false(
			json_object_get(json_object_get(ctx, "derived"), "has_evidence")));
		json_decref(ctx);
		json_decref(inc);
	}
	inc = incident("invariant", "{\"evidence\": \"see ``` here\"}");
	ctx = derived_of(inc);
	assert_string_equal(dstr(ctx, "evidence_json"), "\"see ``` here\"");
	assert_string_equal(dstr(ctx, "evidence_fence"), "````");
	json_decref(ctx);
	json_decref(inc);
}

static void test_derived_budget(void **state)
{
	(void)state;
	static const struct {
		const char *details;
		const char *label, *bound, *comparison, *threshold, *actual, *overage, *overage_pct;
	} cases[] = {
		{"{\"budget_type\": \"latency_p95\", \"threshold\": 1600, \"actual\": 2140}",
		 "p95 latency", "maximum", "above", "1600 ms", "2140 ms", "540 ms", "33.8%"},
		{"{\"budget_type\": \"quality\", \"threshold\": 85, \"actual\": 78.4}",
		 "average quality score", "minimum", "below", "85", "78.4", "6.6", "7.8%"},
		{"{\"budget_type\": \"success_rate\", \"threshold\": 0.95, \"actual\": 0.912}",
		 "success rate", "minimum", "below", "95%", "91.2%", "3.8 percentage points", "4%"},
		{"{\"budget_type\": \"success_rate\", \"threshold\": 95, \"actual\": 91.25}",
		 "success rate", "minimum", "below", "95", "91.25", "3.75", "3.9%"},
		{"{\"budget_type\": \"cost\", \"threshold\": 0.05, \"actual\": 0.0612}",
		 "average cost", "maximum", "above", "0.05", "0.0612", "0.0112", "22.4%"},
		{"{\"budget_type\": \"invariants\", \"threshold\": 0, \"actual\": 3}",
		 "invariant failures", "maximum", "above", "0", "3", "3", "n/a"},
		{"{\"budget_type\": \"latency_avg\", \"threshold\": 900, \"actual\": 12345.678}",
		 "average latency", "maximum", "above", "900 ms", "12346 ms", "11446 ms", "1272%"},
		/* unknown types: the direction follows the numbers */
		{"{\"budget_type\": \"freshness_min\", \"threshold\": 10, \"actual\": 4}",
		 "freshness min", "minimum", "below", "10", "4", "6", "60%"},
		{"{\"budget_type\": \"queue_depth\", \"threshold\": 10, \"actual\": 12}",
		 "queue depth", "maximum", "above", "10", "12", "2", "20%"},
		/* without numbers only the words are derived */
		{"{\"budget_type\": \"latency_p99\", \"threshold\": 3000}", "p99 latency",
		 "maximum", "above", "(absent)", "(absent)", "(absent)", "(absent)"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		json_t *inc = incident("budget", cases[i].details);
		json_t *ctx = derived_of(inc);
		const char *got[] = {dstr(ctx, "metric_label"), dstr(ctx, "bound"),
				     dstr(ctx, "comparison"),	dstr(ctx, "threshold"),
				     dstr(ctx, "actual"),	dstr(ctx, "overage"),
				     dstr(ctx, "overage_pct")};
		const char *want[] = {cases[i].label,	   cases[i].bound,  cases[i].comparison,
				      cases[i].threshold,  cases[i].actual, cases[i].overage,
				      cases[i].overage_pct};
		for (size_t k = 0; k < sizeof got / sizeof got[0]; k++)
			if (strcmp(got[k], want[k]))
				fail_msg("case %zu (%s), value %zu: expected '%s', got '%s'", i,
					 cases[i].details, k, want[k], got[k]);
		assert_string_not_equal(dstr(ctx, "hint"), "(absent)");
		json_decref(ctx);
		json_decref(inc);
	}
}

static void test_derived_metric_rows(void **state)
{
	(void)state;
	json_t *inc = incident(
		"budget",
		"{\"current\": {\"zeta\": 2, \"total_runs\": 100, \"success_rate\": 0.9,"
		" \"p95_latency_ms\": 1500.4, \"date\": \"x\"},"
		" \"baseline\": {\"total_runs\": 200, \"success_rate\": 0.95, \"alpha\": 0,"
		" \"p95_latency_ms\": 0}}");
	json_t *ctx = derived_of(inc);
	json_t *d = json_object_get(ctx, "derived");
	assert_true(json_is_true(json_object_get(d, "has_metric_rows")));
	char *rows = json_canon(json_object_get(d, "metric_rows"));
	assert_string_equal(
		rows,
		"[{\"baseline\":\"200\",\"change\":\"n/a\",\"current\":\"100\",\"key\":\"total_runs\",\"label\":\"Runs\"},"
		"{\"baseline\":\"95%\",\"change\":\"-5.3%\",\"current\":\"90%\",\"key\":\"success_rate\",\"label\":\"Success rate\"},"
		"{\"baseline\":\"0 ms\",\"change\":\"n/a\",\"current\":\"1500 ms\",\"key\":\"p95_latency_ms\",\"label\":\"p95 latency\"},"
		"{\"baseline\":\"0\",\"change\":\"n/a\",\"current\":\"n/a\",\"key\":\"alpha\",\"label\":\"alpha\"},"
		"{\"baseline\":\"n/a\",\"change\":\"n/a\",\"current\":\"2\",\"key\":\"zeta\",\"label\":\"zeta\"}]");
	free(rows);
	json_decref(ctx);
	json_decref(inc);
}

static void test_derived_canary(void **state)
{
	(void)state;
	json_t *inc = incident(
		"planner",
		"{\"canary\": \"planner\", \"version\": \"v2\", \"canary_pct\": 12.5, "
		"\"rollback_available\": false, \"metrics\": ["
		"{\"name\": \"quality\", \"canary_value\": 81.2, \"baseline_value\": 88.9, \"delta\": -7.7},"
		"{\"name\": \"latency_p95\", \"canary_value\": 2870, \"baseline_value\": 1940},"
		"{\"name\": \"cost\", \"canary_value\": 0.05, \"baseline_value\": 0},"
		"{\"name\": \"error_rate\", \"canary_value\": 0.1, \"baseline_value\": 0.1},"
		"{\"name\": \"bare\"}, 7]}");
	json_t *ctx = derived_of(inc);
	assert_string_equal(dstr(ctx, "regressed"), "quality, latency_p95, cost, error_rate, bare");
	assert_string_equal(dstr(ctx, "metric_count"), "5 metrics");
	assert_string_equal(dstr(ctx, "canary_pct"), "12.5%");
	assert_string_equal(dstr(ctx, "rollback"), "no");
	json_t *metrics = json_object_get(json_object_get(ctx, "details"), "metrics");
	static const char *const want[] = {
		"{\"baseline\":\"88.9\",\"canary\":\"81.2\",\"delta\":\"-7.7\",\"delta_pct\":\"-8.7%\",\"direction\":\"lower\",\"label\":\"Mean quality score\"}",
		"{\"baseline\":\"1940 ms\",\"canary\":\"2870 ms\",\"delta\":\"+930 ms\",\"delta_pct\":\"+47.9%\",\"direction\":\"higher\",\"label\":\"p95 latency\"}",
		"{\"baseline\":\"0\",\"canary\":\"0.05\",\"delta\":\"+0.05\",\"delta_pct\":\"n/a\",\"direction\":\"higher\",\"label\":\"Mean cost\"}",
		"{\"baseline\":\"0.1\",\"canary\":\"0.1\",\"delta\":\"0\",\"delta_pct\":\"0%\",\"direction\":\"unchanged\",\"label\":\"error_rate\"}",
		"{\"baseline\":\"n/a\",\"canary\":\"n/a\",\"delta\":\"n/a\",\"delta_pct\":\"n/a\",\"direction\":\"n/a\",\"label\":\"bare\"}",
	};
	for (size_t i = 0; i < 5; i++) {
		char *got = json_canon(json_object_get(json_array_get(metrics, i), "derived"));
		if (strcmp(got, want[i]))
			fail_msg("metric %zu:\nexpected %s\n     got %s", i, want[i], got);
		free(got);
	}
	assert_true(json_is_integer(json_array_get(metrics, 5))); /* non-objects are left alone */
	/* the caller's incident is not touched */
	assert_null(json_object_get(
		json_array_get(json_object_get(json_object_get(inc, "details"), "metrics"), 0),
		"derived"));
	json_decref(ctx);
	json_decref(inc);
}

static void test_metrics_table_iterates(void **state)
{
	(void)state;
	json_t *inc = incident(
		"planner",
		"{\"metrics\": [{\"name\": \"a\", \"canary_value\": 2, \"baseline_value\": 1},"
		" {\"name\": \"b\", \"canary_value\": 1, \"baseline_value\": 2}]}");
	struct issue_doc d;
	struct err e;
	assert_int_equal(
		render_text(
			"---\ntitle: t\nlabels: []\n---\n"
			"{{#details.metrics}}\n| {{name}} | {{derived.delta_pct}} | {{derived.direction}} |\n"
			"{{/details.metrics}}\n",
			inc, &d, &e),
		0);
	assert_true(!strncmp(d.body, "| a | +100% | higher |\n| b | -50% | lower |\n\n---\n", 48));
	issue_doc_clear(&d);
	json_decref(inc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_kind_mapping),
		cmocka_unit_test(test_builtins_load_and_render),
		cmocka_unit_test(test_override_loading),
		cmocka_unit_test(test_labels),
		cmocka_unit_test(test_title),
		cmocka_unit_test(test_body_and_footer),
		cmocka_unit_test(test_missing_callback),
		cmocka_unit_test(test_front_matter_errors),
		cmocka_unit_test(test_bad_incident),
		cmocka_unit_test(test_derived_common),
		cmocka_unit_test(test_derived_invariant),
		cmocka_unit_test(test_derived_budget),
		cmocka_unit_test(test_derived_metric_rows),
		cmocka_unit_test(test_derived_canary),
		cmocka_unit_test(test_metrics_table_iterates),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
