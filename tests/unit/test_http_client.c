/* test_http_client.c — the client commands' HTTP client (src/cli/http_client.h): what
 * it refuses before anything is sent. No server is contacted by these cases. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

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

static int setup(void **state)
{
	(void)state;
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
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
