/* debug.c — test-only routes, compiled only with -Dfault_injection=true: arm, read and
 * disarm the store's fault injection (store/fault.h) from integration tests.
 *
 * They answer in prepare(), on the loop thread, without a job: arming is a few atomic
 * stores, and a job of their own would be counted by the very faults they arm. */
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "http/server.h"
#include "store/fault.h"
#include "util/json.h"
#include "util/validate.h"

static const char *const op_names[] = {"prepare", "step",	 "begin",  "savepoint",
				       "release", "rollback_to", "commit", NULL};
static const char *const error_names[] = {"none", "full", "ioerr", "busy", NULL};

static const struct vfield fault_fields[] = {
	{"op", V_STRING, true, false, 0, 0, op_names},
	{"error", V_STRING, true, false, 0, 0, error_names},
	{"nth", V_INT, false, false, 1, 1000000, NULL},
	{"persistent", V_BOOL, false, false, 0, 0, NULL},
	{"writer_only", V_BOOL, false, false, 0, 0, NULL},
	{"lose_txn", V_BOOL, false, false, 0, 0, NULL},
	{NULL, 0, false, false, 0, 0, NULL},
};

static json_t *counts_json(struct store *s)
{
	struct store_fault_counts fc;
	store_fault_read(s, &fc);
	json_t *calls = json_object();
	for (int op = 0; op < STORE_FAULT_OPS; op++)
		json_object_set_new(calls, store_fault_op_name((enum store_fault_op)op),
				    json_integer((json_int_t)fc.calls[op]));
	return jpack("{sb so sI}", "armed", fc.armed, "calls", calls, "injected",
		     (json_int_t)fc.injected);
}

int api_debug_fault_arm_prepare(struct http_req *r)
{
	if (api_body(r, fault_fields))
		return 1;
	struct store_fault_plan plan = {
		.nth = (uint64_t)json_get_int(r->body, "nth", 1),
		.persistent = json_get_bool(r->body, "persistent", false),
		.writer_only = json_get_bool(r->body, "writer_only", false),
		.lose_txn = json_get_bool(r->body, "lose_txn", false),
	};
	store_fault_op_parse(json_get_str(r->body, "op"), &plan.op);
	store_fault_error_parse(json_get_str(r->body, "error"), &plan.error);
	struct store *s = server_store(r->srv);
	store_fault_arm(s, &plan);
	req_reply_json(r, 200, counts_json(s));
	return 1;
}

int api_debug_fault_get_prepare(struct http_req *r)
{
	req_reply_json(r, 200, counts_json(server_store(r->srv)));
	return 1;
}

int api_debug_fault_disarm_prepare(struct http_req *r)
{
	struct store *s = server_store(r->srv);
	store_fault_disarm(s);
	req_reply_json(r, 200, counts_json(s));
	return 1;
}

const struct route api_debug_routes[] = {
	{.method = M_GET,
	 .pattern = "/api/debug/faults",
	 .min_role = ROLE_ADMIN,
	 .prepare = api_debug_fault_get_prepare},
	{.method = M_POST,
	 .pattern = "/api/debug/faults",
	 .min_role = ROLE_ADMIN,
	 .prepare = api_debug_fault_arm_prepare},
	{.method = M_DELETE,
	 .pattern = "/api/debug/faults",
	 .min_role = ROLE_ADMIN,
	 .prepare = api_debug_fault_disarm_prepare},
};

const size_t api_debug_n_routes = sizeof api_debug_routes / sizeof api_debug_routes[0];
