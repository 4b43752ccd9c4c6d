/* test_utf8.c — UTF-8 checks, cuts and repair (src/util/utf8.h), and the JSON helpers
 * built on them (src/util/json.h: jstr). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "util/err.h"
#include "util/json.h"
#include "util/utf8.h"

const char *__ubsan_default_options(void);
const char *__ubsan_default_options(void)
{
	return "halt_on_error=1:print_stacktrace=1";
}

static void test_valid(void **state)
{
	(void)state;
	static const struct {
		const char *s;
		bool ok;
	} cases[] = {
		{"", true},
		{"abc", true},
		{"\xc3\xa9", true},		 /* é */
		{"\xe2\x82\xac", true},		 /* € */
		{"\xf0\x9f\x98\x80", true},	 /* 😀 */
		{"\xc3", false},		 /* cut */
		{"\xc3\x28", false},		 /* bad continuation */
		{"\xc0\xaf", false},		 /* overlong '/' */
		{"\xe0\x80\xaf", false},	 /* overlong */
		{"\xed\xa0\x80", false},	 /* surrogate */
		{"\xf4\x90\x80\x80", false},	 /* above U+10FFFF */
		{"\xf8\x88\x80\x80\x80", false}, /* 5 bytes */
		{"\xff", false},
		{"a\x80", false}, /* lone continuation */
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		if (utf8_valid(cases[i].s, strlen(cases[i].s)) != cases[i].ok)
			fail_msg("case %zu", i);
}

static void test_cut(void **state)
{
	(void)state;
	const char *s = "a\xc3\xa9\xe2\x82\xac"; /* a é € : 1 + 2 + 3 bytes */
	assert_int_equal(utf8_cut(s, 6, 10), 6);
	assert_int_equal(utf8_cut(s, 6, 6), 6);
	assert_int_equal(utf8_cut(s, 6, 5), 3); /* inside € */
	assert_int_equal(utf8_cut(s, 6, 4), 3);
	assert_int_equal(utf8_cut(s, 6, 3), 3);
	assert_int_equal(utf8_cut(s, 6, 2), 1); /* inside é */
	assert_int_equal(utf8_cut(s, 6, 0), 0);
}

static void test_trim_partial(void **state)
{
	(void)state;
	char a[] = "ab\xc3";
	utf8_trim_partial(a);
	assert_string_equal(a, "ab");
	char b[] = "ab\xf0\x9f\x98";
	utf8_trim_partial(b);
	assert_string_equal(b, "ab");
	char c[] = "ab\xc3\xa9";
	utf8_trim_partial(c);
	assert_string_equal(c, "ab\xc3\xa9");
}

static void test_err_messages_stay_utf8(void **state)
{
	(void)state;
	/* A message cut by the buffer in the middle of a character (the bug that turned a
	 * 400 into 200 {"error":{"code":"ok"}}). */
	char text[ERR_MSG_MAX * 2];
	size_t n = 0;
	text[n++] = 'x';
	while (n + 2 < sizeof text) {
		text[n++] = '\xc3';
		text[n++] = '\xa9';
	}
	text[n] = '\0';
	struct err e;
	err_clear(&e);
	err_set(&e, ERR_INVALID, "%s", text);
	assert_true(utf8_valid(e.msg, strlen(e.msg)));
	assert_true(strlen(e.msg) >= ERR_MSG_MAX - 3);
	err_field(&e, ERR_INVALID, text, "%s", "m");
	assert_true(utf8_valid(e.field, strlen(e.field)));
}

static void test_repair_and_jstr(void **state)
{
	(void)state;
	struct buf b = BUF_INIT;
	utf8_repair(&b,
		    "a\xff"
		    "b\xc3",
		    4);
	assert_string_equal(buf_cstr(&b), "a\xef\xbf\xbd"
					  "b\xef\xbf\xbd");
	buf_free(&b);
	utf8_repair(&b, "a\0b", 3);
	assert_int_equal(b.len, 5);
	assert_memory_equal(b.data,
			    "a\xef\xbf\xbd"
			    "b",
			    5);
	buf_free(&b);

	json_t *v = jstr("ok \xc3\x28");
	assert_non_null(v);
	assert_string_equal(json_string_value(v), "ok \xef\xbf\xbd(");
	json_decref(v);
	v = jstr(NULL);
	assert_true(json_is_null(v));
	json_decref(v);
}

static void test_bounds(void **state)
{
	(void)state;
	struct err e;
	err_clear(&e);
	json_t *v = json_loads("{\"a\":{\"b\":{\"c\":1}},\"d\":[1,2]}", 0, NULL);
	struct json_bounds ok = {.max_bytes = 100, .max_keys = 2, .max_depth = 3};
	assert_int_equal(json_check_bounds(v, &ok, "x", &e), 0);
	struct json_bounds deep = {.max_depth = 2};
	assert_int_equal(json_check_bounds(v, &deep, "x", &e), ERR_INVALID);
	assert_string_equal(e.field, "x");
	struct json_bounds keys = {.max_keys = 1};
	assert_int_equal(json_check_bounds(v, &keys, "x", &e), ERR_INVALID);
	struct json_bounds bytes = {.max_bytes = 10};
	assert_int_equal(json_check_bounds(v, &bytes, "x", &e), ERR_INVALID);
	json_decref(v);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid),
		cmocka_unit_test(test_cut),
		cmocka_unit_test(test_trim_partial),
		cmocka_unit_test(test_err_messages_stay_utf8),
		cmocka_unit_test(test_repair_and_jstr),
		cmocka_unit_test(test_bounds),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
