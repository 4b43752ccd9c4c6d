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
#include <cmark-gfm-extension_api.h>
#include <cmark-gfm.h>
#include <cmocka.h>
#include <time.h>

#include "template/issue.h"
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

/* ---- the table-cell bound ---- */

/* Documents of tables that are cheap to build and, by design, each just past the bound or
 * just inside it (so that a converter that misses one builds some 70,000 cells and
 * fails the test, rather than millions). Each table: a header line of `cols` cells
 * `head` and a delimiter row of `cols` cells `delim`, both between `edge` pipes, then
 * `rows` body lines of `row_cells` cells `row`; the table's first line starts with
 * `first`, its others with `indent`; `tables` of them, `sep` between. A field left NULL
 * or 0 takes its value from table_defaults. */
struct table_case {
	const char *name;
	const char *head, *delim, *row, *edge;
	const char *eol_head, *eol_delim, *eol_row;
	const char *first, *indent, *sep;
	unsigned cols, row_cells, rows, tables;
};

static const struct table_case table_defaults = {
	.head = "a",
	.delim = "-",
	.row = "x",
	.edge = "|",
	.eol_head = "\n",
	.eol_delim = "\n",
	.eol_row = "\n",
	.first = "",
	.indent = "",
	.sep = "",
	.cols = 1000,
	.row_cells = 1,
	.rows = 66,
	.tables = 1,
};

static const struct table_case table_cases[] = {
	/* past the count before it followed cmark-gfm: line ends other than "\n", blanks
	 * the delimiter row scanner takes, delimiter rows without a pipe */
	{"table_bound_cr", .eol_head = "\r", .eol_delim = "\r", .eol_row = "\r"},
	{"table_bound_cr_after_delimiter", .eol_delim = "\r"},
	{"table_bound_vt", .delim = "-\v"},
	{"table_bound_ff", .delim = "\f:-"},
	{"table_bound_vt_in_quote", .delim = ":-\v", .first = "> ", .indent = "> "},
	{"table_bound_no_pipe", .head = "h", .delim = ":-", .edge = "", .cols = 1, .rows = 65536},
	{"table_bound_no_pipe_vt", .head = "h", .delim = "-\v", .edge = "", .cols = 1,
	 .rows = 65536},
	/* other shapes of the same growth */
	{"table_bound_lf", .cols = 1000},
	{"table_bound_crlf", .eol_head = "\r\n", .eol_delim = "\r\n", .eol_row = "\r\n"},
	{"table_bound_tabs_spaces", .delim = " \t:-- \t"},
	{"table_bound_no_edge_pipes", .edge = ""},
	{"table_bound_escaped_pipes", .head = "a\\|b", .row = "\\|x\\|"},
	{"table_bound_long_rows", .cols = 256, .row_cells = 257, .rows = 256},
	{"table_bound_in_list_item", .first = "- ", .indent = "  "},
	{"table_bound_restarted", .rows = 33, .tables = 2, .sep = "***\n"},
	{"table_bound_many_small", .cols = 64, .rows = 4, .tables = 205, .sep = "\n"},
	/* a table of exactly the bound converts; one row more does not */
	{"table_bound_exact", .cols = 256, .rows = 255},
	{"table_bound_one_row_over", .cols = 256, .rows = 256},
};

static struct table_case with_defaults(const struct table_case *tc)
{
	const struct table_case *d = &table_defaults;
	return (struct table_case){
		.name = tc->name,
		.head = tc->head ? tc->head : d->head,
		.delim = tc->delim ? tc->delim : d->delim,
		.row = tc->row ? tc->row : d->row,
		.edge = tc->edge ? tc->edge : d->edge,
		.eol_head = tc->eol_head ? tc->eol_head : d->eol_head,
		.eol_delim = tc->eol_delim ? tc->eol_delim : d->eol_delim,
		.eol_row = tc->eol_row ? tc->eol_row : d->eol_row,
		.first = tc->first ? tc->first : d->first,
		.indent = tc->indent ? tc->indent : d->indent,
		.sep = tc->sep ? tc->sep : d->sep,
		.cols = tc->cols ? tc->cols : d->cols,
		.row_cells = tc->row_cells ? tc->row_cells : d->row_cells,
		.rows = tc->rows ? tc->rows : d->rows,
		.tables = tc->tables ? tc->tables : d->tables,
	};
}

static void put_cells(struct buf *b, const char *edge, const char *cell, unsigned n)
{
	buf_puts(b, edge);
	for (unsigned i = 0; i < n; i++) {
		if (i)
			buf_putc(b, '|');
		buf_puts(b, cell);
	}
	buf_puts(b, edge);
}

static void build_tables(const struct table_case *tc, struct buf *b)
{
	for (unsigned t = 0; t < tc->tables; t++) {
		if (t)
			buf_puts(b, tc->sep);
		buf_puts(b, tc->first);
		put_cells(b, tc->edge, tc->head, tc->cols);
		buf_puts(b, tc->eol_head);
		buf_puts(b, tc->indent);
		put_cells(b, tc->edge, tc->delim, tc->cols);
		buf_puts(b, tc->eol_delim);
		for (unsigned r = 0; r < tc->rows; r++) {
			buf_puts(b, tc->indent);
			put_cells(b, tc->edge, tc->row, tc->row_cells);
			buf_puts(b, tc->eol_row);
		}
	}
}

/* What cmark-gfm itself builds, parsing as the converter does: table cells, and the URL
 * and title bytes held by links and images. */
struct cmark_counts {
	size_t cells;
	uint64_t link_bytes;
};

static struct cmark_counts cmark_count(const char *md, size_t len)
{
	static const char *const extensions[] = {"table", "strikethrough", "autolink", "tasklist"};
	cmark_parser *parser = cmark_parser_new(CMARK_OPT_VALIDATE_UTF8);
	for (size_t i = 0; i < sizeof extensions / sizeof extensions[0]; i++)
		assert_true(cmark_parser_attach_syntax_extension(
			parser, cmark_find_syntax_extension(extensions[i])));
	cmark_parser_feed(parser, md, len);
	cmark_node *root = cmark_parser_finish(parser);
	cmark_iter *it = cmark_iter_new(root);
	struct cmark_counts n = {0, 0};
	cmark_event_type ev;
	while ((ev = cmark_iter_next(it)) != CMARK_EVENT_DONE) {
		cmark_node *node = cmark_iter_get_node(it);
		if (ev != CMARK_EVENT_ENTER)
			continue;
		if (!strcmp(cmark_node_get_type_string(node), "table_cell"))
			n.cells++;
		if (cmark_node_get_type(node) == CMARK_NODE_LINK ||
		    cmark_node_get_type(node) == CMARK_NODE_IMAGE)
			n.link_bytes += strlen(cmark_node_get_url(node)) +
					strlen(cmark_node_get_title(node));
	}
	cmark_iter_free(it);
	cmark_node_free(root);
	cmark_parser_free(parser);
	return n;
}

static size_t cmark_table_cells(const char *md, size_t len)
{
	return cmark_count(md, len).cells;
}

/* Table cells in an ADF tree. */
static size_t adf_table_cells(const json_t *node)
{
	const char *t = json_string_value(json_object_get(node, "type"));
	size_t n = t && (!strcmp(t, "tableCell") || !strcmp(t, "tableHeader"));
	const json_t *content = json_object_get(node, "content");
	for (size_t i = 0; i < json_array_size(content); i++)
		n += adf_table_cells(json_array_get(content, i));
	return n;
}

/* The case really makes the cells it was designed to (counted by cmark-gfm, so the test
 * cannot pass on an input that is no table); past the bound, the converter refuses it
 * with the documented error, before parsing (well under the time a parse of that many
 * cells takes); within it, every cell comes out. */
static void test_table_bound(void **state)
{
	const struct table_case full = with_defaults(*state), *tc = &full;
	struct buf md = BUF_INIT;
	build_tables(tc, &md);
	assert_true(md.len <= ADF_MAX_INPUT);
	size_t cells = cmark_table_cells(md.data, md.len);
	size_t designed = (size_t)tc->tables * tc->cols * (tc->rows + 1);
	if (cells != designed)
		fail_msg("%s: cmark-gfm makes %zu cells, not the %zu designed", tc->name, cells,
			 designed);

	json_t *doc = NULL;
	struct err e;
	err_clear(&e);
	clock_t t0 = clock();
	int rc = adf_from_markdown(md.data, md.len, &doc, &e);
	double cpu = (double)(clock() - t0) / CLOCKS_PER_SEC;
	buf_free(&md);
	if (cells > ADF_MAX_TABLE_CELLS) {
		size_t got = doc ? adf_table_cells(doc) : 0;
		json_decref(doc);
		if (rc != ERR_TOOLARGE)
			fail_msg(
				"%s: %zu cells converted (rc %d, %zu ADF cells), expected a refusal",
				tc->name, cells, rc, got);
		assert_null(doc);
		assert_non_null(strstr(e.msg, "more than 65536 table cells"));
		if (cpu > 0.1)
			fail_msg("%s: refusing took %.3f s of CPU", tc->name, cpu);
	} else {
		if (rc)
			fail_msg("%s: %zu cells refused: %s", tc->name, cells, e.msg);
		/* only the document's own tables become ADF tables */
		if (!*tc->first)
			assert_int_equal(adf_table_cells(doc), cells);
		json_decref(doc);
	}
}

/* Lines that look like delimiter rows but that cmark-gfm never takes as one cost
 * nothing, however many lines follow: a setext underline, a rule, empty list items. */
static void test_table_lookalikes(void **state)
{
	(void)state;
	static const char *const heads[] = {"a\n-\n", "a\n  ---\t\n", "> a\n> --\n", "---\n",
					    "-\n"};
	for (size_t i = 0; i < sizeof heads / sizeof heads[0]; i++) {
		struct buf md = BUF_INIT;
		buf_puts(&md, heads[i]);
		for (unsigned r = 0; r < ADF_MAX_TABLE_CELLS + 100; r++)
			buf_puts(&md, i == 4 ? "-\n" : "b\n");
		assert_int_equal(cmark_table_cells(md.data, md.len), 0);
		json_t *doc = NULL;
		struct err e;
		err_clear(&e);
		int rc = adf_from_markdown(md.data, md.len, &doc, &e);
		buf_free(&md);
		json_decref(doc);
		if (rc)
			fail_msg("case %zu refused: %s", i, e.msg);
	}
}

/* ---- nesting ---- */

enum nest_kind { NEST_LIST, NEST_QUOTE, NEST_TASKS, NEST_EMPHASIS, NEST_MIXED };

/* Markdown nested `levels` deep, as ADF_MAX_DEPTH counts levels. */
static void build_nested(enum nest_kind kind, unsigned levels, struct buf *b)
{
	unsigned blocks = kind == NEST_MIXED ? levels / 2 : 0, spans = levels - blocks;
	switch (kind) {
	case NEST_LIST:
		for (unsigned i = 0; i < levels; i++)
			buf_puts(b, "- ");
		buf_puts(b, "x\n");
		return;
	case NEST_QUOTE:
		for (unsigned i = 0; i < levels; i++)
			buf_puts(b, "> ");
		buf_puts(b, "x\n");
		return;
	case NEST_TASKS: /* one item per line, each indented under the one before */
		for (unsigned i = 0; i < levels; i++) {
			for (unsigned j = 0; j < i; j++)
				buf_puts(b, "  ");
			buf_printf(b, "- [ ] t%u\n", i);
		}
		return;
	case NEST_EMPHASIS:
	case NEST_MIXED: /* quotes and list items alternating, then emphasis inside */
		for (unsigned i = 0; i < blocks; i++)
			buf_puts(b, i % 2 ? "- " : "> ");
		for (unsigned i = 0; i < spans; i++)
			buf_puts(b, i % 2 ? "_a " : "*a ");
		buf_putc(b, 'x');
		for (unsigned i = spans; i-- > 0;)
			buf_puts(b, i % 2 ? " a_" : " a*");
		buf_putc(b, '\n');
		return;
	}
}

static void test_nesting_limit(void **state)
{
	(void)state;
	static const char *const names[] = {"list", "quote", "task list", "emphasis", "mixed"};
	for (int kind = NEST_LIST; kind <= NEST_MIXED; kind++) {
		for (unsigned levels = ADF_MAX_DEPTH - 1; levels <= ADF_MAX_DEPTH + 1; levels++) {
			struct buf md = BUF_INIT;
			build_nested((enum nest_kind)kind, levels, &md);
			json_t *doc = NULL;
			struct err e;
			err_clear(&e);
			int rc = adf_from_markdown(md.data, md.len, &doc, &e);
			buf_free(&md);
			json_decref(doc);
			if (levels <= ADF_MAX_DEPTH && rc)
				fail_msg("%s nested %u deep refused: %s", names[kind], levels,
					 e.msg);
			if (levels > ADF_MAX_DEPTH &&
			    (rc != ERR_TOOLARGE || !strstr(e.msg, "nested deeper than 64 levels")))
				fail_msg("%s nested %u deep: expected a refusal, got %d \"%s\"",
					 names[kind], levels, rc, e.msg);
		}
	}
}

/* ---- link targets and the output bound ---- */

static size_t compact_len(const json_t *doc)
{
	char *text = json_dumps(doc, JSON_COMPACT);
	assert_non_null(text);
	size_t n = strlen(text);
	free(text);
	return n;
}

static double cpu_since(clock_t t0)
{
	return (double)(clock() - t0) / CLOCKS_PER_SEC;
}

/* The text runs of one link share its href string (the output is what it always was). */
static void test_link_runs_share_href(void **state)
{
	(void)state;
	json_t *doc = convert_doc("[a *b* ~~c~~ `d`](http://x/long) [e](http://x/long)");
	json_t *runs = at(doc, "content.0.content");
	expect_compact(
		runs,
		"[{\"marks\":[{\"attrs\":{\"href\":\"http://x/long\"},\"type\":\"link\"}],\"text\":\"a "
		"\",\"type\":\"text\"},{\"marks\":[{\"attrs\":{\"href\":\"http://x/"
		"long\"},\"type\":\"link\"},{\"type\":\"em\"}],\"text\":\"b\",\"type\":\"text\"},{"
		"\"marks\":[{\"attrs\":{\"href\":\"http://x/long\"},\"type\":\"link\"}],\"text\":\" "
		"\",\"type\":\"text\"},{\"marks\":[{\"attrs\":{\"href\":\"http://x/"
		"long\"},\"type\":\"link\"},{\"type\":\"strike\"}],\"text\":\"c\",\"type\":\"text\"},{"
		"\"marks\":[{\"attrs\":{\"href\":\"http://x/long\"},\"type\":\"link\"}],\"text\":\" "
		"\",\"type\":\"text\"},{\"marks\":[{\"attrs\":{\"href\":\"http://x/"
		"long\"},\"type\":\"link\"},{\"type\":\"code\"}],\"text\":\"d\",\"type\":\"text\"},{"
		"\"text\":\" \",\"type\":\"text\"},{\"marks\":[{\"attrs\":{\"href\":\"http://x/"
		"long\"},\"type\":\"link\"}],\"text\":\"e\",\"type\":\"text\"}]");
	json_t *first = at(runs, "0.marks.0.attrs.href");
	for (size_t i = 1; i < 6; i++)
		if (at(json_array_get(runs, i), "marks.0.attrs.href") != first)
			fail_msg("run %zu of the link has an href string of its own", i);
	json_decref(doc);
}

/* "[" + "x*y*" × units + "](" + a URL of url_len bytes + ")": two text runs per unit
 * ("x", and "y" emphasised), each carrying the URL. */
static void build_link_runs(struct buf *b, unsigned units, size_t url_len)
{
	buf_putc(b, '[');
	for (unsigned i = 0; i < units; i++)
		buf_puts(b, "x*y*");
	buf_puts(b, "](http://x/");
	for (size_t i = 10; i < url_len; i++)
		buf_putc(b, 'u');
	buf_puts(b, ")\n");
}

static int convert_link_runs(unsigned units, size_t url_len, json_t **doc, struct err *e)
{
	struct buf md = BUF_INIT;
	build_link_runs(&md, units, url_len);
	assert_true(md.len <= ADF_MAX_INPUT);
	err_clear(e);
	int rc = adf_from_markdown(md.data, md.len, doc, e);
	buf_free(&md);
	return rc;
}

/* ADF_MAX_OUTPUT: the largest number of runs whose compact JSON fits converts, with
 * exactly the size the runs predict; one unit more is refused, and quickly. */
static void test_output_bound(void **state)
{
	(void)state;
	const size_t url_len = 100000;
	json_t *doc = NULL;
	struct err e;
	size_t size[3];
	for (unsigned units = 1; units <= 2; units++) {
		assert_int_equal(convert_link_runs(units, url_len, &doc, &e), 0);
		size[units] = compact_len(doc);
		json_decref(doc);
	}
	size_t unit = size[2] - size[1], fixed = size[1] - unit;
	assert_true(unit > 2 * url_len);
	unsigned most = (unsigned)((ADF_MAX_OUTPUT - fixed) / unit);

	if (convert_link_runs(most, url_len, &doc, &e))
		fail_msg("%u units (%zu bytes of ADF) refused: %s", most, fixed + most * unit,
			 e.msg);
	assert_int_equal(compact_len(doc), fixed + most * unit);
	json_decref(doc);

	clock_t t0 = clock();
	int rc = convert_link_runs(most + 1, url_len, &doc, &e);
	double cpu = cpu_since(t0);
	if (rc != ERR_TOOLARGE)
		fail_msg("%u units (%zu bytes of ADF): expected a refusal, got %d", most + 1,
			 fixed + (most + 1) * unit, rc);
	assert_null(doc);
	assert_non_null(strstr(e.msg, "would be more than 33554432 bytes"));
	if (cpu > 1.0)
		fail_msg("refusing took %.3f s of CPU", cpu);

	/* many runs under a long URL: 512 MB of copies before, refused now */
	t0 = clock();
	rc = convert_link_runs(4096, 65536, &doc, &e);
	cpu = cpu_since(t0);
	assert_int_equal(rc, ERR_TOOLARGE);
	assert_null(doc);
	if (cpu > 1.0)
		fail_msg("refusing 8192 runs of a 64 KB URL took %.3f s of CPU", cpu);
}

/* ---- the reference bound ---- */

/* A reference definition and its uses, each case designed either just inside the bound
 * or with cmark-gfm copying more than ADF_MAX_REF_BYTES into its links. The definition:
 * `first` "[" label "]:" colon, then url_open, url × url_n, url_close, then (title_n > 0)
 * title_sep, title_open, title × title_n, title_close; `indent` after every line end in
 * all that. Then a blank line and `use` × uses. A case that converts is tried again with
 * more_uses uses, which must be refused (more_expect). A field left NULL or 0 takes its
 * value from ref_defaults. */
enum ref_expect {
	REF_CONVERTS, /* cmark copies at most the bound; the count agrees */
	REF_OVER,     /* cmark would copy more than the bound: refused */
	REF_SLACK,    /* within the bound, but the count's documented slack refuses it */
};

struct ref_case {
	const char *name;
	const char *first, *indent, *label, *colon;
	const char *url_open, *url, *url_close;
	const char *title_sep, *title_open, *title, *title_close;
	const char *use;
	unsigned url_n, title_n, uses, more_uses;
	enum ref_expect expect, more_expect;
};

static const struct ref_case ref_defaults = {
	.first = "",
	.indent = "",
	.label = "r",
	.colon = " ",
	.url_open = "/",
	.url = "u",
	.url_close = "",
	.title_sep = " ",
	.title_open = "\"",
	.title = "t",
	.title_close = "\"",
	.use = "[r]\n",
	.url_n = 65533,
	.uses = 300,
};

static const struct ref_case ref_cases[] = {
	/* a definition line then a blank line is counted exactly: (uses + 1, the
	 * definition's own "]") × (URL + 2, the space before it and the line end). 255 uses
	 * of a 65534-byte URL are 256 × 65536, the bound: they convert; one use more does
	 * not, though cmark would copy 256 × 65534 bytes, within it */
	{"ref_bound_exact", .uses = 255, .expect = REF_CONVERTS, .more_uses = 256,
	 .more_expect = REF_SLACK},
	/* every kind of use */
	{"ref_bound_shortcut", .use = "[r] ", .expect = REF_OVER},
	{"ref_bound_collapsed", .use = "[r][] ", .expect = REF_OVER},
	{"ref_bound_full", .use = "[t][r] ", .expect = REF_OVER},
	{"ref_bound_images", .use = "![r] ", .expect = REF_OVER},
	{"ref_bound_empty_text", .use = "[][r]", .expect = REF_OVER},
	{"ref_bound_case_folded", .label = "\xe1\xba\x9e", .use = "[ss] ", .expect = REF_OVER},
	/* titles are copied too, and run over lines, up to a quote with a backslash before
	 * it or not */
	{"ref_bound_title", .url_n = 1, .title_n = 65530, .expect = REF_OVER},
	{"ref_bound_title_lines", .url_n = 1, .title = "ttttttttt\n", .title_n = 6600,
	 .expect = REF_OVER},
	{"ref_bound_title_parens", .url_n = 1, .title_open = "(", .title = "t\\)t\\(tt\n",
	 .title_close = ")", .title_n = 9000, .expect = REF_OVER},
	{"ref_bound_title_escapes", .url_n = 1, .title_open = "'", .title = "t\\'t\\\\'tt\n",
	 .title_close = "'", .title_n = 7500, .expect = REF_OVER},
	{"ref_bound_title_next_line", .url_n = 1, .title_sep = "\n", .title_n = 65530,
	 .expect = REF_OVER},
	{"ref_bound_title_crlf", .url_n = 1, .title = "tttttttt\r\n", .title_n = 6600,
	 .expect = REF_OVER},
	/* a code fence ends the paragraph and so the title, but these lines open none: one
	 * indented 4 spaces, one with a backtick after its backticks */
	{"ref_bound_title_fence_lookalikes", .url_n = 1, .title = "tttttt\n    ```\n``` `\n",
	 .title_n = 4000, .expect = REF_OVER},
	/* a URL in <> goes on over escaped line ends */
	{"ref_bound_angle_lines", .url_open = "</u", .url = "\\\nuuuuuuuuu", .url_n = 6000,
	 .url_close = ">", .expect = REF_OVER},
	{"ref_bound_url_next_line", .colon = "\n", .expect = REF_OVER},
	/* in containers, and a label over two lines */
	{"ref_bound_in_quote", .first = "> ", .indent = "> ", .url_n = 1, .title = "ttttttttt\n",
	 .title_n = 6600, .expect = REF_OVER},
	{"ref_bound_in_list_item", .first = "- ", .indent = "  ", .url_n = 1,
	 .title = "ttttttttt\n", .title_n = 6600, .expect = REF_OVER},
	{"ref_bound_in_task_item", .first = "- [ ] ", .indent = "  ", .expect = REF_OVER},
	{"ref_bound_tab_indent", .first = "- ", .indent = "\t", .url_n = 1, .title = "t\n",
	 .title_n = 33000, .expect = REF_OVER},
	{"ref_bound_label_lines", .label = "r\ns", .use = "[r s] ", .expect = REF_OVER},
	/* what the text holds grows in cmark: an entity by one byte, invalid UTF-8 threefold
	 * (these are within the bound counted in bytes of the text) */
	{"ref_bound_entities", .url = "&nGt;", .url_n = 13000, .uses = 230, .expect = REF_OVER},
	{"ref_bound_invalid_utf8", .url = "\xff", .url_n = 40000, .uses = 150, .expect = REF_OVER},
	/* long titles and URLs over lines convert while their uses stay within the bound */
	{"ref_bound_title_lines_under", .url_n = 1, .title = "ttttttttt\n", .title_n = 1500,
	 .expect = REF_CONVERTS, .more_uses = 1200, .more_expect = REF_OVER},
	{"ref_bound_angle_lines_under", .url_open = "</u", .url = "\\\nuuuuuuuuu", .url_n = 1000,
	 .url_close = ">", .expect = REF_CONVERTS, .more_uses = 1600, .more_expect = REF_OVER},
	{"ref_bound_in_quote_under", .first = "> ", .indent = "> ", .url_n = 1,
	 .title = "ttttttttt\n", .title_n = 1000, .expect = REF_CONVERTS, .more_uses = 1800,
	 .more_expect = REF_OVER},
};

static struct ref_case ref_with_defaults(const struct ref_case *tc)
{
	const struct ref_case *d = &ref_defaults;
	return (struct ref_case){
		.name = tc->name,
		.first = tc->first ? tc->first : d->first,
		.indent = tc->indent ? tc->indent : d->indent,
		.label = tc->label ? tc->label : d->label,
		.colon = tc->colon ? tc->colon : d->colon,
		.url_open = tc->url_open ? tc->url_open : d->url_open,
		.url = tc->url ? tc->url : d->url,
		.url_close = tc->url_close ? tc->url_close : d->url_close,
		.title_sep = tc->title_sep ? tc->title_sep : d->title_sep,
		.title_open = tc->title_open ? tc->title_open : d->title_open,
		.title = tc->title ? tc->title : d->title,
		.title_close = tc->title_close ? tc->title_close : d->title_close,
		.use = tc->use ? tc->use : d->use,
		.url_n = tc->url_n ? tc->url_n : d->url_n,
		.title_n = tc->title_n, /* none unless asked for */
		.uses = tc->uses ? tc->uses : d->uses,
		.expect = tc->expect,
		.more_uses = tc->more_uses,
		.more_expect = tc->more_expect,
	};
}

/* s, with indent after each line end. */
static void put_indented(struct buf *b, const char *s, const char *indent)
{
	for (; *s; s++) {
		buf_putc(b, *s);
		if (*s == '\n')
			buf_puts(b, indent);
	}
}

static void build_ref(const struct ref_case *tc, unsigned uses, struct buf *b)
{
	buf_puts(b, tc->first);
	buf_putc(b, '[');
	put_indented(b, tc->label, tc->indent);
	buf_puts(b, "]:");
	put_indented(b, tc->colon, tc->indent);
	buf_puts(b, tc->url_open);
	for (unsigned i = 0; i < tc->url_n; i++)
		put_indented(b, tc->url, tc->indent);
	buf_puts(b, tc->url_close);
	if (tc->title_n) {
		put_indented(b, tc->title_sep, tc->indent);
		buf_puts(b, tc->title_open);
		for (unsigned i = 0; i < tc->title_n; i++)
			put_indented(b, tc->title, tc->indent);
		buf_puts(b, tc->title_close);
	}
	buf_puts(b, "\n\n");
	for (unsigned i = 0; i < uses; i++)
		buf_puts(b, tc->use);
}

/* The case makes cmark-gfm copy what it was designed to (counted by cmark-gfm, so the
 * test cannot pass on a definition cmark does not take); past the bound the converter
 * refuses it with the documented error before parsing; within it, it converts. */
static void check_ref_case(const struct ref_case *tc, unsigned uses, enum ref_expect expect)
{
	struct buf md = BUF_INIT;
	build_ref(tc, uses, &md);
	assert_true(md.len <= ADF_MAX_INPUT);
	uint64_t copied = cmark_count(md.data, md.len).link_bytes;
	if ((copied > ADF_MAX_REF_BYTES) != (expect == REF_OVER) || !copied)
		fail_msg("%s, %u uses: cmark-gfm copies %llu bytes into links, not what the case "
			 "is designed for",
			 tc->name, uses, (unsigned long long)copied);

	json_t *doc = NULL;
	struct err e;
	err_clear(&e);
	clock_t t0 = clock();
	int rc = adf_from_markdown(md.data, md.len, &doc, &e);
	double cpu = cpu_since(t0);
	buf_free(&md);
	json_decref(doc);
	if (expect == REF_CONVERTS) {
		if (rc)
			fail_msg("%s, %u uses: %llu bytes copied, refused: %s", tc->name, uses,
				 (unsigned long long)copied, e.msg);
		return;
	}
	if (rc != ERR_TOOLARGE)
		fail_msg("%s, %u uses: %llu bytes copied, expected a refusal, got %d", tc->name,
			 uses, (unsigned long long)copied, rc);
	assert_null(doc);
	assert_non_null(strstr(
		e.msg, "reference links could copy more than 16777216 bytes of link targets"));
	if (cpu > 0.1)
		fail_msg("%s, %u uses: refusing took %.3f s of CPU", tc->name, uses, cpu);
}

static void test_ref_bound(void **state)
{
	const struct ref_case full = ref_with_defaults(*state), *tc = &full;
	check_ref_case(tc, tc->uses, tc->expect);
	if (tc->more_uses)
		check_ref_case(tc, tc->more_uses, tc->more_expect);
}

/* ---- documents the bounds must leave alone ---- */

/* Incident details of about `size` bytes when pretty-printed, shaped to tempt the counts:
 * nested arrays, and strings holding brackets, "]:", quotes, parentheses and "<". */
static json_t *large_details(size_t size)
{
	json_t *samples = json_array();
	for (size_t i = 0; i * 330 < size; i++)
		json_array_append_new(
			samples,
			json_pack("{s:I, s:[[I, I], [I, I]], s:[s, s, s], s:s}", "id",
				  (json_int_t)i, "matrix", (json_int_t)i, (json_int_t)i + 1,
				  (json_int_t)i + 2, (json_int_t)i + 3, "tags", "a[1]", "x]: y",
				  "[k]: <v> \"q\" (p) 'r'", "note",
				  "see [runbook] and [x][y], or [z]: http://example.com/"));
	return json_pack("{s:o}", "samples", samples);
}

static char *render_body(const char *tmpl, json_t *incident)
{
	struct issue_doc d = {0};
	struct err e;
	err_clear(&e);
	if (issue_render(tmpl, NULL, incident, "https://intervene.example.com", NULL, NULL, &d, &e))
		fail_msg("rendering %s: %s", tmpl, e.msg);
	char *body = d.body;
	d.body = NULL;
	issue_doc_clear(&d);
	return body;
}

static json_t *golden_incident(const char *name)
{
	char dir[4096], path[4352];
	const char *root = getenv("SOURCE_ROOT");
	snprintf(dir, sizeof dir, "%s/tests/golden/templates", root && *root ? root : "..");
	snprintf(path, sizeof path, "%s/%s.json", dir, name);
	json_t *v = json_load_file(path, 0, NULL);
	if (!v)
		fail_msg("cannot read %s", path);
	json_t *inc = json_object_get(v, "incident");
	inc = json_incref(inc ? inc : v);
	json_decref(v);
	return inc;
}

static void expect_converts(const char *what, const char *md, size_t len)
{
	json_t *doc = NULL;
	struct err e;
	err_clear(&e);
	if (adf_from_markdown(md, len, &doc, &e))
		fail_msg("%s (%zu bytes) refused: %s", what, len, e.msg);
	json_decref(doc);
}

/* An incident of the golden case with details that make its template's body large: the
 * evidence (shown by invariant_failure and, in all the details, generic_incident), a
 * long message (quoted by budget_exceeded) or many metrics (planner_regression). */
static json_t *large_incident(const char *name, const char *tmpl)
{
	json_t *inc = golden_incident(name);
	json_t *details = json_object_get(inc, "details");
	if (!strcmp(tmpl, "budget_exceeded")) {
		struct buf m = BUF_INIT;
		while (m.len < 150 * 1024)
			buf_puts(&m, "values [1, 2]: out of range, see [x]: (above) and \"[y]\" ");
		json_object_set_new(details, "message", json_string(buf_cstr(&m)));
		buf_free(&m);
	} else if (!strcmp(tmpl, "planner_regression")) {
		json_t *metrics = json_object_get(details, "metrics");
		json_t *first = json_deep_copy(json_array_get(metrics, 0));
		for (int i = 0; i < 2000; i++)
			json_array_append(metrics, first);
		json_decref(first);
	} else {
		json_object_set_new(details, "evidence", large_details(180 * 1024));
	}
	return inc;
}

/* The built-in templates rendered with details as large as the converter takes convert,
 * with a block of reference definitions (as a custom template might end with) too; the
 * same document with one long definition used a few thousand times is refused. */
static void test_bounds_leave_large_details(void **state)
{
	(void)state;
	static const struct {
		const char *incident, *template;
	} cases[] = {
		{"invariant_pii", "invariant_failure"},
		{"budget_latency_p95", "budget_exceeded"},
		{"canary_regression", "planner_regression"},
		{"unknown_kind", "generic_incident"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		json_t *inc = large_incident(cases[i].incident, cases[i].template);
		char *body = render_body(cases[i].template, inc);
		json_decref(inc);
		struct buf md = BUF_INIT;
		buf_puts(&md, body);
		free(body);
		if (md.len < 100 * 1024 || md.len > ADF_MAX_INPUT - 16 * 1024)
			fail_msg("%s: a body of %zu bytes, not the size designed",
				 cases[i].template, md.len);
		expect_converts(cases[i].template, md.data, md.len);

		buf_puts(&md, "\nSee the [runbook] and [the dashboard][dash].\n\n");
		for (int d = 0; d < 40; d++)
			buf_printf(&md, "[ref%d]: https://wiki.example.com/runbooks/checkout/%d\n",
				   d, d);
		buf_puts(&md, "[runbook]: https://wiki.example.com/runbooks/checkout \"Runbook\"\n"
			      "[dash]: <https://dash.example.com/d/checkout?from=now-6h>\n");
		expect_converts("with reference definitions", md.data, md.len);

		buf_puts(&md, "\n[bomb]: https://example.com/");
		for (int u = 0; u < 6000; u++)
			buf_putc(&md, 'u');
		buf_puts(&md, "\n\n");
		for (int u = 0; u < 3000; u++)
			buf_puts(&md, "[bomb]");
		assert_true(md.len <= ADF_MAX_INPUT);
		json_t *doc = NULL;
		struct err e;
		err_clear(&e);
		assert_int_equal(adf_from_markdown(md.data, md.len, &doc, &e), ERR_TOOLARGE);
		assert_non_null(strstr(e.msg, "reference links"));
		buf_free(&md);
	}
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
		cmocka_unit_test(test_table_lookalikes),
		cmocka_unit_test(test_nesting_limit),
		cmocka_unit_test(test_link_runs_share_href),
		cmocka_unit_test(test_output_bound),
		cmocka_unit_test(test_bounds_leave_large_details),
		cmocka_unit_test(test_check_rejects),
		cmocka_unit_test(test_check_accepts_handwritten),
		cmocka_unit_test(test_threads),
	};
	size_t nfixed = sizeof fixed / sizeof fixed[0];
	size_t ntables = sizeof table_cases / sizeof table_cases[0];
	size_t nrefs = sizeof ref_cases / sizeof ref_cases[0];
	size_t ngolden = 0;
	char **names = golden_names(&ngolden);
	if (!ngolden) {
		char dir[4096];
		fprintf(stderr, "test_adf: no golden files in %s\n", golden_dir(dir, sizeof dir));
		return 1;
	}
	struct CMUnitTest *tests = xcalloc(nfixed + ntables + nrefs + ngolden, sizeof *tests);
	char **labels = xcalloc(ngolden, sizeof *labels);
	memcpy(tests, fixed, sizeof fixed);
	for (size_t i = 0; i < ntables; i++)
		tests[nfixed + i] = (struct CMUnitTest){
			.name = table_cases[i].name,
			.test_func = test_table_bound,
			.initial_state = (void *)&table_cases[i],
		};
	nfixed += ntables;
	for (size_t i = 0; i < nrefs; i++)
		tests[nfixed + i] = (struct CMUnitTest){
			.name = ref_cases[i].name,
			.test_func = test_ref_bound,
			.initial_state = (void *)&ref_cases[i],
		};
	nfixed += nrefs;
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
