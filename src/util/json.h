/* json.h — jansson conventions of the project.
 *
 * Canonical text (compact, keys sorted, 15 significant digits for reals) is what the
 * event log stores and hashes; strict parsing rejects duplicate keys, invalid UTF-8
 * and NUL. jansson's own rule holds: *_new functions return a new reference the
 * caller owns; json_object_set_new steals its value. Any thread, as long as one
 * json_t is used by one thread at a time. */
#ifndef INTERVENE_UTIL_JSON_H
#define INTERVENE_UTIL_JSON_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "util/buf.h"
#include "util/err.h"

#define JSON_CANON_FLAGS (JSON_COMPACT | JSON_SORT_KEYS | JSON_REAL_PRECISION(15))

/* Canonical text of v; the caller frees it. Never NULL (aborts on OOM). */
char *json_canon(const json_t *v);

/* Append the canonical text of v to b. */
void json_canon_buf(const json_t *v, struct buf *b);

/* Parse text strictly (duplicate keys rejected, any value at top level).
 * Returns a new reference, or NULL with ERR_JSON and a message naming line/column. */
json_t *json_parse_strict(const char *text, size_t len, struct err *e);

/* Size limits of a JSON value taken from a client (details, metadata): its canonical
 * text at most max_bytes (0 = any), at most max_keys members in the top-level object
 * (0 = any), containers nested at most max_depth deep (the value itself is depth 1). */
struct json_bounds {
	size_t max_bytes, max_keys;
	int max_depth;
};

/* Check v against b: 0, or ERR_INVALID naming field and the limit broken. */
int json_check_bounds(const json_t *v, const struct json_bounds *b, const char *field,
		      struct err *e);

/* json_pack that cannot fail silently: a format or argument error (a bug: every
 * string passed must be valid UTF-8, see util/utf8.h) aborts with jansson's message
 * instead of returning NULL. New reference. */
json_t *jpack(const char *fmt, ...);

/* A JSON string of s (NULL → JSON null); ill-formed UTF-8 is repaired with U+FFFD
 * rather than refused, so the result is never NULL. New reference. */
json_t *jstr(const char *s);

/* Accessors that tolerate a missing key or wrong type: NULL / dflt. */
const char *json_get_str(const json_t *obj, const char *key);
int64_t json_get_int(const json_t *obj, const char *key, int64_t dflt);
bool json_get_bool(const json_t *obj, const char *key, bool dflt);

/* A string value for a RFC 3339 time in ms, or JSON null when ms == 0. New reference. */
json_t *json_time_or_null(int64_t ms);
/* A string or JSON null when s is NULL or empty. New reference. */
json_t *json_str_or_null(const char *s);

/* Writers of canonical JSON text straight into a buffer, for hot paths that must not
 * build json_t trees (list pages). They produce exactly what json_canon would. */
/* A string (valid UTF-8) escaped as jansson does, or null when s is NULL. */
void json_write_str(struct buf *b, const char *s);
/* An RFC 3339 string, or null when ms == 0. */
void json_write_time(struct buf *b, int64_t ms);
void json_write_int(struct buf *b, int64_t v);

#endif
