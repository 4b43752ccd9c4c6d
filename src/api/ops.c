/* ops.c — /healthz, /readyz, /api/version (SPEC §5.4). */
#include "api/api.h"
#include "http/server.h"
#include "util/json.h"

int api_healthz_prepare(struct http_req *r)
{
	req_reply_json(r, 200, json_pack("{ss}", "status", "ok"));
	return 1;
}

int api_version_prepare(struct http_req *r)
{
	req_reply_json(r, 200, json_pack("{ss ss}", "version", INTERVENE_VERSION, "name", "intervene"));
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
		req_reply_json(r, 503, json_pack("{s{ss ss s{}}}", "error", "code", "storage_unavailable",
						 "message", e.msg, "details"));
		return 0;
	}
	req_reply_json(r, 200, json_pack("{ss ss}", "status", "ready", "storage", "ok"));
	return 0;
}
