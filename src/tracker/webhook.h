/* webhook.h — notifications to paging and chat tools (SPEC §8.2, notify.webhooks).
 *
 * The outbox (tracker/outbox.h) queues one `notify` row per webhook that wants an
 * event, in the transaction that records the event; its payload is
 *
 *     {"event": <the event as GET /api/events shows it>,
 *      "incident": <the incident as GET /api/incidents/{id} shows it, at that moment>}
 *
 * and the webhook's delivery thread turns it into the request of the webhook's format:
 *
 *   json       POST url, the event JSON as the body; headers X-Intervene-Event (type),
 *              X-Intervene-Delivery (the outbox id) and, with a secret,
 *              X-Intervene-Signature: sha256=<hex HMAC-SHA256 of the body>;
 *   slack      POST url {"text": ...} rendered from the template slack_message
 *              (built in, overridable from tracker.templates_dir like issue templates);
 *   pagerduty  POST url (default https://events.pagerduty.com/v2/enqueue), PagerDuty
 *              Events API v2: routing_key, dedup_key = the incident key, event_action
 *              trigger / acknowledge / resolve, payload {summary, severity
 *              critical|error|warning|info, source "intervene", custom_details}, links.
 *
 * Unsigned formats still carry X-Intervene-Delivery. Pure functions except
 * webhook_send (one blocking call, as tracker adapters make). Any thread. */
#ifndef INTERVENE_TRACKER_WEBHOOK_H
#define INTERVENE_TRACKER_WEBHOOK_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "config/config.h"
#include "tracker/tracker.h"
#include "util/buf.h"
#include "util/http_client.h"

/* Whether webhook w wants an event of type (with change_type for incident_updated,
 * else NULL) about an incident of severity (1..4; 0 = no incident): the type is in
 * its events list, the severity at or above min_severity, and its format has
 * something to send for it (pagerduty: only events that trigger, acknowledge or
 * resolve). */
bool webhook_wants(const struct config_webhook *w, const char *type, const char *change_type,
		   int severity);

struct webhook_request {
	char *url;
	struct buf body;
	struct http_header headers[8];
	size_t n_headers;
	char *owned[8]; /* header values this request owns */
};

/* The request for delivery delivery_id (the outbox id) of payload (the row's JSON,
 * borrowed) to w. cfg supplies tracker.templates_dir and server.public_url. Returns 0,
 * or ERR_INVALID (a payload without what the format needs) / the renderer's error. */
int webhook_build(const struct config *cfg, const struct config_webhook *w, int64_t delivery_id,
		  const json_t *payload, struct webhook_request *out, struct err *e);
void webhook_request_clear(struct webhook_request *rq);

/* Send rq and classify the answer as trackers do (tracker_classify). */
void webhook_send(const struct webhook_request *rq, struct tracker_result *r);

#endif
