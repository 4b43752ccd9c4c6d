/* playbooks.c — the playbook routes (SPEC §5.2): the catalogue, offered actions,
 * dry-run, approve, execute, rollback, cancel, history and one action with its log.
 * Params are validated on the loop thread (prepare) against the type's schema, so a
 * bad one is a 400 naming the field and nothing is stored. Execute and cancel change
 * the row in their write job; once that committed, finish() hands the action to the
 * executor (actions/executor.h), which runs it off the loop and the store threads. */
#include <stdlib.h>
#include <string.h>

#include "actions/action.h"
#include "actions/executor.h"
#include "actions/playbook.h"
#include "api/api.h"
#include "core/incident.h"
#include "http/server.h"
#include "util/json.h"
#include "util/time.h"

struct pb_ctx {
	const struct action_type *type;
	json_t *params;	       /* validated, defaults filled */
	int64_t action_id;     /* execute: the body's action_id */
	const char *plan_hash; /* approve: borrowed from the body */
	int64_t wait_ms;
	bool started, cancelled; /* set by run(): finish() acts only then */
};

static void ctx_free(void *p)
{
	struct pb_ctx *x = p;
	json_decref(x->params);
	free(x);
}

static struct pb_ctx *ctx_new(struct http_req *r)
{
	struct pb_ctx *x = xcalloc(1, sizeof *x);
	r->ctx = x;
	r->ctx_free = ctx_free;
	return x;
}

static int reply_action(struct http_req *r, int status, const struct action_row *a, bool log)
{
	req_reply_json(r, status, jpack("{so}", "action", playbook_action_json(a, log)));
	return 0;
}

/* ---- GET /api/playbooks/actions ---- */

int api_playbook_actions_prepare(struct http_req *r)
{
	json_t *list = json_array();
	for (size_t i = 0; action_types[i]; i++)
		if (!action_types[i]->internal)
			json_array_append_new(list, action_type_describe(action_types[i]));
	req_reply_json(r, 200, jpack("{so}", "actions", list));
	return 1;
}

/* ---- GET /api/playbooks/incidents/{id}/actions ---- */

int api_playbook_offered_run(struct http_req *r, struct store_conn *c)
{
	struct err e;
	err_clear(&e);
	json_t *out = NULL;
	int rc = playbook_offered(c, r->cfg, r->id, &out, &e);
	if (rc)
		return api_fail(r, &e);
	req_reply_json(r, 200, out);
	return 0;
}

/* ---- dry-run ---- */

static const struct vfield dry_run_fields[] = {
	{"action_type", V_STRING, true, false, 1, 64, NULL},
	{"params", V_OBJECT, false, true, 0, 65536, NULL},
	{.name = NULL},
};

int api_playbook_dry_run_prepare(struct http_req *r)
{
	if (api_body(r, dry_run_fields))
		return 1;
	struct err e;
	err_clear(&e);
	const char *name = json_get_str(r->body, "action_type");
	const struct action_type *t = action_type_find(name);
	if (!t || t->internal) {
		err_field(&e, ERR_INVALID, "action_type",
			  t ? "%s is planned only as the rollback of another action"
			    : "unknown action_type '%s' (GET /api/playbooks/actions lists them)",
			  name);
		req_reply_err(r, &e);
		return 1;
	}
	struct pb_ctx *x = ctx_new(r);
	x->type = t;
	if (action_params_validate(t, r->cfg, json_object_get(r->body, "params"), &x->params, &e)) {
		req_reply_err(r, &e);
		return 1;
	}
	return 0;
}

int api_playbook_dry_run_run(struct http_req *r, struct store_conn *c)
{
	struct pb_ctx *x = r->ctx;
	struct err e;
	err_clear(&e);
	struct action_row a;
	int rc = playbook_dry_run(c, r->cfg, r->id, x->type->name, x->params, r->actor, 0, &a, &e);
	if (rc)
		return api_fail(r, &e);
	reply_action(r, 200, &a, false);
	action_row_clear(&a);
	return 0;
}

/* ---- approve ---- */

static const struct vfield approve_fields[] = {
	{"plan_hash", V_STRING, false, false, 64, 64, NULL},
	{.name = NULL},
};

int api_playbook_approve_prepare(struct http_req *r)
{
	if (api_body(r, approve_fields))
		return 1;
	struct pb_ctx *x = ctx_new(r);
	x->plan_hash = json_get_str(r->body, "plan_hash");
	return 0;
}

int api_playbook_approve_run(struct http_req *r, struct store_conn *c)
{
	struct pb_ctx *x = r->ctx;
	struct err e;
	err_clear(&e);
	struct action_row a;
	int rc = playbook_approve(c, r->cfg, r->id, r->id2, r->actor, x->plan_hash, &a, &e);
	if (rc)
		return api_fail(r, &e);
	reply_action(r, 200, &a, false);
	action_row_clear(&a);
	return 0;
}

/* ---- execute ---- */

static const struct vfield execute_fields[] = {
	{"action_id", V_INT, true, false, 1, INT64_MAX, NULL},
	{.name = NULL},
};

int api_playbook_execute_prepare(struct http_req *r)
{
	if (api_body(r, execute_fields))
		return 1;
	struct pb_ctx *x = ctx_new(r);
	x->action_id = json_get_int(r->body, "action_id", 0);
	int64_t wait = 0;
	if (api_query_int(r, "wait", 0, 60, 0, &wait))
		return 1;
	x->wait_ms = wait * 1000;
	return 0;
}

int api_playbook_execute_run(struct http_req *r, struct store_conn *c)
{
	struct pb_ctx *x = r->ctx;
	struct err e;
	err_clear(&e);
	struct action_row a;
	int rc = playbook_start(c, r->cfg, r->id, x->action_id, r->actor,
				executor_instance(server_executor(r->srv)),
				time_now_ms() + EXECUTOR_LEASE_MS, &a, &e);
	if (rc)
		return api_fail(r, &e);
	reply_action(r, 202, &a, false);
	action_row_clear(&a);
	x->started = true;
	return 0;
}

void api_playbook_execute_finish(struct http_req *r)
{
	struct pb_ctx *x = r->ctx;
	if (!x || !x->started)
		return; /* a replay of a stored response: the action runs already */
	struct executor *ex = server_executor(r->srv);
	executor_run(ex, x->action_id);
	if (x->wait_ms)
		server_wait_action(r, x->action_id, x->wait_ms);
}

/* ---- rollback ---- */

int api_playbook_rollback_run(struct http_req *r, struct store_conn *c)
{
	struct err e;
	err_clear(&e);
	struct action_row a;
	int rc = playbook_rollback(c, r->cfg, r->id, r->id2, r->actor, &a, &e);
	if (rc)
		return api_fail(r, &e);
	reply_action(r, 200, &a, false);
	action_row_clear(&a);
	return 0;
}

/* ---- cancel ---- */

int api_playbook_cancel_prepare(struct http_req *r)
{
	if (api_no_fields_prepare(r))
		return 1;
	ctx_new(r);
	return 0;
}

int api_playbook_cancel_run(struct http_req *r, struct store_conn *c)
{
	struct pb_ctx *x = r->ctx;
	struct err e;
	err_clear(&e);
	struct action_row a;
	int rc = playbook_cancel(c, r->id, r->id2, &a, &e);
	if (rc)
		return api_fail(r, &e);
	reply_action(r, 202, &a, false);
	action_row_clear(&a);
	x->cancelled = true;
	return 0;
}

void api_playbook_cancel_finish(struct http_req *r)
{
	struct pb_ctx *x = r->ctx;
	if (x && x->cancelled)
		executor_cancel(server_executor(r->srv), r->id2);
}

/* ---- history and one action ---- */

int api_playbook_history_prepare(struct http_req *r)
{
	int64_t page, per_page;
	if (api_paging(r, 50, 200, &page, &per_page))
		return 1;
	struct pb_ctx *x = ctx_new(r);
	x->action_id = page;
	x->wait_ms = per_page;
	return 0;
}

static int history_cb(const struct action_row *a, void *arg)
{
	json_array_append_new(arg, playbook_action_json(a, false));
	return 0;
}

int api_playbook_history_run(struct http_req *r, struct store_conn *c)
{
	struct pb_ctx *x = r->ctx;
	struct err e;
	err_clear(&e);
	struct incident inc;
	int rc = store_incident_get(c, r->id, &inc, &e);
	if (rc)
		return api_fail(r, &e);
	incident_clear(&inc);
	int64_t page = x->action_id, per_page = x->wait_ms, total = 0;
	json_t *items = json_array();
	rc = store_action_list(c, r->id, (page - 1) * per_page, per_page, history_cb, items, &total,
			       &e);
	if (rc) {
		json_decref(items);
		return api_fail(r, &e);
	}
	req_reply_json(r, 200, api_list("actions", items, total, page, per_page));
	return 0;
}

int api_playbook_action_get_run(struct http_req *r, struct store_conn *c)
{
	struct err e;
	err_clear(&e);
	struct action_row a;
	int rc = store_action_get(c, r->id2, &a, &e);
	if (!rc && a.incident_id != r->id) {
		action_row_clear(&a);
		rc = err_set(&e, ERR_NOTFOUND, "action %lld not found on incident %lld",
			     (long long)r->id2, (long long)r->id);
	}
	if (rc)
		return api_fail(r, &e);
	reply_action(r, 200, &a, true);
	action_row_clear(&a);
	return 0;
}
