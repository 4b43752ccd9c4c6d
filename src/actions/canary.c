/* canary.c — the canary actions: rollback_planner, adjust_canary_split and their
 * inverse, restore_canary (SPEC §9.1). They act on the `canary.<name>` setting
 * (core/settings.h): every step is a settings_put in its own write job, so every step
 * is a settings_changed event and the service under rollout sees it at
 * GET /api/canary/{name}. The plan and the execution both start from the canary as it
 * stands: execute reads it again, so a plan made at 37 % moves from where the canary
 * really is when it runs. */
#include <stdio.h>
#include <string.h>

#include "actions/action.h"
#include "core/settings.h"
#include "util/json.h"
#include "util/time.h"

#define ACTOR "system:executor"

/* The stored state {version, baseline_version, canary_pct, kill_switch} of a canary;
 * ERR_CONFLICT "canary X is not set" when it is not (a plan cannot be made). */
static int canary_state(struct store_conn *c, const char *name, json_t **out, struct err *e)
{
	json_t *full = NULL;
	int rc = settings_canary_json(c, name, &full, e);
	if (rc == ERR_NOTFOUND)
		return err_set(e, ERR_CONFLICT, "canary '%s' is not set (no canary.%s setting)",
			       name, name);
	if (rc)
		return rc;
	*out = jpack("{sO sO sO sO}", "version", json_object_get(full, "version"),
		     "baseline_version", json_object_get(full, "baseline_version"), "canary_pct",
		     json_object_get(full, "canary_pct"), "kill_switch",
		     json_object_get(full, "kill_switch"));
	json_decref(full);
	return 0;
}

static int64_t pct_of(const json_t *state)
{
	return json_get_int(state, "canary_pct", 0);
}

/* The percentages adjust_canary_split passes through from cur to to. */
static json_t *split_steps(int64_t cur, int64_t to, bool gradual)
{
	json_t *steps = json_array();
	if (!gradual) {
		json_array_append_new(steps, json_integer(to));
		return steps;
	}
	int64_t p = cur;
	while (p != to) {
		p = to > p ? (p + 10 < to ? p + 10 : to) : (p - 10 > to ? p - 10 : to);
		json_array_append_new(steps, json_integer(p));
	}
	return steps;
}

/* ---- one step: a write job ---- */

struct step {
	const struct config *cfg;
	const char *name;
	const json_t *set; /* fields to set on the current state */
	const char *reason;
	json_t *before, *after; /* out: new references */
};

static int step_job(struct store_conn *c, void *arg, struct err *e)
{
	struct step *s = arg;
	json_t *cur = NULL;
	int rc = canary_state(c, s->name, &cur, e);
	if (rc)
		return rc;
	json_t *next = json_deep_copy(cur);
	json_object_update(next, (json_t *)s->set);
	char key[128];
	snprintf(key, sizeof key, "canary.%s", s->name);
	rc = settings_put(c, s->cfg, key, next, ACTOR, s->reason, e);
	if (rc) {
		json_decref(cur);
		json_decref(next);
		return rc;
	}
	json_decref(s->before);
	json_decref(s->after);
	s->before = cur;
	s->after = next;
	return 0;
}

/* Apply set to the canary in a write job; the step is appended to steps and logged. */
static int apply(struct action_run *run, const char *name, json_t *set, json_t *steps,
		 json_t **first_before, struct err *e)
{
	char reason[160];
	snprintf(reason, sizeof reason, "action %lld step %zu", (long long)run->action_id,
		 json_array_size(steps) + 1);
	struct step s = {.cfg = run->cfg, .name = name, .set = set, .reason = reason};
	int rc = run->write(run, step_job, &s, e);
	json_decref(set);
	if (rc) {
		json_decref(s.before);
		json_decref(s.after);
		return rc;
	}
	if (first_before && !*first_before)
		*first_before = json_incref(s.before);
	char *text = json_dumps(s.after, JSON_COMPACT | JSON_SORT_KEYS);
	struct buf line = BUF_INIT;
	buf_printf(&line, "canary.%s step %zu: %s\n", name, json_array_size(steps) + 1, text);
	run->log(run, line.data, line.len);
	buf_free(&line);
	free(text);
	json_array_append_new(
		steps, jpack("{so so}", "at", json_time_or_null(time_now_ms()), "state", s.after));
	json_decref(s.before);
	return 0;
}

/* Reads the state at execution time (a read inside a write job, for a consistent start). */
struct read_state {
	const char *name;
	json_t *state;
};

static int read_job(struct store_conn *c, void *arg, struct err *e)
{
	struct read_state *r = arg;
	return canary_state(c, r->name, &r->state, e);
}

/* ---- adjust_canary_split ---- */

static const struct action_param split_params[] = {
	{.v = {.name = "canary", .type = V_STRING, .required = true, .min = 1, .max = 64},
	 .description = "the canary's name (the canary.<name> setting)"},
	{.v = {.name = "version", .type = V_STRING, .required = true, .min = 1, .max = 200},
	 .description = "the canary version; must be the canary's current version"},
	{.v = {.name = "target_percent", .type = V_INT, .required = true, .max = 100},
	 .description = "the share of traffic the canary should get"},
	{.v = {.name = "gradual", .type = V_BOOL},
	 .dflt = "true",
	 .description = "steps of 10 points every actions.canary_step_interval (30 s)"},
	{.v = {.name = NULL}},
};

static int name_ok(const json_t *params, struct err *e)
{
	char key[128];
	snprintf(key, sizeof key, "canary.%s", action_param_str(params, "canary"));
	if (!settings_key_known(key))
		return err_field(e, ERR_INVALID, "params.canary",
				 "params.canary must be 1..64 of [A-Za-z0-9._-]");
	return 0;
}

static int split_check(const struct config *cfg, const json_t *params, struct err *e)
{
	(void)cfg;
	return name_ok(params, e);
}

static int split_plan(const struct config *cfg, struct store_conn *c, const json_t *params,
		      struct action_plan *out, struct err *e)
{
	const char *name = action_param_str(params, "canary");
	const char *version = action_param_str(params, "version");
	int64_t to = json_get_int(params, "target_percent", 0);
	bool gradual = json_get_bool(params, "gradual", true);
	json_t *cur = NULL;
	int rc = canary_state(c, name, &cur, e);
	if (rc)
		return rc;
	int64_t from = pct_of(cur);
	const char *cur_version = json_get_str(cur, "version");
	if (strcmp(version, cur_version ? cur_version : "")) {
		rc = err_set(e, ERR_CONFLICT,
			     "version '%s' is not canary %s's current version '%s'", version, name,
			     cur_version ? cur_version : "");
		goto out;
	}
	if (from == to) {
		rc = err_set(e, ERR_CONFLICT, "no-op move: canary %s is already at %lld %%", name,
			     (long long)to);
		goto out;
	}
	json_t *steps = split_steps(from, to, gradual);
	size_t n = json_array_size(steps);
	int64_t secs = gradual ? (int64_t)(n - 1) * cfg->actions.canary_step_ms / 1000 : 0;
	char msg[300];
	snprintf(msg, sizeof msg, "move canary %s (%s) from %lld %% to %lld %%%s", name, version,
		 (long long)from, (long long)to, gradual ? " in steps of 10 points" : " at once");
	out->plan = jpack("{ss sI sI so sI ss so ss s{sI sf}}", "message", msg, "from_percent",
			  (json_int_t)from, "to_percent", (json_int_t)to, "steps", steps,
			  "step_interval_ms", (json_int_t)cfg->actions.canary_step_ms, "setting",
			  "", "systems", jpack("[s]", "canary traffic split"), "risk",
			  to > from ? "medium" : "low", "estimates", "duration_seconds",
			  (json_int_t)secs, "cost_usd", 0.0);
	char key[128];
	snprintf(key, sizeof key, "canary.%s", name);
	json_object_set_new(out->plan, "setting", json_string(key));
	snprintf(out->target, sizeof out->target, "canary:%s", name);
	out->requires_approval = to > from;
	out->inverse = jpack("{ss s{ss ss sI sb}}", "action_type", "adjust_canary_split", "params",
			     "canary", name, "version", version, "target_percent", (json_int_t)from,
			     "gradual", gradual);
out:
	json_decref(cur);
	return rc;
}

static int split_execute(struct action_run *run, struct action_outcome *out, struct err *e)
{
	const json_t *p = run->params;
	const char *name = action_param_str(p, "canary");
	int64_t to = json_get_int(p, "target_percent", 0);
	bool gradual = json_get_bool(p, "gradual", true);
	struct read_state rs = {.name = name};
	int rc = run->write(run, read_job, &rs, e);
	if (rc)
		return rc;
	int64_t from = pct_of(rs.state);
	json_t *steps = split_steps(from, to, gradual), *done = json_array(), *before = NULL;
	size_t i;
	json_t *pct;
	json_array_foreach(steps, i, pct)
	{
		if (i && run->sleep(run, run->cfg->actions.canary_step_ms)) {
			out->cancelled = true;
			break;
		}
		if ((rc = apply(run, name, jpack("{sO}", "canary_pct", pct), done, &before, e)))
			break;
	}
	out->result = jpack("{sI sI so}", "from_percent", (json_int_t)from, "to_percent",
			    (json_int_t)to, "steps", done);
	/* The undo goes back to where the canary was when this ran. */
	if (before)
		out->inverse =
			jpack("{ss s{ss ss sI sb}}", "action_type", "adjust_canary_split", "params",
			      "canary", name, "version", action_param_str(p, "version"),
			      "target_percent", (json_int_t)from, "gradual", gradual);
	json_decref(before);
	json_decref(steps);
	json_decref(rs.state);
	return rc;
}

const struct action_type action_adjust_canary_split = {
	.name = "adjust_canary_split",
	.display_name = "Adjust canary split",
	.description = "Move a canary's share of traffic to a target percentage, at once or in "
		       "steps of 10 points.",
	.approval_rule = "when the target is above the current percentage",
	.rollback = "back to the previous percentage",
	.params = split_params,
	.check = split_check,
	.plan = split_plan,
	.execute = split_execute,
};

/* ---- rollback_planner ---- */

static const struct action_param rollback_params[] = {
	{.v = {.name = "canary", .type = V_STRING, .min = 1, .max = 64},
	 .dflt = "\"planner\"",
	 .description = "the canary's name"},
	{.v = {.name = "from_version", .type = V_STRING, .required = true, .min = 1, .max = 200},
	 .description = "the bad version; must be the canary's current version"},
	{.v = {.name = "to_version", .type = V_STRING, .min = 1, .max = 200},
	 .description = "the version to serve (default: the canary's baseline_version)"},
	{.v = {.name = "immediate", .type = V_BOOL},
	 .dflt = "false",
	 .description = "canary_pct 0 and kill_switch on at once; else current → half → 0 over "
			"actions.rollback_duration (15 min)"},
	{.v = {.name = NULL}},
};

static int rollback_check(const struct config *cfg, const json_t *params, struct err *e)
{
	(void)cfg;
	return name_ok(params, e);
}

static int rollback_plan(const struct config *cfg, struct store_conn *c, const json_t *params,
			 struct action_plan *out, struct err *e)
{
	const char *name = action_param_str(params, "canary");
	const char *from_v = action_param_str(params, "from_version");
	bool immediate = json_get_bool(params, "immediate", false);
	json_t *cur = NULL;
	int rc = canary_state(c, name, &cur, e);
	if (rc)
		return rc;
	const char *cur_v = json_get_str(cur, "version");
	const char *to_v = json_get_str(params, "to_version");
	if (!to_v)
		to_v = json_get_str(cur, "baseline_version");
	int64_t pct = pct_of(cur);
	bool kill = json_get_bool(cur, "kill_switch", false);
	if (strcmp(from_v, cur_v ? cur_v : "")) {
		rc = err_set(e, ERR_CONFLICT,
			     "from_version '%s' is not canary %s's current version '%s'", from_v,
			     name, cur_v ? cur_v : "");
		goto out;
	}
	if (pct == 0 && (!immediate || kill)) {
		rc = err_set(e, ERR_CONFLICT, "no-op move: canary %s already gets no traffic",
			     name);
		goto out;
	}
	json_t *steps = json_array();
	if (immediate) {
		json_array_append_new(
			steps, jpack("{sI sb}", "canary_pct", (json_int_t)0, "kill_switch", 1));
	} else {
		if (pct / 2 > 0)
			json_array_append_new(steps,
					      jpack("{sI}", "canary_pct", (json_int_t)(pct / 2)));
		json_array_append_new(steps, jpack("{sI}", "canary_pct", (json_int_t)0));
	}
	char msg[400];
	snprintf(msg, sizeof msg, "roll canary %s back from %s to %s: %s", name, from_v,
		 to_v ? to_v : "",
		 immediate ? "canary_pct 0 and kill_switch on at once" : "current → half → 0");
	int64_t secs = immediate || json_array_size(steps) < 2
			       ? 0
			       : cfg->actions.rollback_duration_ms / 1000;
	out->plan = jpack("{ss ss ss so so ss s[s] ss s{sI sf}}", "message", msg, "from_version",
			  from_v, "to_version", to_v ? to_v : "", "steps", steps, "current",
			  json_incref(cur), "setting", "", "systems", "canary traffic split",
			  "risk", immediate ? "high" : "medium", "estimates", "duration_seconds",
			  (json_int_t)secs, "cost_usd", 0.0);
	char key[128];
	snprintf(key, sizeof key, "canary.%s", name);
	json_object_set_new(out->plan, "setting", json_string(key));
	snprintf(out->target, sizeof out->target, "canary:%s", name);
	out->requires_approval = immediate;
	out->inverse = jpack("{ss s{ss sO}}", "action_type", "restore_canary", "params", "canary",
			     name, "state", cur);
out:
	json_decref(cur);
	return rc;
}

static int rollback_execute(struct action_run *run, struct action_outcome *out, struct err *e)
{
	const json_t *p = run->params;
	const char *name = action_param_str(p, "canary");
	bool immediate = json_get_bool(p, "immediate", false);
	struct read_state rs = {.name = name};
	int rc = run->write(run, read_job, &rs, e);
	if (rc)
		return rc;
	const char *to_v = json_get_str(p, "to_version");
	if (!to_v)
		to_v = json_get_str(rs.state, "baseline_version");
	int64_t pct = pct_of(rs.state);
	json_t *done = json_array(), *before = NULL;
	if (immediate) {
		rc = apply(run, name,
			   jpack("{sI sb}", "canary_pct", (json_int_t)0, "kill_switch", 1), done,
			   &before, e);
	} else {
		if (pct / 2 > 0)
			rc = apply(run, name, jpack("{sI}", "canary_pct", (json_int_t)(pct / 2)),
				   done, &before, e);
		if (!rc && pct / 2 > 0 && run->sleep(run, run->cfg->actions.rollback_duration_ms))
			out->cancelled = true;
		else if (!rc)
			rc = apply(run, name, jpack("{sI}", "canary_pct", (json_int_t)0), done,
				   &before, e);
	}
	out->result = jpack("{so ss so}", "previous", json_incref(rs.state), "to_version",
			    to_v ? to_v : "", "steps", done);
	if (before)
		out->inverse = jpack("{ss s{ss sO}}", "action_type", "restore_canary", "params",
				     "canary", name, "state", before);
	json_decref(before);
	json_decref(rs.state);
	return rc;
}

const struct action_type action_rollback_planner = {
	.name = "rollback_planner",
	.display_name = "Roll back planner canary",
	.description = "Take traffic away from a bad canary version: at once (canary_pct 0 and "
		       "the kill switch on) or gradually (current → half → 0).",
	.approval_rule = "when immediate",
	.rollback = "restores the exact previous canary state",
	.params = rollback_params,
	.check = rollback_check,
	.plan = rollback_plan,
	.execute = rollback_execute,
};

/* ---- restore_canary: the undo of a rollback ---- */

static const struct action_param restore_params[] = {
	{.v = {.name = "canary", .type = V_STRING, .required = true, .min = 1, .max = 64},
	 .description = "the canary's name"},
	{.v = {.name = "state", .type = V_OBJECT, .required = true, .max = 4096},
	 .description = "the state to restore: {version, baseline_version, canary_pct, "
			"kill_switch}"},
	{.v = {.name = NULL}},
};

static int restore_check(const struct config *cfg, const json_t *params, struct err *e)
{
	(void)cfg;
	int rc = name_ok(params, e);
	if (rc)
		return rc;
	const json_t *st = json_object_get(params, "state");
	const json_t *pct = json_object_get(st, "canary_pct");
	if (!json_is_string(json_object_get(st, "version")) ||
	    !json_is_string(json_object_get(st, "baseline_version")) || !json_is_integer(pct) ||
	    json_integer_value(pct) < 0 || json_integer_value(pct) > 100 ||
	    !json_is_boolean(json_object_get(st, "kill_switch")) || json_object_size(st) != 4)
		return err_field(e, ERR_INVALID, "params.state",
				 "params.state must be {version, baseline_version, canary_pct "
				 "0..100, kill_switch}");
	return 0;
}

static int restore_plan(const struct config *cfg, struct store_conn *c, const json_t *params,
			struct action_plan *out, struct err *e)
{
	(void)cfg;
	const char *name = action_param_str(params, "canary");
	const json_t *want = json_object_get(params, "state");
	json_t *cur = NULL;
	int rc = canary_state(c, name, &cur, e);
	if (rc)
		return rc;
	if (json_equal(cur, (json_t *)want)) {
		json_decref(cur);
		return err_set(e, ERR_CONFLICT, "no-op move: canary %s is already in that state",
			       name);
	}
	bool raises = pct_of(want) > pct_of(cur) || (json_get_bool(cur, "kill_switch", false) &&
						     !json_get_bool(want, "kill_switch", false));
	char msg[200];
	snprintf(msg, sizeof msg, "restore canary %s to its state before the rollback", name);
	out->plan =
		jpack("{ss sO sO s[s] ss s{sI sf}}", "message", msg, "current", cur, "state", want,
		      "systems", "canary traffic split", "risk", raises ? "medium" : "low",
		      "estimates", "duration_seconds", (json_int_t)0, "cost_usd", 0.0);
	snprintf(out->target, sizeof out->target, "canary:%s", name);
	out->requires_approval = raises;
	out->inverse = jpack("{ss s{ss sO}}", "action_type", "restore_canary", "params", "canary",
			     name, "state", cur);
	json_decref(cur);
	return 0;
}

static int restore_execute(struct action_run *run, struct action_outcome *out, struct err *e)
{
	const char *name = action_param_str(run->params, "canary");
	json_t *done = json_array(), *before = NULL;
	int rc = apply(run, name, json_deep_copy(json_object_get(run->params, "state")), done,
		       &before, e);
	out->result = jpack("{sO? so}", "previous", before, "steps", done);
	if (before)
		out->inverse = jpack("{ss s{ss sO}}", "action_type", "restore_canary", "params",
				     "canary", name, "state", before);
	json_decref(before);
	return rc;
}

const struct action_type action_restore_canary = {
	.name = "restore_canary",
	.display_name = "Restore canary state",
	.description = "Put a canary back in an exact earlier state (the undo of a rollback).",
	.approval_rule = "when it raises the canary's traffic or turns the kill switch off",
	.rollback = "back to the state it replaced",
	.params = restore_params,
	.internal = true,
	.check = restore_check,
	.plan = restore_plan,
	.execute = restore_execute,
};
