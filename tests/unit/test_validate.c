/* test_validate.c — table-driven body validation (src/util/validate.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "util/validate.h"

/* In the sanitizer build, undefined behaviour fails the test instead of only being
 * printed (unused otherwise). */
const char *__ubsan_default_options(void);
const char *__ubsan_default_options(void)
{
	return "halt_on_error=1:print_stacktrace=1";
}

static const char *const actions[] = {"trigger", "resolve", NULL};

/* A body shaped like POST /api/signals plus one field of each type. */
static const struct vfield fields[] = {
	{"kind", V_STRING, true, false, 1, 32, NULL},
	{"summary", V_STRING, true, false, 1, 5, NULL},
	{"action", V_STRING, false, false, 0, 0, actions},
	{"note", V_STRING, false, true, 0, 0, NULL},
	{"count", V_INT, false, false, 1, 10, NULL},
	{"anyint", V_INT, false, false, 0, 0, NULL},
	{"ratio", V_NUMBER, false, false, 0, 100, NULL},
	{"anynum", V_NUMBER, false, false, 0, 0, NULL},
	{"flag", V_BOOL, false, true, 0, 0, NULL},
	{"details", V_OBJECT, false, false, 0, 0, NULL},
	{"playbooks", V_STRING_ARRAY, false, false, 0, 3, NULL},
	{"tags", V_STRING_ARRAY, false, false, 1, 2, NULL},
	{"anylist", V_STRING_ARRAY, false, false, 0, 0, NULL},
	{"ends_at", V_TIME, false, true, 0, 0, NULL},
	{"extra", V_ANY, false, false, 0, 0, NULL},
	{NULL, 0, false, false, 0, 0, NULL},
};

static int run(const char *text, const char *prefix, struct err *e)
{
	json_error_t je;
	json_t *v = json_loads(text, JSON_DECODE_ANY, &je);
	if (!v)
		fail_msg("test input does not parse: %s: %s", text, je.text);
	err_clear(e);
	int rc = validate_object(v, fields, prefix, e);
	json_decref(v);
	return rc;
}

static void test_accepts(void **state)
{
	(void)state;
	static const char *const ok[] = {
		"{\"kind\":\"manual\",\"summary\":\"hello\"}",
		"{\"kind\":\"m\",\"summary\":\"h\"}",
		/* code points, not bytes: five characters, ten bytes */
		"{\"kind\":\"manual\",\"summary\":\"\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\"}",
		"{\"kind\":\"manual\",\"summary\":\"ok\",\"action\":\"resolve\"}",
		"{\"kind\":\"manual\",\"summary\":\"ok\",\"note\":null,\"flag\":null,\"ends_at\":null}",
		"{\"kind\":\"manual\",\"summary\":\"ok\",\"note\":\"anything at all, of any length\"}",
		"{\"kind\":\"manual\",\"summary\":\"ok\",\"count\":1}",
		"{\"kind\":\"manual\",\"summary\":\"ok\",\"count\":10}",
		"{\"kind\":\"manual\",\"summary\":\"ok\",\"anyint\":-9223372036854775808}",
		"{\"kind\":\"manual\",\"summary\":\"ok\",\"ratio\":0}",
		"{\"kind\":\"manual\",\"summary\":\"ok\",\"ratio\":99.5}",
		"{\"kind\":\"manual\",\"summary\":\"ok\",\"ratio\":100}",
		"{\"kind\":\"manual\",\"summary\":\"ok\",\"anynum\":-1e300}",
		"{\"kind\":\"manual\",\"summary\":\"ok\",\"flag\":false}",
		"{\"kind\":\"manual\",\"summary\":\"ok\",\"details\":{}}",
		"{\"kind\":\"manual\",\"summary\":\"ok\",\"details\":{\"a\":[1,{\"b\":null}]}}",
		"{\"kind\":\"manual\",\"summary\":\"ok\",\"playbooks\":[]}",
		"{\"kind\":\"manual\",\"summary\":\"ok\",\"playbooks\":[\"a\",\"b\",\"c\"]}",
		"{\"kind\":\"manual\",\"summary\":\"ok\",\"tags\":[\"x\"]}",
		"{\"kind\":\"manual\",\"summary\":\"ok\",\"anylist\":[\"1\",\"2\",\"3\",\"4\",\"5\"]}",
		"{\"kind\":\"manual\",\"summary\":\"ok\",\"ends_at\":\"2026-01-01T00:00:00Z\"}",
		"{\"kind\":\"manual\",\"summary\":\"ok\",\"ends_at\":\"2026-01-01T01:00:00.5+01:00\"}",
		"{\"kind\":\"manual\",\"summary\":\"ok\",\"extra\":[1,\"x\",{}]}",
	};
	for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
		struct err e;
		int rc = run(ok[i], "", &e);
		if (rc)
			fail_msg("rejected %s: [%s] %s", ok[i], e.field, e.msg);
		assert_int_equal(e.code, 0);
	}
}

static void test_rejects(void **state)
{
	(void)state;
	static const struct {
		const char *body;
		const char *field; /* expected err.field */
		const char *msg;   /* expected err.msg */
	} bad[] = {
		/* unknown field, named */
		{"{\"kind\":\"manual\",\"summary\":\"ok\",\"colour\":\"red\"}", "colour",
		 "unknown field colour"},
		/* required */
		{"{\"summary\":\"ok\"}", "kind", "kind is required"},
		{"{\"kind\":\"manual\"}", "summary", "summary is required"},
		{"{}", "kind", "kind is required"},
		{"{\"kind\":null,\"summary\":\"ok\"}", "kind", "kind must not be null"},
		/* non-nullable optional fields refuse null */
		{"{\"kind\":\"m\",\"summary\":\"ok\",\"count\":null}", "count",
		 "count must not be null"},
		{"{\"kind\":\"m\",\"summary\":\"ok\",\"details\":null}", "details",
		 "details must not be null"},
		/* types */
		{"{\"kind\":1,\"summary\":\"ok\"}", "kind", "kind must be a string"},
		{"{\"kind\":\"m\",\"summary\":\"ok\",\"count\":\"3\"}", "count",
		 "count must be an integer"},
		{"{\"kind\":\"m\",\"summary\":\"ok\",\"count\":3.0}", "count",
		 "count must be an integer"},
		{"{\"kind\":\"m\",\"summary\":\"ok\",\"ratio\":\"1\"}", "ratio",
		 "ratio must be a number"},
		{"{\"kind\":\"m\",\"summary\":\"ok\",\"ratio\":true}", "ratio",
		 "ratio must be a number"},
		{"{\"kind\":\"m\",\"summary\":\"ok\",\"flag\":1}", "flag",
		 "flag must be a boolean"},
		{"{\"kind\":\"m\",\"summary\":\"ok\",\"flag\":\"true\"}", "flag",
		 "flag must be a boolean"},
		{"{\"kind\":\"m\",\"summary\":\"ok\",\"details\":[]}", "details",
		 "details must be an object"},
		{"{\"kind\":\"m\",\"summary\":\"ok\",\"details\":\"{}\"}", "details",
		 "details must be an object"},
		{"{\"kind\":\"m\",\"summary\":\"ok\",\"playbooks\":\"a\"}", "playbooks",
		 "playbooks must be an array of strings"},
		{"{\"kind\":\"m\",\"summary\":\"ok\",\"playbooks\":[\"a\",1]}", "playbooks",
		 "playbooks[1] must be a non-empty string"},
		{"{\"kind\":\"m\",\"summary\":\"ok\",\"playbooks\":[\"\"]}", "playbooks",
		 "playbooks[0] must be a non-empty string"},
		{"{\"kind\":\"m\",\"summary\":\"ok\",\"ends_at\":12}", "ends_at",
		 "ends_at must be an RFC 3339 timestamp"},
		{"{\"kind\":\"m\",\"summary\":\"ok\",\"ends_at\":\"tomorrow\"}", "ends_at",
		 "ends_at must be an RFC 3339 timestamp"},
		{"{\"kind\":\"m\",\"summary\":\"ok\",\"ends_at\":\"2026-02-30T00:00:00Z\"}",
		 "ends_at", "ends_at must be an RFC 3339 timestamp"},
		/* bounds */
		{"{\"kind\":\"\",\"summary\":\"ok\"}", "kind",
		 "kind must be 1 to 32 characters long"},
		{"{\"kind\":\"m\",\"summary\":\"\"}", "summary",
		 "summary must be 1 to 5 characters long"},
		{"{\"kind\":\"m\",\"summary\":\"sixsix\"}", "summary",
		 "summary must be 1 to 5 characters long"},
		{"{\"kind\":\"m\",\"summary\":\"\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\"}",
		 "summary", "summary must be 1 to 5 characters long"},
		{"{\"kind\":\"m\",\"summary\":\"ok\",\"count\":0}", "count",
		 "count must be between 1 and 10"},
		{"{\"kind\":\"m\",\"summary\":\"ok\",\"count\":11}", "count",
		 "count must be between 1 and 10"},
		{"{\"kind\":\"m\",\"summary\":\"ok\",\"count\":-1}", "count",
		 "count must be between 1 and 10"},
		{"{\"kind\":\"m\",\"summary\":\"ok\",\"ratio\":100.5}", "ratio",
		 "ratio must be between 0 and 100"},
		{"{\"kind\":\"m\",\"summary\":\"ok\",\"ratio\":-0.1}", "ratio",
		 "ratio must be between 0 and 100"},
		{"{\"kind\":\"m\",\"summary\":\"ok\",\"playbooks\":[\"a\",\"b\",\"c\",\"d\"]}",
		 "playbooks", "playbooks must have 0 to 3 items"},
		{"{\"kind\":\"m\",\"summary\":\"ok\",\"tags\":[]}", "tags",
		 "tags must have 1 to 2 items"},
		{"{\"kind\":\"m\",\"summary\":\"ok\",\"tags\":[\"a\",\"b\",\"c\"]}", "tags",
		 "tags must have 1 to 2 items"},
		/* allowed values */
		{"{\"kind\":\"m\",\"summary\":\"ok\",\"action\":\"explode\"}", "action",
		 "action must be one of: trigger, resolve"},
		{"{\"kind\":\"m\",\"summary\":\"ok\",\"action\":\"Trigger\"}", "action",
		 "action must be one of: trigger, resolve"},
		{"{\"kind\":\"m\",\"summary\":\"ok\",\"action\":\"\"}", "action",
		 "action must be one of: trigger, resolve"},
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct err e;
		int rc = run(bad[i].body, "", &e);
		if (rc != ERR_INVALID)
			fail_msg("%s: expected ERR_INVALID, got %d", bad[i].body, rc);
		assert_int_equal(e.code, ERR_INVALID);
		if (strcmp(e.field, bad[i].field))
			fail_msg("%s: expected field %s, got %s", bad[i].body, bad[i].field,
				 e.field);
		if (strcmp(e.msg, bad[i].msg))
			fail_msg("%s: expected message \"%s\", got \"%s\"", bad[i].body, bad[i].msg,
				 e.msg);
	}
}

static void test_prefix(void **state)
{
	(void)state;
	struct err e;
	assert_int_equal(run("{\"kind\":\"m\",\"summary\":\"ok\",\"bogus\":1}", "items.", &e),
			 ERR_INVALID);
	assert_string_equal(e.field, "items.bogus");
	assert_string_equal(e.msg, "unknown field items.bogus");

	assert_int_equal(run("{\"kind\":\"m\"}", "items.", &e), ERR_INVALID);
	assert_string_equal(e.field, "items.summary");
	assert_string_equal(e.msg, "items.summary is required");

	assert_int_equal(run("{\"kind\":\"m\",\"summary\":\"ok\",\"count\":99}", "items.", &e),
			 ERR_INVALID);
	assert_string_equal(e.field, "items.count");
}

static void test_not_object(void **state)
{
	(void)state;
	static const char *const bodies[] = {"[]", "\"x\"", "1", "null", "true"};
	for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
		struct err e;
		assert_int_equal(run(bodies[i], "", &e), ERR_INVALID);
		assert_int_equal(e.code, ERR_INVALID);
		assert_string_equal(e.msg, "the body must be a JSON object");
	}
	/* NULL err is allowed: only the code comes back */
	json_t *v = json_array();
	assert_int_equal(validate_object(v, fields, "", NULL), ERR_INVALID);
	json_decref(v);
}

static void test_empty_table(void **state)
{
	(void)state;
	static const struct vfield none[] = {{NULL, 0, false, false, 0, 0, NULL}};
	json_t *v = json_object();
	struct err e;
	err_clear(&e);
	assert_int_equal(validate_object(v, none, "", &e), 0);
	json_object_set_new(v, "x", json_true());
	assert_int_equal(validate_object(v, none, "", &e), ERR_INVALID);
	assert_string_equal(e.field, "x");
	json_decref(v);
}

/* A field that must be present but may be null, like assigned_to of
 * POST /api/incidents/{id}/assign (src/api/incidents.c), where null clears the
 * assignee (core/incident.h: "NULL or \"\" clears it"). validate.h: nullable means
 * "JSON null accepted". */
static void test_required_nullable(void **state)
{
	(void)state;
	static const struct vfield assign[] = {
		{"assigned_to", V_STRING, true, true, 0, 128, NULL},
		{NULL, 0, false, false, 0, 0, NULL},
	};
	struct err e;
	json_t *v = json_pack("{sn}", "assigned_to");
	err_clear(&e);
	int rc = validate_object(v, assign, "", &e);
	json_decref(v);
	if (rc)
		fail_msg("{\"assigned_to\": null} rejected: %s", e.msg);

	/* absent is still an error, and a string is still checked */
	v = json_object();
	assert_int_equal(validate_object(v, assign, "", &e), ERR_INVALID);
	assert_string_equal(e.msg, "assigned_to is required");
	json_decref(v);
	v = json_pack("{si}", "assigned_to", 5);
	assert_int_equal(validate_object(v, assign, "", &e), ERR_INVALID);
	assert_string_equal(e.field, "assigned_to");
	json_decref(v);
	v = json_pack("{ss}", "assigned_to", "alice");
	assert_int_equal(validate_object(v, assign, "", &e), 0);
	json_decref(v);
}

static void test_utf8_length(void **state)
{
	(void)state;
	static const struct {
		const char *s;
		size_t n;
	} cases[] = {
		{"", 0},
		{"a", 1},
		{"hello", 5},
		{"caf\xc3\xa9", 4},	 /* 2-byte */
		{"\xe2\x82\xac", 1},	 /* euro sign, 3-byte */
		{"\xf0\x9f\x98\x80", 1}, /* emoji, 4-byte */
		{"a\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80z", 5},
		{"\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e", 3}, /* three CJK characters */
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		assert_int_equal(utf8_length(cases[i].s), cases[i].n);
}

static void test_str_trim_dup(void **state)
{
	(void)state;
	static const struct {
		const char *in, *out;
	} cases[] = {
		{"", ""},
		{"   ", ""},
		{"abc", "abc"},
		{"  abc", "abc"},
		{"abc  ", "abc"},
		{" \t\r\n abc \n\t", "abc"},
		{"  a b  c  ", "a b  c"},
		{"\vx\f", "x"},
		{" \xc3\xa9 ", "\xc3\xa9"},
		{"\xc2\xa0x", "\xc2\xa0x"}, /* a non-breaking space is not ASCII whitespace */
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char *s = str_trim_dup(cases[i].in);
		assert_non_null(s);
		if (strcmp(s, cases[i].out))
			fail_msg("trim of \"%s\": expected \"%s\", got \"%s\"", cases[i].in,
				 cases[i].out, s);
		free(s);
	}
	/* the result is a copy */
	const char *src = "same";
	char *d = str_trim_dup(src);
	assert_ptr_not_equal(d, src);
	free(d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_accepts),	    cmocka_unit_test(test_rejects),
		cmocka_unit_test(test_prefix),	    cmocka_unit_test(test_not_object),
		cmocka_unit_test(test_empty_table), cmocka_unit_test(test_required_nullable),
		cmocka_unit_test(test_utf8_length), cmocka_unit_test(test_str_trim_dup),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
