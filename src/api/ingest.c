/* ingest.c — POST /api/eval/results, /api/metrics/daily and /api/canary/runs (SPEC
 * §5.3, §10): batches of gate inputs, each item accepted or rejected by its index.
 *
 * prepare() (loop thread) parses and validates the whole batch (core/ingest.h); run()
 * (the writer) stores the valid items in the request's one transaction and replies
 * 200 {accepted, rejected} — also when every item was rejected, since the request
 * itself was understood. A body that is not a batch is a 400. */
#include <stdlib.h>

#include "api/api.h"
#include "core/ingest.h"
#include "http/server.h"
#include "util/json.h"
#include "util/time.h"

static void ctx_free(void *p)
{
	struct ingest_batch *b = p;
	ingest_batch_clear(b);
	free(b);
}

static int prepare(struct http_req *r, enum ingest_kind kind)
{
	struct ingest_batch *b = xcalloc(1, sizeof *b);
	struct err e;
	err_clear(&e);
	r->ctx = b;
	r->ctx_free = ctx_free;
	if (ingest_batch_parse(kind, r->body, r->body_ndjson, 0, b, &e)) {
		req_reply_err(r, &e);
		return 1;
	}
	return 0;
}

int api_eval_results_prepare(struct http_req *r)
{
	return prepare(r, INGEST_EVAL);
}

int api_metrics_daily_prepare(struct http_req *r)
{
	return prepare(r, INGEST_METRICS);
}

int api_canary_runs_prepare(struct http_req *r)
{
	return prepare(r, INGEST_CANARY);
}

int api_ingest_run(struct http_req *r, struct store_conn *c)
{
	const struct ingest_batch *b = r->ctx;
	struct err e;
	err_clear(&e);
	if (ingest_batch_store(c, b, time_now_ms(), &e))
		return api_fail(r, &e);
	req_reply_json(r, 200, ingest_batch_reply(b));
	return 0;
}
