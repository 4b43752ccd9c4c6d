/* tracker.c — the `tracker` and `notify` sections: where issues are opened and who is
 * told about incidents.
 *
 * The provider sections (github, gitlab, jira) are scoped: their ${VAR}s must resolve
 * and their required keys must be set only when tracker.provider selects them. Names
 * that end up in URL paths or JQL are held to the alphabet the service allows. */
#include <stdlib.h>
#include <string.h>

#include "config/keys.h"
#include "config/sections.h"

_Static_assert(sizeof(enum config_provider) == sizeof(int), "enum size");
_Static_assert(sizeof(enum config_close_on) == sizeof(int), "enum size");

const struct enum_name cfg_providers[] = {{"none", CONFIG_PROVIDER_NONE},
					  {"github", CONFIG_PROVIDER_GITHUB},
					  {"gitlab", CONFIG_PROVIDER_GITLAB},
					  {"jira", CONFIG_PROVIDER_JIRA},
					  {NULL, 0}};

static const struct enum_name close_ons[] = {{"resolved", CONFIG_CLOSE_ON_RESOLVED},
					     {"closed", CONFIG_CLOSE_ON_CLOSED},
					     {"never", CONFIG_CLOSE_ON_NEVER},
					     {NULL, 0}};

/* SPEC §6: the event types a webhook may subscribe to. */
static const char *const event_types[] = {
	"incident_created", "incident_updated", "signal_suppressed",
	"sla_breached",	    "action_planned",	"action_approved",
	"action_started",   "action_executed",	"action_rolled_back",
	"issue_delivered",  "issue_failed",	"settings_changed",
	"silence_created",  "silence_ended",	"token_created",
	"token_revoked",    "audit_anchor",	NULL};

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

/* The project goes into the URL path (/projects/ID or /projects/group%2Fproject): a
 * numeric id, or a namespace path whose segments use GitLab's path alphabet. */
static int check_gitlab_project(const char *dir, char **s, struct buf *why)
{
	(void)dir;
	const char *p = *s;
	bool ok = strlen(p) <= 255 && *p != '/';
	while (ok && *p) {
		size_t n = strspn(
			p, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.");
		ok = n > 0 && *p != '-' && !(n == 1 && *p == '.') &&
		     !(n == 2 && !strncmp(p, "..", 2)) && (!p[n] || (p[n] == '/' && p[n + 1]));
		p += n + (p[n] == '/');
	}
	if (!ok) {
		buf_puts(why, "expected a numeric project id or a path like group/project "
			      "(letters, digits, '-', '_' and '.' between single '/'), got ");
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

static int check_nonblank(const char *dir, char **s, struct buf *why)
{
	(void)dir;
	if (strspn(*s, " \t") == strlen(*s)) {
		buf_puts(why, "must not be blank");
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
	KSTR("project_id", C(tracker.gitlab.project_id), "", F_REQUIRED, check_gitlab_project),
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

/* Outbound tracker calls per provider: a token bucket of `burst` calls refilled at
 * per_minute. GitHub's secondary rate limit is about 80 content-creating requests a
 * minute; 60 keeps a storm of incidents from getting the team's token blocked. */
static const struct key pace_keys[] = {
	KINT("per_minute", C(tracker.pace.per_minute), "60", 1, 100000),
	KINT("burst", C(tracker.pace.burst), "10", 1, 100000),
	KEND,
};

static const struct key sync_keys[] = {
	KBOOL("comment_on_transition", C(tracker.sync.comment_on_transition), "true"),
	KENUM("close_on", C(tracker.sync.close_on), "resolved", close_ons),
	KEND,
};

/* Also the schema of the runtime `tracker` setting (SPEC §5.3). */
const struct key cfg_tracker_keys[] = {
	KROW(KF_ENUM("provider", C(tracker.provider), "none", cfg_providers)),
	KROW(KF_SECTION("github", github_keys, 0, CONFIG_PROVIDER_GITHUB)),
	KROW(KF_SECTION("gitlab", gitlab_keys, 0, CONFIG_PROVIDER_GITLAB)),
	KROW(KF_SECTION("jira", jira_keys, 0, CONFIG_PROVIDER_JIRA)),
	KROW(KF_SECTION("sync", sync_keys, 0, 0)),
	KROW(KF_SECTION("pace", pace_keys, 0, 0)),
	KSTR("templates_dir", C(tracker.templates_dir), "", F_PATH, NULL),
	KEND,
};

static const struct enum_name webhook_formats[] = {{"json", CONFIG_WEBHOOK_JSON},
						   {"slack", CONFIG_WEBHOOK_SLACK},
						   {"pagerduty", CONFIG_WEBHOOK_PAGERDUTY},
						   {NULL, 0}};

#define W(f) offsetof(struct config_webhook, f)
static const struct key webhook_keys[] = {
	KSTR("name", W(name), "", F_REQUIRED, check_webhook_name),
	/* Required except for pagerduty, whose default is PagerDuty's Events API v2. */
	KSTR("url", W(url), "", F_URL, NULL),
	/* Not a header itself, but a trailing newline from `$(cat file)` would silently
	 * produce signatures no receiver accepts. */
	KSTR("secret", W(secret), "", F_SECRET | F_HEADER, NULL),
	KSTRLIST("events", W(events), W(n_events), 0, check_event),
	KENUM("min_severity", W(min_severity), "sev4", cfg_severities),
	KENUM("format", W(format), "json", webhook_formats),
	/* PagerDuty's integration key goes into the body, not a header. */
	KSTR("routing_key", W(routing_key), "", F_SECRET, NULL),
	KEND,
};
static const struct key webhook_value = KSECTION("", webhook_keys, 0, 0);
static const struct coll webhook_coll = {
	.elem_size = sizeof(struct config_webhook),
	.elem = &webhook_value,
};

const struct key cfg_notify_keys[] = {
	KLIST("webhooks", C(notify.webhooks), C(notify.n_webhooks), &webhook_coll),
	KEND,
};

/* A webhook's name and where it sits in the list, to find duplicates by sorting. */
struct named {
	const char *name;
	size_t idx;
};

static int named_cmp(const void *a, const void *b)
{
	const struct named *p = a, *q = b;
	int c = strcmp(p->name, q->name);
	if (c)
		return c;
	return (p->idx > q->idx) - (p->idx < q->idx);
}

void cfg_check_notify(struct ctx *x, const struct config *c)
{
	/* Duplicate webhook names: sort by name, report every entry after the first. */
	size_t n = c->notify.n_webhooks;
	struct named *v = xcalloc(n, sizeof *v);
	for (size_t i = 0; i < n; i++)
		v[i] = (struct named){c->notify.webhooks[i].name, i};
	qsort(v, n, sizeof *v, named_cmp);
	for (size_t i = 1; i < n; i++) {
		if (strcmp(v[i].name, v[i - 1].name))
			continue;
		const struct config_webhook *w = &c->notify.webhooks[v[i].idx];
		struct buf key = BUF_INIT;
		buf_printf(&key, "notify.webhooks[%zu].name", v[i].idx);
		cfg_error(x, key.data, cfg_pos_of(x, w, W(name), (struct pos){1, 1}),
			  "duplicate webhook name \"%s\"", w->name);
		buf_free(&key);
	}
	free(v);
	for (size_t i = 0; i < n; i++) {
		const struct config_webhook *w = &c->notify.webhooks[i];
		struct buf key = BUF_INIT;
		if (!*w->url && w->format != CONFIG_WEBHOOK_PAGERDUTY) {
			buf_printf(&key, "notify.webhooks[%zu].url", i);
			cfg_error(x, key.data, cfg_pos_of(x, w, W(name), (struct pos){1, 1}),
				  "url is required for a %s webhook",
				  w->format == CONFIG_WEBHOOK_SLACK ? "slack" : "json");
		}
		if (w->format == CONFIG_WEBHOOK_PAGERDUTY && !*w->routing_key) {
			buf_reset(&key);
			buf_printf(&key, "notify.webhooks[%zu].routing_key", i);
			cfg_error(x, key.data, cfg_pos_of(x, w, W(name), (struct pos){1, 1}),
				  "routing_key is required for a pagerduty webhook");
		}
		buf_free(&key);
	}
}
