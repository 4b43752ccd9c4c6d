#include "core/sla.h"

#include <stdlib.h>

#include "core/event.h"
#include "core/outbox.h"
#include "core/policy.h"
#include "util/buf.h"
#include "util/json.h"

struct breach {
	int64_t incident_id, due_at;
	int severity, stage;
};

struct found {
	const struct config *cfg;
	int64_t now;
	struct breach *b;
	size_t n, cap;
};

/* Collect first, write after: the list's statement stays untouched by the inserts. */
static int collect(const struct incident *inc, void *arg)
{
	struct found *f = arg;
	int64_t due[3];
	unsigned mask = policy_sla_breaches(f->cfg, inc, f->now, due);
	for (int s = 0; s < 3; s++) {
		if (!(mask & (1u << s)))
			continue;
		if (f->n == f->cap) {
			f->cap = f->cap ? 2 * f->cap : 16;
			f->b = xrealloc(f->b, f->cap * sizeof *f->b);
		}
		f->b[f->n++] = (struct breach){.incident_id = inc->id,
					       .due_at = due[s],
					       .severity = inc->severity,
					       .stage = s};
	}
	return 0;
}

static int record(struct store_conn *c, const struct config *cfg, const struct breach *b,
		  int64_t now, bool *added, struct err *e)
{
	const char *stage = policy_sla_stage_name(b->stage);
	int rc = store_sla_breach_insert(c, b->incident_id, stage, b->due_at, now, added, e);
	if (rc || !*added)
		return rc;
	struct event ev;
	rc = event_append_row(c, "sla_breached", b->incident_id, "system:watcher",
			      jpack("{sI ss so}", "incident_id", (json_int_t)b->incident_id,
				    "stage", stage, "due_at", json_time_or_null(b->due_at)),
			      &ev, e);
	if (rc)
		return rc;
	struct incident inc = {.id = b->incident_id, .severity = b->severity};
	rc = outbox_incident_event(c, cfg, &ev, NULL, &inc, e);
	event_clear(&ev);
	return rc;
}

int sla_check(struct store_conn *c, const struct config *cfg, int64_t now, int64_t counts[3],
	      struct err *e)
{
	for (int s = 0; s < 3; s++)
		counts[s] = 0;
	struct found f = {.cfg = cfg, .now = now};
	struct incident_filter filter = {
		.statuses = 1 << ST_OPEN | 1 << ST_ACKNOWLEDGED | 1 << ST_MITIGATED,
		.page = 1,
		.per_page = -1,
	};
	int rc = store_incident_list(c, &filter, collect, &f, NULL, e);
	for (size_t i = 0; i < f.n && !rc; i++) {
		bool added;
		rc = record(c, cfg, &f.b[i], now, &added, e);
		if (!rc && added)
			counts[f.b[i].stage]++;
	}
	free(f.b);
	return rc;
}
