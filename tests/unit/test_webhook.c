/* test_webhook.c — webhook notifications (src/tracker/webhook.h): which events each
 * webhook wants, the request of each format field by field, the Slack template and its
 * override, and real POSTs to the stand-in receivers of
 * tests/integration/fakes/webhooks.py, started as subprocesses in script mode. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <sodium.h>

#include "core/outbox.h"
#include "tracker/webhook.h"
#include "util/json.h"
#include "util/utf8.h"

const char *__ubsan_default_options(void);
const char *__ubsan_default_options(void)
{
	return "halt_on_error=1:print_stacktrace=1";
}

/* ---- fixtures ---- */

#define ROUTING_KEY "0123456789abcdef0123456789abcdef"
#define PUBLIC_URL  "https://intervene.example.com"
#define CREATED_AT  "2026-01-02T03:04:05.678Z"

static struct config *load_cfg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static struct config *load_cfg(const char *fmt, ...)
{
	struct buf y = BUF_INIT;
	va_list ap;
	va_start(ap, fmt);
	buf_vprintf(&y, fmt, ap);
	va_end(ap);
	struct config *cfg = NULL;
	struct err e;
	err_clear(&e);
	int rc = config_load_string(y.data, y.len, "test.yaml", "/tmp", &cfg, &e);
	if (rc)
		fail_msg("config: %s\n%s", e.msg, y.data);
	buf_free(&y);
	return cfg;
}

/* Three webhooks, one per format, all listening to the incident events. */
static struct config *three_hooks(const char *templates_dir, const char *url)
{
	return load_cfg("server: {public_url: \"" PUBLIC_URL "/\"}\n"
			"tracker: {templates_dir: \"%s\"}\n"
			"notify:\n"
			"  webhooks:\n"
			"    - {name: hook, url: \"%s\", secret: s3cret,\n"
			"       events: [incident_created, incident_updated, sla_breached, "
			"token_created]}\n"
			"    - {name: chat, url: \"%s\", format: slack, secret: unused,\n"
			"       events: [incident_created, incident_updated, sla_breached, "
			"token_created]}\n"
			"    - {name: pd, format: pagerduty, routing_key: " ROUTING_KEY ",\n"
			"       events: [incident_created, incident_updated]}\n",
			templates_dir ? templates_dir : "", url, url);
}

static json_t *incident(void)
{
	return jpack("{sI ss ss ss ss ss s{ss sI sI} ss s[] sn sI ss sn}", "id", (json_int_t)7,
		     "kind", "budget", "key", "budget:search-agent:latency_p95", "severity", "sev2",
		     "status", "open", "summary",
		     "search-agent p95 latency 2140 ms over budget 1600 ms", "details", "agent",
		     "search-agent", "threshold", (json_int_t)1600, "actual", (json_int_t)2140,
		     "source", "api", "playbooks", "assigned_to", "occurrences", (json_int_t)1,
		     "created_at", CREATED_AT, "issue_url");
}

/* {"event": {...type, data}, "incident": inc} — steals data and inc (inc may be NULL). */
static json_t *payload_of(const char *type, const char *actor, json_t *data, json_t *inc)
{
	json_t *ev = jpack("{sI ss sI ss so ss ss ss}", "id", (json_int_t)40, "type", type,
			   "incident_id", (json_int_t)7, "actor", actor, "data", data, "created_at",
			   CREATED_AT, "prev_hash", "00", "hash", "11");
	json_t *p = jpack("{so}", "event", ev);
	if (inc)
		json_object_set_new(p, "incident", inc);
	return p;
}

static json_t *created_payload(void)
{
	return payload_of("incident_created", "api", incident(), incident());
}

/* incident_updated with change_type; extra (stolen, may be NULL) joins the data. */
static json_t *updated_payload(const char *change_type, const char *status, json_t *extra)
{
	json_t *inc = incident();
	json_object_set_new(inc, "status", jstr(status));
	json_t *data = extra ? extra : json_object();
	json_object_set_new(data, "incident", json_deep_copy(inc));
	json_object_set_new(data, "change_type", jstr(change_type));
	return payload_of("incident_updated", "alice", data, inc);
}

static const struct config_webhook *hook(const struct config *cfg, const char *name)
{
	for (size_t i = 0; i < cfg->notify.n_webhooks; i++)
		if (!strcmp(cfg->notify.webhooks[i].name, name))
			return &cfg->notify.webhooks[i];
	fail_msg("no webhook %s", name);
	return NULL;
}

static const char *header(const struct webhook_request *rq, const char *name)
{
	for (size_t i = 0; i < rq->n_headers; i++)
		if (!strcasecmp(rq->headers[i].name, name))
			return rq->headers[i].value;
	return NULL;
}

static json_t *body_json(const struct webhook_request *rq)
{
	json_error_t je;
	json_t *j = json_loadb(rq->body.data, rq->body.len, JSON_REJECT_DUPLICATES, &je);
	if (!j)
		fail_msg("body is not JSON: %s: %s", je.text, buf_cstr(&rq->body));
	return j;
}

/* Build for webhook name of cfg, expecting success. */
static void build_ok(const struct config *cfg, const char *name, int64_t id, const json_t *payload,
		     struct webhook_request *rq)
{
	struct err e;
	err_clear(&e);
	int rc = webhook_build(cfg, hook(cfg, name), id, payload, rq, &e);
	if (rc)
		fail_msg("webhook_build(%s): %d %s", name, rc, e.msg);
}

static const char *slack_text_of(const struct webhook_request *rq, json_t **keep)
{
	*keep = body_json(rq);
	assert_int_equal(json_object_size(*keep), 1);
	const char *t = json_get_str(*keep, "text");
	assert_non_null(t);
	return t;
}

/* ---- wants ---- */

static void test_wants_table(void **state)
{
	(void)state;
	static char *events_all[] = {"incident_created", "incident_updated", "token_created", NULL};
	static char *events_created[] = {"incident_created", NULL};
	struct {
		enum config_webhook_format format;
		char **events;
		int min_severity;
		const char *type, *change_type;
		int severity;
		bool want;
	} cases[] = {
		/* the type must be listed */
		{CONFIG_WEBHOOK_JSON, events_all, 4, "incident_created", NULL, 3, true},
		{CONFIG_WEBHOOK_JSON, events_created, 4, "incident_updated", "acknowledged", 3,
		 false},
		{CONFIG_WEBHOOK_JSON, events_all, 4, "sla_breached", NULL, 1, false},
		{CONFIG_WEBHOOK_JSON, NULL, 4, "incident_created", NULL, 1, false},
		{CONFIG_WEBHOOK_JSON, events_all, 4, NULL, NULL, 1, false},
		/* min_severity: at or above it; an event without an incident passes */
		{CONFIG_WEBHOOK_JSON, events_all, 2, "incident_created", NULL, 1, true},
		{CONFIG_WEBHOOK_JSON, events_all, 2, "incident_created", NULL, 2, true},
		{CONFIG_WEBHOOK_JSON, events_all, 2, "incident_created", NULL, 3, false},
		{CONFIG_WEBHOOK_JSON, events_all, 1, "incident_created", NULL, 2, false},
		{CONFIG_WEBHOOK_JSON, events_all, 1, "token_created", NULL, 0, true},
		/* json and slack: any change_type of a listed type */
		{CONFIG_WEBHOOK_JSON, events_all, 4, "incident_updated", "commented", 4, true},
		{CONFIG_WEBHOOK_SLACK, events_all, 4, "incident_updated", "deduplicated", 4, true},
		{CONFIG_WEBHOOK_SLACK, events_all, 3, "incident_updated", "deduplicated", 4, false},
		{CONFIG_WEBHOOK_SLACK, events_all, 4, "token_created", NULL, 0, true},
		/* pagerduty: trigger, acknowledge, resolve only */
		{CONFIG_WEBHOOK_PAGERDUTY, events_all, 4, "incident_created", NULL, 2, true},
		{CONFIG_WEBHOOK_PAGERDUTY, events_all, 4, "incident_updated", "acknowledged", 2,
		 true},
		{CONFIG_WEBHOOK_PAGERDUTY, events_all, 4, "incident_updated", "resolved", 2, true},
		{CONFIG_WEBHOOK_PAGERDUTY, events_all, 4, "incident_updated", "closed", 2, true},
		{CONFIG_WEBHOOK_PAGERDUTY, events_all, 4, "incident_updated", "mitigated", 2,
		 false},
		{CONFIG_WEBHOOK_PAGERDUTY, events_all, 4, "incident_updated", "reopened", 2, false},
		{CONFIG_WEBHOOK_PAGERDUTY, events_all, 4, "incident_updated", "deduplicated", 2,
		 false},
		{CONFIG_WEBHOOK_PAGERDUTY, events_all, 4, "incident_updated", NULL, 2, false},
		{CONFIG_WEBHOOK_PAGERDUTY, events_all, 4, "token_created", NULL, 0, false},
		{CONFIG_WEBHOOK_PAGERDUTY, events_created, 4, "incident_updated", "resolved", 2,
		 false},
		{CONFIG_WEBHOOK_PAGERDUTY, events_all, 1, "incident_created", NULL, 2, false},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		size_t n = 0;
		while (cases[i].events && cases[i].events[n])
			n++;
		struct config_webhook w = {.name = "w",
					   .url = "http://127.0.0.1:1/",
					   .secret = "",
					   .events = cases[i].events,
					   .n_events = n,
					   .min_severity = cases[i].min_severity,
					   .format = cases[i].format,
					   .routing_key = ROUTING_KEY};
		bool got = outbox_webhook_wants(&w, cases[i].type, cases[i].change_type,
						cases[i].severity);
		if (got != cases[i].want)
			fail_msg("case %zu: %s/%s sev%d: got %d", i,
				 cases[i].type ? cases[i].type : "(null)",
				 cases[i].change_type ? cases[i].change_type : "-",
				 cases[i].severity, got);
	}
}

/* ---- json ---- */

/* The event as the body, its exact headers, and a signature any HMAC-SHA256 makes:
 * recomputed here with libsodium and pinned to Python's hmac for this body. */
static void test_json_signed(void **state)
{
	(void)state;
	struct config *cfg = three_hooks(NULL, "https://hooks.example.com/in?x=1");
	json_t *p = payload_of("token_created", "admin",
			       jpack("{ss ss}", "name", "ci", "role", "viewer"), NULL);
	json_t *ev = json_object_get(p, "event");
	json_object_del(ev, "prev_hash");
	json_object_del(ev, "hash");
	json_object_set_new(ev, "id", json_integer(41));
	json_object_set_new(ev, "incident_id", json_null());
	struct webhook_request rq;
	build_ok(cfg, "hook", 9001, p, &rq);

	assert_string_equal(rq.url, "https://hooks.example.com/in?x=1");
	const char *want_body = "{\"actor\":\"admin\",\"created_at\":\"" CREATED_AT "\",\"data\":"
				"{\"name\":\"ci\",\"role\":\"viewer\"},\"id\":41,\"incident_id\":"
				"null,\"type\":\"token_created\"}";
	assert_string_equal(buf_cstr(&rq.body), want_body);
	assert_int_equal(rq.body.len, strlen(want_body));
	assert_int_equal(rq.n_headers, 4);
	assert_string_equal(rq.headers[0].name, "Content-Type");
	assert_string_equal(rq.headers[0].value, "application/json");
	assert_string_equal(header(&rq, "X-Intervene-Event"), "token_created");
	assert_string_equal(header(&rq, "X-Intervene-Delivery"), "9001");

	crypto_auth_hmacsha256_state st;
	unsigned char mac[crypto_auth_hmacsha256_BYTES];
	char hex[2 * sizeof mac + 1];
	crypto_auth_hmacsha256_init(&st, (const unsigned char *)"s3cret", 6);
	crypto_auth_hmacsha256_update(&st, (const unsigned char *)rq.body.data, rq.body.len);
	crypto_auth_hmacsha256_final(&st, mac);
	sodium_bin2hex(hex, sizeof hex, mac, sizeof mac);
	char want[80];
	snprintf(want, sizeof want, "sha256=%s", hex);
	assert_string_equal(header(&rq, "X-Intervene-Signature"), want);
	assert_string_equal(
		header(&rq, "X-Intervene-Signature"),
		"sha256=9ffaf15c78ab03dbf74c59f246c330691945f5e5ba3e1328bc954b114dc3241f");
	webhook_request_clear(&rq);
	assert_null(rq.url);
	webhook_request_clear(&rq); /* twice is fine */

	/* A secret longer than a SHA-256 block is hashed first, as HMAC says. */
	free(cfg->notify.webhooks[0].secret);
	cfg->notify.webhooks[0].secret = xstrdup(
		"kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk"
		"kkkkkkkkkkkkkkkkkk");
	build_ok(cfg, "hook", 9001, p, &rq);
	assert_string_equal(
		header(&rq, "X-Intervene-Signature"),
		"sha256=c692343999356c61f1559a166911c4fdafe6003b6de81468dbebc9c614030935");
	webhook_request_clear(&rq);

	/* Without a secret: unsigned, the other headers unchanged. */
	free(cfg->notify.webhooks[0].secret);
	cfg->notify.webhooks[0].secret = xstrdup("");
	build_ok(cfg, "hook", 12, p, &rq);
	assert_int_equal(rq.n_headers, 3);
	assert_null(header(&rq, "X-Intervene-Signature"));
	assert_string_equal(header(&rq, "X-Intervene-Delivery"), "12");
	webhook_request_clear(&rq);
	json_decref(p);
	config_free(cfg);
}

static void test_build_refuses(void **state)
{
	(void)state;
	struct config *cfg = three_hooks(NULL, "http://127.0.0.1:1/h");
	struct webhook_request rq;
	struct err e;
	err_clear(&e);
	/* no event, no type, a type that could not be a header */
	json_t *bad[] = {
		json_object(),
		jpack("{s{}}", "event"),
		jpack("{s{ss}}", "event", "type", "incident_created\r\nX-Evil: 1"),
		jpack("{s{si}}", "event", "type", 3),
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		for (size_t w = 0; w < cfg->notify.n_webhooks; w++) {
			assert_int_equal(
				webhook_build(cfg, &cfg->notify.webhooks[w], 1, bad[i], &rq, &e),
				ERR_INVALID);
			assert_null(rq.url);
			assert_int_equal(rq.n_headers, 0);
		}
		json_decref(bad[i]);
	}
	/* a webhook without url (only pagerduty has a default) */
	json_t *p = created_payload();
	struct config_webhook w = *hook(cfg, "hook");
	w.url = "";
	assert_int_equal(webhook_build(cfg, &w, 1, p, &rq, &e), ERR_INVALID);
	assert_non_null(strstr(e.msg, "no url"));
	json_decref(p);
	config_free(cfg);
}

/* ---- slack ---- */

static void test_slack_created(void **state)
{
	(void)state;
	struct config *cfg = three_hooks(NULL, "https://hooks.slack.example/services/T/B/X");
	json_t *p = created_payload();
	struct webhook_request rq;
	build_ok(cfg, "chat", 5, p, &rq);
	assert_string_equal(rq.url, "https://hooks.slack.example/services/T/B/X");
	/* unsigned even with a secret; still names the event and the delivery */
	assert_int_equal(rq.n_headers, 3);
	assert_string_equal(header(&rq, "Content-Type"), "application/json");
	assert_string_equal(header(&rq, "X-Intervene-Event"), "incident_created");
	assert_string_equal(header(&rq, "X-Intervene-Delivery"), "5");
	assert_null(header(&rq, "X-Intervene-Signature"));
	json_t *j;
	const char *t = slack_text_of(&rq, &j);
	assert_string_equal(t, ":rotating_light: *[sev2] New incident #7:* search-agent p95 "
			       "latency 2140 ms over budget 1600 ms\n"
			       "Status: *open* · Key: `budget:search-agent:latency_p95` · "
			       "<" PUBLIC_URL "/incidents/7|Open incident #7>");
	json_decref(j);
	webhook_request_clear(&rq);
	json_decref(p);
	config_free(cfg);
}

/* Incident text cannot make links or mentions: & < > become entities (only they),
 * an '@' starting a word and "](" get U+200B; the template's own link stays. */
static void test_slack_escaping(void **state)
{
	(void)state;
	struct config *cfg = three_hooks(NULL, "https://hooks.slack.example/services/T/B/X");
	json_t *inc = incident();
	json_object_set_new(inc, "summary",
			    jstr("a <b> & \"c\" <!here> <@U123|x> @here cc @channel "
				 "ops@example.com [click](https://evil.example) <https://evil|y>"));
	json_object_set_new(inc, "key", jstr("manual:<!channel>"));
	json_t *p = payload_of("incident_created", "api", json_deep_copy(inc), inc);
	struct webhook_request rq;
	build_ok(cfg, "chat", 5, p, &rq);
	json_t *j;
	const char *t = slack_text_of(&rq, &j);
	const char *want_summary =
		"a &lt;b&gt; &amp; \"c\" &lt;!here&gt; &lt;@\xe2\x80\x8bU123|x&gt; "
		"@\xe2\x80\x8bhere cc @\xe2\x80\x8b"
		"channel ops@example.com [click]\xe2\x80\x8b(https://evil.example) "
		"&lt;https://evil|y&gt;";
	assert_non_null(strstr(t, want_summary));
	assert_non_null(strstr(t, "Key: `manual:&lt;!channel&gt;`"));
	/* no '<' but the template's link, no '>' but its end */
	const char *lt = strchr(t, '<');
	assert_non_null(lt);
	assert_ptr_equal(strrchr(t, '<'), lt);
	const char *link = "<" PUBLIC_URL "/incidents/7|";
	assert_int_equal(strncmp(lt, link, strlen(link)), 0);
	assert_ptr_equal(strchr(t, '>'), t + strlen(t) - 1);
	assert_null(strstr(t, "&quot;"));
	assert_null(strstr(t, "&#39;"));
	json_decref(j);
	webhook_request_clear(&rq);
	json_decref(p);
	config_free(cfg);
}

/* What changed, for each kind of incident_updated. */
static void test_slack_updated(void **state)
{
	(void)state;
	struct config *cfg = three_hooks(NULL, "https://hooks.slack.example/services/T/B/X");
	struct {
		const char *change_type, *status;
		json_t *extra;
		const char *want;
	} cases[] = {
		{"acknowledged", "acknowledged", jpack("{ss}", "notes", "looking\nat <it>"),
		 ":eyes: Acknowledged by alice\n> looking at &lt;it&gt;\n"},
		{"resolved", "resolved", NULL, ":white_check_mark: Resolved by alice\n"},
		{"closed", "closed", NULL, ":lock: Closed by alice\n"},
		{"mitigated", "mitigated", NULL, ":adhesive_bandage: Mitigated by alice\n"},
		{"reopened", "open", NULL, ":repeat: Reopened by alice\n"},
		{"severity_changed", "open",
		 jpack("{ss ss s[s]}", "previous_severity", "sev3", "reason", "customers hit",
		       "changed_fields", "severity"),
		 ":arrow_up_down: Severity changed from sev3 to sev2 by alice\n"
		 "> Reason: customers hit\n"},
		{"updated", "open", jpack("{s[ss]}", "changed_fields", "summary", "metadata"),
		 ":pencil2: Updated by alice: summary, metadata\n"},
		{"deduplicated", "open", jpack("{s{ss}}", "signal", "summary", "again @here"),
		 ":repeat_one: Seen again (1 occurrences): again @\xe2\x80\x8bhere\n"},
		{"commented", "open",
		 jpack("{s{ss ss}}", "comment", "body", "see <https://x>", "author", "alice"),
		 ":speech_balloon: Comment by alice: see &lt;https://x&gt;\n"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		json_t *p = updated_payload(cases[i].change_type, cases[i].status, cases[i].extra);
		struct webhook_request rq;
		build_ok(cfg, "chat", 5, p, &rq);
		json_t *j;
		const char *t = slack_text_of(&rq, &j);
		struct buf want = BUF_INIT;
		buf_printf(&want,
			   "*[sev2] Incident #7:* search-agent p95 latency 2140 ms over budget "
			   "1600 ms\n%sStatus: *%s* · Key: `budget:search-agent:latency_p95` · "
			   "<" PUBLIC_URL "/incidents/7|Open incident #7>",
			   cases[i].want, cases[i].status);
		if (strcmp(t, want.data))
			fail_msg("%s:\n got: %s\nwant: %s", cases[i].change_type, t, want.data);
		buf_free(&want);
		json_decref(j);
		webhook_request_clear(&rq);
		json_decref(p);
	}
	config_free(cfg);
}

/* Events that are not about an incident, and sla_breached. */
static void test_slack_other_events(void **state)
{
	(void)state;
	struct config *cfg = three_hooks(NULL, "https://hooks.slack.example/services/T/B/X");
	json_t *p = payload_of("token_created", "admin",
			       jpack("{ss ss}", "name", "<ci>", "role", "viewer"), NULL);
	struct webhook_request rq;
	build_ok(cfg, "chat", 5, p, &rq);
	json_t *j;
	const char *t = slack_text_of(&rq, &j);
	assert_string_equal(t, ":information_source: *token_created*\n"
			       "`{\"name\":\"&lt;ci&gt;\",\"role\":\"viewer\"}`");
	json_decref(j);
	webhook_request_clear(&rq);
	json_decref(p);

	p = payload_of("sla_breached", "watcher",
		       jpack("{sI ss ss}", "incident_id", (json_int_t)7, "stage", "ack", "due_at",
			     "2026-01-02T03:19:05.678Z"),
		       incident());
	build_ok(cfg, "chat", 6, p, &rq);
	t = slack_text_of(&rq, &j);
	assert_string_equal(t, ":alarm_clock: *[sev2] SLA breached on incident #7:* search-agent "
			       "p95 latency 2140 ms over budget 1600 ms\n"
			       "The ack target was due 2026-01-02T03:19:05.678Z\n"
			       "Status: *open* · Key: `budget:search-agent:latency_p95` · "
			       "<" PUBLIC_URL "/incidents/7|Open incident #7>");
	json_decref(j);
	webhook_request_clear(&rq);
	json_decref(p);
	config_free(cfg);
}

static char *make_dir(void)
{
	char tmpl[] = "/tmp/test_webhook.XXXXXX";
	char *d = mkdtemp(tmpl);
	assert_non_null(d);
	return xstrdup(d);
}

static void write_file(const char *dir, const char *name, const char *text)
{
	char path[512];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void remove_dir(const char *dir, const char *name)
{
	char path[512];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	unlink(path);
	rmdir(dir);
}

/* slack_message.md in tracker.templates_dir replaces the built-in; a broken one is an
 * error naming the file and the line, from build and from webhook_template_check. */
static void test_slack_override(void **state)
{
	(void)state;
	char *dir = make_dir();
	struct err e;
	err_clear(&e);
	assert_int_equal(webhook_template_check(dir, &e), 0); /* the built-in */
	assert_int_equal(webhook_template_check(NULL, &e), 0);
	write_file(dir, "slack_message.md",
		   "{{#on.incident_created}}NEW {{severity}} {{summary}} {{{key}}} "
		   "<{{incident_url}}>{{/on.incident_created}}\n\n");
	assert_int_equal(webhook_template_check(dir, &e), 0);
	struct config *cfg = three_hooks(dir, "https://hooks.slack.example/services/T/B/X");
	json_t *inc = incident();
	json_object_set_new(inc, "key", jstr("manual:<x>"));
	json_t *p = payload_of("incident_created", "api", json_deep_copy(inc), inc);
	struct webhook_request rq;
	build_ok(cfg, "chat", 5, p, &rq);
	json_t *j;
	const char *t = slack_text_of(&rq, &j);
	/* escaped even through {{{ }}}, trailing blank lines dropped */
	assert_string_equal(t, "NEW sev2 search-agent p95 latency 2140 ms over budget 1600 ms "
			       "manual:&lt;x&gt; <" PUBLIC_URL "/incidents/7>");
	json_decref(j);
	webhook_request_clear(&rq);

	/* a template that renders nothing for this event: Slack would refuse it */
	json_t *other = payload_of("token_created", "admin", json_object(), NULL);
	assert_int_equal(webhook_build(cfg, hook(cfg, "chat"), 5, other, &rq, &e), ERR_INVALID);
	assert_non_null(strstr(e.msg, "slack_message.md rendered no text"));
	json_decref(other);

	write_file(dir, "slack_message.md", "ok\n{{#on.incident_created}}\nunclosed\n");
	err_clear(&e);
	assert_int_equal(webhook_template_check(dir, &e), ERR_INVALID);
	assert_non_null(strstr(e.msg, "slack_message.md: line 2"));
	err_clear(&e);
	assert_int_equal(webhook_build(cfg, hook(cfg, "chat"), 5, p, &rq, &e), ERR_INVALID);
	assert_non_null(strstr(e.msg, "slack_message.md: line 2"));
	assert_null(rq.url);
	/* json and pagerduty do not use the template */
	build_ok(cfg, "hook", 5, p, &rq);
	webhook_request_clear(&rq);
	build_ok(cfg, "pd", 5, p, &rq);
	webhook_request_clear(&rq);

	json_decref(p);
	config_free(cfg);
	remove_dir(dir, "slack_message.md");
	free(dir);
}

/* ---- pagerduty ---- */

static void test_pagerduty_trigger(void **state)
{
	(void)state;
	struct config *cfg = three_hooks(NULL, "http://127.0.0.1:1/h");
	json_t *p = created_payload();
	struct webhook_request rq;
	build_ok(cfg, "pd", 77, p, &rq);
	assert_string_equal(rq.url, "https://events.pagerduty.com/v2/enqueue");
	assert_int_equal(rq.n_headers, 3);
	assert_string_equal(header(&rq, "Content-Type"), "application/json");
	assert_string_equal(header(&rq, "X-Intervene-Event"), "incident_created");
	assert_string_equal(header(&rq, "X-Intervene-Delivery"), "77");
	assert_null(header(&rq, "X-Intervene-Signature"));

	json_t *b = body_json(&rq);
	assert_int_equal(json_object_size(b), 7);
	assert_string_equal(json_get_str(b, "routing_key"), ROUTING_KEY);
	assert_string_equal(json_get_str(b, "event_action"), "trigger");
	assert_string_equal(json_get_str(b, "dedup_key"), "budget:search-agent:latency_p95");
	assert_string_equal(json_get_str(b, "client"), "intervene");
	assert_string_equal(json_get_str(b, "client_url"), PUBLIC_URL);
	json_t *pl = json_object_get(b, "payload");
	assert_int_equal(json_object_size(pl), 6);
	assert_string_equal(json_get_str(pl, "summary"),
			    "[sev2] search-agent p95 latency 2140 ms over budget 1600 ms");
	assert_string_equal(json_get_str(pl, "severity"), "error");
	assert_string_equal(json_get_str(pl, "source"), "intervene");
	assert_string_equal(json_get_str(pl, "timestamp"), CREATED_AT);
	assert_string_equal(json_get_str(pl, "class"), "budget");
	json_t *cd = json_object_get(pl, "custom_details");
	assert_int_equal(json_object_size(cd), 5);
	assert_int_equal(json_get_int(cd, "id", 0), 7);
	assert_string_equal(json_get_str(cd, "kind"), "budget");
	assert_string_equal(json_get_str(cd, "key"), "budget:search-agent:latency_p95");
	assert_string_equal(json_get_str(cd, "status"), "open");
	json_t *inc = incident();
	assert_true(json_equal(json_object_get(cd, "details"), json_object_get(inc, "details")));
	json_decref(inc);
	json_t *links = json_object_get(b, "links");
	assert_int_equal(json_array_size(links), 1);
	assert_string_equal(json_get_str(json_array_get(links, 0), "href"),
			    PUBLIC_URL "/incidents/7");
	assert_string_equal(json_get_str(json_array_get(links, 0), "text"),
			    "Incident #7 in intervene");
	json_decref(b);
	webhook_request_clear(&rq);

	/* a url of its own is used as written */
	free(cfg->notify.webhooks[2].url);
	cfg->notify.webhooks[2].url = xstrdup("http://127.0.0.1:9/v2/enqueue");
	build_ok(cfg, "pd", 77, p, &rq);
	assert_string_equal(rq.url, "http://127.0.0.1:9/v2/enqueue");
	webhook_request_clear(&rq);
	json_decref(p);
	config_free(cfg);
}

static void test_pagerduty_severities(void **state)
{
	(void)state;
	struct config *cfg = three_hooks(NULL, "http://127.0.0.1:1/h");
	const char *want[] = {NULL, "critical", "error", "warning", "info"};
	for (int sev = 1; sev <= 4; sev++) {
		json_t *inc = incident();
		char name[8];
		snprintf(name, sizeof name, "sev%d", sev);
		json_object_set_new(inc, "severity", jstr(name));
		json_t *p = payload_of("incident_created", "api", json_deep_copy(inc), inc);
		struct webhook_request rq;
		build_ok(cfg, "pd", 1, p, &rq);
		json_t *b = body_json(&rq);
		json_t *pl = json_object_get(b, "payload");
		assert_string_equal(json_get_str(pl, "severity"), want[sev]);
		assert_int_equal(strncmp(json_get_str(pl, "summary"), "[", 1), 0);
		assert_int_equal(strncmp(json_get_str(pl, "summary") + 1, name, 4), 0);
		json_decref(b);
		webhook_request_clear(&rq);
		json_decref(p);
	}
	/* a severity that is not sev1..sev4 pages as the default, sev3 */
	json_t *inc = incident();
	json_object_set_new(inc, "severity", jstr("sev1234567890sev1234567890"));
	json_t *p = payload_of("incident_created", "api", json_deep_copy(inc), inc);
	struct webhook_request rq;
	build_ok(cfg, "pd", 1, p, &rq);
	json_t *b = body_json(&rq);
	assert_string_equal(json_get_str(json_object_get(b, "payload"), "severity"), "warning");
	assert_int_equal(
		strncmp(json_get_str(json_object_get(b, "payload"), "summary"), "[sev3] ", 7), 0);
	json_decref(b);
	webhook_request_clear(&rq);
	json_decref(p);
	config_free(cfg);
}

/* Acknowledge and resolve carry only routing_key, event_action and dedup_key, as the
 * Events API v2 examples show; other changes have no PagerDuty action. */
static void test_pagerduty_actions(void **state)
{
	(void)state;
	struct config *cfg = three_hooks(NULL, "http://127.0.0.1:1/h");
	struct {
		const char *change_type, *action;
	} cases[] = {
		{"acknowledged", "acknowledge"},
		{"resolved", "resolve"},
		{"closed", "resolve"},
		{"mitigated", NULL},
		{"reopened", NULL},
		{"deduplicated", NULL},
		{"commented", NULL},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		json_t *p = updated_payload(cases[i].change_type, "open", NULL);
		struct webhook_request rq;
		struct err e;
		err_clear(&e);
		int rc = webhook_build(cfg, hook(cfg, "pd"), 3, p, &rq, &e);
		if (!cases[i].action) {
			assert_int_equal(rc, ERR_INVALID);
			assert_non_null(strstr(e.msg, cases[i].change_type));
			assert_null(rq.url);
		} else {
			assert_int_equal(rc, 0);
			json_t *b = body_json(&rq);
			assert_int_equal(json_object_size(b), 3);
			assert_string_equal(json_get_str(b, "routing_key"), ROUTING_KEY);
			assert_string_equal(json_get_str(b, "event_action"), cases[i].action);
			assert_string_equal(json_get_str(b, "dedup_key"),
					    "budget:search-agent:latency_p95");
			assert_string_equal(header(&rq, "X-Intervene-Event"), "incident_updated");
			json_decref(b);
			webhook_request_clear(&rq);
		}
		json_decref(p);
	}
	config_free(cfg);
}

/* PagerDuty's limits: dedup_key 255 characters, summary 1024, the event 512 KB. */
static void test_pagerduty_limits(void **state)
{
	(void)state;
	struct config *cfg = three_hooks(NULL, "http://127.0.0.1:1/h");
	/* a 300-character key (multi-byte characters included) */
	struct buf key = BUF_INIT;
	buf_puts(&key, "manual:");
	for (int i = 0; i < 293; i++)
		buf_puts(&key, i % 2 ? "\xc3\xa9" : "k");
	json_t *inc = incident();
	json_object_set_new(inc, "key", jstr(key.data));
	struct buf sum = BUF_INIT;
	for (int i = 0; i < 2000; i++)
		buf_puts(&sum, "\xe2\x82\xac");
	json_object_set_new(inc, "summary", jstr(sum.data));
	json_t *p = payload_of("incident_created", "api", json_deep_copy(inc), inc);
	struct webhook_request rq;
	build_ok(cfg, "pd", 1, p, &rq);
	json_t *b = body_json(&rq);
	const char *dk = json_get_str(b, "dedup_key");
	assert_int_equal(utf8_length(dk), 255);
	assert_int_equal(strncmp(dk, key.data, strlen(dk) - 65), 0);
	assert_int_equal(dk[strlen(dk) - 65], '~');
	unsigned char h[crypto_hash_sha256_BYTES];
	char hex[2 * sizeof h + 1];
	crypto_hash_sha256(h, (const unsigned char *)key.data, key.len);
	sodium_bin2hex(hex, sizeof hex, h, sizeof h);
	assert_string_equal(dk + strlen(dk) - 64, hex);
	const char *s = json_get_str(json_object_get(b, "payload"), "summary");
	assert_true(utf8_length(s) <= 1024);
	assert_true(utf8_length(s) >= 1000);
	assert_int_equal(strncmp(s, "[sev2] \xe2\x82\xac", 10), 0);
	json_decref(b);
	webhook_request_clear(&rq);
	json_decref(p);

	/* the resolve of that incident names the same alert */
	json_t *inc2 = incident();
	json_object_set_new(inc2, "key", jstr(key.data));
	p = payload_of("incident_updated", "alice",
		       jpack("{sO ss}", "incident", inc2, "change_type", "resolved"), inc2);
	build_ok(cfg, "pd", 2, p, &rq);
	b = body_json(&rq);
	assert_int_equal(utf8_length(json_get_str(b, "dedup_key")), 255);
	assert_string_equal(
		json_get_str(b, "dedup_key") + strlen(json_get_str(b, "dedup_key")) - 64, hex);
	json_decref(b);
	webhook_request_clear(&rq);
	json_decref(p);

	/* details past PagerDuty's 512 KB stay behind; the event is still sent */
	json_t *big = incident();
	struct buf blob = BUF_INIT;
	for (int i = 0; i < 200000; i++)
		buf_puts(&blob, "\"<");
	json_object_set_new(big, "details", jpack("{ss}", "blob", blob.data));
	p = payload_of("incident_created", "api", json_deep_copy(big), big);
	build_ok(cfg, "pd", 3, p, &rq);
	assert_true(rq.body.len <= 500000);
	b = body_json(&rq);
	const char *d = json_get_str(
		json_object_get(json_object_get(b, "payload"), "custom_details"), "details");
	assert_non_null(d);
	assert_non_null(strstr(d, "omitted"));
	json_decref(b);
	webhook_request_clear(&rq);
	json_decref(p);
	buf_free(&blob);
	buf_free(&key);
	buf_free(&sum);
	config_free(cfg);
}

/* The incident comes from payload.incident, else from the event itself. */
static void test_incident_from_event(void **state)
{
	(void)state;
	struct config *cfg = three_hooks(NULL, "http://127.0.0.1:1/h");
	json_t *p = payload_of("incident_created", "api", incident(), NULL);
	struct webhook_request rq;
	build_ok(cfg, "pd", 1, p, &rq);
	json_t *b = body_json(&rq);
	assert_string_equal(json_get_str(b, "dedup_key"), "budget:search-agent:latency_p95");
	json_decref(b);
	webhook_request_clear(&rq);
	json_decref(p);

	/* deduplicated's short form has no key: nothing to page with */
	p = payload_of(
		"incident_updated", "api",
		jpack("{s{sI} ss}", "incident", "id", (json_int_t)7, "change_type", "acknowledged"),
		NULL);
	struct err e;
	err_clear(&e);
	assert_int_equal(webhook_build(cfg, hook(cfg, "pd"), 1, p, &rq, &e), ERR_INVALID);
	json_decref(p);
	config_free(cfg);
}

/* ---- send, against the stand-in receivers ---- */

struct receiver {
	pid_t pid;
	int port;
	char base[64];
};

static const char *fakes_script(void)
{
	static char path[1024];
	const char *root = getenv("SOURCE_ROOT");
	snprintf(path, sizeof path, "%s/tests/integration/fakes/webhooks.py", root ? root : "..");
	return path;
}

/* Start `webhooks.py --kind kind [--secret secret]`; its first line is "port N". */
static void receiver_start(struct receiver *rx, const char *kind, const char *secret)
{
	int fds[2];
	assert_int_equal(pipe(fds), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		dup2(fds[1], 1);
		close(fds[0]);
		close(fds[1]);
		const char *argv[] = {"python3", fakes_script(), "--kind", kind, NULL, NULL, NULL};
		if (secret) {
			argv[4] = "--secret";
			argv[5] = secret;
		}
		execvp("python3", (char *const *)argv);
		_exit(127);
	}
	close(fds[1]);
	char line[64] = {0};
	size_t n = 0;
	while (n < sizeof line - 1) {
		ssize_t r = read(fds[0], line + n, 1);
		if (r <= 0 || line[n] == '\n')
			break;
		n++;
	}
	close(fds[0]);
	line[n] = '\0';
	rx->pid = pid;
	if (sscanf(line, "port %d", &rx->port) != 1)
		fail_msg("%s receiver did not start: '%s'", kind, line);
	snprintf(rx->base, sizeof rx->base, "http://127.0.0.1:%d", rx->port);
}

static void receiver_stop(struct receiver *rx)
{
	kill(rx->pid, SIGTERM);
	int st;
	waitpid(rx->pid, &st, 0);
}

/* A control call (docs in webhooks.py); returns the answer's JSON (caller decrefs). */
static json_t *receiver_call(const struct receiver *rx, const char *method, const char *path,
			     const char *body)
{
	struct http_client *c = NULL;
	struct err e;
	err_clear(&e);
	assert_int_equal(http_client_new(rx->base, &c, &e), 0);
	struct http_response resp = {0};
	if (http_client_request(c, method, path, body, body ? strlen(body) : 0, NULL, 0, &resp, &e))
		fail_msg("control %s: %s", path, e.msg);
	assert_int_equal(resp.status, 200);
	json_t *j = json_loads(buf_cstr(&resp.body), 0, NULL);
	assert_non_null(j);
	http_response_clear(&resp);
	http_client_free(c);
	return j;
}

static json_t *receiver_requests(const struct receiver *rx)
{
	json_t *j = receiver_call(rx, "GET", "/_fake/requests", NULL);
	json_t *r = json_incref(json_object_get(j, "requests"));
	json_decref(j);
	return r;
}

static void send_built(const struct config *cfg, const char *name, int64_t id,
		       const json_t *payload, struct tracker_result *r)
{
	struct webhook_request rq;
	build_ok(cfg, name, id, payload, &rq);
	webhook_send(&rq, r);
	webhook_request_clear(&rq);
}

/* json: a signature the receiver accepts; another secret's signature is a 401, which
 * retrying cannot fix; the receiver's 5xx and 429 are retried. */
static void test_send_json(void **state)
{
	(void)state;
	struct receiver rx;
	receiver_start(&rx, "json", "s3cret");
	char url[128];
	snprintf(url, sizeof url, "%s/hooks/intervene?team=ops", rx.base);
	struct config *cfg = three_hooks(NULL, url);
	json_t *p = created_payload();
	struct tracker_result r = {0};

	send_built(cfg, "hook", 31, p, &r);
	assert_int_equal(r.outcome, TRACKER_OK);
	assert_int_equal(r.http_status, 200);
	assert_string_equal(r.error, "");
	json_t *reqs = receiver_requests(&rx);
	assert_int_equal(json_array_size(reqs), 1);
	json_t *q = json_array_get(reqs, 0);
	assert_string_equal(json_get_str(q, "method"), "POST");
	assert_string_equal(json_get_str(q, "path"), "/hooks/intervene?team=ops");
	assert_int_equal(json_get_int(q, "delivery", 0), 31);
	json_t *h = json_object_get(q, "headers");
	assert_string_equal(json_get_str(h, "x-intervene-event"), "incident_created");
	assert_string_equal(json_get_str(h, "content-type"), "application/json");
	assert_non_null(json_get_str(h, "x-intervene-signature"));
	assert_string_equal(json_get_str(json_object_get(q, "json"), "type"), "incident_created");
	json_decref(reqs);

	free(cfg->notify.webhooks[0].secret);
	cfg->notify.webhooks[0].secret = xstrdup("not-the-secret");
	send_built(cfg, "hook", 32, p, &r);
	assert_int_equal(r.outcome, TRACKER_FAILED);
	assert_int_equal(r.http_status, 401);
	assert_non_null(strstr(r.error, "invalid signature"));

	json_decref(receiver_call(&rx, "POST", "/_fake/fail_next", "{\"n\": 1, \"status\": 500}"));
	send_built(cfg, "hook", 33, p, &r);
	assert_int_equal(r.outcome, TRACKER_RETRY);
	assert_int_equal(r.http_status, 500);
	json_decref(receiver_call(&rx, "POST", "/_fake/fail_next",
				  "{\"n\": 1, \"status\": 429, \"headers\": {\"Retry-After\": "
				  "\"7\"}}"));
	send_built(cfg, "hook", 34, p, &r);
	assert_int_equal(r.outcome, TRACKER_RETRY);
	assert_int_equal(r.http_status, 429);
	assert_int_equal(r.retry_after_ms, 7000);

	/* the connection reset without an answer: retried, and it may have arrived */
	json_decref(receiver_call(&rx, "POST", "/_fake/reset_next", "{\"n\": 1}"));
	send_built(cfg, "hook", 35, p, &r);
	assert_int_equal(r.outcome, TRACKER_RETRY);
	assert_int_equal(r.http_status, 0);
	assert_true(r.sent);
	reqs = receiver_requests(&rx);
	assert_int_equal(json_array_size(reqs), 5);
	assert_string_equal(json_get_str(json_array_get(reqs, 4), "fault"), "reset");
	json_decref(reqs);

	json_decref(p);
	config_free(cfg);
	receiver_stop(&rx);

	/* nobody listening any more: retried */
	cfg = three_hooks(NULL, url);
	p = created_payload();
	send_built(cfg, "hook", 36, p, &r);
	assert_int_equal(r.outcome, TRACKER_RETRY);
	assert_int_equal(r.http_status, 0);
	assert_non_null(strstr(r.error, rx.base));
	assert_null(strstr(r.error, "/hooks/intervene")); /* the path is not repeated */
	json_decref(p);
	config_free(cfg);
}

/* slack: our message is accepted ("ok"); a payload Slack refuses is failed for good. */
static void test_send_slack(void **state)
{
	(void)state;
	struct receiver rx;
	receiver_start(&rx, "slack", NULL);
	char url[128];
	snprintf(url, sizeof url, "%s/services/T000/B000/XXXX", rx.base);
	struct config *cfg = three_hooks(NULL, url);
	json_t *p = created_payload();
	struct tracker_result r = {0};
	send_built(cfg, "chat", 41, p, &r);
	assert_int_equal(r.outcome, TRACKER_OK);
	assert_int_equal(r.http_status, 200);
	json_t *up = updated_payload("acknowledged", "acknowledged", NULL);
	send_built(cfg, "chat", 42, up, &r);
	assert_int_equal(r.outcome, TRACKER_OK);
	json_decref(up);
	json_t *reqs = receiver_requests(&rx);
	assert_int_equal(json_array_size(reqs), 2);
	assert_int_equal(json_get_int(json_array_get(reqs, 0), "status", 0), 200);
	assert_non_null(
		strstr(json_get_str(json_object_get(json_array_get(reqs, 1), "json"), "text"),
		       "Acknowledged by alice"));
	json_decref(reqs);

	/* what Slack answers 400 to */
	struct webhook_request rq;
	build_ok(cfg, "chat", 43, p, &rq);
	buf_reset(&rq.body);
	buf_puts(&rq.body, "{\"text\": \"\"}");
	webhook_send(&rq, &r);
	assert_int_equal(r.outcome, TRACKER_FAILED);
	assert_int_equal(r.http_status, 400);
	assert_non_null(strstr(r.error, "no_text"));
	buf_reset(&rq.body);
	buf_puts(&rq.body, "{\"txt\": \"hello\"}");
	webhook_send(&rq, &r);
	assert_int_equal(r.outcome, TRACKER_FAILED);
	assert_int_equal(r.http_status, 400);
	assert_non_null(strstr(r.error, "invalid_payload"));
	webhook_request_clear(&rq);

	json_decref(receiver_call(&rx, "POST", "/_fake/fail_next",
				  "{\"n\": 1, \"status\": 503, \"body\": \"rollup_error\"}"));
	send_built(cfg, "chat", 44, p, &r);
	assert_int_equal(r.outcome, TRACKER_RETRY);
	assert_int_equal(r.http_status, 503);
	json_decref(p);
	config_free(cfg);
	receiver_stop(&rx);
}

/* pagerduty: trigger then acknowledge then resolve one alert; a routing key PagerDuty
 * would refuse is failed. */
static void test_send_pagerduty(void **state)
{
	(void)state;
	struct receiver rx;
	receiver_start(&rx, "pagerduty", NULL);
	struct config *cfg = three_hooks(NULL, "http://127.0.0.1:1/h");
	free(cfg->notify.webhooks[2].url);
	char url[128];
	snprintf(url, sizeof url, "%s/v2/enqueue", rx.base);
	cfg->notify.webhooks[2].url = xstrdup(url);
	struct tracker_result r = {0};
	json_t *p = created_payload();
	send_built(cfg, "pd", 51, p, &r);
	assert_int_equal(r.outcome, TRACKER_OK);
	assert_int_equal(r.http_status, 202);
	json_t *all = receiver_call(&rx, "GET", "/_fake/alerts", NULL);
	json_t *a =
		json_object_get(json_object_get(all, "alerts"), "budget:search-agent:latency_p95");
	assert_string_equal(json_get_str(a, "status"), "triggered");
	assert_string_equal(json_get_str(a, "severity"), "error");
	json_decref(all);

	const char *steps[][2] = {{"acknowledged", "acknowledged"}, {"resolved", "resolved"}};
	for (size_t i = 0; i < 2; i++) {
		json_t *up = updated_payload(steps[i][0], steps[i][0], NULL);
		send_built(cfg, "pd", 52 + (int64_t)i, up, &r);
		assert_int_equal(r.outcome, TRACKER_OK);
		assert_int_equal(r.http_status, 202);
		json_decref(up);
		all = receiver_call(&rx, "GET", "/_fake/alerts", NULL);
		a = json_object_get(json_object_get(all, "alerts"),
				    "budget:search-agent:latency_p95");
		assert_string_equal(json_get_str(a, "status"), steps[i][1]);
		json_decref(all);
	}

	free(cfg->notify.webhooks[2].routing_key);
	cfg->notify.webhooks[2].routing_key = xstrdup("too-short");
	send_built(cfg, "pd", 54, p, &r);
	assert_int_equal(r.outcome, TRACKER_FAILED);
	assert_int_equal(r.http_status, 400);
	json_t *reqs = receiver_requests(&rx);
	assert_int_equal(json_array_size(reqs), 4);
	assert_non_null(strstr(json_get_str(json_array_get(reqs, 3), "error"),
			       "Length of 'routing_key' is incorrect"));
	json_decref(reqs);
	json_decref(p);
	config_free(cfg);
	receiver_stop(&rx);
}

/* A URL the client refuses cannot start working by retrying. */
static void test_send_bad_url(void **state)
{
	(void)state;
	struct webhook_request rq = {0};
	rq.url = xstrdup("ftp://example.com/x");
	buf_puts(&rq.body, "{}");
	struct tracker_result r = {0};
	webhook_send(&rq, &r);
	assert_int_equal(r.outcome, TRACKER_FAILED);
	assert_int_equal(r.http_status, 0);
	assert_false(r.sent);
	assert_non_null(strstr(r.error, "http://"));
	webhook_request_clear(&rq);

	/* nobody listens on port 1; the password in the URL does not reach the error */
	rq.url = xstrdup("http://user:pa55word@127.0.0.1:1/hook/s3cr3t-path");
	buf_puts(&rq.body, "{}");
	webhook_send(&rq, &r);
	assert_int_equal(r.outcome, TRACKER_RETRY);
	assert_non_null(strstr(r.error, "http://***@127.0.0.1:1"));
	assert_null(strstr(r.error, "pa55word"));
	assert_null(strstr(r.error, "s3cr3t-path"));
	webhook_request_clear(&rq);
}

static int setup(void **state)
{
	(void)state;
	if (sodium_init() < 0)
		return -1;
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
		cmocka_unit_test(test_wants_table),
		cmocka_unit_test(test_json_signed),
		cmocka_unit_test(test_build_refuses),
		cmocka_unit_test(test_slack_created),
		cmocka_unit_test(test_slack_escaping),
		cmocka_unit_test(test_slack_updated),
		cmocka_unit_test(test_slack_other_events),
		cmocka_unit_test(test_slack_override),
		cmocka_unit_test(test_pagerduty_trigger),
		cmocka_unit_test(test_pagerduty_severities),
		cmocka_unit_test(test_pagerduty_actions),
		cmocka_unit_test(test_pagerduty_limits),
		cmocka_unit_test(test_incident_from_event),
		cmocka_unit_test(test_send_json),
		cmocka_unit_test(test_send_slack),
		cmocka_unit_test(test_send_pagerduty),
		cmocka_unit_test(test_send_bad_url),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
