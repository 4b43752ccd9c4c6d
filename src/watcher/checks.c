#include "watcher/checks.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/canary.h"
#include "core/gate_report.h"
#include "core/gates.h"
#include "core/policy.h"
#include "core/settings.h"
#include "util/json.h"
#include "util/utf8.h"

const char *const watcher_kind_names[WATCHER_KINDS] = {"budget", "planner", "invariant"};

#define ACTOR "system:watcher"

/* Keys of watcher_state. */
#define HW_METRICS "agent_metrics_daily.high_water"
#define HW_CANARY  "canary_runs.high_water"
#define HW_EVAL	   "eval_results.high_water"

/* Invariant results read per job: bounds one transaction. */
#define EVAL_BATCH 1000

/* Send the signal described by req (a POST /api/signals object; stolen) exactly as
 * the API would. */
static int send(struct store_conn *c, struct watcher_cycle *cy, int kind, json_t *req,
		enum signal_outcome *outcome, struct err *e)
{
	struct signal s;
	int rc = signal_parse(cy->cfg, req, &s, e);
	json_decref(req);
	if (rc)
		return rc;
	enum signal_outcome o;
	int64_t id;
	rc = signal_ingest(c, cy->cfg, &s, ACTOR, &o, &id, e);
	signal_clear(&s);
	if (!rc) {
		cy->outcomes[kind][o]++;
		if (outcome)
			*outcome = o;
	}
	return rc;
}

/* A gate incident's check passed: count it, and after watcher.auto_resolve_after
 * consecutive passes resolve its active incident. *resolved set when it did. */
static int passed(struct store_conn *c, struct watcher_cycle *cy, int kind, const char *key,
		  int64_t *resolved, struct err *e)
{
	if (!cy->cfg->watcher.auto_resolve)
		return 0;
	struct incident inc;
	int rc = store_incident_find_active(c, watcher_kind_names[kind], key, &inc, e);
	if (rc == ERR_NOTFOUND)
		return 0; /* nothing to resolve: passes are not banked for later */
	if (rc)
		return rc;
	incident_clear(&inc);
	char skey[600];
	snprintf(skey, sizeof skey, "passes:%s", key);
	int64_t n;
	if ((rc = store_wstate_get(c, skey, &n, e)))
		return rc;
	n++;
	if (n >= cy->cfg->watcher.auto_resolve_after) {
		char summary[160];
		snprintf(summary, sizeof summary, "the check passed %lld consecutive evaluations",
			 (long long)n);
		enum signal_outcome o;
		rc = send(c, cy, kind,
			  jpack("{ss ss ss ss ss}", "kind", watcher_kind_names[kind], "key", key,
				"summary", summary, "action", "resolve", "source", "watcher"),
			  &o, e);
		if (!rc && o == OUT_RESOLVED)
			(*resolved)++;
		n = 0;
	}
	return rc ? rc : store_wstate_put(c, skey, n, cy->now, e);
}

/* A gate incident's check failed: its run of passes starts over. */
static int failed(struct store_conn *c, struct watcher_cycle *cy, const char *key, struct err *e)
{
	char skey[600];
	snprintf(skey, sizeof skey, "passes:%s", key);
	int64_t n;
	int rc = store_wstate_get(c, skey, &n, e);
	return rc || !n ? rc : store_wstate_put(c, skey, 0, cy->now, e);
}

/* ---- budgets: agents whose metrics changed since the last evaluation ---- */

/* A small set of names (agents, canaries, incident keys), in first-seen order. */
struct names {
	char **names;
	size_t n;
	int64_t high; /* the newest mark seen while collecting them */
};

static void names_add(struct names *a, const char *name)
{
	for (size_t i = 0; i < a->n; i++)
		if (!strcmp(a->names[i], name))
			return;
	a->names = xrealloc(a->names, (a->n + 1) * sizeof *a->names);
	a->names[a->n++] = xstrdup(name);
}

static void names_free(struct names *a)
{
	for (size_t i = 0; i < a->n; i++)
		free(a->names[i]);
	free(a->names);
}

static int add_agent(const char *agent, const char *date, int64_t updated_at, void *arg)
{
	(void)date;
	struct names *a = arg;
	if (updated_at > a->high)
		a->high = updated_at;
	names_add(a, agent);
	return 0;
}

/* The budgets check reads on a reader — which agents have new data, their gates, which
 * passing checks have an incident to count for — and writes only what must change in a
 * short write job: the signals of the agents with violations (evaluated again there,
 * so the signal carries the data it was decided on), the counts of passes, the mark.
 * Evaluating a thousand agents inside the writer's transaction would hold every
 * other write back for its duration. */
struct budgets_arg {
	struct watcher_cycle *cy;
	int64_t agents, evaluated, violations, resolved;
	int64_t high;		  /* read: the newest upload seen; 0 when nothing is new */
	struct names failing;	  /* read: agents with violations */
	struct names passing;	  /* read: keys of passing checks whose incident is active */
	struct names failed_keys; /* read: keys of violated checks (passes start over) */
};

static bool has_budget(const struct config *cfg, const char *agent)
{
	for (size_t i = 0; i < cfg->n_budgets; i++)
		if (!strcmp(cfg->budgets[i].agent, agent))
			return true;
	return false;
}

static int budgets_read(struct store_conn *c, void *arg, struct err *e)
{
	struct budgets_arg *ba = arg;
	struct watcher_cycle *cy = ba->cy;
	int64_t hw;
	struct names ag = {0};
	int rc = store_wstate_get(c, HW_METRICS, &hw, e);
	if (!rc)
		rc = store_metrics_updated(c, hw, add_agent, &ag, e);
	ba->high = ag.high;
	for (size_t i = 0; i < ag.n && !rc; i++) {
		ba->agents++;
		if (!has_budget(cy->cfg, ag.names[i]))
			continue;
		struct gate_run run = {.agent = ag.names[i],
				       .lookback_days = 7,
				       .baseline_days = 14,
				       .source = "watcher",
				       .now = cy->now};
		json_t *report = NULL;
		if ((rc = gate_report(c, cy->cfg, &run, ACTOR, &report, e)))
			break;
		ba->evaluated++;
		const json_t *a = json_array_get(json_object_get(report, "agents"), 0);
		const json_t *vs = json_object_get(a, "violations");
		ba->violations += (int64_t)json_array_size(vs);
		if (json_array_size(vs))
			names_add(&ba->failing, ag.names[i]);
		bool judged = !json_object_get(a, "note"); /* no data or disabled: no verdict */
		for (int t = 0; t < GT_COUNT && !rc && judged; t++) {
			char key[320];
			snprintf(key, sizeof key, "budget:%s:%s", ag.names[i],
				 gate_type_name((enum gate_type)t));
			bool violated = false;
			size_t k;
			const json_t *v;
			json_array_foreach(vs, k, v)
			{
				if (!strcmp(json_get_str(v, "budget_type"),
					    gate_type_name((enum gate_type)t)))
					violated = true;
			}
			if (violated) {
				names_add(&ba->failed_keys, key);
				continue;
			}
			struct incident inc;
			rc = store_incident_find_active(c, "budget", key, &inc, e);
			if (rc == ERR_NOTFOUND) {
				rc = 0;
				continue;
			}
			if (!rc) {
				incident_clear(&inc);
				names_add(&ba->passing, key);
			}
		}
		json_decref(report);
	}
	names_free(&ag);
	return rc;
}

static int budgets_write(struct store_conn *c, void *arg, struct err *e)
{
	struct budgets_arg *ba = arg;
	struct watcher_cycle *cy = ba->cy;
	int rc = 0;
	int64_t before[OUT_COUNT];
	for (int o = 0; o < OUT_COUNT; o++)
		before[o] = cy->outcomes[WK_BUDGET][o];
	for (size_t i = 0; i < ba->failing.n && !rc; i++) {
		struct gate_run run = {.agent = ba->failing.names[i],
				       .lookback_days = 7,
				       .baseline_days = 14,
				       .create_incidents = true,
				       .source = "watcher",
				       .now = cy->now};
		json_t *report = NULL;
		if (!(rc = gate_report(c, cy->cfg, &run, ACTOR, &report, e)))
			for (int o = 0; o < OUT_COUNT; o++)
				cy->outcomes[WK_BUDGET][o] += run.outcomes[o];
		json_decref(report);
	}
	for (size_t i = 0; i < ba->failed_keys.n && !rc; i++)
		rc = failed(c, cy, ba->failed_keys.names[i], e);
	for (size_t i = 0; i < ba->passing.n && !rc; i++)
		rc = passed(c, cy, WK_BUDGET, ba->passing.names[i], &ba->resolved, e);
	if (!rc && ba->high)
		rc = store_wstate_put(c, HW_METRICS, ba->high, cy->now, e);
	if (rc) /* rolled back: not counted */
		for (int o = 0; o < OUT_COUNT; o++)
			cy->outcomes[WK_BUDGET][o] = before[o];
	return rc;
}

static int check_budgets(struct watcher_cycle *cy, json_t *counts, struct err *e)
{
	struct budgets_arg a = {.cy = cy};
	int rc = store_pool_call(cy->pool, JOB_READ, budgets_read, &a, e);
	if (!rc && (a.high || a.failing.n || a.passing.n))
		rc = store_pool_call(cy->pool, JOB_WRITE, budgets_write, &a, e);
	names_free(&a.failing);
	names_free(&a.passing);
	names_free(&a.failed_keys);
	if (!rc)
		json_object_update_new(counts, jpack("{sI sI sI sI}", "agents_with_new_data",
						     (json_int_t)a.agents, "evaluated",
						     (json_int_t)a.evaluated, "violations",
						     (json_int_t)a.violations, "resolved",
						     (json_int_t)a.resolved));
	return rc;
}

/* ---- canary: canaries with new runs ---- */

static int add_canary(int64_t id, const char *canary, void *arg)
{
	struct names *cs = arg;
	if (id > cs->high)
		cs->high = id;
	names_add(cs, canary);
	return 0;
}

struct runs {
	struct canary_run *r;
	size_t n;
};

static int add_run(const struct canary_run *r, void *arg)
{
	struct runs *rs = arg;
	rs->r = xrealloc(rs->r, (rs->n + 1) * sizeof *rs->r);
	struct canary_run *d = &rs->r[rs->n++];
	*d = *r;
	d->canary = xstrdup(r->canary);
	d->version = xstrdup(r->version);
	return 0;
}

static void runs_free(struct runs *rs)
{
	for (size_t i = 0; i < rs->n; i++)
		canary_run_clear(&rs->r[i]);
	free(rs->r);
}

/* The canary's current split from its setting, or JSON null. */
static json_t *canary_pct(struct store_conn *c, const char *canary)
{
	json_t *v = NULL;
	struct err e;
	err_clear(&e);
	if (settings_canary_json(c, canary, &v, &e))
		return json_null();
	json_t *pct = json_incref(json_object_get(v, "canary_pct"));
	json_decref(v);
	return pct ? pct : json_null();
}

struct canary_arg {
	struct watcher_cycle *cy;
	int64_t canaries, findings, resolved;
};

static int one_canary(struct store_conn *c, struct canary_arg *ca, const char *name, struct err *e)
{
	struct watcher_cycle *cy = ca->cy;
	struct runs rs = {0};
	int rc = store_canary_last(c, name, cy->cfg->canary.window_runs, add_run, &rs, e);
	if (rc) {
		runs_free(&rs);
		return rc;
	}
	struct canary_sample *s = xcalloc(rs.n ? rs.n : 1, sizeof *s);
	for (size_t i = 0; i < rs.n; i++)
		s[i] = (struct canary_sample){
			.version = rs.r[i].version,
			.canary = !strcmp(rs.r[i].variant, "canary"),
			.has_quality = rs.r[i].quality_score.set,
			.has_latency = rs.r[i].latency_ms.set,
			.has_cost = rs.r[i].cost.set,
			.quality = rs.r[i].quality_score.v,
			.latency_ms = rs.r[i].latency_ms.v,
			.cost = rs.r[i].cost.v,
		};
	struct canary_finding *f = NULL;
	size_t nf = canary_detect(cy->cfg, s, rs.n, &f);
	ca->findings += (int64_t)nf;
	for (size_t i = 0; i < nf && !rc; i++) {
		char key[320], summary[257], list[64] = "";
		snprintf(key, sizeof key, "planner:%s:%s", name, f[i].version);
		for (size_t k = 0; k < f[i].n; k++)
			snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s",
				 k ? ", " : "", canary_metric_name(f[i].m[k].id));
		snprintf(summary, sizeof summary, "Canary %s %s regressed: %s", name, f[i].version,
			 list);
		summary[utf8_cut(summary, strlen(summary), 256)] = '\0';
		static const char *const sev[] = {NULL, "sev1", "sev2"};
		json_t *details = jpack("{ss ss so so sb sI sI}", "canary", name, "version",
					f[i].version, "metrics", canary_metrics_json(&f[i]),
					"canary_pct", canary_pct(c, name), "rollback_available", 1,
					"canary_samples", (json_int_t)f[i].canary_samples,
					"baseline_samples", (json_int_t)f[i].baseline_samples);
		rc = send(c, cy, WK_PLANNER,
			  jpack("{ss ss ss ss so s[ss] ss}", "kind", "planner", "key", key,
				"summary", summary, "severity", sev[canary_finding_severity(&f[i])],
				"details", details, "playbooks", "rollback_planner",
				"adjust_canary_split", "source", "watcher"),
			  NULL, e);
		if (!rc)
			rc = failed(c, cy, key, e);
	}
	/* versions judged (enough samples) without a regression pass */
	for (size_t i = 0; i < rs.n && !rc; i++) {
		if (!s[i].canary)
			continue;
		bool seen = false, regressed = false;
		for (size_t k = 0; k < i && !seen; k++)
			seen = s[k].canary && !strcmp(s[k].version, s[i].version);
		if (seen)
			continue;
		int64_t count = 0;
		for (size_t k = 0; k < rs.n; k++)
			count += s[k].canary && !strcmp(s[k].version, s[i].version);
		for (size_t k = 0; k < nf; k++)
			regressed |= !strcmp(f[k].version, s[i].version);
		if (regressed || count < cy->cfg->canary.min_samples)
			continue;
		char key[320];
		snprintf(key, sizeof key, "planner:%s:%s", name, s[i].version);
		rc = passed(c, cy, WK_PLANNER, key, &ca->resolved, e);
	}
	free(f);
	free(s);
	runs_free(&rs);
	return rc;
}

static int canary_fn(struct store_conn *c, void *arg, struct err *e)
{
	struct canary_arg *ca = arg;
	ca->canaries = ca->findings = ca->resolved = 0;
	int64_t hw;
	struct names cs = {0};
	int rc = store_wstate_get(c, HW_CANARY, &hw, e);
	if (!rc)
		rc = store_canary_new(c, hw, add_canary, &cs, e);
	for (size_t i = 0; i < cs.n && !rc; i++) {
		ca->canaries++;
		rc = one_canary(c, ca, cs.names[i], e);
	}
	if (!rc && cs.n)
		rc = store_wstate_put(c, HW_CANARY, cs.high, ca->cy->now, e);
	names_free(&cs);
	return rc;
}

static int check_canary(struct watcher_cycle *cy, json_t *counts, struct err *e)
{
	struct canary_arg a = {.cy = cy};
	int rc = store_pool_call(cy->pool, JOB_WRITE, canary_fn, &a, e);
	if (!rc)
		json_object_update_new(counts, jpack("{sI sI sI}", "canaries_with_new_runs",
						     (json_int_t)a.canaries, "regressions",
						     (json_int_t)a.findings, "resolved",
						     (json_int_t)a.resolved));
	return rc;
}

/* ---- invariants: failed invariants in results not looked at yet ---- */

struct eval_arg {
	struct watcher_cycle *cy;
	int64_t results, failures;
	size_t batch; /* rows read by the last job */
	struct err row_err;
	int row_rc;
	struct store_conn *c;
	int64_t high;
};

static int one_result(int64_t id, const char *task_id, const char *agent, int64_t timestamp,
		      const char *invariants, void *arg)
{
	struct eval_arg *ea = arg;
	struct watcher_cycle *cy = ea->cy;
	ea->batch++;
	ea->results++;
	ea->high = id;
	json_t *invs = json_loads(invariants, 0, NULL);
	size_t i;
	json_t *inv;
	json_array_foreach(invs, i, inv)
	{
		if (!json_is_false(json_object_get(inv, "passed")))
			continue;
		ea->failures++;
		const char *inv_id = json_get_str(inv, "id");
		const char *name = json_get_str(inv, "name");
		const char *msg = json_get_str(inv, "message");
		int sev = policy_priority_severity(cy->cfg, json_get_str(inv, "priority"));
		static const char *const sevs[] = {"sev3", "sev1", "sev2", "sev3", "sev4"};
		char summary[257];
		snprintf(summary, sizeof summary, "Invariant failed: %s (%s)", name ? name : inv_id,
			 agent);
		summary[utf8_cut(summary, strlen(summary), 256)] = '\0';
		json_t *evidence = json_object_get(inv, "evidence");
		json_t *details = jpack(
			"{ss ss ss ss sI so so}", "invariant_id", inv_id, "invariant_name",
			name ? name : inv_id, "agent", agent, "task_id", task_id, "eval_result_id",
			(json_int_t)id, "failure_message", msg ? json_string(msg) : json_null(),
			"evidence", evidence ? json_incref(evidence) : json_object());
		json_object_set_new(details, "timestamp", json_time_or_null(timestamp));
		char key[300];
		snprintf(key, sizeof key, "invariant:%s", inv_id);
		ea->row_rc = send(ea->c, cy, WK_INVARIANT,
				  jpack("{ss ss ss ss so s[s] ss}", "kind", "invariant", "key", key,
					"summary", summary, "severity", sevs[sev], "details",
					details, "playbooks", "rerun_dbt", "source", "watcher"),
				  NULL, &ea->row_err);
		if (ea->row_rc)
			break;
	}
	json_decref(invs);
	return ea->row_rc ? 1 : 0;
}

static int eval_fn(struct store_conn *c, void *arg, struct err *e)
{
	struct eval_arg *ea = arg;
	ea->batch = 0;
	ea->row_rc = 0;
	ea->c = c;
	int64_t hw;
	int rc = store_wstate_get(c, HW_EVAL, &hw, e);
	ea->high = hw;
	if (!rc)
		rc = store_eval_failed(c, hw,
				       ea->cy->now - ea->cy->cfg->watcher.invariant_lookback_ms,
				       EVAL_BATCH, one_result, ea, e);
	if (!rc && ea->row_rc) {
		*e = ea->row_err;
		rc = ea->row_rc;
	}
	if (!rc && ea->high > hw)
		rc = store_wstate_put(c, HW_EVAL, ea->high, ea->cy->now, e);
	return rc;
}

static int check_invariants(struct watcher_cycle *cy, json_t *counts, struct err *e)
{
	struct eval_arg a = {.cy = cy};
	int rc;
	do
		rc = store_pool_call(cy->pool, JOB_WRITE, eval_fn, &a, e);
	while (!rc && a.batch == EVAL_BATCH);
	json_object_update_new(counts,
			       jpack("{sI sI}", "results_with_failures", (json_int_t)a.results,
				     "failed_invariants", (json_int_t)a.failures));
	return rc;
}

const struct watcher_check watcher_checks[] = {
	{"invariants", check_invariants},
	{"budgets", check_budgets},
	{"canary", check_canary},
};
const size_t watcher_n_checks = sizeof watcher_checks / sizeof watcher_checks[0];
