/* test_time.c — wall clock and RFC 3339 text (src/util/time.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "util/time.h"

/* In the sanitizer build, undefined behaviour fails the test instead of only being
 * printed (unused otherwise). */
const char *__ubsan_default_options(void);
const char *__ubsan_default_options(void)
{
	return "halt_on_error=1:print_stacktrace=1";
}

/* ms ↔ canonical text (UTC, milliseconds, Z). */
static const struct {
	int64_t ms;
	const char *text;
} canon[] = {
	{0, "1970-01-01T00:00:00.000Z"},
	{1, "1970-01-01T00:00:00.001Z"},
	{999, "1970-01-01T00:00:00.999Z"},
	{1000, "1970-01-01T00:00:01.000Z"},
	{86400000, "1970-01-02T00:00:00.000Z"},
	{946684799000, "1999-12-31T23:59:59.000Z"},
	{951825600000, "2000-02-29T12:00:00.000Z"},  /* leap year (divisible by 400) */
	{1709251199999, "2024-02-29T23:59:59.999Z"}, /* leap year (divisible by 4) */
	{1767225600000, "2026-01-01T00:00:00.000Z"},
	{1795851864123, "2026-11-28T07:44:24.123Z"}, /* SPEC §3 example */
	{2147483648000, "2038-01-19T03:14:08.000Z"}, /* past 32-bit time_t */
	{4107542400000, "2100-03-01T00:00:00.000Z"}, /* 2100 is not a leap year */
	{253402300799999, "9999-12-31T23:59:59.999Z"},
};

static void test_format(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof canon / sizeof canon[0]; i++) {
		char out[TIME_RFC3339_LEN];
		memset(out, 'X', sizeof out);
		time_format_ms(canon[i].ms, out);
		if (strcmp(out, canon[i].text))
			fail_msg("format %lld: expected %s, got %.25s", (long long)canon[i].ms,
				 canon[i].text, out);
		assert_int_equal(strlen(out), TIME_RFC3339_LEN - 1);
	}
}

static void test_parse_canonical(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof canon / sizeof canon[0]; i++) {
		int64_t ms = -12345;
		if (!time_parse_ms(canon[i].text, &ms))
			fail_msg("parse %s failed", canon[i].text);
		if (ms != canon[i].ms)
			fail_msg("parse %s: expected %lld, got %lld", canon[i].text,
				 (long long)canon[i].ms, (long long)ms);
	}
}

static void test_round_trip(void **state)
{
	(void)state;
	/* every ms value formats to text that parses back to it */
	int64_t vals[] = {0,
			  1,
			  59999,
			  60000,
			  3599999,
			  1234567890123,
			  1767225600000 + 86399999,
			  4102444800000 - 1,
			  951782400000 /* 2000-02-29 */};
	for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) {
		char out[TIME_RFC3339_LEN];
		time_format_ms(vals[i], out);
		int64_t back = -1;
		assert_true(time_parse_ms(out, &back));
		assert_int_equal(back, vals[i]);
	}
	/* a sweep over several years, one step of ~1 day + 1 h + 1 ms */
	for (int64_t ms = 0; ms < 4102444800000; ms += 86400000LL * 17 + 3600001) {
		char out[TIME_RFC3339_LEN];
		time_format_ms(ms, out);
		int64_t back = -1;
		if (!time_parse_ms(out, &back) || back != ms)
			fail_msg("round trip of %lld via %s gave %lld", (long long)ms, out,
				 (long long)back);
	}
}

/* Accepted non-canonical forms: offsets, fractions, separators. */
static const struct {
	const char *text;
	int64_t ms;
} variants[] = {
	{"2026-01-01T00:00:00Z", 1767225600000},
	{"2026-01-01T00:00:00.5Z", 1767225600500},
	{"2026-01-01T00:00:00.12Z", 1767225600120},
	{"2026-01-01T00:00:00.123456789Z", 1767225600123}, /* extra digits are dropped */
	{"2026-01-01T00:00:00.000z", 1767225600000},
	{"2026-01-01t00:00:00Z", 1767225600000},
	{"2026-01-01 00:00:00Z", 1767225600000},
	{"2026-01-01T00:00:00+00:00", 1767225600000},
	{"2026-01-01T00:00:00-00:00", 1767225600000},
	{"2026-01-01T02:00:00+02:00", 1767225600000},
	{"2025-12-31T19:00:00-05:00", 1767225600000},
	{"2026-01-01T05:30:00.250+05:30", 1767225600250},
	{"2025-12-31T23:15:00-00:45", 1767225600000},
	{"2026-01-01T00:00:00+23:59", 1767225600000 - (23 * 60 + 59) * 60000LL},
	{"2024-02-29T00:00:00Z", 1709164800000},
	{"2000-02-29T00:00:00Z", 951782400000},
	{"1969-12-31T23:59:59.000Z", -1000},
	{"1970-01-01T01:00:00+01:00", 0},
};

static void test_parse_variants(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof variants / sizeof variants[0]; i++) {
		int64_t ms = -12345;
		if (!time_parse_ms(variants[i].text, &ms))
			fail_msg("parse %s failed", variants[i].text);
		if (ms != variants[i].ms)
			fail_msg("parse %s: expected %lld, got %lld", variants[i].text,
				 (long long)variants[i].ms, (long long)ms);
	}
}

static void test_parse_invalid(void **state)
{
	(void)state;
	static const char *const bad[] = {
		"",
		"2026",
		"2026-01-01",
		"2026-01-01T00:00:00",	   /* no zone */
		"2026-01-01T00:00Z",	   /* no seconds */
		"2026-01-01T00:00:00.Z",   /* empty fraction */
		"2026-01-01T00:00:00.123", /* fraction, no zone */
		"2026-01-01X00:00:00Z",	   /* bad separator */
		"2026/01/01T00:00:00Z",
		"9999-12-31T23:59:59-01:00", /* past the last RFC 3339 instant */
		"0000-01-01T00:00:00+01:00", /* before the first */
		"2026-1-01T00:00:00Z",
		"26-01-01T00:00:00Z",
		"2026-00-01T00:00:00Z", /* month 0 */
		"2026-13-01T00:00:00Z", /* month 13 */
		"2026-01-00T00:00:00Z", /* day 0 */
		"2026-01-32T00:00:00Z",
		"2026-04-31T00:00:00Z", /* April has 30 days */
		"2026-06-31T00:00:00Z",
		"2026-02-29T00:00:00Z", /* 2026 is not a leap year */
		"2100-02-29T00:00:00Z", /* divisible by 100, not by 400 */
		"1900-02-29T00:00:00Z",
		"2026-02-30T00:00:00Z",
		"2026-01-01T24:00:00Z", /* hour 24 */
		"2026-01-01T00:60:00Z", /* minute 60 */
		"2026-01-01T00:00:61Z",
		"2026-01-01T00:00:00+24:00", /* offset hour 24 */
		"2026-01-01T00:00:00+01:60",
		"2026-01-01T00:00:00+0100", /* offset without colon */
		"2026-01-01T00:00:00+01",
		"2026-01-01T00:00:00+",
		"2026-01-01T00:00:00UTC",
		"2026-01-01T00:00:00ZZ", /* trailing garbage */
		"2026-01-01T00:00:00Z ",
		" 2026-01-01T00:00:00Z",
		"2026-01-01T00:00:00+01:00x",
		"2026-01-01T00:00:00.12aZ",
		"abcd-ef-ghTij:kl:mnZ",
		"2026-01-01T0a:00:00Z",
		"-026-01-01T00:00:00Z",
		"+2026-01-01T00:00:00Z",
		"2026-01-01T00:00:00,123Z", /* comma fraction */
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		int64_t ms = 777;
		if (time_parse_ms(bad[i], &ms))
			fail_msg("expected \"%s\" to be rejected, got %lld", bad[i], (long long)ms);
	}
}

static void test_clocks(void **state)
{
	(void)state;
	int64_t now = time_now_ms();
	/* later than 2025-01-01 and earlier than 2100 */
	assert_true(now > 1735689600000);
	assert_true(now < 4102444800000);
	char out[TIME_RFC3339_LEN];
	time_format_ms(now, out);
	int64_t back;
	assert_true(time_parse_ms(out, &back));
	assert_int_equal(back, now);

	int64_t m1 = time_mono_ms();
	int64_t m2 = time_mono_ms();
	assert_true(m2 >= m1);
	assert_true(m1 >= 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_format),	      cmocka_unit_test(test_parse_canonical),
		cmocka_unit_test(test_round_trip),    cmocka_unit_test(test_parse_variants),
		cmocka_unit_test(test_parse_invalid), cmocka_unit_test(test_clocks),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
