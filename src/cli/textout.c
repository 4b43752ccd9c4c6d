/* textout.c — see textout.h. */
#include "cli/textout.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "util/time.h"

struct table {
	const struct table_col *cols;
	size_t ncols;
	char **cells;
	size_t n, cap;
};

/* Code points of valid UTF-8 s. */
static size_t cp_len(const char *s)
{
	size_t n = 0;
	for (; *s; s++)
		n += ((unsigned char)*s & 0xC0) != 0x80;
	return n;
}

/* Length of the valid, non-control UTF-8 sequence at p, or 0. */
static size_t seq_len(const unsigned char *p)
{
	unsigned char c = p[0];
	if (c >= 0x20 && c < 0x7f)
		return 1;
	size_t n = c >= 0xC2 && c <= 0xDF   ? 2
		   : c >= 0xE0 && c <= 0xEF ? 3
		   : c >= 0xF0 && c <= 0xF4 ? 4
					    : 0;
	for (size_t i = 1; i < n; i++)
		if ((p[i] & 0xC0) != 0x80)
			return 0;
	if (n == 2 && c == 0xC2 && p[1] < 0xA0)
		return 0; /* C1 controls */
	if (n == 3 && ((c == 0xE0 && p[1] < 0xA0) || (c == 0xED && p[1] >= 0xA0)))
		return 0; /* overlong, surrogates */
	if (n == 4 && ((c == 0xF0 && p[1] < 0x90) || (c == 0xF4 && p[1] >= 0x90)))
		return 0;
	return n;
}

void text_safe(struct buf *b, const char *s, size_t max)
{
	if (!s)
		return;
	struct buf tmp = BUF_INIT;
	const unsigned char *p = (const unsigned char *)s;
	while (*p) {
		size_t n = seq_len(p);
		if (n) {
			buf_append(&tmp, p, n);
			p += n;
		} else {
			/* A C1 control is one character: one '?', not one per byte. */
			buf_putc(&tmp, '?');
			p += (p[0] == 0xC2 && p[1] >= 0x80 && p[1] <= 0x9F) ? 2 : 1;
		}
	}
	const char *t = buf_cstr(&tmp);
	if (!max || cp_len(t) <= max) {
		buf_puts(b, t);
	} else {
		/* keep max-1 code points, then the ellipsis */
		size_t kept = 0, i = 0;
		for (; t[i]; i++) {
			if (((unsigned char)t[i] & 0xC0) != 0x80 && kept++ == max - 1)
				break;
		}
		buf_append(b, t, i);
		buf_puts(b, "…");
	}
	buf_free(&tmp);
}

struct table *table_new(const struct table_col *cols, size_t n)
{
	struct table *t = xcalloc(1, sizeof *t);
	t->cols = cols;
	t->ncols = n;
	return t;
}

void table_free(struct table *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->n; i++)
		free(t->cells[i]);
	free(t->cells);
	free(t);
}

void table_add(struct table *t, const char *cell)
{
	struct buf b = BUF_INIT;
	text_safe(&b, cell && *cell ? cell : "-", t->cols[t->n % t->ncols].max);
	if (t->n == t->cap) {
		t->cap = t->cap ? t->cap * 2 : 64;
		t->cells = xrealloc(t->cells, t->cap * sizeof *t->cells);
	}
	t->cells[t->n++] = buf_steal(&b);
}

void table_addf(struct table *t, const char *fmt, ...)
{
	struct buf b = BUF_INIT;
	va_list ap;
	va_start(ap, fmt);
	buf_vprintf(&b, fmt, ap);
	va_end(ap);
	table_add(t, buf_cstr(&b));
	buf_free(&b);
}

static void put_cell(FILE *f, const char *s, size_t width, bool last)
{
	fputs(s, f);
	if (last)
		return;
	for (size_t w = cp_len(s); w < width + 2; w++)
		fputc(' ', f);
}

void table_print(const struct table *t, FILE *f)
{
	size_t *w = xcalloc(t->ncols, sizeof *w);
	for (size_t c = 0; c < t->ncols; c++)
		w[c] = cp_len(t->cols[c].head);
	for (size_t i = 0; i < t->n; i++) {
		size_t l = cp_len(t->cells[i]);
		if (l > w[i % t->ncols])
			w[i % t->ncols] = l;
	}
	for (size_t c = 0; c < t->ncols; c++)
		put_cell(f, t->cols[c].head, w[c], c + 1 == t->ncols);
	fputc('\n', f);
	for (size_t i = 0; i < t->n; i++) {
		size_t c = i % t->ncols;
		put_cell(f, t->cells[i], w[c], c + 1 == t->ncols);
		if (c + 1 == t->ncols)
			fputc('\n', f);
	}
	if (t->n % t->ncols)
		fputc('\n', f);
	free(w);
}

void table_print_items(FILE *f, const json_t *items, const struct table_col *cols, size_t n,
		       const char *what, table_row_fn row)
{
	if (!json_array_size(items)) {
		fprintf(f, "no %s\n", what);
		return;
	}
	struct table *t = table_new(cols, n);
	int64_t now = time_now_ms();
	size_t i;
	const json_t *item;
	json_array_foreach(items, i, item) row(t, item, now);
	table_print(t, f);
	table_free(t);
}

static const struct {
	int64_t ms;
	char unit;
} units[] = {{86400000, 'd'}, {3600000, 'h'}, {60000, 'm'}, {1000, 's'}};

/* The unit a duration is shown in: the largest that fits, at least seconds. */
static size_t unit_of(int64_t ms)
{
	size_t i = 0;
	while (i + 1 < sizeof units / sizeof units[0] && ms < units[i].ms)
		i++;
	return i;
}

void text_duration(int64_t ms, char out[24])
{
	if (ms < 0)
		ms = 0;
	size_t u = unit_of(ms);
	snprintf(out, 24, "%lld%c", (long long)(ms / units[u].ms), units[u].unit);
}

void text_age(const char *t, int64_t now_ms, bool ago, char out[32])
{
	int64_t ms;
	if (!t || !time_parse_ms(t, &ms)) {
		snprintf(out, 32, "-");
		return;
	}
	char d[24];
	if (ms > now_ms) {
		/* a deadline: to the nearest unit, so a fresh 4h silence reads "in 4h" */
		int64_t left = ms - now_ms;
		text_duration(left + units[unit_of(left)].ms / 2, d);
		snprintf(out, 32, "in %s", d);
		return;
	}
	text_duration(now_ms - ms, d);
	snprintf(out, 32, "%s%s", d, ago ? " ago" : "");
}

static bool all_scalars(const json_t *a)
{
	size_t i;
	const json_t *v;
	json_array_foreach(a, i, v)
	{
		if (json_is_object(v) || json_is_array(v))
			return false;
	}
	return true;
}

void text_scalar(struct buf *b, const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_STRING: buf_puts(b, json_string_value(v)); break;
	case JSON_INTEGER: buf_printf(b, "%lld", (long long)json_integer_value(v)); break;
	case JSON_REAL: buf_printf(b, "%.15g", json_real_value(v)); break;
	case JSON_TRUE: buf_puts(b, "true"); break;
	case JSON_FALSE: buf_puts(b, "false"); break;
	case JSON_NULL: buf_puts(b, "-"); break;
	case JSON_ARRAY:
		if (all_scalars(v)) {
			size_t i;
			const json_t *x;
			if (!json_array_size(v))
				buf_puts(b, "-");
			json_array_foreach(v, i, x)
			{
				if (i)
					buf_puts(b, ", ");
				text_scalar(b, x);
			}
			break;
		}
		/* fall through */
	case JSON_OBJECT: {
		char *s = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS | JSON_REAL_PRECISION(15));
		buf_puts(b, s ? s : "?");
		free(s);
		break;
	}
	}
}

void text_field_default(struct buf *b, const json_t *v, int64_t now_ms)
{
	if ((json_is_object(v) && json_object_size(v)) || (json_is_array(v) && !all_scalars(v))) {
		/* below the key, indented; json_dumps escapes control characters */
		char *s = json_dumps(v, JSON_INDENT(2) | JSON_SORT_KEYS | JSON_REAL_PRECISION(15));
		buf_putc(b, '\n');
		for (const char *p = s ? s : "?"; *p;) {
			const char *nl = strchr(p, '\n');
			size_t n = nl ? (size_t)(nl - p) : strlen(p);
			buf_puts(b, "  ");
			buf_append(b, p, n);
			if (nl)
				buf_putc(b, '\n');
			p += n + (nl ? 1 : 0);
		}
		free(s);
		return;
	}
	text_scalar(b, v);
	int64_t ms;
	if (json_is_string(v) && time_parse_ms(json_string_value(v), &ms)) {
		char age[32];
		text_age(json_string_value(v), now_ms, true, age);
		buf_printf(b, " (%s)", age);
	}
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void put_field(FILE *f, const char *key, const json_t *v, text_field_fn fmt, size_t width,
		      int64_t now_ms)
{
	struct buf raw = BUF_INIT, safe = BUF_INIT;
	(fmt ? fmt : text_field_default)(&raw, v, now_ms);
	/* keep the newlines of pretty-printed values, neutralise everything else */
	for (const char *p = buf_cstr(&raw); *p;) {
		const char *nl = strchr(p, '\n');
		size_t n = nl ? (size_t)(nl - p) : strlen(p);
		char *line = xstrndup(p, n);
		text_safe(&safe, line, 0);
		free(line);
		if (nl)
			buf_putc(&safe, '\n');
		p += n + (nl ? 1 : 0);
	}
	if (safe.len && safe.data[0] == '\n') /* a block below the key: no padding */
		fprintf(f, "%s:%s\n", key, safe.data);
	else
		fprintf(f, "%s:%*s%s\n", key, (int)(width - strlen(key) + 1), "", buf_cstr(&safe));
	buf_free(&raw);
	buf_free(&safe);
}

void text_fields(FILE *f, const json_t *obj, const struct text_field *order, int64_t now_ms)
{
	size_t width = 0, n_rest = 0;
	const char *k;
	const json_t *v;
	const char **rest = xcalloc(json_object_size(obj) + 1, sizeof *rest);
	json_object_foreach((json_t *)obj, k, v)
	{
		bool listed = false;
		for (const struct text_field *o = order; o->key && !listed; o++)
			listed = !strcmp(o->key, k);
		if (!listed)
			rest[n_rest++] = k;
		if (strlen(k) > width)
			width = strlen(k);
	}
	qsort(rest, n_rest, sizeof *rest, cmp_str);
	for (const struct text_field *o = order; o->key; o++)
		if ((v = json_object_get(obj, o->key)))
			put_field(f, o->key, v, o->fmt, width, now_ms);
	for (size_t i = 0; i < n_rest; i++)
		put_field(f, rest[i], json_object_get(obj, rest[i]), NULL, width, now_ms);
	free(rest);
}
