/* test_http_client.c — the client commands' HTTP client (util/http_client.h): what it
 * refuses before anything is sent (no server is contacted by those cases), and the
 * streaming call against a scripted one-connection server on 127.0.0.1. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>

#include "util/http_client.h"

const char *__ubsan_default_options(void);
const char *__ubsan_default_options(void)
{
	return "halt_on_error=1:print_stacktrace=1";
}

/* An option libcurl refuses (a URL beyond its 8 MB input limit) is an error that says
 * which option, not a request sent without it. */
static void test_refused_option_surfaces(void **state)
{
	(void)state;
	struct http_client *c = NULL;
	struct err e;
	err_clear(&e);
	assert_int_equal(http_client_new("http://127.0.0.1:9", &c, &e), 0);
	size_t n = 9u << 20;
	char *path = malloc(n + 1);
	path[0] = '/';
	memset(path + 1, 'a', n - 1);
	path[n] = '\0';
	struct http_response resp = {0};
	int rc = http_client_request(c, "GET", path, NULL, 0, NULL, 0, &resp, &e);
	assert_int_equal(rc, ERR_INTERNAL);
	assert_non_null(strstr(e.msg, "CURLOPT_URL"));
	assert_int_equal(resp.status, 0);
	http_response_clear(&resp);
	free(path);
	http_client_free(c);
}

static void test_bad_path_and_method(void **state)
{
	(void)state;
	struct http_client *c = NULL;
	struct err e;
	err_clear(&e);
	assert_int_equal(http_client_new("http://127.0.0.1:9", &c, &e), 0);
	struct http_response resp = {0};
	assert_int_equal(http_client_request(c, "GET", "/a b", NULL, 0, NULL, 0, &resp, &e),
			 ERR_INVALID);
	assert_int_equal(http_client_request(c, "TRACE", "/", NULL, 0, NULL, 0, &resp, &e),
			 ERR_INVALID);
	http_response_clear(&resp);
	http_client_free(c);
}

/* ---- a scripted server: one connection, on its own thread ---- */

#define WAIT_MS 5000

struct fake {
	int lfd, port;
	pthread_t th;
	void (*script)(struct fake *f, int fd);
	char request[4096]; /* the request head as received */
	int go[2];	    /* the test says "go on" to the script through this pipe */
	bool timed_out;	    /* the script waited for the test in vain */
	bool saw_close;	    /* the client closed its end while the script waited */
};

static void put(int fd, const char *s)
{
	size_t n = strlen(s);
	while (n) {
		ssize_t w = send(fd, s, n, MSG_NOSIGNAL);
		if (w <= 0)
			return;
		s += w, n -= (size_t)w;
	}
}

/* Wait for the test's "go on"; false (and timed_out) after WAIT_MS. */
static bool wait_go(struct fake *f)
{
	struct pollfd p = {.fd = f->go[0], .events = POLLIN};
	char ch;
	if (poll(&p, 1, WAIT_MS) == 1 && read(f->go[0], &ch, 1) == 1)
		return true;
	f->timed_out = true;
	return false;
}

/* Wait until the client closes the connection; false (and timed_out) after WAIT_MS. */
static bool wait_close(struct fake *f, int fd)
{
	char b[256];
	for (;;) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		if (poll(&p, 1, WAIT_MS) != 1) {
			f->timed_out = true;
			return false;
		}
		if (recv(fd, b, sizeof b, 0) <= 0) {
			f->saw_close = true;
			return true;
		}
	}
}

static void *fake_main(void *arg)
{
	struct fake *f = arg;
	struct pollfd p = {.fd = f->lfd, .events = POLLIN};
	if (poll(&p, 1, WAIT_MS) != 1) {
		f->timed_out = true;
		return NULL;
	}
	int fd = accept(f->lfd, NULL, NULL);
	if (fd < 0)
		return NULL;
	size_t n = 0;
	while (n < sizeof f->request - 1 && !strstr(f->request, "\r\n\r\n")) {
		ssize_t r = recv(fd, f->request + n, sizeof f->request - 1 - n, 0);
		if (r <= 0)
			break;
		n += (size_t)r;
		f->request[n] = '\0';
	}
	f->script(f, fd);
	close(fd);
	return NULL;
}

static void fake_start(struct fake *f, void (*script)(struct fake *, int))
{
	memset(f, 0, sizeof *f);
	f->script = script;
	f->lfd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(f->lfd >= 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	assert_int_equal(bind(f->lfd, (struct sockaddr *)&a, sizeof a), 0);
	assert_int_equal(listen(f->lfd, 4), 0);
	socklen_t al = sizeof a;
	assert_int_equal(getsockname(f->lfd, (struct sockaddr *)&a, &al), 0);
	f->port = ntohs(a.sin_port);
	assert_int_equal(pipe(f->go), 0);
	assert_int_equal(pthread_create(&f->th, NULL, fake_main, f), 0);
}

static void fake_join(struct fake *f)
{
	pthread_join(f->th, NULL);
	close(f->lfd);
	close(f->go[0]);
	close(f->go[1]);
}

static struct http_client *client_of(const struct fake *f)
{
	char url[64];
	snprintf(url, sizeof url, "http://127.0.0.1:%d", f->port);
	struct http_client *c = NULL;
	struct err e;
	err_clear(&e);
	assert_int_equal(http_client_new(url, &c, &e), 0);
	return c;
}

/* What a stream callback saw. */
struct got {
	struct fake *f;
	struct buf data;
	int calls;
	bool told;		       /* the script was told to go on */
	int stop_after;		       /* return non-zero on this call (0: never) */
	volatile sig_atomic_t *cancel; /* set on the first call */
};

static int on_data(void *arg, const char *data, size_t n)
{
	struct got *g = arg;
	g->calls++;
	buf_append(&g->data, data, n);
	if (g->f && !g->told && strstr(buf_cstr(&g->data), "one\n")) {
		g->told = true;
		assert_int_equal(write(g->f->go[1], "g", 1), 1);
	}
	if (g->cancel)
		*g->cancel = 1;
	return g->stop_after && g->calls >= g->stop_after;
}

#define STREAM_HEAD                                                                                \
	"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"        \
	"Transfer-Encoding: chunked\r\n\r\n"

/* "one", then "two" only once the client has handed "one" to its callback. */
static void script_two_chunks(struct fake *f, int fd)
{
	put(fd, STREAM_HEAD "4\r\none\n\r\n");
	if (!wait_go(f))
		return;
	put(fd, "4\r\ntwo\n\r\n0\r\n\r\n");
}

/* A body arrives as it is sent, not when the response ends; the request carries the
 * caller's headers (Accept replaces the default). */
static void test_stream_chunks_as_they_arrive(void **state)
{
	(void)state;
	struct fake f;
	fake_start(&f, script_two_chunks);
	struct http_client *c = client_of(&f);
	struct err e;
	err_clear(&e);
	struct http_header h[] = {{"Accept", "text/event-stream"}, {"Last-Event-ID", "7"}};
	struct got g = {.f = &f, .data = BUF_INIT};
	struct http_response resp = {0};
	int rc = http_client_stream(c, "/api/sse/events?types=a", h, 2, on_data, &g, &resp, &e);
	fake_join(&f);
	assert_int_equal(rc, 0);
	assert_false(f.timed_out);
	assert_int_equal(resp.status, 200);
	assert_string_equal(resp.content_type, "text/event-stream");
	assert_string_equal(buf_cstr(&g.data), "one\ntwo\n");
	assert_true(g.calls >= 2);
	assert_int_equal(resp.body.len, 0);
	assert_non_null(strstr(f.request, "GET /api/sse/events?types=a HTTP/1.1\r\n"));
	assert_non_null(strstr(f.request, "\r\nAccept: text/event-stream\r\n"));
	assert_non_null(strstr(f.request, "\r\nLast-Event-ID: 7\r\n"));
	assert_null(strstr(f.request, "application/json"));
	buf_free(&g.data);
	http_response_clear(&resp);
	http_client_free(c);
}

/* One chunk, then the stream stays open until the client goes. */
static void script_open_ended(struct fake *f, int fd)
{
	put(fd, STREAM_HEAD "4\r\none\n\r\n");
	wait_close(f, fd);
}

/* The callback ends the transfer: 0, and the connection is closed. */
static void test_stream_stop_from_callback(void **state)
{
	(void)state;
	struct fake f;
	fake_start(&f, script_open_ended);
	struct http_client *c = client_of(&f);
	struct err e;
	err_clear(&e);
	struct got g = {.data = BUF_INIT, .stop_after = 1};
	struct http_response resp = {0};
	int rc = http_client_stream(c, "/s", NULL, 0, on_data, &g, &resp, &e);
	fake_join(&f);
	assert_int_equal(rc, 0);
	assert_int_equal(resp.status, 200);
	assert_int_equal(g.calls, 1);
	assert_true(f.saw_close);
	assert_false(f.timed_out);
	buf_free(&g.data);
	http_response_clear(&resp);
	http_client_free(c);
}

/* The cancel flag ends an open stream with ERR_IO. */
static void test_stream_cancel_flag(void **state)
{
	(void)state;
	struct fake f;
	fake_start(&f, script_open_ended);
	struct http_client *c = client_of(&f);
	volatile sig_atomic_t flag = 0;
	http_client_cancel_on(c, &flag);
	struct err e;
	err_clear(&e);
	struct got g = {.data = BUF_INIT, .cancel = &flag};
	struct http_response resp = {0};
	int rc = http_client_stream(c, "/s", NULL, 0, on_data, &g, &resp, &e);
	fake_join(&f);
	assert_int_equal(rc, ERR_IO);
	assert_string_equal(e.msg, "interrupted");
	assert_true(f.saw_close);
	buf_free(&g.data);
	http_response_clear(&resp);
	http_client_free(c);
}

static void script_unauthorized(struct fake *f, int fd)
{
	(void)f;
	put(fd, "HTTP/1.1 401 Unauthorized\r\nContent-Type: application/json\r\n"
		"Content-Length: 55\r\n\r\n"
		"{\"error\":{\"code\":\"unauthorized\",\"message\":\"bad token\"}}");
}

/* An error reply is not streamed: its status and body come back for the caller. */
static void test_stream_error_status(void **state)
{
	(void)state;
	struct fake f;
	fake_start(&f, script_unauthorized);
	struct http_client *c = client_of(&f);
	struct err e;
	err_clear(&e);
	struct got g = {.data = BUF_INIT};
	struct http_response resp = {0};
	int rc = http_client_stream(c, "/s", NULL, 0, on_data, &g, &resp, &e);
	fake_join(&f);
	assert_int_equal(rc, 0);
	assert_int_equal(resp.status, 401);
	assert_int_equal(g.calls, 0);
	assert_string_equal(resp.content_type, "application/json");
	assert_int_equal(resp.body.len, 55);
	assert_memory_equal(resp.body.data, "{\"error\":{\"code\":\"unauthorized\"", 31);
	buf_free(&g.data);
	http_response_clear(&resp);
	http_client_free(c);
}

/* One chunk, then the connection drops without the last chunk. */
static void script_dropped(struct fake *f, int fd)
{
	(void)f;
	put(fd, STREAM_HEAD "4\r\none\n\r\n");
}

/* A stream that breaks mid-body: ERR_UPSTREAM, with the status of the response that
 * had begun, and what came before the break delivered. */
static void test_stream_dropped(void **state)
{
	(void)state;
	struct fake f;
	fake_start(&f, script_dropped);
	struct http_client *c = client_of(&f);
	struct err e;
	err_clear(&e);
	struct got g = {.data = BUF_INIT};
	struct http_response resp = {0};
	int rc = http_client_stream(c, "/s", NULL, 0, on_data, &g, &resp, &e);
	fake_join(&f);
	assert_int_equal(rc, ERR_UPSTREAM);
	assert_int_equal(resp.status, 200);
	assert_int_equal(resp.fail, HTTP_FAIL_IO);
	assert_non_null(strstr(e.msg, "broke"));
	assert_string_equal(buf_cstr(&g.data), "one\n");
	buf_free(&g.data);
	http_response_clear(&resp);
	http_client_free(c);
}

/* Nobody listens: ERR_UPSTREAM with no status. */
static void test_stream_unreachable(void **state)
{
	(void)state;
	int s = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(s >= 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	assert_int_equal(bind(s, (struct sockaddr *)&a, sizeof a), 0);
	socklen_t al = sizeof a;
	assert_int_equal(getsockname(s, (struct sockaddr *)&a, &al), 0);
	close(s);
	char url[64];
	snprintf(url, sizeof url, "http://127.0.0.1:%d", ntohs(a.sin_port));
	struct http_client *c = NULL;
	struct err e;
	err_clear(&e);
	assert_int_equal(http_client_new(url, &c, &e), 0);
	struct got g = {.data = BUF_INIT};
	struct http_response resp = {0};
	assert_int_equal(http_client_stream(c, "/s", NULL, 0, on_data, &g, &resp, &e),
			 ERR_UPSTREAM);
	assert_int_equal(resp.status, 0);
	assert_int_equal(resp.fail, HTTP_FAIL_CONNECT);
	assert_int_equal(g.calls, 0);
	buf_free(&g.data);
	http_response_clear(&resp);
	http_client_free(c);
}

static int setup(void **state)
{
	(void)state;
	signal(SIGPIPE, SIG_IGN);
	return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	curl_global_cleanup();
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_refused_option_surfaces),
		cmocka_unit_test(test_bad_path_and_method),
		cmocka_unit_test(test_stream_chunks_as_they_arrive),
		cmocka_unit_test(test_stream_stop_from_callback),
		cmocka_unit_test(test_stream_cancel_flag),
		cmocka_unit_test(test_stream_error_status),
		cmocka_unit_test(test_stream_dropped),
		cmocka_unit_test(test_stream_unreachable),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
