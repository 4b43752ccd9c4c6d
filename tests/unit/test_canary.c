/* test_canary.c — the canary regression detector (src/core/canary.h, SPEC §10.4). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "config/config.h"
#include "core/canary.h"
#include "util/json.h"

const char *__ubsan_default_options(void);
const char *__ubsan_default_options(void)
{
	return "halt_on_error=1:print_stacktrace=1";
}

static struct canary_sample smp(const char *version, bool canary, double q, double lat, double cost)
{
	return (struct canary_sample){.version = version,
				      .canary = canary,
				      .has_quality = true,
				      .has_latency = true,
				      .has_cost = true,
				      .quality = q,
				      .latency_ms = lat,
				      .cost = cost};
}

/* cfg defaults: min_samples 30, max_quality_drop 5, max_p95_latency_ms 1600,
 * max_avg_cost 0.03 (docs/config.md) */
static struct config *cfg(void)
{
	struct config *c = config_defaults();
	assert_int_equal(c->canary.min_samples, 30);
	return c;
}

static void test_every_metric_regressed(void **state)
{
	(void)state;
	struct config *c = cfg();
	struct canary_sample s[100];
	size_t n = 0;
	for (int i = 0; i < 40; i++) /* baseline: quality 90, latency 1000, cost 0.01 */
		s[n++] = smp("v1", false, 90, 1000, 0.01);
	for (int i = 0; i < 40; i++) /* canary v2: 2 of 40 slow → p95 is the 38th value */
		s[n++] = smp("v2", true, 80, i < 37 ? 900 : 2000, 0.04);
	struct canary_finding *f = NULL;
	size_t nf = canary_detect(c, s, n, &f);
	assert_int_equal(nf, 1);
	assert_string_equal(f[0].version, "v2");
	assert_int_equal(f[0].canary_samples, 40);
	assert_int_equal(f[0].baseline_samples, 40);
	assert_int_equal(f[0].n, 3);
	assert_int_equal(canary_finding_severity(&f[0]), 1);
	json_t *m = canary_metrics_json(&f[0]);
	char *t = json_canon(m);
	assert_string_equal(t,
			    "[{\"baseline_value\":90.0,\"canary_value\":80.0,\"delta\":-10.0,"
			    "\"name\":\"quality\"},{\"baseline_value\":1000.0,\"canary_value\":"
			    "2000.0,\"delta\":1000.0,\"name\":\"latency_p95\"},{\"baseline_value\":"
			    "0.01,\"canary_value\":0.04,\"delta\":0.03,\"name\":\"cost\"}]");
	free(t);
	json_decref(m);
	free(f);
	config_free(c);
}

/* The p95 is the nearest rank: 1 slow sample in 40 stays under it (rank 38). */
static void test_p95_nearest_rank_and_thresholds(void **state)
{
	(void)state;
	struct config *c = cfg();
	struct canary_sample s[80];
	size_t n = 0;
	for (int i = 0; i < 40; i++)
		s[n++] = smp("v1", false, 90, 1000, 0.01);
	for (int i = 0; i < 40; i++) /* quality drop exactly 5: not more than the limit */
		s[n++] = smp("v2", true, 85, i < 38 ? 1600 : 5000, 0.03);
	struct canary_finding *f = NULL;
	assert_int_equal(canary_detect(c, s, n, &f), 0);
	assert_null(f);
	s[n - 3].latency_ms = 1601; /* now the 38th-ranked value is above 1600 */
	assert_int_equal(canary_detect(c, s, n, &f), 1);
	assert_int_equal(f[0].n, 1);
	assert_int_equal(f[0].m[0].id, CM_LATENCY_P95);
	assert_int_equal(canary_finding_severity(&f[0]), 2);
	free(f);
	config_free(c);
}

/* Too few canary samples: not judged; several versions are judged each on its own;
 * without baseline quality the drop is not checked, absolute limits still are. */
static void test_versions_and_min_samples(void **state)
{
	(void)state;
	struct config *c = cfg();
	struct canary_sample s[100];
	size_t n = 0;
	for (int i = 0; i < 29; i++)
		s[n++] = smp("v3", true, 10, 9000, 9); /* 29 < min_samples 30 */
	for (int i = 0; i < 30; i++)
		s[n++] = smp("v2", true, 10, 100, 0.5);
	struct canary_finding *f = NULL;
	size_t nf = canary_detect(c, s, n, &f);
	assert_int_equal(nf, 1);
	assert_string_equal(f[0].version, "v2");
	assert_int_equal(f[0].baseline_samples, 0);
	assert_int_equal(f[0].n, 1); /* cost only: no baseline to compare quality with */
	assert_int_equal(f[0].m[0].id, CM_COST);
	assert_false(f[0].m[0].has_baseline);
	json_t *m = canary_metrics_json(&f[0]);
	assert_true(json_is_null(json_object_get(json_array_get(m, 0), "baseline_value")));
	assert_true(json_is_null(json_object_get(json_array_get(m, 0), "delta")));
	json_decref(m);
	free(f);
	s[0].version = "v2"; /* one more v2 sample: 31 */
	nf = canary_detect(c, s, n, &f);
	assert_int_equal(nf, 1);
	assert_int_equal(f[0].canary_samples, 31);
	free(f);
	assert_int_equal(canary_detect(c, s, 0, &f), 0);
	config_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_metric_regressed),
		cmocka_unit_test(test_p95_nearest_rank_and_thresholds),
		cmocka_unit_test(test_versions_and_min_samples),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
