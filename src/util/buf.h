/* buf.h — a growable byte string, always NUL-terminated.
 *
 * Owned by whoever declared it; buf_free releases the memory. Allocation failure
 * aborts the process (see buf.c: a server that cannot allocate a few bytes cannot
 * do anything useful, and every caller checking would hide real errors). */
#ifndef INTERVENE_UTIL_BUF_H
#define INTERVENE_UTIL_BUF_H

#include <stdarg.h>
#include <stddef.h>

struct buf {
	char *data; /* NUL-terminated when len > 0 or after any append; may be NULL when empty */
	size_t len;
	size_t cap;
};

#define BUF_INIT                                                                                   \
	{                                                                                          \
		NULL, 0, 0                                                                         \
	}

void buf_reserve(struct buf *b, size_t extra);
void buf_append(struct buf *b, const void *p, size_t n);
void buf_puts(struct buf *b, const char *s);
void buf_putc(struct buf *b, char c);
void buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void buf_vprintf(struct buf *b, const char *fmt, va_list ap);
/* Empty the buffer, keeping its memory. */
void buf_reset(struct buf *b);
/* Release the memory; b is empty afterwards. */
void buf_free(struct buf *b);
/* Hand the string to the caller (free() it); b is empty afterwards. Never NULL. */
char *buf_steal(struct buf *b);
/* The contents as a C string ("" when empty). */
const char *buf_cstr(const struct buf *b);

/* xmalloc family: abort with a message on allocation failure. */
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s); /* NULL stays NULL */
char *xstrndup(const char *s, size_t n);

#endif
