/* walk.c — the YAML walker: a document against the key tables, with file:line:column.
 *
 * Order of work for a file: parse the whole document, look up tracker.provider first
 * (it decides which ${VAR} references must resolve), walk the document against the
 * tables on top of the defaults, expanding ${VAR} per scalar and converting each value
 * with value.c, then run the checks that need more than one key: required keys here,
 * the rest in cfg_check_across (auth.mode none vs listen, priority words, canary sample
 * counts, webhook names). Every problem is collected (up to MAX_ERRORS) with its position; a key's
 * position is remembered ("marks") so that checks after the walk can point at it. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "config/keys.h"
#include "config/sections.h"

#define MAX_ERRORS 20
/* Aliases let a small file reference one node many times; a cap on visited nodes keeps
 * a hostile file from costing exponential time. Real configs have a few hundred. */
#define MAX_NODES 100000

/* Where a key got its value in the file, for checks that run after the walk. */
struct mark {
	const struct key *k;
	const void *base;
	struct pos pos;
};

struct ctx {
	const char *file; /* as named in messages */
	const char *dir;  /* absolute directory for relative paths */
	unsigned flags;	  /* CFG_WALK_* */
	yaml_document_t *doc;
	int provider; /* tracker.provider in effect: decides which ${VAR} must resolve */
	struct pos provider_pos;
	struct buf errors;
	int n_errors;
	char first_field[ERR_FIELD_MAX];
	size_t visits;
	bool too_big;
	struct mark *marks;
	size_t n_marks, cap_marks;
	struct buf path; /* dotted key path of the value being read */
};

/* ---- errors and marks ---- */

static struct pos node_pos(const yaml_node_t *n)
{
	struct pos p = {(int)n->start_mark.line + 1, (int)n->start_mark.column + 1};
	return p;
}

static void vadd_error(struct ctx *x, struct pos p, bool with_path, const char *fmt, va_list ap)
{
	x->n_errors++;
	if (x->n_errors > MAX_ERRORS)
		return;
	if (x->errors.len)
		buf_putc(&x->errors, '\n');
	if (!(x->flags & CFG_WALK_NO_POS))
		buf_printf(&x->errors, "%s:%d:%d: ", x->file, p.line, p.col);
	if (with_path && x->path.len)
		buf_printf(&x->errors, "%s: ", x->path.data);
	buf_vprintf(&x->errors, fmt, ap);
	if (x->n_errors == 1)
		snprintf(x->first_field, sizeof x->first_field, "%s", buf_cstr(&x->path));
}

/* An error about the key at x->path. */
static void __attribute__((format(printf, 3, 4)))
error_at(struct ctx *x, struct pos p, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vadd_error(x, p, true, fmt, ap);
	va_end(ap);
}

/* An error whose text names the key itself (or none). */
static void __attribute__((format(printf, 3, 4)))
error_plain(struct ctx *x, struct pos p, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vadd_error(x, p, false, fmt, ap);
	va_end(ap);
}

static void record_mark(struct ctx *x, const struct key *k, const void *base, struct pos p)
{
	if (x->n_marks == x->cap_marks) {
		x->cap_marks = x->cap_marks ? 2 * x->cap_marks : 64;
		x->marks = xrealloc(x->marks, x->cap_marks * sizeof *x->marks);
	}
	x->marks[x->n_marks++] = (struct mark){k, base, p};
}

/* After the walk the marks are sorted by (base, key) so that the checks that follow can
 * find them without a scan per key (a file may have tens of thousands of entries). */
static int mark_cmp(const void *a, const void *b)
{
	const struct mark *p = a, *q = b;
	uintptr_t pb = (uintptr_t)p->base, qb = (uintptr_t)q->base;
	if (pb != qb)
		return pb < qb ? -1 : 1;
	uintptr_t pk = (uintptr_t)p->k, qk = (uintptr_t)q->k;
	return (pk > qk) - (pk < qk);
}

static size_t first_mark(const struct ctx *x, const void *base)
{
	size_t lo = 0, hi = x->n_marks;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if ((uintptr_t)x->marks[mid].base < (uintptr_t)base)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static const struct mark *find_mark(const struct ctx *x, const struct key *k, const void *base)
{
	for (size_t i = first_mark(x, base); i < x->n_marks && x->marks[i].base == base; i++)
		if (x->marks[i].k == k)
			return &x->marks[i];
	return NULL;
}

/* The mark of the scalar stored at base+off (for checks across keys). */
struct pos cfg_pos_of(const struct ctx *x, const void *base, size_t off, struct pos fallback)
{
	for (size_t i = first_mark(x, base); i < x->n_marks && x->marks[i].base == base; i++) {
		const struct mark *m = &x->marks[i];
		if (m->k->off == off && is_scalar_type(m->k->type))
			return m->pos;
	}
	return fallback;
}

static size_t path_push(struct ctx *x, const char *name, size_t len)
{
	size_t saved = x->path.len;
	if (x->path.len)
		buf_putc(&x->path, '.');
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)name[i];
		buf_putc(&x->path, ch < 0x20 || ch == 0x7f ? '?' : (char)ch);
	}
	if (!x->path.data)
		buf_puts(&x->path, "");
	return saved;
}

static size_t path_push_index(struct ctx *x, size_t i)
{
	size_t saved = x->path.len;
	buf_printf(&x->path, "[%zu]", i);
	return saved;
}

static void path_pop(struct ctx *x, size_t saved)
{
	x->path.len = saved;
	if (x->path.data)
		x->path.data[saved] = '\0';
}

void cfg_error(struct ctx *x, const char *key, struct pos p, const char *fmt, ...)
{
	size_t saved = path_push(x, key, strlen(key));
	va_list ap;
	va_start(ap, fmt);
	vadd_error(x, p, true, fmt, ap);
	va_end(ap);
	path_pop(x, saved);
}

/* ---- ${VAR} expansion ---- */

enum { EXP_OK, EXP_UNSET, EXP_SYNTAX };

/* Expand ${NAME} and ${NAME:-default} in s[0..n). On EXP_UNSET, detail holds the first
 * unset name; on EXP_SYNTAX, the reason. The default runs to the first '}' (no nesting)
 * and is used when NAME is unset or empty, as in the shell. */
static int expand_env(const char *s, size_t n, struct buf *out, struct buf *detail)
{
	int rc = EXP_OK;
	size_t i = 0;
	buf_puts(out, "");
	while (i < n) {
		if (s[i] != '$' || i + 1 >= n || s[i + 1] != '{') {
			buf_putc(out, s[i++]);
			continue;
		}
		size_t name = i + 2, j = name;
		if (j >= n || !ident_start(s[j])) {
			buf_puts(detail,
				 "${ must be followed by a variable name ([A-Za-z_][A-Za-z0-9_]*)");
			return EXP_SYNTAX;
		}
		while (j < n && ident_char(s[j]))
			j++;
		size_t name_len = j - name;
		const char *def = NULL;
		size_t def_len = 0;
		if (j + 1 < n && s[j] == ':' && s[j + 1] == '-') {
			def = s + j + 2;
			const char *close = memchr(def, '}', n - (j + 2));
			if (!close) {
				buf_printf(detail, "unterminated ${%.*s:-...}", (int)name_len,
					   s + name);
				return EXP_SYNTAX;
			}
			def_len = (size_t)(close - def);
			j = (size_t)(close - s);
		}
		if (j >= n || s[j] != '}') {
			buf_printf(detail, "expected } or :- after ${%.*s", (int)name_len,
				   s + name);
			return EXP_SYNTAX;
		}
		char *var = xstrndup(s + name, name_len);
		const char *v = getenv(var);
		if (def && (!v || !*v))
			buf_append(out, def, def_len);
		else if (v)
			buf_puts(out, v);
		else if (rc == EXP_OK) {
			buf_puts(detail, var);
			rc = EXP_UNSET;
		}
		free(var);
		i = j + 1;
	}
	return rc;
}

/* ---- the walk over the document ---- */

static yaml_node_t *node_at(const struct ctx *x, int index)
{
	return yaml_document_get_node(x->doc, index);
}

static bool is_null(const yaml_node_t *n)
{
	if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return false;
	const char *v = (const char *)n->data.scalar.value;
	size_t len = n->data.scalar.length;
	return len == 0 || (len == 1 && v[0] == '~') ||
	       (len == 4 &&
		(!memcmp(v, "null", 4) || !memcmp(v, "Null", 4) || !memcmp(v, "NULL", 4)));
}

static const char *node_kind(const yaml_node_t *n)
{
	if (n->type == YAML_MAPPING_NODE)
		return "a mapping";
	if (n->type == YAML_SEQUENCE_NODE)
		return "a list";
	return is_null(n) ? "null" : "a scalar";
}

static void wrong_node(struct ctx *x, const struct key *k, const yaml_node_t *n)
{
	struct buf b = BUF_INIT;
	cfg_put_expected(&b, k);
	error_at(x, node_pos(n), "expected %s, got %s", b.data, node_kind(n));
	buf_free(&b);
}

/* The scalar's text after ${VAR} expansion. Returns 0 (*out set), 1 when the value
 * refers to an unset variable inside an unused provider section (leave the default),
 * or -1 after reporting an error. */
static int scalar_text(struct ctx *x, const yaml_node_t *n, int scope, char **out)
{
	const char *v = (const char *)n->data.scalar.value;
	size_t len = n->data.scalar.length;
	if (memchr(v, '\0', len)) {
		error_at(x, node_pos(n), "contains a NUL character");
		return -1;
	}
	struct buf o = BUF_INIT, detail = BUF_INIT;
	int rc = 0;
	if (x->flags & CFG_WALK_LITERAL) {
		*out = xstrndup(v, len);
		return 0;
	}
	switch (expand_env(v, len, &o, &detail)) {
	case EXP_UNSET:
		if (scope && scope != x->provider) {
			rc = 1;
			break;
		}
		error_plain(x, node_pos(n), "environment variable %s is not set (key %s)",
			    detail.data, buf_cstr(&x->path));
		rc = -1;
		break;
	case EXP_SYNTAX:
		error_at(x, node_pos(n), "%s", detail.data);
		rc = -1;
		break;
	default: *out = buf_steal(&o); break;
	}
	buf_free(&o);
	buf_free(&detail);
	return rc;
}

struct keyref {
	const char *s;
	size_t len, idx;
};

static int keyref_cmp(const void *a, const void *b)
{
	const struct keyref *p = a, *q = b;
	size_t n = p->len < q->len ? p->len : q->len;
	int c = memcmp(p->s, q->s, n);
	if (c)
		return c;
	if (p->len != q->len)
		return p->len < q->len ? -1 : 1;
	return p->idx < q->idx ? -1 : p->idx > q->idx;
}

enum { KEY_OK, KEY_NOT_SCALAR, KEY_DUPLICATE };

/* Classify the keys of a mapping (sorting finds duplicates in n log n); the caller
 * reports bad ones with bad_key() in document order. */
static unsigned char *check_keys(const struct ctx *x, const yaml_node_t *map, size_t npairs)
{
	unsigned char *state = xcalloc(npairs, 1);
	struct keyref *refs = xcalloc(npairs, sizeof *refs);
	size_t nrefs = 0;
	for (size_t i = 0; i < npairs; i++) {
		const yaml_node_t *kn = node_at(x, map->data.mapping.pairs.start[i].key);
		if (kn->type != YAML_SCALAR_NODE)
			state[i] = KEY_NOT_SCALAR;
		else
			refs[nrefs++] = (struct keyref){(const char *)kn->data.scalar.value,
							kn->data.scalar.length, i};
	}
	qsort(refs, nrefs, sizeof *refs, keyref_cmp);
	for (size_t i = 1; i < nrefs; i++)
		if (refs[i].len == refs[i - 1].len &&
		    !memcmp(refs[i].s, refs[i - 1].s, refs[i].len))
			state[refs[i].idx] = KEY_DUPLICATE;
	free(refs);
	return state;
}

/* Report pair i if check_keys found it bad; true when it must be skipped. */
static bool bad_key(struct ctx *x, const yaml_node_t *map, size_t i, const unsigned char *state)
{
	const yaml_node_t *kn = node_at(x, map->data.mapping.pairs.start[i].key);
	if (state[i] == KEY_NOT_SCALAR) {
		error_at(x, node_pos(kn), "keys must be plain names, got %s", node_kind(kn));
	} else if (state[i] == KEY_DUPLICATE) {
		size_t saved =
			path_push(x, (const char *)kn->data.scalar.value, kn->data.scalar.length);
		error_at(x, node_pos(kn), "duplicate key");
		path_pop(x, saved);
	}
	return state[i] != KEY_OK;
}

static size_t edit_distance(const char *a, size_t la, const char *b)
{
	size_t lb = strlen(b), row[65];
	if (la > 64 || lb > 64)
		return SIZE_MAX;
	for (size_t j = 0; j <= lb; j++)
		row[j] = j;
	for (size_t i = 1; i <= la; i++) {
		size_t diag = row[0];
		row[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t up = row[j];
			size_t best = diag + (a[i - 1] != b[j - 1]);
			if (up + 1 < best)
				best = up + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			row[j] = best;
			diag = up;
		}
	}
	return row[lb];
}

static void unknown_key(struct ctx *x, const struct key *keys, const yaml_node_t *kn)
{
	const char *name = (const char *)kn->data.scalar.value;
	size_t len = kn->data.scalar.length, best = SIZE_MAX;
	const char *guess = NULL;
	for (const struct key *k = keys; k->name; k++) {
		size_t d = edit_distance(name, len, k->name);
		if (d < best) {
			best = d;
			guess = k->name;
		}
	}
	if (guess && best <= 2 && best < len)
		error_at(x, node_pos(kn), "unknown key; did you mean %s?", guess);
	else
		error_at(x, node_pos(kn), "unknown key");
}

static void set_value(struct ctx *x, const struct key *k, yaml_node_t *n, void *base, int scope);

static const struct key *lookup_key(const struct key *keys, const char *name, size_t len)
{
	for (const struct key *k = keys; k->name; k++)
		if (strlen(k->name) == len && !memcmp(k->name, name, len))
			return k;
	return NULL;
}

static void walk_section(struct ctx *x, const struct key *keys, yaml_node_t *map, void *base,
			 int scope)
{
	size_t npairs = (size_t)(map->data.mapping.pairs.top - map->data.mapping.pairs.start);
	unsigned char *state = check_keys(x, map, npairs);
	for (size_t i = 0; i < npairs && !x->too_big && x->n_errors < MAX_ERRORS; i++) {
		if (bad_key(x, map, i, state))
			continue;
		yaml_node_pair_t *pr = &map->data.mapping.pairs.start[i];
		yaml_node_t *kn = node_at(x, pr->key);
		const char *name = (const char *)kn->data.scalar.value;
		size_t len = kn->data.scalar.length;
		const struct key *k = lookup_key(keys, name, len);
		size_t saved = path_push(x, name, len);
		if (k)
			set_value(x, k, node_at(x, pr->value), base, scope);
		else
			unknown_key(x, keys, kn);
		path_pop(x, saved);
	}
	free(state);
}

static void set_scalar(struct ctx *x, const struct key *k, yaml_node_t *n, void *base, int scope)
{
	if (n->type != YAML_SCALAR_NODE) {
		wrong_node(x, k, n);
		return;
	}
	if (is_null(n))
		return; /* null is "not given": the default stays */
	char *text;
	if (scalar_text(x, n, scope, &text))
		return;
	union val v;
	struct buf why = BUF_INIT;
	if (cfg_parse_value(x->dir, k, text, &v, &why) < 0) {
		error_at(x, node_pos(n), "%s", why.data);
	} else {
		cfg_store_value(k, base, &v);
		record_mark(x, k, base, node_pos(n));
	}
	free(text);
	buf_free(&why);
}

static void set_strlist(struct ctx *x, const struct key *k, yaml_node_t *n, void *base, int scope)
{
	if (is_null(n))
		return;
	if (n->type != YAML_SEQUENCE_NODE) {
		wrong_node(x, k, n);
		return;
	}
	size_t cnt = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
	char **list = xcalloc(cnt + 1, sizeof *list);
	size_t got = 0;
	bool ok = true;
	for (size_t i = 0; i < cnt; i++) {
		yaml_node_t *item = node_at(x, n->data.sequence.items.start[i]);
		size_t saved = path_push_index(x, i);
		char *text = NULL;
		struct buf why = BUF_INIT;
		if (++x->visits > MAX_NODES) {
			ok = false;
		} else if (item->type != YAML_SCALAR_NODE || is_null(item)) {
			error_at(x, node_pos(item), "expected a string, got %s", node_kind(item));
			ok = false;
		} else if (scalar_text(x, item, scope, &text)) {
			ok = false;
		} else if (!*text) {
			error_at(x, node_pos(item), "must not be empty");
			ok = false;
		} else if (cfg_finish_string(x->dir, k, &text, &why) < 0) {
			error_at(x, node_pos(item), "%s", why.data);
			ok = false;
		} else {
			list[got++] = text;
			text = NULL;
		}
		free(text);
		buf_free(&why);
		path_pop(x, saved);
	}
	if (ok) {
		cfg_free_key(k, base);
		set_ptr(base, k->off, list);
		*count_of(base, k) = got;
		record_mark(x, k, base, node_pos(n));
		return;
	}
	for (size_t i = 0; i < got; i++)
		free(list[i]);
	free(list);
}

static void set_section(struct ctx *x, const struct key *k, yaml_node_t *n, void *base, int scope)
{
	if (is_null(n))
		return;
	if (n->type != YAML_MAPPING_NODE) {
		wrong_node(x, k, n);
		return;
	}
	if (k->flags & F_WHOLE) {
		cfg_free_keys(k->sub, base);
		cfg_apply_defaults(x->dir, k->sub, base, true);
	}
	record_mark(x, k, base, node_pos(n));
	walk_section(x, k->sub, n, base, scope);
}

/* A map merges into what is there (the defaults); a list replaces it. Arrays are sized
 * once up front: marks recorded for entries point into them. */
static void set_collection(struct ctx *x, const struct key *k, yaml_node_t *n, void *base,
			   int scope)
{
	const struct coll *co = k->coll;
	bool is_map = k->type == K_MAP;
	if (is_null(n))
		return;
	if (n->type != (is_map ? YAML_MAPPING_NODE : YAML_SEQUENCE_NODE)) {
		wrong_node(x, k, n);
		return;
	}
	if (!is_map)
		cfg_free_key(k, base);
	size_t cnt = is_map ? (size_t)(n->data.mapping.pairs.top - n->data.mapping.pairs.start)
			    : (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
	size_t have = *count_of(base, k);
	char *arr = xrealloc(get_ptr(base, k->off), (have + cnt) * co->elem_size);
	set_ptr(base, k->off, arr);
	record_mark(x, k, base, node_pos(n));
	unsigned char *state = is_map ? check_keys(x, n, cnt) : NULL;
	for (size_t i = 0; i < cnt && !x->too_big && x->n_errors < MAX_ERRORS; i++) {
		if (is_map && bad_key(x, n, i, state))
			continue;
		yaml_node_t *vn;
		void *eb = NULL;
		size_t saved;
		if (is_map) {
			yaml_node_t *kn = node_at(x, n->data.mapping.pairs.start[i].key);
			const char *name = (const char *)kn->data.scalar.value;
			size_t len = kn->data.scalar.length;
			vn = node_at(x, n->data.mapping.pairs.start[i].value);
			saved = path_push(x, name, len);
			bool ok = len > 0;
			for (size_t j = 0; j < len && ok; j++)
				ok = (unsigned char)name[j] >= 0x20 && name[j] != 0x7f;
			if (!ok) {
				error_at(
					x, node_pos(kn),
					"a name must be non-empty text without control characters");
				path_pop(x, saved);
				continue;
			}
			for (size_t j = 0; j < have && !eb; j++) {
				void *cand = arr + j * co->elem_size;
				const char *en = get_ptr(cand, co->name_off);
				if (strlen(en) == len && !memcmp(en, name, len))
					eb = cand;
			}
			if (!eb) {
				eb = arr + *count_of(base, k) * co->elem_size;
				memset(eb, 0, co->elem_size);
				set_ptr(eb, co->name_off, xstrndup(name, len));
				cfg_apply_default(x->dir, co->elem, eb, false);
				++*count_of(base, k);
			}
		} else {
			vn = node_at(x, n->data.sequence.items.start[i]);
			saved = path_push_index(x, i);
			eb = arr + *count_of(base, k) * co->elem_size;
			memset(eb, 0, co->elem_size);
			cfg_apply_default(x->dir, co->elem, eb, false);
			++*count_of(base, k);
		}
		/* An entry left at its defaults records no value: mark it here, so that checks
		 * after the walk can still point at it. */
		if (vn->type == YAML_SCALAR_NODE && is_null(vn))
			record_mark(x, co->elem, eb, node_pos(vn));
		set_value(x, co->elem, vn, eb, scope);
		path_pop(x, saved);
	}
	free(state);
}

static void set_value(struct ctx *x, const struct key *k, yaml_node_t *n, void *base, int scope)
{
	if (++x->visits > MAX_NODES) {
		if (!x->too_big)
			error_at(x, node_pos(n),
				 "too many values (more than %d after expanding aliases)",
				 MAX_NODES);
		x->too_big = true;
		return;
	}
	if (k->scope)
		scope = k->scope;
	switch (k->type) {
	case K_SECTION: set_section(x, k, n, base, scope); break;
	case K_MAP:
	case K_LIST: set_collection(x, k, n, base, scope); break;
	case K_STRLIST: set_strlist(x, k, n, base, scope); break;
	default: set_scalar(x, k, n, base, scope); break;
	}
}

static yaml_node_t *map_get(const struct ctx *x, yaml_node_t *map, const char *name)
{
	if (!map || map->type != YAML_MAPPING_NODE)
		return NULL;
	for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
	     p++) {
		yaml_node_t *kn = node_at(x, p->key);
		if (kn->type == YAML_SCALAR_NODE && kn->data.scalar.length == strlen(name) &&
		    !memcmp(kn->data.scalar.value, name, kn->data.scalar.length))
			return node_at(x, p->value);
	}
	return NULL;
}

/* tracker.provider decides which provider sections must resolve their ${VAR}s, so read
 * it before the walk. Any problem with it is reported by the walk itself. */
static void find_provider(struct ctx *x, yaml_node_t *root)
{
	yaml_node_t *tracker = map_get(x, root, "tracker");
	yaml_node_t *n = map_get(x, tracker, "provider");
	x->provider = CONFIG_PROVIDER_NONE;
	x->provider_pos = (struct pos){1, 1};
	if (tracker)
		x->provider_pos = node_pos(tracker);
	if (!n || n->type != YAML_SCALAR_NODE || is_null(n) ||
	    memchr(n->data.scalar.value, 0, n->data.scalar.length))
		return;
	x->provider_pos = node_pos(n);
	struct buf o = BUF_INIT, detail = BUF_INIT;
	const char *v = (const char *)n->data.scalar.value;
	bool ok = true;
	if (x->flags & CFG_WALK_LITERAL) {
		buf_puts(&o, "");
		buf_append(&o, v, n->data.scalar.length);
	} else {
		ok = expand_env(v, n->data.scalar.length, &o, &detail) == EXP_OK;
	}
	if (ok)
		for (const struct enum_name *p = cfg_providers; p->name; p++)
			if (!strcmp(p->name, o.data))
				x->provider = p->value;
	buf_free(&o);
	buf_free(&detail);
}

/* ---- checks after the walk ---- */

static void check_required(struct ctx *x, const struct key *keys, void *base, int scope,
			   struct pos fallback)
{
	for (const struct key *k = keys; k->name; k++) {
		int sc = k->scope ? k->scope : scope;
		if (sc && sc != x->provider)
			continue;
		const struct mark *m = find_mark(x, k, base);
		struct pos p = m ? m->pos : k->scope ? x->provider_pos : fallback;
		size_t saved = path_push(x, k->name, strlen(k->name));
		if (k->type == K_SECTION) {
			check_required(x, k->sub, base, sc, p);
		} else if ((k->type == K_MAP || k->type == K_LIST) &&
			   k->coll->elem->type == K_SECTION) {
			char *arr = get_ptr(base, k->off);
			for (size_t i = 0; i < *count_of(base, k); i++) {
				void *eb = arr + i * k->coll->elem_size;
				const struct mark *em = find_mark(x, k->coll->elem, eb);
				size_t s2 =
					k->type == K_MAP
						? path_push(x, get_ptr(eb, k->coll->name_off),
							    strlen(get_ptr(eb, k->coll->name_off)))
						: path_push_index(x, i);
				check_required(x, k->coll->elem->sub, eb, sc, em ? em->pos : p);
				path_pop(x, s2);
			}
		} else if (k->type == K_STR && (k->flags & F_REQUIRED) &&
			   !*(char *)get_ptr(base, k->off)) {
			if (sc)
				error_at(x, p, "required when tracker.provider is %s",
					 cfg_enum_label(cfg_providers, sc));
			else
				error_at(x, p, "required");
		}
		path_pop(x, saved);
	}
}

static struct pos offset_pos(const char *text, size_t len, size_t off)
{
	struct pos p = {1, 1};
	for (size_t i = 0; i < off && i < len; i++) {
		if (text[i] == '\n')
			p.line++, p.col = 1;
		else
			p.col++;
	}
	return p;
}

static void syntax_error(struct ctx *x, const yaml_parser_t *ps, const char *text, size_t len)
{
	struct pos p;
	if (ps->error == YAML_READER_ERROR)
		p = offset_pos(text, len, ps->problem_offset);
	else
		p = (struct pos){(int)ps->problem_mark.line + 1, (int)ps->problem_mark.column + 1};
	const char *problem = ps->problem ? ps->problem : "cannot parse";
	if (ps->context)
		error_plain(x, p, "invalid YAML: %s (%s at %d:%d)", problem, ps->context,
			    (int)ps->context_mark.line + 1, (int)ps->context_mark.column + 1);
	else
		error_plain(x, p, "invalid YAML: %s", problem);
}

/* Copy as many whole lines of the full text as fit into e->msg, keeping room for a last
 * line that says how many were left out. */
static int fill_err(struct err *e, const struct ctx *x)
{
	char msg[ERR_MSG_MAX];
	const char *all = buf_cstr(&x->errors);
	size_t total = x->n_errors < MAX_ERRORS ? (size_t)x->n_errors : MAX_ERRORS;
	size_t used = 0, lines = 0;
	const size_t reserve = sizeof "\n(20 more errors)";
	for (const char *p = all; *p && lines < total;) {
		size_t n = strcspn(p, "\n");
		size_t need = used + (used ? 1 : 0) + n;
		if (need + (lines + 1 < total ? reserve : 0) >= sizeof msg)
			break;
		used = need;
		lines++;
		p += n + (p[n] == '\n');
	}
	if (lines == 0) {
		snprintf(msg, sizeof msg, "%s", all); /* one huge line: cut it */
	} else {
		memcpy(msg, all, used);
		msg[used] = '\0';
		if (lines < total)
			snprintf(msg + used, sizeof msg - used, "\n(%zu more errors)",
				 total - lines);
	}
	return err_field(e, ERR_INVALID, x->first_field, "%s", msg);
}

int cfg_walk(const char *text, size_t len, struct config *c, unsigned flags, struct err *e,
	     char **all)
{
	yaml_parser_t parser;
	yaml_document_t doc, extra;
	bool have_doc = false;
	struct ctx x;
	memset(&x, 0, sizeof x);
	x.file = c->path;
	x.dir = c->dir;
	x.flags = flags;
	x.doc = &doc;
	if (all)
		*all = NULL;

	if (!yaml_parser_initialize(&parser))
		return err_set(e, ERR_NOMEM, "%s: out of memory", c->path);
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
	if (!yaml_parser_load(&parser, &doc)) {
		syntax_error(&x, &parser, text, len);
		goto out;
	}
	have_doc = true;
	yaml_node_t *root = yaml_document_get_root_node(&doc);
	if (!root)
		goto out; /* an empty file: the defaults */
	if (!yaml_parser_load(&parser, &extra)) {
		syntax_error(&x, &parser, text, len);
		goto out;
	}
	yaml_node_t *second = yaml_document_get_root_node(&extra);
	if (second)
		error_plain(&x, node_pos(second), "only one YAML document is allowed");
	yaml_document_delete(&extra);
	if (second)
		goto out;
	if (is_null(root))
		goto out;
	if (root->type != YAML_MAPPING_NODE) {
		error_plain(&x, node_pos(root),
			    "the top level must be a mapping of sections (server:, storage:, ...)");
		goto out;
	}
	find_provider(&x, root);
	walk_section(&x, cfg_root_keys, root, c, 0);
	if (x.n_marks)
		qsort(x.marks, x.n_marks, sizeof *x.marks, mark_cmp);
	if (!x.n_errors)
		check_required(&x, cfg_root_keys, c, 0, (struct pos){1, 1});
	if (!x.n_errors)
		cfg_check_across(&x, c);
out:
	if (have_doc)
		yaml_document_delete(&doc);
	yaml_parser_delete(&parser);
	int rc = 0;
	if (x.n_errors) {
		rc = fill_err(e, &x);
		if (all)
			*all = buf_steal(&x.errors);
	} else {
		err_clear(e);
	}
	buf_free(&x.errors);
	buf_free(&x.path);
	free(x.marks);
	return rc;
}
