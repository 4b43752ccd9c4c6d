#include "core/alertmanager.h"

#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/incident.h"
#include "util/buf.h"
#include "util/json.h"
#include "util/validate.h"

static const char *const versions[] = {"4", NULL};
static const char *const statuses[] = {"firing", "resolved", NULL};

/* Every field of Alertmanager's webhook message (notify/webhook and template.Data of
 * Alertmanager 0.25); each is sent by every version that has it, so only those this
 * receiver cannot work without are required. Go marshals an empty map as {} but a nil
 * one as null, so maps are nullable. */
static const struct vfield payload_fields[] = {
	{"version", V_STRING, true, false, 0, 0, versions},
	{"groupKey", V_STRING, false, true, 0, 0, NULL},
	{"truncatedAlerts", V_INT, false, true, 0, INT64_MAX, NULL},
	{"status", V_STRING, false, true, 0, 0, statuses},
	{"receiver", V_STRING, false, true, 0, 0, NULL},
	{"groupLabels", V_OBJECT, false, true, 0, 0, NULL},
	{"commonLabels", V_OBJECT, false, true, 0, 0, NULL},
	{"commonAnnotations", V_OBJECT, false, true, 0, 0, NULL},
	{"externalURL", V_STRING, false, true, 0, 0, NULL},
	{"alerts", V_ANY, true, false, 0, 0, NULL},
	{NULL, 0, false, false, 0, 0, NULL},
};

static const struct vfield alert_fields[] = {
	{"status", V_STRING, true, false, 0, 0, statuses},
	{"labels", V_OBJECT, true, false, 0, 0, NULL},
	{"annotations", V_OBJECT, false, true, 0, 0, NULL},
	{"startsAt", V_TIME, false, true, 0, 0, NULL},
	{"endsAt", V_TIME, false, true, 0, 0, NULL},
	{"generatorURL", V_STRING, false, true, 0, 0, NULL},
	{"fingerprint", V_STRING, true, false, 0, 0, NULL},
	{NULL, 0, false, false, 0, 0, NULL},
};

int alertmanager_severity(const char *label)
{
	static const struct {
		const char *word;
		int sev;
	} map[] = {{"critical", 1}, {"page", 1}, {"error", 2}, {"high", 2},
		   {"warning", 3},  {"info", 4}, {"none", 4}};
	for (size_t i = 0; label && i < sizeof map / sizeof map[0]; i++)
		if (!strcasecmp(label, map[i].word))
			return map[i].sev;
	return 3;
}

/* s trimmed and cut to max characters (valid UTF-8 in, valid UTF-8 out); malloc'd. */
static char *trim_cut(const char *s, size_t max)
{
	char *t = str_trim_dup(s);
	size_t chars = 0, i = 0;
	for (; t[i]; i++)
		if (((unsigned char)t[i] & 0xC0) != 0x80 && ++chars > max)
			break;
	t[i] = '\0';
	while (i && isspace((unsigned char)t[i - 1]))
		t[--i] = '\0';
	return t;
}

char *alertmanager_summary(const json_t *annotations, const char *alertname)
{
	const char *from[] = {json_get_str(annotations, "summary"),
			      json_get_str(annotations, "description"), alertname};
	for (size_t i = 0; i < sizeof from / sizeof from[0]; i++) {
		if (!from[i])
			continue;
		char *t = trim_cut(from[i], ALERTMANAGER_SUMMARY_MAX);
		if (*t)
			return t;
		free(t);
	}
	/* Not for parsed alerts, whose alertname is never blank; the contract still holds. */
	return xstrdup("alert");
}

/* A borrowed view of obj holding only the members fields names: fields a newer
 * Alertmanager adds are ignored rather than refused. New reference. */
static json_t *known_members(const json_t *obj, const struct vfield *fields)
{
	json_t *k = json_object();
	for (const struct vfield *f = fields; f->name; f++) {
		json_t *v = json_object_get(obj, f->name);
		if (v)
			json_object_set(k, f->name, v);
	}
	return k;
}

/* Validate obj (an object) against fields, ignoring unknown members. where names it
 * in messages ("" or "alerts[3]."); e->field gets field_prefix instead. */
static int validate_known(const json_t *obj, const struct vfield *fields, const char *where,
			  const char *field_prefix, struct err *e)
{
	if (!json_is_object(obj))
		return validate_object(obj, fields, where, e);
	json_t *k = known_members(obj, fields);
	int rc = validate_object(k, fields, where, e);
	json_decref(k);
	if (rc && e) {
		char f[ERR_FIELD_MAX];
		snprintf(f, sizeof f, "%s%s", field_prefix, e->field + strlen(where));
		memcpy(e->field, f, sizeof f);
	}
	return rc;
}

/* Labels and annotations are string → string maps. */
static int check_string_map(const json_t *map, const char *field, long index, struct err *e)
{
	const char *k;
	const json_t *v;
	json_object_foreach((json_t *)map, k, v)
	{
		if (json_is_string(v))
			continue;
		if (index >= 0)
			err_field(e, ERR_INVALID, field, "alerts[%ld].%s.%s must be a string",
				  index, field + strlen("alerts."), k);
		else
			err_field(e, ERR_INVALID, field, "%s.%s must be a string", field, k);
		if (e)
			e->index = index;
		return ERR_INVALID;
	}
	return 0;
}

static int check_payload(const json_t *payload, struct err *e)
{
	int rc = validate_known(payload, payload_fields, "", "", e);
	if (rc)
		return rc;
	static const char *const maps[] = {"groupLabels", "commonLabels", "commonAnnotations"};
	for (size_t i = 0; i < sizeof maps / sizeof maps[0]; i++)
		if ((rc = check_string_map(json_object_get(payload, maps[i]), maps[i], -1, e)))
			return rc;
	const json_t *alerts = json_object_get(payload, "alerts");
	if (!json_is_array(alerts) || json_array_size(alerts) == 0)
		return err_field(e, ERR_INVALID, "alerts", "alerts must be a non-empty array");
	return 0;
}

static bool is_blank(const char *s)
{
	while (isspace((unsigned char)*s))
		s++;
	return !*s;
}

static bool is_hex(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
			return false;
	return true;
}

/* Check alert number i of payload and fill *s from it (s is zeroed on entry; the
 * caller clears it, also on failure). */
static int alert_signal(const json_t *alert, long i, const json_t *payload, struct signal *s,
			struct err *e)
{
	char where[48];
	snprintf(where, sizeof where, "alerts[%ld].", i);
	int rc;
	if (!json_is_object(alert)) {
		rc = err_field(e, ERR_INVALID, "alerts", "alerts[%ld] must be an object", i);
		goto fail;
	}
	if ((rc = validate_known(alert, alert_fields, where, "alerts.", e)))
		goto fail;
	const json_t *labels = json_object_get(alert, "labels");
	const json_t *annotations = json_object_get(alert, "annotations");
	if (!json_is_object(annotations))
		annotations = NULL;
	if ((rc = check_string_map(labels, "alerts.labels", i, e)) ||
	    (annotations && (rc = check_string_map(annotations, "alerts.annotations", i, e))))
		return rc;
	const char *alertname = json_get_str(labels, "alertname");
	size_t an = alertname ? utf8_length(alertname) : 0;
	if (!alertname) {
		rc = err_field(e, ERR_INVALID, "alerts.labels.alertname",
			       "alerts[%ld].labels.alertname is required", i);
		goto fail;
	}
	if (an < 1 || an > ALERTMANAGER_ALERTNAME_MAX || is_blank(alertname)) {
		rc = err_field(e, ERR_INVALID, "alerts.labels.alertname",
			       "alerts[%ld].labels.alertname must be 1 to %d characters long, not "
			       "only spaces",
			       i, ALERTMANAGER_ALERTNAME_MAX);
		goto fail;
	}
	const char *fp = json_get_str(alert, "fingerprint");
	if (!is_hex(fp) || strlen(fp) > ALERTMANAGER_FINGERPRINT_MAX) {
		rc = err_field(e, ERR_INVALID, "alerts.fingerprint",
			       "alerts[%ld].fingerprint must be 1 to %d lowercase hex digits", i,
			       ALERTMANAGER_FINGERPRINT_MAX);
		goto fail;
	}

	s->kind = xstrdup("alert");
	struct buf key = BUF_INIT;
	buf_printf(&key, "alert:%s:%s", alertname, fp);
	s->key = buf_steal(&key);
	s->severity = alertmanager_severity(json_get_str(labels, "severity"));
	s->summary = alertmanager_summary(annotations, alertname);
	s->resolve = !strcmp(json_get_str(alert, "status"), "resolved");
	s->source = xstrdup("alertmanager");
	s->playbooks = json_array();
	s->details = jpack("{ss ss ss sO so}", "alertname", alertname, "fingerprint", fp, "status",
			   json_get_str(alert, "status"), "labels", labels, "annotations",
			   annotations ? json_incref((json_t *)annotations) : json_object());
	static const char *const from_alert[] = {"startsAt", "endsAt", "generatorURL"};
	for (size_t k = 0; k < sizeof from_alert / sizeof from_alert[0]; k++) {
		const char *v = json_get_str(alert, from_alert[k]);
		if (v)
			json_object_set_new(s->details, from_alert[k], json_string(v));
	}
	static const char *const from_group[] = {"groupKey", "externalURL", "receiver"};
	for (size_t k = 0; k < sizeof from_group / sizeof from_group[0]; k++) {
		const char *v = json_get_str(payload, from_group[k]);
		if (v)
			json_object_set_new(s->details, from_group[k], json_string(v));
	}
	struct json_bounds b = {.max_bytes = INCIDENT_DETAILS_MAX_BYTES,
				.max_depth = VALIDATE_OBJECT_DEPTH};
	if (json_check_bounds(s->details, &b, "alerts", NULL)) {
		rc = err_field(e, ERR_INVALID, "alerts",
			       "alerts[%ld]: its labels and annotations make details over %d bytes",
			       i, INCIDENT_DETAILS_MAX_BYTES);
		goto fail;
	}
	return 0;
fail:
	if (e)
		e->index = i;
	return rc;
}

int alertmanager_parse(const json_t *payload, struct signal **out, size_t *n, struct err *e)
{
	*out = NULL;
	*n = 0;
	int rc = check_payload(payload, e);
	if (rc)
		return rc;
	const json_t *alerts = json_object_get(payload, "alerts");
	size_t count = json_array_size(alerts);
	struct signal *items = xcalloc(count, sizeof *items);
	for (size_t i = 0; i < count; i++) {
		if ((rc = alert_signal(json_array_get(alerts, i), (long)i, payload, &items[i],
				       e))) {
			for (size_t j = 0; j <= i; j++)
				signal_clear(&items[j]);
			free(items);
			return rc;
		}
	}
	*out = items;
	*n = count;
	return 0;
}
