/* bench/sse_clients.c — the Server-Sent Events load client of bench/run.sh, scenarios 8
 * and 9 (issue 11, point 5). Standalone: C17 and libevent 2.1, nothing of the server.
 *
 *   cc -O2 -std=c17 -D_DEFAULT_SOURCE -Wall -Wextra -Werror bench/sse_clients.c -levent \
 *      -o sse_clients
 *
 * Run mode (the default): opens --subscribers N streams
 * (GET /api/sse/events?types=incident_created), ramping up --batch connections every
 * 5 ms with at most --concurrency of them not yet connected (so the server's listen
 * backlog is never overrun), and waits until each has received `event: connected` (or
 * gave up after --retries attempts). Then it prints
 *
 *   SSEHOLD connected=C failed=F connect_s=T
 *
 * waits --settle-ms, and sends --events M signals (POST /api/signals,
 * {"kind":"manual","key":"ssebench-<run>-<i>","summary":"sse bench"}) one at a time over
 * one keep-alive connection of its own thread (blocking; each --gap-ms after the answer
 * to the one before), noting when each 202 arrived. Every subscriber notes when each
 * incident_created frame arrived (monotonic clock, at the read), keyed by the incident's
 * "key". When every subscriber has every event (or --timeout-s after the start), it
 * prints one line:
 *
 *   SSEBENCH subscribers=N events=M connected=C p50_ms=… p99_ms=… max_ms=… missing=X
 *            mean_ms=… measured=… sent=… acked=… failed=… dropped=… connect_s=…
 *            heartbeats=… other_frames=… send_errors=… duplicates=… send_s=…
 *            client_cpu_s=… first_p50_ms=… timeout=0|1 run=…
 *
 * (one line), where the latency of an event is the time the LAST subscriber received it
 * minus the time its 202 arrived; p50/p99 (nearest rank), max and mean are over the
 * `measured` events (acknowledged and received by someone). missing counts the
 * (subscriber, event) pairs never received, over all N subscribers and M events: a
 * subscriber that never connected misses every event. connected: subscribers that got
 * `connected`; failed: gave up before; dropped: streams closed after `connected` (never
 * reopened); sent/acked: signals answered / answered 202; duplicates: bench events a
 * subscriber received again; send_s and client_cpu_s: wall time and this process's CPU
 * time from the first signal to the end (the client shares the machine with the
 * server); first_p50_ms: the median over the events of the time
 * from the 202 to the FIRST subscriber receiving it; timeout=1 when --timeout-s ended the
 * wait. NA stands for a figure with nothing to compute it from.
 *
 * --hold: only connects the N subscribers, prints `SSEHOLD connected=C failed=F
 * connect_s=T` once all are settled (or at --timeout-s), and keeps them, reading and
 * discarding, until SIGTERM or SIGINT; then prints
 * `SSEHOLD end live=L dropped=D bytes=B` and exits 0.
 *
 * Flags (defaults): --host 127.0.0.1, --port P, --token T (both required), --subscribers
 * 10000, --events 100, --gap-ms 20, --timeout-s 120, --concurrency 256, --batch 100,
 * --retries 5 (per subscriber, before `connected`: connection refused, reset, 503, 429),
 * --settle-ms 0, --types incident_created ("" for no filter), --run ID (the key infix;
 * by default from the time and the pid), --hold.
 *
 * Exit status: 0 measured (whatever the figures), 1 nothing to measure (no subscriber
 * connected, or the server unreachable), 2 usage, 3 the server answered the stream
 * request with 404 (no such endpoint) or another 4xx. */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/util.h>

#define RAMP_TICK_MS   5
#define CONNECT_WAIT_S 10	    /* until `connected`, per attempt */
#define RETRY_BASE_MS  200	    /* times the attempt number */
#define MAX_HEAD       16384	    /* response head */
#define MAX_LINE       (1 << 20)    /* one stream line */
#define SEND_TIMEOUT_S 10	    /* one signal's answer */
#define HOLD_READ_MAX  (256 * 1024) /* bytes per read while holding */
#define DONE_CHECK_MS  5

struct opts {
	const char *host;
	int port;
	const char *token;
	long subscribers;
	long events;
	long gap_ms;
	long timeout_s;
	long concurrency;
	long batch;
	long retries;
	long settle_ms;
	const char *types;
	const char *run;
	bool hold;
};

enum sstate { S_IDLE, S_CONNECTING, S_HEAD, S_STREAM, S_CLOSED, S_FAILED };
enum ftype { F_NONE, F_CONNECTED, F_CREATED, F_HEARTBEAT, F_OTHER };

struct sub {
	struct bufferevent *bev;
	struct evbuffer *body; /* the de-chunked stream, with Transfer-Encoding: chunked */
	uint64_t chunk_left;
	uint64_t retry_at; /* ns, while queued for a retry */
	uint32_t idx;
	uint32_t got;  /* distinct bench events received */
	int32_t key_i; /* the bench event named by this frame's data, -1 none */
	int status;
	uint8_t state;
	uint8_t attempts;
	uint8_t frame; /* enum ftype of the frame being read */
	bool chunked, chunk_crlf, inflight, connected, ever, queued;
};

static struct opts o = {
	.host = "127.0.0.1",
	.port = 0,
	.token = NULL,
	.subscribers = 10000,
	.events = 100,
	.gap_ms = 20,
	.timeout_s = 120,
	.concurrency = 256,
	.batch = 100,
	.retries = 5,
	.settle_ms = 0,
	.types = "incident_created",
	.run = NULL,
	.hold = false,
};

static struct {
	struct event_base *base;
	struct sockaddr_storage addr;
	ev_socklen_t addrlen;
	char path[512];
	char hostport[300];
	char prefix[128]; /* ssebench-<run>- */
	size_t prefix_len;

	struct sub *subs;
	uint64_t *recv_ns; /* [subscriber * events + event], 0 = not received */
	uint64_t *ack_ns;  /* [event], 0 = no 202 */

	long next_sub; /* first one never started */
	long inflight; /* started, not yet `connected` */
	long queued;   /* waiting for a retry */
	long live;     /* connected now */
	long ever;     /* connected once */
	long failed;   /* gave up */
	long dropped;  /* closed by the server after `connected` */
	uint64_t heartbeats, other_frames, dups, bytes_discarded;
	uint64_t t_start, t_settled, t_send;
	double cpu_send; /* this process's CPU seconds when sending began */
	bool settled, sending, done, timed_out;
	int fatal_status; /* a 4xx for the stream request */

	struct event *ramp_ev, *deadline_ev, *settle_ev, *check_ev, *sigint_ev, *sigterm_ev;

	pthread_t sender;
	bool sender_started;
	atomic_long sent;  /* signals answered (202 or not) */
	atomic_long acked; /* 202s */
	atomic_long send_errors;
	atomic_bool stop;
	atomic_int sender_fd;
} g;

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* User + system CPU seconds of this process (every thread) so far. */
static double cpu_s(void)
{
	struct rusage ru;
	if (getrusage(RUSAGE_SELF, &ru) != 0)
		return 0;
	return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
	       (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static double secs_since(uint64_t t0)
{
	return (double)(now_ns() - t0) / 1e9;
}

/* ---- subscribers ---------------------------------------------------------------------- */

static void sub_readcb(struct bufferevent *bev, void *arg);
static void sub_eventcb(struct bufferevent *bev, short what, void *arg);
static void check_settled(bool force);
static void ramp_cb(evutil_socket_t fd, short what, void *arg);

static void sub_free_bev(struct sub *s)
{
	if (s->bev) {
		bufferevent_free(s->bev);
		s->bev = NULL;
	}
	if (s->body) {
		evbuffer_free(s->body);
		s->body = NULL;
	}
}

static void sub_start(struct sub *s)
{
	s->attempts++;
	s->state = S_CONNECTING;
	s->inflight = true;
	g.inflight++;
	s->chunked = s->chunk_crlf = false;
	s->chunk_left = 0;
	s->status = 0;
	s->frame = F_NONE;
	s->key_i = -1;
	s->bev = bufferevent_socket_new(g.base, -1, BEV_OPT_CLOSE_ON_FREE);
	if (!s->bev) {
		fprintf(stderr, "sse_clients: bufferevent_socket_new failed\n");
		exit(1);
	}
	bufferevent_setcb(s->bev, sub_readcb, NULL, sub_eventcb, s);
	struct timeval tv = {CONNECT_WAIT_S, 0};
	bufferevent_set_timeouts(s->bev, &tv, &tv);
	bufferevent_enable(s->bev, EV_READ);
	if (bufferevent_socket_connect(s->bev, (struct sockaddr *)&g.addr, (int)g.addrlen) < 0) {
		/* failed at once (no callback comes): out of descriptors or ports */
		sub_eventcb(s->bev, BEV_EVENT_ERROR, s);
	}
}

/* The stream ended or could not start. Before `connected`: retry or give up; after:
 * dropped (no reconnect: a benchmark subscriber that lost its stream is reported). */
static void sub_lost(struct sub *s, const char *why)
{
	sub_free_bev(s);
	if (s->inflight) {
		s->inflight = false;
		g.inflight--;
	}
	if (s->connected) {
		s->connected = false;
		g.live--;
		g.dropped++;
		s->state = S_CLOSED;
		if (g.dropped <= 3)
			fprintf(stderr, "sse_clients: subscriber %u lost its stream: %s\n", s->idx,
				why);
		return;
	}
	if (s->ever) {
		s->state = S_CLOSED;
		return;
	}
	if (s->attempts <= o.retries && !g.stop && g.fatal_status == 0) {
		s->state = S_IDLE;
		s->queued = true;
		s->retry_at = now_ns() + (uint64_t)s->attempts * RETRY_BASE_MS * 1000000u;
		g.queued++;
		if (!event_pending(g.ramp_ev, EV_TIMEOUT, NULL)) {
			struct timeval tick = {0, RAMP_TICK_MS * 1000};
			event_add(g.ramp_ev, &tick);
		}
		return;
	}
	s->state = S_FAILED;
	g.failed++;
	if (g.failed <= 3)
		fprintf(stderr, "sse_clients: subscriber %u gave up after %u attempts: %s\n",
			s->idx, s->attempts, why);
	check_settled(false);
}

static void sub_eventcb(struct bufferevent *bev, short what, void *arg)
{
	struct sub *s = arg;
	if (what & BEV_EVENT_CONNECTED) {
		evutil_socket_t fd = bufferevent_getfd(bev);
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
		evbuffer_add_printf(bufferevent_get_output(bev),
				    "GET %s HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\n"
				    "Accept: text/event-stream\r\nCache-Control: no-cache\r\n\r\n",
				    g.path, g.hostport, o.token);
		s->state = S_HEAD;
		return;
	}
	char why[160];
	int err = EVUTIL_SOCKET_ERROR();
	if (what & BEV_EVENT_TIMEOUT)
		snprintf(why, sizeof why, "no `connected` within %d s", CONNECT_WAIT_S);
	else if (what & BEV_EVENT_EOF)
		snprintf(why, sizeof why, "closed by the server");
	else
		snprintf(why, sizeof why, "%s", evutil_socket_error_to_string(err));
	sub_lost(s, why);
}

/* The bench event a data line names: the number after "key":"<prefix>, or -1. */
static int32_t find_key(const char *p, size_t n)
{
	static const char k[] = "\"key\"";
	const size_t kl = sizeof k - 1;
	for (size_t i = 0; i + kl <= n; i++) {
		const char *q = memchr(p + i, '"', n - i);
		if (!q)
			return -1;
		i = (size_t)(q - p);
		if (i + kl > n || memcmp(q, k, kl) != 0)
			continue;
		size_t j = i + kl;
		while (j < n && (p[j] == ' ' || p[j] == '\t'))
			j++;
		if (j >= n || p[j] != ':')
			continue;
		j++;
		while (j < n && (p[j] == ' ' || p[j] == '\t'))
			j++;
		if (j >= n || p[j] != '"')
			continue;
		j++;
		if (n - j < g.prefix_len || memcmp(p + j, g.prefix, g.prefix_len) != 0)
			continue;
		j += g.prefix_len;
		long v = 0;
		size_t d = j;
		while (j < n && p[j] >= '0' && p[j] <= '9' && v < 100000000)
			v = v * 10 + (p[j++] - '0');
		if (j == d || j >= n || p[j] != '"')
			continue;
		return v < o.events ? (int32_t)v : -1;
	}
	return -1;
}

static void on_connected(struct sub *s)
{
	if (s->connected)
		return;
	s->connected = s->ever = true;
	s->inflight = false;
	g.inflight--;
	g.live++;
	g.ever++;
	bufferevent_set_timeouts(s->bev, NULL, NULL);
	if (o.hold) /* only drained from now on: fewer, larger reads */
		bufferevent_set_max_single_read(s->bev, HOLD_READ_MAX);
	check_settled(false);
}

static void frame_end(struct sub *s, uint64_t now)
{
	switch (s->frame) {
	case F_CONNECTED: on_connected(s); break;
	case F_CREATED:
		if (s->key_i >= 0 && g.recv_ns) {
			uint64_t *slot =
				&g.recv_ns[(size_t)s->idx * (size_t)o.events + (size_t)s->key_i];
			if (*slot == 0) {
				*slot = now;
				s->got++;
			} else {
				g.dups++;
			}
		}
		break;
	case F_HEARTBEAT: g.heartbeats++; break;
	case F_OTHER: g.other_frames++; break;
	case F_NONE: break; /* e.g. the frame of `retry:` alone */
	}
	s->frame = F_NONE;
	s->key_i = -1;
}

static bool is(const char *p, size_t n, const char *lit)
{
	size_t l = strlen(lit);
	return n == l && memcmp(p, lit, l) == 0;
}

static void on_line(struct sub *s, const char *line, size_t len, uint64_t now)
{
	if (len == 0) {
		frame_end(s, now);
		return;
	}
	if (line[0] == ':')
		return; /* a comment */
	const char *colon = memchr(line, ':', len);
	size_t flen = colon ? (size_t)(colon - line) : len;
	const char *v = colon ? colon + 1 : line + len;
	size_t vlen = len - (size_t)(v - line);
	if (vlen > 0 && v[0] == ' ') {
		v++;
		vlen--;
	}
	if (is(line, flen, "event")) {
		if (is(v, vlen, "incident_created"))
			s->frame = F_CREATED;
		else if (is(v, vlen, "connected"))
			s->frame = F_CONNECTED;
		else if (is(v, vlen, "heartbeat"))
			s->frame = F_HEARTBEAT;
		else
			s->frame = F_OTHER;
	} else if (is(line, flen, "data")) {
		if (s->key_i < 0)
			s->key_i = find_key(v, vlen);
	}
	/* id, retry: nothing to do */
}

/* Lines of the event stream in b; -1 when a line is absurdly long. */
static int parse_stream(struct sub *s, struct evbuffer *b, uint64_t now)
{
	for (;;) {
		size_t eol_len = 0;
		struct evbuffer_ptr p = evbuffer_search_eol(b, NULL, &eol_len, EVBUFFER_EOL_LF);
		if (p.pos < 0)
			return evbuffer_get_length(b) > MAX_LINE ? -1 : 0;
		size_t n = (size_t)p.pos;
		const char *line = (const char *)evbuffer_pullup(b, (ev_ssize_t)(n + 1));
		size_t len = n;
		if (len > 0 && line[len - 1] == '\r')
			len--;
		on_line(s, line, len, now);
		evbuffer_drain(b, n + 1);
		if (!s->bev)
			return 0;
	}
}

/* Moves the payload of complete chunks from in to s->body; 1 at the last chunk, -1 on a
 * malformed one. */
static int dechunk(struct sub *s, struct evbuffer *in)
{
	for (;;) {
		if (s->chunk_left > 0) {
			size_t avail = evbuffer_get_length(in);
			if (avail == 0)
				return 0;
			size_t n = avail < s->chunk_left ? avail : (size_t)s->chunk_left;
			evbuffer_remove_buffer(in, s->body, n);
			s->chunk_left -= n;
			if (s->chunk_left == 0)
				s->chunk_crlf = true;
			continue;
		}
		size_t n = 0;
		char *line = evbuffer_readln(in, &n, EVBUFFER_EOL_CRLF);
		if (!line)
			return evbuffer_get_length(in) > 1024 ? -1 : 0;
		if (s->chunk_crlf) {
			s->chunk_crlf = false;
			free(line);
			if (n != 0)
				return -1;
			continue;
		}
		char *end = NULL;
		unsigned long long size = strtoull(line, &end, 16);
		bool bad = end == line;
		free(line);
		if (bad)
			return -1;
		if (size == 0)
			return 1;
		s->chunk_left = size;
	}
}

/* The response head; false while incomplete or when the subscriber was let go. */
static bool parse_head(struct sub *s, struct evbuffer *in)
{
	for (;;) {
		size_t n = 0;
		char *line = evbuffer_readln(in, &n, EVBUFFER_EOL_CRLF);
		if (!line) {
			if (evbuffer_get_length(in) > MAX_HEAD) {
				sub_lost(s, "response head too long");
				return false;
			}
			return false;
		}
		if (s->status == 0) {
			int st = 0;
			if (sscanf(line, "HTTP/%*d.%*d %d", &st) != 1 || st <= 0)
				st = -1;
			s->status = st;
			free(line);
			if (st < 0) {
				sub_lost(s, "not an HTTP response");
				return false;
			}
			continue;
		}
		if (n == 0) {
			free(line);
			break;
		}
		if (strncasecmp(line, "transfer-encoding:", 18) == 0 &&
		    strstr(line + 18, "chunked"))
			s->chunked = true;
		free(line);
	}
	if (s->status != 200) {
		char why[64];
		snprintf(why, sizeof why, "answered %d", s->status);
		if (s->status >= 400 && s->status < 500 && s->status != 429) {
			/* no such endpoint, bad token, bad filter: no point going on */
			if (!g.fatal_status) {
				g.fatal_status = s->status;
				fprintf(stderr, "sse_clients: GET %s answered %d\n", g.path,
					s->status);
			}
			event_base_loopbreak(g.base);
		}
		sub_lost(s, why);
		return false;
	}
	s->state = S_STREAM;
	if (s->chunked && !s->body)
		s->body = evbuffer_new();
	return true;
}

static void sub_readcb(struct bufferevent *bev, void *arg)
{
	struct sub *s = arg;
	uint64_t now = now_ns();
	struct evbuffer *in = bufferevent_get_input(bev);
	if (s->state == S_HEAD && !parse_head(s, in))
		return;
	if (s->state != S_STREAM)
		return;
	if (o.hold && s->connected) {
		/* holding: read and discard */
		g.bytes_discarded += evbuffer_get_length(in);
		evbuffer_drain(in, evbuffer_get_length(in));
		return;
	}
	struct evbuffer *src = in;
	if (s->chunked) {
		int r = dechunk(s, in);
		if (r < 0) {
			sub_lost(s, "malformed chunk");
			return;
		}
		src = s->body;
		if (parse_stream(s, src, now) < 0) {
			sub_lost(s, "stream line too long");
			return;
		}
		if (r == 1 && s->bev)
			sub_lost(s, "stream ended (last chunk)");
		return;
	}
	if (parse_stream(s, src, now) < 0)
		sub_lost(s, "stream line too long");
}

/* ---- ramp ----------------------------------------------------------------------------- */

static void ramp_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	long started = 0;
	if (g.queued > 0) {
		uint64_t now = now_ns();
		for (long i = 0; i < g.next_sub && g.queued > 0; i++) {
			struct sub *s = &g.subs[i];
			if (!s->queued || s->retry_at > now)
				continue;
			if (g.inflight >= o.concurrency || started >= o.batch)
				break;
			s->queued = false;
			g.queued--;
			sub_start(s);
			started++;
		}
	}
	while (g.next_sub < o.subscribers && g.inflight < o.concurrency && started < o.batch) {
		sub_start(&g.subs[g.next_sub++]);
		started++;
	}
	if (g.next_sub >= o.subscribers && g.queued == 0)
		event_del(g.ramp_ev);
}

/* ---- the sender (its own thread, blocking socket) -------------------------------------- */

static int sender_connect(void)
{
	int fd = socket(g.addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	struct timeval tv = {SEND_TIMEOUT_S, 0};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	if (connect(fd, (struct sockaddr *)&g.addr, g.addrlen) < 0) {
		close(fd);
		return -1;
	}
	atomic_store(&g.sender_fd, fd);
	return fd;
}

static void sender_close(int *fd)
{
	if (*fd >= 0) {
		atomic_store(&g.sender_fd, -1);
		close(*fd);
		*fd = -1;
	}
}

/* Whether s contains w, ignoring case. */
static bool has_ci(const char *s, const char *w)
{
	size_t n = strlen(w);
	for (; *s; s++)
		if (strncasecmp(s, w, n) == 0)
			return true;
	return false;
}

/* One request and its answer: the status (0 = the connection failed), *t_head the time
 * the head arrived, *keep whether the connection stays open. */
static int sender_exchange(int fd, const char *req, size_t reqlen, uint64_t *t_head, bool *keep)
{
	size_t off = 0;
	while (off < reqlen) {
		ssize_t w = send(fd, req + off, reqlen - off, MSG_NOSIGNAL);
		if (w <= 0) {
			if (w < 0 && errno == EINTR)
				continue;
			return 0;
		}
		off += (size_t)w;
	}
	char buf[MAX_HEAD + 1];
	size_t have = 0;
	char *end = NULL;
	while (!end) {
		if (have == MAX_HEAD)
			return 0;
		ssize_t r = recv(fd, buf + have, MAX_HEAD - have, 0);
		if (r <= 0) {
			if (r < 0 && errno == EINTR)
				continue;
			return 0;
		}
		have += (size_t)r;
		buf[have] = '\0';
		end = strstr(buf, "\r\n\r\n");
		if (end)
			*t_head = now_ns();
	}
	int status = 0;
	if (sscanf(buf, "HTTP/%*d.%*d %d", &status) != 1)
		return 0;
	long clen = 0;
	*keep = true;
	size_t body_have = have - (size_t)(end + 4 - buf);
	end[2] = '\0'; /* the head alone, each line ending in CRLF */
	for (char *l = strstr(buf, "\r\n"); l && l[2]; l = strstr(l + 2, "\r\n")) {
		char *h = l + 2, *eol = strstr(h, "\r\n");
		*eol = '\0';
		if (strncasecmp(h, "content-length:", 15) == 0)
			clen = strtol(h + 15, NULL, 10);
		else if (strncasecmp(h, "connection:", 11) == 0 && has_ci(h + 11, "close"))
			*keep = false;
		else if (strncasecmp(h, "transfer-encoding:", 18) == 0)
			*keep = false; /* not expected for these answers: read nothing more */
		*eol = '\r';
	}
	long left = clen - (long)body_have;
	while (left > 0) {
		ssize_t r = recv(fd, buf,
				 sizeof buf - 1 < (size_t)left ? sizeof buf - 1 : (size_t)left, 0);
		if (r <= 0) {
			if (r < 0 && errno == EINTR)
				continue;
			*keep = false;
			break;
		}
		left -= r;
	}
	return status;
}

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static void *sender_main(void *arg)
{
	(void)arg;
	int fd = -1;
	char req[2048];
	int shown = 0;
	for (long i = 0; i < o.events && !atomic_load(&g.stop); i++) {
		char body[512];
		int bl = snprintf(
			body, sizeof body,
			"{\"kind\":\"manual\",\"key\":\"%s%ld\",\"summary\":\"sse bench\"}",
			g.prefix, i);
		int rl = snprintf(
			req, sizeof req,
			"POST /api/signals HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\n"
			"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s",
			g.hostport, o.token, bl, body);
		int status = 0;
		uint64_t t = 0;
		for (int attempt = 0; attempt < 2 && status == 0 && !atomic_load(&g.stop);
		     attempt++) {
			if (fd < 0)
				fd = sender_connect();
			if (fd < 0)
				break;
			bool keep = true;
			status = sender_exchange(fd, req, (size_t)rl, &t, &keep);
			if (!keep || status == 0)
				sender_close(&fd);
		}
		if (status == 202) {
			g.ack_ns[i] = t;
			atomic_fetch_add(&g.acked, 1);
		} else {
			atomic_fetch_add(&g.send_errors, 1);
			if (shown++ < 3)
				fprintf(stderr, "sse_clients: signal %ld answered %d (want 202)\n",
					i, status);
		}
		atomic_fetch_add(&g.sent, 1);
		if (i + 1 < o.events && o.gap_ms > 0)
			sleep_ms(o.gap_ms);
	}
	sender_close(&fd);
	return NULL;
}

/* ---- phases --------------------------------------------------------------------------- */

static void start_sending(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	if (g.sending || g.done)
		return;
	g.sending = true;
	g.t_send = now_ns();
	g.cpu_send = cpu_s();
	if (pthread_create(&g.sender, NULL, sender_main, NULL) != 0) {
		fprintf(stderr, "sse_clients: cannot start the sender thread\n");
		event_base_loopbreak(g.base);
		return;
	}
	g.sender_started = true;
	struct timeval tv = {0, DONE_CHECK_MS * 1000};
	event_add(g.check_ev, &tv);
}

/* All subscribers connected or gave up (force: the time for that is up; the rest count
 * as failed in the line). */
static void check_settled(bool force)
{
	if (g.settled || (!force && g.ever + g.failed < o.subscribers))
		return;
	g.settled = true;
	g.t_settled = now_ns();
	printf("SSEHOLD connected=%ld failed=%ld connect_s=%.2f\n", g.ever, o.subscribers - g.ever,
	       (double)(g.t_settled - g.t_start) / 1e9);
	fflush(stdout);
	if (o.hold)
		return;
	if (g.ever == 0) {
		event_base_loopbreak(g.base);
		return;
	}
	struct timeval tv = {o.settle_ms / 1000, (o.settle_ms % 1000) * 1000};
	event_add(g.settle_ev, &tv);
}

/* Every DONE_CHECK_MS once sending began: finished when every signal was answered and
 * every live subscriber has every acknowledged event. */
static void check_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	if (atomic_load(&g.sent) < o.events) {
		struct timeval tv = {0, DONE_CHECK_MS * 1000};
		event_add(g.check_ev, &tv);
		return;
	}
	long acked = atomic_load(&g.acked);
	for (long i = 0; i < g.next_sub; i++) {
		const struct sub *s = &g.subs[i];
		if (s->connected && s->got < (uint32_t)acked) {
			struct timeval tv = {0, DONE_CHECK_MS * 1000};
			event_add(g.check_ev, &tv);
			return;
		}
	}
	g.done = true;
	event_base_loopbreak(g.base);
}

static void deadline_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	if (o.hold) {
		if (!g.settled) {
			fprintf(stderr, "sse_clients: %ld s passed; holding what is connected\n",
				o.timeout_s);
			check_settled(true); /* the rest keep trying */
		}
		return;
	}
	g.timed_out = true;
	fprintf(stderr, "sse_clients: timeout of %ld s reached\n", o.timeout_s);
	event_base_loopbreak(g.base);
}

static void signal_cb(evutil_socket_t sig, short what, void *arg)
{
	(void)sig;
	(void)what;
	(void)arg;
	event_base_loopbreak(g.base);
}

/* ---- report --------------------------------------------------------------------------- */

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static double nearest_rank(const double *v, size_t n, double pct)
{
	size_t r = (size_t)((pct / 100.0) * (double)n + 0.999999);
	if (r < 1)
		r = 1;
	if (r > n)
		r = n;
	return v[r - 1];
}

static void report(void)
{
	size_t m = (size_t)o.events, n = (size_t)o.subscribers;
	double *lat = calloc(m ? m : 1, sizeof *lat), *first = calloc(m ? m : 1, sizeof *first);
	size_t nl = 0;
	uint64_t missing = 0;
	double sum = 0;
	for (size_t e = 0; e < m; e++) {
		uint64_t last = 0, fst = UINT64_MAX;
		for (size_t s = 0; s < n; s++) {
			uint64_t t = g.recv_ns[s * m + e];
			if (t == 0) {
				missing++;
				continue;
			}
			if (t > last)
				last = t;
			if (t < fst)
				fst = t;
		}
		if (g.ack_ns[e] != 0 && last != 0) {
			lat[nl] = ((double)last - (double)g.ack_ns[e]) / 1e6;
			first[nl] = ((double)fst - (double)g.ack_ns[e]) / 1e6;
			sum += lat[nl];
			nl++;
		}
	}
	qsort(lat, nl, sizeof *lat, cmp_double);
	qsort(first, nl, sizeof *first, cmp_double);
	char p50[32] = "NA", p99[32] = "NA", mx[32] = "NA", mean[32] = "NA", f50[32] = "NA";
	if (nl > 0) {
		snprintf(f50, sizeof f50, "%.2f", nearest_rank(first, nl, 50));
		snprintf(p50, sizeof p50, "%.2f", nearest_rank(lat, nl, 50));
		snprintf(p99, sizeof p99, "%.2f", nearest_rank(lat, nl, 99));
		snprintf(mx, sizeof mx, "%.2f", lat[nl - 1]);
		snprintf(mean, sizeof mean, "%.2f", sum / (double)nl);
	}
	double send_s = 0, client_cpu = 0;
	if (g.sending) {
		send_s = (double)(now_ns() - g.t_send) / 1e9;
		client_cpu = cpu_s() - g.cpu_send;
	}
	double connect_s =
		g.settled ? (double)(g.t_settled - g.t_start) / 1e9 : secs_since(g.t_start);
	printf("SSEBENCH subscribers=%ld events=%ld connected=%ld p50_ms=%s p99_ms=%s max_ms=%s "
	       "missing=%" PRIu64 " mean_ms=%s measured=%zu sent=%ld acked=%ld failed=%ld "
	       "dropped=%ld connect_s=%.2f heartbeats=%" PRIu64 " other_frames=%" PRIu64
	       " send_errors=%ld duplicates=%" PRIu64
	       " send_s=%.2f client_cpu_s=%.2f first_p50_ms=%s timeout=%d run=%s\n",
	       o.subscribers, o.events, g.ever, p50, p99, mx, missing, mean, nl,
	       atomic_load(&g.sent), atomic_load(&g.acked), g.failed, g.dropped, connect_s,
	       g.heartbeats, g.other_frames, atomic_load(&g.send_errors), g.dups, send_s,
	       client_cpu, f50, g.timed_out ? 1 : 0, o.run);
	fflush(stdout);
	free(lat);
	free(first);
}

/* ---- setup ---------------------------------------------------------------------------- */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: sse_clients --port P --token T [--host 127.0.0.1] [--subscribers 10000]\n"
		"         [--events 100] [--gap-ms 20] [--timeout-s 120] [--concurrency 256]\n"
		"         [--batch 100] [--retries 5] [--settle-ms 0] [--types incident_created]\n"
		"         [--run ID] [--hold]\n");
}

static long num_arg(const char *name, const char *v, long lo, long hi)
{
	char *end = NULL;
	errno = 0;
	long x = strtol(v, &end, 10);
	if (errno || end == v || *end || x < lo || x > hi) {
		fprintf(stderr, "sse_clients: %s wants a number in [%ld, %ld], not '%s'\n", name,
			lo, hi, v);
		exit(2);
	}
	return x;
}

static void parse_args(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "--hold") == 0) {
			o.hold = true;
			continue;
		}
		if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			usage(stdout);
			exit(0);
		}
		if (i + 1 >= argc) {
			fprintf(stderr, "sse_clients: %s: missing value or unknown flag\n", a);
			usage(stderr);
			exit(2);
		}
		const char *v = argv[++i];
		if (strcmp(a, "--host") == 0)
			o.host = v;
		else if (strcmp(a, "--port") == 0)
			o.port = (int)num_arg(a, v, 1, 65535);
		else if (strcmp(a, "--token") == 0)
			o.token = v;
		else if (strcmp(a, "--subscribers") == 0)
			o.subscribers = num_arg(a, v, 1, 1000000);
		else if (strcmp(a, "--events") == 0)
			o.events = num_arg(a, v, 1, 100000);
		else if (strcmp(a, "--gap-ms") == 0)
			o.gap_ms = num_arg(a, v, 0, 60000);
		else if (strcmp(a, "--timeout-s") == 0)
			o.timeout_s = num_arg(a, v, 1, 86400);
		else if (strcmp(a, "--concurrency") == 0)
			o.concurrency = num_arg(a, v, 1, 1000000);
		else if (strcmp(a, "--batch") == 0)
			o.batch = num_arg(a, v, 1, 1000000);
		else if (strcmp(a, "--retries") == 0)
			o.retries = num_arg(a, v, 0, 100);
		else if (strcmp(a, "--settle-ms") == 0)
			o.settle_ms = num_arg(a, v, 0, 600000);
		else if (strcmp(a, "--types") == 0)
			o.types = v;
		else if (strcmp(a, "--run") == 0)
			o.run = v;
		else {
			fprintf(stderr, "sse_clients: unknown flag %s\n", a);
			usage(stderr);
			exit(2);
		}
	}
	if (!o.port || !o.token) {
		fprintf(stderr, "sse_clients: --port and --token are required\n");
		usage(stderr);
		exit(2);
	}
}

/* The soft descriptor limit up to the hard one; fewer subscribers when even that is short. */
static void raise_nofile(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
		getrlimit(RLIMIT_NOFILE, &rl);
	}
	if (rl.rlim_cur != RLIM_INFINITY && (rlim_t)o.subscribers + 32 > rl.rlim_cur) {
		long n = rl.rlim_cur > 64 ? (long)rl.rlim_cur - 32 : 1;
		fprintf(stderr,
			"sse_clients: RLIMIT_NOFILE is %llu (the hard limit); %ld subscribers, "
			"not %ld\n",
			(unsigned long long)rl.rlim_cur, n, o.subscribers);
		o.subscribers = n;
	}
}

static void resolve(void)
{
	struct evutil_addrinfo hints = {0}, *res = NULL;
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	char port[16];
	snprintf(port, sizeof port, "%d", o.port);
	int r = evutil_getaddrinfo(o.host, port, &hints, &res);
	if (r != 0 || !res) {
		fprintf(stderr, "sse_clients: cannot resolve %s: %s\n", o.host,
			evutil_gai_strerror(r));
		exit(1);
	}
	memcpy(&g.addr, res->ai_addr, res->ai_addrlen);
	g.addrlen = (ev_socklen_t)res->ai_addrlen;
	evutil_freeaddrinfo(res);
	bool v6 = strchr(o.host, ':') != NULL;
	snprintf(g.hostport, sizeof g.hostport, v6 ? "[%s]:%d" : "%s:%d", o.host, o.port);
}

int main(int argc, char **argv)
{
	parse_args(argc, argv);
	signal(SIGPIPE, SIG_IGN);
	raise_nofile();
	resolve();

	static char runbuf[64];
	if (!o.run) {
		snprintf(runbuf, sizeof runbuf, "%lx%x", (long)time(NULL), (unsigned)getpid());
		o.run = runbuf;
	}
	snprintf(g.prefix, sizeof g.prefix, "ssebench-%s-", o.run);
	g.prefix_len = strlen(g.prefix);
	if (o.types[0])
		snprintf(g.path, sizeof g.path, "/api/sse/events?types=%s", o.types);
	else
		snprintf(g.path, sizeof g.path, "/api/sse/events");

	g.subs = calloc((size_t)o.subscribers, sizeof *g.subs);
	g.recv_ns =
		o.hold ? NULL : calloc((size_t)o.subscribers * (size_t)o.events, sizeof *g.recv_ns);
	g.ack_ns = calloc((size_t)o.events, sizeof *g.ack_ns);
	if (!g.subs || (!o.hold && !g.recv_ns) || !g.ack_ns) {
		fprintf(stderr, "sse_clients: out of memory\n");
		return 1;
	}
	for (long i = 0; i < o.subscribers; i++) {
		g.subs[i].idx = (uint32_t)i;
		g.subs[i].key_i = -1;
	}
	atomic_init(&g.sent, 0);
	atomic_init(&g.acked, 0);
	atomic_init(&g.send_errors, 0);
	atomic_init(&g.stop, false);
	atomic_init(&g.sender_fd, -1);

	g.base = event_base_new();
	if (!g.base) {
		fprintf(stderr, "sse_clients: event_base_new failed\n");
		return 1;
	}
	g.ramp_ev = event_new(g.base, -1, EV_PERSIST, ramp_cb, NULL);
	g.deadline_ev = evtimer_new(g.base, deadline_cb, NULL);
	g.settle_ev = evtimer_new(g.base, start_sending, NULL);
	g.check_ev = evtimer_new(g.base, check_cb, NULL);
	g.sigint_ev = evsignal_new(g.base, SIGINT, signal_cb, NULL);
	g.sigterm_ev = evsignal_new(g.base, SIGTERM, signal_cb, NULL);
	event_add(g.sigint_ev, NULL);
	event_add(g.sigterm_ev, NULL);
	struct timeval tick = {0, RAMP_TICK_MS * 1000};
	event_add(g.ramp_ev, &tick);
	struct timeval dl = {o.timeout_s, 0};
	event_add(g.deadline_ev, &dl);

	g.t_start = now_ns();
	ramp_cb(-1, 0, NULL);
	event_base_dispatch(g.base);

	/* stop the sender (a blocked recv returns once its socket is shut down) */
	atomic_store(&g.stop, true);
	int sfd = atomic_load(&g.sender_fd);
	if (sfd >= 0)
		shutdown(sfd, SHUT_RDWR);
	if (g.sender_started)
		pthread_join(g.sender, NULL);

	int rc = 0;
	if (o.hold) {
		if (!g.settled && !g.fatal_status)
			check_settled(true);
		printf("SSEHOLD end live=%ld dropped=%ld bytes=%" PRIu64 "\n", g.live, g.dropped,
		       g.bytes_discarded);
		fflush(stdout);
	} else if (!g.fatal_status) {
		report();
	}
	if (g.fatal_status)
		rc = 3;
	else if (g.ever == 0)
		rc = 1;

	for (long i = 0; i < o.subscribers; i++)
		sub_free_bev(&g.subs[i]);
	event_free(g.ramp_ev);
	event_free(g.deadline_ev);
	event_free(g.settle_ev);
	event_free(g.check_ev);
	event_free(g.sigint_ev);
	event_free(g.sigterm_ev);
	event_base_free(g.base);
	free(g.subs);
	free(g.recv_ns);
	free(g.ack_ns);
	return rc;
}
