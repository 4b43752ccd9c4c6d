/* test_buf.c — the growable byte string and the x* allocators (src/util/buf.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "util/buf.h"

/* In the sanitizer build, undefined behaviour fails the test instead of only being
 * printed (unused otherwise). */
const char *__ubsan_default_options(void);
const char *__ubsan_default_options(void)
{
	return "halt_on_error=1:print_stacktrace=1";
}

static void test_init_empty(void **state)
{
	(void)state;
	struct buf b = BUF_INIT;
	assert_int_equal(b.len, 0);
	assert_string_equal(buf_cstr(&b), "");
	/* reset and free of an empty buffer are harmless */
	buf_reset(&b);
	assert_string_equal(buf_cstr(&b), "");
	buf_free(&b);
	buf_free(&b);
	assert_null(b.data);
	assert_int_equal(b.len, 0);
	assert_int_equal(b.cap, 0);
}

static void test_append_terminates(void **state)
{
	(void)state;
	struct buf b = BUF_INIT;
	buf_append(&b, "abc", 3);
	assert_int_equal(b.len, 3);
	assert_non_null(b.data);
	assert_int_equal(b.data[3], '\0');
	assert_string_equal(buf_cstr(&b), "abc");
	assert_true(b.cap > b.len);

	/* an empty append still leaves a terminated string */
	struct buf c = BUF_INIT;
	buf_append(&c, "", 0);
	assert_non_null(c.data);
	assert_int_equal(c.len, 0);
	assert_string_equal(c.data, "");
	buf_free(&c);

	/* embedded NUL bytes are kept; len counts them */
	buf_append(&b, "x\0y", 3);
	assert_int_equal(b.len, 6);
	assert_memory_equal(b.data, "abcx\0y", 7);
	buf_free(&b);
}

static void test_puts_putc(void **state)
{
	(void)state;
	struct buf b = BUF_INIT;
	buf_puts(&b, "hello");
	buf_putc(&b, ',');
	buf_putc(&b, ' ');
	buf_puts(&b, "");
	buf_puts(&b, "world");
	assert_string_equal(buf_cstr(&b), "hello, world");
	assert_int_equal(b.len, strlen("hello, world"));
	buf_free(&b);
}

static void test_growth_large(void **state)
{
	(void)state;
	struct buf b = BUF_INIT;
	/* many small appends across several reallocations */
	for (int i = 0; i < 10000; i++)
		buf_putc(&b, (char)('a' + i % 26));
	assert_int_equal(b.len, 10000);
	assert_true(b.cap > b.len);
	assert_int_equal(strlen(b.data), 10000);
	for (int i = 0; i < 10000; i++)
		assert_int_equal(b.data[i], 'a' + i % 26);

	/* one append much larger than the capacity */
	size_t big = 1 << 20;
	char *chunk = xmalloc(big);
	memset(chunk, 'z', big);
	buf_append(&b, chunk, big);
	free(chunk);
	assert_int_equal(b.len, 10000 + big);
	assert_int_equal(b.data[b.len], '\0');
	assert_int_equal(b.data[b.len - 1], 'z');
	buf_free(&b);
}

static void test_reserve(void **state)
{
	(void)state;
	struct buf b = BUF_INIT;
	buf_reserve(&b, 1000);
	assert_true(b.cap >= 1001);
	assert_int_equal(b.len, 0);
	size_t cap = b.cap;
	char *data = b.data;
	/* appending within the reservation does not reallocate */
	for (int i = 0; i < 1000; i++)
		buf_putc(&b, 'q');
	assert_int_equal(b.cap, cap);
	assert_ptr_equal(b.data, data);
	buf_reserve(&b, 0);
	assert_int_equal(b.cap, cap);
	buf_free(&b);
}

static void test_printf(void **state)
{
	(void)state;
	struct buf b = BUF_INIT;
	buf_printf(&b, "%d-%s-%c", 42, "x", 'y');
	assert_string_equal(buf_cstr(&b), "42-x-y");
	buf_printf(&b, "%s", "");
	assert_string_equal(buf_cstr(&b), "42-x-y");
	assert_int_equal(b.len, 6);

	/* output longer than the initial reservation (forces the second vsnprintf) */
	char longstr[3000];
	memset(longstr, 'L', sizeof longstr - 1);
	longstr[sizeof longstr - 1] = '\0';
	buf_printf(&b, "[%s]", longstr);
	assert_int_equal(b.len, 6 + 2 + 2999);
	assert_int_equal(b.data[6], '[');
	assert_int_equal(b.data[7], 'L');
	assert_int_equal(b.data[6 + 1 + 2999], ']');
	assert_int_equal(b.data[b.len], '\0');
	assert_int_equal(strlen(b.data), b.len);

	/* many formatted appends */
	buf_reset(&b);
	for (int i = 0; i < 1000; i++)
		buf_printf(&b, "%04d,", i);
	assert_int_equal(b.len, 5000);
	assert_memory_equal(b.data, "0000,0001,", 10);
	assert_memory_equal(b.data + 4995, "0999,", 5);
	buf_free(&b);
}

static void vhelper(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void vhelper(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	buf_vprintf(b, fmt, ap);
	va_end(ap);
}

static void test_vprintf(void **state)
{
	(void)state;
	struct buf b = BUF_INIT;
	buf_puts(&b, "pre:");
	vhelper(&b, "%s=%lld", "n", (long long)-7);
	assert_string_equal(buf_cstr(&b), "pre:n=-7");
	char big[500];
	memset(big, 'v', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	vhelper(&b, "%s%s", big, big);
	assert_int_equal(b.len, 8 + 2 * 499);
	assert_int_equal(strlen(b.data), b.len);
	buf_free(&b);
}

static void test_reset_keeps_memory(void **state)
{
	(void)state;
	struct buf b = BUF_INIT;
	buf_puts(&b, "some text");
	size_t cap = b.cap;
	char *data = b.data;
	buf_reset(&b);
	assert_int_equal(b.len, 0);
	assert_int_equal(b.cap, cap);
	assert_ptr_equal(b.data, data);
	assert_string_equal(buf_cstr(&b), "");
	buf_puts(&b, "new");
	assert_string_equal(buf_cstr(&b), "new");
	buf_free(&b);
}

static void test_steal(void **state)
{
	(void)state;
	struct buf b = BUF_INIT;
	buf_puts(&b, "owned");
	char *s = buf_steal(&b);
	assert_string_equal(s, "owned");
	assert_null(b.data);
	assert_int_equal(b.len, 0);
	assert_int_equal(b.cap, 0);
	assert_string_equal(buf_cstr(&b), "");
	free(s);

	/* stealing an empty buffer gives "" (never NULL) */
	struct buf e = BUF_INIT;
	char *t = buf_steal(&e);
	assert_non_null(t);
	assert_string_equal(t, "");
	free(t);

	/* the buffer is usable again after a steal */
	buf_puts(&b, "again");
	assert_string_equal(buf_cstr(&b), "again");
	buf_free(&b);
}

static void test_xalloc(void **state)
{
	(void)state;
	/* zero sizes still give freeable, non-NULL memory */
	void *p = xmalloc(0);
	assert_non_null(p);
	free(p);
	p = xcalloc(0, 0);
	assert_non_null(p);
	free(p);

	unsigned char *z = xcalloc(16, 4);
	for (int i = 0; i < 64; i++)
		assert_int_equal(z[i], 0);
	z = xrealloc(z, 128);
	for (int i = 0; i < 64; i++)
		assert_int_equal(z[i], 0);
	free(z);

	p = xrealloc(NULL, 10);
	assert_non_null(p);
	free(p);

	assert_null(xstrdup(NULL));
	char *d = xstrdup("dup");
	assert_string_equal(d, "dup");
	free(d);

	static const struct {
		const char *in;
		size_t n;
		const char *out;
	} nd[] = {
		{"abcdef", 3, "abc"},
		{"abc", 10, "abc"},
		{"abc", 0, ""},
		{"", 5, ""},
	};
	for (size_t i = 0; i < sizeof nd / sizeof nd[0]; i++) {
		char *s = xstrndup(nd[i].in, nd[i].n);
		assert_string_equal(s, nd[i].out);
		free(s);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_init_empty), cmocka_unit_test(test_append_terminates),
		cmocka_unit_test(test_puts_putc),  cmocka_unit_test(test_growth_large),
		cmocka_unit_test(test_reserve),	   cmocka_unit_test(test_printf),
		cmocka_unit_test(test_vprintf),	   cmocka_unit_test(test_reset_keeps_memory),
		cmocka_unit_test(test_steal),	   cmocka_unit_test(test_xalloc),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
