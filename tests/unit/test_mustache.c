/* test_mustache.c — the Mustache renderer (src/template/mustache.h).
 *
 * The conformance part reads every *.json file of the official spec from
 * $SOURCE_ROOT/../shared/conformance/mustache/ (never copied into the repository;
 * $INTERVENE_CONFORMANCE_DIR/mustache/ instead when that is set) and runs each case,
 * printing one "# ok"/"# not ok" line per case; a file's test fails if any of its cases
 * does, naming the case, its template, the expected and the actual output. Without the
 * files the spec is one skipped test ("ok N - spec # SKIP ..."), or a failed one when
 * INTERVENE_CI=1: CI must not pass without the conformance run. The rest are the
 * project's own choices: Markdown and NONE modes, the missing-value callback, error
 * messages, limits. */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "template/mustache.h"
#include "util/buf.h"

/* In the sanitizer build, undefined behaviour fails the test instead of only being
 * printed (unused otherwise). */
const char *__ubsan_default_options(void);
const char *__ubsan_default_options(void)
{
	return "halt_on_error=1:print_stacktrace=1";
}

#define SPEC_CASES 184
#define ZW	   "\xe2\x80\x8b" /* U+200B */

/* ---- helpers ------------------------------------------------------------------------ */

/* Partials from a JSON object {name: text}. */
static const char *json_partial(const char *name, void *arg)
{
	return json_string_value(json_object_get((const json_t *)arg, name));
}

/* Render tmpl against JSON text data with mode; returns the rc, output in *out. */
static int render_mode(const char *tmpl, const char *data, enum mustache_escape mode,
		       const json_t *partials, char **out, struct err *e)
{
	json_error_t je;
	json_t *d = json_loads(data ? data : "{}", JSON_DECODE_ANY, &je);
	if (!d)
		fail_msg("bad test data %s: %s", data, je.text);
	struct mustache_opts o = {.escape = mode,
				  .partial = partials ? json_partial : NULL,
				  .partial_arg = (void *)partials};
	struct buf b = BUF_INIT;
	err_clear(e);
	int rc = mustache_render(tmpl, strlen(tmpl), d, &o, &b, e);
	*out = buf_steal(&b);
	json_decref(d);
	return rc;
}

/* The output of a render that must succeed. */
static char *render_ok(const char *tmpl, const char *data, enum mustache_escape mode)
{
	struct err e;
	char *out;
	int rc = render_mode(tmpl, data, mode, NULL, &out, &e);
	if (rc)
		fail_msg("render of %s failed: %d %s", tmpl, rc, e.msg);
	return out;
}

static void expect(const char *tmpl, const char *data, enum mustache_escape mode, const char *want)
{
	char *got = render_ok(tmpl, data, mode);
	if (strcmp(got, want) != 0)
		fail_msg("template %s with %s:\n  want [%s]\n  got  [%s]", tmpl, data, want, got);
	free(got);
}

/* C-escaped text for failure messages. */
static void show(struct buf *b, const char *s)
{
	buf_putc(b, '"');
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '\n')
			buf_puts(b, "\\n");
		else if (c == '\r')
			buf_puts(b, "\\r");
		else if (c == '\t')
			buf_puts(b, "\\t");
		else if (c == '"' || c == '\\')
			buf_printf(b, "\\%c", c);
		else if (c < 0x20)
			buf_printf(b, "\\x%02x", c);
		else
			buf_putc(b, (char)c);
	}
	buf_putc(b, '"');
}

/* ---- conformance -------------------------------------------------------------------- */

struct spec_run {
	char dir[4096];
	int total, passed;
};

struct spec_file {
	char path[4400];
	char name[256];
	struct spec_run *run;
};

static void test_spec_file(void **state)
{
	const struct spec_file *f = *state;
	json_error_t je;
	json_t *doc = json_load_file(f->path, JSON_REJECT_DUPLICATES, &je);
	if (!doc)
		fail_msg("%s: line %d: %s", f->path, je.line, je.text);
	json_t *tests = json_object_get(doc, "tests");
	assert_true(json_is_array(tests));
	int failed = 0;
	struct buf report = BUF_INIT;
	size_t i;
	json_t *t;
	json_array_foreach(tests, i, t)
	{
		const char *name = json_string_value(json_object_get(t, "name"));
		json_t *tmpl = json_object_get(t, "template");
		json_t *want = json_object_get(t, "expected");
		assert_true(json_is_string(tmpl) && json_is_string(want) && name);
		json_t *partials = json_object_get(t, "partials");
		struct mustache_opts o = {.escape = MUSTACHE_ESCAPE_HTML,
					  .partial = partials ? json_partial : NULL,
					  .partial_arg = partials};
		struct buf got = BUF_INIT;
		struct err e;
		err_clear(&e);
		int rc = mustache_render(json_string_value(tmpl), json_string_length(tmpl),
					 json_object_get(t, "data"), &o, &got, &e);
		bool ok = rc == 0 && got.len == json_string_length(want) &&
			  memcmp(buf_cstr(&got), json_string_value(want), got.len) == 0;
		f->run->total++;
		if (ok) {
			f->run->passed++;
			printf("# ok - %s: %s\n", f->name, name);
		} else {
			failed++;
			printf("# not ok - %s: %s\n", f->name, name);
			buf_printf(&report, "\n%s: %s\n  template: ", f->name, name);
			show(&report, json_string_value(tmpl));
			buf_puts(&report, "\n  expected: ");
			show(&report, json_string_value(want));
			if (rc) {
				buf_printf(&report, "\n  error:    %d %s", rc, e.msg);
			} else {
				buf_puts(&report, "\n  got:      ");
				show(&report, buf_cstr(&got));
			}
			buf_putc(&report, '\n');
		}
		buf_free(&got);
	}
	printf("# %s: %zu cases, %d failed\n", f->name, json_array_size(tests), failed);
	json_decref(doc);
	if (failed) {
		fprintf(stderr, "%s", buf_cstr(&report));
		buf_free(&report);
		fail_msg("%s: %d case(s) failed", f->name, failed);
	}
	buf_free(&report);
}

static void test_spec_total(void **state)
{
	const struct spec_run *run = *state;
	printf("# conformance: %d/%d passed (%d required)\n", run->passed, run->total, SPEC_CASES);
	assert_int_equal(run->total, SPEC_CASES);
	assert_int_equal(run->passed, SPEC_CASES);
}

/* The files are absent and this is not CI: a skip (DESIGN §5). cmocka's skip() prints
 * "not ok N # SKIP", which meson counts as a failure; TAP's skip is "ok N - name # SKIP
 * reason", so the directive is part of this test's name (main) and its body passes. */
static void test_spec_absent(void **state)
{
	(void)state;
}

/* The files are absent under INTERVENE_CI=1: a failure. */
static void test_spec_absent_ci(void **state)
{
	const struct spec_run *run = *state;
	fail_msg("Mustache conformance files not found in %s (INTERVENE_CI=1: they must be "
		 "checked out next to the repository, in ../shared/conformance/mustache)",
		 run->dir);
}

static int cmp_files(const void *a, const void *b)
{
	return strcmp(((const struct spec_file *)a)->name, ((const struct spec_file *)b)->name);
}

/* ---- escaping modes ---------------------------------------------------------------- */

static void test_html(void **state)
{
	(void)state;
	expect("{{x}}|{{{x}}}|{{&x}}", "{\"x\": \"<a href='q'>&\\\"</a>\"}", MUSTACHE_ESCAPE_HTML,
	       "&lt;a href=&#39;q&#39;&gt;&amp;&quot;&lt;/a&gt;|<a href='q'>&\"</a>|<a "
	       "href='q'>&\"</a>");
	/* opts may be NULL: HTML */
	json_t *d = json_pack("{ss}", "x", "<b>");
	struct buf b = BUF_INIT;
	assert_int_equal(mustache_render("{{x}}", 5, d, NULL, &b, NULL), 0);
	assert_string_equal(buf_cstr(&b), "&lt;b&gt;");
	buf_free(&b);
	json_decref(d);
}

static void test_markdown(void **state)
{
	(void)state;
	const enum mustache_escape md = MUSTACHE_ESCAPE_MARKDOWN;
	static const struct {
		const char *tmpl, *data, *want;
	} cases[] = {
		/* no HTML escaping */
		{"{{x}}", "{\"x\": \"a < b && c > \\\"d\\\" 'e'\"}", "a < b && c > \"d\" 'e'"},
		{"{{x}}", "{\"x\": \"**bold** [link](http://x) `code`\"}",
		 "**bold** [link](http://x) `code`"},
		/* comments can neither open nor close */
		{"{{x}}", "{\"x\": \"hide <!-- this\"}", "hide <" ZW "!-- this"},
		{"<!-- {{x}} -->", "{\"x\": \"a --> b\"}", "<!-- a --" ZW "> b -->"},
		{"{{x}}", "{\"x\": \"<!-->\"}", "<" ZW "!--" ZW ">"},
		{"{{x}}", "{\"x\": \"--->\"}", "---" ZW ">"},
		{"{{x}}", "{\"x\": \"<!<!--\"}", "<!<" ZW "!--"},
		{"{{x}}", "{\"x\": \"- > <! -- ->\"}", "- > <! -- ->"},
		/* ... nor together with the text around them */
		{"<!{{x}}", "{\"x\": \"-- hidden\"}", "<!" ZW "-- hidden"},
		{"{{x}}> tail", "{\"x\": \"end --\"}", "end --" ZW "> tail"},
		{"{{x}}{{y}}", "{\"x\": \"<!-\", \"y\": \"-x\"}", "<!-" ZW "-x"},
		{"{{x}}-->", "{\"x\": \"ok\"}", "ok-->"},
		{"{{x}}", "{\"x\": \"a-b<c!d\"}", "a-b<c!d"},
		/* mentions */
		{"{{x}}", "{\"x\": \"@alice\"}", "@" ZW "alice"},
		{"{{x}}", "{\"x\": \"cc @ops-team and (@bob), @_x\"}",
		 "cc @" ZW "ops-team and (@" ZW "bob), @" ZW "_x"},
		{"{{x}}", "{\"x\": \"ops@example.com a_@b 9@c\"}", "ops@example.com a_@b 9@c"},
		{"x{{x}}", "{\"x\": \"@y\"}", "x@" ZW "y"},
		{"{{x}}", "{\"x\": \"caf\\u00e9@bob\"}", "caf\xc3\xa9@" ZW "bob"},
		/* the template's own '@' and comments are the author's */
		{"@{{x}} <!-- {{y}} -->", "{\"x\": \"alice\", \"y\": 1}", "@alice <!-- 1 -->"},
		/* triple mustache and & are verbatim */
		{"{{{x}}} {{&x}}", "{\"x\": \"@a <!-- -->\"}", "@a <!-- --> @a <!-- -->"},
		/* numbers, lists, sections */
		{"{{#l}}- {{.}}\n{{/l}}", "{\"l\": [\"@a\", 2, \"<b>\"]}",
		 "- @" ZW "a\n- 2\n- <b>\n"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		expect(cases[i].tmpl, cases[i].data, md, cases[i].want);
}

static void test_none(void **state)
{
	(void)state;
	expect("{{x}} {{{x}}}", "{\"x\": \"<!-- @a & 'q' -->\"}", MUSTACHE_ESCAPE_NONE,
	       "<!-- @a & 'q' --> <!-- @a & 'q' -->");
	expect("[{{s}}] {{n}}", "{\"s\": \"sev\\\"1\", \"n\": 2}", MUSTACHE_ESCAPE_NONE,
	       "[sev\"1] 2");
}

/* ---- values ------------------------------------------------------------------------ */

static void test_values(void **state)
{
	(void)state;
	const enum mustache_escape no = MUSTACHE_ESCAPE_NONE;
	static const struct {
		const char *tmpl, *data, *want;
	} cases[] = {
		{"{{a}} {{b}} {{c}} {{d}} {{e}}",
		 "{\"a\": 1.21, \"b\": 0.1, \"c\": 3.0, \"d\": -0.5, "
		 "\"e\": 1e300}",
		 "1.21 0.1 3 -0.5 1e+300"},
		{"{{a}} {{b}}", "{\"a\": 0.30000000000000004, \"b\": 123456789.125}",
		 "0.30000000000000004 123456789.125"},
		{"{{a}} {{b}} {{c}}", "{\"a\": 9223372036854775807, \"b\": -3, \"c\": 0}",
		 "9223372036854775807 -3 0"},
		{"{{t}} {{f}} {{n}}|", "{\"t\": true, \"f\": false, \"n\": null}", "true false |"},
		{"{{o}} {{l}}", "{\"o\": {\"b\": [1, 2.5], \"a\": \"x\"}, \"l\": [\"q\", null]}",
		 "{\"a\":\"x\",\"b\":[1,2.5]} [\"q\",null]"},
		/* arrays indexed by dotted names */
		{"{{l.0.n}} {{l.1.n}} {{l.2.n}} {{l.x}} {{l.01.n}}",
		 "{\"l\": [{\"n\": \"a\"}, {\"n\": \"b\"}]}", "a b   b"},
		/* falsey: "" and [] like null and false; 0 and {} are truthy */
		{"{{#s}}S{{/s}}{{^s}}!S{{/s}} {{#z}}Z{{.}}{{/z}} {{#o}}O{{/o}} "
		 "{{#l}}L{{/l}}{{^l}}!L{{/l}}",
		 "{\"s\": \"\", \"z\": 0, \"o\": {}, \"l\": []}", "!S Z0 O !L"},
		/* a top-level scalar or list context */
		{"{{.}}", "\"top\"", "top"},
		{"{{#.}}<{{.}}>{{/.}}", "[1, 2]", "<1><2>"},
		{"[{{x}}]", "null", "[]"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		expect(cases[i].tmpl, cases[i].data, no, cases[i].want);

	/* NULL data: every name is missing */
	struct buf b = BUF_INIT;
	struct mustache_opts o = {.escape = no};
	assert_int_equal(mustache_render("a{{x}}{{.}}{{^x}}b{{/x}}", 24, NULL, &o, &b, NULL), 0);
	assert_string_equal(buf_cstr(&b), "ab");
	buf_free(&b);
}

/* Standalone lines and indentation beyond what the spec tests. */
static void test_layout(void **state)
{
	(void)state;
	json_t *p = json_pack("{ss ss ss ss ss}", "outer", "<ul>\n  {{>inner}}\n</ul>\n", "inner",
			      "<li>\n\n  x {{v}}\n</li>\n", "inline", "a\nb", "wrap",
			      "<\n{{>inline}}>\n", "pp", "<{{$b}}{{/b}}>");
	static const struct {
		const char *tmpl, *data, *want;
	} cases[] = {
		/* nested standalone partials add up their indentation; blank lines and the
		 * lines of values stay unindented */
		{"  {{>outer}}", "{\"v\": \"1\\n2\"}",
		 "  <ul>\n    <li>\n\n      x 1\n2\n    </li>\n  </ul>\n"},
		/* a missing standalone partial takes its line with it */
		{"  {{>x}}\n", "{}", ""},
		/* an inline partial inside an indented one: its lines are its own */
		{"  {{>wrap}}", "{}", "  <\n  a\nb>\n"},
		{"{{#l}}\n  {{>inline}}\n{{/l}}\n", "{\"l\": [1, 2]}", "  a\n  b  a\n  b"},
		/* a dynamic parent */
		{"{{<*n}}{{$b}}B{{/b}}{{/ *n}}", "{\"n\": \"pp\"}", "<B>"},
		/* a block default keeps the tag's indentation when it has none itself */
		{"<ul>\n  {{$items}}\n<li>default</li>\n  {{/items}}\n</ul>\n", "{}",
		 "<ul>\n  <li>default</li>\n</ul>\n"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct err e;
		char *got;
		int rc = render_mode(cases[i].tmpl, cases[i].data, MUSTACHE_ESCAPE_NONE, p, &got,
				     &e);
		assert_int_equal(rc, 0);
		if (strcmp(got, cases[i].want) != 0)
			fail_msg("case %zu: want [%s] got [%s]", i, cases[i].want, got);
		free(got);
	}
	json_decref(p);
}

/* ---- the missing callback ---------------------------------------------------------- */

struct seen {
	struct buf names;
	int calls;
};

static void on_missing(const char *name, void *arg)
{
	struct seen *s = arg;
	buf_printf(&s->names, "%s;", name);
	s->calls++;
}

static void test_missing(void **state)
{
	(void)state;
	json_t *d = json_loads("{\"n\": null, \"s\": \"\", \"f\": false, \"l\": [], \"o\": {}, "
			       "\"zero\": 0, \"t\": true, \"x\": \"x\", \"a\": {\"b\": \"\"}, "
			       "\"items\": [1, 2, 3]}",
			       0, NULL);
	assert_non_null(d);
	const char *tmpl = "{{nope}} {{n}} {{ s }} {{{f}}} {{&l}} {{o}} {{zero}} {{t}} {{x}} "
			   "{{a.b}} {{a.c}} {{#items}}{{gone}}{{/items}} "
			   "{{#sec}}{{/sec}}{{^sec}}{{/sec}}{{#n}}{{/n}}{{>p}}{{>*dyn}}";
	struct seen s = {BUF_INIT, 0};
	struct mustache_opts o = {
		.escape = MUSTACHE_ESCAPE_MARKDOWN, .missing = on_missing, .missing_arg = &s};
	struct buf out = BUF_INIT;
	struct err e;
	assert_int_equal(mustache_render(tmpl, strlen(tmpl), d, &o, &out, &e), 0);
	/* sections, inverted sections and partials are not reported; a tag repeated by a
	 * list is reported once */
	assert_string_equal(buf_cstr(&s.names), "nope;n;s;f;l;o;a.b;a.c;gone;");
	assert_int_equal(s.calls, 9);
	buf_free(&out);
	buf_free(&s.names);
	json_decref(d);
}

/* ---- errors ------------------------------------------------------------------------ */

static void test_errors(void **state)
{
	(void)state;
	static const struct {
		const char *tmpl, *msg;
	} cases[] = {
		{"abc {{x", "line 1, column 5: unclosed tag: no \"}}\" after \"{{\""},
		{"a\nb\n  {{{x}}", "line 3, column 3: unclosed tag: no \"}}}\" after \"{{{\""},
		{"{{=<% %>=}}\n<%x", "line 2, column 1: unclosed tag: no \"%>\" after \"<%\""},
		{"{{=<% %>}}", "line 1, column 1: unclosed tag: no \"=}}\" after \"{{=\""},
		{"x\n{{#a}}\n{{#b}}\n{{/b}}\n", "line 2, column 1: unclosed section \"a\""},
		{"{{#a}}{{/b}}", "line 1, column 7: mismatched section end \"b\": the open section "
				 "is \"a\""},
		{"\xc3\xa9t\xc3\xa9 {{/a}}", "line 1, column 5: section end \"a\" without an open "
					     "section"},
		{"{{=<%%>=}}", "line 1, column 1: bad delimiter change: two delimiters separated "
			       "by whitespace expected"},
		{"{{= a b c =}}",
		 "line 1, column 1: bad delimiter change: more than two delimiters"},
		{"{{=<= =>=}}",
		 "line 1, column 1: bad delimiter change: a delimiter cannot contain "
		 "'='"},
		{"{{= aaaaaaaaaaaaaaaaa b =}}",
		 "line 1, column 1: bad delimiter change: delimiters "
		 "are at most 16 bytes"},
		{"a {{ }}", "line 1, column 3: empty tag name"},
		{"{{#}}{{/}}", "line 1, column 1: empty tag name"},
		{"{{>*}}", "line 1, column 1: empty tag name"},
		{"{{a b}}",
		 "line 1, column 1: invalid tag name \"a b\": names contain no whitespace"},
		{"{{<p}}{{/*p}}",
		 "line 1, column 7: mismatched section end \"*p\": the open section "
		 "is \"p\""},
		{"{{$b}}\n", "line 1, column 1: unclosed section \"b\""},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct buf b = BUF_INIT;
		buf_puts(&b, "before");
		struct err e;
		err_clear(&e);
		int rc = mustache_render(cases[i].tmpl, strlen(cases[i].tmpl), NULL, NULL, &b, &e);
		if (rc != ERR_INVALID || strcmp(e.msg, cases[i].msg) != 0)
			fail_msg("template [%s]: want %s\n  got %d %s", cases[i].tmpl, cases[i].msg,
				 rc, e.msg);
		/* out is as it was */
		assert_string_equal(buf_cstr(&b), "before");
		assert_int_equal(b.len, 6);
		/* mustache_check agrees */
		err_clear(&e);
		assert_int_equal(mustache_check(cases[i].tmpl, strlen(cases[i].tmpl), &e),
				 ERR_INVALID);
		assert_string_equal(e.msg, cases[i].msg);
		buf_free(&b);
	}
	struct err e;
	assert_int_equal(mustache_check("{{#a}}{{>p}}{{/a}}", 18, &e), 0);
	/* an embedded NUL is text; len is what counts */
	struct buf b = BUF_INIT;
	assert_int_equal(mustache_render("a\0b{{x", 3, NULL, NULL, &b, &e), 0);
	assert_int_equal(b.len, 3);
	assert_memory_equal(b.data, "a\0b", 3);
	buf_free(&b);
}

static void test_partial_error(void **state)
{
	(void)state;
	json_t *p = json_pack("{ss ss}", "ok", "{{>bad}}", "bad", "fine\n  {{#s}}");
	struct err e;
	char *out;
	int rc = render_mode("line one\n  {{>ok}}", "{}", MUSTACHE_ESCAPE_HTML, p, &out, &e);
	assert_int_equal(rc, ERR_INVALID);
	assert_string_equal(e.msg, "line 2, column 3: partial \"bad\": line 2, column 3: unclosed "
				   "section \"s\"");
	assert_string_equal(out, "");
	free(out);
	json_decref(p);
}

static void test_depth(void **state)
{
	(void)state;
	/* a partial that includes itself */
	json_t *p = json_pack("{ss ss}", "self", "x{{>self}}", "loop", "{{<loop}}{{/loop}}");
	static const char *const tmpls[] = {"a\n{{>self}}", "{{<loop}}{{/loop}}",
					    "{{#l}}{{>self}}{{/l}}"};
	for (size_t i = 0; i < 3; i++) {
		json_t *d = json_pack("{s[i]}", "l", 1);
		struct mustache_opts o = {.partial = json_partial, .partial_arg = p};
		struct buf b = BUF_INIT;
		buf_puts(&b, "keep");
		struct err e;
		err_clear(&e);
		int rc = mustache_render(tmpls[i], strlen(tmpls[i]), d, &o, &b, &e);
		assert_int_equal(rc, ERR_INVALID);
		assert_non_null(strstr(e.msg, "nested deeper than 100"));
		assert_string_equal(buf_cstr(&b), "keep");
		buf_free(&b);
		json_decref(d);
	}
	assert_int_equal(MUSTACHE_MAX_DEPTH, 100);
	struct err e;
	char *out;
	assert_int_equal(render_mode("a\n{{>self}}", "{}", MUSTACHE_ESCAPE_HTML, p, &out, &e),
			 ERR_INVALID);
	assert_string_equal(e.msg, "line 2, column 1: templates nested deeper than 100 (partials "
				   "including themselves?)");
	free(out);
	json_decref(p);

	/* sections: 100 deep is fine, 101 is not */
	for (int depth = 100; depth <= 101; depth++) {
		struct buf t = BUF_INIT;
		for (int i = 0; i < depth; i++)
			buf_puts(&t, "{{#a}}");
		buf_puts(&t, "{{b}}");
		for (int i = 0; i < depth; i++)
			buf_puts(&t, "{{/a}}");
		struct buf b = BUF_INIT;
		json_t *d = json_pack("{sb si}", "a", 1, "b", 7);
		err_clear(&e);
		int rc = mustache_render(t.data, t.len, d, NULL, &b, &e);
		if (depth == 100) {
			assert_int_equal(rc, 0);
			assert_string_equal(buf_cstr(&b), "7");
		} else {
			assert_int_equal(rc, ERR_INVALID);
			assert_string_equal(e.msg,
					    "line 1, column 601: sections nested deeper than 100");
		}
		json_decref(d);
		buf_free(&b);
		buf_free(&t);
	}
}

static void test_output_limit(void **state)
{
	(void)state;
	size_t mib = (size_t)1 << 20;
	char *big = xmalloc(mib + 1);
	memset(big, 'x', mib);
	big[mib] = '\0';
	json_t *d = json_pack("{ss s[]}", "big", big, "l");
	free(big);
	json_t *l = json_object_get(d, "l");
	for (int i = 0; i < 16; i++)
		json_array_append_new(l, json_true());
	/* exactly 16 MiB fits */
	struct buf b = BUF_INIT;
	struct err e;
	const char *t = "{{#l}}{{big}}{{/l}}";
	assert_int_equal(mustache_render(t, strlen(t), d, NULL, &b, &e), 0);
	assert_int_equal(b.len, MUSTACHE_MAX_OUTPUT);
	buf_free(&b);
	/* one byte more does not, and out is left alone */
	buf_puts(&b, "prefix");
	t = "{{#l}}{{big}}{{/l}}!";
	assert_int_equal(mustache_render(t, strlen(t), d, NULL, &b, &e), ERR_TOOLARGE);
	assert_string_equal(buf_cstr(&b), "prefix");
	assert_int_equal(b.len, 6);
	assert_non_null(strstr(e.msg, "16777216"));
	buf_free(&b);
	json_decref(d);
}

static void test_step_limit(void **state)
{
	(void)state;
	json_t *d = json_pack("{s[]}", "l");
	json_t *l = json_object_get(d, "l");
	for (int i = 0; i < 30; i++)
		json_array_append_new(l, json_sprintf("p%d", i));
	struct buf b = BUF_INIT;
	struct err e;
	/* 30^5 iterations that write nothing */
	const char *t = "{{#l}}{{#l}}{{#l}}{{#l}}{{#l}}{{x}}{{/l}}{{/l}}{{/l}}{{/l}}{{/l}}";
	buf_puts(&b, "keep");
	assert_int_equal(mustache_render(t, strlen(t), d, NULL, &b, &e), ERR_TOOLARGE);
	assert_string_equal(e.msg, "rendering would take more than 4194304 steps");
	assert_string_equal(buf_cstr(&b), "keep");
	/* 30^3 are fine */
	t = "{{#l}}{{#l}}{{#l}}{{x}}{{/l}}{{/l}}{{/l}}";
	assert_int_equal(mustache_render(t, strlen(t), d, NULL, &b, &e), 0);
	/* thousands of distinct dynamic partial names */
	for (int i = 30; i < 5000; i++)
		json_array_append_new(l, json_sprintf("p%d", i));
	t = "{{#l}}{{>*.}}{{/l}}";
	assert_int_equal(mustache_render(t, strlen(t), d, NULL, &b, &e), ERR_TOOLARGE);
	assert_string_equal(buf_cstr(&b), "keep");
	buf_free(&b);
	json_decref(d);
}

/* ---- partials ---------------------------------------------------------------------- */

struct counted {
	json_t *p;
	int calls;
};

static const char *counted_partial(const char *name, void *arg)
{
	struct counted *c = arg;
	c->calls++;
	return json_string_value(json_object_get(c->p, name));
}

static void test_partial_calls(void **state)
{
	(void)state;
	struct counted c = {json_pack("{ss}", "row", "<{{.}}>"), 0};
	json_t *d = json_pack("{s[iii] ss}", "l", 1, 2, 3, "which", "row");
	const char *t = "{{#l}}{{>row}}{{>none}}{{>*which}}{{/l}}";
	struct mustache_opts o = {.partial = counted_partial, .partial_arg = &c};
	struct buf b = BUF_INIT;
	struct err e;
	assert_int_equal(mustache_render(t, strlen(t), d, &o, &b, &e), 0);
	assert_string_equal(buf_cstr(&b), "<1><1><2><2><3><3>");
	assert_int_equal(c.calls, 2); /* "row" and "none", once each */
	buf_free(&b);
	/* no callback: partials render as nothing */
	assert_int_equal(mustache_render(t, strlen(t), d, NULL, &b, &e), 0);
	assert_string_equal(buf_cstr(&b), "");
	buf_free(&b);
	json_decref(d);
	json_decref(c.p);
}

/* ---- speed ------------------------------------------------------------------------- */

static void test_speed(void **state)
{
	(void)state;
	struct buf t = BUF_INIT;
	buf_puts(&t,
		 "## {{title}}\n\n{{summary}}\n\n| Metric | Current | Baseline |\n|---|---|---|\n"
		 "{{#metrics}}\n| {{name}} | {{current}} | {{baseline}} |\n{{/metrics}}\n");
	while (t.len < 2000)
		buf_puts(&t, "Some explanatory text about {{details.agent}} and what to do next; "
			     "{{#sla.due}}due {{sla.due}}{{/sla.due}}.\n");
	json_t *d = json_loads(
		"{\"title\": \"t\", \"summary\": \"s @x <!--\", \"details\": "
		"{\"agent\": \"planner\"}, \"sla\": {\"due\": \"soon\"}, \"metrics\": "
		"[{\"name\": \"a\", \"current\": 1.5, \"baseline\": 1}, {\"name\": \"b\", "
		"\"current\": 2, \"baseline\": 3}]}",
		0, NULL);
	assert_non_null(d);
	struct mustache_opts o = {.escape = MUSTACHE_ESCAPE_MARKDOWN};
	struct buf b = BUF_INIT;
	const int n = 2000;
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int i = 0; i < n; i++) {
		buf_reset(&b);
		assert_int_equal(mustache_render(t.data, t.len, d, &o, &b, NULL), 0);
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double us =
		((double)(t1.tv_sec - t0.tv_sec) * 1e6 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e3) /
		n;
	printf("# a %zu-byte template renders in %.1f us\n", t.len, us);
	/* generous, for busy machines; sanitizer and unoptimised builds get more */
#if defined(__SANITIZE_ADDRESS__) || !defined(__OPTIMIZE__)
	assert_true(us < 5000.0);
#else
	assert_true(us < 500.0);
#endif
	buf_free(&b);
	buf_free(&t);
	json_decref(d);
}

int main(void)
{
	const char *root = getenv("SOURCE_ROOT");
	const char *conformance = getenv("INTERVENE_CONFORMANCE_DIR");
	const char *ci = getenv("INTERVENE_CI");
	struct spec_run run = {.total = 0, .passed = 0};
	if (conformance && *conformance)
		snprintf(run.dir, sizeof run.dir, "%s/mustache", conformance);
	else
		snprintf(run.dir, sizeof run.dir, "%s/../shared/conformance/mustache",
			 root ? root : "..");
	char skip_name[4200];
	snprintf(skip_name, sizeof skip_name,
		 "spec # SKIP conformance files not found in %s (INTERVENE_CI=1 makes this a "
		 "failure)",
		 run.dir);

	static const struct CMUnitTest own[] = {
		cmocka_unit_test(test_html),	   cmocka_unit_test(test_markdown),
		cmocka_unit_test(test_none),	   cmocka_unit_test(test_values),
		cmocka_unit_test(test_layout),	   cmocka_unit_test(test_missing),
		cmocka_unit_test(test_errors),	   cmocka_unit_test(test_partial_error),
		cmocka_unit_test(test_depth),	   cmocka_unit_test(test_output_limit),
		cmocka_unit_test(test_step_limit), cmocka_unit_test(test_partial_calls),
		cmocka_unit_test(test_speed),
	};
	size_t n_own = sizeof own / sizeof own[0];

	struct spec_file *files = NULL;
	size_t n_files = 0;
	DIR *dir = opendir(run.dir);
	if (dir) {
		struct dirent *de;
		while ((de = readdir(dir))) {
			size_t l = strlen(de->d_name);
			if (l < 6 || strcmp(de->d_name + l - 5, ".json") != 0 || l >= 256)
				continue;
			files = xrealloc(files, (n_files + 1) * sizeof *files);
			snprintf(files[n_files].path, sizeof files[n_files].path, "%s/%s", run.dir,
				 de->d_name);
			files[n_files].run = &run;
			snprintf(files[n_files].name, sizeof files[n_files].name, "%.*s",
				 (int)(l - 5), de->d_name);
			n_files++;
		}
		closedir(dir);
		if (n_files)
			qsort(files, n_files, sizeof *files, cmp_files);
	}

	size_t n = n_own + (n_files ? n_files + 1 : 1);
	struct CMUnitTest *tests = xcalloc(n, sizeof *tests);
	char(*names)[300] = xcalloc(n_files ? n_files : 1, sizeof *names);
	size_t k = 0;
	if (n_files) {
		for (size_t i = 0; i < n_files; i++) {
			snprintf(names[i], sizeof names[i], "spec %s", files[i].name);
			tests[k].name = names[i];
			tests[k].test_func = test_spec_file;
			tests[k].initial_state = &files[i];
			k++;
		}
		tests[k].name = "spec total";
		tests[k].test_func = test_spec_total;
		tests[k].initial_state = &run;
		k++;
	} else if (ci && !strcmp(ci, "1")) {
		tests[k].name = "spec (conformance files absent)";
		tests[k].test_func = test_spec_absent_ci;
		tests[k].initial_state = &run;
		k++;
	} else {
		printf("# conformance files not found in %s: the Mustache spec is skipped\n",
		       run.dir);
		tests[k].name = skip_name;
		tests[k].test_func = test_spec_absent;
		tests[k].initial_state = &run;
		k++;
	}
	for (size_t i = 0; i < n_own; i++)
		tests[k++] = own[i];
	int rc = _cmocka_run_group_tests("mustache", tests, k, NULL, NULL);
	free(tests);
	free(names);
	free(files);
	return rc;
}
