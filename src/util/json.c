#include "util/json.h"

#include <stdlib.h>
#include <string.h>

#include "util/time.h"

static int dump_to_buf(const char *p, size_t n, void *data)
{
	buf_append(data, p, n);
	return 0;
}

void json_canon_buf(const json_t *v, struct buf *b)
{
	json_dump_callback(v, dump_to_buf, b, JSON_CANON_FLAGS | JSON_ENCODE_ANY);
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
	return s && *s ? json_string(s) : json_null();
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
