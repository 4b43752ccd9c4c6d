/* gates.c — POST /api/gates/run: the gate report (SPEC §10.3), optionally ingesting
 * each violation as a budget signal. */
#include <stdlib.h>

#include "api/api.h"
#include "core/gate_report.h"
#include "http/metrics.h"
#include "http/server.h"
#include "util/json.h"
#include "util/time.h"
#include "util/validate.h"

static const struct vfield gates_fields[] = {
	{"agent", V_STRING, false, true, 1, 128, NULL},
	{"lookback_days", V_INT, false, true, 1, 365, NULL},
	{"baseline_days", V_INT, false, true, 0, 365, NULL},
	{"create_incidents", V_BOOL, false, true, 0, 0, NULL},
	{NULL, 0, false, false, 0, 0, NULL},
};

struct gates_ctx {
	char *agent;
	struct gate_run run;
};

static void ctx_free(void *p)
{
	struct gates_ctx *g = p;
	if (g)
		free(g->agent);
	free(g);
}

int api_gates_run_prepare(struct http_req *r)
{
	if (api_body(r, gates_fields))
		return 1;
	struct gates_ctx *g = xcalloc(1, sizeof *g);
	r->ctx = g;
	r->ctx_free = ctx_free;
	const char *agent = json_get_str(r->body, "agent");
	g->agent = agent ? xstrdup(agent) : NULL;
	g->run = (struct gate_run){.agent = g->agent,
				   .lookback_days = json_get_int(r->body, "lookback_days", 7),
				   .baseline_days = json_get_int(r->body, "baseline_days", 14),
				   .create_incidents =
					   json_get_bool(r->body, "create_incidents", false),
				   .source = "gates"};
	return 0;
}

int api_gates_run_run(struct http_req *r, struct store_conn *c)
{
	struct gates_ctx *g = r->ctx;
	struct err e;
	err_clear(&e);
	g->run.now = time_now_ms();
	json_t *report = NULL;
	if (gate_report(c, r->cfg, &g->run, r->actor, &report, &e))
		return api_fail(r, &e);
	req_reply_json(r, 200, report);
	return 0;
}

void api_gates_run_finish(struct http_req *r)
{
	struct gates_ctx *g = r->ctx;
	struct metrics *m = server_metrics(r->srv);
	for (int o = 0; o < OUT_COUNT; o++)
		for (int64_t i = 0; i < g->run.outcomes[o]; i++)
			metrics_signal(m, "budget", signal_outcome_name((enum signal_outcome)o));
}

/* POST /api/watcher/run: one watcher cycle now, answered when it is done. */
static const struct vfield no_fields[] = {{NULL, 0, false, false, 0, 0, NULL}};

int api_watcher_run_prepare(struct http_req *r)
{
	if (api_body(r, no_fields))
		return 1;
	server_run_watcher(r);
	return 1;
}
