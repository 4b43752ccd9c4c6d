/* webhook.h — notifications to paging and chat tools (SPEC §8.2, notify.webhooks).
 *
 * The core (core/outbox.h) queues one `notify` row per webhook that wants an
 * event, in the transaction that records the event; its payload is
 *
 *     {"event": <the event as GET /api/events shows it>,
 *      "incident": <the incident as GET /api/incidents/{id} shows it, at that moment>}
 *
 * and the webhook's delivery thread (tracker/delivery.h) turns it into the request of
 * the webhook's format:
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

/* Which webhooks want which events is decided when rows are queued:
 * outbox_webhook_wants (core/outbox.h). */

struct webhook_request {
	char *url;
	struct buf body;
	struct http_header headers[8];
	size_t n_headers;
	char *owned[8]; /* header values this request owns */
};

/* The request for delivery delivery_id (the outbox id) of payload (the row's JSON,
 * borrowed) to w. cfg supplies tracker.templates_dir and server.public_url.
 *
 * out->url is w->url (pagerduty without one: PagerDuty's endpoint); out->body the
 * canonical JSON text (util/json.h) of: json — the event; slack — {"text"} from
 * slack_message; pagerduty — the Events API v2 event (docs/webhooks.md shows each).
 * out->headers: Content-Type: application/json, X-Intervene-Event (the event type),
 * X-Intervene-Delivery (delivery_id in decimal) and, for json with a non-empty
 * secret, X-Intervene-Signature: sha256=<hex HMAC-SHA256 of exactly out->body>.
 *
 * The incident is payload.incident, else the one the event carries. Slack text values
 * are escaped for Slack (&, <, > as entities; U+200B after an '@' that starts a word
 * and inside "](") so incident text cannot mention anyone or make links.
 *
 * Returns 0 (clear out with webhook_request_clear), or: ERR_INVALID (no event type;
 * pagerduty for an event it has no action for, without the incident's key and id, or
 * without routing_key; a url missing for json or slack; Slack text that renders
 * empty), the template loader's and renderer's errors (ERR_NOTFOUND, ERR_IO,
 * ERR_TOOLARGE, ERR_INVALID naming the template and line) — out is then empty. */
int webhook_build(const struct config *cfg, const struct config_webhook *w, int64_t delivery_id,
		  const json_t *payload, struct webhook_request *out, struct err *e);
void webhook_request_clear(struct webhook_request *rq);

/* Send rq (POST, connect timeout 5 s, total 30 s, response capped at 1 MiB) and
 * classify the answer as trackers do (tracker_classify): 2xx done; no response, 5xx,
 * 408, 423, 425, 429 retry; other 4xx failed, with the receiver's error text. A URL
 * the client refuses is failed. Error texts name the URL's scheme and host only
 * (Slack keeps its webhook secret in the path), with any user:password masked. */
void webhook_send(const struct webhook_request *rq, struct tracker_result *r);

/* Check the template slack_message (templates_dir's override, else the built-in) for
 * Mustache syntax, without rendering it, for a check at start or in `config check`.
 * Returns 0, or the loader's error, or ERR_INVALID "<origin>: line L, column C: ...". */
int webhook_template_check(const char *templates_dir, struct err *e);

#endif
