/* playbook.c — the life of an action row; see playbook.h. */
#include "actions/playbook.h"

#include <stdio.h>
#include <string.h>

#include "actions/action.h"
#include "core/event.h"
#include "core/incident.h"
#include "core/outbox.h"
#include "core/settings.h"
#include "util/json.h"
#include "util/log.h"
#include "util/time.h"

static json_t *parsed(const char *text)
{
	if (!text)
		return json_null();
	json_t *v = json_loads(text, JSON_DECODE_ANY, NULL);
	return v ? v : json_string(text);
}

json_t *playbook_action_json(const struct action_row *a, bool with_log)
{
	json_t *plan = parsed(a->plan);
	const json_t *req = json_object_get(plan, "requires_approval");
	json_t *o = jpack(
		"{sI sI ss so so ss ss ss so so so so so so so so so sb so so so}", "id",
		(json_int_t)a->id, "incident_id", (json_int_t)a->incident_id, "action_type",
		a->action_type, "params", parsed(a->params), "plan", plan, "plan_hash",
		a->plan_hash, "target", a->target, "status", action_status_name(a->status),
		"requested_by", json_str_or_null(a->requested_by), "approved_by",
		json_str_or_null(a->approved_by), "approved_at", json_time_or_null(a->approved_at),
		"executed_by", json_str_or_null(a->executed_by), "started_at",
		json_time_or_null(a->started_at), "finished_at", json_time_or_null(a->finished_at),
		"result", parsed(a->result), "error", json_str_or_null(a->error), "rollback_of",
		a->rollback_of ? json_integer(a->rollback_of) : json_null(), "reversible",
		a->inverse != NULL || json_is_object(json_object_get(plan, "inverse")),
		"requires_approval", req ? json_incref((json_t *)req) : json_false(), "created_at",
		json_time_or_null(a->created_at), "lease_until", json_time_or_null(a->lease_until));
	json_object_set_new(o, "cancel_requested", json_boolean(a->cancel_requested));
	if (with_log)
		json_object_set_new(o, "log", jstr(a->log ? a->log : ""));
	return o;
}

/* Record type about a's incident, and queue it for the webhooks of cfg that want it
 * (cfg NULL: none). data (stolen) NULL: the action row. */
static int event(struct store_conn *c, const struct config *cfg, const char *type,
		 const struct action_row *a, const char *actor, json_t *data, struct err *e)
{
	struct event ev = {0};
	int rc = event_append_row(c, type, a->incident_id, actor,
				  data ? data : playbook_action_json(a, false), &ev, e);
	if (!rc && cfg && cfg->notify.n_webhooks) {
		struct incident inc = {0};
		if (!(rc = store_incident_get(c, a->incident_id, &inc, e)))
			rc = outbox_incident_event(c, cfg, &ev, NULL, &inc, e);
		incident_clear(&inc);
	}
	event_clear(&ev);
	return rc;
}

/* The row of action_id, which must belong to incident_id. */
static int load(struct store_conn *c, int64_t incident_id, int64_t action_id, struct action_row *a,
		struct err *e)
{
	int rc = store_action_get(c, action_id, a, e);
	if (rc)
		return rc;
	if (a->incident_id != incident_id) {
		action_row_clear(a);
		return err_set(e, ERR_NOTFOUND, "action %lld not found on incident %lld",
			       (long long)action_id, (long long)incident_id);
	}
	return 0;
}

int playbook_dry_run(struct store_conn *c, const struct config *cfg, int64_t incident_id,
		     const char *type, const json_t *params, const char *actor, int64_t rollback_of,
		     struct action_row *out, struct err *e)
{
	memset(out, 0, sizeof *out);
	const struct action_type *t = action_type_find(type);
	if (!t)
		return err_field(e, ERR_INVALID, "action_type", "unknown action_type '%s'", type);
	struct incident inc = {0};
	int rc = store_incident_get(c, incident_id, &inc, e);
	incident_clear(&inc);
	if (rc)
		return rc;
	struct action_plan p = {0};
	struct err why;
	err_clear(&why);
	int prc = t->plan(cfg, c, params, &p, &why);
	if (prc && prc != ERR_CONFLICT) {
		*e = why;
		action_plan_clear(&p);
		return prc;
	}
	char hash[65];
	action_plan_hash(type, params, hash);
	if (prc) {
		json_decref(p.plan);
		p.plan = jpack("{ss}", "message", why.msg);
		snprintf(p.target, sizeof p.target, "%s", type);
	}
	json_object_set_new(p.plan, "requires_approval", json_boolean(p.requires_approval));
	json_object_set_new(p.plan, "approval_rule", json_string(t->approval_rule));
	json_object_set_new(p.plan, "reversible", json_boolean(t->rollback != NULL));
	if (t->rollback)
		json_object_set_new(p.plan, "rollback", json_string(t->rollback));
	if (p.inverse)
		json_object_set(p.plan, "inverse", p.inverse);
	int64_t now = time_now_ms();
	out->incident_id = incident_id;
	out->action_type = xstrdup(type);
	out->params = json_canon(params);
	out->plan = json_canon(p.plan);
	out->plan_hash = xstrdup(hash);
	out->target = xstrdup(p.target);
	out->status = prc ? AS_DRY_RUN_FAILED : AS_DRY_RUN_SUCCESS;
	out->requested_by = xstrdup(actor);
	out->rollback_of = rollback_of;
	out->created_at = now;
	action_plan_clear(&p);
	if ((rc = store_action_insert(c, out, e)))
		goto fail;
	if (prc) {
		out->error = xstrdup(why.msg);
		out->updated_at = now;
		if ((rc = store_action_update(c, out, e)))
			goto fail;
	}
	if ((rc = event(c, cfg, "action_planned", out, actor, NULL, e)))
		goto fail;
	return 0;
fail:
	action_row_clear(out);
	return rc;
}

static bool expired(const struct config *cfg, int64_t at, int64_t now)
{
	return at + cfg->actions.approval_ttl_ms < now;
}

int playbook_approve(struct store_conn *c, const struct config *cfg, int64_t incident_id,
		     int64_t action_id, const char *actor, const char *plan_hash,
		     struct action_row *out, struct err *e)
{
	int rc = load(c, incident_id, action_id, out, e);
	if (rc)
		return rc;
	int64_t now = time_now_ms();
	if (!strcmp(out->requested_by, actor))
		rc = err_set(e, ERR_FORBIDDEN,
			     "%s requested action %lld and cannot approve it: approval needs a "
			     "second person",
			     actor, (long long)action_id);
	else if (out->status != AS_DRY_RUN_SUCCESS)
		rc = err_set(e, ERR_CONFLICT, "action %lld is %s, not a plan waiting for approval",
			     (long long)action_id, action_status_name(out->status));
	else if (expired(cfg, out->created_at, now))
		rc = err_set(
			e, ERR_CONFLICT,
			"the plan of action %lld expired (actions.approval_ttl); dry-run again",
			(long long)action_id);
	else if (plan_hash && strcmp(plan_hash, out->plan_hash))
		rc = err_set(e, ERR_CONFLICT,
			     "plan_hash does not match action %lld's plan (%s): the params differ",
			     (long long)action_id, out->plan_hash);
	if (rc)
		goto fail;
	free(out->approved_by);
	out->approved_by = xstrdup(actor);
	out->approved_at = now;
	out->status = AS_APPROVED;
	out->updated_at = now;
	if ((rc = store_action_update(c, out, e)) ||
	    (rc = event(c, cfg, "action_approved", out, actor, NULL, e)))
		goto fail;
	return 0;
fail:
	action_row_clear(out);
	return rc;
}

int playbook_start(struct store_conn *c, const struct config *cfg, int64_t incident_id,
		   int64_t action_id, const char *actor, const char *owner, int64_t lease_until,
		   struct action_row *out, struct err *e)
{
	int rc = load(c, incident_id, action_id, out, e);
	if (rc)
		return rc;
	const struct action_type *t = action_type_find(out->action_type);
	json_t *params = json_loads(out->params, 0, NULL);
	struct action_plan p = {0};
	int64_t now = time_now_ms();
	char hash[65];
	if (!t || !params) {
		rc = err_set(e, ERR_INTERNAL,
			     "action %lld has an unknown type or unreadable params",
			     (long long)action_id);
		goto fail;
	}
	if (out->status != AS_DRY_RUN_SUCCESS && out->status != AS_APPROVED) {
		rc = err_set(e, ERR_CONFLICT, "action %lld is %s, not a plan waiting to run",
			     (long long)action_id, action_status_name(out->status));
		goto fail;
	}
	/* The plan again, against the state as it is now. */
	if ((rc = t->plan(cfg, c, params, &p, e))) {
		if (rc == ERR_CONFLICT) {
			char why[ERR_MSG_MAX];
			snprintf(why, sizeof why, "%s", e->msg);
			err_set(e, ERR_CONFLICT, "the plan no longer holds: %.400s; dry-run again",
				why);
		}
		goto fail;
	}
	action_plan_hash(out->action_type, params, hash);
	if (p.requires_approval) {
		const char *why = NULL;
		if (out->status != AS_APPROVED || !out->approved_by)
			why = "it has no approval";
		else if (strcmp(hash, out->plan_hash))
			why = "it was approved for other params";
		else if (expired(cfg, out->approved_at, now) || expired(cfg, out->created_at, now))
			why = "its approval expired (actions.approval_ttl)";
		if (why) {
			rc = err_set(e, ERR_APPROVAL,
				     "action %lld needs the approval of a second person (%s): %s",
				     (long long)action_id, t->approval_rule, why);
			goto fail;
		}
	}
	int64_t running = 0;
	if ((rc = store_action_running_on(c, out->target, &running, e)))
		goto fail;
	if (running) {
		rc = err_set(e, ERR_CONFLICT,
			     "action %lld is running on %s; wait for it or cancel it",
			     (long long)running, out->target);
		goto fail;
	}
	out->status = AS_RUNNING;
	free(out->executed_by);
	out->executed_by = xstrdup(actor);
	out->started_at = now;
	free(out->lease_owner);
	out->lease_owner = xstrdup(owner);
	out->lease_until = lease_until;
	out->updated_at = now;
	if ((rc = store_action_update(c, out, e)) ||
	    (rc = event(c, cfg, "action_started", out, actor, NULL, e)))
		goto fail;
	json_decref(params);
	action_plan_clear(&p);
	return 0;
fail:
	json_decref(params);
	action_plan_clear(&p);
	action_row_clear(out);
	return rc;
}

int playbook_cancel(struct store_conn *c, int64_t incident_id, int64_t action_id,
		    struct action_row *out, struct err *e)
{
	int rc = load(c, incident_id, action_id, out, e);
	if (rc)
		return rc;
	if (out->status != AS_RUNNING) {
		rc = err_set(e, ERR_CONFLICT, "action %lld is %s, not running",
			     (long long)action_id, action_status_name(out->status));
		action_row_clear(out);
		return rc;
	}
	out->cancel_requested = true;
	out->updated_at = time_now_ms();
	if ((rc = store_action_update(c, out, e)))
		action_row_clear(out);
	return rc;
}

int playbook_rollback(struct store_conn *c, const struct config *cfg, int64_t incident_id,
		      int64_t action_id, const char *actor, struct action_row *out, struct err *e)
{
	struct action_row orig = {0};
	int rc = load(c, incident_id, action_id, &orig, e);
	if (rc)
		return rc;
	json_t *inv = orig.inverse ? json_loads(orig.inverse, 0, NULL) : NULL;
	json_t *params = NULL;
	const struct action_type *t = NULL;
	if (orig.status != AS_SUCCESS) {
		rc = err_set(e, ERR_CONFLICT,
			     "action %lld is %s: only an action that ran to success can be rolled "
			     "back",
			     (long long)action_id, action_status_name(orig.status));
		goto out;
	}
	t = inv ? action_type_find(json_get_str(inv, "action_type")) : NULL;
	if (!t) {
		rc = err_set(e, ERR_CONFLICT, "action %lld (%s) is not reversible",
			     (long long)action_id, orig.action_type);
		goto out;
	}
	if ((rc = action_params_validate(t, cfg, json_object_get(inv, "params"), &params, e)))
		goto out;
	rc = playbook_dry_run(c, cfg, incident_id, t->name, params, actor, action_id, out, e);
out:
	json_decref(params);
	json_decref(inv);
	action_row_clear(&orig);
	return rc;
}

int playbook_finish(struct store_conn *c, const struct config *cfg, int64_t action_id,
		    const struct playbook_end *end, json_t **json, struct err *e)
{
	struct action_row a = {0};
	int rc = store_action_get(c, action_id, &a, e);
	if (rc)
		return rc;
	int64_t now = time_now_ms();
	a.status = end->status;
	a.finished_at = now;
	a.updated_at = now;
	free(a.result);
	a.result = end->result ? json_canon(end->result) : NULL;
	free(a.inverse);
	a.inverse = end->inverse && end->status == AS_SUCCESS ? json_canon(end->inverse) : NULL;
	free(a.error);
	a.error = end->error ? xstrdup(end->error) : NULL;
	free(a.log);
	a.log = xstrdup(end->log ? end->log : "");
	free(a.lease_owner);
	a.lease_owner = NULL;
	a.lease_until = 0;
	if ((rc = store_action_update(c, &a, e)))
		goto out;
	json_t *data = jpack("{sI sI ss ss so so}", "incident_id", (json_int_t)a.incident_id,
			     "action_id", (json_int_t)a.id, "action_type", a.action_type, "status",
			     action_status_name(a.status), "finished_at", json_time_or_null(now),
			     "result", parsed(a.result));
	if (a.error)
		json_object_set_new(data, "error", json_string(a.error));
	if ((rc = event(c, cfg, "action_executed", &a, "system:executor", data, e)))
		goto out;
	if (a.rollback_of && a.status == AS_SUCCESS) {
		struct action_row orig = {0};
		if ((rc = store_action_get(c, a.rollback_of, &orig, e)))
			goto out;
		orig.status = AS_ROLLED_BACK;
		orig.updated_at = now;
		rc = store_action_update(c, &orig, e);
		if (!rc)
			rc = event(c, cfg, "action_rolled_back", &orig, "system:executor",
				   jpack("{sI sI}", "action_id", (json_int_t)orig.id,
					 "rollback_action_id", (json_int_t)a.id),
				   e);
		action_row_clear(&orig);
		if (rc)
			goto out;
	}
	if (json)
		*json = playbook_action_json(&a, true);
out:
	action_row_clear(&a);
	return rc;
}

int playbook_renew(struct store_conn *c, int64_t action_id, const char *owner, int64_t lease_until,
		   const char *log, struct err *e)
{
	struct action_row a = {0};
	int rc = store_action_get(c, action_id, &a, e);
	if (rc)
		return rc;
	if (a.status == AS_RUNNING && a.lease_owner && !strcmp(a.lease_owner, owner)) {
		a.lease_until = lease_until;
		if (log) {
			free(a.log);
			a.log = xstrdup(log);
		}
		a.updated_at = time_now_ms();
		rc = store_action_update(c, &a, e);
	}
	action_row_clear(&a);
	return rc;
}

struct ids {
	int64_t *v;
	size_t n;
};

static int collect(const struct action_row *a, void *arg)
{
	struct ids *ids = arg;
	ids->v = xrealloc(ids->v, (ids->n + 1) * sizeof *ids->v);
	ids->v[ids->n++] = a->id;
	return 0;
}

int playbook_sweep(struct store_conn *c, const struct config *cfg, int64_t now, int *n,
		   struct err *e)
{
	struct ids ids = {0};
	*n = 0;
	int rc = store_action_expired(c, now, collect, &ids, e);
	for (size_t i = 0; !rc && i < ids.n; i++) {
		struct action_row a = {0};
		if ((rc = store_action_get(c, ids.v[i], &a, e)))
			break;
		struct playbook_end end = {
			.status = AS_FAILED,
			.error = "interrupted",
			.log = a.log,
		};
		rc = playbook_finish(c, cfg, a.id, &end, NULL, e);
		if (!rc) {
			log_warn("action interrupted", "action_id=%lld type=%s", (long long)a.id,
				 a.action_type);
			(*n)++;
		}
		action_row_clear(&a);
	}
	free(ids.v);
	return rc;
}

/* ---- offered actions (SPEC §9.2) ---- */

static bool contains_any(const char *s, const char *const *words)
{
	for (; s && *words; words++)
		if (strstr(s, *words))
			return true;
	return false;
}

/* The current version of canary name, NULL when it is not set (new reference). */
static json_t *canary_version(struct store_conn *c, const char *name)
{
	json_t *full = NULL;
	struct err e;
	err_clear(&e);
	if (settings_canary_json(c, name, &full, &e))
		return NULL;
	json_t *v = json_incref(json_object_get(full, "version"));
	json_decref(full);
	return v;
}

/* Suggested params of type for inc, from its details. New reference. */
static json_t *suggest(struct store_conn *c, const struct incident *inc, const char *type)
{
	const json_t *d = inc->details;
	json_t *p = json_object();
	if (!strcmp(type, "rerun_dbt")) {
		const json_t *models = json_object_get(d, "models");
		const char *model = json_get_str(d, "model");
		if (json_is_array(models))
			json_object_set(p, "models", (json_t *)models);
		else if (model)
			json_object_set_new(p, "models", jpack("[s]", model));
		const char *task = json_get_str(d, "task_id");
		if (task)
			json_object_set_new(p, "task_id", json_string(task));
	} else if (!strcmp(type, "rollback_planner") || !strcmp(type, "adjust_canary_split")) {
		/* The canary of the details (else the planner's), and the version from the
		 * details, else the canary's current one. */
		bool rollback = !strcmp(type, "rollback_planner");
		const char *canary = json_get_str(d, "canary"),
			   *version = json_get_str(d, "version");
		if (!canary)
			canary = "planner";
		json_object_set_new(p, "canary", json_string(canary));
		json_t *v = version ? json_string(version) : canary_version(c, canary);
		if (v)
			json_object_set_new(p, rollback ? "from_version" : "version", v);
		if (!rollback)
			json_object_set_new(p, "target_percent", json_integer(0));
	} else if (!strcmp(type, "refresh_synonyms") || !strcmp(type, "clear_cache")) {
		const char *index = json_get_str(d, "index_name");
		if (!index)
			index = json_get_str(d, "index");
		if (index)
			json_object_set_new(p, "index_name", json_string(index));
	}
	return p;
}

static void offer(json_t *list, const struct config *cfg, struct store_conn *c,
		  const struct incident *inc, const char *type)
{
	const struct action_type *t = action_type_find(type);
	if (!t || t->internal)
		return;
	size_t i;
	json_t *o;
	json_array_foreach(list, i, o)
	{
		if (!strcmp(json_get_str(o, "action_type"), type))
			return;
	}
	json_t *params = suggest(c, inc, type), *full = NULL;
	json_t *requires = json_null();
	struct err e;
	err_clear(&e);
	/* Whether it needs approval, when the suggestion is complete enough to plan. */
	if (!action_params_validate(t, cfg, params, &full, &e)) {
		struct action_plan p = {0};
		if (!t->plan(cfg, c, full, &p, &e))
		requires = json_boolean(p.requires_approval);
		action_plan_clear(&p);
	}
	json_array_append_new(list,
			      jpack("{ss ss ss so so ss}", "action_type", type, "display_name",
				    t->display_name, "description", t->description, "params",
				    full ? full : params, "requires_approval", requires,
				    "approval_rule", t->approval_rule));
	if (full)
		json_decref(params);
}

int playbook_offered(struct store_conn *c, const struct config *cfg, int64_t incident_id,
		     json_t **out, struct err *e)
{
	struct incident inc = {0};
	int rc = store_incident_get(c, incident_id, &inc, e);
	if (rc)
		return rc;
	json_t *list = json_array();
	size_t i;
	json_t *pb;
	json_array_foreach(inc.playbooks, i, pb)
	{
		if (json_is_string(pb))
			offer(list, cfg, c, &inc, json_string_value(pb));
	}
	const char *bt = json_get_str(inc.details, "budget_type");
	static const char *const dbt_budgets[] = {"quality", "success_rate", "invariants", NULL};
	static const char *const latency[] = {"latency_avg", "latency_p95", "latency_p99",
					      "latency_regression", NULL};
	static const char *const search[] = {"search", "elastic", "knowledge", NULL};
	if (!strcmp(inc.kind, "invariant")) {
		offer(list, cfg, c, &inc, "rerun_dbt");
	} else if (!strcmp(inc.kind, "budget") && bt) {
		for (size_t k = 0; dbt_budgets[k]; k++)
			if (!strcmp(bt, dbt_budgets[k]))
				offer(list, cfg, c, &inc, "rerun_dbt");
		for (size_t k = 0; latency[k]; k++)
			if (!strcmp(bt, latency[k])) {
				offer(list, cfg, c, &inc, "clear_cache");
				if (contains_any(json_get_str(inc.details, "agent"), search))
					offer(list, cfg, c, &inc, "refresh_synonyms");
			}
		if (!strcmp(bt, "cost"))
			offer(list, cfg, c, &inc, "adjust_canary_split");
		if (!strcmp(bt, "quality_regression"))
			offer(list, cfg, c, &inc, "rollback_planner");
	} else if (!strcmp(inc.kind, "planner")) {
		offer(list, cfg, c, &inc, "rollback_planner");
		offer(list, cfg, c, &inc, "adjust_canary_split");
	}
	incident_clear(&inc);
	*out = jpack("{so}", "actions", list);
	return 0;
}
