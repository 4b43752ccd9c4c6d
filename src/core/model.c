/* model.c — releasing domain rows; status names. */
#include "core/model.h"

#include <stdlib.h>
#include <string.h>

static const char *const status_names[ST_COUNT] = {"open", "acknowledged", "mitigated", "resolved",
						   "closed"};

const char *incident_status_name(enum incident_status s)
{
	return (unsigned)s < ST_COUNT ? status_names[s] : NULL;
}

bool incident_status_parse(const char *s, enum incident_status *out)
{
	for (int i = 0; s && i < ST_COUNT; i++)
		if (!strcmp(s, status_names[i])) {
			*out = (enum incident_status)i;
			return true;
		}
	return false;
}

void incident_clear(struct incident *inc)
{
	if (!inc)
		return;
	free(inc->kind);
	free(inc->key);
	free(inc->summary);
	json_decref(inc->details);
	free(inc->source);
	json_decref(inc->playbooks);
	free(inc->assigned_to);
	free(inc->issue_url);
	json_decref(inc->issue_ref);
	free(inc->acknowledged_by);
	free(inc->mitigated_by);
	free(inc->resolved_by);
	free(inc->closed_by);
	json_decref(inc->notes);
	json_decref(inc->metadata);
	memset(inc, 0, sizeof *inc);
}

void comment_clear(struct comment *c)
{
	if (!c)
		return;
	free(c->author);
	free(c->body);
	memset(c, 0, sizeof *c);
}

void event_clear(struct event *ev)
{
	if (!ev)
		return;
	free(ev->type);
	free(ev->actor);
	free(ev->data);
	memset(ev, 0, sizeof *ev);
}

void silence_clear(struct silence *s)
{
	if (!s)
		return;
	free(s->kind);
	free(s->key_glob);
	free(s->reason);
	free(s->created_by);
	memset(s, 0, sizeof *s);
}

void outbox_row_clear(struct outbox_row *r)
{
	if (!r)
		return;
	free(r->target);
	free(r->payload);
	free(r->idempotency_key);
	free(r->last_error);
	free(r->external_id);
	memset(r, 0, sizeof *r);
}

void outbox_attempt_clear(struct outbox_attempt *a)
{
	if (!a)
		return;
	free(a->error);
	free(a->external_id);
	memset(a, 0, sizeof *a);
}

static const char *const op_names[OB_OP_COUNT] = {"create_issue", "comment", "close_issue",
						  "notify"};
static const char *const ob_status_names[OB_STATUS_COUNT] = {"pending", "uncertain", "done",
							     "dead"};

const char *outbox_op_name(enum outbox_op op)
{
	return (unsigned)op < OB_OP_COUNT ? op_names[op] : NULL;
}

bool outbox_op_parse(const char *s, enum outbox_op *out)
{
	for (int i = 0; s && i < OB_OP_COUNT; i++)
		if (!strcmp(s, op_names[i])) {
			*out = (enum outbox_op)i;
			return true;
		}
	return false;
}

const char *outbox_status_name(enum outbox_status st)
{
	return (unsigned)st < OB_STATUS_COUNT ? ob_status_names[st] : NULL;
}

bool outbox_status_parse(const char *s, enum outbox_status *out)
{
	for (int i = 0; s && i < OB_STATUS_COUNT; i++)
		if (!strcmp(s, ob_status_names[i])) {
			*out = (enum outbox_status)i;
			return true;
		}
	return false;
}

void action_row_clear(struct action_row *a)
{
	if (!a)
		return;
	free(a->action_type);
	free(a->params);
	free(a->plan);
	free(a->plan_hash);
	free(a->target);
	free(a->requested_by);
	free(a->approved_by);
	free(a->executed_by);
	free(a->result);
	free(a->error);
	free(a->log);
	free(a->inverse);
	free(a->lease_owner);
	memset(a, 0, sizeof *a);
}

static const char *const action_status_names[AS_STATUS_COUNT] = {
	[AS_DRY_RUN_SUCCESS] = "dry_run_success",
	[AS_DRY_RUN_FAILED] = "dry_run_failed",
	[AS_APPROVED] = "approved",
	[AS_RUNNING] = "running",
	[AS_SUCCESS] = "success",
	[AS_FAILED] = "failed",
	[AS_CANCELLED] = "cancelled",
	[AS_ROLLED_BACK] = "rolled_back",
};

const char *action_status_name(enum action_status st)
{
	return (unsigned)st < AS_STATUS_COUNT ? action_status_names[st] : NULL;
}

bool action_status_parse(const char *s, enum action_status *out)
{
	for (int i = 0; s && i < AS_STATUS_COUNT; i++)
		if (!strcmp(s, action_status_names[i])) {
			*out = (enum action_status)i;
			return true;
		}
	return false;
}

void setting_row_clear(struct setting_row *s)
{
	if (!s)
		return;
	free(s->key);
	free(s->value);
	free(s->updated_by);
	free(s->reason);
	memset(s, 0, sizeof *s);
}

void eval_result_clear(struct eval_result *r)
{
	if (!r)
		return;
	free(r->task_id);
	free(r->agent);
	json_decref(r->invariants);
	memset(r, 0, sizeof *r);
}

void metrics_daily_clear(struct metrics_daily *m)
{
	if (!m)
		return;
	free(m->agent);
	memset(m, 0, sizeof *m);
}

void canary_run_clear(struct canary_run *r)
{
	if (!r)
		return;
	free(r->canary);
	free(r->version);
	memset(r, 0, sizeof *r);
}
