/* test_alertmanager.c — Alertmanager's webhook payload as signals (src/core/alertmanager.h,
 * SPEC §4.1 kind alert, §5.3). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/alertmanager.h"
#include "util/buf.h"
#include "util/json.h"
#include "util/utf8.h"

/* In the sanitizer build, undefined behaviour fails the test instead of only being
 * printed (unused otherwise). */
const char *__ubsan_default_options(void);
const char *__ubsan_default_options(void)
{
	return "halt_on_error=1:print_stacktrace=1";
}

static json_t *parse(const char *text)
{
	struct err e;
	err_clear(&e);
	json_t *j = json_parse_strict(text, strlen(text), &e);
	if (!j)
		fail_msg("bad test JSON: %s: %s", e.msg, text);
	return j;
}

static void test_severity(void **state)
{
	(void)state;
	static const struct {
		const char *label;
		int sev;
	} cases[] = {
		{"critical", 1}, {"page", 1}, {"Critical", 1}, {"PAGE", 1},	 {"error", 2},
		{"high", 2},	 {"HIGH", 2}, {"warning", 3},  {"Warning", 3},	 {"info", 4},
		{"none", 4},	 {"INFO", 4}, {NULL, 3},       {"", 3},		 {"major", 3},
		{"low", 3},	 {"sev1", 3}, {"P1", 3},       {" critical", 3}, {"critical!", 3},
		{"warn", 3},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		int got = alertmanager_severity(cases[i].label);
		if (got != cases[i].sev)
			fail_msg("severity label %s: expected sev%d, got sev%d",
				 cases[i].label ? cases[i].label : "(absent)", cases[i].sev, got);
	}
}

static void test_summary(void **state)
{
	(void)state;
	static const struct {
		const char *annotations; /* JSON or NULL */
		const char *alertname, *want;
	} cases[] = {
		{"{\"summary\": \"Disk full\", \"description\": \"d\"}", "A", "Disk full"},
		{"{\"summary\": \"  padded \\n\"}", "A", "padded"},
		{"{\"description\": \"Only a description\"}", "A", "Only a description"},
		{"{\"summary\": \"   \", \"description\": \"blank summary\"}", "A",
		 "blank summary"},
		{"{\"summary\": \"\", \"description\": \" \"}", "HighCPU", "HighCPU"},
		{"{}", "HighCPU", "HighCPU"},
		{NULL, "HighCPU", "HighCPU"},
		{"{\"runbook_url\": \"http://x\"}", " spaced ", "spaced"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		json_t *a = cases[i].annotations ? parse(cases[i].annotations) : NULL;
		char *s = alertmanager_summary(a, cases[i].alertname);
		if (strcmp(s, cases[i].want))
			fail_msg("case %zu: expected \"%s\", got \"%s\"", i, cases[i].want, s);
		free(s);
		json_decref(a);
	}
}

/* A summary longer than 256 characters is cut to 256 characters, never inside one. */
static void test_summary_cut_on_character(void **state)
{
	(void)state;
	struct buf b = BUF_INIT;
	for (int i = 0; i < 300; i++)
		buf_puts(&b, "é"); /* two bytes each */
	json_t *a = json_pack("{ss}", "summary", buf_cstr(&b));
	char *s = alertmanager_summary(a, "A");
	assert_int_equal(utf8_length(s), 256);
	assert_int_equal(strlen(s), 512);
	assert_true(utf8_valid(s, strlen(s)));
	free(s);
	json_decref(a);

	/* 255 ASCII characters and then a 4-byte one: the cut keeps it whole. */
	buf_free(&b);
	for (int i = 0; i < 255; i++)
		buf_putc(&b, 'x');
	buf_puts(&b, "\xF0\x9F\x94\xA5 and more");
	a = json_pack("{ss}", "description", buf_cstr(&b));
	s = alertmanager_summary(a, "A");
	assert_int_equal(utf8_length(s), 256);
	assert_int_equal(strlen(s), 259);
	assert_string_equal(s + 255, "\xF0\x9F\x94\xA5");
	free(s);
	json_decref(a);

	/* Whitespace left at the end by the cut is trimmed too. */
	buf_free(&b);
	for (int i = 0; i < 255; i++)
		buf_putc(&b, 'y');
	buf_puts(&b, " tail");
	a = json_pack("{ss}", "summary", buf_cstr(&b));
	s = alertmanager_summary(a, "A");
	assert_int_equal(strlen(s), 255);
	free(s);
	json_decref(a);
	buf_free(&b);
}

/* What Alertmanager 0.25 sends, abridged from a real notification. */
static const char *const good_payload =
	"{\"receiver\": \"intervene\", \"status\": \"firing\", \"alerts\": ["
	" {\"status\": \"firing\", \"labels\": {\"alertname\": \"HighCPU\", \"instance\": \"a:9100\","
	"  \"severity\": \"critical\"}, \"annotations\": {\"summary\": \"CPU over 90%\","
	"  \"description\": \"long text\"}, \"startsAt\": \"2026-12-07T19:55:54.123456789Z\","
	"  \"endsAt\": \"0001-01-01T00:00:00Z\", \"generatorURL\": \"http://prom:9090/graph?g0.expr=up\","
	"  \"fingerprint\": \"0a1b2c3d4e5f6789\"},"
	" {\"status\": \"resolved\", \"labels\": {\"alertname\": \"DiskFull\", \"severity\": \"info\"},"
	"  \"annotations\": {}, \"startsAt\": \"2026-12-07T19:00:00Z\","
	"  \"endsAt\": \"2026-12-07T19:50:00+01:00\", \"generatorURL\": \"\","
	"  \"fingerprint\": \"ffff000011112222\"}],"
	" \"groupLabels\": {\"alertname\": \"HighCPU\"}, \"commonLabels\": {},"
	" \"commonAnnotations\": {}, \"externalURL\": \"http://am:9093\", \"version\": \"4\","
	" \"groupKey\": \"{}:{alertname=\\\"HighCPU\\\"}\", \"truncatedAlerts\": 0}";

static void test_parse_payload(void **state)
{
	(void)state;
	json_t *p = parse(good_payload);
	struct signal *s = NULL;
	size_t n = 0;
	struct err e;
	err_clear(&e);
	assert_int_equal(alertmanager_parse(p, &s, &n, &e), 0);
	assert_int_equal(n, 2);

	assert_string_equal(s[0].kind, "alert");
	assert_string_equal(s[0].key, "alert:HighCPU:0a1b2c3d4e5f6789");
	assert_int_equal(s[0].severity, 1);
	assert_string_equal(s[0].summary, "CPU over 90%");
	assert_false(s[0].resolve);
	assert_string_equal(s[0].source, "alertmanager");
	assert_true(json_is_array(s[0].playbooks) && json_array_size(s[0].playbooks) == 0);
	const json_t *d = s[0].details;
	assert_string_equal(json_get_str(d, "alertname"), "HighCPU");
	assert_string_equal(json_get_str(d, "fingerprint"), "0a1b2c3d4e5f6789");
	assert_string_equal(json_get_str(d, "status"), "firing");
	assert_string_equal(json_get_str(json_object_get(d, "labels"), "instance"), "a:9100");
	assert_string_equal(json_get_str(json_object_get(d, "annotations"), "description"),
			    "long text");
	assert_string_equal(json_get_str(d, "startsAt"), "2026-12-07T19:55:54.123456789Z");
	assert_string_equal(json_get_str(d, "generatorURL"), "http://prom:9090/graph?g0.expr=up");
	assert_string_equal(json_get_str(d, "groupKey"), "{}:{alertname=\"HighCPU\"}");
	assert_string_equal(json_get_str(d, "externalURL"), "http://am:9093");
	assert_string_equal(json_get_str(d, "receiver"), "intervene");

	assert_string_equal(s[1].key, "alert:DiskFull:ffff000011112222");
	assert_int_equal(s[1].severity, 4);
	assert_string_equal(s[1].summary, "DiskFull");
	assert_true(s[1].resolve);
	assert_string_equal(json_get_str(s[1].details, "status"), "resolved");

	for (size_t i = 0; i < n; i++)
		signal_clear(&s[i]);
	free(s);
	json_decref(p);
}

/* The smallest payload: version and alerts with status, labels.alertname and
 * fingerprint; null maps (Go's nil maps) are accepted; fields a newer Alertmanager
 * may add are ignored, at the top and in an alert. */
static void test_minimal_and_tolerant(void **state)
{
	(void)state;
	static const char *const ok[] = {
		"{\"version\": \"4\", \"alerts\": [{\"status\": \"firing\", \"labels\": "
		"{\"alertname\": \"A\"}, \"fingerprint\": \"1\"}]}",
		"{\"version\": \"4\", \"groupLabels\": null, \"commonLabels\": null, "
		"\"commonAnnotations\": null, \"alerts\": [{\"status\": \"firing\", \"labels\": "
		"{\"alertname\": \"A\"}, \"annotations\": null, \"startsAt\": null, "
		"\"fingerprint\": \"1\"}]}",
		"{\"version\": \"4\", \"newField\": {\"x\": [1]}, \"alerts\": [{\"status\": "
		"\"resolved\", \"labels\": {\"alertname\": \"A\"}, \"fingerprint\": \"1\", "
		"\"silencedBy\": [\"abc\"]}]}",
	};
	for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
		json_t *p = parse(ok[i]);
		struct signal *s = NULL;
		size_t n = 0;
		struct err e;
		err_clear(&e);
		if (alertmanager_parse(p, &s, &n, &e))
			fail_msg("case %zu refused: %s (%s)", i, e.msg, e.field);
		assert_int_equal(n, 1);
		assert_string_equal(s[0].key, "alert:A:1");
		assert_int_equal(s[0].severity, 3);
		assert_null(json_object_get(s[0].details, "newField"));
		assert_null(json_object_get(s[0].details, "silencedBy"));
		signal_clear(&s[0]);
		free(s);
		json_decref(p);
	}
}

#define ALERT_OK                                                                                   \
	"{\"status\": \"firing\", \"labels\": {\"alertname\": \"A\"}, \"fingerprint\": \"ab\"}"

static void test_bad_payloads(void **state)
{
	(void)state;
	static const struct {
		const char *json;
		const char *field;
		long index;
		const char *msg_has;
	} cases[] = {
		{"[]", "body", -1, "object"},
		{"{\"alerts\": [" ALERT_OK "]}", "version", -1, "required"},
		{"{\"version\": \"3\", \"alerts\": [" ALERT_OK "]}", "version", -1, "4"},
		{"{\"version\": 4, \"alerts\": [" ALERT_OK "]}", "version", -1, "string"},
		{"{\"version\": \"4\"}", "alerts", -1, "required"},
		{"{\"version\": \"4\", \"alerts\": []}", "alerts", -1, "non-empty"},
		{"{\"version\": \"4\", \"alerts\": {}}", "alerts", -1, "array"},
		{"{\"version\": \"4\", \"alerts\": null}", "alerts", -1, "null"},
		{"{\"version\": \"4\", \"status\": \"pending\", \"alerts\": [" ALERT_OK "]}",
		 "status", -1, "firing"},
		{"{\"version\": \"4\", \"truncatedAlerts\": -1, \"alerts\": [" ALERT_OK "]}",
		 "truncatedAlerts", -1, "between"},
		{"{\"version\": \"4\", \"groupKey\": 7, \"alerts\": [" ALERT_OK "]}", "groupKey",
		 -1, "string"},
		{"{\"version\": \"4\", \"commonLabels\": {\"a\": 1}, \"alerts\": [" ALERT_OK "]}",
		 "commonLabels", -1, "commonLabels.a"},
		{"{\"version\": \"4\", \"alerts\": [" ALERT_OK ", 5]}", "alerts", 1, "alerts[1]"},
		{"{\"version\": \"4\", \"alerts\": [" ALERT_OK
		 ", {\"status\": \"firing\", \"labels\": "
		 "{\"job\": \"x\"}, \"fingerprint\": \"ab\"}]}",
		 "alerts.labels.alertname", 1, "alerts[1].labels.alertname is required"},
		{"{\"version\": \"4\", \"alerts\": [{\"status\": \"firing\", \"labels\": "
		 "{\"alertname\": \"\"}, \"fingerprint\": \"ab\"}]}",
		 "alerts.labels.alertname", 0, "1 to 256"},
		{"{\"version\": \"4\", \"alerts\": [{\"status\": \"firing\", \"labels\": "
		 "{\"alertname\": \" \\t\"}, \"fingerprint\": \"ab\"}]}",
		 "alerts.labels.alertname", 0, "not only spaces"},
		{"{\"version\": \"4\", \"alerts\": [" ALERT_OK ", " ALERT_OK ", {\"status\": "
		 "\"firing\", \"labels\": {\"alertname\": \"A\"}}]}",
		 "alerts.fingerprint", 2, "alerts[2].fingerprint is required"},
		{"{\"version\": \"4\", \"alerts\": [{\"status\": \"firing\", \"labels\": "
		 "{\"alertname\": \"A\"}, \"fingerprint\": \"\"}]}",
		 "alerts.fingerprint", 0, "hex"},
		{"{\"version\": \"4\", \"alerts\": [{\"status\": \"firing\", \"labels\": "
		 "{\"alertname\": \"A\"}, \"fingerprint\": \"ABCD\"}]}",
		 "alerts.fingerprint", 0, "hex"},
		{"{\"version\": \"4\", \"alerts\": [{\"status\": \"firing\", \"labels\": "
		 "{\"alertname\": \"A\"}, \"fingerprint\": \"a/b\"}]}",
		 "alerts.fingerprint", 0, "hex"},
		{"{\"version\": \"4\", \"alerts\": [{\"status\": \"firing\", \"labels\": "
		 "{\"alertname\": \"A\"}, \"fingerprint\": 12}]}",
		 "alerts.fingerprint", 0, "string"},
		{"{\"version\": \"4\", \"alerts\": [{\"labels\": {\"alertname\": \"A\"}, "
		 "\"fingerprint\": \"ab\"}]}",
		 "alerts.status", 0, "alerts[0].status is required"},
		{"{\"version\": \"4\", \"alerts\": [{\"status\": \"ok\", \"labels\": {\"alertname\": "
		 "\"A\"}, \"fingerprint\": \"ab\"}]}",
		 "alerts.status", 0, "firing, resolved"},
		{"{\"version\": \"4\", \"alerts\": [{\"status\": \"firing\", \"fingerprint\": \"ab\"}]}",
		 "alerts.labels", 0, "required"},
		{"{\"version\": \"4\", \"alerts\": [{\"status\": \"firing\", \"labels\": [], "
		 "\"fingerprint\": \"ab\"}]}",
		 "alerts.labels", 0, "object"},
		{"{\"version\": \"4\", \"alerts\": [{\"status\": \"firing\", \"labels\": "
		 "{\"alertname\": \"A\", \"n\": 1}, \"fingerprint\": \"ab\"}]}",
		 "alerts.labels", 0, "alerts[0].labels.n must be a string"},
		{"{\"version\": \"4\", \"alerts\": [{\"status\": \"firing\", \"labels\": "
		 "{\"alertname\": 5}, \"fingerprint\": \"ab\"}]}",
		 "alerts.labels", 0, "alertname must be a string"},
		{"{\"version\": \"4\", \"alerts\": [{\"status\": \"firing\", \"labels\": "
		 "{\"alertname\": \"A\"}, \"annotations\": {\"summary\": {}}, \"fingerprint\": "
		 "\"ab\"}]}",
		 "alerts.annotations", 0, "summary must be a string"},
		{"{\"version\": \"4\", \"alerts\": [{\"status\": \"firing\", \"labels\": "
		 "{\"alertname\": \"A\"}, \"startsAt\": \"yesterday\", \"fingerprint\": \"ab\"}]}",
		 "alerts.startsAt", 0, "RFC 3339"},
		{"{\"version\": \"4\", \"alerts\": [{\"status\": \"firing\", \"labels\": "
		 "{\"alertname\": \"A\"}, \"endsAt\": \"2026-02-30T00:00:00Z\", \"fingerprint\": "
		 "\"ab\"}]}",
		 "alerts.endsAt", 0, "RFC 3339"},
		{"{\"version\": \"4\", \"alerts\": [{\"status\": \"firing\", \"labels\": "
		 "{\"alertname\": \"A\"}, \"generatorURL\": false, \"fingerprint\": \"ab\"}]}",
		 "alerts.generatorURL", 0, "string"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		json_t *p = parse(cases[i].json);
		struct signal *s = (struct signal *)1;
		size_t n = 7;
		struct err e;
		err_clear(&e);
		int rc = alertmanager_parse(p, &s, &n, &e);
		if (rc != ERR_INVALID)
			fail_msg("case %zu: expected ERR_INVALID, got %d", i, rc);
		assert_null(s);
		assert_int_equal(n, 0);
		if (strcmp(e.field, cases[i].field) || e.index != cases[i].index ||
		    !strstr(e.msg, cases[i].msg_has))
			fail_msg("case %zu: expected field %s index %ld message with \"%s\", got "
				 "field %s index %ld: %s",
				 i, cases[i].field, cases[i].index, cases[i].msg_has, e.field,
				 e.index, e.msg);
		json_decref(p);
	}
}

/* An alert whose labels and annotations would make details larger than an incident
 * may hold is refused by index. */
static void test_details_bound(void **state)
{
	(void)state;
	struct buf big = BUF_INIT;
	for (int i = 0; i < 300000; i++)
		buf_putc(&big, 'x');
	json_t *p = json_pack("{ss s[{ss s{ss} s{ss} ss}]}", "version", "4", "alerts", "status",
			      "firing", "labels", "alertname", "A", "annotations", "description",
			      buf_cstr(&big), "fingerprint", "ab");
	struct signal *s = NULL;
	size_t n = 0;
	struct err e;
	err_clear(&e);
	assert_int_equal(alertmanager_parse(p, &s, &n, &e), ERR_INVALID);
	assert_string_equal(e.field, "alerts");
	assert_int_equal(e.index, 0);
	json_decref(p);
	buf_free(&big);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_severity),
		cmocka_unit_test(test_summary),
		cmocka_unit_test(test_summary_cut_on_character),
		cmocka_unit_test(test_parse_payload),
		cmocka_unit_test(test_minimal_and_tolerant),
		cmocka_unit_test(test_bad_payloads),
		cmocka_unit_test(test_details_bound),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
