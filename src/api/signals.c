/* signals.c — POST /api/signals: one signal or a batch of up to 1000. */
#include <stdlib.h>

#include "api/api.h"
#include "core/signal.h"
#include "http/metrics.h"
#include "http/server.h"
#include "util/json.h"

#define MAX_BATCH 1000

struct signals_ctx {
	struct signal *items;
	enum signal_outcome *outcomes; /* filled by run(), counted by finish() */
	size_t n;
	bool batch;
};

static void ctx_free(void *p)
{
	struct signals_ctx *c = p;
	if (!c)
		return;
	for (size_t i = 0; i < c->n; i++)
		signal_clear(&c->items[i]);
	free(c->items);
	free(c->outcomes);
	free(c);
}

void api_signals_adopt(struct http_req *r, struct signal *items, size_t n)
{
	struct signals_ctx *ctx = xcalloc(1, sizeof *ctx);
	ctx->items = items;
	ctx->n = n;
	ctx->batch = true;
	r->ctx = ctx;
	r->ctx_free = ctx_free;
}

int api_signals_prepare(struct http_req *r)
{
	struct signals_ctx *ctx = xcalloc(1, sizeof *ctx);
	struct err e;
	err_clear(&e);
	r->ctx = ctx;
	r->ctx_free = ctx_free;
	if (json_is_array(r->body)) {
		size_t n = json_array_size(r->body);
		if (n == 0 || n > MAX_BATCH) {
			err_field(&e, ERR_INVALID, "body",
				  "a batch holds 1 to %d signals; this one has %zu", MAX_BATCH, n);
			req_reply_err(r, &e);
			return 1;
		}
		ctx->batch = true;
		ctx->items = xcalloc(n, sizeof *ctx->items);
		/* Validate the whole batch before anything is stored. */
		for (size_t i = 0; i < n; i++) {
			if (signal_parse(r->cfg, json_array_get(r->body, i), &ctx->items[i], &e)) {
				e.index = (long)i;
				req_reply_err(r, &e);
				return 1;
			}
			ctx->n++;
		}
		return 0;
	}
	ctx->items = xcalloc(1, sizeof *ctx->items);
	if (signal_parse(r->cfg, r->body, &ctx->items[0], &e)) {
		req_reply_err(r, &e);
		return 1;
	}
	ctx->n = 1;
	return 0;
}

static json_t *result_json(enum signal_outcome o, int64_t id)
{
	return jpack("{ss so}", "outcome", signal_outcome_name(o), "incident_id",
		     id ? json_integer(id) : json_null());
}

int api_signals_run(struct http_req *r, struct store_conn *c)
{
	struct signals_ctx *ctx = r->ctx;
	struct err e;
	err_clear(&e);
	json_t *results = json_array();
	ctx->outcomes = xcalloc(ctx->n, sizeof *ctx->outcomes);
	for (size_t i = 0; i < ctx->n; i++) {
		enum signal_outcome o;
		int64_t id;
		int rc = signal_ingest(c, r->cfg, &ctx->items[i], r->actor, &o, &id, &e);
		if (rc) {
			json_decref(results);
			if (ctx->batch)
				e.index = (long)i;
			return api_fail(r, &e);
		}
		ctx->outcomes[i] = o;
		json_array_append_new(results, result_json(o, id));
	}
	if (ctx->batch) {
		req_reply_json(r, 202, jpack("{so}", "results", results));
	} else {
		req_reply_json(r, 202, json_incref(json_array_get(results, 0)));
		json_decref(results);
	}
	return 0;
}

void api_signals_finish(struct http_req *r)
{
	struct signals_ctx *ctx = r->ctx;
	struct metrics *m = server_metrics(r->srv);
	for (size_t i = 0; ctx->outcomes && i < ctx->n; i++)
		metrics_signal(m, ctx->items[i].kind, signal_outcome_name(ctx->outcomes[i]));
}
