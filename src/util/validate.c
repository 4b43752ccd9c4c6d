#include "util/validate.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "util/buf.h"
#include "util/json.h"
#include "util/time.h"

char *str_trim_dup(const char *s)
{
	while (*s && isspace((unsigned char)*s))
		s++;
	size_t n = strlen(s);
	while (n && isspace((unsigned char)s[n - 1]))
		n--;
	return xstrndup(s, n);
}

static const char *type_word(enum vtype t)
{
	switch (t) {
	case V_STRING: return "a string";
	case V_INT: return "an integer";
	case V_NUMBER: return "a number";
	case V_BOOL: return "a boolean";
	case V_OBJECT: return "an object";
	case V_STRING_ARRAY: return "an array of strings";
	case V_TIME: return "an RFC 3339 timestamp";
	default: return "a value";
	}
}

static int check_field(const json_t *v, const struct vfield *f, const char *name, struct err *e)
{
	switch (f->type) {
	case V_STRING:
	case V_TIME:
		if (!json_is_string(v))
			break;
		if (f->type == V_TIME) {
			int64_t ms;
			if (!time_parse_ms(json_string_value(v), &ms))
				return err_field(e, ERR_INVALID, name, "%s must be %s", name,
						 type_word(f->type));
			return 0;
		}
		if (f->min || f->max) {
			size_t n = utf8_length(json_string_value(v));
			if ((long long)n < f->min || (long long)n > f->max)
				return err_field(e, ERR_INVALID, name,
						 "%s must be %lld to %lld characters long", name,
						 f->min, f->max);
		}
		if (f->allowed) {
			for (const char *const *a = f->allowed; *a; a++)
				if (!strcmp(*a, json_string_value(v)))
					return 0;
			struct buf b = BUF_INIT;
			for (const char *const *a = f->allowed; *a; a++)
				buf_printf(&b, "%s%s", a == f->allowed ? "" : ", ", *a);
			err_field(e, ERR_INVALID, name, "%s must be one of: %s", name,
				  buf_cstr(&b));
			buf_free(&b);
			return ERR_INVALID;
		}
		return 0;
	case V_INT:
		if (!json_is_integer(v))
			break;
		if ((f->min || f->max) &&
		    (json_integer_value(v) < f->min || json_integer_value(v) > f->max))
			return err_field(e, ERR_INVALID, name, "%s must be between %lld and %lld",
					 name, f->min, f->max);
		return 0;
	case V_NUMBER:
		if (!json_is_number(v))
			break;
		if (f->min < f->max && (json_number_value(v) < (double)f->min ||
					json_number_value(v) > (double)f->max))
			return err_field(e, ERR_INVALID, name, "%s must be between %lld and %lld",
					 name, f->min, f->max);
		return 0;
	case V_BOOL:
		if (!json_is_boolean(v))
			break;
		return 0;
	case V_OBJECT:
		if (!json_is_object(v))
			break;
		if (f->max) {
			struct json_bounds b = {.max_bytes = (size_t)f->max,
						.max_depth = VALIDATE_OBJECT_DEPTH};
			return json_check_bounds(v, &b, name, e);
		}
		return 0;
	case V_STRING_ARRAY: {
		if (!json_is_array(v))
			break;
		size_t i;
		const json_t *it;
		json_array_foreach(v, i, it)
		{
			if (!json_is_string(it) || !*json_string_value(it))
				return err_field(e, ERR_INVALID, name,
						 "%s[%zu] must be a non-empty string", name, i);
		}
		if ((f->min || f->max) && ((long long)json_array_size(v) < f->min ||
					   (long long)json_array_size(v) > f->max))
			return err_field(e, ERR_INVALID, name, "%s must have %lld to %lld items",
					 name, f->min, f->max);
		return 0;
	}
	case V_ANY: return 0;
	}
	return err_field(e, ERR_INVALID, name, "%s must be %s", name, type_word(f->type));
}

int validate_object(const json_t *obj, const struct vfield *fields, const char *prefix,
		    struct err *e)
{
	char name[ERR_FIELD_MAX];
	if (!json_is_object(obj))
		return err_field(e, ERR_INVALID, *prefix ? prefix : "body",
				 "%s must be a JSON object", *prefix ? prefix : "the body");
	const char *key;
	const json_t *v;
	json_object_foreach((json_t *)obj, key, v)
	{
		const struct vfield *f = fields;
		while (f->name && strcmp(f->name, key))
			f++;
		snprintf(name, sizeof name, "%s%s", prefix, key);
		if (!f->name)
			return err_field(e, ERR_INVALID, name, "unknown field %s", name);
		if (json_is_null(v)) {
			if (f->nullable)
				continue;
			return err_field(e, ERR_INVALID, name, "%s must not be null", name);
		}
		int rc = check_field(v, f, name, e);
		if (rc)
			return rc;
	}
	for (const struct vfield *f = fields; f->name; f++) {
		if (f->required && !json_object_get(obj, f->name)) {
			snprintf(name, sizeof name, "%s%s", prefix, f->name);
			return err_field(e, ERR_INVALID, name, "%s is required", name);
		}
	}
	return 0;
}
