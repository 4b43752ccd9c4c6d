/* section.c — one section of the configuration from and to JSON, for the runtime
 * settings (SPEC §5.3: `PUT /api/settings/tracker` takes a tracker block).
 *
 * In: JSON is YAML, so a JSON value is written out as a YAML flow document
 * `<section>: {...}` and read by the walker with the file's own key table, defaults
 * and checks — there is no second schema to drift. Every string is written
 * double-quoted with everything outside printable ASCII escaped, so no character of a
 * value can end the scalar, be folded as a line break (NEL, U+2028, U+2029) or be
 * refused by libyaml's reader (C1 controls, U+FFFE): the walker sees exactly the text
 * the client sent. JSON null is YAML null, which the walker takes as "not given".
 *
 * Out: a section as the JSON the loader takes back — the same tables, every key. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/keys.h"
#include "config/sections.h"
#include "util/json.h"

/* ---- JSON → YAML flow text ---- */

/* The code point at s[*i] (valid UTF-8, as jansson keeps it); advances *i. An
 * ill-formed byte decodes as U+FFFD, so the output stays well-formed regardless. */
static unsigned long next_cp(const unsigned char *s, size_t n, size_t *i)
{
	unsigned char c = s[(*i)++];
	size_t more = c >= 0xF0 ? 3 : c >= 0xE0 ? 2 : c >= 0xC0 ? 1 : 0;
	if (c < 0x80)
		return c;
	if (!more || *i + more > n)
		return 0xFFFD;
	unsigned long cp = c & (0x3F >> more);
	for (size_t k = 0; k < more; k++) {
		if ((s[*i] & 0xC0) != 0x80)
			return 0xFFFD;
		cp = (cp << 6) | (s[(*i)++] & 0x3F);
	}
	return cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF) ? 0xFFFD : cp;
}

static void put_quoted(struct buf *b, const char *s, size_t n)
{
	buf_putc(b, '"');
	for (size_t i = 0; i < n;) {
		unsigned long cp = next_cp((const unsigned char *)s, n, &i);
		if (cp == '"' || cp == '\\')
			buf_printf(b, "\\%c", (char)cp);
		else if (cp >= 0x20 && cp < 0x7F)
			buf_putc(b, (char)cp);
		else if (cp <= 0xFFFF)
			buf_printf(b, "\\u%04lX", cp);
		else
			buf_printf(b, "\\U%08lX", cp);
	}
	buf_putc(b, '"');
}

static void put_flow(struct buf *b, const json_t *v)
{
	const char *k;
	const json_t *m;
	size_t i;
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		buf_putc(b, '{');
		i = 0;
		json_object_foreach((json_t *)v, k, m)
		{
			if (i++)
				buf_puts(b, ", ");
			put_quoted(b, k, strlen(k));
			buf_puts(b, ": ");
			put_flow(b, m);
		}
		buf_putc(b, '}');
		break;
	case JSON_ARRAY:
		buf_putc(b, '[');
		json_array_foreach(v, i, m)
		{
			if (i)
				buf_puts(b, ", ");
			put_flow(b, m);
		}
		buf_putc(b, ']');
		break;
	case JSON_STRING: put_quoted(b, json_string_value(v), json_string_length(v)); break;
	case JSON_INTEGER: buf_printf(b, "%" JSON_INTEGER_FORMAT, json_integer_value(v)); break;
	case JSON_REAL: buf_printf(b, "%.17g", json_real_value(v)); break;
	case JSON_TRUE: buf_puts(b, "true"); break;
	case JSON_FALSE: buf_puts(b, "false"); break;
	case JSON_NULL: buf_puts(b, "null"); break;
	}
}

static const struct key *root_key(const char *name)
{
	for (const struct key *k = cfg_root_keys; k->name; k++)
		if (!strcmp(k->name, name))
			return k;
	return NULL;
}

int config_load_section_json(const char *name, const json_t *value, const char *dir,
			     struct config **out, struct err *e)
{
	*out = NULL;
	if (!root_key(name))
		return err_set(e, ERR_INVALID, "no configuration section %s", name);
	struct buf text = BUF_INIT;
	put_quoted(&text, name, strlen(name));
	buf_puts(&text, ": ");
	put_flow(&text, value);
	buf_putc(&text, '\n');
	struct config *c = xcalloc(1, sizeof *c);
	c->path = xstrdup(name);
	c->dir = xstrdup(dir);
	cfg_apply_defaults(c->dir, cfg_root_keys, c, false);
	int rc = cfg_walk(text.data, text.len, c, CFG_WALK_LITERAL | CFG_WALK_NO_POS, e, NULL);
	buf_free(&text);
	if (rc) {
		config_free(c);
		return rc;
	}
	*out = c;
	return 0;
}

/* ---- a section → JSON ---- */

static json_t *key_json(const struct key *k, const void *base);

static json_t *keys_json(const struct key *keys, const void *base)
{
	json_t *o = json_object();
	for (const struct key *k = keys; k->name; k++) {
		json_t *v = key_json(k, base);
		if (v)
			json_object_set_new(o, k->name, v);
	}
	return o;
}

/* The value of k in base as the loader reads it back; NULL for a key the file leaves
 * out (an unset threshold, an F_OPTIONAL zero), as config_dump does. */
static json_t *key_json(const struct key *k, const void *base)
{
	if (k->type == K_SECTION) /* its keys live in base itself: k->off is not an offset */
		return keys_json(k->sub, base);
	const void *p = at(base, k->off);
	switch (k->type) {
	case K_STR: return jstr(get_ptr(base, k->off));
	case K_BOOL: return json_boolean(*(const bool *)p);
	case K_INT:
		if ((k->flags & F_OPTIONAL) && !*(const int64_t *)p)
			return NULL;
		return json_integer(*(const int64_t *)p);
	case K_DUR: {
		if ((k->flags & F_OPTIONAL) && !*(const int64_t *)p)
			return NULL;
		struct buf b = BUF_INIT;
		cfg_put_duration(&b, *(const int64_t *)p);
		json_t *s = jstr(b.data);
		buf_free(&b);
		return s;
	}
	case K_FLOAT: return json_real(*(const double *)p);
	case K_OPTFLOAT: {
		const struct config_threshold *t = p;
		return t->set ? json_real(t->value) : NULL;
	}
	case K_ENUM: return jstr(cfg_enum_label(k->names, *(const int *)p));
	case K_STRLIST: {
		json_t *a = json_array();
		char **list = get_ptr(base, k->off);
		for (size_t i = 0; i < *count_of(base, k); i++)
			json_array_append_new(a, jstr(list[i]));
		return a;
	}
	case K_SECTION: break;
	case K_MAP:
	case K_LIST: {
		const struct coll *co = k->coll;
		const char *arr = get_ptr(base, k->off);
		json_t *c = k->type == K_MAP ? json_object() : json_array();
		for (size_t i = 0; i < *count_of(base, k); i++) {
			const void *eb = arr + i * co->elem_size;
			json_t *v = key_json(co->elem, eb);
			if (!v)
				v = json_null();
			if (k->type == K_MAP)
				json_object_set_new(c, (const char *)get_ptr(eb, co->name_off), v);
			else
				json_array_append_new(c, v);
		}
		return c;
	}
	}
	return NULL;
}

json_t *config_section_json(const struct config *c, const char *name)
{
	const struct key *k = root_key(name);
	return k ? key_json(k, c) : NULL;
}

bool config_provider_parse(const char *name, enum config_provider *out)
{
	for (const struct enum_name *p = cfg_providers; p->name; p++) {
		if (!strcmp(p->name, name)) {
			*out = (enum config_provider)p->value;
			return true;
		}
	}
	return false;
}
