/* ops.c — /healthz, /readyz, /api/version (SPEC §5.4). */
#include <stdlib.h>

#include "api/api.h"
#include "core/policy.h"
#include "http/metrics.h"
#include "http/server.h"
#include "util/embed.h"
#include "util/json.h"
#include "util/time.h"

int api_healthz_prepare(struct http_req *r)
{
	req_reply_json(r, 200, jpack("{ss}", "status", "ok"));
	return 1;
}

int api_version_prepare(struct http_req *r)
{
	/* The limits let clients size their batches without guessing. */
	req_reply_json(r, 200,
		       jpack("{ss ss s{sI sI}}", "version", INTERVENE_VERSION, "name", "intervene",
			     "limits", "max_body_bytes", (json_int_t)r->cfg->server.max_body_bytes,
			     "max_signals_per_batch", (json_int_t)1000));
	return 1;
}

int api_readyz_run(struct http_req *r, struct store_conn *c)
{
	struct err e;
	err_clear(&e);
	int64_t v;
	/* A query through the pool proves a reader works; the schema check proves
	 * migrations are current; the writer's health says commits succeed. */
	int rc = store_token_version(c, &v, &e);
	if (!rc)
		rc = store_check_schema(server_store(r->srv), &e);
	if (!rc)
		rc = server_healthy(r->srv, &e);
	if (rc) {
		req_reply_json(r, 503,
			       jpack("{s{ss ss s{}}}", "error", "code", "storage_unavailable",
				     "message", e.msg, "details"));
		return 0;
	}
	req_reply_json(r, 200, jpack("{ss ss}", "status", "ready", "storage", "ok"));
	return 0;
}

extern const struct embedded_file api_openapi_files[];

static void metrics_ctx_free(void *p)
{
	buf_free(p);
	free(p);
}

static int count_none(const struct silence *s, void *arg)
{
	(void)s;
	(void)arg;
	return 1;
}

int api_openapi_prepare(struct http_req *r)
{
	r->status = 200;
	buf_puts(&r->reply, api_openapi_files[0].text);
	return 1;
}

/* prepare() snapshots the loop thread's counters; run() adds the gauges that live in
 * the database. */
int api_metrics_prepare(struct http_req *r)
{
	struct buf *b = xcalloc(1, sizeof *b);
	metrics_render(server_metrics(r->srv), b);
	server_delivery_metrics(r->srv, b);
	r->ctx = b;
	r->ctx_free = metrics_ctx_free;
	return 0;
}

int api_metrics_run(struct http_req *r, struct store_conn *c)
{
	struct buf *b = r->ctx;
	struct err e;
	err_clear(&e);
	int64_t counts[ST_COUNT][5], silences = 0;
	struct outbox_stats ob;
	int rc = store_incident_counts(c, counts, &e);
	if (!rc)
		rc = store_silence_list(c, time_now_ms(), false, 0, 0, count_none, NULL, &silences,
					&e);
	if (!rc)
		rc = store_outbox_stats(c, &ob, &e);
	if (rc)
		return api_fail(r, &e);
	buf_puts(b, "# HELP intervene_incidents Incidents by status and severity.\n"
		    "# TYPE intervene_incidents gauge\n");
	for (int s = 0; s < ST_COUNT; s++)
		for (int v = 1; v <= 4; v++)
			buf_printf(b,
				   "intervene_incidents{status=\"%s\",severity=\"sev%d\"} %lld\n",
				   incident_status_name((enum incident_status)s), v,
				   (long long)counts[s][v]);
	buf_printf(b,
		   "# HELP intervene_silences_active Silences in effect now.\n"
		   "# TYPE intervene_silences_active gauge\nintervene_silences_active %lld\n",
		   (long long)silences);
	int64_t now = time_now_ms();
	buf_printf(b,
		   "# HELP intervene_outbox_pending Outbox rows waiting to be delivered (pending "
		   "or uncertain).\n# TYPE intervene_outbox_pending gauge\n"
		   "intervene_outbox_pending %lld\n"
		   "# HELP intervene_outbox_oldest_pending_seconds Age of the oldest row waiting.\n"
		   "# TYPE intervene_outbox_oldest_pending_seconds gauge\n"
		   "intervene_outbox_oldest_pending_seconds %.3f\n"
		   "# HELP intervene_outbox_dead Outbox rows that gave up (retry with POST "
		   "/api/outbox/{id}/retry).\n# TYPE intervene_outbox_dead gauge\n"
		   "intervene_outbox_dead %lld\n",
		   (long long)ob.open,
		   ob.oldest_open_at && now > ob.oldest_open_at
			   ? (double)(now - ob.oldest_open_at) / 1000.0
			   : 0.0,
		   (long long)ob.dead);
	r->status = 200;
	r->reply_type = "text/plain; version=0.0.4; charset=utf-8";
	buf_append(&r->reply, b->data, b->len);
	return 0;
}
