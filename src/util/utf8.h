/* utf8.h — UTF-8 checks, safe truncation and repair of text headed for JSON.
 *
 * JSON strings must be valid UTF-8 (jansson refuses anything else and returns NULL),
 * so any text that may come from outside — a query value echoed in a message, a
 * truncated message — goes through here before it is packed. Pure; any thread. */
#ifndef INTERVENE_UTIL_UTF8_H
#define INTERVENE_UTIL_UTF8_H

#include <stdbool.h>
#include <stddef.h>

#include "util/buf.h"

/* Whether s[0..n) is well-formed UTF-8 (RFC 3629: no overlongs, no surrogates,
 * nothing above U+10FFFF). NUL bytes count as valid here; callers that must refuse
 * them check separately. */
bool utf8_valid(const char *s, size_t n);

/* Number of code points in valid UTF-8 s (NUL-terminated). */
size_t utf8_length(const char *s);

/* The length of the longest prefix of s[0..n) that is at most max bytes and does
 * not end inside a multi-byte character. */
size_t utf8_cut(const char *s, size_t n, size_t max);

/* Cut the NUL-terminated string s in place so that it is valid UTF-8 again after a
 * byte-count truncation (snprintf): a trailing partial character is removed. */
void utf8_trim_partial(char *s);

/* Append s[0..n) to out with every ill-formed sequence and every NUL replaced by
 * U+FFFD, so the result is always valid UTF-8. */
void utf8_repair(struct buf *out, const char *s, size_t n);

#endif
