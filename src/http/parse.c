/* parse.c — strict HTTP/1.1 request framing; see parse.h for the rules. */
#include "http/parse.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_LEADING_EMPTY 4
#define CHUNK_LINE_MAX	  1024 /* a chunk-size line with its extensions */
#define CHUNK_DIGITS_MAX  15   /* hex digits of a chunk size: below 2^60, no overflow */

/* tchar of RFC 9110 §5.6.2. */
static bool is_tchar(unsigned char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
		return true;
	return c && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* A field-value byte: VCHAR, obs-text, SP or HTAB (RFC 9110 §5.5). */
static bool is_value_byte(unsigned char c)
{
	return c == ' ' || c == '\t' || (c >= 0x21 && c != 0x7f);
}

static int hexval(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

char *http_decode_component(const char *s, size_t n, size_t *len)
{
	char *out = xmalloc(n + 1), *o = out;
	for (size_t i = 0; i < n; i++) {
		if (s[i] != '%') {
			*o++ = s[i] == '+' ? ' ' : s[i];
			continue;
		}
		int hi = i + 2 < n ? hexval((unsigned char)s[i + 1]) : -1;
		int lo = i + 2 < n ? hexval((unsigned char)s[i + 2]) : -1;
		if (hi < 0 || lo < 0) {
			free(out);
			return NULL;
		}
		*o++ = (char)(hi * 16 + lo);
		i += 2;
	}
	*o = '\0';
	*len = (size_t)(o - out);
	return out;
}

static size_t leading_empty(const char *buf, size_t len)
{
	size_t i = 0;
	while (i + 1 < len && buf[i] == '\r' && buf[i + 1] == '\n')
		i += 2;
	return i;
}

long http_head_end(const char *buf, size_t len, size_t *scanned)
{
	size_t start = leading_empty(buf, len);
	size_t from = *scanned > start + 3 ? *scanned - 3 : start;
	for (size_t i = from; i + 3 < len; i++) {
		if (buf[i] == '\r' && buf[i + 1] == '\n' && buf[i + 2] == '\r' &&
		    buf[i + 3] == '\n') {
			size_t end = i + 4;
			return end > HTTP_HEAD_MAX ? -1 : (long)end;
		}
	}
	*scanned = len;
	return len > HTTP_HEAD_MAX ? -1 : 0;
}

void http_head_free(struct http_head *h)
{
	if (!h)
		return;
	free(h->raw);
	memset(h, 0, sizeof *h);
}

const char *http_head_get(const struct http_head *h, const char *name)
{
	for (size_t i = 0; i < h->n_fields; i++)
		if (!strcasecmp(h->fields[i].name, name))
			return h->fields[i].value;
	return NULL;
}

static int refuse(struct http_head *h, struct err *e, int status, const char *msg)
{
	http_head_free(h);
	err_set(e, ERR_INVALID, "%s", msg);
	return status;
}

/* Whether the comma-separated list v contains token (case-insensitive). */
static bool list_has(const char *v, const char *token)
{
	size_t n = strlen(token);
	for (const char *p = v; *p;) {
		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		const char *end = p;
		while (*end && *end != ',')
			end++;
		const char *last = end;
		while (last > p && (last[-1] == ' ' || last[-1] == '\t'))
			last--;
		if ((size_t)(last - p) == n && !strncasecmp(p, token, n))
			return true;
		p = end;
	}
	return false;
}

/* The request line "METHOD SP target SP HTTP/1.x" at line (NUL-terminated). */
static int parse_request_line(struct http_head *h, char *line, struct err *e)
{
	char *p = line;
	while (is_tchar((unsigned char)*p))
		p++;
	if (p == line || *p != ' ')
		return refuse(h, e, 400, "malformed request line");
	*p++ = '\0';
	h->method = line;
	char *target = p;
	/* Visible ASCII only: no spaces, controls or raw non-ASCII bytes in a target. */
	while ((unsigned char)*p > 0x20 && (unsigned char)*p < 0x7f)
		p++;
	if (p == target || *p != ' ')
		return refuse(h, e, 400, "malformed request target");
	*p++ = '\0';
	h->target = target;
	if (strncmp(p, "HTTP/", 5) || !(p[5] >= '0' && p[5] <= '9') || p[6] != '.' ||
	    !(p[7] >= '0' && p[7] <= '9') || p[8] != '\0')
		return refuse(h, e, 400, "malformed HTTP version");
	if (p[5] != '1')
		return refuse(h, e, 505, "only HTTP/1.0 and HTTP/1.1 are served");
	h->minor = p[7] - '0';
	if (h->minor > 1)
		return refuse(h, e, 505, "only HTTP/1.0 and HTTP/1.1 are served");
	return 0;
}

/* One field line "name: value" (NUL-terminated, without CRLF). */
static int parse_field(struct http_head *h, char *line, struct err *e)
{
	if (*line == ' ' || *line == '\t')
		return refuse(h, e, 400, "obsolete line folding is not accepted");
	char *p = line;
	while (is_tchar((unsigned char)*p))
		p++;
	if (p == line || *p != ':')
		return refuse(h, e, 400,
			      *p == ' ' || *p == '\t'
				      ? "whitespace between a header name and its colon"
				      : "malformed header field");
	*p++ = '\0';
	while (*p == ' ' || *p == '\t')
		p++;
	char *v = p;
	for (; *p; p++)
		if (!is_value_byte((unsigned char)*p))
			return refuse(h, e, 400, "control character in a header value");
	while (p > v && (p[-1] == ' ' || p[-1] == '\t'))
		*--p = '\0';
	if (h->n_fields == HTTP_HEADERS_MAX)
		return refuse(h, e, 431, "too many header fields");
	h->fields[h->n_fields].name = line;
	h->fields[h->n_fields].value = v;
	h->n_fields++;
	return 0;
}

static int parse_length(const char *v, int64_t *out)
{
	int64_t n = 0;
	int digits = 0;
	for (const char *p = v; *p; p++, digits++) {
		if (*p < '0' || *p > '9' || digits == 18)
			return -1;
		n = n * 10 + (*p - '0');
	}
	if (!digits)
		return -1;
	*out = n;
	return 0;
}

/* The framing fields: Content-Length, Transfer-Encoding, Host, Connection, Expect. */
static int interpret(struct http_head *h, struct err *e)
{
	int n_cl = 0, n_te = 0, n_host = 0;
	const char *cl = NULL, *te = NULL, *conn = NULL;
	for (size_t i = 0; i < h->n_fields; i++) {
		const char *name = h->fields[i].name, *v = h->fields[i].value;
		if (!strcasecmp(name, "Content-Length")) {
			n_cl++;
			cl = v;
		} else if (!strcasecmp(name, "Transfer-Encoding")) {
			n_te++;
			te = v;
		} else if (!strcasecmp(name, "Host")) {
			n_host++;
			h->host = v;
		} else if (!strcasecmp(name, "Connection")) {
			conn = v; /* several Connection fields: the last decides */
		} else if (!strcasecmp(name, "Expect")) {
			if (strcasecmp(v, "100-continue"))
				return refuse(h, e, 417, "only Expect: 100-continue is supported");
			h->expect_continue = true;
		}
	}
	if (n_cl > 1)
		return refuse(h, e, 400, "Content-Length is repeated");
	if (n_te > 1)
		return refuse(h, e, 400, "Transfer-Encoding is repeated");
	if (n_cl && n_te)
		return refuse(h, e, 400, "Content-Length together with Transfer-Encoding");
	if (n_host > 1 || (h->host && !*h->host))
		return refuse(h, e, 400, "Host must be given once and not be empty");
	if (!n_host && h->minor == 1)
		return refuse(h, e, 400, "an HTTP/1.1 request needs a Host field");
	h->content_length = -1;
	if (cl && parse_length(cl, &h->content_length))
		return refuse(h, e, 400, "Content-Length is not a decimal number of bytes");
	if (te) {
		if (h->minor == 0)
			return refuse(h, e, 400, "Transfer-Encoding in an HTTP/1.0 request");
		if (strcasecmp(te, "chunked"))
			return refuse(h, e, 501, "the only transfer coding served is chunked");
		h->chunked = true;
	}
	if (h->minor == 1)
		h->keep_alive = !(conn && list_has(conn, "close"));
	else
		h->keep_alive = conn && list_has(conn, "keep-alive") && !list_has(conn, "close");
	return 0;
}

int http_head_parse(const char *bytes, size_t len, struct http_head *h, struct err *e)
{
	memset(h, 0, sizeof *h);
	size_t skip = leading_empty(bytes, len);
	if (skip / 2 > MAX_LEADING_EMPTY)
		return refuse(h, e, 400, "too many empty lines before the request");
	if (len < skip + 4 || memcmp(bytes + len - 4, "\r\n\r\n", 4))
		return refuse(h, e, 400, "incomplete request head");
	h->raw = xmalloc(len - skip + 1);
	memcpy(h->raw, bytes + skip, len - skip);
	h->raw[len - skip] = '\0';
	h->raw_len = len - skip;
	/* Split into CRLF-terminated lines; a lone CR or LF, or a NUL, is refused. */
	char *line = h->raw, *end = h->raw + (len - skip) - 2; /* drop the final CRLF */
	bool first = true;
	while (line < end) {
		char *p = line;
		while (p < end && *p != '\r' && *p != '\n' && *p != '\0')
			p++;
		if (p >= end || *p != '\r' || p[1] != '\n')
			return refuse(h, e, 400,
				      *p == '\0' ? "NUL byte in the request head"
						 : "bare CR or LF in the request head");
		*p = '\0';
		int rc = first ? parse_request_line(h, line, e) : parse_field(h, line, e);
		if (rc)
			return rc;
		first = false;
		line = p + 2;
	}
	if (first)
		return refuse(h, e, 400, "empty request");
	return interpret(h, e);
}

/* ---- chunked bodies ---- */

enum {
	CH_SIZE,     /* hex digits of the chunk size */
	CH_EXT,	     /* after ';': chunk extensions up to CR */
	CH_BWS,	     /* whitespace after the size: only before ';' */
	CH_SIZE_LF,  /* CR seen after the size line */
	CH_DATA,     /* chunk data */
	CH_DATA_CR,  /* CR after the data */
	CH_DATA_LF,  /* LF after the data */
	CH_TRAILER,  /* start of a trailer line, or the final empty line */
	CH_TNAME,    /* the name of a trailer field, up to its colon */
	CH_TLINE,    /* the value of a trailer field */
	CH_TLINE_LF, /* CR seen at the end of a trailer line */
	CH_FINAL_LF, /* CR of the final empty line seen */
	CH_DONE,
};

static int bad(struct err *e, const char *msg)
{
	err_set(e, ERR_INVALID, "malformed chunked body: %s", msg);
	return 400;
}

int http_chunked_feed(struct http_chunked *c, const char *in, size_t len, size_t *used,
		      struct buf *out, size_t max, struct err *e)
{
	size_t i = 0;
	int rc = 0;
	while (i < len && c->state != CH_DONE) {
		unsigned char ch = (unsigned char)in[i];
		if (c->state >= CH_TRAILER && c->state <= CH_TLINE &&
		    ++c->trailer > HTTP_TRAILER_MAX) {
			rc = bad(e, "trailer fields too long");
			goto out;
		}
		switch (c->state) {
		case CH_SIZE: {
			int v = hexval(ch);
			if (v >= 0) {
				if (++c->digits > CHUNK_DIGITS_MAX) {
					rc = bad(e, "chunk size too large");
					goto out;
				}
				c->remaining = c->remaining * 16 + (uint64_t)v;
			} else if (!c->digits) {
				rc = bad(e, "a chunk size must start with a hex digit");
				goto out;
			} else if (ch == '\r') {
				c->state = CH_SIZE_LF;
			} else if (ch == ';') {
				c->state = CH_EXT;
			} else if (ch == ' ' || ch == '\t') {
				c->state = CH_BWS;
			} else {
				rc = bad(e, "a chunk size must be hex digits");
				goto out;
			}
			i++;
			c->line++;
			break;
		}
		case CH_BWS:
			if (ch == ';')
				c->state = CH_EXT;
			else if (ch != ' ' && ch != '\t') {
				rc = bad(e, "only a chunk extension may follow the size");
				goto out;
			}
			i++;
			c->line++;
			break;
		case CH_EXT:
			if (ch == '\r')
				c->state = CH_SIZE_LF;
			else if (!is_value_byte(ch)) {
				rc = bad(e, "control character in a chunk extension");
				goto out;
			}
			i++;
			if (++c->line > CHUNK_LINE_MAX) {
				rc = bad(e, "chunk size line too long");
				goto out;
			}
			break;
		case CH_SIZE_LF:
			if (ch != '\n') {
				rc = bad(e, "bare CR after a chunk size");
				goto out;
			}
			i++;
			c->line = 0;
			c->digits = 0;
			c->state = c->remaining ? CH_DATA : CH_TRAILER;
			break;
		case CH_DATA: {
			size_t n = len - i;
			if (n > c->remaining)
				n = (size_t)c->remaining;
			if (out->len + n > max) {
				err_set(e, ERR_TOOLARGE, "the body exceeds %zu bytes", max);
				rc = 413;
				goto out;
			}
			buf_append(out, in + i, n);
			i += n;
			c->remaining -= n;
			if (!c->remaining)
				c->state = CH_DATA_CR;
			break;
		}
		case CH_DATA_CR:
			if (ch != '\r') {
				rc = bad(e, "chunk data longer than its size");
				goto out;
			}
			i++;
			c->state = CH_DATA_LF;
			break;
		case CH_DATA_LF:
			if (ch != '\n') {
				rc = bad(e, "bare CR after chunk data");
				goto out;
			}
			i++;
			c->state = CH_SIZE;
			break;
		case CH_TRAILER:
			if (ch == '\r') {
				c->state = CH_FINAL_LF;
			} else if (is_tchar(ch)) {
				c->state = CH_TNAME;
			} else {
				rc = bad(e, "malformed trailer field");
				goto out;
			}
			i++;
			break;
		case CH_TNAME:
			if (ch == ':') {
				c->state = CH_TLINE;
			} else if (!is_tchar(ch)) {
				rc = bad(e, "malformed trailer field name");
				goto out;
			}
			i++;
			break;
		case CH_TLINE:
			if (ch == '\r')
				c->state = CH_TLINE_LF;
			else if (!is_value_byte(ch)) {
				rc = bad(e, "control character in a trailer field");
				goto out;
			}
			i++;
			break;
		case CH_TLINE_LF:
		case CH_FINAL_LF:
			if (ch != '\n') {
				rc = bad(e, "bare CR in the trailer section");
				goto out;
			}
			i++;
			c->state = c->state == CH_FINAL_LF ? CH_DONE : CH_TRAILER;
			break;
		}
	}
	if (c->state == CH_DONE)
		rc = 1;
out:
	*used = i;
	return rc;
}
