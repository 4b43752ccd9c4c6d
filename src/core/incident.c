#include "core/incident.h"

#include <stdlib.h>
#include <string.h>

#include "core/event.h"
#include "core/outbox.h"
#include "util/json.h"
#include "util/time.h"
#include "util/validate.h"

const char *incident_severity_name(int sev)
{
	static const char *const names[] = {"sev3", "sev1", "sev2", "sev3", "sev4"};
	return sev >= 1 && sev <= 4 ? names[sev] : "sev3";
}

json_t *incident_lean_json(const struct config *cfg, const struct incident *inc, int64_t now)
{
	json_t *o = json_object();
	json_object_set_new(o, "id", json_integer(inc->id));
	json_object_set_new(o, "kind", jstr(inc->kind));
	json_object_set_new(o, "key", jstr(inc->key));
	json_object_set_new(o, "severity", jstr(incident_severity_name(inc->severity)));
	json_object_set_new(o, "status", jstr(incident_status_name(inc->status)));
	json_object_set_new(o, "summary", jstr(inc->summary));
	json_object_set_new(o, "assigned_to", json_str_or_null(inc->assigned_to));
	json_object_set_new(o, "occurrences", json_integer(inc->occurrences));
	json_object_set_new(o, "created_at", json_time_or_null(inc->created_at));
	json_object_set_new(o, "updated_at", json_time_or_null(inc->updated_at));
	json_object_set_new(o, "issue_url", json_str_or_null(inc->issue_url));
	json_object_set_new(o, "sla", policy_sla_json(cfg, inc, now));
	return o;
}

json_t *incident_to_json(const struct config *cfg, const struct incident *inc, int64_t now,
			 int64_t comments_count)
{
	json_t *o = incident_lean_json(cfg, inc, now);
	json_object_set(o, "details", inc->details ? inc->details : json_object());
	json_object_set_new(o, "source", json_str_or_null(inc->source));
	json_object_set(o, "playbooks", inc->playbooks);
	json_object_set_new(o, "parent_id",
			    inc->parent_id ? json_integer(inc->parent_id) : json_null());
	json_object_set_new(o, "issue_ref",
			    inc->issue_ref ? json_incref(inc->issue_ref) : json_null());
	json_object_set_new(o, "last_seen_at", json_time_or_null(inc->last_seen_at));
	json_object_set_new(o, "acknowledged_at", json_time_or_null(inc->acknowledged_at));
	json_object_set_new(o, "acknowledged_by", json_str_or_null(inc->acknowledged_by));
	json_object_set_new(o, "mitigated_at", json_time_or_null(inc->mitigated_at));
	json_object_set_new(o, "mitigated_by", json_str_or_null(inc->mitigated_by));
	json_object_set_new(o, "resolved_at", json_time_or_null(inc->resolved_at));
	json_object_set_new(o, "resolved_by", json_str_or_null(inc->resolved_by));
	json_object_set_new(o, "closed_at", json_time_or_null(inc->closed_at));
	json_object_set_new(o, "closed_by", json_str_or_null(inc->closed_by));
	json_object_set_new(o, "reopened_at", json_time_or_null(inc->reopened_at));
	json_object_set(o, "notes", inc->notes);
	json_object_set(o, "metadata", inc->metadata);
	json_object_set_new(o, "available_transitions", policy_available_transitions(inc->status));
	json_object_set_new(o, "comments_count", json_integer(comments_count));
	return o;
}

static int count_cb(const struct comment *cm, void *arg)
{
	(void)cm;
	(void)arg;
	return 1;
}

static int comments_count(struct store_conn *c, int64_t id, int64_t *n, struct err *e)
{
	return store_comment_list(c, id, 0, 0, count_cb, NULL, n, e);
}

int incident_load_json(struct store_conn *c, const struct config *cfg, int64_t id, json_t **out,
		       struct err *e)
{
	struct incident inc;
	int rc = store_incident_get(c, id, &inc, e);
	if (rc)
		return rc;
	int64_t n = 0;
	json_t *delivery = NULL;
	rc = comments_count(c, id, &n, e);
	if (!rc)
		rc = incident_delivery_json(c, id, &delivery, e);
	if (!rc) {
		*out = incident_to_json(cfg, &inc, time_now_ms(), n);
		json_object_set_new(*out, "delivery", delivery);
	}
	incident_clear(&inc);
	return rc;
}

int incident_delivery_json(struct store_conn *c, int64_t id, json_t **out, struct err *e)
{
	struct outbox_incident oi;
	int rc = store_outbox_incident(c, id, &oi, e);
	if (rc)
		return rc;
	/* The state that needs a person first: dead, then in doubt, then waiting. */
	const char *state = oi.count[OB_DEAD]	     ? "dead"
			    : oi.count[OB_UNCERTAIN] ? "uncertain"
			    : oi.count[OB_PENDING]   ? "pending"
			    : oi.count[OB_DONE]	     ? "delivered"
						     : "none";
	*out = jpack("{ss sI sI sI sI so}", "state", state, "pending",
		     (json_int_t)oi.count[OB_PENDING], "uncertain",
		     (json_int_t)oi.count[OB_UNCERTAIN], "dead", (json_int_t)oi.count[OB_DEAD],
		     "delivered", (json_int_t)oi.count[OB_DONE], "last_error",
		     *oi.last_error ? jstr(oi.last_error) : json_null());
	return 0;
}

/* Change times never go backwards, even if the wall clock does. */
static int64_t change_time(const struct incident *inc)
{
	int64_t now = time_now_ms();
	return now > inc->updated_at ? now : inc->updated_at;
}

int incident_record_update(struct store_conn *c, const struct config *cfg,
			   const struct incident *inc, const char *change_type, const char *actor,
			   json_t *extra, struct err *e)
{
	int64_t n = 0;
	int rc = comments_count(c, inc->id, &n, e);
	if (rc) {
		json_decref(extra);
		return rc;
	}
	json_t *data = extra ? extra : json_object();
	json_object_set_new(data, "incident", incident_to_json(cfg, inc, time_now_ms(), n));
	json_object_set_new(data, "change_type", jstr(change_type));
	return incident_event(c, cfg, "incident_updated", inc, change_type, actor, data, e);
}

int incident_event(struct store_conn *c, const struct config *cfg, const char *type,
		   const struct incident *inc, const char *change_type, const char *actor,
		   json_t *data, struct err *e)
{
	if (!cfg->notify.n_webhooks)
		return event_append(c, type, inc->id, actor, data, NULL, e);
	struct event ev;
	int rc = event_append_row(c, type, inc->id, actor, data, &ev, e);
	if (rc)
		return rc;
	rc = outbox_incident_event(c, cfg, &ev, change_type, inc, e);
	event_clear(&ev);
	return rc;
}

static void add_note(struct incident *inc, const char *verb, const char *text, const char *actor,
		     int64_t at)
{
	json_t *list = json_object_get(inc->notes, verb);
	if (!json_is_array(list)) {
		list = json_array();
		json_object_set_new(inc->notes, verb, list);
	}
	json_array_append_new(
		list, jpack("{so ss ss}", "at", json_time_or_null(at), "by", actor, "text", text));
}

static void set_str(char **dst, const char *v)
{
	free(*dst);
	*dst = v && *v ? xstrdup(v) : NULL;
}

/* The conflict of a key held by another active incident: ERR_CONFLICT naming it
 * (e->incident_id), 0 when no other incident holds the key, or the storage error of
 * looking for it (never reported as a conflict). */
static int key_conflict(struct store_conn *c, const struct incident *inc, struct err *e)
{
	struct incident other;
	struct err fe;
	err_clear(&fe);
	int rc = store_incident_find_active(c, inc->kind, inc->key, &other, &fe);
	if (rc == ERR_NOTFOUND)
		return 0;
	if (rc) {
		if (e)
			*e = fe;
		return rc;
	}
	err_set(e, ERR_CONFLICT, "incident %lld with key %s is already active", (long long)other.id,
		inc->key);
	if (e)
		e->incident_id = other.id;
	incident_clear(&other);
	return ERR_CONFLICT;
}

int incident_transition(struct store_conn *c, const struct config *cfg, int64_t id, enum verb v,
			const char *actor, const char *notes, const char *assigned_to,
			struct incident *out, struct err *e)
{
	int rc = store_incident_get(c, id, out, e);
	if (rc)
		return rc;
	if (!policy_transition_allowed(out->status, v)) {
		rc = err_set(e, ERR_CONFLICT, "cannot %s incident %lld: it is %s",
			     policy_verb_name(v), (long long)id, incident_status_name(out->status));
		goto fail;
	}
	if (v == VERB_REOPEN && (rc = key_conflict(c, out, e)))
		goto fail;
	int64_t now = change_time(out);
	out->status = policy_verb_target(v);
	out->updated_at = now;
	switch (v) {
	case VERB_ACKNOWLEDGE:
		out->acknowledged_at = now;
		set_str(&out->acknowledged_by, actor);
		break;
	case VERB_MITIGATE:
		out->mitigated_at = now;
		set_str(&out->mitigated_by, actor);
		break;
	case VERB_RESOLVE:
		out->resolved_at = now;
		set_str(&out->resolved_by, actor);
		break;
	case VERB_CLOSE:
		out->closed_at = now;
		set_str(&out->closed_by, actor);
		break;
	case VERB_REOPEN: out->reopened_at = now; break;
	default: break;
	}
	if (notes && *notes)
		add_note(out, policy_verb_name(v), notes, actor, now);
	if (assigned_to)
		set_str(&out->assigned_to, assigned_to);
	if ((rc = store_incident_update(c, out, e))) {
		int k = rc == ERR_CONFLICT ? key_conflict(c, out, e) : 0;
		if (k)
			rc = k;
		goto fail;
	}
	json_t *extra = NULL;
	if (notes && *notes)
		extra = jpack("{ss}", "notes", notes);
	if ((rc = incident_record_update(c, cfg, out, policy_verb_change_type(v), actor, extra, e)))
		goto fail;
	if ((rc = outbox_incident_transition(c, cfg, out, v, actor, notes, e)))
		goto fail;
	return 0;
fail:
	incident_clear(out);
	return rc;
}

int incident_create(struct store_conn *c, const struct config *cfg, struct incident *inc,
		    const char *actor, struct err *e)
{
	int64_t now = time_now_ms();
	inc->status = ST_OPEN;
	inc->occurrences = 1;
	inc->created_at = inc->updated_at = inc->last_seen_at = now;
	if (!inc->details)
		inc->details = json_object();
	if (!inc->playbooks)
		inc->playbooks = json_array();
	if (!inc->notes)
		inc->notes = json_object();
	if (!inc->metadata)
		inc->metadata = json_object();
	int rc = store_incident_insert(c, inc, e);
	if (rc == ERR_CONFLICT) {
		int k = key_conflict(c, inc, e);
		if (k)
			rc = k;
	}
	if (rc)
		return rc;
	if ((rc = incident_event(c, cfg, "incident_created", inc, NULL, actor,
				 incident_to_json(cfg, inc, now, 0), e)))
		return rc;
	return outbox_incident_created(c, cfg, inc, e);
}

int incident_assign(struct store_conn *c, const struct config *cfg, int64_t id,
		    const char *assigned_to, const char *actor, struct incident *out, struct err *e)
{
	int rc = store_incident_get(c, id, out, e);
	if (rc)
		return rc;
	set_str(&out->assigned_to, assigned_to);
	out->updated_at = change_time(out);
	if (!(rc = store_incident_update(c, out, e)))
		rc = incident_record_update(c, cfg, out, "assigned", actor, NULL, e);
	if (rc)
		incident_clear(out);
	return rc;
}

static bool same_str(const char *a, const char *b)
{
	return !strcmp(a ? a : "", b ? b : "");
}

int incident_patch(struct store_conn *c, const struct config *cfg, int64_t id, const json_t *patch,
		   const char *actor, struct incident *out, struct err *e)
{
	int rc = store_incident_get(c, id, out, e);
	if (rc)
		return rc;
	const char *s;
	const json_t *v;
	json_t *fields = json_array(); /* the fields whose value really changed */
	int old_sev = out->severity;
	if ((s = json_get_str(patch, "severity")) && policy_parse_severity(s) != out->severity) {
		if (!json_get_str(patch, "reason")) {
			rc = err_field(e, ERR_INVALID, "reason",
				       "reason is required when changing severity");
			goto fail;
		}
		out->severity = policy_parse_severity(s);
		json_array_append_new(fields, jstr("severity"));
	}
	if ((s = json_get_str(patch, "summary"))) {
		char *t = str_trim_dup(s);
		if (strcmp(t, out->summary)) {
			free(out->summary);
			out->summary = t;
			json_array_append_new(fields, jstr("summary"));
		} else {
			free(t);
		}
	}
	if ((v = json_object_get(patch, "assigned_to"))) {
		const char *nv = json_is_string(v) ? json_string_value(v) : NULL;
		if (!same_str(nv, out->assigned_to)) {
			set_str(&out->assigned_to, nv);
			json_array_append_new(fields, jstr("assigned_to"));
		}
	}
	if ((v = json_object_get(patch, "playbooks")) && json_is_array(v) &&
	    !json_equal(v, out->playbooks)) {
		json_decref(out->playbooks);
		out->playbooks = json_deep_copy(v);
		json_array_append_new(fields, jstr("playbooks"));
	}
	if ((v = json_object_get(patch, "metadata")) && json_is_object(v)) {
		/* Shallow merge; a null value removes the key. */
		json_t *merged = json_deep_copy(out->metadata);
		const char *k;
		json_t *mv;
		json_object_foreach((json_t *)v, k, mv)
		{
			if (json_is_null(mv))
				json_object_del(merged, k);
			else
				json_object_set_new(merged, k, json_deep_copy(mv));
		}
		/* Each PATCH is bounded, so the merge must be too: otherwise a few
		 * requests grow one incident without limit. */
		struct json_bounds b = {.max_bytes = INCIDENT_METADATA_MAX_BYTES,
					.max_keys = INCIDENT_METADATA_MAX_KEYS,
					.max_depth = VALIDATE_OBJECT_DEPTH};
		if ((rc = json_check_bounds(merged, &b, "metadata", e))) {
			json_decref(merged);
			goto fail;
		}
		if (!json_equal(merged, out->metadata)) {
			json_decref(out->metadata);
			out->metadata = merged;
			json_array_append_new(fields, jstr("metadata"));
		} else {
			json_decref(merged);
		}
	}
	if (json_array_size(fields) == 0) {
		/* Nothing changed: no write, no event, no noise in the timeline. */
		json_decref(fields);
		return 0;
	}
	out->updated_at = change_time(out);
	if ((rc = store_incident_update(c, out, e)))
		goto fail;
	bool sev_changed = out->severity != old_sev;
	json_t *extra = json_object();
	if (sev_changed) {
		json_object_set_new(extra, "previous_severity",
				    jstr(incident_severity_name(old_sev)));
		json_object_set_new(extra, "reason", jstr(json_get_str(patch, "reason")));
	}
	json_object_set_new(extra, "changed_fields", fields);
	fields = NULL;
	rc = incident_record_update(c, cfg, out, sev_changed ? "severity_changed" : "updated",
				    actor, extra, e);
	if (rc)
		goto fail;
	return 0;
fail:
	json_decref(fields);
	incident_clear(out);
	return rc;
}

json_t *incident_comment_json(const struct comment *cm)
{
	return jpack("{sI sI ss ss so}", "id", (json_int_t)cm->id, "incident_id",
		     (json_int_t)cm->incident_id, "author", cm->author, "body", cm->body,
		     "created_at", json_time_or_null(cm->created_at));
}

int incident_comment(struct store_conn *c, const struct config *cfg, int64_t id, const char *author,
		     const char *body, struct comment *out, struct err *e)
{
	struct incident inc;
	int rc = store_incident_get(c, id, &inc, e);
	if (rc)
		return rc;
	memset(out, 0, sizeof *out);
	out->incident_id = id;
	out->author = xstrdup(author);
	out->body = xstrdup(body);
	out->created_at = time_now_ms();
	inc.updated_at = change_time(&inc);
	if (!(rc = store_comment_insert(c, out, e)) && !(rc = store_incident_update(c, &inc, e))) {
		json_t *extra = jpack("{so}", "comment", incident_comment_json(out));
		rc = incident_record_update(c, cfg, &inc, "commented", author, extra, e);
		if (!rc)
			rc = outbox_incident_comment(c, cfg, &inc, out, e);
	}
	incident_clear(&inc);
	if (rc)
		comment_clear(out);
	return rc;
}
