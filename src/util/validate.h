/* validate.h — table-driven validation of request bodies.
 *
 * A route describes its body as an array of struct vfield ending with {NULL}; one
 * call checks the object: unknown fields, required fields, types, bounds, allowed
 * values. The first problem is reported as ERR_INVALID with err.field set to the
 * dotted field name (prefix + name). Extraction afterwards uses plain jansson
 * getters; this module only decides whether the input is acceptable. Pure; any thread. */
#ifndef INTERVENE_UTIL_VALIDATE_H
#define INTERVENE_UTIL_VALIDATE_H

#include <jansson.h>
#include <stdbool.h>

#include "util/err.h"
#include "util/utf8.h"

enum vtype {
	V_STRING, /* min..max = length in characters (code points); 0/0 = any */
	V_INT,	  /* min..max inclusive (0/0 = any) */
	V_NUMBER, /* integer or real; min..max when min < max */
	V_BOOL,
	V_OBJECT,	/* a JSON object; max > 0: at most max bytes as canonical JSON and
			 * VALIDATE_OBJECT_DEPTH levels of nesting */
	V_STRING_ARRAY, /* array of non-empty strings; min..max = number of items */
	V_TIME,		/* RFC 3339 string */
	V_ANY,
};

#define VALIDATE_OBJECT_DEPTH 16

struct vfield {
	const char *name;
	enum vtype type;
	bool required;
	bool nullable; /* JSON null accepted (treated as absent) */
	long long min, max;
	const char *const *allowed; /* NULL-terminated list for V_STRING, or NULL */
};

/* Check obj against fields. prefix ("" or "items.") is put before field names in
 * messages. Returns 0 or ERR_INVALID with e filled. */
int validate_object(const json_t *obj, const struct vfield *fields, const char *prefix,
		    struct err *e);

/* A malloc'd copy of s with leading and trailing ASCII whitespace removed. */
char *str_trim_dup(const char *s);

#endif
