/* config.c — the configuration loader: one table of keys over libyaml's document API.
 *
 * Every key of the file is one row of the static tables below (name, type, where it
 * lives in struct config, default written as it would be in the file, bounds, flags).
 * Loading, defaults, validation, dump and free all walk the same tables, so a new key
 * is one new row. Scalar conversion works on text and reports problems as text without
 * positions, so a JSON walker can later validate a `tracker` setting against
 * tracker_keys with the same rules; the YAML walker adds file:line:column.
 *
 * Order of work for a file: parse the whole document, look up tracker.provider first
 * (it decides which ${VAR} references must resolve), walk the document against the
 * tables on top of the defaults, then run the checks that need more than one key
 * (required keys, auth.mode none vs listen, canary sample counts, webhook names). */
#include "config/config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

#include "config/keys.h"
#include "config/sections.h"
#include "util/buf.h"

/* Enums are stored through an int lvalue; that is only sound if they are int-sized. */
_Static_assert(sizeof(enum config_auth_mode) == sizeof(int), "enum size");
_Static_assert(sizeof(enum config_provider) == sizeof(int), "enum size");
_Static_assert(sizeof(enum config_close_on) == sizeof(int), "enum size");

#define MAX_ERRORS 20
/* Aliases let a small file reference one node many times; a cap on visited nodes keeps
 * a hostile file from costing exponential time. Real configs have a few hundred. */
#define MAX_NODES      100000
#define MAX_FILE_BYTES (4 * 1024 * 1024)

/* Where a key got its value in the file, for checks that run after the walk. */
struct mark {
	const struct key *k;
	const void *base;
	struct pos pos;
};

struct ctx {
	const char *file; /* as named in messages */
	const char *dir;  /* absolute directory for relative paths */
	yaml_document_t *doc;
	int provider; /* tracker.provider in effect: decides which ${VAR} must resolve */
	struct pos provider_pos;
	struct buf errors;
	int n_errors;
	char first_field[ERR_FIELD_MAX];
	size_t visits;
	bool too_big;
	struct mark *marks;
	size_t n_marks, cap_marks;
	struct buf path; /* dotted key path of the value being read */
};

static int check_listen(const char *dir, char **s, struct buf *why);
static int check_storage_url(const char *dir, char **s, struct buf *why);
static int check_gh_name(const char *dir, char **s, struct buf *why);
static int check_jira_key(const char *dir, char **s, struct buf *why);
static int check_webhook_name(const char *dir, char **s, struct buf *why);
static int check_event(const char *dir, char **s, struct buf *why);
static int check_dbt_target(const char *dir, char **s, struct buf *why);
static int check_dbt_env(const char *dir, char **s, struct buf *why);
static int check_nonblank(const char *dir, char **s, struct buf *why);

/* ---- the tables ---- */

static const struct enum_name auth_modes[] = {
	{"tokens", CONFIG_AUTH_TOKENS}, {"none", CONFIG_AUTH_NONE}, {NULL, 0}};
static const struct enum_name providers[] = {{"none", CONFIG_PROVIDER_NONE},
					     {"github", CONFIG_PROVIDER_GITHUB},
					     {"gitlab", CONFIG_PROVIDER_GITLAB},
					     {"jira", CONFIG_PROVIDER_JIRA},
					     {NULL, 0}};
static const struct enum_name close_ons[] = {{"resolved", CONFIG_CLOSE_ON_RESOLVED},
					     {"closed", CONFIG_CLOSE_ON_CLOSED},
					     {"never", CONFIG_CLOSE_ON_NEVER},
					     {NULL, 0}};
static const struct enum_name severities[] = {
	{"sev1", 1}, {"sev2", 2}, {"sev3", 3}, {"sev4", 4}, {NULL, 0}};

/* SPEC §6: the event types a webhook may subscribe to. */
static const char *const event_types[] = {
	"incident_created", "incident_updated", "signal_suppressed",
	"sla_breached",	    "action_planned",	"action_approved",
	"action_started",   "action_executed",	"action_rolled_back",
	"issue_delivered",  "issue_failed",	"settings_changed",
	"silence_created",  "silence_ended",	"token_created",
	"token_revoked",    "audit_anchor",	NULL};

static const struct key server_keys[] = {
	KSTR("listen", C(server.listen), "127.0.0.1:8080", F_REQUIRED, check_listen),
	KSTR("public_url", C(server.public_url), "", F_BASEURL, NULL),
	KINT("max_body_bytes", C(server.max_body_bytes), "1048576", 1024,
	     INT64_C(64) * 1024 * 1024),
	KDUR("read_timeout", C(server.read_timeout_ms), "10s", 100, HOUR, 0),
	KINT("max_connections", C(server.max_connections), "10000", 1, 1000000),
	KDUR("sse_heartbeat", C(server.sse_heartbeat_ms), "15s", 100, HOUR, 0),
	KINT("sse_max_clients", C(server.sse_max_clients), "10000", 1, 1000000),
	KBOOL("metrics_public", C(server.metrics_public), "false"),
	KBOOL("web", C(server.web), "true"),
	KEND,
};

static const struct key storage_keys[] = {
	KSTR("url", C(storage.url), "sqlite://intervene.db", F_REQUIRED | F_DBURL,
	     check_storage_url),
	KDUR("event_retention", C(storage.event_retention_ms), "30d", SECOND, 3650 * DAY, 0),
	KEND,
};

static const struct key auth_keys[] = {
	KENUM("mode", C(auth.mode), "tokens", auth_modes),
	KEND,
};

static const struct key watcher_keys[] = {
	KBOOL("enabled", C(watcher.enabled), "true"),
	KDUR("interval", C(watcher.interval_ms), "15m", 100, 7 * DAY, 0),
	KDUR("sla_interval", C(watcher.sla_interval_ms), "30s", 100, DAY, 0),
	KDUR("invariant_lookback", C(watcher.invariant_lookback_ms), "60m", SECOND, 365 * DAY, 0),
	KBOOL("auto_resolve", C(watcher.auto_resolve), "true"),
	KINT("auto_resolve_after", C(watcher.auto_resolve_after), "2", 1, 1000),
	KEND,
};

#define WINDOW(n, kind, d) KDUR(n, C(policy.rate_limit_window_ms[kind]), d, SECOND, 365 * DAY, 0)
static const struct key window_keys[] = {
	WINDOW("invariant", CONFIG_KIND_INVARIANT, "1h"),
	WINDOW("budget", CONFIG_KIND_BUDGET, "4h"),
	WINDOW("planner", CONFIG_KIND_PLANNER, "2h"),
	WINDOW("manual", CONFIG_KIND_MANUAL, "1h"),
	KEND,
};

static const struct key rate_limit_keys[] = {
	KINT("max", C(policy.rate_limit_max), "3", 1, 1000000),
	KSECTION("window", window_keys, 0, 0),
	KEND,
};

static const struct key severity_word_value =
	KENUM("", offsetof(struct config_severity_word, sev), "sev3", severities);
static const char *const severity_defaults[] = {"critical", "sev1", "high", "sev2", "medium",
						"sev3",	    "low",  "sev4", NULL};
static const struct coll severity_coll = {
	.elem_size = sizeof(struct config_severity_word),
	.name_off = offsetof(struct config_severity_word, word),
	.elem = &severity_word_value,
	.defaults = severity_defaults,
};

#define STAGE(n, sev, f, d) KDUR(n, C(policy.sla[sev].f), d, SECOND, 365 * DAY, F_OPTIONAL)
#define SLA_KEYS(sev, a, m, r)                                                                     \
	{                                                                                          \
		STAGE("ack", sev, ack_ms, a), STAGE("mitigate", sev, mitigate_ms, m),              \
			STAGE("resolve", sev, resolve_ms, r), KEND                                 \
	}
static const struct key sla1_keys[] = SLA_KEYS(1, "5m", "30m", "4h");
static const struct key sla2_keys[] = SLA_KEYS(2, "15m", "4h", "24h");
static const struct key sla3_keys[] = SLA_KEYS(3, "1h", "24h", "7d");
static const struct key sla4_keys[] = SLA_KEYS(4, NULL, NULL, NULL);

static const struct key sla_keys[] = {
	KSECTION("sev1", sla1_keys, F_WHOLE, 0),
	KSECTION("sev2", sla2_keys, F_WHOLE, 0),
	KSECTION("sev3", sla3_keys, F_WHOLE, 0),
	KSECTION("sev4", sla4_keys, F_WHOLE, 0),
	KEND,
};

static const struct key policy_keys[] = {
	KSECTION("rate_limit", rate_limit_keys, 0, 0),
	KMAP("severity", C(policy.severity), C(policy.n_severity), &severity_coll),
	KSECTION("sla", sla_keys, 0, 0),
	KEND,
};

static const struct key assignee_value =
	KSTR("", offsetof(struct config_kv, value), "", 0, check_nonblank);
static const struct coll assignee_coll = {
	.elem_size = sizeof(struct config_kv),
	.name_off = offsetof(struct config_kv, key),
	.elem = &assignee_value,
};

static const struct key github_keys[] = {
	KSTR("token", C(tracker.github.token), "", F_SECRET | F_HEADER | F_REQUIRED, NULL),
	KSTR("owner", C(tracker.github.owner), "", F_REQUIRED, check_gh_name),
	KSTR("repo", C(tracker.github.repo), "", F_REQUIRED, check_gh_name),
	KSTR("base_url", C(tracker.github.base_url), "https://api.github.com",
	     F_BASEURL | F_REQUIRED, NULL),
	KMAP("assignees", C(tracker.github.assignees), C(tracker.github.n_assignees),
	     &assignee_coll),
	KEND,
};

static const struct key gitlab_keys[] = {
	KSTR("token", C(tracker.gitlab.token), "", F_SECRET | F_HEADER | F_REQUIRED, NULL),
	KSTR("project_id", C(tracker.gitlab.project_id), "", F_REQUIRED, NULL),
	KSTR("base_url", C(tracker.gitlab.base_url), "https://gitlab.com", F_BASEURL | F_REQUIRED,
	     NULL),
	KEND,
};

static const struct key jira_keys[] = {
	KSTR("base_url", C(tracker.jira.base_url), "", F_BASEURL | F_REQUIRED, NULL),
	KSTR("email", C(tracker.jira.email), "", F_HEADER | F_REQUIRED, NULL),
	KSTR("api_token", C(tracker.jira.api_token), "", F_SECRET | F_HEADER | F_REQUIRED, NULL),
	KSTR("project_key", C(tracker.jira.project_key), "", F_REQUIRED, check_jira_key),
	KSTR("issue_type", C(tracker.jira.issue_type), "Bug", F_REQUIRED, NULL),
	KSTR("close_transition", C(tracker.jira.close_transition), "", 0, NULL),
	KEND,
};

static const struct key sync_keys[] = {
	KBOOL("comment_on_transition", C(tracker.sync.comment_on_transition), "true"),
	KENUM("close_on", C(tracker.sync.close_on), "resolved", close_ons),
	KEND,
};

/* Also the schema of the runtime `tracker` setting (SPEC §5.3). */
static const struct key tracker_keys[] = {
	KENUM("provider", C(tracker.provider), "none", providers),
	KSECTION("github", github_keys, 0, CONFIG_PROVIDER_GITHUB),
	KSECTION("gitlab", gitlab_keys, 0, CONFIG_PROVIDER_GITLAB),
	KSECTION("jira", jira_keys, 0, CONFIG_PROVIDER_JIRA),
	KSECTION("sync", sync_keys, 0, 0),
	KSTR("templates_dir", C(tracker.templates_dir), "", F_PATH, NULL),
	KEND,
};

#define W(f) offsetof(struct config_webhook, f)
static const struct key webhook_keys[] = {
	KSTR("name", W(name), "", F_REQUIRED, check_webhook_name),
	KSTR("url", W(url), "", F_URL | F_REQUIRED, NULL),
	/* Not a header itself, but a trailing newline from `$(cat file)` would silently
	 * produce signatures no receiver accepts. */
	KSTR("secret", W(secret), "", F_SECRET | F_HEADER, NULL),
	KSTRLIST("events", W(events), W(n_events), 0, check_event),
	KENUM("min_severity", W(min_severity), "sev4", severities),
	KEND,
};
static const struct key webhook_value = KSECTION("", webhook_keys, 0, 0);
static const struct coll webhook_coll = {
	.elem_size = sizeof(struct config_webhook),
	.elem = &webhook_value,
};

static const struct key notify_keys[] = {
	KLIST("webhooks", C(notify.webhooks), C(notify.n_webhooks), &webhook_coll),
	KEND,
};

static const struct key dbt_keys[] = {
	KSTR("command", C(actions.dbt.command), "dbt", F_EXEC | F_REQUIRED, NULL),
	KSTRLIST("project_dirs", C(actions.dbt.project_dirs), C(actions.dbt.n_project_dirs), F_PATH,
		 NULL),
	KSTR("profiles_dir", C(actions.dbt.profiles_dir), "", F_PATH, NULL),
	KSTR("target", C(actions.dbt.target), "", 0, check_dbt_target),
	KDUR("timeout", C(actions.dbt.timeout_ms), "2h", SECOND, 7 * DAY, 0),
	KSTRLIST("env", C(actions.dbt.env), C(actions.dbt.n_env), 0, check_dbt_env),
	KEND,
};

static const struct key es_keys[] = {
	KSTR("url", C(actions.elasticsearch.url), "http://127.0.0.1:9200", F_BASEURL, NULL),
	KSTR("api_key", C(actions.elasticsearch.api_key), "", F_SECRET | F_HEADER, NULL),
	KSTR("username", C(actions.elasticsearch.username), "", F_HEADER, NULL),
	KSTR("password", C(actions.elasticsearch.password), "", F_SECRET | F_HEADER, NULL),
	KDUR("timeout", C(actions.elasticsearch.timeout_ms), "30s", 100, 10 * MINUTE, 0),
	KEND,
};

static const struct key actions_keys[] = {
	KSECTION("dbt", dbt_keys, 0, 0),
	KSECTION("elasticsearch", es_keys, 0, 0),
	KDUR("approval_ttl", C(actions.approval_ttl_ms), "1h", SECOND, 30 * DAY, 0),
	KEND,
};

#define B(f)	    offsetof(struct config_budget, f)
#define LATENCY_MAX 86400000.0 /* a day, in ms */
#define COST_MAX    1e6
static const struct key budget_keys[] = {
	KBOOL("enabled", B(enabled), "true"),
	KSTR("description", B(description), "", 0, NULL),
	KTHRESH("min_quality_score", B(min_quality_score), 0, 100),
	KTHRESH("min_success_rate", B(min_success_rate), 0, 1),
	KTHRESH("max_avg_latency_ms", B(max_avg_latency_ms), 0, LATENCY_MAX),
	KTHRESH("max_p95_latency_ms", B(max_p95_latency_ms), 0, LATENCY_MAX),
	KTHRESH("max_p99_latency_ms", B(max_p99_latency_ms), 0, LATENCY_MAX),
	KTHRESH("max_avg_cost", B(max_avg_cost), 0, COST_MAX),
	KTHRESH("max_invariant_failures", B(max_invariant_failures), 0, 1e9),
	KEND,
};
static const struct key budget_value = KSECTION("", budget_keys, 0, 0);
static const struct coll budget_coll = {
	.elem_size = sizeof(struct config_budget),
	.name_off = offsetof(struct config_budget, agent),
	.elem = &budget_value,
};

static const struct key canary_keys[] = {
	KINT("window_runs", C(canary.window_runs), "100", 1, 100000),
	KINT("min_samples", C(canary.min_samples), "30", 1, 100000),
	KFLOAT("max_quality_drop", C(canary.max_quality_drop), "5", 0, 100),
	KFLOAT("max_p95_latency_ms", C(canary.max_p95_latency_ms), "1600", 0, LATENCY_MAX),
	KFLOAT("max_avg_cost", C(canary.max_avg_cost), "0.03", 0, COST_MAX),
	KEND,
};

const struct key cfg_root_keys[] = {
	KSECTION("server", server_keys, 0, 0),
	KSECTION("storage", storage_keys, 0, 0),
	KSECTION("auth", auth_keys, 0, 0),
	KSECTION("watcher", watcher_keys, 0, 0),
	KSECTION("policy", policy_keys, 0, 0),
	KSECTION("tracker", tracker_keys, 0, 0),
	KSECTION("notify", notify_keys, 0, 0),
	KSECTION("actions", actions_keys, 0, 0),
	KMAP("budgets", C(budgets), C(n_budgets), &budget_coll),
	KSECTION("canary", canary_keys, 0, 0),
	KEND,
};

/* ---- small helpers ---- */

static char *cwd_dup(void)
{
	size_t sz = 256;
	for (;;) {
		char *p = xmalloc(sz);
		if (getcwd(p, sz))
			return p;
		free(p);
		if (errno != ERANGE || sz > 65536)
			return xstrdup(".");
		sz *= 2;
	}
}

/* ---- errors and marks ---- */

static struct pos node_pos(const yaml_node_t *n)
{
	struct pos p = {(int)n->start_mark.line + 1, (int)n->start_mark.column + 1};
	return p;
}

static void vadd_error(struct ctx *x, struct pos p, bool with_path, const char *fmt, va_list ap)
{
	x->n_errors++;
	if (x->n_errors > MAX_ERRORS)
		return;
	if (x->errors.len)
		buf_putc(&x->errors, '\n');
	buf_printf(&x->errors, "%s:%d:%d: ", x->file, p.line, p.col);
	if (with_path && x->path.len)
		buf_printf(&x->errors, "%s: ", x->path.data);
	buf_vprintf(&x->errors, fmt, ap);
	if (x->n_errors == 1)
		snprintf(x->first_field, sizeof x->first_field, "%s", buf_cstr(&x->path));
}

/* An error about the key at x->path. */
static void __attribute__((format(printf, 3, 4)))
error_at(struct ctx *x, struct pos p, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vadd_error(x, p, true, fmt, ap);
	va_end(ap);
}

/* An error whose text names the key itself (or none). */
static void __attribute__((format(printf, 3, 4)))
error_plain(struct ctx *x, struct pos p, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vadd_error(x, p, false, fmt, ap);
	va_end(ap);
}

static void record_mark(struct ctx *x, const struct key *k, const void *base, struct pos p)
{
	if (x->n_marks == x->cap_marks) {
		x->cap_marks = x->cap_marks ? 2 * x->cap_marks : 64;
		x->marks = xrealloc(x->marks, x->cap_marks * sizeof *x->marks);
	}
	x->marks[x->n_marks++] = (struct mark){k, base, p};
}

/* After the walk the marks are sorted by (base, key) so that the checks that follow can
 * find them without a scan per key (a file may have tens of thousands of entries). */
static int mark_cmp(const void *a, const void *b)
{
	const struct mark *p = a, *q = b;
	uintptr_t pb = (uintptr_t)p->base, qb = (uintptr_t)q->base;
	if (pb != qb)
		return pb < qb ? -1 : 1;
	uintptr_t pk = (uintptr_t)p->k, qk = (uintptr_t)q->k;
	return (pk > qk) - (pk < qk);
}

static size_t first_mark(const struct ctx *x, const void *base)
{
	size_t lo = 0, hi = x->n_marks;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if ((uintptr_t)x->marks[mid].base < (uintptr_t)base)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static const struct mark *find_mark(const struct ctx *x, const struct key *k, const void *base)
{
	for (size_t i = first_mark(x, base); i < x->n_marks && x->marks[i].base == base; i++)
		if (x->marks[i].k == k)
			return &x->marks[i];
	return NULL;
}

/* The mark of the scalar stored at base+off (for checks across keys). */
static struct pos pos_of(const struct ctx *x, const void *base, size_t off, struct pos fallback)
{
	for (size_t i = first_mark(x, base); i < x->n_marks && x->marks[i].base == base; i++) {
		const struct mark *m = &x->marks[i];
		if (m->k->off == off && is_scalar_type(m->k->type))
			return m->pos;
	}
	return fallback;
}

static size_t path_push(struct ctx *x, const char *name, size_t len)
{
	size_t saved = x->path.len;
	if (x->path.len)
		buf_putc(&x->path, '.');
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)name[i];
		buf_putc(&x->path, ch < 0x20 || ch == 0x7f ? '?' : (char)ch);
	}
	if (!x->path.data)
		buf_puts(&x->path, "");
	return saved;
}

static size_t path_push_index(struct ctx *x, size_t i)
{
	size_t saved = x->path.len;
	buf_printf(&x->path, "[%zu]", i);
	return saved;
}

static void path_pop(struct ctx *x, size_t saved)
{
	x->path.len = saved;
	if (x->path.data)
		x->path.data[saved] = '\0';
}

/* ---- ${VAR} expansion ---- */

enum { EXP_OK, EXP_UNSET, EXP_SYNTAX };

/* Expand ${NAME} and ${NAME:-default} in s[0..n). On EXP_UNSET, detail holds the first
 * unset name; on EXP_SYNTAX, the reason. The default runs to the first '}' (no nesting)
 * and is used when NAME is unset or empty, as in the shell. */
static int expand_env(const char *s, size_t n, struct buf *out, struct buf *detail)
{
	int rc = EXP_OK;
	size_t i = 0;
	buf_puts(out, "");
	while (i < n) {
		if (s[i] != '$' || i + 1 >= n || s[i + 1] != '{') {
			buf_putc(out, s[i++]);
			continue;
		}
		size_t name = i + 2, j = name;
		if (j >= n || !ident_start(s[j])) {
			buf_puts(detail,
				 "${ must be followed by a variable name ([A-Za-z_][A-Za-z0-9_]*)");
			return EXP_SYNTAX;
		}
		while (j < n && ident_char(s[j]))
			j++;
		size_t name_len = j - name;
		const char *def = NULL;
		size_t def_len = 0;
		if (j + 1 < n && s[j] == ':' && s[j + 1] == '-') {
			def = s + j + 2;
			const char *close = memchr(def, '}', n - (j + 2));
			if (!close) {
				buf_printf(detail, "unterminated ${%.*s:-...}", (int)name_len,
					   s + name);
				return EXP_SYNTAX;
			}
			def_len = (size_t)(close - def);
			j = (size_t)(close - s);
		}
		if (j >= n || s[j] != '}') {
			buf_printf(detail, "expected } or :- after ${%.*s", (int)name_len,
				   s + name);
			return EXP_SYNTAX;
		}
		char *var = xstrndup(s + name, name_len);
		const char *v = getenv(var);
		if (def && (!v || !*v))
			buf_append(out, def, def_len);
		else if (v)
			buf_puts(out, v);
		else if (rc == EXP_OK) {
			buf_puts(detail, var);
			rc = EXP_UNSET;
		}
		free(var);
		i = j + 1;
	}
	return rc;
}

/* ---- checks of single values ---- */

/* Split "host:port" / "[v6]:port". host gets the bare host (no brackets). */
static int parse_listen(const char *s, char *host, size_t hostsz, bool *v6, struct buf *why)
{
	const char *colon;
	*v6 = false;
	if (*s == '[') {
		const char *close = strchr(s, ']');
		if (!close || close[1] != ':') {
			buf_puts(why, "expected [IPv6]:PORT, e.g. [::1]:8080");
			return -1;
		}
		size_t n = (size_t)(close - s - 1);
		if (n == 0 || n >= hostsz) {
			buf_puts(why, "bad IPv6 address");
			return -1;
		}
		memcpy(host, s + 1, n);
		host[n] = '\0';
		struct in6_addr a6;
		if (inet_pton(AF_INET6, host, &a6) != 1) {
			buf_printf(why, "bad IPv6 address \"%s\"", host);
			return -1;
		}
		*v6 = true;
		colon = close + 1;
	} else {
		colon = strrchr(s, ':');
		if (!colon) {
			buf_puts(why, "expected HOST:PORT, e.g. 127.0.0.1:8080");
			return -1;
		}
		size_t n = (size_t)(colon - s);
		if (memchr(s, ':', n)) {
			buf_puts(why, "an IPv6 address needs brackets, e.g. [::1]:8080");
			return -1;
		}
		if (n == 0) {
			buf_puts(why, "missing host (use 0.0.0.0:PORT for every address)");
			return -1;
		}
		if (n >= hostsz || n > 253) {
			buf_puts(why, "host name too long");
			return -1;
		}
		memcpy(host, s, n);
		host[n] = '\0';
		bool numeric = strspn(host, "0123456789.") == n;
		struct in_addr a4;
		if (numeric && inet_pton(AF_INET, host, &a4) != 1) {
			buf_printf(why, "bad IPv4 address \"%s\"", host);
			return -1;
		}
		if (!numeric) {
			/* RFC 1123 labels: letters, digits, inner hyphens, 1..63 each */
			for (const char *l = host; *l;) {
				size_t len = strspn(
					l,
					"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-");
				if (len == 0 || len > 63 || l[0] == '-' || l[len - 1] == '-' ||
				    (l[len] && l[len] != '.')) {
					buf_puts(why, "bad host name");
					return -1;
				}
				l += len;
				if (*l == '.')
					l++;
			}
		}
	}
	const char *port = colon + 1;
	size_t pl = strlen(port);
	if (pl == 0 || pl > 5 || strspn(port, "0123456789") != pl || atol(port) > 65535) {
		buf_puts(why, "port must be a number from 0 to 65535");
		return -1;
	}
	return 0;
}

bool config_listen_is_loopback(const char *listen)
{
	char host[256];
	bool v6;
	struct buf why = BUF_INIT;
	int rc = listen ? parse_listen(listen, host, sizeof host, &v6, &why) : -1;
	buf_free(&why);
	if (rc < 0)
		return false;
	if (v6) {
		struct in6_addr a;
		if (inet_pton(AF_INET6, host, &a) != 1)
			return false;
		if (IN6_IS_ADDR_LOOPBACK(&a))
			return true;
		return IN6_IS_ADDR_V4MAPPED(&a) && a.s6_addr[12] == 127;
	}
	if (!strcasecmp(host, "localhost"))
		return true;
	struct in_addr a4;
	if (inet_pton(AF_INET, host, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	return false;
}

static int check_listen(const char *dir, char **s, struct buf *why)
{
	(void)dir;
	char host[256];
	bool v6;
	return parse_listen(*s, host, sizeof host, &v6, why);
}

static int check_storage_url(const char *dir, char **s, struct buf *why)
{
	const char *u = *s;
	if (!strncmp(u, "postgres://", 11) || !strncmp(u, "postgresql://", 13)) {
		if (!strchr(u, '/')[2]) {
			buf_puts(why, "postgres:// URL has no host");
			return -1;
		}
		return 0;
	}
	if (strncmp(u, "sqlite://", 9)) {
		char *shown = cfg_mask_url_password(u);
		buf_puts(why,
			 "expected sqlite://PATH or postgres://USER:PASSWORD@HOST:PORT/DB, got ");
		cfg_put_echo(why, shown);
		free(shown);
		return -1;
	}
	const char *p = u + 9;
	size_t plen = strcspn(p, "?");
	if (plen == 0) {
		buf_puts(why, "sqlite:// needs a file path, e.g. sqlite://intervene.db");
		return -1;
	}
	char *file = xstrndup(p, plen);
	char *abs = cfg_join_path(dir, file);
	struct buf b = BUF_INIT;
	buf_printf(&b, "sqlite://%s%s", abs, p + plen);
	free(file);
	free(abs);
	free(*s);
	*s = buf_steal(&b);
	return 0;
}

/* GitHub owner and repo names go into the URL path: keep them to their real alphabet. */
static int check_gh_name(const char *dir, char **s, struct buf *why)
{
	(void)dir;
	size_t n = strlen(*s);
	if (strspn(*s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.") != n ||
	    !strcmp(*s, ".") || !strcmp(*s, "..") || n > 100) {
		buf_puts(why, "may contain only letters, digits, '-', '_' and '.', got ");
		cfg_put_echo(why, *s);
		return -1;
	}
	return 0;
}

/* The project key is written into JQL (`project = KEY`); allow only what Jira allows. */
static int check_jira_key(const char *dir, char **s, struct buf *why)
{
	(void)dir;
	const char *p = *s;
	bool ok = ident_start(*p) && *p != '_' && strlen(p) <= 64;
	for (; ok && *p; p++)
		ok = ident_char(*p);
	if (!ok) {
		buf_puts(
			why,
			"expected a Jira project key (a letter, then letters, digits or '_'), got ");
		cfg_put_echo(why, *s);
		return -1;
	}
	return 0;
}

/* The name is the outbox target `webhook:<name>` and appears in logs and the API. */
static int check_webhook_name(const char *dir, char **s, struct buf *why)
{
	(void)dir;
	size_t n = strlen(*s);
	if (n > 64 ||
	    strspn(*s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.") != n) {
		buf_puts(why,
			 "may contain only letters, digits, '-', '_' and '.' (at most 64), got ");
		cfg_put_echo(why, *s);
		return -1;
	}
	return 0;
}

static int check_event(const char *dir, char **s, struct buf *why)
{
	(void)dir;
	for (size_t i = 0; event_types[i]; i++)
		if (!strcmp(*s, event_types[i]))
			return 0;
	buf_puts(why, "unknown event type ");
	cfg_put_echo(why, *s);
	return -1;
}

/* It becomes an argv element: a leading '-' would turn it into a dbt option. */
static int check_dbt_target(const char *dir, char **s, struct buf *why)
{
	(void)dir;
	if (**s == '-') {
		buf_puts(why, "must not start with '-'");
		return -1;
	}
	return 0;
}

static int check_dbt_env(const char *dir, char **s, struct buf *why)
{
	(void)dir;
	const char *p = *s;
	bool ok = ident_start(*p);
	for (; ok && *p && *p != '='; p++)
		ok = ident_char(*p);
	if (!ok) {
		buf_puts(why,
			 "expected NAME or NAME=VALUE with NAME like [A-Za-z_][A-Za-z0-9_]*, got ");
		cfg_put_echo(why, *s);
		return -1;
	}
	return 0;
}

static int check_nonblank(const char *dir, char **s, struct buf *why)
{
	(void)dir;
	if (strspn(*s, " \t") == strlen(*s)) {
		buf_puts(why, "must not be blank");
		return -1;
	}
	return 0;
}

/* ---- the walk over the document ---- */

static yaml_node_t *node_at(const struct ctx *x, int index)
{
	return yaml_document_get_node(x->doc, index);
}

static bool is_null(const yaml_node_t *n)
{
	if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return false;
	const char *v = (const char *)n->data.scalar.value;
	size_t len = n->data.scalar.length;
	return len == 0 || (len == 1 && v[0] == '~') ||
	       (len == 4 &&
		(!memcmp(v, "null", 4) || !memcmp(v, "Null", 4) || !memcmp(v, "NULL", 4)));
}

static const char *node_kind(const yaml_node_t *n)
{
	if (n->type == YAML_MAPPING_NODE)
		return "a mapping";
	if (n->type == YAML_SEQUENCE_NODE)
		return "a list";
	return is_null(n) ? "null" : "a scalar";
}

static void wrong_node(struct ctx *x, const struct key *k, const yaml_node_t *n)
{
	struct buf b = BUF_INIT;
	cfg_put_expected(&b, k);
	error_at(x, node_pos(n), "expected %s, got %s", b.data, node_kind(n));
	buf_free(&b);
}

/* The scalar's text after ${VAR} expansion. Returns 0 (*out set), 1 when the value
 * refers to an unset variable inside an unused provider section (leave the default),
 * or -1 after reporting an error. */
static int scalar_text(struct ctx *x, const yaml_node_t *n, int scope, char **out)
{
	const char *v = (const char *)n->data.scalar.value;
	size_t len = n->data.scalar.length;
	if (memchr(v, '\0', len)) {
		error_at(x, node_pos(n), "contains a NUL character");
		return -1;
	}
	struct buf o = BUF_INIT, detail = BUF_INIT;
	int rc = 0;
	switch (expand_env(v, len, &o, &detail)) {
	case EXP_UNSET:
		if (scope && scope != x->provider) {
			rc = 1;
			break;
		}
		error_plain(x, node_pos(n), "environment variable %s is not set (key %s)",
			    detail.data, buf_cstr(&x->path));
		rc = -1;
		break;
	case EXP_SYNTAX:
		error_at(x, node_pos(n), "%s", detail.data);
		rc = -1;
		break;
	default: *out = buf_steal(&o); break;
	}
	buf_free(&o);
	buf_free(&detail);
	return rc;
}

struct keyref {
	const char *s;
	size_t len, idx;
};

static int keyref_cmp(const void *a, const void *b)
{
	const struct keyref *p = a, *q = b;
	size_t n = p->len < q->len ? p->len : q->len;
	int c = memcmp(p->s, q->s, n);
	if (c)
		return c;
	if (p->len != q->len)
		return p->len < q->len ? -1 : 1;
	return p->idx < q->idx ? -1 : p->idx > q->idx;
}

enum { KEY_OK, KEY_NOT_SCALAR, KEY_DUPLICATE };

/* Classify the keys of a mapping (sorting finds duplicates in n log n); the caller
 * reports bad ones with bad_key() in document order. */
static unsigned char *check_keys(const struct ctx *x, const yaml_node_t *map, size_t npairs)
{
	unsigned char *state = xcalloc(npairs, 1);
	struct keyref *refs = xcalloc(npairs, sizeof *refs);
	size_t nrefs = 0;
	for (size_t i = 0; i < npairs; i++) {
		const yaml_node_t *kn = node_at(x, map->data.mapping.pairs.start[i].key);
		if (kn->type != YAML_SCALAR_NODE)
			state[i] = KEY_NOT_SCALAR;
		else
			refs[nrefs++] = (struct keyref){(const char *)kn->data.scalar.value,
							kn->data.scalar.length, i};
	}
	qsort(refs, nrefs, sizeof *refs, keyref_cmp);
	for (size_t i = 1; i < nrefs; i++)
		if (refs[i].len == refs[i - 1].len &&
		    !memcmp(refs[i].s, refs[i - 1].s, refs[i].len))
			state[refs[i].idx] = KEY_DUPLICATE;
	free(refs);
	return state;
}

/* Report pair i if check_keys found it bad; true when it must be skipped. */
static bool bad_key(struct ctx *x, const yaml_node_t *map, size_t i, const unsigned char *state)
{
	const yaml_node_t *kn = node_at(x, map->data.mapping.pairs.start[i].key);
	if (state[i] == KEY_NOT_SCALAR) {
		error_at(x, node_pos(kn), "keys must be plain names, got %s", node_kind(kn));
	} else if (state[i] == KEY_DUPLICATE) {
		size_t saved =
			path_push(x, (const char *)kn->data.scalar.value, kn->data.scalar.length);
		error_at(x, node_pos(kn), "duplicate key");
		path_pop(x, saved);
	}
	return state[i] != KEY_OK;
}

static size_t edit_distance(const char *a, size_t la, const char *b)
{
	size_t lb = strlen(b), row[65];
	if (la > 64 || lb > 64)
		return SIZE_MAX;
	for (size_t j = 0; j <= lb; j++)
		row[j] = j;
	for (size_t i = 1; i <= la; i++) {
		size_t diag = row[0];
		row[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t up = row[j];
			size_t best = diag + (a[i - 1] != b[j - 1]);
			if (up + 1 < best)
				best = up + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			row[j] = best;
			diag = up;
		}
	}
	return row[lb];
}

static void unknown_key(struct ctx *x, const struct key *keys, const yaml_node_t *kn)
{
	const char *name = (const char *)kn->data.scalar.value;
	size_t len = kn->data.scalar.length, best = SIZE_MAX;
	const char *guess = NULL;
	for (const struct key *k = keys; k->name; k++) {
		size_t d = edit_distance(name, len, k->name);
		if (d < best) {
			best = d;
			guess = k->name;
		}
	}
	if (guess && best <= 2 && best < len)
		error_at(x, node_pos(kn), "unknown key; did you mean %s?", guess);
	else
		error_at(x, node_pos(kn), "unknown key");
}

static void set_value(struct ctx *x, const struct key *k, yaml_node_t *n, void *base, int scope);

static const struct key *lookup_key(const struct key *keys, const char *name, size_t len)
{
	for (const struct key *k = keys; k->name; k++)
		if (strlen(k->name) == len && !memcmp(k->name, name, len))
			return k;
	return NULL;
}

static void walk_section(struct ctx *x, const struct key *keys, yaml_node_t *map, void *base,
			 int scope)
{
	size_t npairs = (size_t)(map->data.mapping.pairs.top - map->data.mapping.pairs.start);
	unsigned char *state = check_keys(x, map, npairs);
	for (size_t i = 0; i < npairs && !x->too_big && x->n_errors < MAX_ERRORS; i++) {
		if (bad_key(x, map, i, state))
			continue;
		yaml_node_pair_t *pr = &map->data.mapping.pairs.start[i];
		yaml_node_t *kn = node_at(x, pr->key);
		const char *name = (const char *)kn->data.scalar.value;
		size_t len = kn->data.scalar.length;
		const struct key *k = lookup_key(keys, name, len);
		size_t saved = path_push(x, name, len);
		if (k)
			set_value(x, k, node_at(x, pr->value), base, scope);
		else
			unknown_key(x, keys, kn);
		path_pop(x, saved);
	}
	free(state);
}

static void set_scalar(struct ctx *x, const struct key *k, yaml_node_t *n, void *base, int scope)
{
	if (n->type != YAML_SCALAR_NODE) {
		wrong_node(x, k, n);
		return;
	}
	if (is_null(n))
		return; /* null is "not given": the default stays */
	char *text;
	if (scalar_text(x, n, scope, &text))
		return;
	union val v;
	struct buf why = BUF_INIT;
	if (cfg_parse_value(x->dir, k, text, &v, &why) < 0) {
		error_at(x, node_pos(n), "%s", why.data);
	} else {
		cfg_store_value(k, base, &v);
		record_mark(x, k, base, node_pos(n));
	}
	free(text);
	buf_free(&why);
}

static void set_strlist(struct ctx *x, const struct key *k, yaml_node_t *n, void *base, int scope)
{
	if (is_null(n))
		return;
	if (n->type != YAML_SEQUENCE_NODE) {
		wrong_node(x, k, n);
		return;
	}
	size_t cnt = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
	char **list = xcalloc(cnt + 1, sizeof *list);
	size_t got = 0;
	bool ok = true;
	for (size_t i = 0; i < cnt; i++) {
		yaml_node_t *item = node_at(x, n->data.sequence.items.start[i]);
		size_t saved = path_push_index(x, i);
		char *text = NULL;
		struct buf why = BUF_INIT;
		if (++x->visits > MAX_NODES) {
			ok = false;
		} else if (item->type != YAML_SCALAR_NODE || is_null(item)) {
			error_at(x, node_pos(item), "expected a string, got %s", node_kind(item));
			ok = false;
		} else if (scalar_text(x, item, scope, &text)) {
			ok = false;
		} else if (!*text) {
			error_at(x, node_pos(item), "must not be empty");
			ok = false;
		} else if (cfg_finish_string(x->dir, k, &text, &why) < 0) {
			error_at(x, node_pos(item), "%s", why.data);
			ok = false;
		} else {
			list[got++] = text;
			text = NULL;
		}
		free(text);
		buf_free(&why);
		path_pop(x, saved);
	}
	if (ok) {
		cfg_free_key(k, base);
		set_ptr(base, k->off, list);
		*count_of(base, k) = got;
		record_mark(x, k, base, node_pos(n));
		return;
	}
	for (size_t i = 0; i < got; i++)
		free(list[i]);
	free(list);
}

static void set_section(struct ctx *x, const struct key *k, yaml_node_t *n, void *base, int scope)
{
	if (is_null(n))
		return;
	if (n->type != YAML_MAPPING_NODE) {
		wrong_node(x, k, n);
		return;
	}
	if (k->flags & F_WHOLE) {
		cfg_free_keys(k->sub, base);
		cfg_apply_defaults(x->dir, k->sub, base, true);
	}
	record_mark(x, k, base, node_pos(n));
	walk_section(x, k->sub, n, base, scope);
}

/* A map merges into what is there (the defaults); a list replaces it. Arrays are sized
 * once up front: marks recorded for entries point into them. */
static void set_collection(struct ctx *x, const struct key *k, yaml_node_t *n, void *base,
			   int scope)
{
	const struct coll *co = k->coll;
	bool is_map = k->type == K_MAP;
	if (is_null(n))
		return;
	if (n->type != (is_map ? YAML_MAPPING_NODE : YAML_SEQUENCE_NODE)) {
		wrong_node(x, k, n);
		return;
	}
	if (!is_map)
		cfg_free_key(k, base);
	size_t cnt = is_map ? (size_t)(n->data.mapping.pairs.top - n->data.mapping.pairs.start)
			    : (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
	size_t have = *count_of(base, k);
	char *arr = xrealloc(get_ptr(base, k->off), (have + cnt) * co->elem_size);
	set_ptr(base, k->off, arr);
	record_mark(x, k, base, node_pos(n));
	unsigned char *state = is_map ? check_keys(x, n, cnt) : NULL;
	for (size_t i = 0; i < cnt && !x->too_big && x->n_errors < MAX_ERRORS; i++) {
		if (is_map && bad_key(x, n, i, state))
			continue;
		yaml_node_t *vn;
		void *eb = NULL;
		size_t saved;
		if (is_map) {
			yaml_node_t *kn = node_at(x, n->data.mapping.pairs.start[i].key);
			const char *name = (const char *)kn->data.scalar.value;
			size_t len = kn->data.scalar.length;
			vn = node_at(x, n->data.mapping.pairs.start[i].value);
			saved = path_push(x, name, len);
			bool ok = len > 0;
			for (size_t j = 0; j < len && ok; j++)
				ok = (unsigned char)name[j] >= 0x20 && name[j] != 0x7f;
			if (!ok) {
				error_at(
					x, node_pos(kn),
					"a name must be non-empty text without control characters");
				path_pop(x, saved);
				continue;
			}
			for (size_t j = 0; j < have && !eb; j++) {
				void *cand = arr + j * co->elem_size;
				const char *en = get_ptr(cand, co->name_off);
				if (strlen(en) == len && !memcmp(en, name, len))
					eb = cand;
			}
			if (!eb) {
				eb = arr + *count_of(base, k) * co->elem_size;
				memset(eb, 0, co->elem_size);
				set_ptr(eb, co->name_off, xstrndup(name, len));
				cfg_apply_default(x->dir, co->elem, eb, false);
				++*count_of(base, k);
			}
		} else {
			vn = node_at(x, n->data.sequence.items.start[i]);
			saved = path_push_index(x, i);
			eb = arr + *count_of(base, k) * co->elem_size;
			memset(eb, 0, co->elem_size);
			cfg_apply_default(x->dir, co->elem, eb, false);
			++*count_of(base, k);
		}
		if (co->elem->type == K_SECTION && vn->type == YAML_SCALAR_NODE && is_null(vn))
			record_mark(x, co->elem, eb, node_pos(vn)); /* an entry with all defaults */
		set_value(x, co->elem, vn, eb, scope);
		path_pop(x, saved);
	}
	free(state);
}

static void set_value(struct ctx *x, const struct key *k, yaml_node_t *n, void *base, int scope)
{
	if (++x->visits > MAX_NODES) {
		if (!x->too_big)
			error_at(x, node_pos(n),
				 "too many values (more than %d after expanding aliases)",
				 MAX_NODES);
		x->too_big = true;
		return;
	}
	if (k->scope)
		scope = k->scope;
	switch (k->type) {
	case K_SECTION: set_section(x, k, n, base, scope); break;
	case K_MAP:
	case K_LIST: set_collection(x, k, n, base, scope); break;
	case K_STRLIST: set_strlist(x, k, n, base, scope); break;
	default: set_scalar(x, k, n, base, scope); break;
	}
}

static yaml_node_t *map_get(const struct ctx *x, yaml_node_t *map, const char *name)
{
	if (!map || map->type != YAML_MAPPING_NODE)
		return NULL;
	for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
	     p++) {
		yaml_node_t *kn = node_at(x, p->key);
		if (kn->type == YAML_SCALAR_NODE && kn->data.scalar.length == strlen(name) &&
		    !memcmp(kn->data.scalar.value, name, kn->data.scalar.length))
			return node_at(x, p->value);
	}
	return NULL;
}

/* tracker.provider decides which provider sections must resolve their ${VAR}s, so read
 * it before the walk. Any problem with it is reported by the walk itself. */
static void find_provider(struct ctx *x, yaml_node_t *root)
{
	yaml_node_t *tracker = map_get(x, root, "tracker");
	yaml_node_t *n = map_get(x, tracker, "provider");
	x->provider = CONFIG_PROVIDER_NONE;
	x->provider_pos = (struct pos){1, 1};
	if (tracker)
		x->provider_pos = node_pos(tracker);
	if (!n || n->type != YAML_SCALAR_NODE || is_null(n) ||
	    memchr(n->data.scalar.value, 0, n->data.scalar.length))
		return;
	x->provider_pos = node_pos(n);
	struct buf o = BUF_INIT, detail = BUF_INIT;
	if (expand_env((const char *)n->data.scalar.value, n->data.scalar.length, &o, &detail) ==
	    EXP_OK)
		for (const struct enum_name *p = providers; p->name; p++)
			if (!strcmp(p->name, o.data))
				x->provider = p->value;
	buf_free(&o);
	buf_free(&detail);
}

/* ---- checks after the walk ---- */

static void check_required(struct ctx *x, const struct key *keys, void *base, int scope,
			   struct pos fallback)
{
	for (const struct key *k = keys; k->name; k++) {
		int sc = k->scope ? k->scope : scope;
		if (sc && sc != x->provider)
			continue;
		const struct mark *m = find_mark(x, k, base);
		struct pos p = m ? m->pos : k->scope ? x->provider_pos : fallback;
		size_t saved = path_push(x, k->name, strlen(k->name));
		if (k->type == K_SECTION) {
			check_required(x, k->sub, base, sc, p);
		} else if ((k->type == K_MAP || k->type == K_LIST) &&
			   k->coll->elem->type == K_SECTION) {
			char *arr = get_ptr(base, k->off);
			for (size_t i = 0; i < *count_of(base, k); i++) {
				void *eb = arr + i * k->coll->elem_size;
				const struct mark *em = find_mark(x, k->coll->elem, eb);
				size_t s2 =
					k->type == K_MAP
						? path_push(x, get_ptr(eb, k->coll->name_off),
							    strlen(get_ptr(eb, k->coll->name_off)))
						: path_push_index(x, i);
				check_required(x, k->coll->elem->sub, eb, sc, em ? em->pos : p);
				path_pop(x, s2);
			}
		} else if (k->type == K_STR && (k->flags & F_REQUIRED) &&
			   !*(char *)get_ptr(base, k->off)) {
			if (sc)
				error_at(x, p, "required when tracker.provider is %s",
					 cfg_enum_label(providers, sc));
			else
				error_at(x, p, "required");
		}
		path_pop(x, saved);
	}
}

static void check_across(struct ctx *x, struct config *c)
{
	struct pos top = {1, 1};
	if (c->auth.mode == CONFIG_AUTH_NONE && !config_listen_is_loopback(c->server.listen)) {
		size_t saved = path_push(x, "auth.mode", 9);
		error_at(x, pos_of(x, c, C(auth.mode), top),
			 "none is only allowed when server.listen is a loopback address "
			 "(127.0.0.0/8, [::1] or localhost), not %s",
			 c->server.listen);
		path_pop(x, saved);
	}
	if (c->canary.min_samples > c->canary.window_runs) {
		size_t saved = path_push(x, "canary.min_samples", 18);
		error_at(x,
			 pos_of(x, c, C(canary.min_samples),
				pos_of(x, c, C(canary.window_runs), top)),
			 "must not exceed canary.window_runs (%" PRId64 ")", c->canary.window_runs);
		path_pop(x, saved);
	}
	/* Duplicate webhook names: sort by name, report every entry after the first. */
	size_t n = c->notify.n_webhooks;
	struct keyref *refs = xcalloc(n, sizeof *refs);
	for (size_t i = 0; i < n; i++)
		refs[i] = (struct keyref){c->notify.webhooks[i].name,
					  strlen(c->notify.webhooks[i].name), i};
	qsort(refs, n, sizeof *refs, keyref_cmp);
	for (size_t i = 1; i < n; i++) {
		if (refs[i].len != refs[i - 1].len || memcmp(refs[i].s, refs[i - 1].s, refs[i].len))
			continue;
		const struct config_webhook *w = &c->notify.webhooks[refs[i].idx];
		struct buf p = BUF_INIT;
		buf_printf(&p, "notify.webhooks[%zu].name", refs[i].idx);
		size_t saved = path_push(x, p.data, p.len);
		error_at(x, pos_of(x, w, W(name), top), "duplicate webhook name \"%s\"", w->name);
		path_pop(x, saved);
		buf_free(&p);
	}
	free(refs);
}

/* ---- load ---- */

static struct config *new_config(const char *path, const char *dir)
{
	struct config *c = xcalloc(1, sizeof *c);
	c->path = xstrdup(path);
	c->dir = xstrdup(dir);
	cfg_apply_defaults(dir, cfg_root_keys, c, false);
	return c;
}

static struct pos offset_pos(const char *text, size_t len, size_t off)
{
	struct pos p = {1, 1};
	for (size_t i = 0; i < off && i < len; i++) {
		if (text[i] == '\n')
			p.line++, p.col = 1;
		else
			p.col++;
	}
	return p;
}

static void syntax_error(struct ctx *x, const yaml_parser_t *ps, const char *text, size_t len)
{
	struct pos p;
	if (ps->error == YAML_READER_ERROR)
		p = offset_pos(text, len, ps->problem_offset);
	else
		p = (struct pos){(int)ps->problem_mark.line + 1, (int)ps->problem_mark.column + 1};
	const char *problem = ps->problem ? ps->problem : "cannot parse";
	if (ps->context)
		error_plain(x, p, "invalid YAML: %s (%s at %d:%d)", problem, ps->context,
			    (int)ps->context_mark.line + 1, (int)ps->context_mark.column + 1);
	else
		error_plain(x, p, "invalid YAML: %s", problem);
}

/* Copy as many whole lines of the full text as fit into e->msg, keeping room for a last
 * line that says how many were left out. */
static int fill_err(struct err *e, const struct ctx *x)
{
	char msg[ERR_MSG_MAX];
	const char *all = buf_cstr(&x->errors);
	size_t total = x->n_errors < MAX_ERRORS ? (size_t)x->n_errors : MAX_ERRORS;
	size_t used = 0, lines = 0;
	const size_t reserve = sizeof "\n(20 more errors)";
	for (const char *p = all; *p && lines < total;) {
		size_t n = strcspn(p, "\n");
		size_t need = used + (used ? 1 : 0) + n;
		if (need + (lines + 1 < total ? reserve : 0) >= sizeof msg)
			break;
		used = need;
		lines++;
		p += n + (p[n] == '\n');
	}
	if (lines == 0) {
		snprintf(msg, sizeof msg, "%s", all); /* one huge line: cut it */
	} else {
		memcpy(msg, all, used);
		msg[used] = '\0';
		if (lines < total)
			snprintf(msg + used, sizeof msg - used, "\n(%zu more errors)",
				 total - lines);
	}
	return err_field(e, ERR_INVALID, x->first_field, "%s", msg);
}

static int load_text(const char *text, size_t len, const char *name, const char *dir,
		     struct config **out, struct err *e, char **all)
{
	yaml_parser_t parser;
	yaml_document_t doc, extra;
	bool have_doc = false;
	struct ctx x;
	memset(&x, 0, sizeof x);
	x.file = name;
	x.dir = dir;
	x.doc = &doc;
	*out = NULL;
	if (all)
		*all = NULL;

	struct config *c = new_config(name, dir);
	if (!yaml_parser_initialize(&parser)) {
		config_free(c);
		return err_set(e, ERR_NOMEM, "%s: out of memory", name);
	}
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
	if (!yaml_parser_load(&parser, &doc)) {
		syntax_error(&x, &parser, text, len);
		goto out;
	}
	have_doc = true;
	yaml_node_t *root = yaml_document_get_root_node(&doc);
	if (!root)
		goto out; /* an empty file: the defaults */
	if (!yaml_parser_load(&parser, &extra)) {
		syntax_error(&x, &parser, text, len);
		goto out;
	}
	yaml_node_t *second = yaml_document_get_root_node(&extra);
	if (second)
		error_plain(&x, node_pos(second), "only one YAML document is allowed");
	yaml_document_delete(&extra);
	if (second)
		goto out;
	if (is_null(root))
		goto out;
	if (root->type != YAML_MAPPING_NODE) {
		error_plain(&x, node_pos(root),
			    "the top level must be a mapping of sections (server:, storage:, ...)");
		goto out;
	}
	find_provider(&x, root);
	walk_section(&x, cfg_root_keys, root, c, 0);
	if (x.n_marks)
		qsort(x.marks, x.n_marks, sizeof *x.marks, mark_cmp);
	if (!x.n_errors)
		check_required(&x, cfg_root_keys, c, 0, (struct pos){1, 1});
	if (!x.n_errors)
		check_across(&x, c);
out:
	if (have_doc)
		yaml_document_delete(&doc);
	yaml_parser_delete(&parser);
	int rc = 0;
	if (x.n_errors) {
		rc = fill_err(e, &x);
		if (all)
			*all = buf_steal(&x.errors);
		config_free(c);
	} else {
		*out = c;
		err_clear(e);
	}
	buf_free(&x.errors);
	buf_free(&x.path);
	free(x.marks);
	return rc;
}

int config_load_string(const char *text, size_t len, const char *name, const char *dir,
		       struct config **out, struct err *e)
{
	char *cwd = cwd_dup();
	char *abs = dir ? cfg_join_path(cwd, dir) : xstrdup(cwd);
	int rc = load_text(text, len, name ? name : "<string>", abs, out, e, NULL);
	free(abs);
	free(cwd);
	return rc;
}

static int read_file(const char *path, struct buf *b, struct err *e)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return err_set(e, ERR_IO, "cannot read %s: %s", path, strerror(errno));
	char chunk[8192];
	size_t n;
	int rc = 0;
	while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
		buf_append(b, chunk, n);
		if (b->len > MAX_FILE_BYTES) {
			rc = err_set(e, ERR_INVALID, "%s: larger than %d bytes", path,
				     MAX_FILE_BYTES);
			goto out;
		}
	}
	if (ferror(f))
		rc = err_set(e, ERR_IO, "cannot read %s: %s", path, strerror(errno));
out:
	fclose(f);
	return rc;
}

int config_load_verbose(const char *path, struct config **out, struct err *e, char **errors)
{
	struct stat st;
	*out = NULL;
	if (errors)
		*errors = NULL;
	if (!path) {
		const char *envp = getenv("INTERVENE_CONFIG");
		if (envp && *envp)
			path = envp;
		else if (stat("intervene.yaml", &st) == 0)
			path = "intervene.yaml";
	}
	char *cwd = cwd_dup();
	int rc;
	if (!path) {
		*out = new_config("", cwd);
		err_clear(e);
		rc = 0;
		goto out;
	}
	struct buf text = BUF_INIT;
	rc = read_file(path, &text, e);
	if (rc == 0) {
		char *abs = cfg_join_path(cwd, path);
		char *slash = strrchr(abs, '/');
		if (slash == abs)
			slash[1] = '\0';
		else if (slash)
			*slash = '\0';
		rc = load_text(buf_cstr(&text), text.len, path, abs, out, e, errors);
		free(abs);
	} else if (errors) {
		*errors = xstrdup(e ? e->msg : "");
	}
	buf_free(&text);
out:
	free(cwd);
	return rc;
}

int config_load(const char *path, struct config **out, struct err *e)
{
	return config_load_verbose(path, out, e, NULL);
}

struct config *config_defaults(void)
{
	char *cwd = cwd_dup();
	struct config *c = new_config("", cwd);
	free(cwd);
	return c;
}

void config_free(struct config *c)
{
	if (!c)
		return;
	cfg_free_keys(cfg_root_keys, c);
	free(c->path);
	free(c->dir);
	free(c);
}

const char *config_public_url(const struct config *c, char *buf, size_t bufsz)
{
	if (c->server.public_url && *c->server.public_url)
		return c->server.public_url;
	snprintf(buf, bufsz, "http://%s", c->server.listen);
	return buf;
}
