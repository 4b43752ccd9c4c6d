/* value.c — one value of a key: text → typed value with bounds, defaults, freeing.
 *
 * Works on text without positions, so every caller (the YAML walker today, a JSON walker
 * for the runtime `tracker` setting later) gets the same rules; whoever has a position
 * adds it to the reason returned in `why`. Also the small text helpers every part of the
 * loader shares: echoing user values, lexical paths, masking URL passwords. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config/keys.h"

/* ---- text helpers ---- */

const char *cfg_enum_label(const struct enum_name *names, int v)
{
	for (; names->name; names++)
		if (names->value == v)
			return names->name;
	return "?";
}

/* A short, printable echo of a user value for error messages. */
void cfg_put_echo(struct buf *b, const char *s)
{
	buf_putc(b, '"');
	size_t n = 0;
	for (; *s && n < 40; s++, n++) {
		unsigned char ch = (unsigned char)*s;
		if (ch < 0x20 || ch == 0x7f)
			buf_printf(b, "\\x%02x", ch);
		else if (ch == '"' || ch == '\\')
			buf_printf(b, "\\%c", ch);
		else
			buf_putc(b, (char)ch);
	}
	if (*s)
		buf_puts(b, "...");
	buf_putc(b, '"');
}

/* Lexical clean-up of an absolute or relative path: "//" → "/", "/./" → "/", trailing
 * "/." dropped. ".." is kept: with symlinks it cannot be removed lexically. */
static char *normalize_path(const char *p)
{
	struct buf b = BUF_INIT;
	const char *s = p;
	if (*s == '/')
		buf_putc(&b, '/');
	while (*s) {
		while (*s == '/')
			s++;
		const char *e = strchr(s, '/');
		size_t n = e ? (size_t)(e - s) : strlen(s);
		if (n && !(n == 1 && s[0] == '.')) {
			if (b.len && b.data[b.len - 1] != '/')
				buf_putc(&b, '/');
			buf_append(&b, s, n);
		}
		s += n;
	}
	if (!b.len)
		buf_putc(&b, '.');
	return buf_steal(&b);
}

char *cfg_join_path(const char *dir, const char *rel)
{
	if (rel[0] == '/')
		return normalize_path(rel);
	struct buf b = BUF_INIT;
	buf_printf(&b, "%s/%s", dir, rel);
	char *r = normalize_path(b.data);
	buf_free(&b);
	return r;
}

/* scheme://user:password@host → scheme://user:****@host */
char *cfg_mask_url_password(const char *u)
{
	const char *auth = strstr(u, "://");
	if (!auth)
		return xstrdup(u);
	auth += 3;
	size_t alen = strcspn(auth, "/?#");
	const char *at_sign = NULL;
	for (size_t i = 0; i < alen; i++)
		if (auth[i] == '@')
			at_sign = auth + i;
	const char *colon = at_sign ? memchr(auth, ':', (size_t)(at_sign - auth)) : NULL;
	if (!colon)
		return xstrdup(u);
	struct buf b = BUF_INIT;
	buf_append(&b, u, (size_t)(colon + 1 - u));
	buf_puts(&b, "****");
	buf_puts(&b, at_sign);
	return buf_steal(&b);
}

/* ---- scalar conversion (text in, value out; no positions) ---- */

int64_t config_parse_duration(const char *s)
{
	if (!s || *s < '0' || *s > '9')
		return -1;
	int64_t n = 0;
	while (*s >= '0' && *s <= '9') {
		int d = *s++ - '0';
		if (n > (INT64_MAX - d) / 10)
			return -1;
		n = n * 10 + d;
	}
	int64_t unit;
	if (!strcmp(s, "ms"))
		unit = 1;
	else if (!strcmp(s, "s"))
		unit = SECOND;
	else if (!strcmp(s, "m"))
		unit = MINUTE;
	else if (!strcmp(s, "h"))
		unit = HOUR;
	else if (!strcmp(s, "d"))
		unit = DAY;
	else
		return -1;
	if (n > INT64_MAX / unit)
		return -1;
	return n * unit;
}

/* The largest unit that represents ms exactly, so a dump reads like the file. */
void cfg_put_duration(struct buf *b, int64_t ms)
{
	static const struct {
		int64_t unit;
		const char *suffix;
	} units[] = {{DAY, "d"}, {HOUR, "h"}, {MINUTE, "m"}, {SECOND, "s"}};
	if (ms == 0) {
		buf_puts(b, "0s");
		return;
	}
	for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
		if (ms % units[i].unit == 0) {
			buf_printf(b, "%" PRId64 "%s", ms / units[i].unit, units[i].suffix);
			return;
		}
	}
	buf_printf(b, "%" PRId64 "ms", ms);
}

bool cfg_parse_int(const char *s, int64_t *out)
{
	const char *p = s;
	if (*p == '-')
		p++;
	if (*p < '0' || *p > '9')
		return false;
	for (const char *q = p; *q; q++)
		if (*q < '0' || *q > '9')
			return false;
	errno = 0;
	char *end;
	long long v = strtoll(s, &end, 10);
	if (errno || *end)
		return false;
	*out = v;
	return true;
}

/* Decimal numbers only: strtod alone would also take "inf", "nan" and hex floats. */
bool cfg_parse_float(const char *s, double *out)
{
	const char *p = s;
	if (*p == '-' || *p == '+')
		p++;
	size_t digits = 0;
	while (*p >= '0' && *p <= '9')
		p++, digits++;
	if (*p == '.') {
		p++;
		while (*p >= '0' && *p <= '9')
			p++, digits++;
	}
	if (!digits)
		return false;
	if (*p == 'e' || *p == 'E') {
		p++;
		if (*p == '-' || *p == '+')
			p++;
		if (*p < '0' || *p > '9')
			return false;
		while (*p >= '0' && *p <= '9')
			p++;
	}
	if (*p)
		return false;
	errno = 0;
	double v = strtod(s, NULL);
	if (errno == ERANGE || !isfinite(v))
		return false;
	*out = v;
	return true;
}

static bool parse_bool(const char *s, bool *out)
{
	static const char *const yes[] = {"true", "True", "TRUE", NULL};
	static const char *const no[] = {"false", "False", "FALSE", NULL};
	for (size_t i = 0; yes[i]; i++) {
		if (!strcmp(s, yes[i]))
			return *out = true, true;
		if (!strcmp(s, no[i]))
			return *out = false, true;
	}
	return false;
}

static void put_enum_choices(struct buf *b, const struct enum_name *names)
{
	for (const struct enum_name *n = names; n->name; n++)
		buf_printf(b, "%s%s", n == names ? "" : n[1].name ? ", " : " or ", n->name);
}

void cfg_put_expected(struct buf *b, const struct key *k)
{
	switch (k->type) {
	case K_STR: buf_puts(b, "a string"); break;
	case K_BOOL: buf_puts(b, "true or false"); break;
	case K_INT: buf_puts(b, "an integer"); break;
	case K_FLOAT:
	case K_OPTFLOAT: buf_puts(b, "a number"); break;
	case K_DUR: buf_puts(b, "a duration like 500ms, 30s, 15m, 4h or 7d"); break;
	case K_ENUM:
		buf_puts(b, "one of ");
		put_enum_choices(b, k->names);
		break;
	case K_STRLIST:
	case K_LIST: buf_puts(b, "a list"); break;
	case K_SECTION:
	case K_MAP: buf_puts(b, "a mapping"); break;
	}
}

static int bad_value(const struct key *k, const char *text, struct buf *why)
{
	buf_puts(why, "expected ");
	cfg_put_expected(why, k);
	buf_puts(why, ", got ");
	cfg_put_echo(why, text);
	return -1;
}

static bool http_url_ok(const char *s)
{
	size_t skip;
	if (!strncasecmp(s, "http://", 7))
		skip = 7;
	else if (!strncasecmp(s, "https://", 8))
		skip = 8;
	else
		return false;
	if (!s[skip] || s[skip] == '/' || s[skip] == '?' || s[skip] == '#')
		return false;
	for (const char *p = s; *p; p++)
		if ((unsigned char)*p <= ' ' || *p == 0x7f)
			return false;
	return true;
}

/* The generic string rules (flags), then the key's own check. Takes ownership of *s. */
int cfg_finish_string(const char *dir, const struct key *k, char **s, struct buf *why)
{
	if ((k->flags & F_HEADER) && strpbrk(*s, "\r\n")) {
		buf_puts(why, "must not contain CR or LF (the value is sent in an HTTP header)");
		return -1;
	}
	if (!**s)
		return 0; /* emptiness is F_REQUIRED's business, checked after the walk */
	if ((k->flags & (F_URL | F_BASEURL)) && !http_url_ok(*s)) {
		char *shown = cfg_mask_url_password(*s); /* the echo must not leak a password */
		buf_puts(why, "must be an http:// or https:// URL, got ");
		cfg_put_echo(why, shown);
		free(shown);
		return -1;
	}
	if (k->flags & F_BASEURL) {
		/* Callers append paths: after a query or fragment they would not be paths. */
		if (strpbrk(*s, "?#")) {
			char *shown = cfg_mask_url_password(*s);
			buf_puts(why, "must be a base URL without ?query or #fragment (paths are "
				      "appended to it), got ");
			cfg_put_echo(why, shown);
			free(shown);
			return -1;
		}
		size_t n = strlen(*s);
		while (n > 0 && (*s)[n - 1] == '/')
			(*s)[--n] = '\0';
	}
	if ((k->flags & F_PATH) || ((k->flags & F_EXEC) && strchr(*s, '/'))) {
		char *r = cfg_join_path(dir, *s);
		free(*s);
		*s = r;
	}
	return k->check ? k->check(dir, s, why) : 0;
}

/* text → value for any scalar key type, with bounds. On success v owns any string. */
int cfg_parse_value(const char *dir, const struct key *k, const char *text, union val *v,
		    struct buf *why)
{
	switch (k->type) {
	case K_STR:
		v->s = xstrdup(text);
		if (cfg_finish_string(dir, k, &v->s, why) < 0) {
			free(v->s);
			v->s = NULL;
			return -1;
		}
		return 0;
	case K_BOOL: return parse_bool(text, &v->b) ? 0 : bad_value(k, text, why);
	case K_INT:
		if (!cfg_parse_int(text, &v->i))
			return bad_value(k, text, why);
		if (v->i < k->min || v->i > k->max) {
			buf_printf(why, "must be between %" PRId64 " and %" PRId64 ", got %" PRId64,
				   k->min, k->max, v->i);
			return -1;
		}
		return 0;
	case K_DUR:
		v->i = config_parse_duration(text);
		if (v->i < 0)
			return bad_value(k, text, why);
		if (v->i < k->min || v->i > k->max) {
			buf_puts(why, "must be between ");
			cfg_put_duration(why, k->min);
			buf_puts(why, " and ");
			cfg_put_duration(why, k->max);
			buf_printf(why, ", got %s", text);
			return -1;
		}
		return 0;
	case K_FLOAT:
	case K_OPTFLOAT:
		if (!cfg_parse_float(text, &v->f))
			return bad_value(k, text, why);
		if (v->f < k->fmin || v->f > k->fmax) {
			buf_printf(why, "must be between %.15g and %.15g, got %s", k->fmin, k->fmax,
				   text);
			return -1;
		}
		return 0;
	case K_ENUM:
		for (const struct enum_name *n = k->names; n->name; n++) {
			if (!strcmp(n->name, text)) {
				v->e = n->value;
				return 0;
			}
		}
		return bad_value(k, text, why);
	default: break;
	}
	buf_puts(why, "internal: not a scalar key");
	return -1;
}

void cfg_store_value(const struct key *k, void *base, union val *v)
{
	void *p = at(base, k->off);
	switch (k->type) {
	case K_STR: {
		char *old = get_ptr(base, k->off);
		free(old);
		set_ptr(base, k->off, v->s);
		v->s = NULL;
		break;
	}
	case K_BOOL: *(bool *)p = v->b; break;
	case K_INT:
	case K_DUR: *(int64_t *)p = v->i; break;
	case K_FLOAT: *(double *)p = v->f; break;
	case K_OPTFLOAT:
		*(struct config_threshold *)p = (struct config_threshold){true, v->f};
		break;
	case K_ENUM: *(int *)p = v->e; break;
	default: break;
	}
}

/* ---- defaults and freeing, by the table ---- */

void cfg_free_keys(const struct key *keys, void *base)
{
	for (const struct key *k = keys; k->name; k++)
		cfg_free_key(k, base);
}

void cfg_free_key(const struct key *k, void *base)
{
	switch (k->type) {
	case K_STR:
		free(get_ptr(base, k->off));
		set_ptr(base, k->off, NULL);
		break;
	case K_STRLIST: {
		char **list = get_ptr(base, k->off);
		for (size_t i = 0; list && list[i]; i++)
			free(list[i]);
		free(list);
		set_ptr(base, k->off, NULL);
		*count_of(base, k) = 0;
		break;
	}
	case K_SECTION: cfg_free_keys(k->sub, base); break;
	case K_MAP:
	case K_LIST: {
		char *arr = get_ptr(base, k->off);
		size_t n = *count_of(base, k);
		for (size_t i = 0; i < n; i++) {
			void *eb = arr + i * k->coll->elem_size;
			if (k->type == K_MAP)
				free(get_ptr(eb, k->coll->name_off));
			cfg_free_key(k->coll->elem, eb);
		}
		free(arr);
		set_ptr(base, k->off, NULL);
		*count_of(base, k) = 0;
		break;
	}
	default: break;
	}
}

void cfg_apply_defaults(const char *dir, const struct key *keys, void *base, bool zero)
{
	for (const struct key *k = keys; k->name; k++)
		cfg_apply_default(dir, k, base, zero);
}

static void __attribute__((noreturn))
bad_table(const struct key *k, const char *text, const char *why)
{
	fprintf(stderr, "intervene: bad built-in default for %s (\"%s\"): %s\n", k->name, text,
		why);
	abort();
}

static void set_from_text(const char *dir, const struct key *k, void *base, const char *text)
{
	union val v;
	struct buf why = BUF_INIT;
	if (cfg_parse_value(dir, k, text, &v, &why) < 0)
		bad_table(k, text, buf_cstr(&why));
	cfg_store_value(k, base, &v);
	buf_free(&why);
}

/* Fill a key with its default (zero: with empty/zero values instead). Assumes the key
 * holds nothing that needs freeing. */
void cfg_apply_default(const char *dir, const struct key *k, void *base, bool zero)
{
	switch (k->type) {
	case K_SECTION: cfg_apply_defaults(dir, k->sub, base, zero); return;
	case K_STRLIST:
		set_ptr(base, k->off, xcalloc(1, sizeof(char *)));
		*count_of(base, k) = 0;
		return;
	case K_LIST:
	case K_MAP: {
		set_ptr(base, k->off, NULL);
		*count_of(base, k) = 0;
		const char *const *d = k->coll->defaults;
		if (zero || !d)
			return;
		size_t n = 0;
		while (d[2 * n])
			n++;
		char *arr = xcalloc(n, k->coll->elem_size);
		for (size_t i = 0; i < n; i++) {
			void *eb = arr + i * k->coll->elem_size;
			set_ptr(eb, k->coll->name_off, xstrdup(d[2 * i]));
			cfg_apply_default(dir, k->coll->elem, eb, false);
			set_from_text(dir, k->coll->elem, eb, d[2 * i + 1]);
		}
		set_ptr(base, k->off, arr);
		*count_of(base, k) = n;
		return;
	}
	default: break;
	}
	const char *text = zero ? NULL : k->def;
	if (text) {
		set_from_text(dir, k, base, text);
		return;
	}
	union val v;
	memset(&v, 0, sizeof v);
	if (k->type == K_STR)
		v.s = xstrdup("");
	if (k->type == K_OPTFLOAT)
		*(struct config_threshold *)at(base, k->off) = (struct config_threshold){false, 0};
	else
		cfg_store_value(k, base, &v);
}
