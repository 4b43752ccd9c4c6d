/* test_json.c — canonical text, strict parsing and accessors (src/util/json.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "util/json.h"

/* In the sanitizer build, undefined behaviour fails the test instead of only being
 * printed (unused otherwise). */
const char *__ubsan_default_options(void);
const char *__ubsan_default_options(void)
{
	return "halt_on_error=1:print_stacktrace=1";
}

/* Parse text leniently (for building inputs), canonicalise, compare. */
static void expect_canon(const char *in, const char *want)
{
	json_error_t je;
	json_t *v = json_loads(in, JSON_DECODE_ANY, &je);
	if (!v)
		fail_msg("test input %s does not parse: %s", in, je.text);
	char *got = json_canon(v);
	if (strcmp(got, want))
		fail_msg("canon of %s: expected %s, got %s", in, want, got);
	/* json_canon_buf appends the same text */
	struct buf b = BUF_INIT;
	buf_puts(&b, ">");
	json_canon_buf(v, &b);
	assert_int_equal(b.data[0], '>');
	assert_string_equal(b.data + 1, want);
	buf_free(&b);
	free(got);
	json_decref(v);
}

static void test_canon_table(void **state)
{
	(void)state;
	static const struct {
		const char *in, *out;
	} cases[] = {
		{"{\"b\": 1, \"a\": 2}", "{\"a\":2,\"b\":1}"},
		{"{ \"z\" : { \"y\" : [ 1 , 2 ], \"x\" : null } , \"a\" : true }",
		 "{\"a\":true,\"z\":{\"x\":null,\"y\":[1,2]}}"},
		{"[3, 2, 1]", "[3,2,1]"}, /* arrays keep their order */
		{"{}", "{}"},
		{"[]", "[]"},
		{"{\"B\":1,\"a\":2,\"A\":3,\"b\":4}", "{\"A\":3,\"B\":1,\"a\":2,\"b\":4}"},
		{"{\"aa\":1,\"a\":2,\"ab\":3}", "{\"a\":2,\"aa\":1,\"ab\":3}"},
		{"0.03", "0.03"},
		{"{\"max_avg_cost\": 0.03}", "{\"max_avg_cost\":0.03}"},
		{"0.1", "0.1"},
		{"1.5", "1.5"},
		{"-2.25", "-2.25"},
		{"100", "100"},
		{"-9223372036854775808", "-9223372036854775808"},
		{"9223372036854775807", "9223372036854775807"},
		{"\"text\"", "\"text\""},
		{"\"caf\\u00e9\"", "\"caf\xc3\xa9\""}, /* UTF-8 stays UTF-8 */
		{"\"a/b\"", "\"a/b\""},		       /* no slash escaping */
		{"\"q\\\"\\\\\\n\\t\"", "\"q\\\"\\\\\\n\\t\""},
		{"\"\\u0001\"", "\"\\u0001\""},
		{"null", "null"},
		{"true", "true"},
		{"false", "false"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		expect_canon(cases[i].in, cases[i].out);
}

static void test_canon_reals(void **state)
{
	(void)state;
	/* 15 significant digits: the classic 0.1 + 0.2 prints as 0.3 */
	json_t *v = json_real(0.1 + 0.2);
	char *s = json_canon(v);
	assert_string_equal(s, "0.3");
	free(s);
	json_decref(v);

	v = json_real(0.03);
	s = json_canon(v);
	assert_string_equal(s, "0.03");
	free(s);
	json_decref(v);

	v = json_pack("{sf sf}", "cost", 1600.0 / 3.0, "q", 95.5);
	s = json_canon(v);
	assert_string_equal(s, "{\"cost\":533.333333333333,\"q\":95.5}");
	free(s);
	json_decref(v);
}

static void test_canon_stable(void **state)
{
	(void)state;
	/* the same content built in different key orders gives the same text */
	json_t *a = json_pack("{si ss s[ii]}", "id", 1, "kind", "manual", "list", 1, 2);
	json_t *b = json_pack("{s[ii] ss si}", "list", 1, 2, "kind", "manual", "id", 1);
	char *sa = json_canon(a), *sb = json_canon(b);
	assert_string_equal(sa, sb);
	assert_string_equal(sa, "{\"id\":1,\"kind\":\"manual\",\"list\":[1,2]}");
	/* canonical text parses back to an equal value with the same text */
	struct err e;
	json_t *c = json_parse_strict(sa, strlen(sa), &e);
	assert_non_null(c);
	assert_true(json_equal(a, c));
	char *sc = json_canon(c);
	assert_string_equal(sa, sc);
	free(sa);
	free(sb);
	free(sc);
	json_decref(a);
	json_decref(b);
	json_decref(c);
}

static void test_parse_ok(void **state)
{
	(void)state;
	static const char *const ok[] = {
		"{}",
		"[]",
		"1",
		"-1.5e3",
		"\"s\"",
		"null",
		"true",
		"{\"a\":{\"a\":1}}", /* same key at different levels */
		"[{\"a\":1},{\"a\":2}]",
		"  {\"x\" : [1, 2, 3]}  \n",
		"\"\\ud83d\\ude00\"",	/* surrogate pair */
		"\"\xf0\x9f\x98\x80\"", /* raw 4-byte UTF-8 */
	};
	for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
		struct err e;
		err_clear(&e);
		json_t *v = json_parse_strict(ok[i], strlen(ok[i]), &e);
		if (!v)
			fail_msg("strict parse of %s failed: %s", ok[i], e.msg);
		assert_int_equal(e.code, 0);
		json_decref(v);
	}
	/* len bounds the text: trailing bytes beyond len are not read */
	const char *t = "{\"a\":1}garbage";
	struct err e;
	json_t *v = json_parse_strict(t, 7, &e);
	assert_non_null(v);
	assert_int_equal(json_get_int(v, "a", 0), 1);
	json_decref(v);
}

static void test_parse_rejects(void **state)
{
	(void)state;
	static const struct {
		const char *text;
		size_t len; /* 0: strlen */
		const char *what;
	} bad[] = {
		{"{\"a\":1,\"a\":2}", 0, "duplicate key"},
		{"{\"x\":{\"b\":true,\"b\":false}}", 0, "nested duplicate key"},
		{"[{\"k\":1,\"k\":1}]", 0, "duplicate key in an array element"},
		{"\"\xff\"", 0, "invalid UTF-8 byte 0xff"},
		{"\"\xc3\x28\"", 0, "bad continuation byte"},
		{"\"\xc0\xaf\"", 0, "overlong encoding"},
		{"\"\xed\xa0\x80\"", 0, "UTF-8 encoded surrogate"},
		{"{\"k\xe9y\":1}", 0, "latin-1 byte in a key"},
		{"\"a\\u0000b\"", 0, "escaped NUL"},
		{"{\"a\\u0000\":1}", 0, "escaped NUL in a key"},
		{"{\"a\":1}\0", 8, "raw NUL after the value"},
		{"\"a\0b\"", 5, "raw NUL inside a string"},
		{"", 0, "empty input"},
		{"{", 0, "truncated"},
		{"{\"a\":1,}", 0, "trailing comma"},
		{"{'a':1}", 0, "single quotes"},
		{"[1] [2]", 0, "two values"},
		{"NaN", 0, "NaN"},
		{"\"\\ud83d\"", 0, "lone surrogate escape"},
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct err e;
		err_clear(&e);
		size_t len = bad[i].len ? bad[i].len : strlen(bad[i].text);
		json_t *v = json_parse_strict(bad[i].text, len, &e);
		if (v) {
			json_decref(v);
			fail_msg("strict parse accepted %s", bad[i].what);
		}
		if (e.code != ERR_JSON)
			fail_msg("%s: expected ERR_JSON, got %d", bad[i].what, e.code);
		if (!strstr(e.msg, "line") || !strstr(e.msg, "column"))
			fail_msg("%s: message should name line and column: %s", bad[i].what, e.msg);
	}
	/* NULL err is allowed */
	assert_null(json_parse_strict("{", 1, NULL));
}

static void test_parse_error_position(void **state)
{
	(void)state;
	const char *t = "{\n  \"a\": 1,\n  \"a\": 2\n}";
	struct err e;
	err_clear(&e);
	assert_null(json_parse_strict(t, strlen(t), &e));
	assert_int_equal(e.code, ERR_JSON);
	assert_non_null(strstr(e.msg, "line 3"));
}

static void test_accessors(void **state)
{
	(void)state;
	json_t *o = json_pack("{ss si sb sb sf sn s[] s{}}", "s", "str", "i", 42, "t", 1, "f", 0,
			      "r", 1.5, "n", "a", "o");
	json_object_set_new(o, "big", json_integer(INT64_MAX));
	json_object_set_new(o, "neg", json_integer(-7));
	json_object_set_new(o, "empty", json_string(""));

	/* strings */
	assert_string_equal(json_get_str(o, "s"), "str");
	assert_string_equal(json_get_str(o, "empty"), "");
	static const char *const not_str[] = {"i", "t", "r", "n", "a", "o", "missing"};
	for (size_t k = 0; k < sizeof not_str / sizeof not_str[0]; k++)
		assert_null(json_get_str(o, not_str[k]));

	/* integers */
	assert_int_equal(json_get_int(o, "i", -1), 42);
	assert_int_equal(json_get_int(o, "neg", 0), -7);
	assert_true(json_get_int(o, "big", 0) == INT64_MAX);
	static const char *const not_int[] = {"s", "t", "f", "r", "n", "a", "o", "missing"};
	for (size_t k = 0; k < sizeof not_int / sizeof not_int[0]; k++)
		assert_int_equal(json_get_int(o, not_int[k], -99), -99);

	/* booleans */
	assert_true(json_get_bool(o, "t", false));
	assert_false(json_get_bool(o, "f", true));
	static const char *const not_bool[] = {"s", "i", "r", "n", "a", "o", "missing"};
	for (size_t k = 0; k < sizeof not_bool / sizeof not_bool[0]; k++) {
		assert_true(json_get_bool(o, not_bool[k], true));
		assert_false(json_get_bool(o, not_bool[k], false));
	}

	/* a non-object or NULL container gives the defaults */
	json_t *arr = json_array();
	assert_null(json_get_str(arr, "s"));
	assert_int_equal(json_get_int(arr, "i", 5), 5);
	assert_true(json_get_bool(arr, "t", true));
	assert_null(json_get_str(NULL, "s"));
	assert_int_equal(json_get_int(NULL, "i", 6), 6);
	assert_false(json_get_bool(NULL, "t", false));
	json_decref(arr);
	json_decref(o);
}

static void test_time_or_null(void **state)
{
	(void)state;
	json_t *n = json_time_or_null(0);
	assert_true(json_is_null(n));
	json_decref(n);

	json_t *t = json_time_or_null(1767225600123);
	assert_true(json_is_string(t));
	assert_string_equal(json_string_value(t), "2026-01-01T00:00:00.123Z");
	json_decref(t);

	t = json_time_or_null(1);
	assert_string_equal(json_string_value(t), "1970-01-01T00:00:00.001Z");
	json_decref(t);
}

static void test_str_or_null(void **state)
{
	(void)state;
	json_t *v = json_str_or_null(NULL);
	assert_true(json_is_null(v));
	json_decref(v);
	v = json_str_or_null("");
	assert_true(json_is_null(v));
	json_decref(v);
	v = json_str_or_null("x y");
	assert_true(json_is_string(v));
	assert_string_equal(json_string_value(v), "x y");
	json_decref(v);
}

/* The hand-written writers must produce exactly what json_canon produces. */
static void test_writers_match_canon(void **state)
{
	(void)state;
	static const char *const strs[] = {
		"",
		"plain",
		"quote\" back\\slash",
		"ctl \x01\x1f\b\f\n\r\t end",
		"caf\xc3\xa9 \xe2\x80\xa8 \xf0\x9f\x94\xa5",
		"slash / del \x7f",
	};
	for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++) {
		json_t *v = json_string(strs[i]);
		assert_non_null(v);
		char *want = json_canon(v);
		struct buf b = BUF_INIT;
		json_write_str(&b, strs[i]);
		assert_string_equal(buf_cstr(&b), want);
		buf_free(&b);
		free(want);
		json_decref(v);
	}
	static const int64_t ints[] = {0, 1, -1, 42, INT64_MAX, INT64_MIN + 1, -1234567890123LL};
	for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++) {
		json_t *v = json_integer(ints[i]);
		char *want = json_canon(v);
		struct buf b = BUF_INIT;
		json_write_int(&b, ints[i]);
		assert_string_equal(buf_cstr(&b), want);
		buf_free(&b);
		free(want);
		json_decref(v);
	}
	struct buf b = BUF_INIT;
	json_write_str(&b, NULL);
	json_write_time(&b, 0);
	json_write_time(&b, 1767225600123LL);
	assert_string_equal(buf_cstr(&b), "nullnull\"2026-01-01T00:00:00.123Z\"");
	buf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_canon_table),   cmocka_unit_test(test_canon_reals),
		cmocka_unit_test(test_canon_stable),  cmocka_unit_test(test_parse_ok),
		cmocka_unit_test(test_parse_rejects), cmocka_unit_test(test_parse_error_position),
		cmocka_unit_test(test_accessors),     cmocka_unit_test(test_time_or_null),
		cmocka_unit_test(test_str_or_null),   cmocka_unit_test(test_writers_match_canon),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
