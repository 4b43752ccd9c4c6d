/* Unit tests of src/cli/textout.h: terminal-safe text, durations, ages, tables. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cli/textout.h"
#include "util/time.h"

static void test_safe(void **state)
{
	(void)state;
	static const struct {
		const char *in;
		size_t max;
		const char *out;
	} cases[] = {
		{"plain", 0, "plain"},
		{"esc\x1b[2Jx", 0, "esc?[2Jx"},
		{"tab\tnl\n", 0, "tab?nl?"},
		{"caf\xc3\xa9", 0, "caf\xc3\xa9"},
		{"bad\xff", 0, "bad?"},
		{"\xc2\x9b"
		 "c1",
		 0, "?c1"},
		{"abcdef", 4, "abc\xe2\x80\xa6"},
		{"abcd", 4, "abcd"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct buf b = BUF_INIT;
		text_safe(&b, cases[i].in, cases[i].max);
		assert_string_equal(buf_cstr(&b), cases[i].out);
		buf_free(&b);
	}
}

static void test_duration(void **state)
{
	(void)state;
	static const struct {
		int64_t ms;
		const char *out;
	} cases[] = {
		{-5, "0s"},	{0, "0s"},	{999, "0s"},	     {42000, "42s"},
		{300000, "5m"}, {359999, "5m"}, {3 * 3600000, "3h"}, {2 * 86400000LL, "2d"},
	};
	char out[24];
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		text_duration(cases[i].ms, out);
		assert_string_equal(out, cases[i].out);
	}
}

static void test_age(void **state)
{
	(void)state;
	int64_t now;
	assert_true(time_parse_ms("2026-11-28T10:00:00.000Z", &now));
	char out[32];
	text_age("2026-11-28T09:55:00.000Z", now, false, out);
	assert_string_equal(out, "5m");
	text_age("2026-11-28T09:55:00.000Z", now, true, out);
	assert_string_equal(out, "5m ago");
	text_age("2026-11-28T13:00:00.000Z", now, true, out);
	assert_string_equal(out, "in 3h");
	text_age(NULL, now, true, out);
	assert_string_equal(out, "-");
	text_age("yesterday", now, true, out);
	assert_string_equal(out, "-");
}

static void test_scalar(void **state)
{
	(void)state;
	static const struct {
		const char *json;
		const char *out;
	} cases[] = {
		{"\"s\"", "s"},
		{"12", "12"},
		{"true", "true"},
		{"null", "-"},
		{"[]", "-"},
		{"[\"a\",\"b\"]", "a, b"},
		{"{\"k\":1}", "{\"k\":1}"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		json_t *v = json_loads(cases[i].json, JSON_DECODE_ANY, NULL);
		assert_non_null(v);
		struct buf b = BUF_INIT;
		text_scalar(&b, v);
		assert_string_equal(buf_cstr(&b), cases[i].out);
		buf_free(&b);
		json_decref(v);
	}
}

static char *print_to_string(void (*fn)(FILE *f, void *arg), void *arg)
{
	char *data = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&data, &len);
	assert_non_null(f);
	fn(f, arg);
	fclose(f);
	return data;
}

static void print_table(FILE *f, void *arg)
{
	(void)arg;
	static const struct table_col cols[] = {{"ID", 0}, {"SUMMARY", 6}, {"AGE", 0}};
	struct table *t = table_new(cols, 3);
	table_add(t, "1");
	table_add(t, "short");
	table_add(t, "5m");
	table_addf(t, "%d", 22);
	table_add(t, "a long summary");
	table_add(t, NULL);
	table_print(t, f);
	table_free(t);
}

static void test_table(void **state)
{
	(void)state;
	char *s = print_to_string(print_table, NULL);
	assert_string_equal(s, "ID  SUMMARY  AGE\n"
			       "1   short    5m\n"
			       "22  a lon\xe2\x80\xa6   -\n");
	free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_safe),  cmocka_unit_test(test_duration),
		cmocka_unit_test(test_age),   cmocka_unit_test(test_scalar),
		cmocka_unit_test(test_table),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
