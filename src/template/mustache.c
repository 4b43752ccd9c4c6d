/* mustache.c — see mustache.h.
 *
 * A template is parsed once per render, in two passes: tokenize() splits the text into
 * text runs (each ending at the latest after a newline) and tags, applying delimiter
 * changes as it goes; build() walks the tokens line by line, applies the standalone-line
 * rules and produces a flat pre-order array of nodes in which every node knows the
 * index of its next sibling (a container's children are the nodes in between). A BOL
 * node marks the start of each template line that survives, which is where the
 * indentation of an enclosing standalone partial (or block) goes.
 *
 * Rendering walks the node arrays recursively; the context stack, the indentation and
 * the inheritance arguments are linked lists on the C stack, so nothing is allocated
 * per section or per list element. Partials are parsed on first use and kept until the
 * render returns.
 *
 * Inheritance follows the spec's ~inheritance tests: a block's argument (the override
 * written inside a parent tag) is rendered where the parent template's block is, in the
 * context stack found there; the outermost argument for a name wins. When the block tag
 * in the parent template is standalone, the argument's own indentation (the common
 * leading whitespace of its lines) is removed and the indentation of the block's site —
 * that of its default content, or else the whitespace before the tag — is added. Pairs
 * of tags on one line (`{{<p}}{{/p}}`, `{{$b}}{{/b}}`, `{{<p}}{{$b}}`, `{{/b}}{{/p}}`)
 * count as standalone, as those tests require. */
#include "template/mustache.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/utf8.h"

#define ZWSP	 "\xe2\x80\x8b" /* U+200B ZERO WIDTH SPACE */
#define ZWSP_LEN 3

/* ---- parsing ---------------------------------------------------------------------- */

enum tok_kind {
	T_TEXT,
	T_VAR,	    /* {{name}} */
	T_RAW,	    /* {{{name}}}, {{&name}} */
	T_SECTION,  /* {{#name}} */
	T_INVERTED, /* {{^name}} */
	T_CLOSE,    /* {{/name}} */
	T_COMMENT,  /* {{! ...}} */
	T_DELIM,    /* {{=<% %>=}} */
	T_PARTIAL,  /* {{>name}} */
	T_PARENT,   /* {{<name}} */
	T_BLOCK,    /* {{$name}} */
};

struct tok {
	enum tok_kind kind;
	bool dynamic;	   /* name was written with a leading '*' */
	size_t pos, end;   /* text: the text; tag: the whole tag, delimiters included */
	size_t name, nlen; /* the trimmed name (without '*') */
};

struct toks {
	struct tok *v;
	size_t n, cap;
};

enum node_kind { N_TEXT, N_BOL, N_VAR, N_RAW, N_SECTION, N_INVERTED, N_PARTIAL, N_PARENT, N_BLOCK };

struct node {
	enum node_kind kind;
	bool standalone;	   /* PARTIAL, PARENT, BLOCK: on a line of their own */
	bool dynamic;		   /* PARTIAL, PARENT: the name is resolved in the context */
	bool reported;		   /* VAR, RAW: the missing callback has been called */
	size_t next;		   /* index of the next sibling */
	size_t pos;		   /* tags: offset of the opening delimiter, for messages */
	size_t off, len;	   /* TEXT: the text; tags: the name */
	size_t lead, lead_len;	   /* standalone tags: the whitespace before the tag */
	size_t margin, margin_len; /* standalone BLOCK: common indentation of its content */
};

struct tmpl {
	const char *src;
	size_t len;
	struct node *nodes;
	size_t n, cap;
	char *name; /* partial name; NULL for the template being rendered */
	size_t name_len;
	bool absent; /* partial: the callback had none */
	struct tmpl *next;
};

/* A parse error: where, and what. */
struct perr {
	size_t pos;
	char msg[200];
};

static int perr_set(struct perr *pe, size_t pos, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int perr_set(struct perr *pe, size_t pos, const char *fmt, ...)
{
	va_list ap;
	pe->pos = pos;
	va_start(ap, fmt);
	vsnprintf(pe->msg, sizeof pe->msg, fmt, ap);
	va_end(ap);
	return ERR_INVALID;
}

static void line_col(const char *s, size_t len, size_t pos, size_t *line, size_t *col)
{
	size_t l = 1, c = 1;
	for (size_t i = 0; i < pos && i < len; i++) {
		if (s[i] == '\n') {
			l++;
			c = 1;
		} else if (((unsigned char)s[i] & 0xC0) != 0x80) {
			c++;
		}
	}
	*line = l;
	*col = c;
}

static bool is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

/* First occurrence of needle (nlen > 0) in s[from, len), or SIZE_MAX. */
static size_t find(const char *s, size_t len, size_t from, const char *needle, size_t nlen)
{
	while (from < len && len - from >= nlen) {
		const char *p = memchr(s + from, needle[0], len - from - nlen + 1);
		if (!p)
			return SIZE_MAX;
		size_t at = (size_t)(p - s);
		if (memcmp(p, needle, nlen) == 0)
			return at;
		from = at + 1;
	}
	return SIZE_MAX;
}

static void trim(const char *s, size_t *a, size_t *b)
{
	while (*a < *b && is_blank(s[*a]))
		(*a)++;
	while (*b > *a && is_blank(s[*b - 1]))
		(*b)--;
}

static struct tok *tok_add(struct toks *tv)
{
	if (tv->n == tv->cap) {
		tv->cap = tv->cap ? tv->cap * 2 : 64;
		tv->v = xrealloc(tv->v, tv->cap * sizeof *tv->v);
	}
	struct tok *t = &tv->v[tv->n++];
	memset(t, 0, sizeof *t);
	return t;
}

/* Text s[a, b) as tokens, each ending at the latest right after a newline. */
static void add_text(struct toks *tv, const char *s, size_t a, size_t b)
{
	while (a < b) {
		const char *nl = memchr(s + a, '\n', b - a);
		size_t e = nl ? (size_t)(nl - s) + 1 : b;
		struct tok *t = tok_add(tv);
		t->kind = T_TEXT;
		t->pos = a;
		t->end = e;
		a = e;
	}
}

/* The new delimiters of a {{=open close=}} tag whose content is s[a, b). */
static int set_delims(const char *s, size_t a, size_t b, size_t pos, char *dopen, size_t *olen,
		      char *dclose, size_t *clen, struct perr *pe)
{
	trim(s, &a, &b);
	size_t m = a;
	while (m < b && !is_blank(s[m]))
		m++;
	size_t c = m;
	while (c < b && is_blank(s[c]))
		c++;
	size_t o_len = m - a, c_len = b - c;
	if (!o_len || c == m)
		return perr_set(pe, pos,
				"bad delimiter change: two delimiters separated by "
				"whitespace expected");
	for (size_t i = c; i < b; i++)
		if (is_blank(s[i]))
			return perr_set(pe, pos, "bad delimiter change: more than two delimiters");
	if (memchr(s + a, '=', o_len) || memchr(s + c, '=', c_len))
		return perr_set(pe, pos, "bad delimiter change: a delimiter cannot contain '='");
	if (o_len > MUSTACHE_MAX_DELIMITER || c_len > MUSTACHE_MAX_DELIMITER)
		return perr_set(pe, pos, "bad delimiter change: delimiters are at most %d bytes",
				MUSTACHE_MAX_DELIMITER);
	memcpy(dopen, s + a, o_len);
	*olen = o_len;
	memcpy(dclose, s + c, c_len);
	*clen = c_len;
	return 0;
}

static int tokenize(const char *s, size_t len, struct toks *tv, struct perr *pe)
{
	char dopen[MUSTACHE_MAX_DELIMITER] = "{{", dclose[MUSTACHE_MAX_DELIMITER + 1] = "}}";
	size_t olen = 2, clen = 2;
	/* "}" + dclose and "=" + dclose end triple mustaches and delimiter changes */
	char tclose[MUSTACHE_MAX_DELIMITER + 1];
	size_t i = 0;
	while (i < len) {
		size_t at = find(s, len, i, dopen, olen);
		add_text(tv, s, i, at == SIZE_MAX ? len : at);
		if (at == SIZE_MAX)
			break;
		size_t j = at + olen; /* first byte after the opening delimiter */
		char sigil = j < len ? s[j] : '\0';
		enum tok_kind kind;
		size_t cstart = j + 1, cend, end;
		switch (sigil) {
		case '{': kind = T_RAW; break;
		case '&': kind = T_RAW; break;
		case '#': kind = T_SECTION; break;
		case '^': kind = T_INVERTED; break;
		case '/': kind = T_CLOSE; break;
		case '!': kind = T_COMMENT; break;
		case '=': kind = T_DELIM; break;
		case '>': kind = T_PARTIAL; break;
		case '<': kind = T_PARENT; break;
		case '$': kind = T_BLOCK; break;
		default:
			kind = T_VAR;
			cstart = j;
			break;
		}
		size_t tail = 0;
		if (sigil == '{' || sigil == '=') {
			tclose[0] = sigil == '{' ? '}' : '=';
			memcpy(tclose + 1, dclose, clen);
			cend = find(s, len, cstart > len ? len : cstart, tclose, clen + 1);
			tail = clen + 1;
		} else {
			cend = find(s, len, cstart > len ? len : cstart, dclose, clen);
			tail = clen;
		}
		if (cend == SIZE_MAX) {
			if (sigil == '{')
				return perr_set(pe, at,
						"unclosed tag: no \"}%.*s\" after \"%.*s{\"",
						(int)clen, dclose, (int)olen, dopen);
			if (sigil == '=')
				return perr_set(pe, at,
						"unclosed tag: no \"=%.*s\" after \"%.*s=\"",
						(int)clen, dclose, (int)olen, dopen);
			return perr_set(pe, at, "unclosed tag: no \"%.*s\" after \"%.*s\"",
					(int)clen, dclose, (int)olen, dopen);
		}
		end = cend + tail;
		if (kind == T_DELIM) {
			struct tok *t = tok_add(tv);
			t->kind = kind;
			t->pos = at;
			t->end = end;
			if (set_delims(s, cstart, cend, at, dopen, &olen, dclose, &clen, pe))
				return ERR_INVALID;
			i = end;
			continue;
		}
		struct tok *t = tok_add(tv);
		t->kind = kind;
		t->pos = at;
		t->end = end;
		if (kind == T_COMMENT) {
			i = end;
			continue;
		}
		size_t a = cstart, b = cend;
		trim(s, &a, &b);
		if ((kind == T_PARTIAL || kind == T_PARENT || kind == T_CLOSE) && a < b &&
		    s[a] == '*') {
			t->dynamic = true;
			a++;
			trim(s, &a, &b);
		}
		if (a == b)
			return perr_set(pe, at, "empty tag name");
		for (size_t k = a; k < b; k++)
			if (is_blank(s[k]))
				return perr_set(pe, at,
						"invalid tag name \"%.*s\": names contain no "
						"whitespace",
						(int)(b - a > 60 ? 60 : b - a), s + a);
		t->name = a;
		t->nlen = b - a;
		i = end;
	}
	return 0;
}

static size_t node_add(struct tmpl *t, enum node_kind kind, size_t pos)
{
	if (t->n == t->cap) {
		t->cap = t->cap ? t->cap * 2 : 64;
		t->nodes = xrealloc(t->nodes, t->cap * sizeof *t->nodes);
	}
	size_t i = t->n++;
	struct node *nd = &t->nodes[i];
	memset(nd, 0, sizeof *nd);
	nd->kind = kind;
	nd->pos = pos;
	nd->next = i + 1;
	return i;
}

static void text_node(struct tmpl *t, size_t a, size_t b)
{
	if (a < b) {
		size_t i = node_add(t, N_TEXT, a);
		t->nodes[i].off = a;
		t->nodes[i].len = b - a;
	}
}

static bool ends_line(const struct tmpl *t, const struct tok *k)
{
	return k->kind == T_TEXT && k->end > k->pos && t->src[k->end - 1] == '\n';
}

/* Spaces and tabs, then at most one line ending. */
static bool is_ws_text(const struct tmpl *t, const struct tok *k)
{
	size_t i = k->pos;
	while (i < k->end && (t->src[i] == ' ' || t->src[i] == '\t'))
		i++;
	if (i < k->end && t->src[i] == '\r' && i + 1 < k->end)
		i++;
	if (i < k->end && t->src[i] == '\n')
		i++;
	return i == k->end;
}

static bool same_name(const struct tmpl *t, const struct tok *a, const struct tok *b)
{
	return a->dynamic == b->dynamic && a->nlen == b->nlen &&
	       memcmp(t->src + a->name, t->src + b->name, a->nlen) == 0;
}

/* The common leading whitespace of the non-blank lines of src[a, b), a at a line start. */
static void margin_of(const char *s, size_t a, size_t b, size_t *off, size_t *len)
{
	bool have = false;
	*off = a;
	*len = 0;
	while (a < b) {
		size_t q = a;
		while (q < b && (s[q] == ' ' || s[q] == '\t'))
			q++;
		size_t e = q;
		while (e < b && s[e] != '\n')
			e++;
		bool blank = q == e || (q + 1 == e && s[q] == '\r');
		if (!blank) {
			if (!have) {
				*off = a;
				*len = q - a;
				have = true;
			} else {
				size_t k = 0;
				while (k < *len && k < q - a && s[*off + k] == s[a + k])
					k++;
				*len = k;
			}
		}
		a = e + 1;
	}
}

/* An open container while building. */
struct open_tag {
	size_t node;
	const struct tok *tok;
	size_t content; /* BLOCK: where its content starts */
};

struct builder {
	struct tmpl *t;
	struct open_tag stack[MUSTACHE_MAX_DEPTH];
	size_t depth;
};

/* Where a tag is, for the standalone rules: standalone or not; the whitespace before it
 * (lead); where a block opened by it starts (after); where content closed by it ends
 * (before). */
struct place {
	bool standalone;
	size_t lead, lead_len;
	size_t after, before;
};

static int build_tag(struct builder *bd, const struct tok *k, const struct place *pl,
		     struct perr *pe)
{
	struct tmpl *t = bd->t;
	enum node_kind kind;
	switch (k->kind) {
	case T_COMMENT:
	case T_DELIM: return 0;
	case T_VAR: kind = N_VAR; break;
	case T_RAW: kind = N_RAW; break;
	case T_PARTIAL: kind = N_PARTIAL; break;
	case T_SECTION: kind = N_SECTION; break;
	case T_INVERTED: kind = N_INVERTED; break;
	case T_PARENT: kind = N_PARENT; break;
	case T_BLOCK: kind = N_BLOCK; break;
	case T_CLOSE: {
		if (!bd->depth)
			return perr_set(pe, k->pos,
					"section end \"%s%.*s\" without an open section",
					k->dynamic ? "*" : "", (int)(k->nlen > 60 ? 60 : k->nlen),
					t->src + k->name);
		struct open_tag *o = &bd->stack[bd->depth - 1];
		if (!same_name(t, o->tok, k))
			return perr_set(pe, k->pos,
					"mismatched section end \"%s%.*s\": the open "
					"section is \"%s%.*s\"",
					k->dynamic ? "*" : "", (int)(k->nlen > 60 ? 60 : k->nlen),
					t->src + k->name, o->tok->dynamic ? "*" : "",
					(int)(o->tok->nlen > 60 ? 60 : o->tok->nlen),
					t->src + o->tok->name);
		struct node *nd = &t->nodes[o->node];
		nd->next = t->n;
		if (nd->kind == N_BLOCK && nd->standalone) {
			size_t end = pl->standalone ? pl->before : k->pos;
			if (end > o->content)
				margin_of(t->src, o->content, end, &nd->margin, &nd->margin_len);
		}
		bd->depth--;
		return 0;
	}
	case T_TEXT:
	default: return 0;
	}
	size_t i = node_add(t, kind, k->pos);
	struct node *nd = &t->nodes[i];
	nd->off = k->name;
	nd->len = k->nlen;
	nd->dynamic = k->dynamic;
	if (pl->standalone) {
		nd->standalone = true;
		nd->lead = pl->lead;
		nd->lead_len = pl->lead_len;
	}
	if (kind == N_SECTION || kind == N_INVERTED || kind == N_PARENT || kind == N_BLOCK) {
		if (bd->depth == MUSTACHE_MAX_DEPTH)
			return perr_set(pe, k->pos, "sections nested deeper than %d",
					MUSTACHE_MAX_DEPTH);
		struct open_tag *o = &bd->stack[bd->depth++];
		o->node = i;
		o->tok = k;
		o->content = pl->standalone ? pl->after : k->end;
	}
	return 0;
}

static bool standalone_kind(enum tok_kind k)
{
	return k != T_TEXT && k != T_VAR && k != T_RAW;
}

enum line_mode {
	L_INLINE,	/* not standalone */
	L_SINGLE,	/* one standalone tag */
	L_BLOCK_PAIR,	/* {{$b}}{{/b}}: the line ending stays */
	L_PARENT_PAIR,	/* {{<p}}{{/p}} */
	L_PARENT_BLOCK, /* {{<p}}{{$b}} */
	L_CLOSE_PAIR,	/* {{/b}}{{/p}} */
};

static enum line_mode classify(const struct builder *bd, const struct tok *k, size_t n)
{
	const struct tmpl *t = bd->t;
	const struct tok *tags[2] = {NULL, NULL};
	size_t ntags = 0;
	for (size_t i = 0; i < n; i++) {
		if (k[i].kind == T_TEXT) {
			if (!is_ws_text(t, &k[i]))
				return L_INLINE;
		} else {
			if (ntags == 2)
				return L_INLINE;
			tags[ntags++] = &k[i];
		}
	}
	if (ntags == 1)
		return standalone_kind(tags[0]->kind) ? L_SINGLE : L_INLINE;
	if (ntags != 2 || tags[0]->end != tags[1]->pos)
		return L_INLINE;
	const struct tok *a = tags[0], *b = tags[1];
	if (a->kind == T_BLOCK && b->kind == T_CLOSE && same_name(t, a, b))
		return L_BLOCK_PAIR;
	if (a->kind == T_PARENT && b->kind == T_CLOSE && same_name(t, a, b))
		return L_PARENT_PAIR;
	if (a->kind == T_PARENT && b->kind == T_BLOCK)
		return L_PARENT_BLOCK;
	if (a->kind == T_CLOSE && b->kind == T_CLOSE && bd->depth >= 2 &&
	    t->nodes[bd->stack[bd->depth - 1].node].kind == N_BLOCK &&
	    t->nodes[bd->stack[bd->depth - 2].node].kind == N_PARENT)
		return L_CLOSE_PAIR;
	return L_INLINE;
}

static int build(struct tmpl *t, const struct toks *tv, struct perr *pe)
{
	struct builder bd = {.t = t, .depth = 0};
	size_t i = 0;
	while (i < tv->n) {
		size_t j = i;
		while (j < tv->n && !ends_line(t, &tv->v[j]))
			j++;
		size_t end = j < tv->n ? j + 1 : tv->n; /* the line is tokens [i, end) */
		const struct tok *line = &tv->v[i];
		size_t n = end - i;
		size_t line_start = line[0].pos, line_end = line[n - 1].end;
		enum line_mode mode = classify(&bd, line, n);
		if (mode == L_INLINE) {
			size_t tl = line[0].end - line[0].pos;
			bool blank = n == 1 && ends_line(t, &line[0]) &&
				     (tl == 1 || (tl == 2 && t->src[line[0].pos] == '\r'));
			if (!blank)
				node_add(t, N_BOL, line_start);
			for (size_t k = 0; k < n; k++) {
				if (line[k].kind == T_TEXT) {
					text_node(t, line[k].pos, line[k].end);
					continue;
				}
				struct place pl = {.standalone = false,
						   .after = line[k].end,
						   .before = line[k].pos};
				if (build_tag(&bd, &line[k], &pl, pe))
					return ERR_INVALID;
			}
		} else {
			size_t lead = line_start, lead_len = 0;
			size_t k0 = 0;
			if (line[0].kind == T_TEXT) {
				lead_len = line[0].end - line[0].pos;
				k0 = 1;
			}
			const struct tok *a = &line[k0], *b = n > k0 + 1 ? &line[k0 + 1] : NULL;
			struct place pa = {.standalone = true,
					   .lead = lead,
					   .lead_len = lead_len,
					   .after = line_end,
					   .before = line_start};
			struct place pb = {.standalone = true,
					   .lead = line_start,
					   .lead_len = 0,
					   .after = line_end,
					   .before = line_start};
			if (mode == L_BLOCK_PAIR) {
				pa.after = a->end;
				pb.before = b->pos;
			}
			if (build_tag(&bd, a, &pa, pe))
				return ERR_INVALID;
			if (mode != L_SINGLE && build_tag(&bd, b, &pb, pe))
				return ERR_INVALID;
			if (mode == L_BLOCK_PAIR && ends_line(t, &line[n - 1])) {
				/* the line ending stays, so an empty block leaves an empty line */
				size_t e = line[n - 1].end, nl = e - 1;
				if (nl > line[n - 1].pos && t->src[nl - 1] == '\r')
					nl--;
				text_node(t, nl, e);
			}
		}
		i = end;
	}
	if (bd.depth) {
		const struct tok *o = bd.stack[bd.depth - 1].tok;
		return perr_set(pe, o->pos, "unclosed section \"%s%.*s\"", o->dynamic ? "*" : "",
				(int)(o->nlen > 60 ? 60 : o->nlen), t->src + o->name);
	}
	return 0;
}

/* Parse t->src into t->nodes. */
static int parse(struct tmpl *t, struct perr *pe)
{
	struct toks tv = {NULL, 0, 0};
	int rc = tokenize(t->src, t->len, &tv, pe);
	if (!rc)
		rc = build(t, &tv, pe);
	free(tv.v);
	return rc;
}

static void tmpl_free_list(struct tmpl *t)
{
	while (t) {
		struct tmpl *next = t->next;
		free(t->nodes);
		free(t->name);
		free(t);
		t = next;
	}
}

/* ---- rendering -------------------------------------------------------------------- */

struct ctx {
	const json_t *v;
	const struct ctx *up;
};

/* Indentation: the concatenation of the pieces from the outermost in. */
struct indent {
	const char *s;
	size_t n;
	const struct indent *up;
};

/* Inheritance arguments: the blocks directly inside a parent tag. */
struct args {
	struct tmpl *t;
	size_t parent; /* node index of the N_PARENT in t */
	const struct args *up;
};

/* Where nodes come from and how their lines are laid out. */
struct frame {
	struct tmpl *t;
	const struct indent *indent;
	size_t strip; /* leading whitespace removed from each line (a block argument's margin) */
	const struct args *args;
};

struct render {
	const struct mustache_opts *opts;
	struct buf *out;
	size_t base;	 /* out->len when the call began */
	size_t junction; /* Markdown: out->len right after the last value, or SIZE_MAX */
	int depth;
	size_t steps; /* work done, against MUSTACHE_MAX_STEPS */
	struct tmpl *root;
	struct tmpl *partials;
	size_t root_pos; /* the tag of the root template that led to the current expansion */
	struct err *e;
};

static int too_large(struct render *st)
{
	return err_set(st->e, ERR_TOOLARGE, "the output would exceed %zu bytes",
		       (size_t)MUSTACHE_MAX_OUTPUT);
}

static int too_long(struct render *st)
{
	return err_set(st->e, ERR_TOOLARGE, "rendering would take more than %zu steps",
		       (size_t)MUSTACHE_MAX_STEPS);
}

static int put(struct render *st, const char *p, size_t n)
{
	if (!n)
		return 0;
	if (st->out->len - st->base > MUSTACHE_MAX_OUTPUT - n || n > MUSTACHE_MAX_OUTPUT)
		return too_large(st);
	buf_append(st->out, p, n);
	return 0;
}

/* True when the last k bytes before a junction and the first m after it (k, m <= 3)
 * spell "<!--" or "-->" across it. */
static bool spells_comment(const char *before, size_t k, const char *after, size_t m)
{
	char c[6];
	memcpy(c, before, k);
	memcpy(c + k, after, m);
	static const struct {
		const char *s;
		size_t n;
	} pats[] = {{"<!--", 4}, {"-->", 3}};
	for (size_t p = 0; p < 2; p++)
		for (size_t a = 0; a < k; a++)
			if (a + pats[p].n > k && a + pats[p].n <= k + m &&
			    memcmp(c + a, pats[p].s, pats[p].n) == 0)
				return true;
	return false;
}

/* Markdown: put U+200B between the output so far and p[0, n) if the two would spell a
 * comment delimiter together. */
static int guard_junction(struct render *st, const char *p, size_t n)
{
	if (!st->out->len || !n)
		return 0;
	size_t k = st->out->len < 3 ? st->out->len : 3;
	size_t m = n < 3 ? n : 3;
	if (spells_comment(st->out->data + st->out->len - k, k, p, m))
		return put(st, ZWSP, ZWSP_LEN);
	return 0;
}

/* Template text (and indentation). */
static int emit_text(struct render *st, const char *p, size_t n)
{
	if (!n)
		return 0;
	if (st->junction == st->out->len) {
		st->junction = SIZE_MAX;
		int rc = guard_junction(st, p, n);
		if (rc)
			return rc;
	}
	return put(st, p, n);
}

static bool is_word(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '_';
}

static int emit_markdown(struct render *st, const char *s, size_t n)
{
	int rc = guard_junction(st, s, n);
	if (rc)
		return rc;
	size_t run = 0; /* s[run, i) is pending, unchanged */
	for (size_t i = 0; i < n; i++) {
		size_t keep; /* bytes of s from i to copy before U+200B, or 0 */
		if (s[i] == '<' && n - i >= 4 && memcmp(s + i, "<!--", 4) == 0)
			keep = 1;
		else if (s[i] == '-' && n - i >= 3 && memcmp(s + i, "-->", 3) == 0)
			keep = 2;
		else if (s[i] == '@' && (i == 0 || !is_word((unsigned char)s[i - 1])))
			keep = 1;
		else
			continue;
		if ((rc = put(st, s + run, i + keep - run)) || (rc = put(st, ZWSP, ZWSP_LEN)))
			return rc;
		i += keep - 1;
		run = i + 1;
	}
	if ((rc = put(st, s + run, n - run)))
		return rc;
	st->junction = st->out->len;
	return 0;
}

static int emit_html(struct render *st, const char *s, size_t n)
{
	size_t run = 0;
	for (size_t i = 0; i < n; i++) {
		const char *rep;
		switch (s[i]) {
		case '&': rep = "&amp;"; break;
		case '<': rep = "&lt;"; break;
		case '>': rep = "&gt;"; break;
		case '"': rep = "&quot;"; break;
		case '\'': rep = "&#39;"; break;
		default: continue;
		}
		int rc = put(st, s + run, i - run);
		if (!rc)
			rc = put(st, rep, strlen(rep));
		if (rc)
			return rc;
		run = i + 1;
	}
	return put(st, s + run, n - run);
}

/* A value, escaped as the mode says (verbatim when raw). */
static int emit_value(struct render *st, const char *s, size_t n, bool raw)
{
	enum mustache_escape mode = st->opts->escape;
	if (!n)
		return 0;
	if (raw || mode == MUSTACHE_ESCAPE_NONE) {
		int rc = st->junction == st->out->len ? guard_junction(st, s, n) : 0;
		st->junction = SIZE_MAX;
		return rc ? rc : put(st, s, n);
	}
	if (mode == MUSTACHE_ESCAPE_MARKDOWN)
		return emit_markdown(st, s, n);
	return emit_html(st, s, n);
}

static int emit_indent(struct render *st, const struct indent *in)
{
	if (!in)
		return 0;
	int rc = emit_indent(st, in->up);
	return rc ? rc : emit_text(st, in->s, in->n);
}

/* Resolve a (dotted) name against the context stack. */
static const json_t *lookup(const struct ctx *c, const char *name, size_t len)
{
	if (len == 1 && name[0] == '.')
		return c ? c->v : NULL;
	const char *dot = memchr(name, '.', len);
	size_t first = dot ? (size_t)(dot - name) : len;
	const json_t *v = NULL;
	for (; c; c = c->up) {
		if (json_is_object(c->v) && (v = json_object_getn(c->v, name, first)))
			break;
	}
	if (!v)
		return NULL;
	size_t i = first;
	while (i < len) {
		i++; /* the dot */
		const char *seg = name + i;
		const char *d = memchr(seg, '.', len - i);
		size_t sl = d ? (size_t)(d - seg) : len - i;
		if (json_is_object(v)) {
			v = json_object_getn(v, seg, sl);
		} else if (json_is_array(v) && sl && sl <= 9) {
			size_t idx = 0;
			for (size_t k = 0; k < sl; k++) {
				if (seg[k] < '0' || seg[k] > '9')
					return NULL;
				idx = idx * 10 + (size_t)(seg[k] - '0');
			}
			v = json_array_get(v, idx);
		} else {
			return NULL;
		}
		if (!v)
			return NULL;
		i += sl;
	}
	return v;
}

static bool truthy(const json_t *v)
{
	if (!v || json_is_null(v) || json_is_false(v))
		return false;
	if (json_is_array(v))
		return json_array_size(v) > 0;
	if (json_is_string(v))
		return json_string_length(v) > 0;
	return true;
}

static bool empty_value(const json_t *v)
{
	if (!v || json_is_null(v) || json_is_false(v))
		return true;
	if (json_is_string(v))
		return json_string_length(v) == 0;
	if (json_is_array(v))
		return json_array_size(v) == 0;
	if (json_is_object(v))
		return json_object_size(v) == 0;
	return false;
}

/* The text of a scalar into buf (size >= 32): returns its length, or SIZE_MAX when v is
 * not a number or boolean. */
static size_t scalar_text(const json_t *v, char *buf, size_t size)
{
	if (json_is_integer(v))
		return (size_t)snprintf(buf, size, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
	if (json_is_real(v)) {
		double d = json_real_value(v);
		int n = 0;
		for (int prec = 15; prec <= 17; prec++) {
			n = snprintf(buf, size, "%.*g", prec, d);
			if (strtod(buf, NULL) == d)
				break;
		}
		return (size_t)n;
	}
	if (json_is_true(v))
		return (size_t)snprintf(buf, size, "true");
	if (json_is_false(v))
		return (size_t)snprintf(buf, size, "false");
	return SIZE_MAX;
}

static int interpolate(struct render *st, const struct frame *f, struct node *nd,
		       const struct ctx *c)
{
	const char *name = f->t->src + nd->off;
	const json_t *v = lookup(c, name, nd->len);
	bool raw = nd->kind == N_RAW;
	if (empty_value(v) && st->opts->missing && !nd->reported) {
		nd->reported = true;
		char *s = xstrndup(name, nd->len);
		st->opts->missing(s, st->opts->missing_arg);
		free(s);
	}
	if (!v || json_is_null(v))
		return 0;
	if (json_is_string(v))
		return emit_value(st, json_string_value(v), json_string_length(v), raw);
	char num[64];
	size_t n = scalar_text(v, num, sizeof num);
	if (n != SIZE_MAX)
		return emit_value(st, num, n, raw);
	char *js = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY |
					 JSON_REAL_PRECISION(15));
	if (!js)
		return err_set(st->e, ERR_NOMEM, "out of memory");
	int rc = emit_value(st, js, strlen(js), raw);
	free(js);
	return rc;
}

static int render_nodes(struct render *st, const struct frame *f, const struct ctx *c, size_t from,
			size_t to);

static int descend(struct render *st, const struct frame *f, const struct ctx *c, size_t from,
		   size_t to, const struct node *nd)
{
	if (st->depth >= MUSTACHE_MAX_DEPTH) {
		size_t l, col;
		line_col(st->root->src, st->root->len, f->t == st->root ? nd->pos : st->root_pos,
			 &l, &col);
		return err_set(st->e, ERR_INVALID,
			       "line %zu, column %zu: templates nested deeper "
			       "than %d (partials including themselves?)",
			       l, col, MUSTACHE_MAX_DEPTH);
	}
	st->depth++;
	int rc = render_nodes(st, f, c, from, to);
	st->depth--;
	return rc;
}

/* The partial (or parent) called name, parsed; NULL with *rc == 0 when there is none. */
static struct tmpl *get_partial(struct render *st, const char *name, size_t len, int *rc)
{
	*rc = 0;
	/* each name looked at is a step: dynamic names taken from a long list must not
	 * make this quadratic without bound */
	for (struct tmpl *p = st->partials; p; p = p->next) {
		if (++st->steps > MUSTACHE_MAX_STEPS) {
			*rc = too_long(st);
			return NULL;
		}
		if (p->name_len == len && memcmp(p->name, name, len) == 0)
			return p->absent ? NULL : p;
	}
	if (memchr(name, '\0', len))
		return NULL;
	struct tmpl *p = xcalloc(1, sizeof *p);
	p->name = xstrndup(name, len);
	p->name_len = len;
	const char *text =
		st->opts->partial ? st->opts->partial(p->name, st->opts->partial_arg) : NULL;
	p->next = st->partials;
	st->partials = p;
	if (!text) {
		p->absent = true;
		return NULL;
	}
	p->src = text;
	p->len = strlen(text);
	struct perr pe;
	if (parse(p, &pe)) {
		size_t L, C, l, col;
		line_col(st->root->src, st->root->len, st->root_pos, &L, &C);
		line_col(p->src, p->len, pe.pos, &l, &col);
		*rc = err_set(st->e, ERR_INVALID,
			      "line %zu, column %zu: partial \"%.*s\": line %zu, column %zu: %s", L,
			      C, (int)utf8_cut(p->name, strlen(p->name), 60), p->name, l, col,
			      pe.msg);
		return NULL;
	}
	return p;
}

/* The name of a partial or parent tag: written, or resolved in the context. */
static bool tag_target(const struct frame *f, const struct node *nd, const struct ctx *c,
		       const char **name, size_t *len, char *num, size_t size)
{
	*name = f->t->src + nd->off;
	*len = nd->len;
	if (!nd->dynamic)
		return true;
	const json_t *v = lookup(c, *name, *len);
	if (json_is_string(v)) {
		*name = json_string_value(v);
		*len = json_string_length(v);
		return *len > 0;
	}
	if (json_is_number(v)) {
		*len = scalar_text(v, num, size);
		*name = num;
		return true;
	}
	return false;
}

/* The whitespace s[off, off+len) less the first `strip` bytes. */
static struct indent cut(const struct frame *f, size_t off, size_t len)
{
	size_t k = f->strip < len ? f->strip : len;
	struct indent in = {f->t->src + off + k, len - k, f->indent};
	return in;
}

static int expand(struct render *st, const struct frame *f, struct node *nd, const struct ctx *c)
{
	const char *name;
	size_t len;
	char num[64];
	if (!tag_target(f, nd, c, &name, &len, num, sizeof num))
		return 0;
	int rc;
	struct tmpl *p = get_partial(st, name, len, &rc);
	if (!p)
		return rc;
	struct indent in = cut(f, nd->lead, nd->lead_len);
	struct args a = {f->t, (size_t)(nd - f->t->nodes), f->args};
	struct frame sub = {
		.t = p,
		.indent = !nd->standalone ? NULL
			  : in.n	  ? &in
					  : f->indent,
		.strip = 0,
		.args = nd->kind == N_PARENT ? &a : f->args,
	};
	return descend(st, &sub, c, 0, p->n, nd);
}

/* The outermost argument for block nd of frame f, or NULL. */
static bool find_arg(const struct frame *f, const struct node *nd, struct tmpl **at, size_t *ai)
{
	const char *name = f->t->src + nd->off;
	bool found = false;
	for (const struct args *a = f->args; a; a = a->up) {
		const struct node *ns = a->t->nodes;
		for (size_t i = a->parent + 1; i < ns[a->parent].next; i = ns[i].next) {
			if (ns[i].kind == N_BLOCK && ns[i].len == nd->len &&
			    memcmp(a->t->src + ns[i].off, name, nd->len) == 0) {
				*at = a->t;
				*ai = i;
				found = true;
				break;
			}
		}
	}
	return found;
}

static int block(struct render *st, const struct frame *f, struct node *nd, const struct ctx *c)
{
	size_t idx = (size_t)(nd - f->t->nodes);
	struct tmpl *at;
	size_t ai;
	struct indent in = {NULL, 0, NULL};
	if (nd->standalone)
		in = nd->margin_len ? cut(f, nd->margin, nd->margin_len)
				    : cut(f, nd->lead, nd->lead_len);
	if (find_arg(f, nd, &at, &ai)) {
		const struct node *arg = &at->nodes[ai];
		struct frame sub = {
			.t = at,
			.indent = !nd->standalone ? NULL
				  : in.n	  ? &in
						  : f->indent,
			.strip = arg->standalone ? arg->margin_len : 0,
			.args = f->args,
		};
		return descend(st, &sub, c, ai + 1, arg->next, nd);
	}
	struct frame sub = *f;
	if (nd->standalone && !nd->margin_len && in.n)
		sub.indent = &in;
	return descend(st, &sub, c, idx + 1, nd->next, nd);
}

static int render_nodes(struct render *st, const struct frame *f, const struct ctx *c, size_t from,
			size_t to)
{
	struct tmpl *t = f->t;
	bool bol = false;
	int rc = 0;
	for (size_t i = from; i < to && !rc; i = t->nodes[i].next) {
		struct node *nd = &t->nodes[i];
		bool after_bol = bol;
		bol = false;
		if (++st->steps > MUSTACHE_MAX_STEPS)
			return too_long(st);
		if (t == st->root && nd->kind >= N_SECTION)
			st->root_pos = nd->pos;
		switch (nd->kind) {
		case N_BOL:
			rc = emit_indent(st, f->indent);
			bol = true;
			break;
		case N_TEXT: {
			const char *p = t->src + nd->off;
			size_t n = nd->len;
			if (after_bol && f->strip) {
				size_t k = 0;
				while (k < f->strip && k < n && (p[k] == ' ' || p[k] == '\t'))
					k++;
				p += k;
				n -= k;
			}
			rc = emit_text(st, p, n);
			break;
		}
		case N_VAR:
		case N_RAW: rc = interpolate(st, f, nd, c); break;
		case N_SECTION: {
			const json_t *v = lookup(c, t->src + nd->off, nd->len);
			if (!truthy(v))
				break;
			if (json_is_array(v)) {
				for (size_t k = 0; k < json_array_size(v) && !rc; k++) {
					struct ctx cc = {json_array_get(v, k), c};
					rc = descend(st, f, &cc, i + 1, nd->next, nd);
				}
			} else {
				struct ctx cc = {v, c};
				rc = descend(st, f, &cc, i + 1, nd->next, nd);
			}
			break;
		}
		case N_INVERTED:
			if (!truthy(lookup(c, t->src + nd->off, nd->len)))
				rc = descend(st, f, c, i + 1, nd->next, nd);
			break;
		case N_PARTIAL:
		case N_PARENT: rc = expand(st, f, nd, c); break;
		case N_BLOCK: rc = block(st, f, nd, c); break;
		}
	}
	return rc;
}

static int parse_error(const struct tmpl *t, const struct perr *pe, struct err *e)
{
	size_t l, c;
	line_col(t->src, t->len, pe->pos, &l, &c);
	return err_set(e, ERR_INVALID, "line %zu, column %zu: %s", l, c, pe->msg);
}

int mustache_check(const char *tmpl, size_t len, struct err *e)
{
	struct tmpl t = {.src = tmpl ? tmpl : "", .len = tmpl ? len : 0};
	struct perr pe;
	int rc = parse(&t, &pe);
	if (rc)
		rc = parse_error(&t, &pe, e);
	free(t.nodes);
	return rc;
}

int mustache_render(const char *tmpl, size_t len, const json_t *data,
		    const struct mustache_opts *opts, struct buf *out, struct err *e)
{
	static const struct mustache_opts dflt = {.escape = MUSTACHE_ESCAPE_HTML};
	struct tmpl root = {.src = tmpl ? tmpl : "", .len = tmpl ? len : 0};
	struct render st = {
		.opts = opts ? opts : &dflt,
		.out = out,
		.base = out->len,
		.junction = SIZE_MAX,
		.root = &root,
		.e = e,
	};
	struct perr pe;
	int rc = parse(&root, &pe);
	if (rc) {
		rc = parse_error(&root, &pe, e);
		goto out;
	}
	struct ctx c = {data, NULL};
	struct frame f = {.t = &root, .indent = NULL, .strip = 0, .args = NULL};
	rc = render_nodes(&st, &f, data ? &c : NULL, 0, root.n);
	if (rc) {
		out->len = st.base;
		if (out->data)
			out->data[out->len] = '\0';
	}
out:
	tmpl_free_list(st.partials);
	free(root.nodes);
	return rc;
}
