/* conn.h — HTTP/1.1 connections on the loop thread: accept, read requests whole,
 * write replies, keep-alive, and every limit a hostile client could push against.
 *
 * This layer owns sockets and bytes; it knows nothing of routes or JSON. For each
 * request it parses the head (http/parse.h) and asks its owner what to do before a
 * single body byte is buffered: the owner authenticates from the head and either
 * answers at once or asks for the body with conn_read_body(). Limits:
 *
 *   - a request (head and body) must arrive whole within read_timeout of its first
 *     byte, however slowly it trickles (408, then close); an idle keep-alive
 *     connection is closed after read_timeout; a reply the client does not read
 *     within read_timeout is dropped;
 *   - at most max_connections open connections: one more is answered 503 and closed
 *     at once, and so is a connection accepted while the process is out of file
 *     descriptors (a reserve descriptor makes that possible);
 *   - the bytes buffered across all connections (request heads and bodies in
 *     flight) stay under max_buffered: a body is reserved in full from its
 *     Content-Length before it is read, a chunked body as it grows, a head as it
 *     arrives; bodies may take three quarters of it, so heads always find room; a
 *     request that does not fit is refused (on_error 503) and its connection closed;
 *   - framing errors (parse.h) are answered with their status and the connection
 *     is closed; replies sent before a body was read close the connection after a
 *     short lingering read, so the client sees the reply.
 *
 * Everything here runs on the loop thread. A struct conn stays valid from on_head
 * until the owner's conn_respond(), even if the peer disconnects in between (the
 * reply is then discarded). */
#ifndef INTERVENE_HTTP_CONN_H
#define INTERVENE_HTTP_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "http/parse.h"
#include "util/err.h"

struct event_base;
struct sockaddr;
struct conn;
struct conn_server;

struct conn_limits {
	int64_t read_timeout_ms;
	int64_t max_connections;
	size_t max_buffered;
};

struct conn_handler {
	/* A well-framed head arrived. The owner takes over *head (it may move the
	 * struct out; the connection keeps nothing of it) and must call, before it
	 * returns, either conn_read_body() or conn_respond() — or conn_respond() later,
	 * once for this request. */
	void (*on_head)(void *arg, struct conn *c, struct http_head *head);
	/* The body asked for arrived: body[0..len) plus a NUL, malloc'd, now the
	 * owner's. The owner calls conn_respond() now or later. */
	void (*on_body)(void *arg, struct conn *c, char *body, size_t len);
	/* This layer refuses the current request with status (400, 408, 413, 417, 431,
	 * 501, 503, 505) for the reason in e. Before it returns the owner either answers
	 * with conn_respond() (the connection closes after it) or drops the connection
	 * with conn_abort() (the SPEC allows closing on errors raised before routing).
	 * conn_data(c) tells whether the owner already holds a request of c (one it
	 * asked the body of) or never saw it (a malformed head). */
	void (*on_error)(void *arg, struct conn *c, int status, const struct err *e);
	/* Every connection that owed a reply has been answered after
	 * conn_server_stop(): the owner may end the loop. */
	void (*on_drained)(void *arg);
	void *arg;
};

struct http_response {
	int status;
	const char *content_type;
	/* Further header lines, each "Name: value\r\n" (checked to hold no bare CR/LF
	 * by whoever built them), or NULL. */
	const char *headers;
	char *body; /* malloc'd; taken over by conn_respond (NULL = empty) */
	size_t body_len;
	bool head_only; /* HEAD: send Content-Length of body, not the body */
	bool close;	/* close the connection after this reply */
};

/* Listen on addr and serve connections with h. Returns 0 with *out set, or ERR_IO
 * with a message (address in use, ...). */
int conn_server_start(struct event_base *base, const struct sockaddr *addr, int addrlen,
		      const struct conn_limits *lim, const struct conn_handler *h,
		      struct conn_server **out, struct err *e);

/* The address actually bound ("127.0.0.1:8080", "[::1]:8080"). */
void conn_server_address(const struct conn_server *cs, char *out, size_t outsz);

/* Stop accepting, close every connection that owes no reply, and send
 * "Connection: close" on the replies still owed. on_drained follows once none is
 * owed (at once when none is). */
void conn_server_stop(struct conn_server *cs);

/* Close every connection and free cs (after the loop ended). NULL is fine. */
void conn_server_free(struct conn_server *cs);

/* Open connections, bytes buffered across them, connections refused so far. */
size_t conn_server_count(const struct conn_server *cs);
size_t conn_server_buffered(const struct conn_server *cs);
unsigned long long conn_server_refused(const struct conn_server *cs);

/* Read the body announced by the current head, refusing with 413 beyond max bytes
 * (Content-Length is checked before reading; a chunked body as it arrives). Sends
 * "100 Continue" first when the client asked for it. on_body follows, or on_error.
 * A request without a body gets on_body with an empty body at once. */
void conn_read_body(struct conn *c, size_t max);

/* Answer the current request with r (its body is taken over). After a reply that
 * closes, or when the peer is gone, the connection is released. */
void conn_respond(struct conn *c, struct http_response *r);

/* Close c without a reply (an error before routing, or a request that must not be
 * answered); the owner's data of c is its own to free. */
void conn_abort(struct conn *c);

/* ---- streams (Server-Sent Events) ----
 *
 * A reply whose body is written as it happens, ended by closing the connection: no
 * Content-Length, "Connection: close". From conn_stream_begin on, the connection owes
 * no reply; it has no read deadline (what the client sends is read and dropped, at most
 * STREAM_READ_MAX bytes, so it cannot pile up); on_close is called once when the peer
 * goes away, the owner ends it, or the server stops (after what was queued went out, or
 * at once when the socket is already gone) — the struct conn is freed right after. */
struct conn_stream_handler {
	void (*on_close)(void *arg, struct conn *c);
	void *arg;
};

/* Answer the current request (which must be owed) with status and extra header lines
 * ("Name: value\r\n" each, or NULL) and turn c into a stream. */
void conn_stream_begin(struct conn *c, int status, const char *content_type, const char *headers,
		       const struct conn_stream_handler *h);

/* Queue n bytes of data, copied. */
void conn_stream_write(struct conn *c, const char *data, size_t n);

/* Write n blocks (iov) in order. When nothing is queued before them they go to the
 * socket at once (one writev), and only what the socket does not take is queued, copied
 * — so a fan-out to many streams costs one system call per stream, not a buffer and two
 * poll registrations. The blocks are the caller's again when this returns. */
void conn_stream_writev(struct conn *c, const struct iovec *iov, size_t n);

/* Bytes queued and not yet written to the socket. */
size_t conn_stream_unsent(const struct conn *c);

/* End the stream: with flush, once what is queued went out (bounded by the server's
 * read_timeout), else at once. on_close follows. */
void conn_stream_end(struct conn *c, bool flush);

/* One pointer of the owner's per connection (its request in flight), NULL at first. */
void conn_set_data(struct conn *c, void *data);
void *conn_data(const struct conn *c);

/* The peer's address as text, for logs. */
const char *conn_peer(const struct conn *c);

#endif
