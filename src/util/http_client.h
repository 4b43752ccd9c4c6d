/* http_client.h — a small blocking HTTP client over libcurl: the client commands talk
 * to the server with it, and delivery (trackers, webhooks) talks to other machines.
 *
 * One struct http_client holds a base URL, default headers and one curl easy handle,
 * so consecutive requests reuse the connection. Every request: protocols http and
 * https only, TLS verified, no redirects, CURLOPT_NOSIGNAL, connect timeout 5 s, total
 * 30 s, a cap on the response body (64 MiB by default; see http_client_set_limits),
 * User-Agent intervene/<version>, `Accept: application/json` unless a header sets
 * another, and no `Expect: 100-continue`. Header names must be tokens and values must
 * not hold CR or LF (libcurl would send them verbatim). http_client_stream reads an
 * open-ended body (an event stream) as it arrives, without the total timeout.
 *
 * Threads: curl_global_init must have run (main() does it). One client is used by one
 * thread at a time. */
#ifndef INTERVENE_UTIL_HTTP_CLIENT_H
#define INTERVENE_UTIL_HTTP_CLIENT_H

#include <signal.h>
#include <stddef.h>

#include "util/buf.h"
#include "util/err.h"

#define HTTP_CLIENT_MAX_RESPONSE ((size_t)64 * 1024 * 1024)

struct http_client;

struct http_header {
	const char *name;
	const char *value;
};

/* Why no response arrived (ERR_UPSTREAM), for messages that say what to fix. */
enum http_fail {
	HTTP_FAIL_NONE,
	HTTP_FAIL_DNS,	   /* the host name does not resolve */
	HTTP_FAIL_CONNECT, /* refused or unreachable */
	HTTP_FAIL_TLS,	   /* handshake or certificate verification */
	HTTP_FAIL_TIMEOUT, /* connect or total timeout */
	HTTP_FAIL_IO,	   /* the connection broke while sending or receiving */
	HTTP_FAIL_OTHER,
};

struct http_kv {
	char *name; /* lower-cased */
	char *value;
};

struct http_response {
	long status;	 /* the HTTP status, 0 when no response arrived */
	struct buf body; /* the response body, byte for byte; owned, see http_response_clear */
	char content_type[128];	 /* the Content-Type header, or "" */
	struct http_kv *headers; /* every response header (of the final response) */
	size_t n_headers;
	enum http_fail fail; /* when the request returned ERR_UPSTREAM */
};

/* A client for base_url ("http://host:port" or "https://...", with an optional path
 * prefix; a trailing '/' is dropped). Returns 0 with *out set (free with
 * http_client_free), or ERR_INVALID (not an http(s) URL, or it holds whitespace or
 * control characters) or ERR_NOMEM, with a message in e. */
int http_client_new(const char *base_url, struct http_client **out, struct err *e);

/* Release the client and its connection; NULL is allowed. */
void http_client_free(struct http_client *c);

/* The base URL the client was made with (owned by c). */
const char *http_client_base(const struct http_client *c);

/* Add a header sent with every request (copied). ERR_INVALID for a bad name or a
 * value holding CR, LF or NUL. */
int http_client_add_header(struct http_client *c, const char *name, const char *value,
			   struct err *e);

/* Timeouts (milliseconds; 0 keeps the current one) and the response body cap (0 keeps
 * it) for the next requests. */
void http_client_set_limits(struct http_client *c, long connect_ms, long total_ms,
			    size_t max_response);

/* When *flag becomes non-zero (e.g. from a signal handler) a request in progress is
 * abandoned with ERR_IO "interrupted". NULL turns this off. The flag is not owned. */
void http_client_cancel_on(struct http_client *c, volatile sig_atomic_t *flag);

/* Make every client this thread creates from now on abandon a request in progress as
 * soon as *flag becomes non-zero (ERR_IO "interrupted"), as http_client_cancel_on does
 * for one client. For threads whose callees create their own clients (the delivery
 * threads: a stopping server must not wait out a 30 s call). NULL turns it off. */
void http_client_cancel_thread(volatile sig_atomic_t *flag);

/* Perform one request. method: "GET", "POST", "PATCH", "PUT", "DELETE". path starts
 * with '/' and may carry a query string (already percent-encoded); it is appended to
 * the base URL. body (body_len bytes, may be NULL) is sent as application/json;
 * extra (n_extra entries, may be NULL) are headers for this request only.
 * Returns 0 whenever a response arrived, whatever its status: resp->status, headers
 * and body hold it (resp must be zero-initialised or cleared; what it held is
 * replaced). Errors: ERR_INVALID (bad method, path or header), ERR_UPSTREAM (the server
 * could not be reached or the transfer failed; resp->fail says how and the message
 * names the URL), ERR_TOOLARGE (the response exceeded the cap), ERR_IO (interrupted). */
int http_client_request(struct http_client *c, const char *method, const char *path,
			const char *body, size_t body_len, const struct http_header *extra,
			size_t n_extra, struct http_response *resp, struct err *e);

/* Receives a streamed body as it arrives: n bytes at data (n > 0; not NUL-terminated,
 * valid during the call only; chunk boundaries are wherever the network put them).
 * Returns 0 to go on, non-zero to end the transfer. */
typedef int (*http_stream_fn)(void *arg, const char *data, size_t n);

/* GET path (as http_client_request takes it) and hand a 2xx body to on_data chunk by
 * chunk as it arrives, for open-ended responses (Server-Sent Events). As
 * http_client_request, but: no total timeout (the connect timeout stays); a transfer
 * that receives nothing for 60 s is abandoned as a lost connection (a live stream
 * sends heartbeats); the response body cap does not apply. Pass `Accept` in extra
 * (the default is application/json). on_data runs on the calling thread, after the
 * headers: resp->status and resp->headers are already set when it runs.
 * Returns 0 when a response arrived and ended, or on_data ended it: with a 2xx status
 * resp->body stays empty, otherwise it holds the error reply (up to 64 KiB). Errors:
 * ERR_INVALID, ERR_INTERNAL (libcurl refused an option), ERR_UPSTREAM (no response,
 * or the connection broke or went silent during the body: resp->status is then the
 * status of the response that had begun, 0 if none had, and resp->fail says how),
 * ERR_TOOLARGE (an error reply beyond 64 KiB), ERR_IO (interrupted through the cancel
 * flag). */
int http_client_stream(struct http_client *c, const char *path, const struct http_header *extra,
		       size_t n_extra, http_stream_fn on_data, void *arg,
		       struct http_response *resp, struct err *e);

/* Release resp's body and headers; resp can be reused. */
void http_response_clear(struct http_response *resp);

/* The value of response header name (case-insensitive; the first one), or NULL. */
const char *http_response_header(const struct http_response *resp, const char *name);

/* A short word for a failure: "DNS", "connect", "TLS", "timeout", "I/O", "transfer". */
const char *http_fail_name(enum http_fail f);

/* Append s percent-encoded for a query string component (RFC 3986 unreserved
 * characters stay as they are). */
void http_query_escape(struct buf *b, const char *s);

#endif
