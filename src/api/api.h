/* api.h — the REST API: the route table and helpers shared by its handlers.
 *
 * Each handler file (incidents.c, signals.c, integrations.c, silences.c, events in
 * incidents.c, ops.c) exports its prepare/run functions through this header; api.c
 * holds the one route table that names them with their method, pattern and minimum
 * role. */
#ifndef INTERVENE_API_H
#define INTERVENE_API_H

#include <stddef.h>

#include "http/router.h"

extern const struct route api_routes[];
extern const size_t api_n_routes;

#ifdef INTERVENE_FAULT_INJECTION
/* Test-only routes of builds with -Dfault_injection=true (api/debug.c): arm, read and
 * disarm the store's fault injection. Not in the OpenAPI document. */
extern const struct route api_debug_routes[];
extern const size_t api_debug_n_routes;
int api_debug_fault_arm_prepare(struct http_req *r);
int api_debug_fault_get_prepare(struct http_req *r);
int api_debug_fault_disarm_prepare(struct http_req *r);
#endif

/* The dashboard (web.c): its pages and hashed assets, public routes answered on the
 * loop thread. Not part of the API (not in the OpenAPI document); joined to the table
 * when server.web is true. */
extern const struct route web_routes[];
extern const size_t web_n_routes;

/* ---- helpers (any thread owning r) ---- */

/* page (>= 1, default 1) and per_page (1..max, default dflt) from the query;
 * replies 400 and returns non-zero when invalid. */
int api_paging(struct http_req *r, int64_t dflt, int64_t max, int64_t *page, int64_t *per_page);

/* An integer query parameter in [min, max]; absent → dflt. Replies 400 when
 * invalid and returns non-zero. */
int api_query_int(struct http_req *r, const char *key, int64_t min, int64_t max, int64_t dflt,
		  int64_t *out);

/* Every value of a repeatable, comma-separable query parameter, as a
 * NULL-terminated array of malloc'd strings (free with api_strv_free); NULL when
 * the parameter is absent. */
char **api_query_list(struct http_req *r, const char *key);
void api_strv_free(char **v);

/* The paged list envelope {<name>: items, total, page, per_page}. items stolen. */
json_t *api_list(const char *name, json_t *items, int64_t total, int64_t page, int64_t per_page);

/* Check the request body against fields (util/validate.h); on a problem reply 400
 * naming the field and return non-zero (for prepare()). */
struct vfield;
int api_body(struct http_req *r, const struct vfield *fields);

/* Reply with e and return its code (for `return api_fail(r, &e);` in run()). */
int api_fail(struct http_req *r, const struct err *e);

/* ---- handlers ---- */
int api_gates_run_prepare(struct http_req *r);
int api_gates_run_run(struct http_req *r, struct store_conn *c);
void api_gates_run_finish(struct http_req *r);
int api_watcher_run_prepare(struct http_req *r);

int api_signals_prepare(struct http_req *r);
int api_signals_run(struct http_req *r, struct store_conn *c);
void api_signals_finish(struct http_req *r);
/* Make r's context a batch of n signals, items[0..n) stolen (malloc'd array), so that
 * api_signals_run replies {results} for them in one transaction and
 * api_signals_finish counts them, as for a POST /api/signals batch. */
struct signal;
void api_signals_adopt(struct http_req *r, struct signal *items, size_t n);

/* POST /api/integrations/alertmanager (integrations.c): Alertmanager's webhook payload
 * as a batch of signals; run and finish are the signals route's. */
int api_alertmanager_prepare(struct http_req *r);

int api_incidents_list_prepare(struct http_req *r);
int api_incidents_list_run(struct http_req *r, struct store_conn *c);
int api_incident_declare_prepare(struct http_req *r);
int api_incident_declare_run(struct http_req *r, struct store_conn *c);
int api_incident_get_run(struct http_req *r, struct store_conn *c);
int api_incident_patch_prepare(struct http_req *r);
int api_incident_patch_run(struct http_req *r, struct store_conn *c);
int api_incident_verb_prepare(struct http_req *r);
int api_incident_verb_run(struct http_req *r, struct store_conn *c);
int api_incident_assign_prepare(struct http_req *r);
int api_incident_assign_run(struct http_req *r, struct store_conn *c);
int api_comments_list_prepare(struct http_req *r);
int api_comments_list_run(struct http_req *r, struct store_conn *c);
int api_comment_add_prepare(struct http_req *r);
int api_comment_add_run(struct http_req *r, struct store_conn *c);
int api_timeline_prepare(struct http_req *r);
int api_timeline_run(struct http_req *r, struct store_conn *c);
int api_events_prepare(struct http_req *r);
int api_events_run(struct http_req *r, struct store_conn *c);

int api_silence_create_prepare(struct http_req *r);
int api_silence_create_run(struct http_req *r, struct store_conn *c);
int api_silences_list_prepare(struct http_req *r);
int api_silences_list_run(struct http_req *r, struct store_conn *c);
int api_silence_end_run(struct http_req *r, struct store_conn *c);
int api_silence_preview_prepare(struct http_req *r);
int api_silence_preview_run(struct http_req *r, struct store_conn *c);

int api_healthz_prepare(struct http_req *r);
int api_openapi_prepare(struct http_req *r);
int api_metrics_prepare(struct http_req *r);
int api_metrics_run(struct http_req *r, struct store_conn *c);

int api_session_create_prepare(struct http_req *r);
int api_session_create_run(struct http_req *r, struct store_conn *c);
int api_session_get_prepare(struct http_req *r);
int api_session_delete_run(struct http_req *r, struct store_conn *c);
void api_session_create_finish(struct http_req *r);
void api_session_delete_finish(struct http_req *r);

int api_tokens_list_prepare(struct http_req *r);
int api_tokens_list_run(struct http_req *r, struct store_conn *c);
int api_token_create_prepare(struct http_req *r);
int api_token_create_run(struct http_req *r, struct store_conn *c);
int api_token_revoke_run(struct http_req *r, struct store_conn *c);
int api_readyz_run(struct http_req *r, struct store_conn *c);

int api_outbox_list_prepare(struct http_req *r);
int api_outbox_list_run(struct http_req *r, struct store_conn *c);
int api_outbox_retry_run(struct http_req *r, struct store_conn *c);
int api_issue_get_run(struct http_req *r, struct store_conn *c);
int api_issue_request_run(struct http_req *r, struct store_conn *c);
int api_tracker_test_prepare(struct http_req *r);
int api_no_fields_prepare(struct http_req *r);
/* runtime settings (settings.c) */
int api_settings_list_prepare(struct http_req *r);
int api_settings_list_run(struct http_req *r, struct store_conn *c);
int api_setting_get_prepare(struct http_req *r);
int api_setting_get_run(struct http_req *r, struct store_conn *c);
int api_setting_put_prepare(struct http_req *r);
int api_setting_put_run(struct http_req *r, struct store_conn *c);
int api_canary_get_run(struct http_req *r, struct store_conn *c);
int api_version_prepare(struct http_req *r);
/* the event stream (stream.c) */
int api_sse_prepare(struct http_req *r);
/* playbooks (playbooks.c) */
int api_playbook_actions_prepare(struct http_req *r);
int api_playbook_offered_run(struct http_req *r, struct store_conn *c);
int api_playbook_dry_run_prepare(struct http_req *r);
int api_playbook_dry_run_run(struct http_req *r, struct store_conn *c);
int api_playbook_approve_prepare(struct http_req *r);
int api_playbook_approve_run(struct http_req *r, struct store_conn *c);
int api_playbook_execute_prepare(struct http_req *r);
int api_playbook_execute_run(struct http_req *r, struct store_conn *c);
void api_playbook_execute_finish(struct http_req *r);
int api_playbook_rollback_run(struct http_req *r, struct store_conn *c);
int api_playbook_cancel_prepare(struct http_req *r);
int api_playbook_cancel_run(struct http_req *r, struct store_conn *c);
void api_playbook_cancel_finish(struct http_req *r);
int api_playbook_history_prepare(struct http_req *r);
int api_playbook_history_run(struct http_req *r, struct store_conn *c);
int api_playbook_action_get_run(struct http_req *r, struct store_conn *c);
/* gate inputs (ingest.c) */
int api_eval_results_prepare(struct http_req *r);
int api_metrics_daily_prepare(struct http_req *r);
int api_canary_runs_prepare(struct http_req *r);
int api_ingest_run(struct http_req *r, struct store_conn *c);

#endif
