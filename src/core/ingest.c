#include "core/ingest.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/buf.h"
#include "util/json.h"
#include "util/time.h"
#include "util/validate.h"

#define N INGEST_NAME_MAX

static const char *const variants[] = {"baseline", "canary", NULL};

/* Types, required fields and lengths; numeric bounds are checked by num_check, which
 * words them better than a range of integers. */
static const struct vfield eval_fields[] = {
	{"task_id", V_STRING, true, false, 1, N, NULL},
	{"agent", V_STRING, true, false, 1, N, NULL},
	{"timestamp", V_TIME, true, false, 0, 0, NULL},
	{"success", V_BOOL, true, false, 0, 0, NULL},
	{"quality_score", V_NUMBER, false, true, 0, 0, NULL},
	{"latency_ms", V_NUMBER, false, true, 0, 0, NULL},
	{"cost", V_NUMBER, false, true, 0, 0, NULL},
	{"invariants", V_ANY, false, true, 0, 0, NULL},
	{NULL, 0, false, false, 0, 0, NULL},
};

static const struct vfield invariant_fields[] = {
	{"id", V_STRING, true, false, 1, N, NULL},
	{"name", V_STRING, false, true, 1, 256, NULL},
	{"passed", V_BOOL, true, false, 0, 0, NULL},
	{"priority", V_STRING, false, true, 1, 32, NULL},
	{"message", V_STRING, false, true, 0, 4096, NULL},
	{"evidence", V_OBJECT, false, true, 0, INGEST_EVIDENCE_MAX, NULL},
	{NULL, 0, false, false, 0, 0, NULL},
};

static const struct vfield metrics_fields[] = {
	{"agent", V_STRING, true, false, 1, N, NULL},
	{"date", V_STRING, true, false, 0, 0, NULL},
	{"total_runs", V_INT, true, false, 0, 0, NULL},
	{"successful_runs", V_INT, true, false, 0, 0, NULL},
	{"avg_quality_score", V_NUMBER, false, true, 0, 0, NULL},
	{"avg_latency_ms", V_NUMBER, false, true, 0, 0, NULL},
	{"p50_latency_ms", V_NUMBER, false, true, 0, 0, NULL},
	{"p95_latency_ms", V_NUMBER, false, true, 0, 0, NULL},
	{"p99_latency_ms", V_NUMBER, false, true, 0, 0, NULL},
	{"avg_cost", V_NUMBER, false, true, 0, 0, NULL},
	{"invariants_passed", V_INT, false, true, 0, 0, NULL},
	{"invariants_failed", V_INT, false, true, 0, 0, NULL},
	{NULL, 0, false, false, 0, 0, NULL},
};

static const struct vfield canary_fields[] = {
	{"canary", V_STRING, true, false, 1, N, NULL},
	{"version", V_STRING, true, false, 1, N, NULL},
	{"variant", V_STRING, true, false, 0, 0, variants},
	{"quality_score", V_NUMBER, false, true, 0, 0, NULL},
	{"latency_ms", V_NUMBER, false, true, 0, 0, NULL},
	{"cost", V_NUMBER, false, true, 0, 0, NULL},
	{"timestamp", V_TIME, true, false, 0, 0, NULL},
	{NULL, 0, false, false, 0, 0, NULL},
};

enum num_rule { NUM_SCORE, NUM_NONNEG };

/* An optional number of obj (already type-checked): finite, and 0..100 for scores or
 * at least 0. Absent or null leaves *out unset. */
static int num_check(const json_t *obj, const char *name, enum num_rule rule, struct opt_real *out,
		     struct err *e)
{
	const json_t *v = json_object_get(obj, name);
	out->set = false;
	if (!v || json_is_null(v))
		return 0;
	double d = json_number_value(v);
	if (!isfinite(d))
		return err_field(e, ERR_INVALID, name, "%s must be a finite number", name);
	if (rule == NUM_SCORE && (d < 0 || d > 100))
		return err_field(e, ERR_INVALID, name, "%s must be between 0 and 100, not %g", name,
				 d);
	if (rule == NUM_NONNEG && d < 0)
		return err_field(e, ERR_INVALID, name, "%s must not be negative, not %g", name, d);
	out->set = true;
	out->v = d;
	return 0;
}

/* An integer count of obj (already type-checked) that must not be negative; absent or
 * null is 0. */
static int count_check(const json_t *obj, const char *name, int64_t *out, struct err *e)
{
	*out = json_get_int(obj, name, 0);
	if (*out < 0)
		return err_field(e, ERR_INVALID, name, "%s must not be negative, not %lld", name,
				 (long long)*out);
	return 0;
}

static int64_t time_of(const json_t *obj, const char *name)
{
	int64_t ms = 0;
	time_parse_ms(json_get_str(obj, name), &ms); /* validate_object checked it */
	return ms;
}

bool ingest_date_valid(const char *s)
{
	static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	if (!s || strlen(s) != 10 || s[4] != '-' || s[7] != '-')
		return false;
	for (int i = 0; i < 10; i++)
		if (i != 4 && i != 7 && (s[i] < '0' || s[i] > '9'))
			return false;
	int y = (s[0] - '0') * 1000 + (s[1] - '0') * 100 + (s[2] - '0') * 10 + (s[3] - '0');
	int m = (s[5] - '0') * 10 + (s[6] - '0');
	int d = (s[8] - '0') * 10 + (s[9] - '0');
	if (y < 1 || m < 1 || m > 12 || d < 1)
		return false;
	bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	return d <= days[m - 1] + (m == 2 && leap);
}

static int invariants_parse(const json_t *v, json_t **out, int64_t *failed, struct err *e)
{
	*out = NULL;
	*failed = 0;
	if (!v || json_is_null(v)) {
		*out = json_array();
		return 0;
	}
	if (!json_is_array(v))
		return err_field(e, ERR_INVALID, "invariants",
				 "invariants must be an array of invariant objects");
	if (json_array_size(v) > INGEST_MAX_INVARIANTS)
		return err_field(e, ERR_INVALID, "invariants",
				 "invariants holds %zu items; at most %d are accepted",
				 json_array_size(v), INGEST_MAX_INVARIANTS);
	size_t i;
	const json_t *it;
	json_array_foreach(v, i, it)
	{
		char prefix[40];
		snprintf(prefix, sizeof prefix, "invariants[%zu].", i);
		if (!json_is_object(it))
			return err_field(e, ERR_INVALID, "invariants",
					 "invariants[%zu] must be an object", i);
		int rc = validate_object(it, invariant_fields, prefix, e);
		if (rc)
			return rc;
		if (!json_is_true(json_object_get(it, "passed")))
			(*failed)++;
	}
	*out = json_deep_copy(v);
	return 0;
}

int ingest_eval_parse(const json_t *obj, struct eval_result *out, struct err *e)
{
	memset(out, 0, sizeof *out);
	int rc = validate_object(obj, eval_fields, "", e);
	if (rc)
		return rc;
	if ((rc = num_check(obj, "quality_score", NUM_SCORE, &out->quality_score, e)) ||
	    (rc = num_check(obj, "latency_ms", NUM_NONNEG, &out->latency_ms, e)) ||
	    (rc = num_check(obj, "cost", NUM_NONNEG, &out->cost, e)) ||
	    (rc = invariants_parse(json_object_get(obj, "invariants"), &out->invariants,
				   &out->failed_invariants, e)))
		goto fail;
	out->task_id = xstrdup(json_get_str(obj, "task_id"));
	out->agent = xstrdup(json_get_str(obj, "agent"));
	out->timestamp = time_of(obj, "timestamp");
	out->success = json_is_true(json_object_get(obj, "success"));
	return 0;
fail:
	eval_result_clear(out);
	return rc;
}

int ingest_metrics_parse(const json_t *obj, struct metrics_daily *out, struct err *e)
{
	memset(out, 0, sizeof *out);
	int rc = validate_object(obj, metrics_fields, "", e);
	if (rc)
		return rc;
	const char *date = json_get_str(obj, "date");
	if (!ingest_date_valid(date))
		return err_field(e, ERR_INVALID, "date",
				 "date must be an existing calendar date written YYYY-MM-DD");
	if ((rc = count_check(obj, "total_runs", &out->total_runs, e)) ||
	    (rc = count_check(obj, "successful_runs", &out->successful_runs, e)) ||
	    (rc = count_check(obj, "invariants_passed", &out->invariants_passed, e)) ||
	    (rc = count_check(obj, "invariants_failed", &out->invariants_failed, e)) ||
	    (rc = num_check(obj, "avg_quality_score", NUM_SCORE, &out->avg_quality_score, e)) ||
	    (rc = num_check(obj, "avg_latency_ms", NUM_NONNEG, &out->avg_latency_ms, e)) ||
	    (rc = num_check(obj, "p50_latency_ms", NUM_NONNEG, &out->p50_latency_ms, e)) ||
	    (rc = num_check(obj, "p95_latency_ms", NUM_NONNEG, &out->p95_latency_ms, e)) ||
	    (rc = num_check(obj, "p99_latency_ms", NUM_NONNEG, &out->p99_latency_ms, e)) ||
	    (rc = num_check(obj, "avg_cost", NUM_NONNEG, &out->avg_cost, e)))
		return rc;
	if (out->successful_runs > out->total_runs)
		return err_field(e, ERR_INVALID, "successful_runs",
				 "successful_runs (%lld) must not exceed total_runs (%lld)",
				 (long long)out->successful_runs, (long long)out->total_runs);
	memcpy(out->date, date, 11);
	out->agent = xstrdup(json_get_str(obj, "agent"));
	return 0;
}

int ingest_canary_parse(const json_t *obj, struct canary_run *out, struct err *e)
{
	memset(out, 0, sizeof *out);
	int rc = validate_object(obj, canary_fields, "", e);
	if (rc)
		return rc;
	if ((rc = num_check(obj, "quality_score", NUM_SCORE, &out->quality_score, e)) ||
	    (rc = num_check(obj, "latency_ms", NUM_NONNEG, &out->latency_ms, e)) ||
	    (rc = num_check(obj, "cost", NUM_NONNEG, &out->cost, e)))
		return rc;
	snprintf(out->variant, sizeof out->variant, "%s", json_get_str(obj, "variant"));
	out->canary = xstrdup(json_get_str(obj, "canary"));
	out->version = xstrdup(json_get_str(obj, "version"));
	out->timestamp = time_of(obj, "timestamp");
	return 0;
}

const char *ingest_kind_words(enum ingest_kind kind)
{
	switch (kind) {
	case INGEST_EVAL: return "eval results";
	case INGEST_METRICS: return "daily metrics";
	case INGEST_CANARY: return "canary runs";
	}
	return "items";
}

/* ---- batches ---- */

static int item_parse(enum ingest_kind kind, const json_t *obj, struct ingest_item *it,
		      struct err *e)
{
	switch (kind) {
	case INGEST_EVAL: return ingest_eval_parse(obj, &it->u.eval, e);
	case INGEST_METRICS: return ingest_metrics_parse(obj, &it->u.metrics, e);
	case INGEST_CANARY: return ingest_canary_parse(obj, &it->u.canary, e);
	}
	return err_set(e, ERR_INTERNAL, "unknown ingest kind");
}

static void item_clear(enum ingest_kind kind, struct ingest_item *it)
{
	switch (kind) {
	case INGEST_EVAL: eval_result_clear(&it->u.eval); break;
	case INGEST_METRICS: metrics_daily_clear(&it->u.metrics); break;
	case INGEST_CANARY: canary_run_clear(&it->u.canary); break;
	}
}

static void add_reject(struct ingest_batch *b, size_t *cap, size_t index, const struct err *e)
{
	if (b->n_rejects == *cap) {
		*cap = *cap ? *cap * 2 : 16;
		b->rejects = xrealloc(b->rejects, *cap * sizeof *b->rejects);
	}
	b->rejects[b->n_rejects++] = (struct ingest_reject){
		.index = index,
		.code = e->code ? e->code : ERR_INVALID,
		.field = xstrdup(e->field),
		.message = xstrdup(e->msg),
	};
}

static void add_item(struct ingest_batch *b, size_t *cap, size_t index, const json_t *obj,
		     size_t *rcap)
{
	struct err e;
	err_clear(&e);
	if (b->n_items == *cap) {
		*cap = *cap ? *cap * 2 : 16;
		b->items = xrealloc(b->items, *cap * sizeof *b->items);
	}
	struct ingest_item *it = &b->items[b->n_items];
	memset(it, 0, sizeof *it);
	it->index = index;
	if (item_parse(b->kind, obj, it, &e))
		add_reject(b, rcap, index, &e);
	else
		b->n_items++;
}

/* The identity of a row for duplicate detection, as one string. Fields are written
 * with their lengths, so no separator can be forged by the values. */
static char *item_key(enum ingest_kind kind, const struct ingest_item *it)
{
	struct buf k = BUF_INIT;
	switch (kind) {
	case INGEST_EVAL:
		buf_printf(&k, "%zu:%s%zu:%s%lld", strlen(it->u.eval.agent), it->u.eval.agent,
			   strlen(it->u.eval.task_id), it->u.eval.task_id,
			   (long long)it->u.eval.timestamp);
		break;
	case INGEST_METRICS:
		buf_printf(&k, "%zu:%s%s", strlen(it->u.metrics.agent), it->u.metrics.agent,
			   it->u.metrics.date);
		break;
	case INGEST_CANARY:
		buf_printf(&k, "%zu:%s%zu:%s%s:%lld", strlen(it->u.canary.canary),
			   it->u.canary.canary, strlen(it->u.canary.version), it->u.canary.version,
			   it->u.canary.variant, (long long)it->u.canary.timestamp);
		break;
	}
	return buf_steal(&k);
}

struct keyed {
	char *key;
	size_t pos; /* in items */
};

static int keyed_cmp(const void *a, const void *b)
{
	const struct keyed *x = a, *y = b;
	int c = strcmp(x->key, y->key);
	if (c)
		return c;
	return x->pos < y->pos ? -1 : x->pos > y->pos;
}

static int reject_cmp(const void *a, const void *b)
{
	const struct ingest_reject *x = a, *y = b;
	return x->index < y->index ? -1 : x->index > y->index;
}

static const char *dup_words(enum ingest_kind kind, const char **field)
{
	switch (kind) {
	case INGEST_EVAL: *field = "timestamp"; return "agent, task_id and timestamp";
	case INGEST_METRICS: *field = "date"; return "agent and date";
	case INGEST_CANARY: *field = "timestamp"; return "canary, version, variant and timestamp";
	}
	*field = "";
	return "identity";
}

/* Reject the second and later occurrences of each row among the valid items. */
static void reject_duplicates(struct ingest_batch *b, size_t *rcap)
{
	if (b->n_items < 2)
		return;
	size_t total_keys = b->n_items;
	struct keyed *k = xmalloc(total_keys * sizeof *k);
	bool *dup = xcalloc(b->n_items, sizeof *dup);
	for (size_t i = 0; i < b->n_items; i++)
		k[i] = (struct keyed){.key = item_key(b->kind, &b->items[i]), .pos = i};
	qsort(k, b->n_items, sizeof *k, keyed_cmp);
	const char *field;
	const char *words = dup_words(b->kind, &field);
	for (size_t i = 1, first = 0; i < b->n_items; i++) {
		if (strcmp(k[i].key, k[first].key)) {
			first = i;
			continue;
		}
		struct err e;
		err_clear(&e);
		err_field(&e, ERR_INVALID, field,
			  "duplicate of item %zu of this request (same %s); each row may appear "
			  "once per request",
			  b->items[k[first].pos].index, words);
		add_reject(b, rcap, b->items[k[i].pos].index, &e);
		dup[k[i].pos] = true;
	}
	size_t n = 0;
	for (size_t i = 0; i < b->n_items; i++) {
		if (dup[i])
			item_clear(b->kind, &b->items[i]);
		else
			b->items[n++] = b->items[i];
	}
	b->n_items = n;
	free(dup);
	/* k[i].key were allocated for every valid item, duplicates included */
	for (size_t i = 0; i < total_keys; i++)
		free(k[i].key);
	free(k);
}

/* The body is not a batch: name the first problem of a lone object taken as an item,
 * else the body itself. */
static int not_a_batch(enum ingest_kind kind, const json_t *body, bool ndjson, struct err *e)
{
	if (json_is_object(body)) {
		struct ingest_item it;
		memset(&it, 0, sizeof it);
		int rc = item_parse(kind, body, &it, e);
		item_clear(kind, &it);
		if (rc)
			return rc;
	}
	return err_field(e, ERR_INVALID, "body",
			 "the body must be a JSON array of %s%s (a single item goes in [ ])",
			 ingest_kind_words(kind), ndjson ? " or NDJSON" : "");
}

/* One NDJSON line (not blank) as item index. */
static void ndjson_line(struct ingest_batch *b, const char *line, size_t len, size_t lineno,
			size_t index, size_t *cap, size_t *rcap)
{
	struct err e;
	err_clear(&e);
	json_error_t je;
	json_t *v = json_loadb(line, len, JSON_REJECT_DUPLICATES, &je);
	if (!v) {
		err_set(&e, ERR_JSON, "line %zu is not valid JSON (column %d: %s)", lineno,
			je.column, je.text);
		add_reject(b, rcap, index, &e);
		return;
	}
	add_item(b, cap, index, v, rcap);
	json_decref(v);
}

static bool blank(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r')
			return false;
	return true;
}

int ingest_batch_parse(enum ingest_kind kind, const json_t *body, bool ndjson, size_t limit,
		       struct ingest_batch *b, struct err *e)
{
	memset(b, 0, sizeof *b);
	b->kind = kind;
	b->limit = limit ? limit : INGEST_MAX_ITEMS;
	size_t cap = 0, rcap = 0;
	if (ndjson && json_is_string(body)) {
		const char *p = json_string_value(body);
		const char *end = p + json_string_length(body);
		size_t lineno = 0;
		while (p < end) {
			const char *nl = memchr(p, '\n', (size_t)(end - p));
			size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
			lineno++;
			if (!blank(p, len)) {
				/* Past the limit, lines are only counted. */
				if (b->total < b->limit)
					ndjson_line(b, p, len, lineno, b->total, &cap, &rcap);
				b->total++;
			}
			p += len + (nl ? 1 : 0);
		}
	} else if (json_is_array(body)) {
		b->total = json_array_size(body);
		for (size_t i = 0; i < b->total && i < b->limit; i++)
			add_item(b, &cap, i, json_array_get(body, i), &rcap);
	} else {
		return not_a_batch(kind, body, ndjson, e);
	}
	b->over_from = b->total < b->limit ? b->total : b->limit;
	reject_duplicates(b, &rcap);
	if (b->n_rejects > 1)
		qsort(b->rejects, b->n_rejects, sizeof *b->rejects, reject_cmp);
	return 0;
}

int ingest_batch_store(struct store_conn *c, const struct ingest_batch *b, int64_t now,
		       struct err *e)
{
	for (size_t i = 0; i < b->n_items; i++) {
		const struct ingest_item *it = &b->items[i];
		int rc = 0;
		switch (b->kind) {
		case INGEST_EVAL:
			rc = store_eval_result_insert(c, &it->u.eval, now, NULL, e);
			break;
		case INGEST_METRICS:
			rc = store_metrics_daily_upsert(c, &it->u.metrics, now, e);
			break;
		case INGEST_CANARY:
			rc = store_canary_run_insert(c, &it->u.canary, now, NULL, e);
			break;
		}
		if (rc)
			return rc;
	}
	return 0;
}

static json_t *reject_json(size_t index, int code, const char *field, const char *message)
{
	json_t *details = json_object();
	if (field && *field)
		json_object_set_new(details, "field", jstr(field));
	return jpack("{sI s{ss so so}}", "index", (json_int_t)index, "error", "code",
		     err_code_name(code), "message", jstr(message), "details", details);
}

json_t *ingest_batch_reply(const struct ingest_batch *b)
{
	json_t *rejected = json_array();
	for (size_t i = 0; i < b->n_rejects; i++)
		json_array_append_new(rejected,
				      reject_json(b->rejects[i].index, b->rejects[i].code,
						  b->rejects[i].field, b->rejects[i].message));
	if (b->over_from < b->total) {
		char msg[160];
		snprintf(msg, sizeof msg,
			 "past the limit of %zu items per request; send it in another request",
			 b->limit);
		for (size_t i = b->over_from; i < b->total; i++)
			json_array_append_new(rejected, reject_json(i, ERR_TOOLARGE, "", msg));
	}
	return jpack("{sI so}", "accepted", (json_int_t)b->n_items, "rejected", rejected);
}

void ingest_batch_clear(struct ingest_batch *b)
{
	if (!b)
		return;
	for (size_t i = 0; i < b->n_items; i++)
		item_clear(b->kind, &b->items[i]);
	free(b->items);
	for (size_t i = 0; i < b->n_rejects; i++) {
		free(b->rejects[i].field);
		free(b->rejects[i].message);
	}
	free(b->rejects);
	memset(b, 0, sizeof *b);
}
