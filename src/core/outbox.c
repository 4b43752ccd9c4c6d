/* outbox.c — queuing outbound calls with the change that asks for them; see outbox.h. */
#include "core/outbox.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/event.h"
#include "core/incident.h"
#include "core/settings.h"
#include "template/mustache.h"
#include "util/json.h"
#include "util/log.h"
#include "util/time.h"

static const char *const provider_names[] = {
	[CONFIG_PROVIDER_NONE] = "none",
	[CONFIG_PROVIDER_GITHUB] = "github",
	[CONFIG_PROVIDER_GITLAB] = "gitlab",
	[CONFIG_PROVIDER_JIRA] = "jira",
};

static int queue(struct store_conn *c, int64_t incident_id, const char *target, enum outbox_op op,
		 json_t *payload, const char *idempotency_key, struct outbox_row *out,
		 struct err *e)
{
	int64_t now = time_now_ms();
	char *text = json_canon(payload);
	json_decref(payload);
	struct outbox_row r = {.incident_id = incident_id,
			       .target = (char *)target,
			       .op = op,
			       .payload = text,
			       .idempotency_key = (char *)idempotency_key,
			       .next_attempt_at = now,
			       .created_at = now};
	int rc = store_outbox_insert(c, &r, e);
	if (!rc && out) {
		*out = r;
		out->target = xstrdup(target);
		out->payload = text;
		out->idempotency_key = xstrdup(idempotency_key);
		return 0;
	}
	free(text);
	return rc;
}

/* The target of inc's issue: its issue_ref provider, else its create row's target;
 * "" when it has neither. */
static int issue_target(struct store_conn *c, const struct incident *inc, char out[80],
			struct err *e)
{
	const char *p = inc->issue_ref ? json_get_str(inc->issue_ref, "provider") : NULL;
	if (p && *p) {
		snprintf(out, 80, "tracker:%s", p);
		return 0;
	}
	struct outbox_incident oi;
	int rc = store_outbox_incident(c, inc->id, &oi, e);
	if (rc)
		return rc;
	snprintf(out, 80, "%s", oi.create_target);
	return 0;
}

int outbox_incident_created(struct store_conn *c, const struct config *cfg,
			    const struct incident *inc, struct err *e)
{
	enum config_provider p = CONFIG_PROVIDER_NONE;
	int rc = settings_tracker_provider(c, cfg, &p, e);
	if (rc || p == CONFIG_PROVIDER_NONE)
		return rc;
	char target[80], key[64];
	snprintf(target, sizeof target, "tracker:%s", provider_names[p]);
	snprintf(key, sizeof key, "create:%lld", (long long)inc->id);
	return queue(c, inc->id, target, OB_CREATE_ISSUE,
		     jpack("{sI}", "incident_id", (json_int_t)inc->id), key, NULL, e);
}

struct newest_create {
	struct outbox_row row;
	bool found;
};

/* Rows come newest first: keep the first create_issue row. */
static int newest_create_cb(const struct outbox_row *r, void *arg)
{
	struct newest_create *n = arg;
	if (r->op != OB_CREATE_ISSUE)
		return 0;
	n->row = *r;
	n->row.target = xstrdup(r->target);
	n->row.payload = xstrdup(r->payload);
	n->row.idempotency_key = xstrdup(r->idempotency_key);
	n->row.last_error = xstrdup(r->last_error);
	n->row.external_id = xstrdup(r->external_id);
	n->found = true;
	return 1;
}

int outbox_request_issue(struct store_conn *c, const struct config *cfg, const struct incident *inc,
			 struct outbox_row *out, bool *queued, struct err *e)
{
	*queued = false;
	struct newest_create n = {.found = false};
	int rc = store_outbox_list(c, 0, inc->id, 0, 0, newest_create_cb, &n, NULL, e);
	if (rc)
		return rc;
	if (n.found && n.row.status == OB_DEAD && !inc->issue_ref) {
		/* Asked again after it died: the same row goes again (a new one would wait
		 * behind the dead one forever). */
		n.row.status = OB_PENDING;
		n.row.attempts = 0;
		n.row.next_attempt_at = n.row.updated_at = time_now_ms();
		if ((rc = store_outbox_update(c, &n.row, e))) {
			outbox_row_clear(&n.row);
			return rc;
		}
		*queued = true;
	}
	if (n.found || inc->issue_ref) {
		if (out)
			*out = n.row; /* zeroed when the issue came without a row */
		else
			outbox_row_clear(&n.row);
		return 0;
	}
	enum config_provider p = CONFIG_PROVIDER_NONE;
	if ((rc = settings_tracker_provider(c, cfg, &p, e)))
		return rc;
	if (p == CONFIG_PROVIDER_NONE)
		return err_set(e, ERR_CONFLICT,
			       "no tracker is configured (tracker.provider is none)");
	char target[80], key[64];
	snprintf(target, sizeof target, "tracker:%s", provider_names[p]);
	snprintf(key, sizeof key, "create:%lld", (long long)inc->id);
	*queued = true;
	return queue(c, inc->id, target, OB_CREATE_ISSUE,
		     jpack("{sI}", "incident_id", (json_int_t)inc->id), key, out, e);
}

/* Render a comment from a fixed template; values are neutralised as in issue bodies
 * (no mentions, no HTML comments), so text typed into intervene cannot ping people or
 * hide parts of the tracker's comment. */
static char *render(const char *tmpl, json_t *ctx)
{
	struct buf b = BUF_INIT;
	struct mustache_opts o = {.escape = MUSTACHE_ESCAPE_MARKDOWN};
	struct err e;
	err_clear(&e);
	if (mustache_render(tmpl, strlen(tmpl), ctx, &o, &b, &e)) {
		/* fixed templates over short values: a failure is a bug */
		log_error("cannot render a tracker comment", "error=\"%s\"", e.msg);
		abort();
	}
	json_decref(ctx);
	return buf_steal(&b);
}

static int queue_comment(struct store_conn *c, const struct incident *inc, const char *target,
			 const char *body, const char *key, struct err *e)
{
	return queue(c, inc->id, target, OB_COMMENT, jpack("{ss}", "body", body), key, NULL, e);
}

static const char *const verb_words[VERB_COUNT] = {
	[VERB_ACKNOWLEDGE] = "Acknowledged", [VERB_MITIGATE] = "Mitigated",
	[VERB_RESOLVE] = "Resolved",	     [VERB_CLOSE] = "Closed",
	[VERB_REOPEN] = "Reopened",
};

int outbox_incident_transition(struct store_conn *c, const struct config *cfg,
			       const struct incident *inc, enum verb v, const char *actor,
			       const char *notes, struct err *e)
{
	char target[80];
	int rc = issue_target(c, inc, target, e);
	if (rc || !*target)
		return rc;
	char key[96];
	if (cfg->tracker.sync.comment_on_transition) {
		char *body = render("**{{verb}}** by {{actor}} in intervene "
				    "(status: {{status}}).{{#notes}}\n\n{{notes}}{{/notes}}",
				    jpack("{ss ss ss ss?}", "verb", verb_words[v], "actor", actor,
					  "status", incident_status_name(inc->status), "notes",
					  notes && *notes ? notes : NULL));
		snprintf(key, sizeof key, "comment:%lld:%s:%lld", (long long)inc->id,
			 policy_verb_name(v), (long long)inc->updated_at);
		rc = queue_comment(c, inc, target, body, key, e);
		free(body);
		if (rc)
			return rc;
	}
	bool close =
		(cfg->tracker.sync.close_on == CONFIG_CLOSE_ON_RESOLVED &&
		 inc->status == ST_RESOLVED) ||
		(cfg->tracker.sync.close_on == CONFIG_CLOSE_ON_CLOSED && inc->status == ST_CLOSED);
	if (!close)
		return 0;
	snprintf(key, sizeof key, "close:%lld:%lld", (long long)inc->id,
		 (long long)inc->updated_at);
	return queue(c, inc->id, target, OB_CLOSE_ISSUE,
		     jpack("{ss}", "status", incident_status_name(inc->status)), key, NULL, e);
}

int outbox_incident_comment(struct store_conn *c, const struct config *cfg,
			    const struct incident *inc, const struct comment *cm, struct err *e)
{
	(void)cfg;
	char target[80];
	int rc = issue_target(c, inc, target, e);
	if (rc || !*target)
		return rc;
	char *body = render("**{{author}}** commented in intervene:\n\n{{body}}",
			    jpack("{ss ss}", "author", cm->author, "body", cm->body));
	char key[64];
	snprintf(key, sizeof key, "comment:%lld:c%lld", (long long)inc->id, (long long)cm->id);
	rc = queue_comment(c, inc, target, body, key, e);
	free(body);
	return rc;
}

/* ---- webhooks ---- */

const char *outbox_pagerduty_action(const char *type, const char *change_type)
{
	if (!type)
		return NULL;
	if (!strcmp(type, "incident_created"))
		return "trigger";
	if (strcmp(type, "incident_updated") || !change_type)
		return NULL;
	if (!strcmp(change_type, "acknowledged"))
		return "acknowledge";
	if (!strcmp(change_type, "resolved") || !strcmp(change_type, "closed"))
		return "resolve";
	return NULL;
}

bool outbox_webhook_wants(const struct config_webhook *w, const char *type, const char *change_type,
			  int severity)
{
	if (!w || !type)
		return false;
	bool listed = false;
	for (size_t i = 0; i < w->n_events && !listed; i++)
		listed = !strcmp(w->events[i], type);
	if (!listed)
		return false;
	/* min_severity sev2 means sev1 and sev2: a lower number is more severe. An event
	 * about no incident (a token, a setting) has no severity and goes where listed. */
	int min = w->min_severity >= 1 && w->min_severity <= 4 ? w->min_severity : 4;
	if (severity >= 1 && severity > min)
		return false;
	if (w->format == CONFIG_WEBHOOK_PAGERDUTY && !outbox_pagerduty_action(type, change_type))
		return false;
	return true;
}

int outbox_event_append(struct store_conn *c, const struct config *cfg, const char *type,
			const char *actor, json_t *data, struct err *e)
{
	if (!cfg || !cfg->notify.n_webhooks)
		return event_append(c, type, 0, actor, data, NULL, e);
	struct event ev;
	int rc = event_append_row(c, type, 0, actor, data, &ev, e);
	if (rc)
		return rc;
	rc = outbox_incident_event(c, cfg, &ev, NULL, NULL, e);
	event_clear(&ev);
	return rc;
}

int outbox_incident_event(struct store_conn *c, const struct config *cfg, const struct event *ev,
			  const char *change_type, const struct incident *inc, struct err *e)
{
	json_t *event = NULL, *incident = NULL;
	int rc = 0;
	for (size_t i = 0; i < cfg->notify.n_webhooks && !rc; i++) {
		const struct config_webhook *w = &cfg->notify.webhooks[i];
		if (!outbox_webhook_wants(w, ev->type, change_type, inc ? inc->severity : 0))
			continue;
		if (!event) {
			if (!(event = event_to_json(ev, e)))
				return ERR_IO;
			if (inc && (rc = incident_load_json(c, cfg, inc->id, &incident, e)))
				break;
		}
		char target[96], key[128];
		snprintf(target, sizeof target, "webhook:%s", w->name);
		snprintf(key, sizeof key, "event:%lld:%s", (long long)ev->id, w->name);
		rc = queue(c, inc ? inc->id : 0, target, OB_NOTIFY,
			   jpack("{sO sO*}", "event", event, "incident", incident), key, NULL, e);
	}
	json_decref(event);
	json_decref(incident);
	return rc;
}
