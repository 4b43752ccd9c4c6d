/* outbox.h — what the outbox must deliver, queued in the transaction of the change
 * that asks for it (SPEC §8.2: a change and its outbound calls commit together, and
 * nothing is sent from inside a request or a transaction).
 *
 * The core calls these from its changing functions, on the writer (or a local
 * command's own write transaction); tracker/delivery.h delivers the rows. Rows:
 *
 *   create_issue  when an incident is created and a tracker provider is in effect
 *                 (the `tracker` setting, else the config), target tracker:<provider>;
 *                 payload {"incident_id"}: the issue is rendered when it is sent;
 *   comment       on a transition (tracker.sync.comment_on_transition) and on every
 *                 incident comment, payload {"body": Markdown};
 *   close_issue   when the incident reaches tracker.sync.close_on, payload {"status"};
 *   notify        for every webhook that wants an incident event (tracker/webhook.h),
 *                 target webhook:<name>, payload {"event", "incident"}.
 *
 * Comments and closes go to the incident's issue: the provider of its issue_ref, or
 * of its create row while that is still being delivered — so they follow the issue
 * even after the provider setting changes; an incident without either gets none.
 * Errors: storage errors. */
#ifndef INTERVENE_CORE_OUTBOX_H
#define INTERVENE_CORE_OUTBOX_H

#include <stdbool.h>

#include "config/config.h"
#include "core/model.h"
#include "core/policy.h"
#include "store/store.h"

/* Attempts before a row is dead (1 s doubling to 10 min between them). */
#define OUTBOX_MAX_ATTEMPTS 12

/* Queue the tracker's create_issue for the incident just created (nothing when no
 * provider is in effect). */
int outbox_incident_created(struct store_conn *c, const struct config *cfg,
			    const struct incident *inc, struct err *e);

/* Queue create_issue on request (POST /api/incidents/{id}/issue): *out (may be NULL)
 * gets the row — the existing one when the incident has an issue or a create row that
 * is not dead (then *queued is false), else the new one. ERR_CONFLICT when no tracker
 * provider is in effect. */
int outbox_request_issue(struct store_conn *c, const struct config *cfg, const struct incident *inc,
			 struct outbox_row *out, bool *queued, struct err *e);

/* After verb took inc to its new status by actor (notes may be NULL): a comment and,
 * at tracker.sync.close_on, a close. */
int outbox_incident_transition(struct store_conn *c, const struct config *cfg,
			       const struct incident *inc, enum verb v, const char *actor,
			       const char *notes, struct err *e);

/* After a comment by author on inc: the same comment on its issue. */
int outbox_incident_comment(struct store_conn *c, const struct config *cfg,
			    const struct incident *inc, const struct comment *cm, struct err *e);

/* What PagerDuty is told about an event of type (change_type for incident_updated):
 * "trigger" (incident_created), "acknowledge" (acknowledged), "resolve" (resolved,
 * closed), or NULL when it has nothing to act on. */
const char *outbox_pagerduty_action(const char *type, const char *change_type);

/* Whether webhook w wants an event of type (change_type for incident_updated, else
 * NULL) about an incident of severity (1..4, 0 = none): type listed in its events, the
 * severity at or above its min_severity (an event about no incident passes), and — for pagerduty — an event it can act on
 * (created → trigger, acknowledged → acknowledge, resolved or closed → resolve). */
bool outbox_webhook_wants(const struct config_webhook *w, const char *type, const char *change_type,
			  int severity);

/* Append an event about no incident (a token, a silence, a suppressed signal, a
 * setting: incident_id 0) and queue a notify row for each webhook of cfg that wants
 * it. cfg NULL: no notification (tests, tools). data is stolen. */
int outbox_event_append(struct store_conn *c, const struct config *cfg, const char *type,
			const char *actor, json_t *data, struct err *e);

/* After event ev about inc was appended (change_type for incident_updated, else
 * NULL): a notify row for each webhook that wants it. */
int outbox_incident_event(struct store_conn *c, const struct config *cfg, const struct event *ev,
			  const char *change_type, const struct incident *inc, struct err *e);

#endif
