/* dump.c — the effective configuration written back as YAML (`intervene config check`).
 *
 * Walks the same key tables as the loader, so every key appears, in table order, and
 * what is written loads back to the same configuration: strings are quoted only where a
 * YAML reader would take them for something else, durations use the largest exact unit,
 * secrets and URL passwords are masked. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/keys.h"
#include "config/sections.h"

static bool looks_typed(const char *s)
{
	static const char *const words[] = {"~",    "null",  "Null",  "NULL",  "true", "True",
					    "TRUE", "false", "False", "FALSE", "yes",  "Yes",
					    "YES",  "no",    "No",    "NO",    "on",   "On",
					    "ON",   "off",   "Off",   "OFF",   NULL};
	for (size_t i = 0; words[i]; i++)
		if (!strcmp(s, words[i]))
			return true;
	double d;
	int64_t i64;
	return cfg_parse_float(s, &d) || cfg_parse_int(s, &i64);
}

/* Plain when that reads back as the same string in any YAML reader, else double-quoted. */
static void put_yaml_string(struct buf *b, const char *s)
{
	static const char first[] =
		"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_./";
	static const char rest[] = ":@+=%*-";
	size_t n = strlen(s), ok = 0;
	while (ok < n && (strchr(first, s[ok]) || strchr(rest, s[ok])))
		ok++;
	bool plain = n > 0 && ok == n && strchr(first, s[0]) && s[n - 1] != ':' && !looks_typed(s);
	if (plain) {
		buf_puts(b, s);
		return;
	}
	buf_putc(b, '"');
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		switch (*p) {
		case '"': buf_puts(b, "\\\""); break;
		case '\\': buf_puts(b, "\\\\"); break;
		case '\n': buf_puts(b, "\\n"); break;
		case '\r': buf_puts(b, "\\r"); break;
		case '\t': buf_puts(b, "\\t"); break;
		default:
			if (*p < 0x20 || *p == 0x7f)
				buf_printf(b, "\\x%02x", *p);
			else
				buf_putc(b, (char)*p);
		}
	}
	buf_putc(b, '"');
}

static bool omitted(const struct key *k, const void *base)
{
	if (k->type == K_OPTFLOAT)
		return !((const struct config_threshold *)at(base, k->off))->set;
	if (k->flags & F_OPTIONAL)
		return *(const int64_t *)at(base, k->off) == 0;
	return false;
}

static bool all_omitted(const struct key *keys, const void *base)
{
	for (const struct key *k = keys; k->name; k++)
		if (!omitted(k, base))
			return false;
	return true;
}

static void put_scalar(struct buf *b, const struct key *k, const void *base)
{
	const void *p = at(base, k->off);
	switch (k->type) {
	case K_STR: {
		const char *s = get_ptr(base, k->off);
		if ((k->flags & F_SECRET) && *s) {
			buf_puts(b, "\"****\"");
		} else if (k->flags & (F_URL | F_BASEURL | F_DBURL)) {
			char *m = cfg_mask_url_password(s);
			put_yaml_string(b, m);
			free(m);
		} else {
			put_yaml_string(b, s);
		}
		break;
	}
	case K_BOOL: buf_puts(b, *(const bool *)p ? "true" : "false"); break;
	case K_INT: buf_printf(b, "%" PRId64, *(const int64_t *)p); break;
	case K_DUR: cfg_put_duration(b, *(const int64_t *)p); break;
	case K_FLOAT: buf_printf(b, "%.15g", *(const double *)p); break;
	case K_OPTFLOAT: buf_printf(b, "%.15g", ((const struct config_threshold *)p)->value); break;
	case K_ENUM: buf_puts(b, cfg_enum_label(k->names, *(const int *)p)); break;
	default: break;
	}
}

/* dash >= 0: the first line is a list item starting at column dash. */
static void dump_keys(struct buf *b, const struct key *keys, const void *base, int indent,
		      int dash);

static void line_start(struct buf *b, int indent, int *dash)
{
	if (*dash >= 0) {
		buf_printf(b, "%*s- ", *dash, "");
		*dash = -1;
	} else {
		buf_printf(b, "%*s", indent, "");
	}
}

static void dump_value(struct buf *b, const struct key *k, const void *base, int indent)
{
	switch (k->type) {
	case K_SECTION:
		if (all_omitted(k->sub, base)) {
			buf_puts(b, " {}\n");
		} else {
			buf_puts(b, "\n");
			dump_keys(b, k->sub, base, indent + 2, -1);
		}
		break;
	case K_STRLIST: {
		char **list = get_ptr(base, k->off);
		buf_puts(b, " [");
		for (size_t i = 0; i < *count_of(base, k); i++) {
			if (i)
				buf_puts(b, ", ");
			put_yaml_string(b, list[i]);
		}
		buf_puts(b, "]\n");
		break;
	}
	case K_MAP:
	case K_LIST: {
		const struct coll *co = k->coll;
		const char *arr = get_ptr(base, k->off);
		size_t n = *count_of(base, k);
		if (!n) {
			buf_puts(b, k->type == K_MAP ? " {}\n" : " []\n");
			break;
		}
		buf_puts(b, "\n");
		for (size_t i = 0; i < n; i++) {
			const void *eb = arr + i * co->elem_size;
			if (k->type == K_LIST) {
				dump_keys(b, co->elem->sub, eb, indent + 4, indent + 2);
				continue;
			}
			buf_printf(b, "%*s", indent + 2, "");
			put_yaml_string(b, get_ptr(eb, co->name_off));
			buf_putc(b, ':');
			dump_value(b, co->elem, eb, indent + 2);
		}
		break;
	}
	default:
		buf_putc(b, ' ');
		put_scalar(b, k, base);
		buf_putc(b, '\n');
		break;
	}
}

static void dump_keys(struct buf *b, const struct key *keys, const void *base, int indent, int dash)
{
	for (const struct key *k = keys; k->name; k++) {
		if (omitted(k, base))
			continue;
		line_start(b, indent, &dash);
		buf_printf(b, "%s:", k->name);
		dump_value(b, k, base, indent);
	}
}

/* ---- keys no code uses yet ---- */

struct pending {
	char *path;	     /* "server.web", or "watcher.*" for a section or map */
	const char *feature; /* NULL once written */
};

static void add_pending(struct pending **v, size_t *n, const char *prefix, const struct key *k)
{
	struct buf p = BUF_INIT;
	buf_printf(&p, "%s%s%s%s", prefix, *prefix ? "." : "", k->name,
		   is_scalar_type(k->type) || k->type == K_STRLIST ? "" : ".*");
	*v = xrealloc(*v, (*n + 1) * sizeof **v);
	(*v)[(*n)++] = (struct pending){buf_steal(&p), k->later};
}

/* The rows under k (k itself included) that wait for a feature, in table order. */
static void find_pending(const struct key *k, const char *prefix, struct pending **v, size_t *n)
{
	if (k->later) {
		add_pending(v, n, prefix, k);
		return;
	}
	if (k->type != K_SECTION)
		return;
	struct buf p = BUF_INIT;
	buf_printf(&p, "%s%s%s", prefix, *prefix ? "." : "", k->name);
	for (const struct key *s = k->sub; s->name; s++)
		find_pending(s, p.data, v, n);
	buf_free(&p);
}

/* One line per section and feature: a reader of `config check` must not take a key
 * that is accepted for a setting that already works. */
static void put_notes(struct buf *b)
{
	for (const struct key *r = cfg_root_keys; r->name; r++) {
		struct pending *v = NULL;
		size_t n = 0;
		find_pending(r, "", &v, &n);
		for (size_t i = 0; i < n; i++) {
			if (!v[i].feature)
				continue;
			const char *feature = v[i].feature;
			size_t total = 0, done = 0;
			for (size_t j = i; j < n; j++)
				total += v[j].feature && !strcmp(v[j].feature, feature);
			buf_puts(b, "# note: ");
			for (size_t j = i; j < n; j++) {
				if (!v[j].feature || strcmp(v[j].feature, feature))
					continue;
				buf_printf(b, "%s%s",
					   !done	       ? ""
					   : done + 1 == total ? " and "
							       : ", ",
					   v[j].path);
				v[j].feature = NULL;
				done++;
			}
			buf_printf(
				b,
				" %s validated but take%s effect with %s (not in this version)\n",
				total > 1 ? "are" : "is", total > 1 ? "" : "s", feature);
		}
		for (size_t i = 0; i < n; i++)
			free(v[i].path);
		free(v);
	}
}

void config_dump(const struct config *c, FILE *f)
{
	struct buf b = BUF_INIT;
	dump_keys(&b, cfg_root_keys, c, 0, -1);
	put_notes(&b);
	fwrite(buf_cstr(&b), 1, b.len, f);
	buf_free(&b);
}
