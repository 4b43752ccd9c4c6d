#include "util/json.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/log.h"
#include "util/time.h"
#include "util/utf8.h"

static int dump_to_buf(const char *p, size_t n, void *data)
{
	buf_append(data, p, n);
	return 0;
}

void json_canon_buf(const json_t *v, struct buf *b)
{
	/* A NULL here is a constructor's failure that someone ignored: text "" in its
	 * place would be stored, hashed and served as if it were the value. */
	if (!v || json_dump_callback(v, dump_to_buf, b, JSON_CANON_FLAGS | JSON_ENCODE_ANY)) {
		log_error("cannot serialise a JSON value", "value=%s", v ? "present" : "NULL");
		abort();
	}
}

char *json_canon(const json_t *v)
{
	struct buf b = BUF_INIT;
	json_canon_buf(v, &b);
	return buf_steal(&b);
}

json_t *json_parse_strict(const char *text, size_t len, struct err *e)
{
	json_error_t je;
	json_t *v = json_loadb(text, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &je);
	if (!v)
		err_set(e, ERR_JSON, "malformed JSON at line %d, column %d: %s", je.line, je.column,
			je.text);
	return v;
}

const char *json_get_str(const json_t *obj, const char *key)
{
	const json_t *v = json_object_get(obj, key);
	return json_is_string(v) ? json_string_value(v) : NULL;
}

int64_t json_get_int(const json_t *obj, const char *key, int64_t dflt)
{
	const json_t *v = json_object_get(obj, key);
	return json_is_integer(v) ? (int64_t)json_integer_value(v) : dflt;
}

bool json_get_bool(const json_t *obj, const char *key, bool dflt)
{
	const json_t *v = json_object_get(obj, key);
	return json_is_boolean(v) ? json_is_true(v) : dflt;
}

json_t *json_time_or_null(int64_t ms)
{
	if (!ms)
		return json_null();
	char t[TIME_RFC3339_LEN];
	time_format_ms(ms, t);
	return json_string(t);
}

json_t *json_str_or_null(const char *s)
{
	return s && *s ? jstr(s) : json_null();
}

void json_write_str(struct buf *b, const char *s)
{
	if (!s) {
		buf_puts(b, "null");
		return;
	}
	buf_putc(b, '"');
	const char *run = s;
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;
		if (ch >= 0x20 && ch != '"' && ch != '\\')
			continue;
		buf_append(b, run, (size_t)(s - run));
		run = s + 1;
		switch (ch) {
		case '"': buf_puts(b, "\\\""); break;
		case '\\': buf_puts(b, "\\\\"); break;
		case '\b': buf_puts(b, "\\b"); break;
		case '\f': buf_puts(b, "\\f"); break;
		case '\n': buf_puts(b, "\\n"); break;
		case '\r': buf_puts(b, "\\r"); break;
		case '\t': buf_puts(b, "\\t"); break;
		default: buf_printf(b, "\\u%04X", ch); break;
		}
	}
	buf_append(b, run, (size_t)(s - run));
	buf_putc(b, '"');
}

void json_write_time(struct buf *b, int64_t ms)
{
	if (!ms) {
		buf_puts(b, "null");
		return;
	}
	char t[TIME_RFC3339_LEN];
	time_format_ms(ms, t);
	buf_putc(b, '"');
	buf_append(b, t, TIME_RFC3339_LEN - 1);
	buf_putc(b, '"');
}

void json_write_int(struct buf *b, int64_t v)
{
	char n[24];
	char *p = n + sizeof n;
	uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
	do
		*--p = (char)('0' + u % 10);
	while (u /= 10);
	if (v < 0)
		*--p = '-';
	buf_append(b, p, (size_t)(n + sizeof n - p));
}

static int depth_of(const json_t *v, int limit)
{
	if (limit < 0)
		return 0; /* deeper than we care to look */
	int d = 0;
	if (json_is_object(v)) {
		const char *k;
		json_t *m;
		json_object_foreach((json_t *)v, k, m)
		{
			int dm = depth_of(m, limit - 1);
			if (dm > d)
				d = dm;
		}
		return d + 1;
	}
	if (json_is_array(v)) {
		size_t i;
		json_t *m;
		json_array_foreach(v, i, m)
		{
			int dm = depth_of(m, limit - 1);
			if (dm > d)
				d = dm;
		}
		return d + 1;
	}
	return 0;
}

int json_check_bounds(const json_t *v, const struct json_bounds *b, const char *field,
		      struct err *e)
{
	if (b->max_keys && json_is_object(v) && json_object_size(v) > b->max_keys)
		return err_field(e, ERR_INVALID, field, "%s may have at most %zu keys (has %zu)",
				 field, b->max_keys, json_object_size(v));
	if (b->max_depth && depth_of(v, b->max_depth + 1) > b->max_depth)
		return err_field(e, ERR_INVALID, field, "%s may be nested at most %d levels deep",
				 field, b->max_depth);
	if (b->max_bytes) {
		size_t n = json_dumpb(v, NULL, 0, JSON_CANON_FLAGS | JSON_ENCODE_ANY);
		if (n > b->max_bytes)
			return err_field(e, ERR_INVALID, field,
					 "%s may be at most %zu bytes as JSON (is %zu)", field,
					 b->max_bytes, n);
	}
	return 0;
}

json_t *jpack(const char *fmt, ...)
{
	json_error_t je;
	va_list ap;
	va_start(ap, fmt);
	json_t *v = json_vpack_ex(&je, 0, fmt, ap);
	va_end(ap);
	if (!v) {
		log_error("json_pack failed", "format=\"%s\" error=\"%s\"", fmt, je.text);
		abort();
	}
	return v;
}

json_t *jstr(const char *s)
{
	if (!s)
		return json_null();
	size_t n = strlen(s);
	if (utf8_valid(s, n))
		return json_stringn_nocheck(s, n);
	struct buf b = BUF_INIT;
	utf8_repair(&b, s, n);
	json_t *v = json_stringn_nocheck(b.data, b.len);
	buf_free(&b);
	return v;
}
