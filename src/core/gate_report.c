#include "core/gate_report.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/gates.h"
#include "core/signal.h"
#include "util/json.h"
#include "util/utf8.h"

#define DAY_MS 86400000LL

void gate_date(int64_t days, char out[11])
{
	/* civil_from_days (H. Hinnant's algorithm), proleptic Gregorian */
	int64_t z = days + 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	int64_t doe = z - era * 146097;
	int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t y = yoe + era * 400;
	int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	int64_t mp = (5 * doy + 2) / 153;
	int64_t d = doy - (153 * mp + 2) / 5 + 1;
	int64_t m = mp < 10 ? mp + 3 : mp - 9;
	if (m <= 2)
		y++;
	int yy = (int)(y < 0 ? 0 : y > 9999 ? 9999 : y), mm = (int)(m % 13), dd = (int)(d % 32);
	char tmp[32];
	snprintf(tmp, sizeof tmp, "%04d-%02d-%02d", yy, mm, dd);
	memcpy(out, tmp, 10);
	out[10] = '\0';
}

static void day_of(const struct metrics_daily *m, struct gate_day *d)
{
	*d = (struct gate_day){
		.total_runs = m->total_runs,
		.successful_runs = m->successful_runs,
		.invariants_passed = m->invariants_passed,
		.invariants_failed = m->invariants_failed,
		.has_quality = m->avg_quality_score.set,
		.has_latency_avg = m->avg_latency_ms.set,
		.has_p50 = m->p50_latency_ms.set,
		.has_p95 = m->p95_latency_ms.set,
		.has_p99 = m->p99_latency_ms.set,
		.has_cost = m->avg_cost.set,
		.quality = m->avg_quality_score.v,
		.latency_avg = m->avg_latency_ms.v,
		.p50 = m->p50_latency_ms.v,
		.p95 = m->p95_latency_ms.v,
		.p99 = m->p99_latency_ms.v,
		.cost = m->avg_cost.v,
	};
}

/* The rows of one agent over [base_from, to), split into the two windows. */
struct windows {
	const char *split; /* first date of the lookback window */
	struct gate_window cur, base;
};

static int add_row(const struct metrics_daily *m, void *arg)
{
	struct windows *w = arg;
	struct gate_day d;
	day_of(m, &d);
	gate_window_add(strcmp(m->date, w->split) >= 0 ? &w->cur : &w->base, &d);
	return 0;
}

/* Ingest violation v of agent as a budget signal. */
static int violation_signal(struct store_conn *c, const struct config *cfg,
			    const struct gate_run *run, const struct config_budget *b,
			    const struct gate_violation *v, const struct windows *w,
			    const char *actor, int64_t *outcomes, json_t *vj, struct err *e)
{
	struct buf summary = BUF_INIT;
	buf_printf(&summary, "%s: %s", b->agent, v->message);
	summary.data[utf8_cut(summary.data, summary.len, 256)] = '\0';
	json_t *details = gate_violation_json(b->agent, v);
	json_object_set_new(details, "budget", gate_budget_json(b));
	json_object_set_new(details, "current", gate_window_json(&w->cur));
	json_object_set_new(details, "baseline", gate_window_json(&w->base));
	static const char *const sev[] = {NULL, "sev1", "sev2", "sev3", "sev4"};
	char key[320];
	snprintf(key, sizeof key, "budget:%s:%s", b->agent, gate_type_name(v->type));
	json_t *req = jpack(
		"{ss ss ss ss so so ss}", "kind", "budget", "key", key, "summary", summary.data,
		"severity", sev[gate_word_severity(gate_type_severity(v->type))], "details",
		details, "playbooks", gate_playbooks(v->type, b->agent), "source", run->source);
	struct signal s;
	int rc = signal_parse(cfg, req, &s, e);
	json_decref(req);
	buf_free(&summary);
	if (rc)
		return rc;
	enum signal_outcome o;
	int64_t id;
	rc = signal_ingest(c, cfg, &s, actor, &o, &id, e);
	signal_clear(&s);
	if (!rc) {
		outcomes[o]++;
		json_object_set_new(vj, "outcome", json_string(signal_outcome_name(o)));
		json_object_set_new(vj, "incident_id", id ? json_integer(id) : json_null());
	}
	return rc;
}

static int cmp_budget(const void *a, const void *b)
{
	const struct config_budget *x = *(const struct config_budget *const *)a;
	const struct config_budget *y = *(const struct config_budget *const *)b;
	return strcmp(x->agent, y->agent);
}

int gate_report(struct store_conn *c, const struct config *cfg, struct gate_run *run,
		const char *actor, json_t **report, struct err *e)
{
	*report = NULL;
	int64_t today = run->now / DAY_MS;
	char to[11], split[11], from[11];
	gate_date(today, to);
	gate_date(today - run->lookback_days, split);
	gate_date(today - run->lookback_days - run->baseline_days, from);

	const struct config_budget **budgets = xcalloc(cfg->n_budgets + 1, sizeof *budgets);
	size_t nb = 0;
	for (size_t i = 0; i < cfg->n_budgets; i++)
		if (!run->agent || !strcmp(cfg->budgets[i].agent, run->agent))
			budgets[nb++] = &cfg->budgets[i];
	if (run->agent && !nb) {
		free(budgets);
		return err_field(e, ERR_NOTFOUND, "agent", "agent %s has no budget in budgets",
				 run->agent);
	}
	qsort(budgets, nb, sizeof *budgets, cmp_budget);

	int rc = 0;
	json_t *agents = json_array();
	int64_t passed = 0, words[3] = {0};
	for (int o = 0; o < OUT_COUNT; o++)
		run->outcomes[o] = 0;
	for (size_t i = 0; i < nb && !rc; i++) {
		const struct config_budget *b = budgets[i];
		struct windows w = {.split = split};
		if ((rc = store_metrics_range(c, b->agent, from, to, add_row, &w, e)))
			break;
		struct gate_result r;
		gate_evaluate(b, &w.cur, &w.base, &r);
		json_t *vs = json_array();
		for (size_t k = 0; k < r.n && !rc; k++) {
			json_t *vj = gate_violation_json(b->agent, &r.v[k]);
			json_array_append_new(vs, vj);
			const char *word = gate_type_severity(r.v[k].type);
			words[gate_word_severity(word) - 1]++;
			if (run->create_incidents)
				rc = violation_signal(c, cfg, run, b, &r.v[k], &w, actor,
						      run->outcomes, vj, e);
		}
		if (!r.n)
			passed++;
		json_t *a = jpack("{ss sb so so so}", "agent", b->agent, "passed", r.n == 0,
				  "violations", vs, "current", gate_window_json(&w.cur), "baseline",
				  gate_window_json(&w.base));
		if (r.note[0])
			json_object_set_new(a, "note", json_string(r.note));
		json_array_append_new(agents, a);
	}
	free(budgets);
	if (rc) {
		json_decref(agents);
		return rc;
	}
	*report = jpack("{sI sI s{ss ss} s{ss ss} so s{sI sI sI sI sI sI}}", "lookback_days",
			(json_int_t)run->lookback_days, "baseline_days",
			(json_int_t)run->baseline_days, "window", "from", split, "to", to,
			"baseline", "from", from, "to", split, "agents", agents, "summary",
			"agents", (json_int_t)nb, "passed", (json_int_t)passed, "failed",
			(json_int_t)(nb - (size_t)passed), "critical", (json_int_t)words[0],
			"error", (json_int_t)words[1], "warning", (json_int_t)words[2]);
	if (run->create_incidents)
		json_object_set_new(*report, "incidents",
				    jpack("{sI sI sI sI}", "created",
					  (json_int_t)run->outcomes[OUT_CREATED], "deduplicated",
					  (json_int_t)run->outcomes[OUT_DEDUPLICATED], "silenced",
					  (json_int_t)run->outcomes[OUT_SILENCED], "rate_limited",
					  (json_int_t)run->outcomes[OUT_RATE_LIMITED]));
	return 0;
}
