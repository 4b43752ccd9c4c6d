/* ingest.h — the gate inputs taken over the API (SPEC §10.1, §10.2, §10.4): eval
 * results, daily metrics and canary run samples, in batches.
 *
 * A batch is a JSON array, or NDJSON text (one item per line, blank lines ignored).
 * ingest_batch_parse validates every item without touching storage (loop thread): an
 * item that breaks a rule is rejected by its index with the offending field named;
 * the second and later occurrences of a row within the batch are rejected as
 * duplicates (eval results: same agent, task_id and timestamp; metrics: same agent
 * and date; canary runs: same canary, version, variant and timestamp); items past
 * INGEST_MAX_ITEMS are rejected by index, naming the limit, without being parsed.
 * ingest_batch_store writes the valid items inside the caller's write transaction (a
 * store thread), each with one statement, so an item is stored whole or not at all.
 *
 * Indexes count items from 0: array positions, or non-blank NDJSON lines. Pure except
 * ingest_batch_store; any thread that owns the batch. */
#ifndef INTERVENE_CORE_INGEST_H
#define INTERVENE_CORE_INGEST_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "core/model.h"
#include "store/store.h"
#include "util/err.h"

#define INGEST_MAX_ITEMS      10000 /* per request */
#define INGEST_NAME_MAX	      128   /* agent, task_id, canary, version, invariant id */
#define INGEST_MAX_INVARIANTS 100   /* per eval result */
#define INGEST_EVIDENCE_MAX   16384 /* bytes of an invariant's evidence (canonical JSON) */

enum ingest_kind { INGEST_EVAL, INGEST_METRICS, INGEST_CANARY };

/* One item in a form that is checked: fill *out (cleared with its *_clear even on
 * failure) or return ERR_INVALID with e->field naming the field (dotted for nested
 * ones: "invariants[2].passed"). */
int ingest_eval_parse(const json_t *obj, struct eval_result *out, struct err *e);
int ingest_metrics_parse(const json_t *obj, struct metrics_daily *out, struct err *e);
int ingest_canary_parse(const json_t *obj, struct canary_run *out, struct err *e);

/* Whether s is an existing calendar date written YYYY-MM-DD (years 0001..9999). */
bool ingest_date_valid(const char *s);

struct ingest_item {
	size_t index;
	union {
		struct eval_result eval;
		struct metrics_daily metrics;
		struct canary_run canary;
	} u;
};

struct ingest_reject {
	size_t index;
	int code;    /* ERR_INVALID, ERR_JSON, ERR_TOOLARGE */
	char *field; /* malloc'd, "" when none */
	char *message;
};

/* A parsed batch. items are the valid ones in index order; rejects are sorted by
 * index; the items from over_from to total - 1 were past the limit (not in rejects). */
struct ingest_batch {
	enum ingest_kind kind;
	struct ingest_item *items;
	size_t n_items;
	struct ingest_reject *rejects;
	size_t n_rejects;
	size_t total;	  /* items in the body */
	size_t over_from; /* == total when none was past the limit */
	size_t limit;	  /* INGEST_MAX_ITEMS unless a test chose another */
};

/* Parse body: a JSON array, or with ndjson a JSON string holding the NDJSON text.
 * limit 0 means INGEST_MAX_ITEMS. A body that is not an array (or, for NDJSON, a
 * string) is ERR_INVALID for the whole request: a single object is checked as an
 * item first so that its first problem is named, else e->field is "body". On success
 * *b is filled (free with ingest_batch_clear). */
int ingest_batch_parse(enum ingest_kind kind, const json_t *body, bool ndjson, size_t limit,
		       struct ingest_batch *b, struct err *e);

/* Store the valid items of b at time now (received_at, updated_at). A storage error
 * stops at once; the caller's savepoint undoes what was written. */
int ingest_batch_store(struct store_conn *c, const struct ingest_batch *b, int64_t now,
		       struct err *e);

/* The reply {accepted, rejected: [{index, error: {code, message, details}}]}, rejected
 * in index order. New reference. */
json_t *ingest_batch_reply(const struct ingest_batch *b);

void ingest_batch_clear(struct ingest_batch *b);

/* "eval results", "daily metrics", "canary runs" (for messages). */
const char *ingest_kind_words(enum ingest_kind kind);

#endif
