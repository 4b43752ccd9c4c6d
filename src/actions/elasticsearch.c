/* elasticsearch.c — refresh_synonyms and clear_cache (SPEC §9.1): REST calls to
 * actions.elasticsearch.url with an API key (`Authorization: ApiKey …`) or basic auth,
 * the index name validated by Elasticsearch's own rules before anything is sent and
 * percent-encoded in the path, every call and its response recorded in the result and
 * the log. Neither is reversible. */
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "actions/action.h"
#include "util/http_client.h"
#include "util/json.h"
#include "util/time.h"

/* Elasticsearch's index naming rules: lower case, not starting with '-', '_' or '+',
 * not "." or "..", none of \ / * ? " < > | space , # :, at most 255 bytes; we also
 * refuse control characters. */
static int index_ok(const char *name, const char *field, struct err *e)
{
	size_t n = strlen(name);
	const char *why = NULL;
	if (n == 0)
		why = "must not be empty";
	else if (n > 255)
		why = "must be at most 255 bytes";
	else if (name[0] == '-' || name[0] == '_' || name[0] == '+')
		why = "must not start with '-', '_' or '+'";
	else if (!strcmp(name, ".") || !strcmp(name, ".."))
		why = "must not be '.' or '..'";
	for (const unsigned char *p = (const unsigned char *)name; !why && *p; p++) {
		if (*p >= 'A' && *p <= 'Z')
			why = "must be lower case";
		else if (*p < 0x20 || *p == 0x7f || strchr("\\/*?\"<>| ,#:%", *p))
			why = "must not contain \\ / * ? \" < > | space , # : % or control "
			      "characters";
	}
	if (why)
		return err_field(e, ERR_INVALID, field, "%s %s (Elasticsearch index naming rules)",
				 field, why);
	return 0;
}

static void path_index(struct buf *b, const char *index)
{
	buf_putc(b, '/');
	http_query_escape(b, index);
}

/* ---- refresh_synonyms ---- */

static const char *const strategies[] = {"reload", "reopen", NULL};

static const struct action_param synonyms_params[] = {
	{.v = {.name = "index_name", .type = V_STRING, .required = true, .min = 1, .max = 255},
	 .description = "the index whose search analyzers use the synonyms"},
	{.v = {.name = "synonym_filter", .type = V_STRING, .min = 1, .max = 200},
	 .description = "the synonym filter's name (recorded)"},
	{.v = {.name = "strategy", .type = V_STRING, .allowed = strategies},
	 .dflt = "\"reload\"",
	 .description = "reload: _reload_search_analyzers; reopen: _close then _open"},
	{.v = {.name = "reindex", .type = V_BOOL},
	 .dflt = "false",
	 .description = "also start _update_by_query (conflicts=proceed, in the background)"},
	{.v = {.name = NULL}},
};

static int synonyms_check(const struct config *cfg, const json_t *params, struct err *e)
{
	(void)cfg;
	return index_ok(action_param_str(params, "index_name"), "params.index_name", e);
}

/* The calls of params, as [{method, path}]. */
static json_t *synonyms_calls(const json_t *params)
{
	const char *index = action_param_str(params, "index_name");
	json_t *calls = json_array();
	struct buf p = BUF_INIT;
	const char *const *suffixes =
		!strcmp(action_param_str(params, "strategy"), "reopen")
			? (const char *const[]){"/_close", "/_open", NULL}
			: (const char *const[]){"/_reload_search_analyzers", NULL};
	for (; *suffixes; suffixes++) {
		buf_reset(&p);
		path_index(&p, index);
		buf_puts(&p, *suffixes);
		json_array_append_new(calls, jpack("{ss ss}", "method", "POST", "path", p.data));
	}
	if (json_get_bool(params, "reindex", false)) {
		buf_reset(&p);
		path_index(&p, index);
		buf_puts(&p, "/_update_by_query?conflicts=proceed&wait_for_completion=false");
		json_array_append_new(calls, jpack("{ss ss}", "method", "POST", "path", p.data));
	}
	buf_free(&p);
	return calls;
}

static int es_plan(const struct config *cfg, const json_t *calls, const char *target,
		   const char *message, bool approval, const char *risk, struct action_plan *out)
{
	json_t *shown = json_array();
	size_t i;
	json_t *c;
	json_array_foreach(calls, i, c)
	{
		struct buf line = BUF_INIT;
		buf_printf(&line, "%s %s%s", json_get_str(c, "method"),
			   cfg->actions.elasticsearch.url, json_get_str(c, "path"));
		json_array_append_new(shown, json_string(line.data));
		buf_free(&line);
	}
	out->plan = jpack("{ss sO so s[s] ss s{sI sf}}", "message", message, "http_calls", calls,
			  "commands", shown, "systems", "elasticsearch", "risk", risk, "estimates",
			  "duration_seconds", (json_int_t)(json_array_size(calls) * 5), "cost_usd",
			  0.0);
	snprintf(out->target, sizeof out->target, "es:%s", target);
	out->requires_approval = approval;
	return 0;
}

static int synonyms_plan(const struct config *cfg, struct store_conn *c, const json_t *params,
			 struct action_plan *out, struct err *e)
{
	(void)c;
	(void)e;
	const char *index = action_param_str(params, "index_name");
	bool reopen = !strcmp(action_param_str(params, "strategy"), "reopen");
	bool reindex = json_get_bool(params, "reindex", false);
	char msg[400];
	snprintf(msg, sizeof msg, "refresh the synonyms of index %s by %s%s", index,
		 reopen ? "closing and reopening it" : "reloading its search analyzers",
		 reindex ? ", then reindex it in the background" : "");
	json_t *calls = synonyms_calls(params);
	es_plan(cfg, calls, index, msg, reopen || reindex, reopen ? "high" : "low", out);
	json_decref(calls);
	return 0;
}

/* One call: method path, recorded in calls and the log; a non-2xx is a failure with
 * Elasticsearch's reason. *resp_json: the parsed response (new reference) or NULL. */
static int es_call(struct action_run *run, struct http_client *hc, const char *method,
		   const char *path, json_t *calls, json_t **resp_json, struct err *e)
{
	struct http_response resp = {0};
	int64_t t0 = time_now_ms();
	struct buf line = BUF_INIT;
	buf_printf(&line, "%s %s\n", method, path);
	run->log(run, line.data, line.len);
	int rc = http_client_request(hc, method, path, NULL, 0, NULL, 0, &resp, e);
	json_t *body = NULL;
	if (!rc && resp.body.len)
		body = json_loadb(resp.body.data, resp.body.len, 0, NULL);
	json_t *rec =
		jpack("{ss ss sI sI}", "method", method, "path", path, "status",
		      (json_int_t)resp.status, "duration_ms", (json_int_t)(time_now_ms() - t0));
	if (body)
		json_object_set(rec, "response", body);
	json_array_append_new(calls, rec);
	buf_reset(&line);
	if (rc) {
		buf_printf(&line, "  failed: %s\n", e->msg);
	} else {
		buf_printf(&line, "  %ld ", resp.status);
		buf_append(&line, resp.body.data, resp.body.len > 4096 ? 4096 : resp.body.len);
		buf_putc(&line, '\n');
	}
	run->log(run, line.data, line.len);
	buf_free(&line);
	if (!rc && (resp.status < 200 || resp.status > 299)) {
		const json_t *err = json_object_get(body, "error");
		const char *reason = json_get_str(err, "reason");
		const char *type = json_get_str(err, "type");
		rc = err_set(e, ERR_UPSTREAM, "Elasticsearch answered %ld to %s %s: %s%s%s",
			     resp.status, method, path, type ? type : "", type ? ": " : "",
			     reason ? reason : (json_is_string(err) ? json_string_value(err) : ""));
	}
	if (!rc && resp_json)
		*resp_json = json_incref(body);
	json_decref(body);
	http_response_clear(&resp);
	return rc;
}

static int es_client(struct action_run *run, struct http_client **out, struct err *e)
{
	const struct config *cfg = run->cfg;
	int rc = http_client_new(cfg->actions.elasticsearch.url, out, e);
	if (rc)
		return rc;
	http_client_set_limits(*out, 0, cfg->actions.elasticsearch.timeout_ms, 0);
	http_client_cancel_on(*out, run->cancel_sig);
	struct buf auth = BUF_INIT;
	if (cfg->actions.elasticsearch.api_key[0]) {
		buf_printf(&auth, "ApiKey %s", cfg->actions.elasticsearch.api_key);
	} else if (cfg->actions.elasticsearch.username[0]) {
		struct buf up = BUF_INIT;
		buf_printf(&up, "%s:%s", cfg->actions.elasticsearch.username,
			   cfg->actions.elasticsearch.password);
		size_t n = sodium_base64_ENCODED_LEN(up.len, sodium_base64_VARIANT_ORIGINAL);
		char *b64 = xmalloc(n);
		sodium_bin2base64(b64, n, (const unsigned char *)up.data, up.len,
				  sodium_base64_VARIANT_ORIGINAL);
		buf_printf(&auth, "Basic %s", b64);
		free(b64);
		sodium_memzero(up.data, up.len);
		buf_free(&up);
	}
	if (auth.len)
		rc = http_client_add_header(*out, "Authorization", auth.data, e);
	if (auth.data)
		sodium_memzero(auth.data, auth.len);
	buf_free(&auth);
	if (rc) {
		http_client_free(*out);
		*out = NULL;
	}
	return rc;
}

static int run_calls(struct action_run *run, json_t *calls_planned, struct action_outcome *out,
		     struct err *e)
{
	struct http_client *hc = NULL;
	json_t *calls = json_array();
	int rc = es_client(run, &hc, e);
	const char *task = NULL;
	json_t *last = NULL;
	size_t i;
	json_t *c;
	json_array_foreach(calls_planned, i, c)
	{
		if (rc)
			break;
		if (atomic_load(run->cancel)) {
			out->cancelled = true;
			break;
		}
		json_decref(last);
		last = NULL;
		rc = es_call(run, hc, json_get_str(c, "method"), json_get_str(c, "path"), calls,
			     &last, e);
		if (!rc && json_get_str(last, "task"))
			task = json_get_str(last, "task");
	}
	if (rc == ERR_IO && atomic_load(run->cancel))
		out->cancelled = true;
	out->result = jpack("{so ss?}", "calls", calls, "task", task);
	if (last && json_object_get(last, "_shards"))
		json_object_set(out->result, "_shards", json_object_get(last, "_shards"));
	json_decref(last);
	http_client_free(hc);
	return rc;
}

static int synonyms_execute(struct action_run *run, struct action_outcome *out, struct err *e)
{
	json_t *calls = synonyms_calls(run->params);
	int rc = run_calls(run, calls, out, e);
	json_decref(calls);
	return rc;
}

const struct action_type action_refresh_synonyms = {
	.name = "refresh_synonyms",
	.display_name = "Refresh Elasticsearch synonyms",
	.description = "Make an index pick up changed synonyms: reload its search analyzers, or "
		       "close and reopen it; optionally reindex in the background.",
	.approval_rule = "when strategy is reopen (the index is unavailable meanwhile) or reindex",
	.params = synonyms_params,
	.check = synonyms_check,
	.plan = synonyms_plan,
	.execute = synonyms_execute,
};

/* ---- clear_cache ---- */

static const char *const cache_types[] = {"query", "request", "fielddata", NULL};

static const struct action_param cache_params[] = {
	{.v = {.name = "index_name", .type = V_STRING, .min = 1, .max = 255},
	 .description = "the index (default: all indices)"},
	{.v = {.name = "cache_types", .type = V_STRING_ARRAY, .min = 1, .max = 3},
	 .dflt = "[\"query\", \"request\"]",
	 .items_allowed = cache_types,
	 .description = "which caches to clear"},
	{.v = {.name = NULL}},
};

static int cache_check(const struct config *cfg, const json_t *params, struct err *e)
{
	(void)cfg;
	const char *index = json_get_str(params, "index_name");
	return index ? index_ok(index, "params.index_name", e) : 0;
}

static json_t *cache_calls(const json_t *params)
{
	const char *index = json_get_str(params, "index_name");
	struct buf p = BUF_INIT;
	path_index(&p, index ? index : "_all");
	buf_puts(&p, "/_cache/clear");
	const json_t *types = json_object_get(params, "cache_types");
	for (size_t k = 0; cache_types[k]; k++) {
		size_t i;
		json_t *t;
		json_array_foreach(types, i, t)
		{
			if (!strcmp(json_string_value(t), cache_types[k])) {
				buf_printf(&p, "%c%s=true", strchr(p.data, '?') ? '&' : '?',
					   cache_types[k]);
				break;
			}
		}
	}
	json_t *calls = jpack("[{ss ss}]", "method", "POST", "path", p.data);
	buf_free(&p);
	return calls;
}

static int cache_plan(const struct config *cfg, struct store_conn *c, const json_t *params,
		      struct action_plan *out, struct err *e)
{
	(void)c;
	(void)e;
	const char *index = json_get_str(params, "index_name");
	char msg[400];
	snprintf(msg, sizeof msg, "clear the caches of %s%s", index ? "index " : "all indices",
		 index ? index : "");
	json_t *calls = cache_calls(params);
	es_plan(cfg, calls, index ? index : "_all", msg, false, "low", out);
	json_decref(calls);
	return 0;
}

static int cache_execute(struct action_run *run, struct action_outcome *out, struct err *e)
{
	json_t *calls = cache_calls(run->params);
	int rc = run_calls(run, calls, out, e);
	json_decref(calls);
	return rc;
}

const struct action_type action_clear_cache = {
	.name = "clear_cache",
	.display_name = "Clear Elasticsearch caches",
	.description = "Clear the query, request or fielddata caches of one index or all.",
	.approval_rule = "never",
	.params = cache_params,
	.check = cache_check,
	.plan = cache_plan,
	.execute = cache_execute,
};
