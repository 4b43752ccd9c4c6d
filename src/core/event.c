#include "core/event.h"

#include <inttypes.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "util/json.h"
#include "util/log.h"
#include "util/time.h"

void event_compute_hash(const struct event *ev, char out[65])
{
	crypto_hash_sha256_state st;
	char num[32];
	crypto_hash_sha256_init(&st);
#define PART(s) crypto_hash_sha256_update(&st, (const unsigned char *)(s), strlen(s))
	PART(ev->prev_hash);
	PART("\n");
	snprintf(num, sizeof num, "%" PRId64, ev->id);
	PART(num);
	PART("\n");
	PART(ev->type);
	PART("\n");
	if (ev->incident_id) {
		snprintf(num, sizeof num, "%" PRId64, ev->incident_id);
		PART(num);
	}
	PART("\n");
	PART(ev->actor);
	PART("\n");
	PART(ev->created_at);
	PART("\n");
	PART(ev->data);
#undef PART
	unsigned char digest[crypto_hash_sha256_BYTES];
	crypto_hash_sha256_final(&st, digest);
	sodium_bin2hex(out, 65, digest, sizeof digest);
}

int event_append_row(struct store_conn *c, const char *type, int64_t incident_id, const char *actor,
		     json_t *data, struct event *out, struct err *e)
{
	struct event ev = {0};
	int64_t last_id;
	int rc = store_event_last(c, &last_id, ev.prev_hash, e);
	if (!rc)
		rc = store_event_next_id(c, &ev.id, e);
	if (rc) {
		json_decref(data);
		return rc;
	}
	ev.type = (char *)type;
	ev.incident_id = incident_id;
	ev.actor = (char *)actor;
	ev.data = json_canon(data);
	json_decref(data);
	time_format_ms(time_now_ms(), ev.created_at);
	event_compute_hash(&ev, ev.hash);
	rc = store_event_insert(c, &ev, e);
	if (!rc && out) {
		*out = ev;
		out->type = xstrdup(type);
		out->actor = xstrdup(actor);
		return 0; /* out owns data */
	}
	free(ev.data);
	return rc;
}

int event_append(struct store_conn *c, const char *type, int64_t incident_id, const char *actor,
		 json_t *data, int64_t *id_out, struct err *e)
{
	struct event ev;
	int rc = event_append_row(c, type, incident_id, actor, data, id_out ? &ev : NULL, e);
	if (!rc && id_out) {
		*id_out = ev.id;
		event_clear(&ev);
	}
	return rc;
}

json_t *event_to_json(const struct event *ev, struct err *e)
{
	json_t *data = json_loads(ev->data, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, NULL);
	if (!data) {
		/* A stored event whose data is not JSON is damage, not an empty event. */
		err_set(e, ERR_IO, "storage: event %lld: its data is not valid JSON",
			(long long)ev->id);
		log_error("event data is not valid JSON", "event_id=%lld", (long long)ev->id);
		return NULL;
	}
	return jpack("{sI so so so so so so so}", "id", (json_int_t)ev->id, "type", jstr(ev->type),
		     "incident_id", ev->incident_id ? json_integer(ev->incident_id) : json_null(),
		     "actor", jstr(ev->actor), "data", data, "created_at", jstr(ev->created_at),
		     "prev_hash", jstr(ev->prev_hash), "hash", jstr(ev->hash));
}

json_t *event_anchor_data(int64_t first_kept_id, const char *prev_hash)
{
	return jpack("{sI ss}", "first_kept_id", (json_int_t)first_kept_id, "prev_hash", prev_hash);
}

#define ZERO_HASH "0000000000000000000000000000000000000000000000000000000000000000"

struct audit_state {
	struct audit_result *r;
	/* where the retained chain must start */
	int64_t want_first; /* 0: any id (no anchor) */
	char want_first_prev[65];
	char expect_prev[65]; /* the hash of the event before the next one */
	int64_t prev_id;
};

__attribute__((format(printf, 3, 4))) static int audit_fail(struct audit_result *r, int64_t id,
							    const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(r->problem, sizeof r->problem, fmt, ap);
	va_end(ap);
	r->bad_id = id;
	return 1;
}

static int audit_start(struct audit_state *s, const struct event *ev)
{
	struct audit_result *r = s->r;
	r->first_id = ev->id;
	if (!s->want_first) {
		if (strcmp(ev->prev_hash, ZERO_HASH))
			return audit_fail(r, ev->id,
					  "the log starts at event %lld, which links to a "
					  "predecessor although no audit_anchor records a pruning "
					  "(events before it are missing)",
					  (long long)ev->id);
		return 0;
	}
	if (ev->id > s->want_first)
		return audit_fail(r, ev->id,
				  "events %lld..%lld are missing from the start of the log (the "
				  "latest audit_anchor, event %lld, kept events from %lld on)",
				  (long long)s->want_first, (long long)ev->id - 1,
				  (long long)r->anchor_id, (long long)s->want_first);
	if (ev->id < s->want_first)
		return audit_fail(r, ev->id,
				  "the log starts at event %lld, before the first kept event %lld "
				  "that the latest audit_anchor (event %lld) recorded",
				  (long long)ev->id, (long long)s->want_first,
				  (long long)r->anchor_id);
	if (strcmp(ev->prev_hash, s->want_first_prev))
		return audit_fail(r, ev->id,
				  "prev_hash of the first retained event is not the one the latest "
				  "audit_anchor (event %lld) recorded",
				  (long long)r->anchor_id);
	return 0;
}

static int audit_cb(const struct event *ev, void *arg)
{
	struct audit_state *s = arg;
	struct audit_result *r = s->r;
	char h[65];
	if (!r->checked) {
		if (audit_start(s, ev))
			return 1;
	} else if (strcmp(ev->prev_hash, s->expect_prev)) {
		/* the link: an event removed, or this event's link changed */
		if (ev->id > s->prev_id + 1)
			return audit_fail(
				r, ev->id,
				"events %lld..%lld are missing: event %lld does not link to "
				"event %lld",
				(long long)s->prev_id + 1, (long long)ev->id - 1, (long long)ev->id,
				(long long)s->prev_id);
		return audit_fail(r, ev->id,
				  "broken link: prev_hash does not match the hash of event %lld",
				  (long long)s->prev_id);
	}
	event_compute_hash(ev, h);
	if (strcmp(h, ev->hash))
		return audit_fail(r, ev->id,
				  "contents changed: hash does not match its contents (stored "
				  "%.12s…, computed %.12s…)",
				  ev->hash, h);
	memcpy(s->expect_prev, ev->hash, 65);
	s->prev_id = ev->id;
	r->checked++;
	r->last_id = ev->id;
	return 0;
}

/* The end of the log against the stored head. */
static void audit_end(struct audit_state *s, const struct store_event_head *head)
{
	struct audit_result *r = s->r;
	if (!r->checked && (head->last_id || head->retained)) {
		audit_fail(r, head->last_id ? head->last_id : 1,
			   "the log is empty, but the stored head is event %lld (%lld events "
			   "retained)",
			   (long long)head->last_id, (long long)head->retained);
	} else if (r->last_id < head->last_id) {
		if (r->checked)
			audit_fail(r, r->last_id + 1,
				   "events %lld..%lld are missing from the end of the log: it ends "
				   "at event %lld, the stored head is event %lld",
				   (long long)r->last_id + 1, (long long)head->last_id,
				   (long long)r->last_id, (long long)head->last_id);
		else
			audit_fail(r, head->last_id,
				   "the log is empty, but the stored head is event %lld (%lld "
				   "events retained)",
				   (long long)head->last_id, (long long)head->retained);
	} else if (r->last_id > head->last_id) {
		audit_fail(r, head->last_id + 1,
			   "events %lld..%lld follow the stored head (event %lld): they were not "
			   "appended by intervene",
			   (long long)head->last_id + 1, (long long)r->last_id,
			   (long long)head->last_id);
	} else if (r->checked && strcmp(s->expect_prev, head->hash)) {
		audit_fail(r, r->last_id,
			   "event %lld is not the event the stored head recorded (hash %.12s…)",
			   (long long)r->last_id, head->hash);
	} else if (r->checked != head->retained) {
		audit_fail(r, r->first_id,
			   "%lld events are retained but the stored head counts %lld",
			   (long long)r->checked, (long long)head->retained);
	}
}

int event_audit(struct store_conn *c, struct audit_result *r, struct err *e)
{
	memset(r, 0, sizeof *r);
	struct audit_state s = {.r = r};
	struct store_event_head head;
	struct event anchor = {0};
	int rc = store_event_head(c, &head, e);
	if (rc)
		return rc;
	rc = store_event_latest(c, "audit_anchor", &anchor, e);
	if (rc == 0) {
		r->anchor_id = anchor.id;
		json_t *d = json_loads(anchor.data, 0, NULL);
		const char *prev = json_get_str(d, "prev_hash");
		s.want_first = json_get_int(d, "first_kept_id", 0);
		if (prev && strlen(prev) == 64)
			memcpy(s.want_first_prev, prev, 65);
		json_decref(d);
		event_clear(&anchor);
		if (s.want_first <= 0 || s.want_first > r->anchor_id || !s.want_first_prev[0]) {
			audit_fail(r, r->anchor_id,
				   "audit_anchor data is not {first_kept_id, prev_hash}");
			return 0;
		}
	} else if (rc != ERR_NOTFOUND) {
		return rc;
	}
	err_clear(e);
	struct event_filter f = {.after_id = 0, .limit = -1};
	if ((rc = store_event_list(c, &f, audit_cb, &s, NULL, e)))
		return rc;
	if (!r->bad_id)
		audit_end(&s, &head);
	return 0;
}

const char *const event_type_names[] = {
	"incident_created", "incident_updated", "signal_suppressed",
	"sla_breached",	    "action_planned",	"action_approved",
	"action_started",   "action_executed",	"action_rolled_back",
	"issue_delivered",  "issue_failed",	"settings_changed",
	"silence_created",  "silence_ended",	"token_created",
	"token_revoked",    "audit_anchor",	NULL};

int event_type_index(const char *name)
{
	for (int i = 0; name && event_type_names[i]; i++)
		if (!strcmp(event_type_names[i], name))
			return i;
	return -1;
}
