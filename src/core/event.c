#include "core/event.h"

#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "util/json.h"
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

int event_append(struct store_conn *c, const char *type, int64_t incident_id, const char *actor,
		 json_t *data, int64_t *id_out, struct err *e)
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
	free(ev.data);
	if (!rc && id_out)
		*id_out = ev.id;
	return rc;
}

json_t *event_to_json(const struct event *ev)
{
	json_t *data = json_loads(ev->data, JSON_DECODE_ANY, NULL);
	return json_pack("{sI ss so* ss so* ss ss ss}", "id", (json_int_t)ev->id, "type", ev->type,
			 "incident_id",
			 ev->incident_id ? json_integer(ev->incident_id) : json_null(), "actor",
			 ev->actor, "data", data ? data : json_null(), "created_at", ev->created_at,
			 "prev_hash", ev->prev_hash, "hash", ev->hash);
}

struct audit_state {
	struct audit_result *r;
	char expect_prev[65];
	bool first;
};

static int audit_cb(const struct event *ev, void *arg)
{
	struct audit_state *s = arg;
	struct audit_result *r = s->r;
	char h[65];
	if (s->first) {
		/* The first retained event links to zeros, or to what an anchor recorded. */
		s->first = false;
		r->first_id = ev->id;
		if (!strcmp(ev->type, "audit_anchor")) {
			snprintf(s->expect_prev, sizeof s->expect_prev, "%s", ev->prev_hash);
		} else {
			memset(s->expect_prev, '0', 64);
			s->expect_prev[64] = '\0';
		}
	}
	if (strcmp(ev->prev_hash, s->expect_prev)) {
		r->bad_id = ev->id;
		snprintf(r->problem, sizeof r->problem,
			 "prev_hash does not match the hash of the event before it");
		return 1;
	}
	event_compute_hash(ev, h);
	if (strcmp(h, ev->hash)) {
		r->bad_id = ev->id;
		snprintf(r->problem, sizeof r->problem,
			 "hash does not match its contents (stored %.12s…, computed %.12s…)",
			 ev->hash, h);
		return 1;
	}
	memcpy(s->expect_prev, ev->hash, 65);
	r->checked++;
	r->last_id = ev->id;
	return 0;
}

int event_audit(struct store_conn *c, struct audit_result *r, struct err *e)
{
	memset(r, 0, sizeof *r);
	struct audit_state s = {.r = r, .first = true};
	struct event_filter f = {.after_id = 0, .limit = -1};
	return store_event_list(c, &f, audit_cb, &s, NULL, e);
}
