/* playbook.h — the life of an action row (SPEC §9.3): plan, approve, start, cancel,
 * roll back, finish, abandon. Every step is a change of the row and an event in the
 * same transaction (the hash chain records who asked, who approved, who ran it), queued
 * for the webhooks that want it (cfg's notify.webhooks).
 *
 * Every function runs on a store thread inside a job: reads on a reader, the rest
 * inside the writer's transaction. Rows in out-parameters belong to the caller
 * (action_row_clear). */
#ifndef INTERVENE_ACTIONS_PLAYBOOK_H
#define INTERVENE_ACTIONS_PLAYBOOK_H

#include <jansson.h>
#include <stdbool.h>

#include "config/config.h"
#include "core/auth.h"
#include "store/store.h"

/* The API form of an action: every column, JSON columns parsed, times RFC 3339;
 * the log only when with_log. New reference. */
json_t *playbook_action_json(const struct action_row *a, bool with_log);

/* Plan type with params (validated, defaults filled) for incident_id, requested by
 * actor: the row is stored as dry_run_success, or as dry_run_failed with the reason
 * when the type cannot make the plan; action_planned is recorded either way.
 * rollback_of: the action this plan undoes, or 0. ERR_NOTFOUND for a missing
 * incident; storage errors. */
int playbook_dry_run(struct store_conn *c, const struct config *cfg, int64_t incident_id,
		     const char *type, const json_t *params, const char *actor, int64_t rollback_of,
		     struct action_row *out, struct err *e);

/* Approve action_id of incident_id as actor: ERR_FORBIDDEN when actor requested it;
 * ERR_CONFLICT when it is not a successful plan waiting, when it expired
 * (actions.approval_ttl) or when plan_hash (NULL = not checked) is not its hash;
 * ERR_NOTFOUND. Records action_approved. */
int playbook_approve(struct store_conn *c, const struct config *cfg, int64_t incident_id,
		     int64_t action_id, const char *actor, const char *plan_hash,
		     struct action_row *out, struct err *e);

/* Start action_id: the plan is made again against the current state, and approval is
 * required when the new plan says so — ERR_APPROVAL when it is missing, expired or
 * was given to other params; ERR_CONFLICT when the plan cannot be made any more, when
 * the row is not a plan waiting to run, or when another action runs on its target
 * (the message names it). Moves the row to running with a lease of owner until
 * lease_until and records action_started. */
int playbook_start(struct store_conn *c, const struct config *cfg, int64_t incident_id,
		   int64_t action_id, const char *actor, const char *owner, int64_t lease_until,
		   struct action_row *out, struct err *e);

/* Ask a running action to stop (its executor kills it): ERR_CONFLICT when it is not
 * running. */
int playbook_cancel(struct store_conn *c, int64_t incident_id, int64_t action_id,
		    struct action_row *out, struct err *e);

/* Plan the stored inverse of a succeeded action as a new plan with rollback_of:
 * ERR_CONFLICT when it did not run to success or is not reversible. */
int playbook_rollback(struct store_conn *c, const struct config *cfg, int64_t incident_id,
		      int64_t action_id, const char *actor, struct action_row *out, struct err *e);

/* How a run ended, for playbook_finish. */
struct playbook_end {
	enum action_status status; /* AS_SUCCESS, AS_FAILED or AS_CANCELLED */
	const json_t *result;	   /* may be NULL */
	const json_t *inverse;	   /* may be NULL */
	const char *error;	   /* NULL on success */
	const char *log;
};

/* Record the end of action_id (status, result, error, log, inverse, finished_at),
 * action_executed, and — for a rollback that succeeded — the original's move to
 * rolled_back with action_rolled_back. *json (may be NULL): the row's API form. */
int playbook_finish(struct store_conn *c, const struct config *cfg, int64_t action_id,
		    const struct playbook_end *end, json_t **json, struct err *e);

/* Renew the lease of a running action_id of owner and store its log so far. */
int playbook_renew(struct store_conn *c, int64_t action_id, const char *owner, int64_t lease_until,
		   const char *log, struct err *e);

/* Fail every running action whose lease ended before now ("interrupted"), with
 * action_executed for each; *n: how many. */
int playbook_sweep(struct store_conn *c, const struct config *cfg, int64_t now, int *n,
		   struct err *e);

/* GET .../incidents/{id}/actions: the incident's own playbooks and the suggestions of
 * SPEC §9.2, params pre-filled from its details. ERR_NOTFOUND. New reference. */
int playbook_offered(struct store_conn *c, const struct config *cfg, int64_t incident_id,
		     json_t **out, struct err *e);

#endif
