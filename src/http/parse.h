/* parse.h — strict HTTP/1.1 request framing (RFC 9112), as pure functions.
 *
 * The connection layer (http/conn.c) finds the end of a request head, hands the
 * complete head to http_head_parse, and feeds a chunked body through
 * http_chunked_feed. Anything ambiguous is refused rather than guessed, because a
 * proxy in front of us may guess differently (request smuggling, RFC 9112 §6.3,
 * §11.2): repeated or conflicting Content-Length, Content-Length together with
 * Transfer-Encoding, any transfer coding but "chunked", chunk sizes that are not
 * plain hex digits, chunk data not followed by CRLF, obs-fold, whitespace before a
 * header's colon, control bytes, bare CR or LF. Refusals carry the HTTP status to
 * answer (400, 413, 417, 431, 501, 505) and a message; the connection is then closed.
 *
 * No I/O, no allocation except the head copy; any thread. */
#ifndef INTERVENE_HTTP_PARSE_H
#define INTERVENE_HTTP_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"
#include "util/err.h"

#define HTTP_HEAD_MAX	 16384 /* request line + header fields + blank line */
#define HTTP_HEADERS_MAX 100
#define HTTP_TRAILER_MAX 4096 /* bytes of trailer fields after a chunked body */

struct http_field {
	const char *name;  /* as sent (compare case-insensitively) */
	const char *value; /* leading and trailing whitespace removed */
};

struct http_head {
	char *raw;	    /* owned copy of the head; every pointer below points into it */
	size_t raw_len;	    /* its length (it holds NULs where lines and fields were split) */
	const char *method; /* a token, e.g. "GET" */
	const char *target; /* the request target as sent, e.g. "/api/x?y=1" */
	int minor;	    /* HTTP/1.<minor>: 0 or 1 */
	struct http_field fields[HTTP_HEADERS_MAX];
	size_t n_fields;
	int64_t content_length; /* -1 when absent */
	bool chunked;		/* Transfer-Encoding: chunked */
	bool keep_alive;	/* the connection may serve another request after this one */
	bool expect_continue;	/* Expect: 100-continue */
	const char *host;	/* the Host field, or NULL (allowed only on HTTP/1.0) */
};

/* The length of the head at the start of buf[0..len), including the empty line that
 * ends it. Returns 0 when it is not complete yet (*scanned remembers how far the
 * search got, so trickled bytes are not searched again; start it at 0), -1 when it
 * already exceeds HTTP_HEAD_MAX. Empty lines before the request line (RFC 9112 §2.2)
 * are part of the head. */
long http_head_end(const char *buf, size_t len, size_t *scanned);

/* Parse the complete head bytes[0..len) (as found by http_head_end) into h, which
 * owns a copy afterwards (release with http_head_free). Returns 0, or the HTTP status
 * to refuse it with (400 malformed or ambiguous, 417 unknown expectation, 431 too many
 * fields, 501 unknown transfer coding, 505 other HTTP version) with e->msg saying why;
 * h is then empty. */
int http_head_parse(const char *bytes, size_t len, struct http_head *h, struct err *e);

/* Release h's copy; h is empty afterwards. Zeroed heads are fine. */
void http_head_free(struct http_head *h);

/* The value of the first field called name (case-insensitive), or NULL. */
const char *http_head_get(const struct http_head *h, const char *name);

/* Decode one component of a query string (percent-escapes, '+' as a space) into a
 * malloc'd, NUL-terminated copy; *len gets its length (it may hold NUL bytes, which
 * the caller must refuse). NULL when an escape is malformed ("%4", "%zz"). */
char *http_decode_component(const char *s, size_t n, size_t *len);

/* The decoder of one chunked body (RFC 9112 §7.1). Zero it before the first feed. */
struct http_chunked {
	int state;
	uint64_t remaining; /* bytes left in the current chunk */
	int digits;	    /* hex digits of the current size */
	size_t line;	    /* bytes of the current size or trailer line */
	size_t trailer;	    /* bytes of trailer fields so far */
};

/* Feed in[0..len) to c, appending chunk data to out; *used gets the bytes consumed
 * (on completion the body may end before len: the rest belongs to the next request).
 * Returns 0 when more input is needed, 1 when the body is complete, or an HTTP status
 * (400 malformed, 413 when out would exceed max bytes) with e->msg set. */
int http_chunked_feed(struct http_chunked *c, const char *in, size_t len, size_t *used,
		      struct buf *out, size_t max, struct err *e);

#endif
