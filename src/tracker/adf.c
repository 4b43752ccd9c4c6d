/* adf.c — Markdown to ADF over the cmark-gfm tree, and the structural checker.
 *
 * The converter walks the cmark tree recursively, after depth_ok has bounded how deep
 * that tree is.
 * Blocks are emitted into a container whose kind (document, list item, quote, table
 * cell) decides which ADF nodes it may hold; what a container may not hold is
 * degraded as described in adf.h. Inline content goes through a small writer that
 * merges adjacent text with the same marks (cmark splits text at every bracket and
 * entity) and turns a pending "block ended" flag into a hardBreak when blocks are
 * folded into one paragraph or task item.
 *
 * Node types are compared by cmark_node_get_type_string(): the extension types
 * (table, strikethrough, tasklist) are data symbols, and one way for all is simpler. */
#include "tracker/adf.h"

#include "util/json.h"

#include <cmark-gfm-core-extensions.h>
#include <cmark-gfm-extension_api.h>
#include <cmark-gfm.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "util/buf.h"

/* ---------------------------------------------------------------- marks ---- */

enum {
	MARK_STRONG = 1u << 0,
	MARK_EM = 1u << 1,
	MARK_STRIKE = 1u << 2,
	MARK_CODE = 1u << 3,
};

struct marks {
	unsigned bits;
	const char *href; /* link target (points into the cmark tree) or NULL */
};

struct conv {
	struct err *e;
	unsigned long next_id; /* for taskList/taskItem localIds */
	/* The "href" string of the link mark last written, made from href_src (a URL in the
	 * cmark tree). ADF puts a link mark on every text run under a link, and a link can
	 * hold thousands of runs (emphasis switching on and off): copying its URL into each
	 * would make a long URL cost runs × its length. The runs of one link are written
	 * one after another, so keeping the last target is enough for each link's runs to
	 * share one string. */
	const char *href_src;
	json_t *href;
};

/* ADF allows `code` only next to `link`: a code span drops the emphasis around it. */
static unsigned effective_bits(unsigned bits)
{
	return (bits & MARK_CODE) ? MARK_CODE : bits;
}

static bool marks_equal(struct marks a, struct marks b)
{
	if (effective_bits(a.bits) != effective_bits(b.bits))
		return false;
	/* the runs of one link share its target: comparing a long URL with itself for each
	 * run would cost runs × URL length */
	if (a.href == b.href)
		return true;
	if (!a.href || !b.href)
		return false;
	return strcmp(a.href, b.href) == 0;
}

static json_t *mark_simple(const char *type)
{
	json_t *m = json_object();
	if (m && json_object_set_new(m, "type", json_string(type))) {
		json_decref(m);
		return NULL;
	}
	return m;
}

static int append_mark(json_t *arr, const char *type)
{
	return json_array_append_new(arr, mark_simple(type)) ? ERR_NOMEM : 0;
}

/* The marks array for a text node in ProseMirror rank order (link, em, strong,
 * strike, code), or NULL in *out when there are none. */
static int marks_json(struct conv *c, struct marks m, json_t **out)
{
	unsigned bits = effective_bits(m.bits);
	*out = NULL;
	if (!bits && !m.href)
		return 0;
	json_t *arr = json_array();
	if (!arr)
		return ERR_NOMEM;
	if (m.href) {
		if (m.href != c->href_src) {
			json_decref(c->href);
			c->href = jpack("s", m.href);
			c->href_src = m.href;
		}
		json_t *link = jpack("{s:s, s:{s:O}}", "type", "link", "attrs", "href", c->href);
		if (json_array_append_new(arr, link))
			goto nomem;
	}
	if ((bits & MARK_EM) && append_mark(arr, "em"))
		goto nomem;
	if ((bits & MARK_STRONG) && append_mark(arr, "strong"))
		goto nomem;
	if ((bits & MARK_STRIKE) && append_mark(arr, "strike"))
		goto nomem;
	if ((bits & MARK_CODE) && append_mark(arr, "code"))
		goto nomem;
	*out = arr;
	return 0;
nomem:
	json_decref(arr);
	return ERR_NOMEM;
}

/* Links that a browser would run or read locally lose their link mark. */
static bool href_ok(const char *url)
{
	static const char *const unsafe[] = {"javascript:", "vbscript:", "file:", "data:"};
	if (!url)
		return false;
	while (*url == ' ' || *url == '\t' || *url == '\n' || *url == '\r')
		url++;
	if (!*url)
		return false;
	for (size_t i = 0; i < sizeof unsafe / sizeof unsafe[0]; i++)
		if (strncasecmp(url, unsafe[i], strlen(unsafe[i])) == 0)
			return false;
	return true;
}

/* --------------------------------------------------------- conversion ---- */

enum ctx {
	CTX_DOC,   /* the document: every block */
	CTX_ITEM,  /* listItem: paragraph, lists, codeBlock */
	CTX_QUOTE, /* blockquote: paragraph, bullet/ordered lists, codeBlock */
	CTX_CELL,  /* tableCell: everything but tables */
};

/* An inline content array being written. */
struct inl {
	json_t *content; /* borrowed: the array the nodes go to */
	struct buf text; /* pending text with marks pm */
	struct marks pm;
	size_t count;	 /* inline nodes and text runs written so far */
	bool want_break; /* a folded block ended: the next inline starts on a new line */
};

static const char *type_of(cmark_node *n)
{
	const char *t = cmark_node_get_type_string(n);
	return t ? t : "";
}

static bool is(cmark_node *n, const char *type)
{
	return strcmp(type_of(n), type) == 0;
}

static int nomem(struct conv *c)
{
	return err_set(c->e, ERR_NOMEM, "out of memory building ADF");
}

/* A new node {"type": type} with an empty "content" array when with_content. */
static json_t *node_new(const char *type, bool with_content)
{
	json_t *n = json_object();
	if (!n)
		return NULL;
	if (json_object_set_new(n, "type", json_string(type)) ||
	    (with_content && json_object_set_new(n, "content", json_array()))) {
		json_decref(n);
		return NULL;
	}
	return n;
}

static json_t *content_of(json_t *node)
{
	return json_object_get(node, "content");
}

static void inl_init(struct inl *in, json_t *content)
{
	*in = (struct inl){.content = content, .text = BUF_INIT};
}

static int inl_flush(struct conv *c, struct inl *in)
{
	if (!in->text.len)
		return 0;
	json_t *t = node_new("text", false);
	json_t *marks = NULL;
	if (!t || marks_json(c, in->pm, &marks) ||
	    json_object_set_new(t, "text", json_stringn(in->text.data, in->text.len))) {
		json_decref(marks);
		json_decref(t);
		return nomem(c);
	}
	if (marks && json_object_set_new(t, "marks", marks)) {
		json_decref(t);
		return nomem(c);
	}
	buf_reset(&in->text);
	return json_array_append_new(in->content, t) ? nomem(c) : 0;
}

static int inl_hardbreak_raw(struct conv *c, struct inl *in)
{
	int rc = inl_flush(c, in);
	if (rc)
		return rc;
	if (json_array_append_new(in->content, node_new("hardBreak", false)))
		return nomem(c);
	in->count++;
	return 0;
}

/* Before any inline output: the line break a folded block owes its successor. */
static int inl_pending_break(struct conv *c, struct inl *in)
{
	if (!in->want_break)
		return 0;
	in->want_break = false;
	return in->count ? inl_hardbreak_raw(c, in) : 0;
}

static int inl_text(struct conv *c, struct inl *in, const char *s, size_t len, struct marks m)
{
	if (!len)
		return 0; /* ADF text nodes are never empty */
	int rc = inl_pending_break(c, in);
	if (rc)
		return rc;
	if (in->text.len && !marks_equal(in->pm, m) && (rc = inl_flush(c, in)))
		return rc;
	in->pm = m;
	buf_append(&in->text, s, len);
	in->count++;
	return 0;
}

static int inl_cstr(struct conv *c, struct inl *in, const char *s, struct marks m)
{
	return inl_text(c, in, s ? s : "", s ? strlen(s) : 0, m);
}

static int inl_hardbreak(struct conv *c, struct inl *in)
{
	int rc = inl_pending_break(c, in);
	return rc ? rc : inl_hardbreak_raw(c, in);
}

static int inl_finish(struct conv *c, struct inl *in)
{
	int rc = inl_flush(c, in);
	buf_free(&in->text);
	return rc;
}

/* Literal text line by line, hard breaks between lines, trailing newlines dropped. */
static int inl_lines(struct conv *c, struct inl *in, const char *s, struct marks m)
{
	if (!s)
		return 0;
	size_t len = strlen(s);
	while (len && (s[len - 1] == '\n' || s[len - 1] == '\r'))
		len--;
	size_t i = 0;
	while (i < len) {
		const char *nl = memchr(s + i, '\n', len - i);
		size_t end = nl ? (size_t)(nl - s) : len;
		size_t e2 = end;
		if (e2 > i && s[e2 - 1] == '\r')
			e2--;
		int rc = inl_text(c, in, s + i, e2 - i, m);
		if (rc)
			return rc;
		if (!nl)
			break;
		if ((rc = inl_hardbreak(c, in)))
			return rc;
		i = end + 1;
	}
	return 0;
}

static int conv_inlines(struct conv *c, cmark_node *parent, struct inl *in, struct marks m);

static int conv_inline(struct conv *c, cmark_node *n, struct inl *in, struct marks m)
{
	int rc;
	const char *t = type_of(n);
	if (!strcmp(t, "text") || !strcmp(t, "html_inline")) {
		rc = inl_cstr(c, in, cmark_node_get_literal(n), m);
	} else if (!strcmp(t, "softbreak")) {
		rc = inl_text(c, in, " ", 1, m);
	} else if (!strcmp(t, "linebreak")) {
		rc = inl_hardbreak(c, in);
	} else if (!strcmp(t, "code")) {
		m.bits |= MARK_CODE;
		rc = inl_cstr(c, in, cmark_node_get_literal(n), m);
	} else if (!strcmp(t, "emph")) {
		m.bits |= MARK_EM;
		rc = conv_inlines(c, n, in, m);
	} else if (!strcmp(t, "strong")) {
		m.bits |= MARK_STRONG;
		rc = conv_inlines(c, n, in, m);
	} else if (!strcmp(t, "strikethrough")) {
		m.bits |= MARK_STRIKE;
		rc = conv_inlines(c, n, in, m);
	} else if (!strcmp(t, "link") || !strcmp(t, "image")) {
		/* An image has no ADF form without an upload: its alt text links to it. A
		 * link around an image (a badge) keeps the outer target. */
		const char *url = cmark_node_get_url(n);
		if (!m.href && href_ok(url))
			m.href = url;
		size_t before = in->count;
		rc = conv_inlines(c, n, in, m);
		if (!rc && in->count == before)
			rc = inl_cstr(c, in, url, m); /* [](url): the URL is the only text */
	} else {
		/* footnote references and future inline types: their text, if any */
		rc = inl_cstr(c, in, cmark_node_get_literal(n), m);
		if (!rc)
			rc = conv_inlines(c, n, in, m);
	}
	return rc;
}

static int conv_inlines(struct conv *c, cmark_node *parent, struct inl *in, struct marks m)
{
	for (cmark_node *ch = cmark_node_first_child(parent); ch; ch = cmark_node_next(ch)) {
		int rc = conv_inline(c, ch, in, m);
		if (rc)
			return rc;
	}
	return 0;
}

static int fold_block(struct conv *c, cmark_node *n, struct inl *in, struct marks m);

static int fold_children(struct conv *c, cmark_node *n, struct inl *in, struct marks m)
{
	for (cmark_node *ch = cmark_node_first_child(n); ch; ch = cmark_node_next(ch)) {
		int rc = fold_block(c, ch, in, m);
		if (rc)
			return rc;
	}
	return 0;
}

static int fold_item_prefix(struct conv *c, cmark_node *list, cmark_node *item, long number,
			    struct inl *in, struct marks m)
{
	char prefix[32];
	if (is(item, "tasklist"))
		snprintf(prefix, sizeof prefix, "%s",
			 cmark_gfm_extensions_get_tasklist_item_checked(item) ? "[x] " : "[ ] ");
	else if (cmark_node_get_list_type(list) == CMARK_ORDERED_LIST)
		snprintf(prefix, sizeof prefix, "%ld. ", number);
	else
		snprintf(prefix, sizeof prefix, "• ");
	struct marks plain = {m.bits & ~MARK_CODE, NULL};
	return inl_cstr(c, in, prefix, plain);
}

/* One table row as "a | b | c"; header cells bold. */
static int fold_row(struct conv *c, cmark_node *row, struct inl *in, struct marks m)
{
	struct marks cm = m;
	if (is(row, "table_header"))
		cm.bits |= MARK_STRONG;
	struct marks sep = {m.bits & ~MARK_CODE, NULL};
	int rc = 0;
	for (cmark_node *cell = cmark_node_first_child(row); cell && !rc;
	     cell = cmark_node_next(cell)) {
		if (cell != cmark_node_first_child(row) && (rc = inl_text(c, in, " | ", 3, sep)))
			break;
		rc = conv_inlines(c, cell, in, cm);
	}
	return rc;
}

/* Any block as inline content (for task items and where a paragraph must stand in
 * for a block ADF does not allow), ending with a pending line break. */
static int fold_block(struct conv *c, cmark_node *n, struct inl *in, struct marks m)
{
	int rc = 0;
	const char *t = type_of(n);
	if (!strcmp(t, "paragraph")) {
		rc = conv_inlines(c, n, in, m);
	} else if (!strcmp(t, "heading")) {
		m.bits |= MARK_STRONG;
		rc = conv_inlines(c, n, in, m);
	} else if (!strcmp(t, "code_block")) {
		m.bits |= MARK_CODE;
		rc = inl_lines(c, in, cmark_node_get_literal(n), m);
	} else if (!strcmp(t, "html_block")) {
		rc = inl_lines(c, in, cmark_node_get_literal(n), m);
	} else if (!strcmp(t, "thematic_break")) {
		rc = inl_text(c, in, "---", 3, m);
	} else if (!strcmp(t, "list")) {
		long number = cmark_node_get_list_start(n);
		for (cmark_node *it = cmark_node_first_child(n); it && !rc;
		     it = cmark_node_next(it)) {
			rc = fold_item_prefix(c, n, it, number++, in, m);
			if (!rc)
				rc = fold_children(c, it, in, m);
			in->want_break = true;
		}
	} else if (!strcmp(t, "table")) {
		for (cmark_node *row = cmark_node_first_child(n); row && !rc;
		     row = cmark_node_next(row)) {
			rc = fold_row(c, row, in, m);
			in->want_break = true;
		}
	} else if (cmark_node_first_child(n) && (cmark_node_get_type(cmark_node_first_child(n)) &
						 CMARK_NODE_TYPE_MASK) == CMARK_NODE_TYPE_INLINE) {
		rc = conv_inlines(c, n, in, m);
	} else {
		rc = fold_children(c, n, in, m); /* block quotes, items, unknown containers */
	}
	in->want_break = true;
	return rc;
}

/* A paragraph node from inline content (a paragraph, a table cell; n may be NULL for
 * an empty one) or, with fold, from any block folded to inline — dropped when that
 * says nothing (an HTML block of blank lines). align is 'c', 'r' or 0. */
static int emit_paragraph(struct conv *c, cmark_node *n, bool fold, struct marks m, char align,
			  json_t *out)
{
	json_t *p = node_new("paragraph", true);
	if (!p)
		return nomem(c);
	struct inl in;
	inl_init(&in, content_of(p));
	int rc = 0;
	if (n)
		rc = fold ? fold_block(c, n, &in, m) : conv_inlines(c, n, &in, m);
	int rc2 = inl_finish(c, &in);
	if (!rc)
		rc = rc2;
	if (!rc && fold && !json_array_size(content_of(p))) {
		json_decref(p);
		return 0;
	}
	if (!rc && align) {
		json_t *am = jpack("[{s:s, s:{s:s}}]", "type", "alignment", "attrs", "align",
				   align == 'c' ? "center" : "end");
		if (json_object_set_new(p, "marks", am))
			rc = nomem(c);
	}
	if (rc) {
		json_decref(p);
		return rc;
	}
	return json_array_append_new(out, p) ? nomem(c) : 0;
}

static int conv_blocks(struct conv *c, cmark_node *parent, enum ctx ctx, json_t *out);

static int conv_heading(struct conv *c, cmark_node *n, json_t *out)
{
	json_t *h = node_new("heading", true);
	int level = cmark_node_get_heading_level(n);
	if (!h || json_object_set_new(h, "attrs", jpack("{s:i}", "level", level))) {
		json_decref(h);
		return nomem(c);
	}
	struct inl in;
	inl_init(&in, content_of(h));
	int rc = conv_inlines(c, n, &in, (struct marks){0, NULL});
	int rc2 = inl_finish(c, &in);
	if (!rc)
		rc = rc2;
	if (rc) {
		json_decref(h);
		return rc;
	}
	return json_array_append_new(out, h) ? nomem(c) : 0;
}

static int conv_code_block(struct conv *c, cmark_node *n, json_t *out)
{
	json_t *cb = node_new("codeBlock", true);
	if (!cb)
		return nomem(c);
	const char *info = cmark_node_get_fence_info(n);
	if (info) {
		size_t i = strspn(info, " \t");
		size_t l = strcspn(info + i, " \t\r\n");
		if (l && json_object_set_new(cb, "attrs", jpack("{s:s%}", "language", info + i, l)))
			goto nomem;
	}
	const char *lit = cmark_node_get_literal(n);
	size_t len = lit ? strlen(lit) : 0;
	if (len && lit[len - 1] == '\n')
		len--;
	if (len) {
		json_t *t = jpack("{s:s, s:s%}", "type", "text", "text", lit, len);
		if (json_array_append_new(content_of(cb), t))
			goto nomem;
	}
	return json_array_append_new(out, cb) ? nomem(c) : 0;
nomem:
	json_decref(cb);
	return nomem(c);
}

static int conv_quote(struct conv *c, cmark_node *n, json_t *out)
{
	json_t *q = node_new("blockquote", true);
	if (!q)
		return nomem(c);
	int rc = conv_blocks(c, n, CTX_QUOTE, content_of(q));
	if (!rc && !json_array_size(content_of(q)))
		if (json_array_append_new(content_of(q), node_new("paragraph", true)))
			rc = nomem(c);
	if (rc) {
		json_decref(q);
		return rc;
	}
	return json_array_append_new(out, q) ? nomem(c) : 0;
}

static int conv_table(struct conv *c, cmark_node *n, json_t *out)
{
	uint16_t ncols = cmark_gfm_extensions_get_table_columns(n);
	const uint8_t *align = cmark_gfm_extensions_get_table_alignments(n);
	json_t *table = node_new("table", true);
	if (!table)
		return nomem(c);
	int rc = 0;
	for (cmark_node *row = cmark_node_first_child(n); row && !rc; row = cmark_node_next(row)) {
		bool header = is(row, "table_header");
		json_t *tr = node_new("tableRow", true);
		if (json_array_append_new(content_of(table), tr)) {
			rc = nomem(c);
			break;
		}
		cmark_node *cell = cmark_node_first_child(row);
		/* cmark pads short rows and drops extra cells; padding again costs nothing */
		for (uint16_t col = 0; col < ncols && !rc; col++) {
			json_t *tc = node_new(header ? "tableHeader" : "tableCell", true);
			if (json_array_append_new(content_of(tr), tc)) {
				rc = nomem(c);
				break;
			}
			char a = align ? (char)align[col] : 0; /* 'l', 'c', 'r' or 0 */
			if (a != 'c' && a != 'r')
				a = 0;
			if (cell) {
				rc = emit_paragraph(c, cell, false, (struct marks){0, NULL}, a,
						    content_of(tc));
				cell = cmark_node_next(cell);
			} else {
				rc = emit_paragraph(c, NULL, false, (struct marks){0, NULL}, a,
						    content_of(tc));
			}
		}
	}
	/* cmark never makes a table without rows or columns, but ADF has no form for one */
	if (rc || !json_array_size(content_of(table)) ||
	    !json_array_size(content_of(json_array_get(content_of(table), 0)))) {
		json_decref(table);
		return rc;
	}
	return json_array_append_new(out, table) ? nomem(c) : 0;
}

static int conv_task_item(struct conv *c, cmark_node *item, json_t *tl_content);
static int conv_list(struct conv *c, cmark_node *list, enum ctx ctx, json_t *out);

static int set_local_id(struct conv *c, json_t *node, const char *state)
{
	char id[40];
	c->next_id++;
	snprintf(id, sizeof id, "00000000-0000-4000-8000-%012lx", c->next_id & 0xffffffffffffUL);
	json_t *attrs = state ? jpack("{s:s, s:s}", "localId", id, "state", state)
			      : jpack("{s:s}", "localId", id);
	return json_object_set_new(node, "attrs", attrs) ? nomem(c) : 0;
}

/* The items [first, end) of a list, all task items, as a taskList appended to out. */
static int conv_task_run(struct conv *c, cmark_node *first, const cmark_node *end, json_t *out)
{
	json_t *tl = node_new("taskList", true);
	int rc = tl ? set_local_id(c, tl, NULL) : nomem(c);
	for (cmark_node *it = first; it != end && !rc; it = cmark_node_next(it))
		rc = conv_task_item(c, it, content_of(tl));
	if (rc) {
		json_decref(tl);
		return rc;
	}
	return json_array_append_new(out, tl) ? nomem(c) : 0;
}

/* A task item: its inline text in a taskItem, nested task lists after it in the
 * same taskList (ADF nests task lists that way), every other block folded in. */
static int conv_task_item(struct conv *c, cmark_node *item, json_t *tl_content)
{
	json_t *ti = node_new("taskItem", true);
	if (!ti)
		return nomem(c);
	bool done = cmark_gfm_extensions_get_tasklist_item_checked(item);
	int rc = set_local_id(c, ti, done ? "DONE" : "TODO");
	if (rc) {
		json_decref(ti);
		return rc;
	}
	if (json_array_append_new(tl_content, ti))
		return nomem(c);
	struct inl in;
	inl_init(&in, content_of(ti));
	struct marks plain = {0, NULL};
	for (cmark_node *ch = cmark_node_first_child(item); ch && !rc; ch = cmark_node_next(ch)) {
		if (!is(ch, "list")) {
			rc = fold_block(c, ch, &in, plain);
			continue;
		}
		/* nested list: task runs nest, plain runs fold into the text */
		cmark_node *it = cmark_node_first_child(ch);
		long number = cmark_node_get_list_start(ch);
		while (it && !rc) {
			if (is(it, "tasklist")) {
				cmark_node *end = it;
				while (end && is(end, "tasklist")) {
					end = cmark_node_next(end);
					number++;
				}
				rc = conv_task_run(c, it, end, tl_content);
				it = end;
			} else {
				if (!(rc = fold_item_prefix(c, ch, it, number++, &in, plain)))
					rc = fold_children(c, it, &in, plain);
				in.want_break = true;
				it = cmark_node_next(it);
			}
		}
	}
	int rc2 = inl_finish(c, &in);
	return rc ? rc : rc2;
}

/* One list item: blocks allowed in a listItem, starting with a paragraph (which
 * carries the "[ ] " prefix of a task item demoted to a plain list). */
static int conv_list_item(struct conv *c, cmark_node *item, json_t *out)
{
	json_t *li = node_new("listItem", true);
	if (!li || json_array_append_new(out, li))
		return nomem(c);
	json_t *blocks = content_of(li);
	int rc = conv_blocks(c, item, CTX_ITEM, blocks);
	if (rc)
		return rc;
	json_t *first = json_array_get(blocks, 0);
	if (!first || strcmp(json_string_value(json_object_get(first, "type")), "paragraph")) {
		first = node_new("paragraph", true);
		if (json_array_insert_new(blocks, 0, first))
			return nomem(c);
	}
	if (is(item, "tasklist")) {
		const char *prefix =
			cmark_gfm_extensions_get_tasklist_item_checked(item) ? "[x] " : "[ ] ";
		json_t *t = jpack("{s:s, s:s}", "type", "text", "text", prefix);
		if (json_array_insert_new(content_of(first), 0, t))
			return nomem(c);
	}
	return 0;
}

/* A list, split into runs of task items (taskList, where the container allows one)
 * and plain items (bulletList / orderedList numbered from the run's first item). */
static int conv_list(struct conv *c, cmark_node *list, enum ctx ctx, json_t *out)
{
	bool ordered = cmark_node_get_list_type(list) == CMARK_ORDERED_LIST;
	long start = cmark_node_get_list_start(list);
	bool tasks_ok = ctx != CTX_QUOTE;
	long index = 0;
	int rc = 0;
	cmark_node *it = cmark_node_first_child(list);
	while (it && !rc) {
		bool task = tasks_ok && is(it, "tasklist");
		cmark_node *end = it;
		long n = 0;
		while (end && (tasks_ok && is(end, "tasklist")) == task) {
			end = cmark_node_next(end);
			n++;
		}
		if (task) {
			rc = conv_task_run(c, it, end, out);
		} else {
			json_t *l = node_new(ordered ? "orderedList" : "bulletList", true);
			if (!l) {
				rc = nomem(c);
				break;
			}
			long order = start + index;
			if (ordered && order != 1 &&
			    json_object_set_new(l, "attrs",
						jpack("{s:I}", "order", (json_int_t)order)))
				rc = nomem(c);
			for (cmark_node *i = it; i != end && !rc; i = cmark_node_next(i))
				rc = conv_list_item(c, i, content_of(l));
			if (rc)
				json_decref(l);
			else if (json_array_append_new(out, l)) /* which releases l */
				rc = nomem(c);
		}
		index += n;
		it = end;
	}
	return rc;
}

static int conv_block(struct conv *c, cmark_node *n, enum ctx ctx, json_t *out)
{
	int rc;
	const char *t = type_of(n);
	struct marks plain = {0, NULL};
	bool rich = ctx == CTX_DOC || ctx == CTX_CELL; /* headings, rules, quotes */
	if (!strcmp(t, "paragraph")) {
		rc = emit_paragraph(c, n, false, plain, 0, out);
	} else if (!strcmp(t, "heading")) {
		rc = rich ? conv_heading(c, n, out) : emit_paragraph(c, n, true, plain, 0, out);
	} else if (!strcmp(t, "thematic_break")) {
		if (rich)
			rc = json_array_append_new(out, node_new("rule", false)) ? nomem(c) : 0;
		else
			rc = emit_paragraph(c, n, true, plain, 0, out);
	} else if (!strcmp(t, "code_block")) {
		rc = conv_code_block(c, n, out);
	} else if (!strcmp(t, "html_block")) {
		rc = emit_paragraph(c, n, true, plain, 0, out);
	} else if (!strcmp(t, "block_quote")) {
		rc = rich ? conv_quote(c, n, out) : conv_blocks(c, n, ctx, out);
	} else if (!strcmp(t, "list")) {
		rc = conv_list(c, n, ctx, out);
	} else if (!strcmp(t, "table")) {
		rc = ctx == CTX_DOC ? conv_table(c, n, out)
				    : emit_paragraph(c, n, true, plain, 0, out);
	} else {
		rc = emit_paragraph(c, n, true, plain, 0, out);
	}
	return rc;
}

static int conv_blocks(struct conv *c, cmark_node *parent, enum ctx ctx, json_t *out)
{
	for (cmark_node *ch = cmark_node_first_child(parent); ch; ch = cmark_node_next(ch)) {
		int rc = conv_block(c, ch, ctx, out);
		if (rc)
			return rc;
	}
	return 0;
}

/* The bound on table cells (adf.h), counted on the text before cmark-gfm builds
 * anything: a table of c columns costs c cells per row, so a wide header over many short
 * lines is where a small document grows a huge tree. Each line is charged for the cells
 * it can make, by the rules cmark-gfm 0.29 follows (blocks.c, extensions/table.c,
 * ext_scanners.re), widened where that is simpler, so the sum is never below what cmark
 * builds:
 *  - lines end at "\n", "\r" or "\r\n" and nowhere else (a NUL does not end one);
 *  - a delimiter row is, after the markers of the containers it continues (">" and
 *    blanks), an optional pipe, cells of [ \t\v\f]* :? -+ :? [ \t\v\f]* separated
 *    by pipes, an optional pipe and [ \t\v\f]*. Any line of only those characters, ">"
 *    and list markers counts as one: as each cell holds one run of "-" and cells are
 *    split by pipes (none escaped: a delimiter row holds no backslash), it has at most
 *    min(runs of "-", pipes + 1) columns. Except a line with no pipe, ":", "\v" or "\f":
 *    "-" and blanks right after a paragraph (the only place a table can start) are a
 *    setext heading underline, which cmark tries before any extension;
 *  - the header has the delimiter row's columns and is charged to the delimiter row,
 *    every body row is padded or cut to them, and a line is at most one of a body row and
 *    a delimiter row;
 *  - a blank line (spaces and tabs only: cmark's blank) ends every table, in every
 *    container, since the table extension finds no row in it.
 * So every line is charged the columns of the widest delimiter-like line since the last
 * blank line, its own included. That is exactly cmark's count for a table that starts
 * after a blank line and ends at one, and more when other lines follow a table or look
 * like delimiter rows; tables ended and restarted, or many small ones, add up. Stops
 * once past the bound. */
static bool table_cells_ok(const char *md, size_t len)
{
	size_t total = 0, cols = 0, i = 0;
	while (i < len) {
		size_t pipes = 0, runs = 0;
		bool delim = true, blank = true, marked = false;
		for (; i < len && md[i] != '\n' && md[i] != '\r'; i++) {
			char ch = md[i];
			if (ch != ' ' && ch != '\t')
				blank = false;
			if (ch == '-')
				runs += i == 0 || md[i - 1] != '-';
			else if (ch == '|')
				pipes++;
			else if (ch == ':' || ch == '\v' || ch == '\f')
				marked = true;
			else if (!strchr(" \t>*+.)0123456789", ch) || ch == '\0')
				delim = false;
		}
		if (i < len && md[i++] == '\r' && i < len && md[i] == '\n')
			i++;
		if (blank) {
			cols = 0;
			continue;
		}
		if (delim && runs && (pipes || marked)) {
			size_t c = runs < pipes + 1 ? runs : pipes + 1;
			if (c > cols)
				cols = c;
		}
		total += cols;
		if (total > ADF_MAX_TABLE_CELLS)
			return false;
	}
	return true;
}

/* The bound on reference links (adf.h), counted on the text before cmark-gfm parses it.
 * cmark-gfm 0.29 gives every link or image that resolves to a reference definition its
 * own copy of the definition's URL and title, so a long definition used many times
 * multiplies. The bound is on uses × the most any one definition can hold, both counted
 * by rules that follow cmark-gfm 0.29 (inlines.c: handle_close_bracket, link_label,
 * cmark_parse_reference_inline, manual_scan_link_url; scanners.re: link titles) and are
 * never below it:
 *  - a use ends at a "]" of the text (the one closing its link text, or its label), and
 *    no "]" ends two, so there are at most as many uses as "]" bytes;
 *  - a definition is "[label]:" at the start of a line of a paragraph, then its URL and
 *    an optional title. Its "]:" are adjacent on one line, its "]" not escaped (an odd
 *    run of backslashes before it), and its "[" is the nearest unescaped "[" or "]"
 *    before them (a label holds no other). On its line only container markers and
 *    blanks come before that "[": ">", list markers, a task item's "[ ]" or "[x]";
 *  - after "]:", the URL starts on that line or the next (spaces, at most one line end),
 *    then the title opens with ", ' or ( on the line the URL ends on or the next. A URL
 *    not in <> holds no space or control character, so it ends on the line it starts
 *    on. So a definition with no "<" in the three lines from its "]:" ends on the
 *    third, or where its title ends. A title ends at the first closing ", ' or ) after
 *    its opening that has no backslash just before it (its body holds that character
 *    only escaped; a closing character on a container marker's line starts a list
 *    item, which ends the paragraph first). The last opening character of each kind in
 *    the three lines ends its title furthest. A URL in <> can go on over lines (a "\"
 *    escapes a line end, a lone "\r" is no "\n"), so with a "<" in those lines the
 *    definition may go on to the end of its paragraph;
 *  - the paragraph ends before the next blank line (spaces and tabs only, cmark's blank)
 *    or line that opens a code fence (fence_line), or at the end of the text;
 *  - bytes there are weighted by what cmark can turn them into (ref_weight).
 * Over-counts: every "]" counts as a use; what looks like a definition counts whatever
 * its paragraph holds; titles and <> URLs count as far as they could run. */

/* What can stand before a definition's "[" on its line. */
static const char ref_prefix_chars[] = " \t\v\f>-+*.)0123456789[]xX";

/* The most bytes cmark-gfm can store in a URL or title for one byte of the text: a NUL
 * or a byte of invalid UTF-8 becomes U+FFFD (3 bytes; valid UTF-8 is counted so too); a
 * tab partly taken as container indentation becomes up to 3 spaces; an entity decodes to
 * at most one byte more than its source ("&nGt;", 5 bytes, is 6), charged to its "&". */
static unsigned ref_weight(unsigned char ch)
{
	if (ch == '\0' || ch == '\t' || ch >= 0x80)
		return 3;
	return ch == '&' ? 2 : 1;
}

/* The start of the line after the one holding i (lines end at "\n", "\r", "\r\n"). */
static size_t next_line(const char *md, size_t len, size_t i)
{
	while (i < len && md[i] != '\n' && md[i] != '\r')
		i++;
	if (i < len && md[i++] == '\r' && i < len && md[i] == '\n')
		i++;
	return i;
}

static bool blank_line(const char *md, size_t len, size_t i)
{
	while (i < len && (md[i] == ' ' || md[i] == '\t'))
		i++;
	return i == len || md[i] == '\n' || md[i] == '\r';
}

/* A line that opens a fenced code block in whatever container it is: at most 3 spaces
 * (so not indented code relative to any container), then 3 or more backticks and no
 * backtick after them on the line, or 3 or more tildes. cmark-gfm tries fences before
 * lazy continuation and extensions, so such a line ends any open paragraph. */
static bool fence_line(const char *md, size_t len, size_t i)
{
	size_t start = i;
	while (i < len && md[i] == ' ' && i - start < 4)
		i++;
	if (i - start > 3 || i >= len || (md[i] != '`' && md[i] != '~'))
		return false;
	char f = md[i];
	size_t run = i;
	while (i < len && md[i] == f)
		i++;
	if (i - run < 3)
		return false;
	for (; f == '`' && i < len && md[i] != '\n' && md[i] != '\r'; i++)
		if (md[i] == '`')
			return false;
	return true;
}

/* Where the paragraph holding position i ends at the latest. */
static size_t paragraph_end(const char *md, size_t len, size_t i)
{
	do
		i = next_line(md, len, i);
	while (i < len && !blank_line(md, len, i) && !fence_line(md, len, i));
	return i;
}

static bool escaped(const char *md, size_t i)
{
	size_t n = 0;
	while (n < i && md[i - 1 - n] == '\\')
		n++;
	return n % 2;
}

/* Whether the unescaped "]" at j (a ":" follows it) can close a definition's label. */
static bool definition_label(const char *md, size_t j)
{
	size_t p = j;
	while (p-- > 0) {
		if ((md[p] != '[' && md[p] != ']') || escaped(md, p))
			continue;
		if (md[p] == ']')
			return false;
		while (p-- > 0 && md[p] != '\n' && md[p] != '\r')
			if (!md[p] || !strchr(ref_prefix_chars, md[p]))
				return false;
		return true;
	}
	return false;
}

/* The first close after position p (a title's opening) with no backslash before it, or
 * len. Queries come in increasing p (below), so one answer serves every p before it. */
struct title_end {
	char close;
	size_t from, at; /* no close in (from, at) */
};

static size_t title_end(struct title_end *t, const char *md, size_t len, size_t p)
{
	if (p >= t->from && p < t->at)
		return t->at;
	size_t q = p + 1;
	while (q < len && (md[q] != t->close || md[q - 1] == '\\'))
		q++;
	t->from = p;
	t->at = q;
	return q;
}

/* Linear time. Each "]" is looked at once. The backward scan from an unescaped "]:"
 * stops at the previous unescaped "]" or at the first byte before its "[" that is no
 * container marker, so the scans do not overlap, and definitions lie on distinct lines
 * (one after "]:" on the same line would have ":" before its "["): each line is in at
 * most three definitions' first three lines. Paragraph ends and title ends are asked
 * for at increasing positions and cached. Extents are summed in a sliding window: the
 * end of each is raised to the end before it if that is further, which never raises
 * the maximum, as that longer extent is a tail of the one before. */
static bool refs_ok(const char *md, size_t len)
{
	static const char openers[] = "\"'("; /* each closed by titles[] */
	struct title_end titles[] = {{'"', 1, 0}, {'\'', 1, 0}, {')', 1, 0}};
	uint64_t uses = 0, widest = 0, sum = 0; /* sum: weight of [lo, hi) */
	size_t para = 0, lo = 0, hi = 0;
	for (size_t j = 0; j < len; j++) {
		if (md[j] != ']')
			continue;
		uses++;
		if (j + 1 >= len || md[j + 1] != ':' || escaped(md, j) || !definition_label(md, j))
			continue;
		size_t s = j + 2,
		       three = next_line(md, len, next_line(md, len, next_line(md, len, s)));
		if (s >= para)
			para = paragraph_end(md, len, s);
		size_t end = three, open[3] = {0, 0, 0};
		bool angle = false;
		for (size_t k = s; k < three; k++) {
			angle |= md[k] == '<';
			for (size_t t = 0; t < 3; t++)
				if (md[k] == openers[t])
					open[t] = k + 1;
		}
		for (size_t t = 0; t < 3 && !angle; t++)
			if (open[t]) {
				size_t close = title_end(&titles[t], md, len, open[t] - 1);
				if (close + 1 > end)
					end = close + 1;
			}
		if (angle || end > para)
			end = para;
		if (end < hi)
			end = hi;
		for (; hi < end; hi++)
			sum += ref_weight((unsigned char)md[hi]);
		for (; lo < s; lo++)
			sum -= ref_weight((unsigned char)md[lo]);
		if (sum > widest)
			widest = sum;
	}
	return uses * widest <= ADF_MAX_REF_BYTES;
}

/* The levels ADF_MAX_DEPTH counts (adf.h). Every other node sits a bounded number of
 * steps below one of these, so bounding them bounds the converter's recursion. */
static bool is_level(cmark_node *n)
{
	static const char *const levels[] = {"block_quote", "item",	     "tasklist", "emph",
					     "strong",	    "strikethrough", "link",	 "image"};
	const char *t = type_of(n);
	for (size_t i = 0; i < sizeof levels / sizeof levels[0]; i++)
		if (!strcmp(t, levels[i]))
			return true;
	return false;
}

/* Refuses a tree nested deeper than ADF_MAX_DEPTH. Walks it without recursion: cmark's
 * iterator gives every node of a container type (all the levels are) an enter and an
 * exit event. */
static int depth_ok(cmark_node *root, struct err *e)
{
	cmark_iter *it = cmark_iter_new(root);
	unsigned depth = 0;
	int rc = 0;
	cmark_event_type ev;
	while (!rc && (ev = cmark_iter_next(it)) != CMARK_EVENT_DONE) {
		if (!is_level(cmark_iter_get_node(it)))
			continue;
		if (ev == CMARK_EVENT_EXIT)
			depth--;
		else if (++depth > ADF_MAX_DEPTH)
			rc = err_set(e, ERR_TOOLARGE,
				     "markdown nested deeper than %u levels (block quotes, list "
				     "items, emphasis and links)",
				     ADF_MAX_DEPTH);
	}
	cmark_iter_free(it);
	return rc;
}

struct out_size {
	size_t bytes;
	bool over;
};

static int count_output(const char *buffer, size_t size, void *data)
{
	struct out_size *o = data;
	if (size > ADF_MAX_OUTPUT - o->bytes) {
		o->over = true;
		return -1; /* stops the dump */
	}
	o->bytes += size;
	return 0;
}

/* The bound on the output (adf.h), measured by jansson's own encoder, so exactly what
 * json_dumps(doc, JSON_COMPACT) would write; it stops once past the bound. */
static int output_ok(const json_t *doc, struct err *e)
{
	struct out_size o = {0, false};
	if (!json_dump_callback(doc, count_output, &o, JSON_COMPACT))
		return 0;
	if (o.over)
		return err_set(e, ERR_TOOLARGE, "ADF of the markdown would be more than %u bytes",
			       ADF_MAX_OUTPUT);
	return err_set(e, ERR_NOMEM, "out of memory measuring ADF");
}

int adf_from_markdown(const char *md, size_t len, json_t **out, struct err *e)
{
	static const char *const extensions[] = {"table", "strikethrough", "autolink", "tasklist"};
	cmark_parser *parser = NULL;
	cmark_node *root = NULL;
	json_t *doc = NULL;
	struct conv c = {.e = e};
	int rc = 0;

	if (!out)
		return err_set(e, ERR_INVALID, "adf_from_markdown: no output pointer");
	*out = NULL;
	if (!md && len)
		return err_set(e, ERR_INVALID, "adf_from_markdown: no input");
	if (len > ADF_MAX_INPUT)
		return err_set(e, ERR_TOOLARGE, "markdown is %zu bytes, more than the %u allowed",
			       len, ADF_MAX_INPUT);
	if (!table_cells_ok(md, len))
		return err_set(e, ERR_TOOLARGE, "markdown could make more than %u table cells",
			       ADF_MAX_TABLE_CELLS);
	if (!refs_ok(md, len))
		return err_set(e, ERR_TOOLARGE,
			       "markdown's reference links could copy more than %u bytes of link "
			       "targets",
			       ADF_MAX_REF_BYTES);

	parser = cmark_parser_new(CMARK_OPT_VALIDATE_UTF8);
	for (size_t i = 0; i < sizeof extensions / sizeof extensions[0]; i++) {
		cmark_syntax_extension *ext = cmark_find_syntax_extension(extensions[i]);
		if (!ext || !cmark_parser_attach_syntax_extension(parser, ext)) {
			rc = err_set(e, ERR_INTERNAL,
				     "cmark-gfm extension %s missing: was "
				     "cmark_gfm_core_extensions_ensure_registered() called?",
				     extensions[i]);
			goto out;
		}
	}
	if (len)
		cmark_parser_feed(parser, md, len);
	root = cmark_parser_finish(parser);
	if (!root) {
		rc = err_set(e, ERR_INTERNAL, "cmark-gfm returned no document");
		goto out;
	}
	if ((rc = depth_ok(root, e)))
		goto out;

	doc = jpack("{s:i, s:s, s:[]}", "version", 1, "type", "doc", "content");
	if (!doc) {
		rc = err_set(e, ERR_NOMEM, "out of memory building ADF");
		goto out;
	}
	if ((rc = conv_blocks(&c, root, CTX_DOC, content_of(doc))) || (rc = output_ok(doc, e)))
		goto out;
	struct err ce;
	if (adf_check(doc, &ce)) {
		rc = err_set(e, ERR_INTERNAL, "converter produced invalid ADF: %s", ce.msg);
		goto out;
	}
	*out = doc;
	doc = NULL;
out:
	json_decref(c.href);
	json_decref(doc);
	if (root)
		cmark_node_free(root);
	if (parser)
		cmark_parser_free(parser);
	return rc;
}

/* ------------------------------------------------------------- checker ---- */

#define CHECK_MAX_DEPTH 512u
#define PATH_MAX_LEN	256

struct check {
	struct err *e;
	unsigned depth;
	char path[PATH_MAX_LEN];
	size_t plen;
};

static int bad(struct check *k, const char *fmt, const char *what)
{
	return err_set(k->e, ERR_INVALID, "ADF %s: %s%s", k->plen ? k->path : "/", fmt,
		       what ? what : "");
}

/* Append "/key" or "/key/index" to the path; returns the old length to restore. */
static size_t path_push(struct check *k, const char *key, long index)
{
	size_t old = k->plen;
	int n = index >= 0 ? snprintf(k->path + old, sizeof k->path - old, "/%s/%ld", key, index)
			   : snprintf(k->path + old, sizeof k->path - old, "/%s", key);
	if (n > 0)
		k->plen = old + (size_t)n < sizeof k->path ? old + (size_t)n : sizeof k->path - 1;
	return old;
}

static void path_pop(struct check *k, size_t old)
{
	k->plen = old;
	k->path[old] = '\0';
}

/* Every key of obj is one of the NULL-terminated allowed names. */
static int only_keys(struct check *k, const json_t *obj, const char *const *allowed)
{
	for (void *it = json_object_iter((json_t *)obj); it;
	     it = json_object_iter_next((json_t *)obj, it)) {
		const char *key = json_object_iter_key(it);
		bool ok = false;
		for (const char *const *a = allowed; *a && !ok; a++)
			ok = !strcmp(key, *a);
		if (!ok)
			return bad(k, "unexpected key ", key);
	}
	return 0;
}

static const char *node_type(const json_t *n)
{
	return json_string_value(json_object_get(n, "type"));
}

enum kind {
	K_DOC,
	K_ITEM,
	K_QUOTE,
	K_CELL,
};

static bool block_allowed(enum kind in, const char *t)
{
	static const char *const doc[] = {"paragraph", "heading",   "bulletList", "orderedList",
					  "taskList",  "codeBlock", "blockquote", "rule",
					  "table",     NULL};
	static const char *const item[] = {"paragraph", "bulletList", "orderedList",
					   "taskList",	"codeBlock",  NULL};
	static const char *const quote[] = {"paragraph", "bulletList", "orderedList", "codeBlock",
					    NULL};
	static const char *const cell[] = {"paragraph",	  "heading",  "bulletList",
					   "orderedList", "taskList", "codeBlock",
					   "blockquote",  "rule",     NULL};
	const char *const *list = in == K_DOC	  ? doc
				  : in == K_ITEM  ? item
				  : in == K_QUOTE ? quote
						  : cell;
	for (; *list; list++)
		if (!strcmp(*list, t))
			return true;
	return false;
}

static int check_text(struct check *k, const json_t *n, bool allow_marks)
{
	static const char *const keys[] = {"type", "text", "marks", NULL};
	int rc = only_keys(k, n, keys);
	if (rc)
		return rc;
	const json_t *text = json_object_get(n, "text");
	if (!json_is_string(text) || !json_string_length(text))
		return bad(k, "text node without text", NULL);
	const json_t *marks = json_object_get(n, "marks");
	if (!marks)
		return 0;
	if (!json_is_array(marks))
		return bad(k, "marks is not an array", NULL);
	if (!allow_marks && json_array_size(marks))
		return bad(k, "marks on code block text", NULL);
	unsigned seen = 0;
	enum { S_LINK = 1, S_EM = 2, S_STRONG = 4, S_STRIKE = 8, S_CODE = 16 };
	for (size_t i = 0; i < json_array_size(marks); i++) {
		const json_t *m = json_array_get(marks, i);
		const char *t = json_is_object(m) ? node_type(m) : NULL;
		unsigned bit = !t		      ? 0
			       : !strcmp(t, "link")   ? S_LINK
			       : !strcmp(t, "em")     ? S_EM
			       : !strcmp(t, "strong") ? S_STRONG
			       : !strcmp(t, "strike") ? S_STRIKE
			       : !strcmp(t, "code")   ? S_CODE
						      : 0;
		if (!bit)
			return bad(k, "unknown mark ", t ? t : "(not an object)");
		if (seen & bit)
			return bad(k, "mark twice: ", t);
		seen |= bit;
		if (bit == S_LINK) {
			static const char *const lk[] = {"type", "attrs", NULL};
			static const char *const la[] = {"href", NULL};
			const json_t *attrs = json_object_get(m, "attrs");
			if ((rc = only_keys(k, m, lk)))
				return rc;
			if (!json_is_object(attrs) ||
			    !json_is_string(json_object_get(attrs, "href")))
				return bad(k, "link mark without attrs.href", NULL);
			if ((rc = only_keys(k, attrs, la)))
				return rc;
		} else {
			static const char *const sk[] = {"type", NULL};
			if ((rc = only_keys(k, m, sk)))
				return rc;
		}
	}
	if ((seen & S_CODE) && (seen & ~(unsigned)(S_CODE | S_LINK)))
		return bad(k, "code mark combined with a mark other than link", NULL);
	return 0;
}

/* A node's "content": an array, non-empty when need_items. NULL when absent and
 * optional. */
static int get_content(struct check *k, const json_t *n, bool required, bool need_items,
		       const json_t **out)
{
	const json_t *content = json_object_get(n, "content");
	*out = content;
	if (!content)
		return required ? bad(k, "missing content", NULL) : 0;
	if (!json_is_array(content))
		return bad(k, "content is not an array", NULL);
	if (need_items && !json_array_size(content))
		return bad(k, "empty content", NULL);
	return 0;
}

static int check_inline_content(struct check *k, const json_t *n)
{
	const json_t *content;
	int rc = get_content(k, n, false, false, &content);
	if (rc || !content)
		return rc;
	for (size_t i = 0; i < json_array_size(content); i++) {
		const json_t *ch = json_array_get(content, i);
		size_t old = path_push(k, "content", (long)i);
		const char *t = json_is_object(ch) ? node_type(ch) : NULL;
		if (!t)
			rc = bad(k, "not a node", NULL);
		else if (!strcmp(t, "text"))
			rc = check_text(k, ch, true);
		else if (!strcmp(t, "hardBreak")) {
			static const char *const hk[] = {"type", NULL};
			rc = only_keys(k, ch, hk);
		} else
			rc = bad(k, "not an inline node: ", t);
		if (rc)
			return rc;
		path_pop(k, old);
	}
	return 0;
}

/* "attrs" with only the given keys; required says whether it must be present. */
static int get_attrs(struct check *k, const json_t *n, bool required, const char *const *keys,
		     const json_t **out)
{
	const json_t *attrs = json_object_get(n, "attrs");
	*out = attrs;
	if (!attrs)
		return required ? bad(k, "missing attrs", NULL) : 0;
	if (!json_is_object(attrs))
		return bad(k, "attrs is not an object", NULL);
	return only_keys(k, attrs, keys);
}

static int check_block(struct check *k, const json_t *n, enum kind in);

static int check_blocks(struct check *k, const json_t *n, enum kind in, bool need_items,
			bool first_paragraph)
{
	const json_t *content;
	int rc = get_content(k, n, true, need_items, &content);
	if (rc)
		return rc;
	for (size_t i = 0; i < json_array_size(content); i++) {
		const json_t *ch = json_array_get(content, i);
		size_t old = path_push(k, "content", (long)i);
		if (i == 0 && first_paragraph &&
		    (!json_is_object(ch) || !node_type(ch) || strcmp(node_type(ch), "paragraph")))
			return bad(k, "list item does not start with a paragraph", NULL);
		if ((rc = check_block(k, ch, in)))
			return rc;
		path_pop(k, old);
	}
	return 0;
}

static int check_paragraph(struct check *k, const json_t *n, enum kind in)
{
	static const char *const keys[] = {"type", "content", "marks", NULL};
	int rc = only_keys(k, n, keys);
	if (rc)
		return rc;
	const json_t *marks = json_object_get(n, "marks");
	if (marks) {
		if (!json_is_array(marks))
			return bad(k, "marks is not an array", NULL);
		if (json_array_size(marks) && in != K_DOC && in != K_CELL)
			return bad(k, "paragraph marks outside the document or a table cell", NULL);
		if (json_array_size(marks) > 1)
			return bad(k, "more than one paragraph mark", NULL);
		const json_t *m = json_array_get(marks, 0);
		if (m) {
			static const char *const mk[] = {"type", "attrs", NULL};
			static const char *const ak[] = {"align", NULL};
			const json_t *attrs = json_object_get(m, "attrs");
			const char *align = json_string_value(json_object_get(attrs, "align"));
			if (!json_is_object(m) || !node_type(m) ||
			    strcmp(node_type(m), "alignment"))
				return bad(k, "paragraph mark is not alignment", NULL);
			if ((rc = only_keys(k, m, mk)) || !json_is_object(attrs) ||
			    (rc = only_keys(k, attrs, ak)))
				return rc ? rc : bad(k, "alignment mark without attrs", NULL);
			if (!align || (strcmp(align, "center") && strcmp(align, "end")))
				return bad(k, "alignment is not center or end", NULL);
		}
	}
	return check_inline_content(k, n);
}

static int check_list(struct check *k, const json_t *n, bool ordered)
{
	static const char *const keys[] = {"type", "content", "attrs", NULL};
	static const char *const ak[] = {"order", NULL};
	static const char *const none[] = {NULL};
	static const char *const lik[] = {"type", "content", NULL};
	const json_t *attrs, *content;
	int rc = only_keys(k, n, keys);
	if (!rc)
		rc = get_attrs(k, n, false, ordered ? ak : none, &attrs);
	if (rc)
		return rc;
	const json_t *order = json_object_get(attrs, "order");
	if (order && (!json_is_integer(order) || json_integer_value(order) < 0))
		return bad(k, "attrs.order is not a non-negative integer", NULL);
	if ((rc = get_content(k, n, true, true, &content)))
		return rc;
	for (size_t i = 0; i < json_array_size(content); i++) {
		const json_t *li = json_array_get(content, i);
		size_t old = path_push(k, "content", (long)i);
		if (!json_is_object(li) || !node_type(li) || strcmp(node_type(li), "listItem"))
			return bad(k, "list holds something other than listItem", NULL);
		if ((rc = only_keys(k, li, lik)) || (rc = check_blocks(k, li, K_ITEM, true, true)))
			return rc;
		path_pop(k, old);
	}
	return 0;
}

static int check_task_list(struct check *k, const json_t *n)
{
	static const char *const keys[] = {"type", "content", "attrs", NULL};
	static const char *const ak[] = {"localId", NULL};
	static const char *const ik[] = {"type", "content", "attrs", NULL};
	static const char *const iak[] = {"localId", "state", NULL};
	const json_t *attrs, *content;
	int rc = only_keys(k, n, keys);
	if (!rc)
		rc = get_attrs(k, n, true, ak, &attrs);
	if (rc)
		return rc;
	if (!json_is_string(json_object_get(attrs, "localId")))
		return bad(k, "taskList without attrs.localId", NULL);
	if ((rc = get_content(k, n, true, true, &content)))
		return rc;
	for (size_t i = 0; i < json_array_size(content); i++) {
		const json_t *ch = json_array_get(content, i);
		size_t old = path_push(k, "content", (long)i);
		const char *t = json_is_object(ch) ? node_type(ch) : NULL;
		if (t && !strcmp(t, "taskList") && i > 0) {
			if (++k->depth > CHECK_MAX_DEPTH)
				return bad(k, "nested too deeply", NULL);
			rc = check_task_list(k, ch);
			k->depth--;
		} else if (t && !strcmp(t, "taskItem")) {
			if ((rc = only_keys(k, ch, ik)) ||
			    (rc = get_attrs(k, ch, true, iak, &attrs)))
				return rc;
			const char *state = json_string_value(json_object_get(attrs, "state"));
			if (!json_is_string(json_object_get(attrs, "localId")))
				return bad(k, "taskItem without attrs.localId", NULL);
			if (!state || (strcmp(state, "TODO") && strcmp(state, "DONE")))
				return bad(k, "taskItem state is not TODO or DONE", NULL);
			rc = check_inline_content(k, ch);
		} else {
			rc = bad(k,
				 "task list holds something other than a task item or (after "
				 "one) a task list",
				 NULL);
		}
		if (rc)
			return rc;
		path_pop(k, old);
	}
	return 0;
}

static int check_code_block(struct check *k, const json_t *n)
{
	static const char *const keys[] = {"type", "content", "attrs", NULL};
	static const char *const ak[] = {"language", NULL};
	const json_t *attrs, *content;
	int rc = only_keys(k, n, keys);
	if (!rc)
		rc = get_attrs(k, n, false, ak, &attrs);
	if (rc)
		return rc;
	if (attrs && !json_is_string(json_object_get(attrs, "language")))
		return bad(k, "codeBlock attrs.language is not a string", NULL);
	if ((rc = get_content(k, n, false, false, &content)) || !content)
		return rc;
	for (size_t i = 0; i < json_array_size(content); i++) {
		const json_t *ch = json_array_get(content, i);
		size_t old = path_push(k, "content", (long)i);
		if (!json_is_object(ch) || !node_type(ch) || strcmp(node_type(ch), "text"))
			return bad(k, "codeBlock holds something other than text", NULL);
		if ((rc = check_text(k, ch, false)))
			return rc;
		path_pop(k, old);
	}
	return 0;
}

static int check_table(struct check *k, const json_t *n)
{
	static const char *const keys[] = {"type", "content", NULL};
	const json_t *rows;
	int rc = only_keys(k, n, keys);
	if (!rc)
		rc = get_content(k, n, true, true, &rows);
	if (rc)
		return rc;
	for (size_t r = 0; r < json_array_size(rows); r++) {
		const json_t *row = json_array_get(rows, r);
		size_t old = path_push(k, "content", (long)r);
		const json_t *cells;
		if (!json_is_object(row) || !node_type(row) || strcmp(node_type(row), "tableRow"))
			return bad(k, "table holds something other than tableRow", NULL);
		if ((rc = only_keys(k, row, keys)) ||
		    (rc = get_content(k, row, true, true, &cells)))
			return rc;
		for (size_t col = 0; col < json_array_size(cells); col++) {
			const json_t *cell = json_array_get(cells, col);
			size_t old2 = path_push(k, "content", (long)col);
			const char *t = json_is_object(cell) ? node_type(cell) : NULL;
			if (!t || (strcmp(t, "tableHeader") && strcmp(t, "tableCell")))
				return bad(k, "table row holds something other than a cell", NULL);
			if ((rc = only_keys(k, cell, keys)) ||
			    (rc = check_blocks(k, cell, K_CELL, true, false)))
				return rc;
			path_pop(k, old2);
		}
		path_pop(k, old);
	}
	return 0;
}

static int check_block(struct check *k, const json_t *n, enum kind in)
{
	const char *t = json_is_object(n) ? node_type(n) : NULL;
	int rc = 0;
	if (!t)
		return bad(k, "not a node", NULL);
	if (!block_allowed(in, t))
		return bad(k, "block not allowed here: ", t);
	if (++k->depth > CHECK_MAX_DEPTH) {
		rc = bad(k, "nested too deeply", NULL);
		goto out;
	}
	if (!strcmp(t, "paragraph")) {
		rc = check_paragraph(k, n, in);
	} else if (!strcmp(t, "heading")) {
		static const char *const keys[] = {"type", "content", "attrs", NULL};
		static const char *const ak[] = {"level", NULL};
		const json_t *attrs;
		if (!(rc = only_keys(k, n, keys)) && !(rc = get_attrs(k, n, true, ak, &attrs))) {
			const json_t *level = json_object_get(attrs, "level");
			if (!json_is_integer(level) || json_integer_value(level) < 1 ||
			    json_integer_value(level) > 6)
				rc = bad(k, "heading level is not 1 to 6", NULL);
			else
				rc = check_inline_content(k, n);
		}
	} else if (!strcmp(t, "bulletList") || !strcmp(t, "orderedList")) {
		rc = check_list(k, n, t[0] == 'o');
	} else if (!strcmp(t, "taskList")) {
		rc = check_task_list(k, n);
	} else if (!strcmp(t, "codeBlock")) {
		rc = check_code_block(k, n);
	} else if (!strcmp(t, "blockquote")) {
		static const char *const keys[] = {"type", "content", NULL};
		if (!(rc = only_keys(k, n, keys)))
			rc = check_blocks(k, n, K_QUOTE, true, false);
	} else if (!strcmp(t, "rule")) {
		static const char *const keys[] = {"type", NULL};
		rc = only_keys(k, n, keys);
	} else if (!strcmp(t, "table")) {
		rc = check_table(k, n);
	} else {
		rc = bad(k, "unknown node type ", t);
	}
out:
	k->depth--;
	return rc;
}

int adf_check(const json_t *doc, struct err *e)
{
	static const char *const keys[] = {"version", "type", "content", NULL};
	struct check k = {.e = e};
	if (!json_is_object(doc))
		return bad(&k, "document is not an object", NULL);
	const char *t = node_type(doc);
	if (!t || strcmp(t, "doc"))
		return bad(&k, "document type is not doc", NULL);
	const json_t *version = json_object_get(doc, "version");
	if (!json_is_integer(version) || json_integer_value(version) != 1)
		return bad(&k, "document version is not 1", NULL);
	int rc = only_keys(&k, doc, keys);
	return rc ? rc : check_blocks(&k, doc, K_DOC, false, false);
}
