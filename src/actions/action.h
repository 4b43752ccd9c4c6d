/* action.h — playbook action types (SPEC §9.1) behind one table.
 *
 * Each type declares its param schema, checks what the schema cannot say, makes a plan
 * (the dry-run: concrete command line or HTTP calls, systems, risk, estimates, the
 * approval rule and reversibility), says whether the params need a second person's
 * approval against the current state, and executes for real. Adding a type is one file
 * and one row of action.c's registry.
 *
 * Threads: schema, check and describe are pure (any thread). plan and requires_approval
 * run on a store thread inside the job that stores or executes the plan (they may read
 * the store: the canary setting). execute runs on an executor worker thread and reaches
 * the store only through the executor's hooks (jobs on the pool). */
#ifndef INTERVENE_ACTIONS_ACTION_H
#define INTERVENE_ACTIONS_ACTION_H

#include <jansson.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "config/config.h"
#include "store/store.h"
#include "util/buf.h"
#include "util/err.h"
#include "util/validate.h"

/* One param: its validation (name, type, required, bounds, allowed values), its default
 * (JSON text, NULL when none) and, for string lists, the allowed item values. */
struct action_param {
	struct vfield v;
	const char *dflt;
	const char *const *items_allowed;
	const char *description;
};

/* What a plan says (owned by the caller: action_plan_clear). */
struct action_plan {
	json_t *plan;	  /* {message, commands | http_calls | steps, systems, risk, estimates} */
	char target[600]; /* the lock key: one running action per target */
	bool requires_approval;
	json_t *inverse; /* {action_type, params} of the undo when it is known at plan time */
};
void action_plan_clear(struct action_plan *p);

/* What a running action may use (executor.c fills it). */
struct action_run {
	const struct config *cfg;
	int64_t action_id;
	const json_t *params; /* with defaults filled */
	const atomic_bool *cancel;
	volatile sig_atomic_t *cancel_sig; /* the same, for http_client_cancel_on */
	/* Append text to the action's log (any size; the executor keeps the last 1 MiB). */
	void (*log)(struct action_run *run, const char *data, size_t n);
	/* Run fn(arg, c) as a write job and wait for it. */
	int (*write)(struct action_run *run,
		     int (*fn)(struct store_conn *c, void *arg, struct err *e), void *arg,
		     struct err *e);
	/* Sleep up to ms; true when cancelled meanwhile. */
	bool (*sleep)(struct action_run *run, int64_t ms);
	void *priv;
};

/* What execute hands back: result (new reference, stored as the action's result),
 * inverse ({action_type, params} of the undo, new reference, NULL when not reversible)
 * and cancelled (it stopped because of a cancel). execute returns 0, or an error with
 * its text in e — the action's error. */
struct action_outcome {
	json_t *result;
	json_t *inverse;
	bool cancelled;
};

struct action_type {
	const char *name, *display_name, *description;
	const char *approval_rule;	   /* in words */
	const char *rollback;		   /* in words; NULL when not reversible */
	const struct action_param *params; /* ends with an entry whose v.name is NULL */
	bool internal; /* planned only as another action's inverse, never offered */
	/* Beyond the schema: params has every default filled. ERR_INVALID naming the field. */
	int (*check)(const struct config *cfg, const json_t *params, struct err *e);
	/* The plan (dry-run) against the current state. A plan that cannot be made
	 * (canary missing, no-op move, project missing) is ERR_CONFLICT with the reason;
	 * storage errors as usual. */
	int (*plan)(const struct config *cfg, struct store_conn *c, const json_t *params,
		    struct action_plan *out, struct err *e);
	/* Run it for real; see struct action_outcome. */
	int (*execute)(struct action_run *run, struct action_outcome *out, struct err *e);
};

/* The registry, and a type by name (NULL when unknown). */
extern const struct action_type *const action_types[];
const struct action_type *action_type_find(const char *name);

/* Validate params (an object, or NULL = {}) for t: unknown fields, types, bounds, the
 * item rules, then t->check; 400-style ERR_INVALID with e->field "params.<name>".
 * *out: a copy with every default filled (new reference). Pure. */
int action_params_validate(const struct action_type *t, const struct config *cfg,
			   const json_t *params, json_t **out, struct err *e);

/* {name, display_name, description, params: [{name, type, required, default, min, max,
 * allowed}], approval, reversible, rollback} — the catalogue entry. New reference. */
json_t *action_type_describe(const struct action_type *t);

/* The plan hash: hex SHA-256 of the canonical JSON of {action_type, params}. */
void action_plan_hash(const char *type, const json_t *params, char out[65]);

/* Shared by the types (action.c): a string param, "" when absent. */
const char *action_param_str(const json_t *params, const char *name);

#endif
