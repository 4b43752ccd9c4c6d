#include "api/api.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "util/json.h"
#include "util/validate.h"

static const char *const verbs[] = {"acknowledge", "mitigate", "resolve", "close", "reopen", NULL};

/* The whole API of this version. Minimum roles follow SPEC §5. */
#define PUBLIC ROLE_NONE
static const char *const paging[] = {"page", "per_page", NULL};
static const char *const incident_params[] = {"status", "severity", "kind", "assigned_to", "q",
					      "since",	"sort",	    "page", "per_page",	   NULL};
static const char *const event_params[] = {"after_id", "types", "incident_id", "limit", NULL};
static const char *const silence_params[] = {"all", "page", "per_page", NULL};
static const char *const preview_params[] = {"kind", "key_glob", NULL};
static const char *const outbox_params[] = {"status", "incident_id", "page", "per_page", NULL};
static const char *const wait_params[] = {"wait", NULL};
static const char *const sse_params[] = {"types", "incident_id", "last_event_id", "token", NULL};
const struct route api_routes[] = {
	{.method = M_GET,
	 .pattern = "/healthz",
	 .min_role = PUBLIC,
	 .prepare = api_healthz_prepare},
	{.method = M_GET, .pattern = "/readyz", .min_role = PUBLIC, .run = api_readyz_run},
	{.method = M_GET,
	 .pattern = "/api/version",
	 .min_role = PUBLIC,
	 .prepare = api_version_prepare},
	{.method = M_GET,
	 .pattern = "/api/openapi.json",
	 .min_role = PUBLIC,
	 .prepare = api_openapi_prepare},
	{.method = M_GET,
	 .pattern = "/metrics",
	 .min_role = ROLE_VIEWER,
	 .metrics = true,
	 .prepare = api_metrics_prepare,
	 .run = api_metrics_run},

	{.method = M_POST,
	 .pattern = "/api/session",
	 .min_role = PUBLIC,
	 .kind = JOB_WRITE,
	 .prepare = api_session_create_prepare,
	 .run = api_session_create_run,
	 .finish = api_session_create_finish},
	{.method = M_GET,
	 .pattern = "/api/session",
	 .min_role = ROLE_VIEWER,
	 .prepare = api_session_get_prepare},
	{.method = M_DELETE,
	 .pattern = "/api/session",
	 .min_role = ROLE_VIEWER,
	 .kind = JOB_WRITE,
	 .run = api_session_delete_run,
	 .finish = api_session_delete_finish},

	{.method = M_GET,
	 .pattern = "/api/tokens",
	 .min_role = ROLE_ADMIN,
	 .params = paging,
	 .prepare = api_tokens_list_prepare,
	 .run = api_tokens_list_run},
	{.method = M_POST,
	 .pattern = "/api/tokens",
	 .min_role = ROLE_ADMIN,
	 .kind = JOB_WRITE,
	 .prepare = api_token_create_prepare,
	 .run = api_token_create_run,
	 .auth_changed = true},
	{.method = M_DELETE,
	 .pattern = "/api/tokens/{name}",
	 .min_role = ROLE_ADMIN,
	 .kind = JOB_WRITE,
	 .run = api_token_revoke_run,
	 .auth_changed = true},

	/* runtime settings (SPEC §5.3) */
	{.method = M_GET,
	 .pattern = "/api/settings",
	 .min_role = ROLE_VIEWER,
	 .params = paging,
	 .prepare = api_settings_list_prepare,
	 .run = api_settings_list_run},
	{.method = M_GET,
	 .pattern = "/api/settings/{key}",
	 .min_role = ROLE_VIEWER,
	 .prepare = api_setting_get_prepare,
	 .run = api_setting_get_run},
	{.method = M_PUT,
	 .pattern = "/api/settings/{key}",
	 .min_role = ROLE_ADMIN,
	 .kind = JOB_WRITE,
	 .prepare = api_setting_put_prepare,
	 .run = api_setting_put_run},
	/* gate inputs (SPEC §5.3, §10) */
	{.method = M_POST,
	 .pattern = "/api/eval/results",
	 .min_role = ROLE_RESPONDER,
	 .kind = JOB_WRITE,
	 .prepare = api_eval_results_prepare,
	 .run = api_ingest_run,
	 .ndjson_ok = true},
	{.method = M_POST,
	 .pattern = "/api/metrics/daily",
	 .min_role = ROLE_RESPONDER,
	 .kind = JOB_WRITE,
	 .prepare = api_metrics_daily_prepare,
	 .run = api_ingest_run},
	{.method = M_POST,
	 .pattern = "/api/canary/runs",
	 .min_role = ROLE_RESPONDER,
	 .kind = JOB_WRITE,
	 .prepare = api_canary_runs_prepare,
	 .run = api_ingest_run},
	{.method = M_GET,
	 .pattern = "/api/canary/{name}",
	 .min_role = ROLE_VIEWER,
	 .run = api_canary_get_run},

	{.method = M_POST,
	 .pattern = "/api/signals",
	 .min_role = ROLE_RESPONDER,
	 .kind = JOB_WRITE,
	 .prepare = api_signals_prepare,
	 .run = api_signals_run,
	 .finish = api_signals_finish},
	{.method = M_POST,
	 .pattern = "/api/integrations/alertmanager",
	 .min_role = ROLE_RESPONDER,
	 .kind = JOB_WRITE,
	 .prepare = api_alertmanager_prepare,
	 .run = api_signals_run,
	 .finish = api_signals_finish},

	{.method = M_GET,
	 .pattern = "/api/incidents",
	 .min_role = ROLE_VIEWER,
	 .params = incident_params,
	 .prepare = api_incidents_list_prepare,
	 .run = api_incidents_list_run},
	{.method = M_POST,
	 .pattern = "/api/incidents",
	 .min_role = ROLE_RESPONDER,
	 .kind = JOB_WRITE,
	 .prepare = api_incident_declare_prepare,
	 .run = api_incident_declare_run,
	 .idempotent_key = true},
	{.method = M_GET,
	 .pattern = "/api/incidents/{id}",
	 .min_role = ROLE_VIEWER,
	 .run = api_incident_get_run},
	{.method = M_PATCH,
	 .pattern = "/api/incidents/{id}",
	 .min_role = ROLE_RESPONDER,
	 .kind = JOB_WRITE,
	 .prepare = api_incident_patch_prepare,
	 .run = api_incident_patch_run,
	 .empty_body_ok = true},
	{.method = M_POST,
	 .pattern = "/api/incidents/{id}/{verb}",
	 .words = verbs,
	 .min_role = ROLE_RESPONDER,
	 .kind = JOB_WRITE,
	 .prepare = api_incident_verb_prepare,
	 .run = api_incident_verb_run,
	 .empty_body_ok = true},
	{.method = M_POST,
	 .pattern = "/api/incidents/{id}/assign",
	 .min_role = ROLE_RESPONDER,
	 .kind = JOB_WRITE,
	 .prepare = api_incident_assign_prepare,
	 .run = api_incident_assign_run},
	{.method = M_GET,
	 .pattern = "/api/incidents/{id}/comments",
	 .min_role = ROLE_VIEWER,
	 .params = paging,
	 .prepare = api_comments_list_prepare,
	 .run = api_comments_list_run},
	{.method = M_POST,
	 .pattern = "/api/incidents/{id}/comments",
	 .min_role = ROLE_RESPONDER,
	 .kind = JOB_WRITE,
	 .prepare = api_comment_add_prepare,
	 .run = api_comment_add_run},
	{.method = M_GET,
	 .pattern = "/api/incidents/{id}/timeline",
	 .min_role = ROLE_VIEWER,
	 .params = paging,
	 .prepare = api_timeline_prepare,
	 .run = api_timeline_run},

	{.method = M_GET,
	 .pattern = "/api/incidents/{id}/issue",
	 .min_role = ROLE_VIEWER,
	 .run = api_issue_get_run},
	{.method = M_POST,
	 .pattern = "/api/incidents/{id}/issue",
	 .min_role = ROLE_RESPONDER,
	 .kind = JOB_WRITE,
	 .prepare = api_no_fields_prepare,
	 .run = api_issue_request_run,
	 .empty_body_ok = true},

	{.method = M_GET,
	 .pattern = "/api/outbox",
	 .min_role = ROLE_VIEWER,
	 .params = outbox_params,
	 .prepare = api_outbox_list_prepare,
	 .run = api_outbox_list_run},
	{.method = M_POST,
	 .pattern = "/api/outbox/{id}/retry",
	 .min_role = ROLE_ADMIN,
	 .kind = JOB_WRITE,
	 .prepare = api_no_fields_prepare,
	 .run = api_outbox_retry_run,
	 .empty_body_ok = true},
	{.method = M_POST,
	 .pattern = "/api/tracker/test",
	 .min_role = ROLE_ADMIN,
	 .prepare = api_tracker_test_prepare,
	 .empty_body_ok = true},

	{.method = M_GET,
	 .pattern = "/api/events",
	 .min_role = ROLE_VIEWER,
	 .params = event_params,
	 .prepare = api_events_prepare,
	 .run = api_events_run},

	{.method = M_GET,
	 .pattern = "/api/sse/events",
	 .min_role = ROLE_VIEWER,
	 .params = sse_params,
	 .prepare = api_sse_prepare,
	 .token_query = true},

	{.method = M_POST,
	 .pattern = "/api/gates/run",
	 .min_role = ROLE_RESPONDER,
	 .kind = JOB_WRITE,
	 .prepare = api_gates_run_prepare,
	 .run = api_gates_run_run,
	 .finish = api_gates_run_finish,
	 .empty_body_ok = true},
	{.method = M_POST,
	 .pattern = "/api/watcher/run",
	 .min_role = ROLE_ADMIN,
	 .prepare = api_watcher_run_prepare,
	 .empty_body_ok = true},

	/* playbooks (SPEC §5.2) */
	{.method = M_GET,
	 .pattern = "/api/playbooks/actions",
	 .min_role = ROLE_VIEWER,
	 .prepare = api_playbook_actions_prepare},
	{.method = M_GET,
	 .pattern = "/api/playbooks/incidents/{id}/actions",
	 .min_role = ROLE_VIEWER,
	 .run = api_playbook_offered_run},
	{.method = M_POST,
	 .pattern = "/api/playbooks/incidents/{id}/actions/dry-run",
	 .min_role = ROLE_RESPONDER,
	 .kind = JOB_WRITE,
	 .prepare = api_playbook_dry_run_prepare,
	 .run = api_playbook_dry_run_run},
	{.method = M_POST,
	 .pattern = "/api/playbooks/incidents/{id}/actions/execute",
	 .min_role = ROLE_RESPONDER,
	 .kind = JOB_WRITE,
	 .params = wait_params,
	 .prepare = api_playbook_execute_prepare,
	 .run = api_playbook_execute_run,
	 .finish = api_playbook_execute_finish,
	 .idempotent_key = true},
	{.method = M_GET,
	 .pattern = "/api/playbooks/incidents/{id}/actions/history",
	 .min_role = ROLE_VIEWER,
	 .params = paging,
	 .prepare = api_playbook_history_prepare,
	 .run = api_playbook_history_run},
	{.method = M_GET,
	 .pattern = "/api/playbooks/incidents/{id}/actions/{action_id}",
	 .min_role = ROLE_VIEWER,
	 .run = api_playbook_action_get_run},
	{.method = M_POST,
	 .pattern = "/api/playbooks/incidents/{id}/actions/{action_id}/approve",
	 .min_role = ROLE_APPROVER,
	 .kind = JOB_WRITE,
	 .prepare = api_playbook_approve_prepare,
	 .run = api_playbook_approve_run,
	 .empty_body_ok = true},
	{.method = M_POST,
	 .pattern = "/api/playbooks/incidents/{id}/actions/{action_id}/rollback",
	 .min_role = ROLE_RESPONDER,
	 .kind = JOB_WRITE,
	 .prepare = api_no_fields_prepare,
	 .run = api_playbook_rollback_run,
	 .empty_body_ok = true},
	{.method = M_POST,
	 .pattern = "/api/playbooks/incidents/{id}/actions/{action_id}/cancel",
	 .min_role = ROLE_RESPONDER,
	 .kind = JOB_WRITE,
	 .prepare = api_playbook_cancel_prepare,
	 .run = api_playbook_cancel_run,
	 .finish = api_playbook_cancel_finish,
	 .empty_body_ok = true},

	{.method = M_POST,
	 .pattern = "/api/silences",
	 .min_role = ROLE_RESPONDER,
	 .kind = JOB_WRITE,
	 .prepare = api_silence_create_prepare,
	 .run = api_silence_create_run},
	{.method = M_GET,
	 .pattern = "/api/silences",
	 .min_role = ROLE_VIEWER,
	 .params = silence_params,
	 .prepare = api_silences_list_prepare,
	 .run = api_silences_list_run},
	{.method = M_GET,
	 .pattern = "/api/silences/preview",
	 .min_role = ROLE_VIEWER,
	 .params = preview_params,
	 .prepare = api_silence_preview_prepare,
	 .run = api_silence_preview_run},
	{.method = M_DELETE,
	 .pattern = "/api/silences/{id}",
	 .min_role = ROLE_RESPONDER,
	 .kind = JOB_WRITE,
	 .run = api_silence_end_run},
};

const size_t api_n_routes = sizeof api_routes / sizeof api_routes[0];

int api_body(struct http_req *r, const struct vfield *fields)
{
	struct err e;
	err_clear(&e);
	if (validate_object(r->body, fields, "", &e)) {
		req_reply_err(r, &e);
		return 1;
	}
	return 0;
}

int api_fail(struct http_req *r, const struct err *e)
{
	req_reply_err(r, e);
	return e->code ? e->code : ERR_INTERNAL;
}

int api_query_int(struct http_req *r, const char *key, int64_t min, int64_t max, int64_t dflt,
		  int64_t *out)
{
	const char *v = req_query(r, key);
	if (!v) {
		*out = dflt;
		return 0;
	}
	char *end = NULL;
	errno = 0;
	long long n = strtoll(v, &end, 10);
	if (!*v || *end || errno || n < min || n > max) {
		struct err e;
		err_clear(&e);
		err_field(&e, ERR_INVALID, key, "%s must be an integer from %lld to %lld", key,
			  (long long)min, (long long)max);
		req_reply_err(r, &e);
		return 1;
	}
	*out = n;
	return 0;
}

int api_paging(struct http_req *r, int64_t dflt, int64_t max, int64_t *page, int64_t *per_page)
{
	if (api_query_int(r, "page", 1, 1000000000, 1, page))
		return 1;
	return api_query_int(r, "per_page", 1, max, dflt, per_page);
}

char **api_query_list(struct http_req *r, const char *key)
{
	size_t n = 0, cap = 0;
	char **v = NULL;
	for (size_t i = 0; i < r->n_query; i++) {
		if (strcmp(r->query[i].key, key))
			continue;
		char *copy = xstrdup(r->query[i].value), *save = NULL;
		for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
			if (n + 2 > cap) {
				cap = cap ? cap * 2 : 8;
				v = xrealloc(v, cap * sizeof *v);
			}
			v[n++] = xstrdup(t);
		}
		free(copy);
		if (!v) {
			/* present but empty: an empty list, which matches nothing useful */
			cap = 2;
			v = xcalloc(cap, sizeof *v);
		}
	}
	if (v)
		v[n] = NULL;
	return v;
}

void api_strv_free(char **v)
{
	if (!v)
		return;
	for (char **p = v; *p; p++)
		free(*p);
	free(v);
}

json_t *api_list(const char *name, json_t *items, int64_t total, int64_t page, int64_t per_page)
{
	json_t *o = json_object();
	json_object_set_new(o, name, items);
	json_object_set_new(o, "total", json_integer(total));
	json_object_set_new(o, "page", json_integer(page));
	json_object_set_new(o, "per_page", json_integer(per_page));
	return o;
}
