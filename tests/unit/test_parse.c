/* test_parse.c — strict HTTP/1.1 request framing (src/http/parse.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "http/parse.h"

const char *__ubsan_default_options(void);
const char *__ubsan_default_options(void)
{
	return "halt_on_error=1:print_stacktrace=1";
}

static int parse(const char *text, struct http_head *h)
{
	struct err e;
	err_clear(&e);
	return http_head_parse(text, strlen(text), h, &e);
}

static void test_head_end(void **state)
{
	(void)state;
	size_t scanned = 0;
	const char *a = "GET / HTTP/1.1\r\nHost: x\r\n\r\nNEXT";
	assert_int_equal(http_head_end(a, strlen(a), &scanned), strlen(a) - 4);
	/* incomplete, then completed in pieces: the scan resumes */
	scanned = 0;
	assert_int_equal(http_head_end(a, 10, &scanned), 0);
	assert_int_equal(scanned, 10);
	assert_int_equal(http_head_end(a, 26, &scanned), 0);
	assert_int_equal(http_head_end(a, 27, &scanned), 27);
	/* empty lines before the request line belong to the head */
	scanned = 0;
	const char *b = "\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n";
	assert_int_equal(http_head_end(b, strlen(b), &scanned), strlen(b));
	/* too long */
	char *big = malloc(HTTP_HEAD_MAX + 10);
	memset(big, 'a', HTTP_HEAD_MAX + 10);
	scanned = 0;
	assert_int_equal(http_head_end(big, HTTP_HEAD_MAX + 10, &scanned), -1);
	free(big);
}

static void test_good_heads(void **state)
{
	(void)state;
	struct http_head h;
	assert_int_equal(parse("GET /a?b=1 HTTP/1.1\r\nHost: x\r\nX-Y:  z  \r\n\r\n", &h), 0);
	assert_string_equal(h.method, "GET");
	assert_string_equal(h.target, "/a?b=1");
	assert_int_equal(h.minor, 1);
	assert_string_equal(http_head_get(&h, "x-y"), "z");
	assert_string_equal(h.host, "x");
	assert_true(h.keep_alive);
	assert_int_equal(h.content_length, -1);
	http_head_free(&h);

	assert_int_equal(parse("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 12\r\nConnection: "
			       "Close\r\n\r\n",
			       &h),
			 0);
	assert_int_equal(h.content_length, 12);
	assert_false(h.keep_alive);
	http_head_free(&h);

	assert_int_equal(
		parse("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: Chunked\r\nExpect: "
		      "100-continue\r\n\r\n",
		      &h),
		0);
	assert_true(h.chunked);
	assert_true(h.expect_continue);
	http_head_free(&h);

	assert_int_equal(parse("GET / HTTP/1.0\r\n\r\n", &h), 0);
	assert_false(h.keep_alive);
	assert_null(h.host);
	http_head_free(&h);
	assert_int_equal(parse("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", &h), 0);
	assert_true(h.keep_alive);
	http_head_free(&h);
}

struct bad_case {
	const char *text;
	int status;
};

static void test_bad_heads(void **state)
{
	(void)state;
	static const struct bad_case cases[] = {
		{"GET / HTTP/1.1\r\n\r\n", 400}, /* no Host */
		{"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400},
		{"GET / HTTP/1.1\r\nHost:\r\n\r\n", 400},
		{"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n",
		 400},
		{"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
		 400},
		{"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1, 1\r\n\r\n", 400},
		{"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n", 400},
		{"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999\r\n\r\n", 400},
		{"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nTransfer-Encoding: "
		 "chunked\r\n\r\n",
		 400},
		{"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", 501},
		{"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: "
		 "chunked\r\n\r\n",
		 400},
		{"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400},
		{"GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400},
		{"GET / HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n", 400},
		{"GET / HTTP/1.1\nHost: a\r\n\r\n", 400},
		{"GET / HTTP/1.1\r\nHost: a\rb\r\n\r\n", 400},
		{"GET / HTTP/1.1\r\nHost: a\x01\r\n\r\n", 400},
		{"GET /\xc3\xa9 HTTP/1.1\r\nHost: a\r\n\r\n", 400},
		{"GET  / HTTP/1.1\r\nHost: a\r\n\r\n", 400},
		{"GET / HTTP/1.1 \r\nHost: a\r\n\r\n", 400},
		{"GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505},
		{"GET / HTTP/1.2\r\nHost: a\r\n\r\n", 505},
		{"GET / FTP/1.1\r\nHost: a\r\n\r\n", 400},
		{"G(T / HTTP/1.1\r\nHost: a\r\n\r\n", 400},
		{"GET / HTTP/1.1\r\nHost: a\r\nExpect: 200-ok\r\n\r\n", 417},
		{"\r\n\r\n\r\n\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", 400},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct http_head h;
		int rc = parse(cases[i].text, &h);
		if (rc != cases[i].status)
			fail_msg("case %zu (%s): got %d, want %d", i, cases[i].text, rc,
				 cases[i].status);
		assert_null(h.raw); /* nothing left to free */
	}
}

static void test_too_many_fields(void **state)
{
	(void)state;
	char text[8192] = "GET / HTTP/1.1\r\n";
	for (int i = 0; i <= HTTP_HEADERS_MAX; i++)
		snprintf(text + strlen(text), sizeof text - strlen(text), "X-%d: y\r\n", i);
	strcat(text, "\r\n");
	struct http_head h;
	assert_int_equal(parse(text, &h), 431);
}

/* Feed s to a fresh decoder in pieces of `step` bytes. */
static int chunked(const char *s, size_t step, size_t max, struct buf *out, size_t *rest)
{
	struct http_chunked c = {0};
	struct err e;
	err_clear(&e);
	size_t len = strlen(s), off = 0;
	while (off < len) {
		size_t n = len - off < step ? len - off : step, used = 0;
		int rc = http_chunked_feed(&c, s + off, n, &used, out, max, &e);
		off += used;
		if (rc) {
			*rest = len - off;
			return rc;
		}
	}
	*rest = 0;
	return 0;
}

static void test_chunked_good(void **state)
{
	(void)state;
	const char *s = "5\r\nhello\r\nA;name=\"v\"\r\n0123456789\r\n0\r\nX-T: y\r\n\r\nNEXT";
	for (size_t step = 1; step <= strlen(s); step++) {
		struct buf out = BUF_INIT;
		size_t rest = 0;
		assert_int_equal(chunked(s, step, 1000, &out, &rest), 1);
		assert_int_equal(out.len, 15);
		assert_memory_equal(out.data, "hello0123456789", 15);
		assert_int_equal(rest, 4); /* "NEXT" belongs to the next request */
		buf_free(&out);
	}
}

static void test_chunked_bad(void **state)
{
	(void)state;
	static const char *const cases[] = {
		"0x5\r\nhello\r\n0\r\n\r\n",
		"+5\r\nhello\r\n0\r\n\r\n",
		" 5\r\nhello\r\n0\r\n\r\n",
		"5 junk\r\nhello\r\n0\r\n\r\n",
		"5 \r\nhello\r\n0\r\n\r\n",
		"-1\r\nx\r\n0\r\n\r\n",
		"\r\nhello\r\n0\r\n\r\n",
		"5\r\nhelloX\r\n0\r\n\r\n",
		"5\r\nhello5\r\nworld\r\n0\r\n\r\n",
		"5\nhello\r\n0\r\n\r\n",
		"5\r\nhello\n0\r\n\r\n",
		"fffffffffffffffff\r\nx\r\n0\r\n\r\n",
		"5;a\x01\r\nhello\r\n0\r\n\r\n",
		"0\r\nbad trailer\r\n\r\n",
		"0\r\n\rX",
		"5\rxhello\r\n0\r\n\r\n",
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct buf out = BUF_INIT;
		size_t rest;
		int rc = chunked(cases[i], 1, 1000, &out, &rest);
		if (rc != 400)
			fail_msg("case %zu (%s): got %d, want 400", i, cases[i], rc);
		buf_free(&out);
	}
}

static void test_chunked_limit(void **state)
{
	(void)state;
	struct buf out = BUF_INIT;
	size_t rest;
	assert_int_equal(chunked("5\r\nhello\r\n5\r\nworld\r\n0\r\n\r\n", 3, 8, &out, &rest), 413);
	assert_true(out.len <= 8);
	buf_free(&out);
}

static void test_decode_component(void **state)
{
	(void)state;
	size_t n = 0;
	char *s = http_decode_component("a+b%20c%C3%A9%00", 16, &n);
	assert_non_null(s);
	assert_int_equal(n, 8);
	assert_memory_equal(s, "a b c\xc3\xa9\0", 8);
	free(s);
	static const char *const bad[] = {"%", "%4", "%zz", "a%4g", "%%41"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		assert_null(http_decode_component(bad[i], strlen(bad[i]), &n));
}

static void test_trailer_limit(void **state)
{
	(void)state;
	char *s = malloc(HTTP_TRAILER_MAX + 64);
	strcpy(s, "0\r\nX: ");
	size_t n = strlen(s);
	memset(s + n, 'a', HTTP_TRAILER_MAX);
	strcpy(s + n + HTTP_TRAILER_MAX, "\r\n\r\n");
	struct buf out = BUF_INIT;
	size_t rest;
	assert_int_equal(chunked(s, 100, 1000, &out, &rest), 400);
	free(s);
	buf_free(&out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_head_end),      cmocka_unit_test(test_good_heads),
		cmocka_unit_test(test_bad_heads),     cmocka_unit_test(test_too_many_fields),
		cmocka_unit_test(test_chunked_good),  cmocka_unit_test(test_chunked_bad),
		cmocka_unit_test(test_chunked_limit), cmocka_unit_test(test_decode_component),
		cmocka_unit_test(test_trailer_limit),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
