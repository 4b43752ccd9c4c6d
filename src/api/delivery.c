/* delivery.c — the delivery routes (SPEC §5.1 /issue, §5.3 outbox and tracker test):
 * what an incident's tracker issue is and how its calls stand, the outbox ledger, a
 * retry of a dead row, and a test of the tracker connection in effect. */
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "core/incident.h"
#include "core/outbox.h"
#include "http/server.h"
#include "util/json.h"
#include "util/time.h"
#include "util/validate.h"

static json_t *attempt_json(const struct outbox_attempt *a)
{
	return jpack("{sI so so so so so}", "n", (json_int_t)a->n, "started_at",
		     json_time_or_null(a->started_at), "finished_at",
		     json_time_or_null(a->finished_at), "http_status",
		     a->http_status ? json_integer(a->http_status) : json_null(), "error",
		     jstr(a->error), "external_id", jstr(a->external_id));
}

static int attempt_cb(const struct outbox_attempt *a, void *arg)
{
	json_array_append_new(arg, attempt_json(a));
	return 0;
}

/* The API form of a row with its ledger. */
static int row_json(struct store_conn *c, const struct outbox_row *r, json_t **out, struct err *e)
{
	json_t *calls = json_array();
	int rc = store_outbox_attempts(c, r->id, attempt_cb, calls, e);
	if (rc) {
		json_decref(calls);
		return rc;
	}
	json_t *payload = json_loads(r->payload, 0, NULL);
	if (!payload) {
		json_decref(calls);
		return err_set(e, ERR_IO, "storage: outbox row %lld: its payload is not JSON",
			       (long long)r->id);
	}
	*out = jpack("{sI so ss ss so ss ss sI so so so so so so}", "id", (json_int_t)r->id,
		     "incident_id", r->incident_id ? json_integer(r->incident_id) : json_null(),
		     "target", r->target, "op", outbox_op_name(r->op), "payload", payload,
		     "idempotency_key", r->idempotency_key, "status", outbox_status_name(r->status),
		     "attempts", (json_int_t)r->attempts, "next_attempt_at",
		     r->status == OB_PENDING || r->status == OB_UNCERTAIN
			     ? json_time_or_null(r->next_attempt_at)
			     : json_null(),
		     "last_error", jstr(r->last_error), "external_id", jstr(r->external_id),
		     "created_at", json_time_or_null(r->created_at), "updated_at",
		     json_time_or_null(r->updated_at), "calls", calls);
	return 0;
}

struct list_state {
	struct store_conn *c;
	json_t *items;
	struct err *e;
	int rc;
};

static int list_cb(const struct outbox_row *r, void *arg)
{
	struct list_state *s = arg;
	json_t *j = NULL;
	if ((s->rc = row_json(s->c, r, &j, s->e)))
		return 1;
	json_array_append_new(s->items, j);
	return 0;
}

/* POST routes of this file take no fields: {} or an empty body. */
static const struct vfield no_fields[] = {{NULL, 0, false, false, 0, 0, NULL}};

int api_no_fields_prepare(struct http_req *r)
{
	return api_body(r, no_fields);
}

/* ---- GET /api/outbox ---- */

struct outbox_ctx {
	int64_t page, per_page, incident_id;
	int statuses;
};

int api_outbox_list_prepare(struct http_req *r)
{
	struct outbox_ctx *c = xcalloc(1, sizeof *c);
	r->ctx = c;
	r->ctx_free = free;
	if (api_paging(r, 50, 200, &c->page, &c->per_page) ||
	    api_query_int(r, "incident_id", 1, INT64_MAX, 0, &c->incident_id))
		return 1;
	char **st = api_query_list(r, "status");
	int rc = 0;
	for (char **s = st; s && *s && !rc; s++) {
		enum outbox_status v;
		if (!outbox_status_parse(*s, &v)) {
			struct err e;
			err_clear(&e);
			err_field(&e, ERR_INVALID, "status",
				  "status: must be pending, uncertain, done or dead");
			req_reply_err(r, &e);
			rc = 1;
			break;
		}
		c->statuses |= 1 << v;
	}
	if (st && !rc && !c->statuses) {
		struct err e;
		err_clear(&e);
		err_field(&e, ERR_INVALID, "status", "status: must not be empty");
		req_reply_err(r, &e);
		rc = 1;
	}
	api_strv_free(st);
	return rc;
}

int api_outbox_list_run(struct http_req *r, struct store_conn *c)
{
	struct outbox_ctx *ctx = r->ctx;
	struct err e;
	err_clear(&e);
	struct list_state s = {.c = c, .items = json_array(), .e = &e};
	int64_t total = 0;
	int rc = store_outbox_list(c, ctx->statuses, ctx->incident_id,
				   (ctx->page - 1) * ctx->per_page, ctx->per_page, list_cb, &s,
				   &total, &e);
	if (!rc)
		rc = s.rc;
	if (rc) {
		json_decref(s.items);
		return api_fail(r, &e);
	}
	req_reply_json(r, 200, api_list("outbox", s.items, total, ctx->page, ctx->per_page));
	return 0;
}

/* ---- POST /api/outbox/{id}/retry ---- */

int api_outbox_retry_run(struct http_req *r, struct store_conn *c)
{
	struct err e;
	err_clear(&e);
	struct outbox_row row;
	int rc = store_outbox_get(c, r->id, &row, &e);
	if (rc)
		return api_fail(r, &e);
	if (row.status != OB_DEAD) {
		err_set(&e, ERR_CONFLICT, "outbox row %lld is %s; only dead rows are retried",
			(long long)row.id, outbox_status_name(row.status));
		outbox_row_clear(&row);
		return api_fail(r, &e);
	}
	/* The attempts start again: the ledger keeps the earlier calls. */
	row.status = OB_PENDING;
	row.attempts = 0;
	row.next_attempt_at = row.updated_at = time_now_ms();
	json_t *j = NULL;
	if (!(rc = store_outbox_update(c, &row, &e)))
		rc = row_json(c, &row, &j, &e);
	outbox_row_clear(&row);
	if (rc)
		return api_fail(r, &e);
	req_reply_json(r, 200, jpack("{so}", "outbox", j));
	return 0;
}

/* ---- GET/POST /api/incidents/{id}/issue ---- */

static int issue_reply(struct http_req *r, struct store_conn *c, int status, const char *extra_key,
		       json_t *extra)
{
	struct err e;
	err_clear(&e);
	struct incident inc;
	int rc = store_incident_get(c, r->id, &inc, &e);
	if (rc) {
		json_decref(extra);
		return api_fail(r, &e);
	}
	struct list_state s = {.c = c, .items = json_array(), .e = &e};
	rc = store_outbox_list(c, 0, r->id, 0, 0, list_cb, &s, NULL, &e);
	if (!rc)
		rc = s.rc;
	json_t *delivery = NULL;
	if (!rc)
		rc = incident_delivery_json(c, r->id, &delivery, &e);
	if (rc) {
		json_decref(s.items);
		json_decref(extra);
		incident_clear(&inc);
		return api_fail(r, &e);
	}
	json_t *body = jpack("{sI so so so so}", "incident_id", (json_int_t)inc.id, "issue_ref",
			     inc.issue_ref ? json_incref(inc.issue_ref) : json_null(), "issue_url",
			     jstr(inc.issue_url), "delivery", delivery, "outbox", s.items);
	if (extra_key)
		json_object_set_new(body, extra_key, extra);
	incident_clear(&inc);
	req_reply_json(r, status, body);
	return 0;
}

int api_issue_get_run(struct http_req *r, struct store_conn *c)
{
	return issue_reply(r, c, 200, NULL, NULL);
}

int api_issue_request_run(struct http_req *r, struct store_conn *c)
{
	struct err e;
	err_clear(&e);
	struct incident inc;
	int rc = store_incident_get(c, r->id, &inc, &e);
	if (rc)
		return api_fail(r, &e);
	struct outbox_row row;
	bool queued = false;
	rc = outbox_request_issue(c, r->cfg, &inc, &row, &queued, &e);
	incident_clear(&inc);
	if (rc)
		return api_fail(r, &e);
	outbox_row_clear(&row);
	return issue_reply(r, c, queued ? 202 : 200, "queued", json_boolean(queued));
}

/* ---- POST /api/tracker/test ---- */

int api_tracker_test_prepare(struct http_req *r)
{
	if (api_no_fields_prepare(r))
		return 1;
	server_test_tracker(r);
	return 1;
}
