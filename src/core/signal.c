#include "core/signal.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "core/event.h"
#include "core/incident.h"
#include "core/outbox.h"
#include "core/policy.h"
#include "core/silence.h"
#include "util/json.h"
#include "util/time.h"
#include "util/validate.h"

static const char *const outcome_names[OUT_COUNT] = {"created",	     "deduplicated", "silenced",
						     "rate_limited", "resolved",     "no_incident"};

const char *signal_outcome_name(enum signal_outcome o)
{
	return outcome_names[o];
}

static const char *const kinds[] = {"invariant", "budget", "planner", "manual", "alert", NULL};
static const char *const actions[] = {"trigger", "resolve", NULL};
static const char *const severities[] = {"sev1", "sev2", "sev3", "sev4", NULL};

static const struct vfield signal_fields[] = {
	{"kind", V_STRING, true, false, 0, 0, kinds},
	{"key", V_STRING, false, true, 1, 512, NULL},
	{"summary", V_STRING, true, false, 0, 0, NULL},
	{"severity", V_STRING, false, true, 0, 0, severities},
	{"priority", V_STRING, false, true, 1, 32, NULL},
	{"details", V_OBJECT, false, true, 0, INCIDENT_DETAILS_MAX_BYTES, NULL},
	{"playbooks", V_STRING_ARRAY, false, true, 0, 32, NULL},
	{"source", V_STRING, false, true, 1, 64, NULL},
	{"action", V_STRING, false, true, 0, 0, actions},
	{NULL, 0, false, false, 0, 0, NULL},
};

char *signal_manual_key(void)
{
	unsigned char u[16];
	randombytes_buf(u, sizeof u);
	u[6] = (unsigned char)((u[6] & 0x0f) | 0x40);
	u[8] = (unsigned char)((u[8] & 0x3f) | 0x80);
	char *k = xmalloc(7 + 36 + 1);
	snprintf(k, 44,
		 "manual:%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
		 u[0], u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12],
		 u[13], u[14], u[15]);
	return k;
}

void signal_clear(struct signal *s)
{
	free(s->kind);
	free(s->key);
	free(s->summary);
	free(s->source);
	json_decref(s->details);
	json_decref(s->playbooks);
	memset(s, 0, sizeof *s);
}

int signal_parse(const struct config *cfg, const json_t *obj, struct signal *out, struct err *e)
{
	memset(out, 0, sizeof *out);
	int rc = validate_object(obj, signal_fields, "", e);
	if (rc)
		return rc;
	const char *kind = json_get_str(obj, "kind");
	const char *key = json_get_str(obj, "key");
	const char *sev = json_get_str(obj, "severity");
	const char *prio = json_get_str(obj, "priority");
	const char *action = json_get_str(obj, "action");
	out->resolve = action && !strcmp(action, "resolve");
	out->summary = str_trim_dup(json_get_str(obj, "summary"));
	size_t n = utf8_length(out->summary);
	if (n < 1 || n > 256) {
		rc = err_field(e, ERR_INVALID, "summary",
			       "summary must be 1 to 256 characters after trimming");
		goto fail;
	}
	if (sev && prio) {
		rc = err_field(e, ERR_INVALID, "priority", "give severity or priority, not both");
		goto fail;
	}
	out->severity = 3;
	if (sev)
		out->severity = policy_parse_severity(sev);
	if (prio && !(out->severity = policy_priority_severity(cfg, prio))) {
		rc = err_field(e, ERR_INVALID, "priority",
			       "priority must be a policy.severity word (critical, high, medium, "
			       "low) or P0..P4");
		goto fail;
	}
	out->kind = xstrdup(kind);
	if (key && *key) {
		out->key = policy_make_key(kind, key);
	} else if (!strcmp(kind, "manual")) {
		if (out->resolve) {
			rc = err_field(e, ERR_INVALID, "key", "key is required to resolve");
			goto fail;
		}
		out->key = signal_manual_key();
	} else {
		rc = err_field(e, ERR_INVALID, "key", "key is required for kind %s", kind);
		goto fail;
	}
	const json_t *d = json_object_get(obj, "details");
	out->details = json_is_object(d) ? json_deep_copy(d) : json_object();
	const json_t *p = json_object_get(obj, "playbooks");
	out->playbooks = json_is_array(p) ? json_deep_copy(p) : json_array();
	const char *src = json_get_str(obj, "source");
	out->source = xstrdup(src ? src : "api");
	return 0;
fail:
	signal_clear(out);
	return rc;
}

static void format_window(int64_t ms, char *out, size_t n)
{
	static const struct {
		int64_t ms;
		const char *unit;
	} units[] = {{86400000, "d"}, {3600000, "h"}, {60000, "m"}, {1000, "s"}};
	for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
		if (ms >= units[i].ms && ms % units[i].ms == 0) {
			snprintf(out, n, "%lld%s", (long long)(ms / units[i].ms), units[i].unit);
			return;
		}
	snprintf(out, n, "%lldms", (long long)ms);
}

static json_t *signal_json(const struct signal *s)
{
	return jpack("{ss ss ss ss sO sO}", "summary", s->summary, "severity",
		     incident_severity_name(s->severity), "source", s->source, "key", s->key,
		     "details", s->details, "playbooks", s->playbooks);
}

int signal_ingest(struct store_conn *c, const struct config *cfg, const struct signal *s,
		  const char *actor, enum signal_outcome *outcome, int64_t *incident_id,
		  struct err *e)
{
	struct incident inc = {0};
	int64_t now = time_now_ms();
	*incident_id = 0;
	int rc = store_incident_find_active(c, s->kind, s->key, &inc, e);
	if (rc && rc != ERR_NOTFOUND)
		return rc;
	bool active = rc == 0;
	err_clear(e);
	rc = 0;

	if (s->resolve) {
		if (!active) {
			*outcome = OUT_NO_INCIDENT;
			/* Recorded as a suppression so the event vocabulary stays that of
			 * SPEC §6: the resolve had nothing to act on. */
			return outbox_event_append(c, cfg, "signal_suppressed", actor,
						   jpack("{ss ss ss ss}", "kind", s->kind, "key",
							 s->key, "reason", "no_incident", "source",
							 s->source),
						   e);
		}
		int64_t id = inc.id;
		incident_clear(&inc);
		/* A source resolves from any active state; the actor is the source. */
		rc = store_incident_get(c, id, &inc, e);
		if (rc)
			return rc;
		int64_t t = now > inc.updated_at ? now : inc.updated_at;
		inc.status = ST_RESOLVED;
		inc.resolved_at = t;
		inc.updated_at = t;
		free(inc.resolved_by);
		inc.resolved_by = xstrdup(s->source);
		if (!(rc = store_incident_update(c, &inc, e)))
			rc = incident_record_update(c, cfg, &inc, "resolved", s->source,
						    jpack("{so}", "signal", signal_json(s)), e);
		if (!rc)
			rc = outbox_incident_transition(c, cfg, &inc, VERB_RESOLVE, s->source, NULL,
							e);
		*outcome = OUT_RESOLVED;
		*incident_id = id;
		incident_clear(&inc);
		return rc;
	}

	if (active) {
		int sev = s->severity < inc.severity ? s->severity : inc.severity;
		int64_t occ = inc.occurrences + 1;
		int64_t seen = now > inc.last_seen_at ? now : inc.last_seen_at;
		rc = store_incident_touch(c, inc.id, occ, seen, sev, e);
		if (!rc) {
			json_t *data = jpack("{s{sI sI so ss} ss so}", "incident", "id",
					     (json_int_t)inc.id, "occurrences", (json_int_t)occ,
					     "last_seen_at", json_time_or_null(seen), "severity",
					     incident_severity_name(sev), "change_type",
					     "deduplicated", "signal", signal_json(s));
			inc.severity = sev;
			inc.occurrences = occ;
			inc.last_seen_at = seen;
			rc = incident_event(c, cfg, "incident_updated", &inc, "deduplicated", actor,
					    data, e);
		}
		*outcome = OUT_DEDUPLICATED;
		*incident_id = inc.id;
		incident_clear(&inc);
		return rc;
	}

	int64_t silence_id = 0;
	if ((rc = silence_find_match(c, s->kind, s->key, now, &silence_id, e)))
		return rc;
	if (silence_id) {
		*outcome = OUT_SILENCED;
		return outbox_event_append(c, cfg, "signal_suppressed", actor,
					   jpack("{ss ss ss sI ss}", "kind", s->kind, "key", s->key,
						 "reason", "silenced", "silence_id",
						 (json_int_t)silence_id, "summary", s->summary),
					   e);
	}

	int k = policy_kind_index(s->kind);
	int64_t window = cfg->policy.rate_limit_window_ms[k < 0 ? CONFIG_KIND_MANUAL : k];
	int64_t count = 0;
	if ((rc = store_incident_count_since(c, s->kind, s->key, now - window, &count, e)))
		return rc;
	if (count >= cfg->policy.rate_limit_max) {
		char w[32];
		format_window(window, w, sizeof w);
		*outcome = OUT_RATE_LIMITED;
		return outbox_event_append(c, cfg, "signal_suppressed", actor,
					   jpack("{ss ss ss ss sI ss}", "kind", s->kind, "key",
						 s->key, "reason", "rate_limited", "window", w,
						 "max", (json_int_t)cfg->policy.rate_limit_max,
						 "summary", s->summary),
					   e);
	}

	inc.kind = xstrdup(s->kind);
	inc.key = xstrdup(s->key);
	inc.severity = s->severity;
	inc.summary = xstrdup(s->summary);
	inc.details = json_incref(s->details);
	inc.playbooks = json_incref(s->playbooks);
	inc.source = xstrdup(s->source);
	rc = incident_create(c, cfg, &inc, actor, e);
	*outcome = OUT_CREATED;
	*incident_id = inc.id;
	incident_clear(&inc);
	return rc;
}
