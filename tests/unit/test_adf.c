/* test_adf.c — Markdown → ADF (src/tracker/adf.h).
 *
 * Golden files: every golden/adf/<name>.md converts to golden/adf/<name>.adf.json
 * (pretty-printed, keys sorted, trailing newline) and passes adf_check; one cmocka
 * test per file, so a new .md dropped in the folder is picked up. UPDATE_GOLDEN=1
 * rewrites the .adf.json files. Runs with cwd = tests/ and SOURCE_ROOT = the
 * repository root. The schema itself (../shared/conformance/adf/full.json) is checked
 * by tests/integration/test_adf_schema.py over the same files.
 *
 * Also a converter for scripts (tests/fuzz/validate_adf_outputs.py):
 *   test_adf --convert FILE            the ADF of FILE ("-" = stdin), golden format;
 *                                      exit 3 when refused (too large/deep), 1 on error
 *   test_adf --convert-jsonl FILE...   one line per file: {"file", "adf"} or
 *                                      {"file", "error", "message"}; exit 1 if any
 *                                      conversion failed for a reason other than a
 *                                      refusal or gave ADF that fails adf_check */
#include <dirent.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmark-gfm-core-extensions.h>
#include <cmocka.h>

#include "tracker/adf.h"
#include "util/buf.h"

/* In the sanitizer build, undefined behaviour fails the test instead of only being
 * printed (unused otherwise). */
const char *__ubsan_default_options(void);
const char *__ubsan_default_options(void)
{
	return "halt_on_error=1:print_stacktrace=1";
}

#define DUMP_FLAGS (JSON_INDENT(2) | JSON_SORT_KEYS)

static bool read_file(const char *path, struct buf *out)
{
	FILE *f = strcmp(path, "-") ? fopen(path, "rb") : stdin;
	if (!f)
		return false;
	char chunk[8192];
	size_t n;
	while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
		buf_append(out, chunk, n);
	bool ok = !ferror(f);
	if (f != stdin)
		fclose(f);
	return ok;
}

static const char *golden_dir(char *buf, size_t size)
{
	const char *root = getenv("SOURCE_ROOT");
	snprintf(buf, size, "%s/tests/golden/adf", root && *root ? root : "..");
	return buf;
}

static bool update_golden(void)
{
	const char *u = getenv("UPDATE_GOLDEN");
	return u && *u && strcmp(u, "0");
}

/* Convert text, require success and a passing adf_check; returns the pretty text
 * (caller frees) and optionally the document. */
static char *convert_ok(const char *md, size_t len, json_t **doc_out)
{
	json_t *doc = NULL;
	struct err e;
	err_clear(&e);
	int rc = adf_from_markdown(md, len, &doc, &e);
	if (rc)
		fail_msg("adf_from_markdown failed (%d): %s", rc, e.msg);
	if (adf_check(doc, &e))
		fail_msg("adf_check rejects the converter's output: %s", e.msg);
	char *text = json_dumps(doc, DUMP_FLAGS);
	assert_non_null(text);
	if (doc_out)
		*doc_out = doc;
	else
		json_decref(doc);
	return text;
}

/* ---- golden files ---- */

static void test_golden_file(void **state)
{
	const char *name = *state;
	char dir[4096], md_path[4352], json_path[4352];
	golden_dir(dir, sizeof dir);
	snprintf(md_path, sizeof md_path, "%s/%s.md", dir, name);
	snprintf(json_path, sizeof json_path, "%s/%s.adf.json", dir, name);

	struct buf md = BUF_INIT, want = BUF_INIT;
	if (!read_file(md_path, &md))
		fail_msg("cannot read %s", md_path);
	char *got = convert_ok(md.data, md.len, NULL);
	struct buf gotb = BUF_INIT;
	buf_puts(&gotb, got);
	buf_putc(&gotb, '\n');
	free(got);

	if (update_golden()) {
		FILE *f = fopen(json_path, "wb");
		if (!f)
			fail_msg("cannot write %s", json_path);
		fwrite(gotb.data, 1, gotb.len, f);
		fclose(f);
	} else {
		/* free before failing: fail_msg does not return */
		bool missing = !read_file(json_path, &want);
		bool differs = !missing && strcmp(buf_cstr(&want), buf_cstr(&gotb));
		if (differs)
			fprintf(stderr, "--- conversion of %s ---\n%s", md_path, buf_cstr(&gotb));
		buf_free(&gotb);
		buf_free(&want);
		buf_free(&md);
		if (missing)
			fail_msg("%s missing (run with UPDATE_GOLDEN=1 to create it)", json_path);
		if (differs)
			fail_msg("%s differs from the conversion of %s (UPDATE_GOLDEN=1 rewrites "
				 "it)",
				 json_path, md_path);
	}
	buf_free(&gotb);
	buf_free(&want);
	buf_free(&md);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted golden names (without .md); *n set; NULL-terminated list the caller frees. */
static char **golden_names(size_t *n)
{
	char dir[4096];
	DIR *d = opendir(golden_dir(dir, sizeof dir));
	char **names = NULL;
	size_t cap = 0;
	*n = 0;
	if (!d)
		return NULL;
	struct dirent *de;
	while ((de = readdir(d))) {
		size_t l = strlen(de->d_name);
		if (l <= 3 || strcmp(de->d_name + l - 3, ".md"))
			continue;
		if (*n + 2 > cap) {
			cap = cap ? cap * 2 : 32;
			names = xrealloc(names, cap * sizeof *names);
		}
		names[(*n)++] = xstrndup(de->d_name, l - 3);
	}
	closedir(d);
	if (names) {
		qsort(names, *n, sizeof *names, cmp_str);
		names[*n] = NULL;
	}
	return names;
}

/* ---- targeted behaviour ---- */

static json_t *convert_doc(const char *md)
{
	json_t *doc = NULL;
	free(convert_ok(md, strlen(md), &doc));
	return doc;
}

/* The value at a path like "content.0.content.1.marks" (numbers index arrays). */
static json_t *at(json_t *root, const char *path)
{
	char tmp[256];
	snprintf(tmp, sizeof tmp, "%s", path);
	json_t *cur = root;
	char *save = NULL;
	char *tok = strtok_r(tmp, ".", &save);
	while (tok && cur) {
		if (*tok >= '0' && *tok <= '9')
			cur = json_array_get(cur, strtoul(tok, NULL, 10));
		else
			cur = json_object_get(cur, tok);
		tok = strtok_r(NULL, ".", &save);
	}
	return cur;
}

static void expect_compact(json_t *v, const char *want)
{
	char *got = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
	if (!got || strcmp(got, want))
		fail_msg("expected %s\n     got %s", want, got ? got : "(null)");
	free(got);
}

static void test_code_mark_only_with_link(void **state)
{
	(void)state;
	json_t *doc = convert_doc("***bold `code` [`lc`](http://x) ~~s~~***");
	json_t *p = at(doc, "content.0.content");
	expect_compact(
		p,
		"[{\"marks\":[{\"type\":\"em\"},{\"type\":\"strong\"}],\"text\":\"bold "
		"\",\"type\":\"text\"},"
		"{\"marks\":[{\"type\":\"code\"}],\"text\":\"code\",\"type\":\"text\"},"
		"{\"marks\":[{\"type\":\"em\"},{\"type\":\"strong\"}],\"text\":\" "
		"\",\"type\":\"text\"},"
		"{\"marks\":[{\"attrs\":{\"href\":\"http://"
		"x\"},\"type\":\"link\"},{\"type\":\"code\"}],\"text\":\"lc\",\"type\":\"text\"},"
		"{\"marks\":[{\"type\":\"em\"},{\"type\":\"strong\"}],\"text\":\" "
		"\",\"type\":\"text\"},"
		"{\"marks\":[{\"type\":\"em\"},{\"type\":\"strong\"},{\"type\":\"strike\"}],"
		"\"text\":\"s\",\"type\":\"text\"}]");
	json_decref(doc);
}

static void test_text_merged_and_never_empty(void **state)
{
	(void)state;
	/* cmark splits at brackets and entities; one run comes out */
	json_t *doc = convert_doc("a [b] &amp; c\nd");
	expect_compact(at(doc, "content.0.content"),
		       "[{\"text\":\"a [b] & c d\",\"type\":\"text\"}]");
	json_decref(doc);
	/* an empty link shows its URL; an empty image too; an empty code span is text */
	doc = convert_doc("[](http://a) ![](http://b.png) [x]()");
	expect_compact(at(doc, "content.0.content"),
		       "[{\"marks\":[{\"attrs\":{\"href\":\"http://"
		       "a\"},\"type\":\"link\"}],\"text\":\"http://a\",\"type\":\"text\"},"
		       "{\"text\":\" \",\"type\":\"text\"},"
		       "{\"marks\":[{\"attrs\":{\"href\":\"http://"
		       "b.png\"},\"type\":\"link\"}],\"text\":\"http://b.png\",\"type\":\"text\"},"
		       "{\"text\":\" x\",\"type\":\"text\"}]");
	json_decref(doc);
}

static void test_unsafe_links_lose_the_mark(void **state)
{
	(void)state;
	json_t *doc = convert_doc("[a](javascript:alert(1)) [b](  DATA:text/html,x) <vbscript:x> "
				  "[c](file:///etc/passwd)");
	char *text = json_dumps(doc, JSON_COMPACT);
	assert_null(strstr(text, "\"link\""));
	free(text);
	json_decref(doc);
}

static void test_list_item_starts_with_paragraph(void **state)
{
	(void)state;
	json_t *doc = convert_doc("- ```\n  code\n  ```\n-\n- - nested\n");
	json_t *items = at(doc, "content.0.content");
	assert_int_equal(json_array_size(items), 3);
	for (size_t i = 0; i < 3; i++)
		assert_string_equal(
			json_string_value(at(json_array_get(items, i), "content.0.type")),
			"paragraph");
	assert_string_equal(json_string_value(at(items, "0.content.1.type")), "codeBlock");
	assert_string_equal(json_string_value(at(items, "2.content.1.type")), "bulletList");
	json_decref(doc);
}

static void test_ordered_start(void **state)
{
	(void)state;
	json_t *doc = convert_doc("1. a\n2. b\n\n---\n\n7. x\n\n---\n\n0. z\n");
	assert_null(at(doc, "content.0.attrs"));
	expect_compact(at(doc, "content.2.attrs"), "{\"order\":7}");
	expect_compact(at(doc, "content.4.attrs"), "{\"order\":0}");
	json_decref(doc);
}

static void test_task_localids_unique(void **state)
{
	(void)state;
	json_t *doc = convert_doc("- [ ] a\n  - [x] b\n- [X] c\n\n+ [ ] d\n");
	char *text = json_dumps(doc, JSON_COMPACT);
	/* 3 lists + 4 items, each its own id */
	for (int i = 1; i <= 7; i++) {
		char id[64];
		snprintf(id, sizeof id, "\"00000000-0000-4000-8000-%012x\"", i);
		const char *p = strstr(text, id);
		if (!p || strstr(p + 1, id))
			fail_msg("localId %s not present exactly once in %s", id, text);
	}
	assert_null(strstr(text, "00000000-0000-4000-8000-000000000008"));
	free(text);
	expect_compact(at(doc, "content.0.content.0.attrs.state"), "\"TODO\"");
	expect_compact(at(doc, "content.0.content.1.type"), "\"taskList\"");
	expect_compact(at(doc, "content.0.content.1.content.0.attrs.state"), "\"DONE\"");
	expect_compact(at(doc, "content.0.content.2.attrs.state"), "\"DONE\"");
	json_decref(doc);
}

static void test_empty_and_blank(void **state)
{
	(void)state;
	static const char *const inputs[] = {"", " ", "\n\n\n", " \t \n  \n", "<!-- -->\n"};
	for (size_t i = 0; i < sizeof inputs / sizeof inputs[0]; i++) {
		json_t *doc = NULL;
		free(convert_ok(inputs[i], strlen(inputs[i]), &doc));
		if (i < 4)
			expect_compact(doc, "{\"content\":[],\"type\":\"doc\",\"version\":1}");
		json_decref(doc);
	}
	json_t *doc = NULL;
	struct err e;
	assert_int_equal(adf_from_markdown(NULL, 0, &doc, &e), 0);
	expect_compact(doc, "{\"content\":[],\"type\":\"doc\",\"version\":1}");
	json_decref(doc);
}

static void test_bytes_not_text(void **state)
{
	(void)state;
	/* NUL, invalid UTF-8, a lone surrogate by reference, and no terminating NUL */
	static const char in[] = "a\0b \xff\xfe \xed\xa0\x80 &#xD800; &#0; `\xc3` tail";
	json_t *doc = NULL;
	free(convert_ok(in, sizeof in - 1 - 5, &doc));
	const char *t = json_string_value(at(doc, "content.0.content.0.text"));
	assert_non_null(t);
	assert_non_null(strstr(t, "a\xef\xbf\xbd"
				  "b"));
	assert_null(strstr(t, "tail"));
	json_decref(doc);
}

static void test_limits(void **state)
{
	(void)state;
	json_t *doc = (json_t *)1;
	struct err e;
	char *big = xmalloc(ADF_MAX_INPUT + 1);
	memset(big, 'a', ADF_MAX_INPUT + 1);
	assert_int_equal(adf_from_markdown(big, ADF_MAX_INPUT + 1, &doc, &e), ERR_TOOLARGE);
	assert_null(doc);
	/* exactly the limit is fine */
	assert_int_equal(adf_from_markdown(big, ADF_MAX_INPUT, &doc, &e), 0);
	json_decref(doc);
	free(big);

	struct buf b = BUF_INIT;
	for (int i = 0; i < 200; i++)
		buf_putc(&b, '>');
	buf_puts(&b, " deep\n");
	assert_int_equal(adf_from_markdown(b.data, b.len, &doc, &e), ERR_TOOLARGE);
	assert_non_null(strstr(e.msg, "nested deeper"));
	buf_reset(&b);
	for (int i = 0; i < 200; i++)
		buf_puts(&b, "*a ");
	assert_int_equal(adf_from_markdown(b.data, b.len, &doc, &e), 0); /* unclosed: text */
	json_decref(doc);
	buf_reset(&b);
	for (int i = 0; i < 100; i++)
		buf_puts(&b, "- ");
	buf_puts(&b, "x\n");
	assert_int_equal(adf_from_markdown(b.data, b.len, &doc, &e), ERR_TOOLARGE);
	buf_reset(&b);
	for (int i = 0; i < 20; i++)
		buf_puts(&b, "> ");
	buf_puts(&b, "fine\n");
	assert_int_equal(adf_from_markdown(b.data, b.len, &doc, &e), 0);
	json_decref(doc);

	/* a table bomb: 2000 columns, then many short lines each padded to 2000 cells */
	buf_reset(&b);
	for (int i = 0; i < 2000; i++)
		buf_puts(&b, "|a");
	buf_puts(&b, "|\n");
	for (int i = 0; i < 2000; i++)
		buf_puts(&b, "|-");
	buf_puts(&b, "|\n");
	for (int i = 0; i < 5000; i++)
		buf_puts(&b, "|\n");
	assert_int_equal(adf_from_markdown(b.data, b.len, &doc, &e), ERR_TOOLARGE);
	assert_non_null(strstr(e.msg, "table"));
	buf_free(&b);

	assert_int_equal(adf_from_markdown(NULL, 3, &doc, &e), ERR_INVALID);
	assert_int_equal(adf_from_markdown("x", 1, NULL, &e), ERR_INVALID);
}

/* adf_check against hand-written documents. */
static void test_check_rejects(void **state)
{
	(void)state;
	static const struct {
		const char *json, *why;
	} bad[] = {
		{"[]", "not an object"},
		{"{\"type\":\"doc\",\"content\":[]}", "version"},
		{"{\"version\":2,\"type\":\"doc\",\"content\":[]}", "version"},
		{"{\"version\":1,\"type\":\"doc\",\"content\":[],\"x\":1}", "unexpected key x"},
		{"{\"version\":1,\"type\":\"doc\"}", "missing content"},
		{"{\"version\":1,\"type\":\"doc\",\"content\":[{\"type\":\"paragraph\",\"content\":"
		 "[{\"type\":\"text\",\"text\":\"\"}]}]}",
		 "without text"},
		{"{\"version\":1,\"type\":\"doc\",\"content\":[{\"type\":\"paragraph\",\"content\":"
		 "[{\"type\":\"text\",\"text\":\"a\",\"marks\":[{\"type\":\"code\"},{\"type\":"
		 "\"strong\"}]}]}]}",
		 "code mark combined"},
		{"{\"version\":1,\"type\":\"doc\",\"content\":[{\"type\":\"paragraph\",\"content\":"
		 "[{\"type\":\"text\",\"text\":\"a\",\"marks\":[{\"type\":\"em\"},{\"type\":\"em\"}"
		 "]}]}]}",
		 "mark twice"},
		{"{\"version\":1,\"type\":\"doc\",\"content\":[{\"type\":\"paragraph\",\"content\":"
		 "[{\"type\":\"text\",\"text\":\"a\",\"marks\":[{\"type\":\"link\"}]}]}]}",
		 "attrs.href"},
		{"{\"version\":1,\"type\":\"doc\",\"content\":[{\"type\":\"blockquote\","
		 "\"content\":[{\"type\":\"heading\",\"attrs\":{\"level\":1},\"content\":[]}]}]}",
		 "not allowed here: heading"},
		{"{\"version\":1,\"type\":\"doc\",\"content\":[{\"type\":\"blockquote\","
		 "\"content\":[{\"type\":\"rule\"}]}]}",
		 "not allowed here: rule"},
		{"{\"version\":1,\"type\":\"doc\",\"content\":[{\"type\":\"blockquote\","
		 "\"content\":[]}]}",
		 "empty content"},
		{"{\"version\":1,\"type\":\"doc\",\"content\":[{\"type\":\"bulletList\","
		 "\"content\":[]}]}",
		 "empty content"},
		{"{\"version\":1,\"type\":\"doc\",\"content\":[{\"type\":\"bulletList\","
		 "\"content\":[{\"type\":\"listItem\",\"content\":[{\"type\":\"codeBlock\"}]}]}]}",
		 "start with a paragraph"},
		{"{\"version\":1,\"type\":\"doc\",\"content\":[{\"type\":\"bulletList\","
		 "\"content\":[{\"type\":\"listItem\",\"content\":[{\"type\":\"paragraph\"},{"
		 "\"type\":\"rule\"}]}]}]}",
		 "not allowed here: rule"},
		{"{\"version\":1,\"type\":\"doc\",\"content\":[{\"type\":\"orderedList\",\"attrs\":"
		 "{\"order\":-1},\"content\":[{\"type\":\"listItem\",\"content\":[{\"type\":"
		 "\"paragraph\"}]}]}]}",
		 "order"},
		{"{\"version\":1,\"type\":\"doc\",\"content\":[{\"type\":\"heading\",\"attrs\":{"
		 "\"level\":7}}]}",
		 "level"},
		{"{\"version\":1,\"type\":\"doc\",\"content\":[{\"type\":\"taskList\",\"content\":["
		 "{\"type\":\"taskItem\",\"attrs\":{\"localId\":\"a\",\"state\":\"TODO\"}}]}]}",
		 "missing attrs"},
		{"{\"version\":1,\"type\":\"doc\",\"content\":[{\"type\":\"taskList\",\"attrs\":{"
		 "\"localId\":\"l\"},\"content\":[{\"type\":\"taskItem\",\"attrs\":{\"localId\":"
		 "\"a\",\"state\":\"OPEN\"}}]}]}",
		 "state"},
		{"{\"version\":1,\"type\":\"doc\",\"content\":[{\"type\":\"codeBlock\",\"content\":"
		 "[{\"type\":\"text\",\"text\":\"x\",\"marks\":[{\"type\":\"strong\"}]}]}]}",
		 "marks on code block text"},
		{"{\"version\":1,\"type\":\"doc\",\"content\":[{\"type\":\"table\",\"content\":[{"
		 "\"type\":\"tableRow\",\"content\":[{\"type\":\"tableCell\",\"content\":[]}]}]}]}",
		 "empty content"},
		{"{\"version\":1,\"type\":\"doc\",\"content\":[{\"type\":\"table\",\"content\":[{"
		 "\"type\":\"tableRow\",\"content\":[{\"type\":\"tableCell\",\"content\":[{"
		 "\"type\":\"table\",\"content\":[]}]}]}]}]}",
		 "not allowed here: table"},
		{"{\"version\":1,\"type\":\"doc\",\"content\":[{\"type\":\"paragraph\",\"marks\":[{"
		 "\"type\":\"alignment\",\"attrs\":{\"align\":\"left\"}}]}]}",
		 "center or end"},
		{"{\"version\":1,\"type\":\"doc\",\"content\":[{\"type\":\"mediaSingle\"}]}",
		 "not allowed here"},
		{"{\"version\":1,\"type\":\"doc\",\"content\":[{\"type\":\"paragraph\",\"content\":"
		 "[{\"type\":\"emoji\"}]}]}",
		 "not an inline node"},
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		json_error_t je;
		json_t *v = json_loads(bad[i].json, 0, &je);
		if (!v)
			fail_msg("case %zu does not parse: %s", i, je.text);
		struct err e;
		err_clear(&e);
		int rc = adf_check(v, &e);
		if (rc != ERR_INVALID || !strstr(e.msg, bad[i].why))
			fail_msg("case %zu: expected ERR_INVALID mentioning \"%s\", got %d \"%s\"",
				 i, bad[i].why, rc, e.msg);
		json_decref(v);
	}
	struct err e;
	assert_int_equal(adf_check(NULL, &e), ERR_INVALID);
	assert_int_equal(adf_check(NULL, NULL), ERR_INVALID);

	/* a path names the offender */
	json_t *v = json_loads(
		"{\"version\":1,\"type\":\"doc\",\"content\":[{\"type\":\"rule\"},"
		"{\"type\":\"bulletList\",\"content\":[{\"type\":\"listItem\",\"content\":"
		"[{\"type\":\"paragraph\",\"content\":[{\"type\":\"text\",\"text\":\"\"}]}]}]}]}",
		0, NULL);
	assert_int_equal(adf_check(v, &e), ERR_INVALID);
	assert_non_null(strstr(e.msg, "/content/1/content/0/content/0/content/0"));
	json_decref(v);

	/* deep nesting is refused, not a stack overflow */
	json_t *deep =
		json_pack("{s:s, s:[{s:s}]}", "type", "listItem", "content", "type", "paragraph");
	for (int i = 0; i < 5000; i++) {
		json_t *list = json_pack("{s:s, s:[o]}", "type", "bulletList", "content", deep);
		deep = json_pack("{s:s, s:[{s:s}, o]}", "type", "listItem", "content", "type",
				 "paragraph", list);
	}
	json_t *doc = json_pack("{s:i, s:s, s:[{s:s, s:[o]}]}", "version", 1, "type", "doc",
				"content", "type", "bulletList", "content", deep);
	assert_int_equal(adf_check(doc, &e), ERR_INVALID);
	assert_non_null(strstr(e.msg, "nested too deeply"));
	json_decref(doc);
}

static void test_check_accepts_handwritten(void **state)
{
	(void)state;
	static const char *const good[] = {
		"{\"version\":1,\"type\":\"doc\",\"content\":[]}",
		"{\"version\":1,\"type\":\"doc\",\"content\":[{\"type\":\"paragraph\"}]}",
		"{\"version\":1,\"type\":\"doc\",\"content\":[{\"type\":\"taskList\",\"attrs\":{"
		"\"localId\":\"l\"},\"content\":["
		"{\"type\":\"taskItem\",\"attrs\":{\"localId\":\"a\",\"state\":\"DONE\"}},"
		"{\"type\":\"taskList\",\"attrs\":{\"localId\":\"m\"},\"content\":[{\"type\":"
		"\"taskItem\",\"attrs\":{\"localId\":\"b\",\"state\":\"TODO\"},\"content\":[{"
		"\"type\":\"hardBreak\"}]}]}]}]}",
	};
	for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
		json_t *v = json_loads(good[i], 0, NULL);
		assert_non_null(v);
		struct err e;
		err_clear(&e);
		if (adf_check(v, &e))
			fail_msg("case %zu rejected: %s", i, e.msg);
		json_decref(v);
	}
}

/* Conversions on several threads at once give identical results. */
struct thread_arg {
	const char *md;
	char *out;
};

static void *convert_thread(void *p)
{
	struct thread_arg *a = p;
	for (int i = 0; i < 20; i++) {
		json_t *doc = NULL;
		if (adf_from_markdown(a->md, strlen(a->md), &doc, NULL))
			return NULL;
		free(a->out);
		a->out = json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS);
		json_decref(doc);
	}
	return NULL;
}

static void test_threads(void **state)
{
	(void)state;
	const char *md =
		"# T\n\n- [ ] a\n- [x] b\n\n| a | b |\n|---|:-:|\n| **1** | `2` |\n\n> q\n";
	struct thread_arg args[4] = {{md, NULL}, {md, NULL}, {md, NULL}, {md, NULL}};
	pthread_t th[4];
	for (int i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&th[i], NULL, convert_thread, &args[i]), 0);
	for (int i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	for (int i = 0; i < 4; i++) {
		assert_non_null(args[i].out);
		assert_string_equal(args[i].out, args[0].out);
	}
	for (int i = 0; i < 4; i++)
		free(args[i].out);
}

/* ---- converter mode ---- */

static int convert_one(const char *path, bool jsonl)
{
	struct buf md = BUF_INIT;
	int status = 0;
	if (!read_file(path, &md)) {
		fprintf(stderr, "test_adf: cannot read %s\n", path);
		buf_free(&md);
		return 1;
	}
	json_t *doc = NULL;
	struct err e;
	err_clear(&e);
	int rc = adf_from_markdown(md.data, md.len, &doc, &e);
	if (!rc && adf_check(doc, &e)) {
		rc = ERR_INTERNAL;
		json_decref(doc);
		doc = NULL;
	}
	bool refused = rc == ERR_TOOLARGE;
	if (rc && !refused)
		status = 1;
	if (jsonl) {
		json_t *line = rc ? json_pack("{s:s, s:s, s:s}", "file", path, "error",
					      err_code_name(rc), "message", e.msg)
				  : json_pack("{s:s, s:O}", "file", path, "adf", doc);
		char *text = line ? json_dumps(line, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
		if (!text) {
			fprintf(stderr, "test_adf: cannot encode the result for %s\n", path);
			status = 1;
		} else {
			puts(text);
		}
		free(text);
		json_decref(line);
	} else if (rc) {
		fprintf(stderr, "test_adf: %s: %s\n", path, e.msg);
		status = refused ? 3 : 1;
	} else {
		char *text = json_dumps(doc, DUMP_FLAGS);
		printf("%s\n", text);
		free(text);
	}
	json_decref(doc);
	buf_free(&md);
	return status;
}

int main(int argc, char **argv)
{
	cmark_gfm_core_extensions_ensure_registered();
	json_object_seed(1);

	if (argc == 3 && !strcmp(argv[1], "--convert"))
		return convert_one(argv[2], false);
	if (argc >= 2 && !strcmp(argv[1], "--convert-jsonl")) {
		int status = 0;
		for (int i = 2; i < argc; i++)
			if (convert_one(argv[i], true))
				status = 1;
		fflush(stdout);
		return status;
	}
	if (argc > 1) {
		fprintf(stderr, "usage: test_adf [--convert FILE | --convert-jsonl FILE...]\n");
		return 2;
	}

	const struct CMUnitTest fixed[] = {
		cmocka_unit_test(test_code_mark_only_with_link),
		cmocka_unit_test(test_text_merged_and_never_empty),
		cmocka_unit_test(test_unsafe_links_lose_the_mark),
		cmocka_unit_test(test_list_item_starts_with_paragraph),
		cmocka_unit_test(test_ordered_start),
		cmocka_unit_test(test_task_localids_unique),
		cmocka_unit_test(test_empty_and_blank),
		cmocka_unit_test(test_bytes_not_text),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_check_rejects),
		cmocka_unit_test(test_check_accepts_handwritten),
		cmocka_unit_test(test_threads),
	};
	size_t nfixed = sizeof fixed / sizeof fixed[0];
	size_t ngolden = 0;
	char **names = golden_names(&ngolden);
	if (!ngolden) {
		char dir[4096];
		fprintf(stderr, "test_adf: no golden files in %s\n", golden_dir(dir, sizeof dir));
		return 1;
	}
	struct CMUnitTest *tests = xcalloc(nfixed + ngolden, sizeof *tests);
	char **labels = xcalloc(ngolden, sizeof *labels);
	memcpy(tests, fixed, sizeof fixed);
	for (size_t i = 0; i < ngolden; i++) {
		struct buf l = BUF_INIT;
		buf_printf(&l, "golden_%s", names[i]);
		labels[i] = buf_steal(&l);
		tests[nfixed + i] = (struct CMUnitTest){
			.name = labels[i],
			.test_func = test_golden_file,
			.initial_state = names[i],
		};
	}
	int failed = _cmocka_run_group_tests("adf", tests, nfixed + ngolden, NULL, NULL);
	for (size_t i = 0; i < ngolden; i++) {
		free(labels[i]);
		free(names[i]);
	}
	free(labels);
	free(names);
	free(tests);
	return failed;
}
