/* test_router.c — route patterns and matching (src/http/router.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "http/router.h"

/* In the sanitizer build, undefined behaviour fails the test instead of only being
 * printed (unused otherwise). */
const char *__ubsan_default_options(void);
const char *__ubsan_default_options(void)
{
	return "halt_on_error=1:print_stacktrace=1";
}

static const char *const verbs[] = {"acknowledge", "mitigate", "resolve", "close", "reopen", NULL};

enum {
	R_LIST,
	R_CREATE,
	R_GET,
	R_PATCH,
	R_VERB,
	R_COMMENTS,
	R_ACTION,
	R_SILENCE_DEL,
	R_SETTING_GET,
	R_SETTING_PUT,
	R_ROOT,
	R_HEALTHZ,
	R_COUNT
};

static const struct route table[R_COUNT] = {
	[R_LIST] = {.method = M_GET, .pattern = "/api/incidents", .min_role = ROLE_VIEWER},
	[R_CREATE] = {.method = M_POST, .pattern = "/api/incidents", .kind = JOB_WRITE},
	[R_GET] = {.method = M_GET, .pattern = "/api/incidents/{id}"},
	[R_PATCH] = {.method = M_PATCH, .pattern = "/api/incidents/{id}", .kind = JOB_WRITE},
	[R_VERB] = {.method = M_POST, .pattern = "/api/incidents/{id}/{verb}", .words = verbs},
	[R_COMMENTS] = {.method = M_GET, .pattern = "/api/incidents/{id}/comments"},
	[R_ACTION] = {.method = M_GET, .pattern = "/api/incidents/{id}/actions/{id}"},
	[R_SILENCE_DEL] = {.method = M_DELETE, .pattern = "/api/silences/{id}"},
	[R_SETTING_GET] = {.method = M_GET, .pattern = "/api/settings/{name}"},
	[R_SETTING_PUT] = {.method = M_PUT, .pattern = "/api/settings/{name}"},
	[R_ROOT] = {.method = M_GET, .pattern = "/"},
	[R_HEALTHZ] = {.method = M_GET, .pattern = "/healthz"},
};

struct match_case {
	enum http_method method;
	const char *path;
	int rc;
	int route; /* index into table when rc == 0 */
	int64_t id, id2;
	const char *param;
	unsigned allowed; /* checked when non-zero */
};

static void run_case(const struct match_case *c)
{
	struct route_match m;
	memset(&m, 0xAB, sizeof m);
	int rc = router_match(table, R_COUNT, c->path, c->method, &m);
	if (rc != c->rc)
		fail_msg("%s %s: expected rc %d, got %d", router_method_name(c->method), c->path,
			 c->rc, rc);
	if (rc == 0) {
		if (m.route != &table[c->route])
			fail_msg("%s %s: matched the wrong route (%s)",
				 router_method_name(c->method), c->path,
				 m.route ? m.route->pattern : "none");
		if (m.id != c->id || m.id2 != c->id2)
			fail_msg("%s %s: ids %lld/%lld, expected %lld/%lld",
				 router_method_name(c->method), c->path, (long long)m.id,
				 (long long)m.id2, (long long)c->id, (long long)c->id2);
		if (c->param) {
			if (!m.param || strcmp(m.param, c->param))
				fail_msg("%s %s: param %s, expected %s",
					 router_method_name(c->method), c->path,
					 m.param ? m.param : "(null)", c->param);
		} else if (m.param) {
			fail_msg("%s %s: unexpected param %s", router_method_name(c->method),
				 c->path, m.param);
		}
		assert_true(m.allowed & (unsigned)c->method);
	} else {
		assert_null(m.route);
		assert_null(m.param);
	}
	if (rc == ERR_NOTFOUND)
		assert_int_equal(m.allowed, 0);
	if (c->allowed && m.allowed != c->allowed)
		fail_msg("%s %s: allowed 0x%x, expected 0x%x", router_method_name(c->method),
			 c->path, m.allowed, c->allowed);
	free(m.param);
}

static void test_literal_and_params(void **state)
{
	(void)state;
	const struct match_case cases[] = {
		{M_GET, "/api/incidents", 0, R_LIST, 0, 0, NULL, M_GET | M_POST},
		{M_POST, "/api/incidents", 0, R_CREATE, 0, 0, NULL, M_GET | M_POST},
		{M_GET, "/api/incidents/42", 0, R_GET, 42, 0, NULL, M_GET | M_PATCH},
		{M_PATCH, "/api/incidents/42", 0, R_PATCH, 42, 0, NULL, M_GET | M_PATCH},
		{M_GET, "/api/incidents/1", 0, R_GET, 1, 0, NULL, 0},
		{M_POST, "/api/incidents/7/resolve", 0, R_VERB, 7, 0, "resolve", M_POST},
		{M_POST, "/api/incidents/7/acknowledge", 0, R_VERB, 7, 0, "acknowledge", 0},
		{M_POST, "/api/incidents/7/reopen", 0, R_VERB, 7, 0, "reopen", 0},
		{M_GET, "/api/incidents/7/comments", 0, R_COMMENTS, 7, 0, NULL, M_GET},
		{M_GET, "/api/incidents/7/actions/9", 0, R_ACTION, 7, 9, NULL, M_GET},
		{M_DELETE, "/api/silences/3", 0, R_SILENCE_DEL, 3, 0, NULL, M_DELETE},
		{M_GET, "/api/settings/policy", 0, R_SETTING_GET, 0, 0, "policy", M_GET | M_PUT},
		{M_PUT, "/api/settings/policy", 0, R_SETTING_PUT, 0, 0, "policy", M_GET | M_PUT},
		{M_GET, "/api/settings/a.b-c_d", 0, R_SETTING_GET, 0, 0, "a.b-c_d", 0},
		{M_GET, "/", 0, R_ROOT, 0, 0, NULL, M_GET},
		{M_GET, "/healthz", 0, R_HEALTHZ, 0, 0, NULL, M_GET},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		run_case(&cases[i]);
}

static void test_not_found_vs_method(void **state)
{
	(void)state;
	const struct match_case cases[] = {
		/* the path exists with other methods: 405 and the allowed mask */
		{M_DELETE, "/api/incidents", ERR_METHOD, 0, 0, 0, NULL, M_GET | M_POST},
		{M_PUT, "/api/incidents", ERR_METHOD, 0, 0, 0, NULL, M_GET | M_POST},
		{M_POST, "/api/incidents/5", ERR_METHOD, 0, 0, 0, NULL, M_GET | M_PATCH},
		{M_DELETE, "/api/incidents/5", ERR_METHOD, 0, 0, 0, NULL, M_GET | M_PATCH},
		{M_GET, "/api/incidents/5/resolve", ERR_METHOD, 0, 0, 0, NULL, M_POST},
		{M_POST, "/api/incidents/5/comments", ERR_METHOD, 0, 0, 0, NULL, M_GET},
		{M_GET, "/api/silences/5", ERR_METHOD, 0, 0, 0, NULL, M_DELETE},
		{M_DELETE, "/api/settings/x", ERR_METHOD, 0, 0, 0, NULL, M_GET | M_PUT},
		{M_POST, "/", ERR_METHOD, 0, 0, 0, NULL, M_GET},
		{M_HEAD, "/healthz", ERR_METHOD, 0, 0, 0, NULL, M_GET},
		/* no pattern matches the path: 404 */
		{M_GET, "/api", ERR_NOTFOUND, 0, 0, 0, NULL, 0},
		{M_GET, "/api/incident", ERR_NOTFOUND, 0, 0, 0, NULL, 0},
		{M_GET, "/api/incidentsx", ERR_NOTFOUND, 0, 0, 0, NULL, 0},
		{M_GET, "/API/incidents", ERR_NOTFOUND, 0, 0, 0, NULL, 0},
		{M_POST, "/api/incidents/5/explode", ERR_NOTFOUND, 0, 0, 0, NULL, 0},
		{M_POST, "/api/incidents/5/Resolve", ERR_NOTFOUND, 0, 0, 0, NULL, 0},
		{M_POST, "/api/incidents/5/resolved", ERR_NOTFOUND, 0, 0, 0, NULL, 0},
		{M_POST, "/api/incidents/5/resolve/x", ERR_NOTFOUND, 0, 0, 0, NULL, 0},
		{M_GET, "/api/incidents/5/actions", ERR_NOTFOUND, 0, 0, 0, NULL, 0},
		{M_GET, "/api/settings/", ERR_NOTFOUND, 0, 0, 0, NULL, 0}, /* empty {param} */
		{M_GET, "/nothing/here", ERR_NOTFOUND, 0, 0, 0, NULL, 0},
		{M_GET, "", ERR_NOTFOUND, 0, 0, 0, NULL, 0},
		{M_GET, "//", ERR_NOTFOUND, 0, 0, 0, NULL, 0},
		{M_GET, "api/incidents", ERR_NOTFOUND, 0, 0, 0, NULL, 0},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		run_case(&cases[i]);
}

static void test_trailing_slash_and_traversal(void **state)
{
	(void)state;
	static const char *const paths[] = {
		"/api/incidents/",
		"/api/incidents//",
		"/api/incidents/1/",
		"/api/incidents/1/resolve/",
		"/healthz/",
		"/api//incidents",
		"//api/incidents",
		"/api/incidents/../x",
		"/api/incidents/1/../2",
		"/api/incidents/../incidents/1",
		"/api/../api/incidents",
		"/api/incidents/./1",
		"/api/incidents/1/./resolve",
		"/api/incidents/%2e%2e/x",
		"/api/incidents/..",
		"/api/incidents/.",
	};
	for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
		for (int m = M_GET; m <= M_OPTIONS; m <<= 1) {
			struct route_match rm;
			int rc = router_match(table, R_COUNT, paths[i], (enum http_method)m, &rm);
			if (rc == 0)
				fail_msg("%s %s matched %s",
					 router_method_name((enum http_method)m), paths[i],
					 rm.route->pattern);
			assert_int_equal(rc, ERR_NOTFOUND);
			assert_null(rm.param);
		}
	}
}

static void test_id_values(void **state)
{
	(void)state;
	static const struct {
		const char *seg;
		int64_t id; /* 0: rejected */
	} ids[] = {
		{"1", 1},
		{"9", 9},
		{"10", 10},
		{"1234567890", 1234567890},
		{"9223372036854775807", INT64_MAX},
		{"9223372036854775806", INT64_MAX - 1},
		{"9223372036854775808", 0}, /* 2^63 overflows */
		{"9999999999999999999", 0},
		{"18446744073709551617", 0},
		{"99999999999999999999999", 0},
		{"0", 0},
		{"00", 0},
		{"01", 0},
		{"007", 0},
		{"-1", 0},
		{"+1", 0},
		{"1a", 0},
		{"a1", 0},
		{"abc", 0},
		{"1.0", 0},
		{"1e3", 0},
		{"0x10", 0},
		{" 1", 0},
		{"1 ", 0},
		{"%31", 0},
	};
	for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
		char path[128];
		snprintf(path, sizeof path, "/api/incidents/%s", ids[i].seg);
		struct route_match m;
		int rc = router_match(table, R_COUNT, path, M_GET, &m);
		if (ids[i].id) {
			if (rc != 0)
				fail_msg("%s: expected a match, got %d", path, rc);
			assert_ptr_equal(m.route, &table[R_GET]);
			if (m.id != ids[i].id)
				fail_msg("%s: id %lld", path, (long long)m.id);
		} else if (rc != ERR_NOTFOUND) {
			fail_msg("%s: expected ERR_NOTFOUND, got %d", path, rc);
		}
		free(m.param);

		/* the same rules for the second id */
		snprintf(path, sizeof path, "/api/incidents/5/actions/%s", ids[i].seg);
		rc = router_match(table, R_COUNT, path, M_GET, &m);
		if (ids[i].id) {
			assert_int_equal(rc, 0);
			assert_int_equal(m.id, 5);
			assert_true(m.id2 == ids[i].id);
		} else {
			assert_int_equal(rc, ERR_NOTFOUND);
		}
		free(m.param);
	}
}

static void test_literal_path_wins(void **state)
{
	(void)state;
	/* A path that is some route's literal pattern is served only by the literal
	 * routes, as OpenAPI matches paths: GET /x/special is the literal GET route,
	 * although the template /x/{name} comes first. */
	static const struct route dup[] = {
		{.method = M_GET, .pattern = "/x/{name}"},
		{.method = M_GET, .pattern = "/x/special"},
		{.method = M_POST, .pattern = "/x/special"},
		{.method = M_GET, .pattern = "/y/{name}"},
		{.method = M_POST, .pattern = "/y/runs"},
		{.method = M_GET, .pattern = "/z/{name}"},
		{.method = M_DELETE, .pattern = "/z/{name}"},
	};
	size_t n = sizeof dup / sizeof dup[0];
	struct route_match m;
	assert_int_equal(router_match(dup, n, "/x/special", M_GET, &m), 0);
	assert_ptr_equal(m.route, &dup[1]);
	assert_null(m.param);
	assert_int_equal(m.allowed, M_GET | M_POST);

	assert_int_equal(router_match(dup, n, "/x/special", M_POST, &m), 0);
	assert_ptr_equal(m.route, &dup[2]);
	assert_null(m.param);

	assert_int_equal(router_match(dup, n, "/x/other", M_POST, &m), ERR_METHOD);
	assert_int_equal(m.allowed, M_GET);

	/* the literal path allows only its own methods: GET /y/runs is 405, not /y/{name} */
	assert_int_equal(router_match(dup, n, "/y/runs", M_GET, &m), ERR_METHOD);
	assert_int_equal(m.allowed, M_POST);
	assert_int_equal(router_match(dup, n, "/y/walks", M_GET, &m), 0);
	assert_ptr_equal(m.route, &dup[3]);
	assert_string_equal(m.param, "walks");
	free(m.param);

	/* among templates, the first route of the method wins */
	assert_int_equal(router_match(dup, n, "/z/a", M_DELETE, &m), 0);
	assert_ptr_equal(m.route, &dup[6]);
	assert_int_equal(m.allowed, M_GET | M_DELETE);
	free(m.param);

	/* an empty table knows no path */
	assert_int_equal(router_match(dup, 0, "/x/special", M_GET, &m), ERR_NOTFOUND);
}

static void test_method_names(void **state)
{
	(void)state;
	static const struct {
		enum http_method m;
		const char *name;
	} names[] = {
		{M_GET, "GET"},	      {M_POST, "POST"}, {M_PUT, "PUT"},		{M_PATCH, "PATCH"},
		{M_DELETE, "DELETE"}, {M_HEAD, "HEAD"}, {M_OPTIONS, "OPTIONS"},
	};
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
		assert_string_equal(router_method_name(names[i].m), names[i].name);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_literal_and_params),
		cmocka_unit_test(test_not_found_vs_method),
		cmocka_unit_test(test_trailing_slash_and_traversal),
		cmocka_unit_test(test_id_values),
		cmocka_unit_test(test_literal_path_wins),
		cmocka_unit_test(test_method_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
