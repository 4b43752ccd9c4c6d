#include "core/silence.h"

#include <fnmatch.h>
#include <string.h>

#include "core/event.h"
#include "core/outbox.h"
#include "util/json.h"
#include "util/time.h"

bool silence_matches(const char *m_kind, const char *key_glob, const char *kind, const char *key)
{
	if (m_kind && *m_kind && strcmp(m_kind, kind))
		return false;
	return fnmatch(key_glob, key, 0) == 0;
}

struct match_state {
	const char *kind, *key;
	int64_t id;
};

static int match_cb(const struct silence *s, void *arg)
{
	struct match_state *m = arg;
	if (silence_matches(s->kind, s->key_glob, m->kind, m->key)) {
		m->id = s->id;
		return 1;
	}
	return 0;
}

int silence_find_match(struct store_conn *c, const char *kind, const char *key, int64_t now,
		       int64_t *id, struct err *e)
{
	struct match_state m = {.kind = kind, .key = key};
	int rc = store_silence_list(c, now, false, 0, -1, match_cb, &m, NULL, e);
	*id = m.id;
	return rc;
}

json_t *silence_to_json(const struct silence *s, int64_t now)
{
	json_t *matcher = jpack("{ss}", "key_glob", s->key_glob);
	if (s->kind)
		json_object_set_new(matcher, "kind", jstr(s->kind));
	return jpack("{sI so ss ss so so sb}", "id", (json_int_t)s->id, "matcher", matcher,
		     "reason", s->reason, "created_by", s->created_by, "starts_at",
		     json_time_or_null(s->starts_at), "ends_at", json_time_or_null(s->ends_at),
		     "active", s->starts_at <= now && s->ends_at > now);
}

int silence_create(struct store_conn *c, const struct config *cfg, struct silence *s,
		   const char *actor, struct err *e)
{
	int rc = store_silence_insert(c, s, e);
	if (rc)
		return rc;
	return outbox_event_append(c, cfg, "silence_created", actor,
				   silence_to_json(s, time_now_ms()), e);
}

int silence_end(struct store_conn *c, const struct config *cfg, int64_t id, const char *actor,
		struct silence *out, struct err *e)
{
	int rc = store_silence_get(c, id, out, e);
	if (rc)
		return rc;
	int64_t now = time_now_ms();
	if (out->ends_at <= now)
		return 0; /* already over: ending it again changes nothing */
	out->ends_at = now < out->starts_at ? out->starts_at : now;
	if (!(rc = store_silence_set_end(c, id, out->ends_at, e)))
		rc = outbox_event_append(c, cfg, "silence_ended", actor, silence_to_json(out, now),
					 e);
	if (rc)
		silence_clear(out);
	return rc;
}
