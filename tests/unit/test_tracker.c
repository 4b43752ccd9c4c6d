/* test_tracker.c — tracker/tracker.h: the helpers (classification, Retry-After, fitting
 * a body to a limit) and the GitHub, GitLab and Jira adapters, run against the
 * stand-ins of tests/integration/fakes/trackers.py started as subprocesses in script
 * mode (python3 is needed for those: without it they are skipped, saying so).
 *
 * The stand-ins check what they receive as the real APIs would (authentication,
 * headers, payload types, ADF against ../shared/conformance/adf/full.json when it is
 * there); the tests drive their failure controls (/_fake/...) with util/http_client.h
 * and read what they recorded from /_fake/state. Runs with SOURCE_ROOT = the
 * repository root. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmark-gfm-core-extensions.h>
#include <cmocka.h>
#include <curl/curl.h>
#include <jansson.h>

#include "config/config.h"
#include "tracker/adf.h"
#include "tracker/tracker.h"
#include "util/buf.h"
#include "util/json.h"
#include "util/time.h"
#include "util/utf8.h"

const char *__ubsan_default_options(void);
const char *__ubsan_default_options(void)
{
	return "halt_on_error=1:print_stacktrace=1";
}

#define PY	     "/usr/bin/python3"
#define GH_TOKEN     "ghp_SeCrEt0123456789token"
#define GL_TOKEN     "glpat-SeCrEt0123456789"
#define JIRA_EMAIL   "bot@example.com"
#define JIRA_TOKEN   "ATATT-SeCrEt0123456789"
#define INCIDENT_URL "https://intervene.example.com/incidents/7"

/* ================================================================ helpers ==== */

/* Code points of valid UTF-8. */
static size_t cps(const char *s)
{
	assert_true(utf8_valid(s, strlen(s)));
	return utf8_length(s);
}

/* A response as http_client would fill it. hdrs: name (lower case), value, ...,
 * NULL; or NULL for none. */
static void make_resp(struct http_response *r, long status, const char *body,
		      const char *const *hdrs)
{
	memset(r, 0, sizeof *r);
	r->status = status;
	if (body)
		buf_puts(&r->body, body);
	for (size_t i = 0; hdrs && hdrs[i]; i += 2) {
		r->headers = xrealloc(r->headers, (r->n_headers + 1) * sizeof *r->headers);
		r->headers[r->n_headers].name = xstrdup(hdrs[i]);
		r->headers[r->n_headers].value = xstrdup(hdrs[i + 1]);
		r->n_headers++;
	}
}

#define HDRS(...) ((const char *const[]){__VA_ARGS__, NULL})

static void http_date(int64_t epoch_s, char *out, size_t cap)
{
	time_t t = (time_t)epoch_s;
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(out, cap, "%a, %d %b %Y %H:%M:%S GMT", &tm);
}

static void test_retry_after_forms(void **state)
{
	(void)state;
	int64_t now = 1700000000000LL; /* 2023-11-14T22:13:20Z */
	assert_int_equal(tracker_retry_after_ms("120", now), 120000);
	assert_int_equal(tracker_retry_after_ms(" 7 ", now), 7000);
	assert_int_equal(tracker_retry_after_ms("0", now), 0);
	char d[64];
	http_date(1700000000 + 90, d, sizeof d);
	assert_int_equal(tracker_retry_after_ms(d, now), 90000);
	assert_int_equal(tracker_retry_after_ms("Tue, 14 Nov 2023 22:14:50 GMT", now), 90000);
	/* the two obsolete forms RFC 9110 says a recipient must accept */
	assert_int_equal(tracker_retry_after_ms("Tuesday, 14-Nov-23 22:14:50 GMT", now), 90000);
	assert_int_equal(tracker_retry_after_ms("Tue Nov 14 22:14:50 2023", now), 90000);
	/* a date past is "now" */
	assert_int_equal(tracker_retry_after_ms("Sun, 06 Nov 1994 08:49:37 GMT", now), 0);
	const char *bad[] = {"",
			     "soon",
			     "-5",
			     "1.5",
			     "12s",
			     "Tue, 14 Nov 2023 22:14:50 PST",
			     "Tue, 31 Feb 2023 22:14:50 GMT",
			     "Tue, 14 Nov 2023 25:14:50 GMT",
			     "Tue, 14 Foo 2023 22:14:50 GMT",
			     "Tue, 14 Nov 2023 22:14:50 GMT x"};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		if (tracker_retry_after_ms(bad[i], now) != -1)
			fail_msg("Retry-After \"%s\" was accepted", bad[i]);
	}
	assert_int_equal(tracker_retry_after_ms(NULL, now), -1);
	/* absurd values saturate instead of overflowing */
	assert_true(tracker_retry_after_ms("99999999999999999999999", now) > 0);
}

struct status_case {
	long status;
	enum tracker_outcome outcome;
};

static void test_classify_statuses(void **state)
{
	(void)state;
	static const struct status_case cases[] = {
		{200, TRACKER_OK},     {201, TRACKER_OK},     {204, TRACKER_OK},
		{500, TRACKER_RETRY},  {502, TRACKER_RETRY},  {503, TRACKER_RETRY},
		{504, TRACKER_RETRY},  {408, TRACKER_RETRY},  {423, TRACKER_RETRY},
		{425, TRACKER_RETRY},  {429, TRACKER_RETRY},  {400, TRACKER_FAILED},
		{401, TRACKER_FAILED}, {403, TRACKER_FAILED}, {404, TRACKER_FAILED},
		{409, TRACKER_FAILED}, {410, TRACKER_FAILED}, {422, TRACKER_FAILED},
		{301, TRACKER_FAILED},
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		struct http_response resp;
		make_resp(&resp, cases[i].status, "{\"message\":\"m\"}", NULL);
		struct tracker_result r = {0};
		memset(&r, 0, sizeof r);
		tracker_classify(0, NULL, &resp, 1000, "create issue", &r);
		if (r.outcome != cases[i].outcome)
			fail_msg("HTTP %ld: outcome %d, want %d", cases[i].status, r.outcome,
				 cases[i].outcome);
		assert_int_equal(r.http_status, cases[i].status);
		assert_true(r.sent);
		assert_int_equal(r.retry_after_ms, 0);
		if (cases[i].outcome == TRACKER_OK)
			assert_string_equal(r.error, "");
		else
			assert_non_null(strstr(r.error, "create issue: HTTP"));
		http_response_clear(&resp);
	}
}

static void test_classify_rate_limits(void **state)
{
	(void)state;
	int64_t now = 1700000000000LL;
	struct http_response resp;
	struct tracker_result r = {0};

	/* GitHub's primary limit: 403, remaining 0, wait until the reset */
	make_resp(&resp, 403, "{\"message\":\"API rate limit exceeded for user ID 1.\"}",
		  HDRS("x-ratelimit-remaining", "0", "x-ratelimit-reset", "1700000060"));
	tracker_classify(0, NULL, &resp, now, "create issue", &r);
	assert_int_equal(r.outcome, TRACKER_RETRY);
	assert_int_equal(r.retry_after_ms, 60000);
	assert_non_null(strstr(r.error, "API rate limit exceeded"));
	http_response_clear(&resp);

	/* a remaining count that is not 0 is an ordinary 403 */
	make_resp(&resp, 403, "{\"message\":\"Resource not accessible\"}",
		  HDRS("x-ratelimit-remaining", "4999", "x-ratelimit-reset", "1700000060"));
	tracker_classify(0, NULL, &resp, now, "create issue", &r);
	assert_int_equal(r.outcome, TRACKER_FAILED);
	http_response_clear(&resp);

	/* 403 with Retry-After (GitHub's secondary limit): seconds */
	make_resp(&resp, 403, "{}", HDRS("retry-after", "30"));
	tracker_classify(0, NULL, &resp, now, "comment", &r);
	assert_int_equal(r.outcome, TRACKER_RETRY);
	assert_int_equal(r.retry_after_ms, 30000);
	http_response_clear(&resp);

	/* Retry-After wins over the reset; as an HTTP date */
	char d[64];
	http_date(1700000000 + 45, d, sizeof d);
	make_resp(&resp, 429, "",
		  HDRS("retry-after", d, "x-ratelimit-remaining", "0", "x-ratelimit-reset",
		       "1700000600"));
	tracker_classify(0, NULL, &resp, now, "comment", &r);
	assert_int_equal(r.outcome, TRACKER_RETRY);
	assert_int_equal(r.retry_after_ms, 45000);
	http_response_clear(&resp);

	/* 503 with Retry-After */
	make_resp(&resp, 503, "", HDRS("retry-after", "5"));
	tracker_classify(0, NULL, &resp, now, "comment", &r);
	assert_int_equal(r.outcome, TRACKER_RETRY);
	assert_int_equal(r.retry_after_ms, 5000);
	http_response_clear(&resp);

	/* an unparsable Retry-After still retries, with no wait named */
	make_resp(&resp, 429, "", HDRS("retry-after", "later"));
	tracker_classify(0, NULL, &resp, now, "comment", &r);
	assert_int_equal(r.outcome, TRACKER_RETRY);
	assert_int_equal(r.retry_after_ms, 0);
	http_response_clear(&resp);

	/* a secondary limit answered with neither header: GitHub says wait a minute */
	make_resp(&resp, 403,
		  "{\"message\":\"You have exceeded a secondary rate limit. Please wait a few "
		  "minutes before you try again.\"}",
		  NULL);
	tracker_classify(0, NULL, &resp, now, "create issue", &r);
	assert_int_equal(r.outcome, TRACKER_RETRY);
	assert_int_equal(r.retry_after_ms, 60000);
	http_response_clear(&resp);

	/* a 400 carrying Retry-After is still dead */
	make_resp(&resp, 400, "{}", HDRS("retry-after", "5"));
	tracker_classify(0, NULL, &resp, now, "comment", &r);
	assert_int_equal(r.outcome, TRACKER_FAILED);
	assert_int_equal(r.retry_after_ms, 0);
	http_response_clear(&resp);

	/* a redirect names where it goes */
	make_resp(&resp, 301, "", HDRS("location", "https://api.example.com/x"));
	tracker_classify(0, NULL, &resp, now, "GET /repos/a/b", &r);
	assert_int_equal(r.outcome, TRACKER_FAILED);
	assert_non_null(strstr(r.error, "https://api.example.com/x"));
	http_response_clear(&resp);
}

struct noresp_case {
	int rc;
	enum http_fail fail;
	enum tracker_outcome outcome;
	bool sent;
};

static void test_classify_no_response(void **state)
{
	(void)state;
	static const struct noresp_case cases[] = {
		{ERR_UPSTREAM, HTTP_FAIL_DNS, TRACKER_RETRY, false},
		{ERR_UPSTREAM, HTTP_FAIL_CONNECT, TRACKER_RETRY, false},
		{ERR_UPSTREAM, HTTP_FAIL_TLS, TRACKER_RETRY, false},
		{ERR_UPSTREAM, HTTP_FAIL_TIMEOUT, TRACKER_RETRY, true},
		{ERR_UPSTREAM, HTTP_FAIL_IO, TRACKER_RETRY, true},
		{ERR_UPSTREAM, HTTP_FAIL_OTHER, TRACKER_RETRY, true},
		{ERR_IO, HTTP_FAIL_NONE, TRACKER_RETRY, true},
		{ERR_TOOLARGE, HTTP_FAIL_NONE, TRACKER_FAILED, true},
		{ERR_INVALID, HTTP_FAIL_NONE, TRACKER_FAILED, false},
		{ERR_INTERNAL, HTTP_FAIL_NONE, TRACKER_FAILED, false},
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		struct http_response resp;
		make_resp(&resp, 0, NULL, NULL);
		resp.fail = cases[i].fail;
		struct err e;
		err_set(&e, cases[i].rc, "cannot reach the server (case %zu)", i);
		struct tracker_result r = {0};
		memset(&r, 0, sizeof r);
		r.retry_after_ms = 99;
		tracker_classify(cases[i].rc, &e, &resp, 1000, "create issue", &r);
		if (r.outcome != cases[i].outcome || r.sent != cases[i].sent)
			fail_msg("case %zu: outcome %d sent %d", i, r.outcome, r.sent);
		assert_int_equal(r.http_status, 0);
		assert_int_equal(r.retry_after_ms, 0);
		char want[64];
		snprintf(want, sizeof want, "create issue: cannot reach the server (case %zu)", i);
		assert_string_equal(r.error, want);
		http_response_clear(&resp);
	}
}

struct text_case {
	long status;
	const char *body;
	const char *want; /* r.error */
};

static void test_classify_error_text(void **state)
{
	(void)state;
	static const struct text_case cases[] = {
		/* GitHub */
		{401,
		 "{\"message\":\"Bad credentials\",\"documentation_url\":\"https://docs.github.com/rest\"}",
		 "op: HTTP 401: Bad credentials"},
		{422,
		 "{\"message\":\"Validation Failed\",\"errors\":[{\"resource\":\"Issue\",\"field\":"
		 "\"assignees\",\"code\":\"invalid\"},{\"resource\":\"Issue\",\"code\":\"custom\","
		 "\"field\":\"body\",\"message\":\"body is too long (maximum is 65536 characters)\"}]}",
		 "op: HTTP 422: Validation Failed; assignees: invalid; body is too long (maximum is "
		 "65536 characters)"},
		/* GitLab */
		{400, "{\"message\":{\"title\":[\"can't be blank\",\"is too short\"]}}",
		 "op: HTTP 400: title: can't be blank, is too short"},
		{400, "{\"error\":\"labels is invalid\"}", "op: HTTP 400: labels is invalid"},
		{401, "{\"message\":\"401 Unauthorized\"}", "op: HTTP 401: 401 Unauthorized"},
		{429, "Retry later\n", "op: HTTP 429: Retry later"},
		/* Jira */
		{400,
		 "{\"errorMessages\":[],\"errors\":{\"priority\":\"Field 'priority' cannot be set. It "
		 "is not on the appropriate screen, or unknown.\"}}",
		 "op: HTTP 400: priority: Field 'priority' cannot be set. It is not on the "
		 "appropriate screen, or unknown."},
		{404, "{\"errorMessages\":[\"Issue does not exist\"],\"errors\":{}}",
		 "op: HTTP 404: Issue does not exist"},
		{401, "Client must be authenticated to access this resource.",
		 "op: HTTP 401: Client must be authenticated to access this resource."},
		/* others: printable text, nothing for an empty body */
		{502, "<html>\r\n<body>\tBad   gateway</body></html>",
		 "op: HTTP 502: <html> <body> Bad gateway</body></html>"},
		{500, "", "op: HTTP 500"},
		{500, "{\"unknown\":1}", "op: HTTP 500: {\"unknown\":1}"},
		{400, "bad \xff\xfe bytes", "op: HTTP 400: bad \xEF\xBF\xBD\xEF\xBF\xBD bytes"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		struct http_response resp;
		make_resp(&resp, cases[i].status, cases[i].body, NULL);
		struct tracker_result r = {0};
		tracker_classify(0, NULL, &resp, 0, "op", &r);
		if (strcmp(r.error, cases[i].want))
			fail_msg("case %zu: got \"%s\"\nwant \"%s\"", i, r.error, cases[i].want);
		http_response_clear(&resp);
	}
	/* a long text is cut to the field, at a character boundary, after 200 bytes of a
	 * non-JSON body */
	struct buf big = BUF_INIT;
	for (int i = 0; i < 400; i++)
		buf_puts(&big, "é");
	struct http_response resp;
	make_resp(&resp, 500, big.data, NULL);
	struct tracker_result r = {0};
	tracker_classify(0, NULL, &resp, 0, "op", &r);
	assert_true(utf8_valid(r.error, strlen(r.error)));
	assert_int_equal(strlen(r.error), strlen("op: HTTP 500: ") + 200);
	http_response_clear(&resp);
	buf_reset(&big);
	buf_puts(&big, "{\"message\":\"");
	for (int i = 0; i < 400; i++)
		buf_puts(&big, "日");
	buf_puts(&big, "\"}");
	make_resp(&resp, 400, big.data, NULL);
	tracker_classify(0, NULL, &resp, 0, "op", &r);
	assert_true(utf8_valid(r.error, strlen(r.error)));
	assert_true(strlen(r.error) > 500 && strlen(r.error) < sizeof r.error);
	http_response_clear(&resp);
	buf_free(&big);
}

/* ------------------------------------------------------------ fit_body ---- */

static char *fit(const char *md, size_t max)
{
	struct buf out = BUF_INIT;
	tracker_fit_body(md, max, INCIDENT_URL, &out);
	return buf_steal(&out);
}

/* Fence lines of the CommonMark kind fit_body knows, counted to see they pair up. */
static int fence_lines(const char *s, const char *fence)
{
	int n = 0;
	size_t fl = strlen(fence);
	for (const char *p = s; *p;) {
		size_t len = strcspn(p, "\n");
		if (len >= fl && !strncmp(p, fence, fl))
			n++;
		p += len + (p[len] == '\n');
	}
	return n;
}

static void test_fit_body_unchanged_and_exact(void **state)
{
	(void)state;
	/* exactly at the limit, in characters (é is 2 bytes, 日 3, 🙂 4) */
	const char *md = "é日🙂\nabc\n";
	assert_int_equal(cps(md), 8);
	char *out = fit(md, 8);
	assert_string_equal(out, md);
	free(out);
	/* one over: cut, and the whole result within the limit */
	struct buf big = BUF_INIT;
	for (int i = 0; i < 200; i++)
		buf_printf(&big, "line %03d é日🙂 some text\n", i);
	size_t n = cps(big.data);
	out = fit(big.data, n);
	assert_string_equal(out, big.data);
	free(out);
	out = fit(big.data, n - 1);
	assert_true(cps(out) <= n - 1);
	assert_non_null(strstr(out, "Cut to fit the tracker's limit"));
	assert_non_null(strstr(out, INCIDENT_URL));
	/* the text kept is a prefix of whole lines */
	const char *note = strstr(out, "\n> **Cut");
	assert_non_null(note);
	size_t kept = (size_t)(note - out);
	assert_true(kept > 0 && out[kept - 1] == '\n');
	assert_memory_equal(out, big.data, kept);
	/* all but the last line is kept: only the note's room was taken */
	assert_true(kept + 200 > big.len);
	free(out);
	/* characters, not bytes: 1000 two-byte characters fit a limit of 1000 */
	buf_reset(&big);
	for (int i = 0; i < 1000; i++)
		buf_puts(&big, "é");
	out = fit(big.data, 1000);
	assert_string_equal(out, big.data);
	free(out);
	/* and with a limit of 999 every cut is at a character boundary */
	out = fit(big.data, 999);
	assert_true(cps(out) <= 999);
	free(out);
	buf_free(&big);
}

static void test_fit_body_code_fences(void **state)
{
	(void)state;
	struct buf md = BUF_INIT;
	buf_puts(&md, "## Evidence\n\nintro line\n\n```sql\n");
	for (int i = 0; i < 300; i++)
		buf_printf(&md, "select %d from t where x = 'é' -- 🙂\n", i);
	buf_puts(&md, "```\n\nafter the fence\n");
	char *out = fit(md.data, 2000);
	assert_true(cps(out) <= 2000);
	/* the fence is closed before the note */
	assert_int_equal(fence_lines(out, "```"), 2);
	const char *close = strstr(out, "\n```\n\n> **Cut");
	assert_non_null(close);
	assert_null(strstr(out, "after the fence"));
	free(out);

	/* a tilde fence of four, opened with an info string, closes with four tildes;
	 * a shorter run inside it does not close it */
	buf_reset(&md);
	buf_puts(&md, "text\n~~~~ python\n~~~\n");
	for (int i = 0; i < 300; i++)
		buf_printf(&md, "print(%d)\n", i);
	buf_puts(&md, "~~~~\n");
	out = fit(md.data, 500);
	assert_true(cps(out) <= 500);
	assert_non_null(strstr(out, "\n~~~~\n\n> **Cut"));
	free(out);

	/* cut after a closed fence: nothing to close */
	buf_reset(&md);
	buf_puts(&md, "```\ncode\n```\n");
	for (int i = 0; i < 300; i++)
		buf_printf(&md, "paragraph text %d\n", i);
	out = fit(md.data, 400);
	assert_true(cps(out) <= 400);
	assert_int_equal(fence_lines(out, "```"), 2);
	assert_non_null(strstr(out, "\nparagraph text 0\n"));
	free(out);

	/* the close costs room: at every limit the result fits and the fences pair up */
	buf_reset(&md);
	buf_puts(&md, "a\n");
	for (int k = 0; k < 6; k++) {
		buf_puts(&md, "```\n");
		for (int i = 0; i < 7; i++)
			buf_printf(&md, "ç%d日\n", i);
		buf_puts(&md, "```\nsome words between fences\n");
	}
	size_t total = cps(md.data);
	for (size_t max = 60; max <= total + 1; max++) {
		out = fit(md.data, max);
		size_t got = cps(out);
		if (got > max || fence_lines(out, "```") % 2)
			fail_msg("limit %zu: %zu characters, %d fence lines:\n%s", max, got,
				 fence_lines(out, "```"), out);
		if (max >= total)
			assert_string_equal(out, md.data);
		free(out);
	}
	buf_free(&md);
}

static void test_fit_body_long_line_and_bad_input(void **state)
{
	(void)state;
	/* one very long line: cut inside it, after a blank, rather than keep nothing */
	struct buf md = BUF_INIT;
	buf_puts(&md, "short\n");
	for (int i = 0; i < 3000; i++)
		buf_puts(&md, "wörd ");
	buf_puts(&md, "\nend\n");
	char *out = fit(md.data, 1000);
	assert_true(cps(out) <= 1000);
	assert_true(cps(out) > 800);
	const char *note = strstr(out, "\n> **Cut");
	assert_non_null(note);
	assert_int_equal(note[-1], '\n');
	assert_true(note[-2] == 'd'); /* ended after a whole word */
	free(out);

	/* ill-formed UTF-8 is repaired before counting; the output is valid */
	buf_reset(&md);
	for (int i = 0; i < 100; i++)
		buf_puts(&md, "bad \xC3 byte \xF0\x9F line\n");
	out = fit(md.data, 300);
	assert_true(utf8_valid(out, strlen(out)));
	assert_true(utf8_length(out) <= 300);
	free(out);

	/* no incident URL: the note says it was cut, without a link */
	buf_reset(&md);
	for (int i = 0; i < 100; i++)
		buf_puts(&md, "text line\n");
	struct buf o = BUF_INIT;
	tracker_fit_body(md.data, 200, NULL, &o);
	assert_non_null(strstr(o.data, "Cut to fit"));
	assert_null(strstr(o.data, "http"));
	assert_true(cps(o.data) <= 200);
	buf_free(&o);
	/* tiny limits still hold */
	for (size_t max = 0; max < 70; max++) {
		out = fit(md.data, max);
		assert_true(cps(out) <= max);
		free(out);
	}
	buf_free(&md);
}

/* ------------------------------------------------------------ registry ---- */

static void test_registry(void **state)
{
	(void)state;
	static const char *const names[] = {"github", "gitlab", "jira"};
	static const size_t limits[] = {65536, 1000000, 32767};
	size_t n = 0;
	for (const struct tracker_ops *const *p = tracker_providers; *p; p++, n++) {
		assert_string_equal((*p)->name, names[n]);
		assert_int_equal((*p)->max_body_chars, limits[n]);
		assert_ptr_equal(tracker_find(names[n]), *p);
		assert_non_null((*p)->configured);
		assert_non_null((*p)->create_issue);
		assert_non_null((*p)->comment);
		assert_non_null((*p)->close_issue);
		assert_non_null((*p)->find_by_label);
		assert_non_null((*p)->test_connection);
	}
	assert_int_equal(n, 3);
	assert_null(tracker_find("none"));
	assert_null(tracker_find("GitHub"));
	assert_null(tracker_find(NULL));

	struct config *c = config_defaults();
	struct err e;
	err_clear(&e);
	assert_int_equal(tracker_find("github")->configured(c, &e), ERR_INVALID);
	assert_non_null(strstr(e.msg, "tracker.github.token"));
	assert_int_equal(tracker_find("gitlab")->configured(c, &e), ERR_INVALID);
	assert_non_null(strstr(e.msg, "tracker.gitlab.token"));
	assert_int_equal(tracker_find("jira")->configured(c, &e), ERR_INVALID);
	assert_non_null(strstr(e.msg, "tracker.jira.base_url"));
	config_free(c);
}

/* ============================================================ stand-ins ==== */

struct fake {
	const char *provider;
	pid_t pid;
	int in_fd; /* its stdin: closing it stops it (--exit-on-stdin-eof) */
	int port;
	char url[64];
};

static struct fake fakes[3] = {
	{.provider = "github"}, {.provider = "gitlab"}, {.provider = "jira"}};
static bool have_python;

static struct fake *fake_of(const char *provider)
{
	for (size_t i = 0; i < 3; i++)
		if (!strcmp(fakes[i].provider, provider))
			return &fakes[i];
	return NULL;
}

static int spawn_fake(struct fake *f, const char *root)
{
	char script[4096];
	snprintf(script, sizeof script, "%s/tests/integration/fakes/trackers.py", root);
	int out[2], in[2];
	if (pipe(out) || pipe(in))
		return -1;
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		dup2(in[0], 0);
		dup2(out[1], 1);
		close(in[0]), close(in[1]), close(out[0]), close(out[1]);
		const char *argv[32];
		int n = 0;
		argv[n++] = PY;
		argv[n++] = script;
		argv[n++] = "--provider";
		argv[n++] = f->provider;
		argv[n++] = "--exit-on-stdin-eof";
		if (!strcmp(f->provider, "github")) {
			argv[n++] = "--token", argv[n++] = GH_TOKEN;
			argv[n++] = "--owner", argv[n++] = "acme", argv[n++] = "--repo";
			argv[n++] = "ops";
		} else if (!strcmp(f->provider, "gitlab")) {
			argv[n++] = "--token", argv[n++] = GL_TOKEN;
			argv[n++] = "--project-id", argv[n++] = "acme/ops";
			argv[n++] = "--numeric-id", argv[n++] = "4242";
		} else {
			argv[n++] = "--email", argv[n++] = JIRA_EMAIL;
			argv[n++] = "--api-token", argv[n++] = JIRA_TOKEN;
			argv[n++] = "--project-key", argv[n++] = "OPS";
		}
		argv[n] = NULL;
		execv(PY, (char *const *)argv);
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	f->pid = pid;
	f->in_fd = in[1];
	/* its first line: "port N" */
	char line[128];
	size_t len = 0;
	int64_t deadline = time_mono_ms() + 30000;
	while (len < sizeof line - 1 && (len == 0 || line[len - 1] != '\n')) {
		struct pollfd p = {out[0], POLLIN, 0};
		int64_t left = deadline - time_mono_ms();
		if (left <= 0 || poll(&p, 1, (int)left) <= 0)
			break;
		ssize_t k = read(out[0], line + len, 1);
		if (k <= 0)
			break;
		len += (size_t)k;
	}
	line[len] = '\0';
	close(out[0]);
	if (sscanf(line, "port %d", &f->port) != 1) {
		print_error("the %s stand-in did not start (first line \"%s\")\n", f->provider,
			    line);
		return -1;
	}
	snprintf(f->url, sizeof f->url, "http://127.0.0.1:%d", f->port);
	return 0;
}

static void stop_fake(struct fake *f)
{
	if (f->pid <= 0)
		return;
	close(f->in_fd);
	int st;
	for (int i = 0; i < 100; i++) {
		if (waitpid(f->pid, &st, WNOHANG) == f->pid) {
			f->pid = 0;
			return;
		}
		usleep(50000);
	}
	kill(f->pid, SIGKILL);
	waitpid(f->pid, &st, 0);
	f->pid = 0;
}

/* A control request to a stand-in; the answer parsed (new reference). */
static json_t *ctl(const char *provider, const char *method, const char *path, json_t *body)
{
	struct fake *f = fake_of(provider);
	struct http_client *c = NULL;
	struct err e;
	err_clear(&e);
	assert_int_equal(http_client_new(f->url, &c, &e), 0);
	char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
	struct http_response resp = {0};
	int rc = http_client_request(c, method, path, text, text ? strlen(text) : 0, NULL, 0, &resp,
				     &e);
	if (rc || resp.status != 200)
		fail_msg("%s %s %s: rc %d status %ld %s %s", provider, method, path, rc,
			 resp.status, e.msg, buf_cstr(&resp.body));
	json_t *j = json_loadb(resp.body.data, resp.body.len, 0, NULL);
	assert_non_null(j);
	free(text);
	json_decref(body);
	http_response_clear(&resp);
	http_client_free(c);
	return j;
}

static void ctl0(const char *provider, const char *path, json_t *body)
{
	json_decref(ctl(provider, "POST", path, body ? body : json_object()));
}

static json_t *fake_state(const char *provider)
{
	return ctl(provider, "GET", "/_fake/state", NULL);
}

/* A request of our own to a stand-in (to see what it refuses). */
static long raw_request(const char *provider, const char *method, const char *path,
			const char *body, const struct http_header *h, size_t nh, struct buf *out)
{
	struct http_client *c = NULL;
	struct err e;
	err_clear(&e);
	assert_int_equal(http_client_new(fake_of(provider)->url, &c, &e), 0);
	struct http_response resp = {0};
	assert_int_equal(http_client_request(c, method, path, body, body ? strlen(body) : 0, h, nh,
					     &resp, &e),
			 0);
	long st = resp.status;
	if (out)
		buf_puts(out, buf_cstr(&resp.body));
	http_response_clear(&resp);
	http_client_free(c);
	return st;
}

static struct config *load_cfg(const char *fmt, ...)
{
	struct buf y = BUF_INIT;
	va_list ap;
	va_start(ap, fmt);
	buf_vprintf(&y, fmt, ap);
	va_end(ap);
	struct config *c = NULL;
	struct err e;
	err_clear(&e);
	if (config_load_string(y.data, y.len, "test.yaml", "/tmp", &c, &e))
		fail_msg("config: %s\n%s", e.msg, y.data);
	buf_free(&y);
	return c;
}

static struct config *gh_cfg(const char *base, const char *token)
{
	return load_cfg("tracker:\n  provider: github\n  github:\n    token: %s\n    owner: acme\n"
			"    repo: ops\n    base_url: %s\n    assignees: {alice: alice-gh}\n",
			token, base);
}

static struct config *gl_cfg(const char *base, const char *project)
{
	return load_cfg("tracker:\n  provider: gitlab\n  gitlab:\n    token: %s\n"
			"    project_id: \"%s\"\n    base_url: %s\n",
			GL_TOKEN, project, base);
}

static struct config *jira_cfg(const char *base, const char *token, const char *close)
{
	return load_cfg("tracker:\n  provider: jira\n  jira:\n    base_url: %s\n    email: %s\n"
			"    api_token: %s\n    project_key: OPS\n    close_transition: \"%s\"\n",
			base, JIRA_EMAIL, token, close);
}

static const char *const doc_labels[] = {"sev2", "invariant failure", "intervene", "intervene-7"};

static struct tracker_issue_doc doc_of(const char *body)
{
	return (struct tracker_issue_doc){
		.incident_id = 7,
		.title = "[sev2] Invariant failed: orders_balance (planner)",
		.body = body,
		.labels = doc_labels,
		.n_labels = 4,
		.severity = 2,
		.assigned_to = "alice",
		.incident_url = INCIDENT_URL,
	};
}

/* The secrets never reach an error text. */
static void no_secret(const struct tracker_result *r)
{
	assert_null(strstr(r->error, GH_TOKEN));
	assert_null(strstr(r->error, GL_TOKEN));
	assert_null(strstr(r->error, JIRA_TOKEN));
}

static int reset_fakes(void **state)
{
	(void)state;
	if (!have_python)
		return 0;
	for (size_t i = 0; i < 3; i++)
		ctl0(fakes[i].provider, "/_fake/clear", NULL);
	ctl0("jira", "/_fake/set", jpack("{s:b}", "priorities_enabled", 1));
	tracker_set_timeouts(0, 0);
	return 0;
}

#define NEED_PYTHON()                                                                              \
	do {                                                                                       \
		if (!have_python) {                                                                \
			print_message("skipped: " PY " is not there to run the stand-ins of "      \
				      "tests/integration/fakes/trackers.py\n");                    \
			skip();                                                                    \
		}                                                                                  \
	} while (0)

static const json_t *last_call(const json_t *st)
{
	const json_t *calls = json_object_get(st, "calls");
	return json_array_get(calls, json_array_size(calls) - 1);
}

static const char *call_header(const json_t *call, const char *name)
{
	return json_get_str(json_object_get(call, "headers"), name);
}

/* =============================================================== GitHub ==== */

static void test_github_create_comment_close(void **state)
{
	(void)state;
	NEED_PYTHON();
	struct config *c = gh_cfg(fake_of("github")->url, GH_TOKEN);
	const struct tracker_ops *gh = tracker_find("github");
	struct err e;
	assert_int_equal(gh->configured(c, &e), 0);
	struct tracker_issue_doc d = doc_of("## What\n\nThe invariant failed.\n");
	struct tracker_result r = {0};
	gh->create_issue(c, &d, &r);
	assert_int_equal(r.outcome, TRACKER_OK);
	assert_int_equal(r.http_status, 201);
	assert_true(r.sent);
	assert_string_equal(r.external_id, "1");
	assert_string_equal(r.url, "https://github.com/acme/ops/issues/1");
	assert_string_equal(r.error, "");

	json_t *st = fake_state("github");
	const json_t *issue = json_array_get(json_object_get(st, "issues"), 0);
	assert_string_equal(json_get_str(issue, "title"), d.title);
	assert_string_equal(json_get_str(issue, "body"), d.body);
	const json_t *labels = json_object_get(issue, "labels");
	assert_int_equal(json_array_size(labels), 5);
	assert_string_equal(json_string_value(json_array_get(labels, 1)), "invariant failure");
	assert_string_equal(json_string_value(json_array_get(labels, 3)), "intervene-7");
	assert_string_equal(json_string_value(json_array_get(labels, 4)), "priority:sev2");
	/* assigned_to mapped through tracker.github.assignees */
	assert_string_equal(
		json_string_value(json_array_get(json_object_get(issue, "assignees"), 0)),
		"alice-gh");
	const json_t *call = last_call(st);
	assert_string_equal(call_header(call, "authorization"), "Bearer " GH_TOKEN);
	assert_string_equal(call_header(call, "accept"), "application/vnd.github+json");
	assert_string_equal(call_header(call, "x-github-api-version"), "2022-11-28");
	assert_string_equal(call_header(call, "user-agent"), "intervene/" INTERVENE_VERSION);
	json_decref(st);

	/* an assignee with no mapping is not sent at all */
	d.assigned_to = "bob";
	gh->create_issue(c, &d, &r);
	assert_int_equal(r.outcome, TRACKER_OK);
	st = fake_state("github");
	assert_null(json_object_get(json_object_get(last_call(st), "body"), "assignees"));
	json_decref(st);

	gh->comment(c, "1", "Resolved by **alice**.", INCIDENT_URL, &r);
	assert_int_equal(r.outcome, TRACKER_OK);
	gh->close_issue(c, "1", &r);
	assert_int_equal(r.outcome, TRACKER_OK);
	st = fake_state("github");
	const json_t *cm = json_array_get(json_object_get(st, "comments"), 0);
	assert_int_equal(json_integer_value(json_object_get(cm, "issue")), 1);
	assert_string_equal(json_get_str(cm, "body"), "Resolved by **alice**.");
	const json_t *cl = json_array_get(json_object_get(st, "closes"), 0);
	assert_int_equal(json_integer_value(json_object_get(cl, "issue")), 1);
	assert_string_equal(json_get_str(cl, "state_reason"), "completed");
	call = last_call(st);
	assert_string_equal(json_get_str(call, "method"), "PATCH");
	assert_string_equal(json_get_str(call, "path"), "/repos/acme/ops/issues/1");
	json_decref(st);

	/* a missing issue is dead, in GitHub's words; a bad id is never sent */
	gh->comment(c, "99", "x", INCIDENT_URL, &r);
	assert_int_equal(r.outcome, TRACKER_FAILED);
	assert_int_equal(r.http_status, 404);
	assert_non_null(strstr(r.error, "Not Found"));
	gh->close_issue(c, "1/../../x", &r);
	assert_int_equal(r.outcome, TRACKER_FAILED);
	assert_false(r.sent);
	config_free(c);
}

static void test_github_find_and_test(void **state)
{
	(void)state;
	NEED_PYTHON();
	struct config *c = gh_cfg(fake_of("github")->url, GH_TOKEN);
	const struct tracker_ops *gh = tracker_find("github");
	/* a pull request carrying the label (listed by the issues endpoint too), the
	 * issue, and a later duplicate: the issue is the oldest real issue */
	json_decref(ctl("github", "POST", "/_fake/seed_issue",
			jpack("{s:s, s:[s], s:b}", "title", "pr", "labels", "intervene-7",
			      "pull_request", 1)));
	json_decref(ctl("github", "POST", "/_fake/seed_issue",
			jpack("{s:s, s:[s, s], s:s}", "title", "closed one", "labels",
			      "intervene-7", "sev2", "state", "closed")));
	json_decref(ctl("github", "POST", "/_fake/seed_issue",
			jpack("{s:s, s:[s]}", "title", "dup", "labels", "intervene-7")));
	json_decref(ctl("github", "POST", "/_fake/seed_issue",
			jpack("{s:s, s:[s]}", "title", "other", "labels", "intervene-70")));
	struct tracker_result r = {0};
	gh->find_by_label(c, 7, &r);
	assert_int_equal(r.outcome, TRACKER_OK);
	assert_true(r.found);
	assert_string_equal(r.external_id, "2");
	assert_string_equal(r.url, "https://github.com/acme/ops/issues/2");
	json_t *st = fake_state("github");
	const json_t *call = last_call(st);
	assert_string_equal(json_get_str(call, "path"), "/repos/acme/ops/issues");
	const json_t *q = json_object_get(call, "query");
	assert_string_equal(json_get_str(q, "labels"), "intervene-7");
	assert_string_equal(json_get_str(q, "state"), "all");
	json_decref(st);
	gh->find_by_label(c, 8, &r);
	assert_int_equal(r.outcome, TRACKER_OK);
	assert_false(r.found);
	assert_string_equal(r.external_id, "");

	gh->test_connection(c, &r);
	assert_int_equal(r.outcome, TRACKER_OK);
	st = fake_state("github");
	assert_string_equal(json_get_str(last_call(st), "path"), "/repos/acme/ops");
	json_decref(st);
	config_free(c);

	/* wrong token: 401 in GitHub's words, the key to check named, no token echoed */
	c = gh_cfg(fake_of("github")->url, "ghp_WrOnGtoken000000000");
	gh->test_connection(c, &r);
	assert_int_equal(r.outcome, TRACKER_FAILED);
	assert_int_equal(r.http_status, 401);
	assert_non_null(strstr(r.error, "401: the credentials were refused"));
	assert_non_null(strstr(r.error, "tracker.github.token"));
	assert_non_null(strstr(r.error, "Bad credentials"));
	assert_null(strstr(r.error, "ghp_WrOnGtoken000000000"));
	no_secret(&r);
	gh->create_issue(c, &(struct tracker_issue_doc){.title = "t", .body = "b"}, &r);
	assert_int_equal(r.outcome, TRACKER_FAILED);
	assert_int_equal(r.http_status, 401);
	config_free(c);

	/* a repository that is not there */
	c = load_cfg("tracker:\n  provider: github\n  github: {token: %s, owner: acme, repo: "
		     "nope, base_url: \"%s\"}\n",
		     GH_TOKEN, fake_of("github")->url);
	gh->test_connection(c, &r);
	assert_int_equal(r.outcome, TRACKER_FAILED);
	assert_non_null(strstr(r.error, "404: repository acme/nope not found"));
	/* 403: which permissions are needed */
	ctl0("github", "/_fake/fail_next", jpack("{s:i, s:i}", "n", 1, "status", 403));
	gh->test_connection(c, &r);
	assert_int_equal(r.outcome, TRACKER_FAILED);
	assert_non_null(strstr(r.error, "403: the credentials lack a permission"));
	assert_non_null(strstr(r.error, "Issues: read and write"));
	assert_non_null(strstr(r.error, "Resource not accessible by personal access token"));
	config_free(c);
}

static void test_github_retry_classes(void **state)
{
	(void)state;
	NEED_PYTHON();
	struct config *c = gh_cfg(fake_of("github")->url, GH_TOKEN);
	const struct tracker_ops *gh = tracker_find("github");
	struct tracker_issue_doc d = doc_of("body");
	struct tracker_result r = {0};

	ctl0("github", "/_fake/fail_next", jpack("{s:i, s:i}", "n", 1, "status", 500));
	gh->create_issue(c, &d, &r);
	assert_int_equal(r.outcome, TRACKER_RETRY);
	assert_int_equal(r.http_status, 500);
	assert_true(r.sent);
	assert_non_null(strstr(r.error, "Server Error"));

	ctl0("github", "/_fake/fail_next",
	     jpack("{s:i, s:i, s:{s:s}}", "n", 1, "status", 429, "headers", "Retry-After", "7"));
	gh->comment(c, "1", "x", NULL, &r);
	assert_int_equal(r.outcome, TRACKER_RETRY);
	assert_int_equal(r.retry_after_ms, 7000);

	char reset[32];
	snprintf(reset, sizeof reset, "%lld", (long long)(time_now_ms() / 1000 + 120));
	ctl0("github", "/_fake/fail_next",
	     jpack("{s:i, s:i, s:{s:s, s:s}}", "n", 1, "status", 403, "headers",
		   "x-ratelimit-remaining", "0", "x-ratelimit-reset", reset));
	gh->create_issue(c, &d, &r);
	assert_int_equal(r.outcome, TRACKER_RETRY);
	assert_int_equal(r.http_status, 403);
	assert_true(r.retry_after_ms > 110000 && r.retry_after_ms <= 120000);
	assert_non_null(strstr(r.error, "API rate limit exceeded"));

	ctl0("github", "/_fake/fail_next", jpack("{s:i, s:i}", "n", 1, "status", 401));
	gh->close_issue(c, "1", &r);
	assert_int_equal(r.outcome, TRACKER_FAILED);
	assert_int_equal(r.http_status, 401);

	/* an error text that echoes the token is redacted */
	ctl0("github", "/_fake/fail_next",
	     jpack("{s:i, s:i, s:{s:s}}", "n", 1, "status", 400, "body", "message",
		   "token " GH_TOKEN " is not allowed here"));
	gh->create_issue(c, &d, &r);
	assert_int_equal(r.outcome, TRACKER_FAILED);
	assert_non_null(strstr(r.error, "token **** is not allowed here"));
	no_secret(&r);

	/* nothing was created by any of these */
	json_t *st = fake_state("github");
	assert_int_equal(json_array_size(json_object_get(st, "issues")), 0);
	json_decref(st);
	config_free(c);
}

/* The stand-in refuses what GitHub would. */
static void test_github_fake_checks(void **state)
{
	(void)state;
	NEED_PYTHON();
	const struct http_header ok[] = {{"Authorization", "Bearer " GH_TOKEN},
					 {"Accept", "application/vnd.github+json"},
					 {"X-GitHub-Api-Version", "2022-11-28"}};
	struct buf b = BUF_INIT;
	assert_int_equal(raw_request("github", "GET", "/repos/acme/ops", NULL, ok, 3, NULL), 200);
	assert_int_equal(raw_request("github", "GET", "/repos/acme/ops", NULL, ok + 1, 2, &b), 401);
	assert_non_null(strstr(b.data, "Requires authentication"));
	assert_int_equal(raw_request("github", "GET", "/repos/acme/ops", NULL, ok, 2, NULL), 400);
	const struct http_header no_ua[] = {ok[0], ok[1], ok[2], {"User-Agent", ""}};
	buf_reset(&b);
	assert_int_equal(raw_request("github", "GET", "/repos/acme/ops", NULL, no_ua, 4, &b), 403);
	assert_non_null(strstr(b.data, "User-Agent"));
	const struct http_header json_accept[] = {ok[0], {"Accept", "application/json"}, ok[2]};
	assert_int_equal(
		raw_request("github", "GET", "/repos/acme/ops", NULL, json_accept, 3, NULL), 415);
	/* labels longer than 50 characters: the whole create is refused */
	buf_reset(&b);
	assert_int_equal(
		raw_request("github", "POST", "/repos/acme/ops/issues",
			    "{\"title\":\"t\",\"labels\":[\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
			    "aaaaaaaaaaaaaaaaaaaa\"]}",
			    ok, 3, &b),
		422);
	assert_non_null(strstr(b.data, "Validation Failed"));
	buf_free(&b);
}

/* =============================================================== GitLab ==== */

static void test_gitlab_operations(void **state)
{
	(void)state;
	NEED_PYTHON();
	struct config *c = gl_cfg(fake_of("gitlab")->url, "acme/ops");
	const struct tracker_ops *gl = tracker_find("gitlab");
	static const char *const labels[] = {"sev3", "a,b", "intervene", "intervene-9"};
	struct tracker_issue_doc d = doc_of("Body *text*.\n");
	d.incident_id = 9;
	d.labels = labels;
	d.severity = 3;
	struct tracker_result r = {0};
	gl->create_issue(c, &d, &r);
	assert_int_equal(r.outcome, TRACKER_OK);
	assert_string_equal(r.external_id, "1");
	assert_string_equal(r.url, "https://gitlab.example.com/acme/ops/-/issues/1");
	json_t *st = fake_state("gitlab");
	const json_t *call = last_call(st);
	assert_string_equal(json_get_str(call, "path"), "/api/v4/projects/acme%2Fops/issues");
	assert_string_equal(call_header(call, "private-token"), GL_TOKEN);
	assert_null(call_header(call, "authorization"));
	const json_t *body = json_object_get(call, "body");
	assert_string_equal(json_get_str(body, "labels"),
			    "sev3,a b,intervene,intervene-9,priority::sev3");
	assert_string_equal(json_get_str(body, "description"), "Body *text*.\n");
	json_decref(st);

	gl->comment(c, "1", "note", INCIDENT_URL, &r);
	assert_int_equal(r.outcome, TRACKER_OK);
	gl->close_issue(c, "1", &r);
	assert_int_equal(r.outcome, TRACKER_OK);
	st = fake_state("gitlab");
	assert_string_equal(
		json_get_str(json_array_get(json_object_get(st, "comments"), 0), "body"), "note");
	assert_int_equal(json_array_size(json_object_get(st, "closes")), 1);
	call = last_call(st);
	assert_string_equal(json_get_str(call, "method"), "PUT");
	assert_string_equal(json_get_str(json_object_get(call, "body"), "state_event"), "close");
	assert_string_equal(json_get_str(json_array_get(json_object_get(st, "issues"), 0), "state"),
			    "closed");
	json_decref(st);

	/* found again in every state, by the exact label */
	gl->find_by_label(c, 9, &r);
	assert_int_equal(r.outcome, TRACKER_OK);
	assert_true(r.found);
	assert_string_equal(r.external_id, "1");
	gl->find_by_label(c, 90, &r);
	assert_int_equal(r.outcome, TRACKER_OK);
	assert_false(r.found);
	gl->test_connection(c, &r);
	assert_int_equal(r.outcome, TRACKER_OK);
	config_free(c);

	/* the numeric id works the same */
	c = gl_cfg(fake_of("gitlab")->url, "4242");
	gl->test_connection(c, &r);
	assert_int_equal(r.outcome, TRACKER_OK);
	config_free(c);

	c = gl_cfg(fake_of("gitlab")->url, "acme/nope");
	gl->test_connection(c, &r);
	assert_int_equal(r.outcome, TRACKER_FAILED);
	assert_non_null(strstr(r.error, "404: project acme/nope not found"));
	assert_non_null(strstr(r.error, "404 Project Not Found"));
	config_free(c);

	c = load_cfg("tracker:\n  provider: gitlab\n  gitlab: {token: glpat-wrong-token-00, "
		     "project_id: acme/ops, base_url: \"%s\"}\n",
		     fake_of("gitlab")->url);
	gl->test_connection(c, &r);
	assert_int_equal(r.outcome, TRACKER_FAILED);
	assert_non_null(
		strstr(r.error, "401: the credentials were refused (check tracker.gitlab.token)"));
	assert_null(strstr(r.error, "glpat-wrong-token-00"));
	config_free(c);

	/* the stand-in refuses labels sent as an array, and an unencoded project path */
	const struct http_header h[] = {{"PRIVATE-TOKEN", GL_TOKEN}};
	struct buf b = BUF_INIT;
	assert_int_equal(raw_request("gitlab", "POST", "/api/v4/projects/4242/issues",
				     "{\"title\":\"t\",\"labels\":[\"a\",\"b\"]}", h, 1, &b),
			 400);
	assert_non_null(strstr(b.data, "labels is invalid"));
	assert_int_equal(
		raw_request("gitlab", "GET", "/api/v4/projects/acme/ops", NULL, h, 1, NULL), 404);
	buf_free(&b);
}

/* ================================================================= Jira ==== */

static const json_t *jira_issue(const json_t *st, size_t i)
{
	return json_array_get(json_object_get(st, "issues"), i);
}

static void test_jira_create_and_priority_retry(void **state)
{
	(void)state;
	NEED_PYTHON();
	struct config *c = jira_cfg(fake_of("jira")->url, JIRA_TOKEN, "");
	const struct tracker_ops *jira = tracker_find("jira");
	struct tracker_issue_doc d = doc_of("## What\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n- [ ] "
					    "check\n\n```sql\nselect 1;\n```\n");
	struct tracker_result r = {0};
	jira->create_issue(c, &d, &r);
	if (r.outcome != TRACKER_OK)
		fail_msg("%s", r.error);
	assert_string_equal(r.external_id, "OPS-1");
	char want[128];
	snprintf(want, sizeof want, "%s/browse/OPS-1", fake_of("jira")->url);
	assert_string_equal(r.url, want);
	json_t *st = fake_state("jira");
	const json_t *f = json_object_get(jira_issue(st, 0), "fields");
	assert_string_equal(json_get_str(json_object_get(f, "priority"), "name"), "High");
	const json_t *labels = json_object_get(f, "labels");
	assert_string_equal(json_string_value(json_array_get(labels, 1)), "invariant-failure");
	const json_t *desc = json_object_get(f, "description");
	assert_string_equal(json_get_str(desc, "type"), "doc");
	assert_string_equal(
		json_get_str(json_array_get(json_object_get(desc, "content"), 1), "type"), "table");
	struct err e;
	assert_int_equal(adf_check(desc, &e), 0);
	/* Basic email:api_token */
	const char *auth = call_header(last_call(st), "authorization");
	assert_non_null(auth);
	assert_int_equal(strncmp(auth, "Basic ", 6), 0);
	json_decref(st);

	/* a project without the priority field: refused once, made without it */
	ctl0("jira", "/_fake/set", jpack("{s:b}", "priorities_enabled", 0));
	jira->create_issue(c, &d, &r);
	assert_int_equal(r.outcome, TRACKER_OK);
	assert_string_equal(r.external_id, "OPS-2");
	st = fake_state("jira");
	const json_t *calls = json_object_get(st, "calls");
	size_t n = json_array_size(calls);
	const json_t *first = json_array_get(calls, n - 2), *second = json_array_get(calls, n - 1);
	assert_int_equal(json_integer_value(json_object_get(first, "status")), 400);
	assert_non_null(json_object_get(json_object_get(json_object_get(first, "body"), "fields"),
					"priority"));
	assert_int_equal(json_integer_value(json_object_get(second, "status")), 201);
	assert_null(json_object_get(json_object_get(json_object_get(second, "body"), "fields"),
				    "priority"));
	assert_int_equal(json_array_size(json_object_get(st, "issues")), 2);
	json_decref(st);

	/* only once: a second refusal is the answer */
	ctl0("jira", "/_fake/fail_next",
	     jpack("{s:i, s:i, s:{s:[], s:{s:s}}}", "n", 2, "status", 400, "body", "errorMessages",
		   "errors", "priority", "nope"));
	jira->create_issue(c, &d, &r);
	assert_int_equal(r.outcome, TRACKER_FAILED);
	assert_non_null(strstr(r.error, "priority: nope"));
	st = fake_state("jira");
	n = json_array_size(json_object_get(st, "calls"));
	assert_int_equal(json_array_size(json_object_get(st, "issues")), 2);
	json_decref(st);

	/* a 400 about another field is not retried */
	ctl0("jira", "/_fake/set", jpack("{s:b}", "priorities_enabled", 1));
	ctl0("jira", "/_fake/fail_next",
	     jpack("{s:i, s:i, s:{s:[], s:{s:s}}}", "n", 1, "status", 400, "body", "errorMessages",
		   "errors", "summary", "You must specify a summary of the issue."));
	jira->create_issue(c, &d, &r);
	assert_int_equal(r.outcome, TRACKER_FAILED);
	assert_non_null(strstr(r.error, "summary: You must specify a summary"));
	st = fake_state("jira");
	assert_int_equal(json_array_size(json_object_get(st, "calls")), n + 1);
	json_decref(st);

	/* no severity: no priority, no retry needed */
	ctl0("jira", "/_fake/set", jpack("{s:b}", "priorities_enabled", 0));
	d.severity = 0;
	jira->create_issue(c, &d, &r);
	assert_int_equal(r.outcome, TRACKER_OK);
	st = fake_state("jira");
	assert_int_equal(json_array_size(json_object_get(st, "calls")), n + 2);
	json_decref(st);
	config_free(c);
}

static void test_jira_adf_fallback_and_limit(void **state)
{
	(void)state;
	NEED_PYTHON();
	struct config *c = jira_cfg(fake_of("jira")->url, JIRA_TOKEN, "");
	const struct tracker_ops *jira = tracker_find("jira");
	/* a table of 300 columns and 250 rows: more cells than ADF_MAX_TABLE_CELLS */
	struct buf md = BUF_INIT;
	buf_puts(&md, "Intro paragraph\nsecond line\n\n");
	for (int i = 0; i < 300; i++)
		buf_puts(&md, "|a");
	buf_puts(&md, "|\n");
	for (int i = 0; i < 300; i++)
		buf_puts(&md, "|-");
	buf_puts(&md, "|\n");
	for (int i = 0; i < 250; i++)
		buf_puts(&md, "|\n");
	json_t *doc = NULL;
	struct err e;
	assert_int_equal(adf_from_markdown(md.data, md.len, &doc, &e), ERR_TOOLARGE);
	struct tracker_issue_doc d = doc_of(md.data);
	struct tracker_result r = {0};
	jira->create_issue(c, &d, &r);
	if (r.outcome != TRACKER_OK)
		fail_msg("%s", r.error);
	json_t *st = fake_state("jira");
	const json_t *desc =
		json_object_get(json_object_get(jira_issue(st, 0), "fields"), "description");
	assert_int_equal(adf_check(desc, &e), 0);
	const json_t *content = json_object_get(desc, "content");
	const json_t *note = json_object_get(json_array_get(content, 0), "content");
	assert_non_null(strstr(json_get_str(json_array_get(note, 0), "text"), "plain text"));
	assert_non_null(strstr(json_get_str(json_array_get(note, 0), "text"), "table cells"));
	const json_t *link = json_array_get(note, 1);
	assert_string_equal(json_get_str(link, "text"), INCIDENT_URL);
	assert_string_equal(
		json_get_str(
			json_object_get(json_array_get(json_object_get(link, "marks"), 0), "attrs"),
			"href"),
		INCIDENT_URL);
	/* the text follows as paragraphs, line breaks kept */
	const json_t *p1 = json_object_get(json_array_get(content, 1), "content");
	assert_string_equal(json_get_str(json_array_get(p1, 0), "text"), "Intro paragraph");
	assert_string_equal(json_get_str(json_array_get(p1, 1), "type"), "hardBreak");
	assert_string_equal(json_get_str(json_array_get(p1, 2), "text"), "second line");
	json_decref(st);

	/* the same refusal in a comment */
	jira->comment(c, "OPS-1", md.data, INCIDENT_URL, &r);
	assert_int_equal(r.outcome, TRACKER_OK);

	/* a body over Jira's 32,767 characters is cut (the stand-in refuses longer text) */
	buf_reset(&md);
	for (int i = 0; i < 4000; i++)
		buf_printf(&md, "line %04d ünïcödé\n", i);
	assert_true(cps(md.data) > 32767);
	d = doc_of(md.data);
	jira->create_issue(c, &d, &r);
	if (r.outcome != TRACKER_OK)
		fail_msg("%s", r.error);
	st = fake_state("jira");
	desc = json_object_get(json_object_get(jira_issue(st, 1), "fields"), "description");
	content = json_object_get(desc, "content");
	const json_t *last = json_array_get(content, json_array_size(content) - 1);
	assert_string_equal(json_get_str(last, "type"), "blockquote");
	json_decref(st);
	/* the stand-in does refuse an uncut one */
	const struct http_header h[] = {
		{"Authorization", "Basic Ym90QGV4YW1wbGUuY29tOkFUQVRULVNlQ3JFdDAxMjM0NTY3ODk="}};
	struct buf req = BUF_INIT;
	buf_puts(&req,
		 "{\"fields\":{\"project\":{\"key\":\"OPS\"},\"summary\":\"s\",\"issuetype\":"
		 "{\"name\":\"Bug\"},\"description\":{\"version\":1,\"type\":\"doc\",\"content\":"
		 "[{\"type\":\"paragraph\",\"content\":[{\"type\":\"text\",\"text\":\"");
	for (int i = 0; i < 32768; i++)
		buf_putc(&req, 'x');
	buf_puts(&req, "\"}]}]}}}");
	struct buf b = BUF_INIT;
	assert_int_equal(raw_request("jira", "POST", "/rest/api/3/issue", req.data, h, 1, &b), 400);
	assert_non_null(strstr(b.data, "32,767"));
	/* and a description that is not ADF, or has a space in a label */
	buf_reset(&b);
	assert_int_equal(raw_request("jira", "POST", "/rest/api/3/issue",
				     "{\"fields\":{\"project\":{\"key\":\"OPS\"},\"summary\":\"s\","
				     "\"issuetype\":{\"name\":\"Bug\"},\"description\":\"plain\","
				     "\"labels\":[\"a b\"]}}",
				     h, 1, &b),
			 400);
	assert_non_null(strstr(b.data, "Atlassian Document"));
	assert_non_null(strstr(b.data, "contains spaces"));
	/* an empty text node is not ADF (when the schema is there to say so) */
	st = fake_state("jira");
	if (json_is_string(json_object_get(st, "adf_schema"))) {
		assert_int_equal(
			raw_request("jira", "POST", "/rest/api/3/issue/OPS-1/comment",
				    "{\"body\":{\"version\":1,\"type\":\"doc\",\"content\":"
				    "[{\"type\":\"paragraph\",\"content\":[{\"type\":\"text\","
				    "\"text\":\"\"}]}]}}",
				    h, 1, NULL),
			400);
	} else {
		print_message("note: ../shared/conformance/adf/full.json is absent: the Jira "
			      "stand-in checks only the outer shape of ADF\n");
	}
	json_decref(st);
	buf_free(&b);
	buf_free(&req);
	buf_free(&md);
	config_free(c);
}

static void test_jira_close_find_test(void **state)
{
	(void)state;
	NEED_PYTHON();
	struct config *c = jira_cfg(fake_of("jira")->url, JIRA_TOKEN, "");
	const struct tracker_ops *jira = tracker_find("jira");
	struct tracker_issue_doc d = doc_of("text");
	struct tracker_result r = {0};
	jira->create_issue(c, &d, &r);
	assert_int_equal(r.outcome, TRACKER_OK);
	jira->comment(c, "OPS-1", "**done**", INCIDENT_URL, &r);
	assert_int_equal(r.outcome, TRACKER_OK);
	json_t *st = fake_state("jira");
	const json_t *cm = json_array_get(json_object_get(st, "comments"), 0);
	assert_string_equal(json_get_str(cm, "issue"), "OPS-1");
	assert_string_equal(json_get_str(json_object_get(cm, "body"), "type"), "doc");
	json_decref(st);

	/* the first transition into the Done category */
	jira->close_issue(c, "OPS-1", &r);
	assert_int_equal(r.outcome, TRACKER_OK);
	assert_int_equal(r.http_status, 204);
	st = fake_state("jira");
	assert_string_equal(
		json_get_str(json_array_get(json_object_get(st, "closes"), 0), "transition"), "31");
	json_decref(st);
	/* closed already: done, without another transition */
	jira->close_issue(c, "OPS-1", &r);
	assert_int_equal(r.outcome, TRACKER_OK);
	st = fake_state("jira");
	assert_int_equal(json_array_size(json_object_get(st, "closes")), 1);
	json_decref(st);

	jira->find_by_label(c, 7, &r);
	assert_int_equal(r.outcome, TRACKER_OK);
	assert_true(r.found);
	assert_string_equal(r.external_id, "OPS-1");
	st = fake_state("jira");
	const json_t *call = last_call(st);
	assert_string_equal(json_get_str(call, "path"), "/rest/api/3/search/jql");
	assert_string_equal(json_get_str(json_object_get(call, "body"), "jql"),
			    "project = OPS AND labels = \"intervene-7\"");
	json_decref(st);
	jira->find_by_label(c, 77, &r);
	assert_int_equal(r.outcome, TRACKER_OK);
	assert_false(r.found);
	jira->test_connection(c, &r);
	assert_int_equal(r.outcome, TRACKER_OK);
	config_free(c);

	/* a transition named in the config, ignoring case */
	c = jira_cfg(fake_of("jira")->url, JIRA_TOKEN, "in progress");
	jira->create_issue(c, &d, &r);
	assert_string_equal(r.external_id, "OPS-2");
	jira->close_issue(c, "OPS-2", &r);
	assert_int_equal(r.outcome, TRACKER_OK);
	st = fake_state("jira");
	assert_string_equal(
		json_get_str(
			json_object_get(json_object_get(jira_issue(st, 1), "fields"), "status"),
			"name"),
		"In Progress");
	json_decref(st);
	config_free(c);
	c = jira_cfg(fake_of("jira")->url, JIRA_TOKEN, "Archive");
	jira->close_issue(c, "OPS-2", &r);
	assert_int_equal(r.outcome, TRACKER_FAILED);
	assert_non_null(strstr(r.error, "no transition named \"Archive\""));
	assert_non_null(strstr(r.error, "available: To Do, Done"));
	config_free(c);

	/* wrong token; missing project */
	c = jira_cfg(fake_of("jira")->url, "ATATT-wrong-token-000", "");
	jira->test_connection(c, &r);
	assert_int_equal(r.outcome, TRACKER_FAILED);
	assert_int_equal(r.http_status, 401);
	assert_non_null(strstr(r.error, "tracker.jira.email and tracker.jira.api_token"));
	assert_non_null(strstr(r.error, "Client must be authenticated"));
	assert_null(strstr(r.error, "ATATT-wrong-token-000"));
	config_free(c);
	c = load_cfg("tracker:\n  provider: jira\n  jira: {base_url: \"%s\", email: %s, api_token: "
		     "%s, project_key: NOPE}\n",
		     fake_of("jira")->url, JIRA_EMAIL, JIRA_TOKEN);
	jira->test_connection(c, &r);
	assert_int_equal(r.outcome, TRACKER_FAILED);
	assert_non_null(strstr(r.error, "404: project NOPE not found"));
	assert_non_null(strstr(r.error, "No project could be found with key 'NOPE'"));
	config_free(c);
}

/* ======================================================= lost requests ==== */

static void test_lost_answers(void **state)
{
	(void)state;
	NEED_PYTHON();
	struct config *c = gh_cfg(fake_of("github")->url, GH_TOKEN);
	const struct tracker_ops *gh = tracker_find("github");
	struct tracker_issue_doc d = doc_of("body");
	struct tracker_result r = {0};

	/* the issue is made, the answer lost: retry, sent; find_by_label finds it */
	ctl0("github", "/_fake/drop_after_create_next", jpack("{s:i}", "n", 1));
	gh->create_issue(c, &d, &r);
	assert_int_equal(r.outcome, TRACKER_RETRY);
	assert_true(r.sent);
	assert_int_equal(r.http_status, 0);
	no_secret(&r);
	gh->find_by_label(c, 7, &r);
	assert_true(r.found);
	assert_string_equal(r.external_id, "1");

	/* closed without an answer before anything was made */
	ctl0("github", "/_fake/reset_next", jpack("{s:i}", "n", 1));
	gh->create_issue(c, &d, &r);
	assert_int_equal(r.outcome, TRACKER_RETRY);
	assert_true(r.sent);

	/* a stand-in that never answers: a timeout, and sent */
	tracker_set_timeouts(2000, 1200);
	ctl0("github", "/_fake/hang", NULL);
	int64_t t0 = time_mono_ms();
	gh->create_issue(c, &d, &r);
	int64_t took = time_mono_ms() - t0;
	ctl0("github", "/_fake/stop_hanging", NULL);
	assert_int_equal(r.outcome, TRACKER_RETRY);
	assert_true(r.sent);
	assert_true(took >= 1100 && took < 10000);
	assert_non_null(strstr(r.error, "timeout"));
	gh->test_connection(c, &r);
	assert_int_equal(r.outcome, TRACKER_OK);
	json_t *st = fake_state("github");
	const json_t *calls = json_object_get(st, "calls");
	size_t n = json_array_size(calls);
	assert_string_equal(json_get_str(json_array_get(calls, n - 2), "outcome"), "hung");
	assert_string_equal(json_get_str(json_array_get(calls, n - 3), "outcome"), "reset");
	assert_string_equal(json_get_str(json_array_get(calls, n - 5), "outcome"), "dropped");
	assert_int_equal(json_array_size(json_object_get(st, "issues")), 1);
	json_decref(st);
	config_free(c);
}

static void test_unreachable(void **state)
{
	(void)state;
	tracker_set_timeouts(3000, 3000);
	/* a port nobody listens on */
	int s = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(s >= 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	assert_int_equal(bind(s, (struct sockaddr *)&a, sizeof a), 0);
	socklen_t al = sizeof a;
	assert_int_equal(getsockname(s, (struct sockaddr *)&a, &al), 0);
	close(s);
	char url[64];
	snprintf(url, sizeof url, "http://127.0.0.1:%d", ntohs(a.sin_port));
	for (const struct tracker_ops *const *p = tracker_providers; *p; p++) {
		struct config *c = !strcmp((*p)->name, "github")   ? gh_cfg(url, GH_TOKEN)
				   : !strcmp((*p)->name, "gitlab") ? gl_cfg(url, "acme/ops")
								   : jira_cfg(url, JIRA_TOKEN, "");
		struct tracker_issue_doc d = doc_of("body");
		struct tracker_result r = {0};
		(*p)->create_issue(c, &d, &r);
		assert_int_equal(r.outcome, TRACKER_RETRY);
		assert_false(r.sent);
		(*p)->test_connection(c, &r);
		assert_int_equal(r.outcome, TRACKER_RETRY);
		assert_false(r.sent);
		if (strncmp(r.error, "connect: ", 9))
			fail_msg("%s: %s", (*p)->name, r.error);
		no_secret(&r);
		config_free(c);
	}
	/* a name that does not resolve (.invalid never does, RFC 6761) */
	struct config *c = gh_cfg("http://intervene-test.invalid", GH_TOKEN);
	struct tracker_result r = {0};
	tracker_find("github")->test_connection(c, &r);
	assert_int_equal(r.outcome, TRACKER_RETRY);
	assert_false(r.sent);
	if (strncmp(r.error, "DNS: ", 5))
		fail_msg("%s", r.error);
	config_free(c);
	/* a password in the base URL stays out of messages too */
	c = load_cfg("tracker:\n  provider: jira\n  jira: {base_url: \"http://u:pAsSwOrD99@%s\", "
		     "email: %s, api_token: %s, project_key: OPS}\n",
		     url + 7, JIRA_EMAIL, JIRA_TOKEN);
	tracker_find("jira")->test_connection(c, &r);
	assert_int_equal(r.outcome, TRACKER_RETRY);
	assert_null(strstr(r.error, "pAsSwOrD99"));
	config_free(c);
	tracker_set_timeouts(0, 0);
}

/* ================================================================ main ==== */

static int setup(void **state)
{
	(void)state;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return -1;
	signal(SIGPIPE, SIG_IGN);
	cmark_gfm_core_extensions_ensure_registered(); /* as main() does, for adf.h */
	const char *root = getenv("SOURCE_ROOT");
	if (!root)
		root = "..";
	have_python = access(PY, X_OK) == 0;
	if (!have_python) {
		print_message("note: %s is absent: the adapter tests against the stand-ins are "
			      "skipped\n",
			      PY);
		return 0;
	}
	for (size_t i = 0; i < 3; i++)
		if (spawn_fake(&fakes[i], root))
			return -1;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	for (size_t i = 0; i < 3; i++)
		stop_fake(&fakes[i]);
	curl_global_cleanup();
	return 0;
}

#define T(f) cmocka_unit_test_setup(f, reset_fakes)

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_retry_after_forms),
		cmocka_unit_test(test_classify_statuses),
		cmocka_unit_test(test_classify_rate_limits),
		cmocka_unit_test(test_classify_no_response),
		cmocka_unit_test(test_classify_error_text),
		cmocka_unit_test(test_fit_body_unchanged_and_exact),
		cmocka_unit_test(test_fit_body_code_fences),
		cmocka_unit_test(test_fit_body_long_line_and_bad_input),
		cmocka_unit_test(test_registry),
		T(test_github_create_comment_close),
		T(test_github_find_and_test),
		T(test_github_retry_classes),
		T(test_github_fake_checks),
		T(test_gitlab_operations),
		T(test_jira_create_and_priority_retry),
		T(test_jira_adf_fallback_and_limit),
		T(test_jira_close_find_test),
		T(test_lost_answers),
		T(test_unreachable),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
