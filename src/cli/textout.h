/* textout.h — text output of the client commands for people: aligned tables,
 * relative ages, key: value listings, and strings made safe for a terminal (control
 * characters, including ESC and the C1 range, become '?', so a summary cannot move the
 * cursor or retitle the window). Widths count code points. Single-threaded. */
#ifndef INTERVENE_CLI_TEXTOUT_H
#define INTERVENE_CLI_TEXTOUT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "util/buf.h"

struct table_col {
	const char *head; /* "SUMMARY" */
	size_t max;	  /* longest cell in code points (longer ones end with "…"); 0 = any */
};

struct table;

/* A table with n columns (cols is not copied: keep it alive). Free with table_free. */
struct table *table_new(const struct table_col *cols, size_t n);

/* Release t; NULL is allowed. */
void table_free(struct table *t);

/* Append the next cell (rows fill left to right, then wrap). NULL prints "-". */
void table_add(struct table *t, const char *cell);
void table_addf(struct table *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Print the header and rows, columns separated by two spaces, the last not padded. */
void table_print(const struct table *t, FILE *f);

/* Fills the cells of one row for item (now_ms: the time ages are measured from). */
typedef void (*table_row_fn)(struct table *t, const json_t *item, int64_t now_ms);

/* Print the JSON array items as a table, one row per item through row; prints
 * "no <what>" instead when items is empty or not an array. */
void table_print_items(FILE *f, const json_t *items, const struct table_col *cols, size_t n,
		       const char *what, table_row_fn row);

/* Append s to b with control characters replaced by '?', cut to max code points
 * (0 = no limit) with a trailing "…". Invalid UTF-8 bytes also become '?'. */
void text_safe(struct buf *b, const char *s, size_t max);

/* A duration as one unit, rounded down: "42s", "5m", "3h", "2d". Negative → "0s". */
void text_duration(int64_t ms, char out[24]);

/* An RFC 3339 time relative to now: "5m" (past; "5m ago" with ago) or "in 5m"
 * (future); "-" when t is NULL or not a time. */
void text_age(const char *t, int64_t now_ms, bool ago, char out[32]);

/* A scalar JSON value as text: strings as they are, numbers and booleans printed,
 * null as "-", arrays of scalars comma-separated ("-" when empty); objects and other
 * arrays as compact JSON. Appended to b. */
void text_scalar(struct buf *b, const json_t *v);

/* How text_fields prints one field (NULL: text_field_default). */
typedef void (*text_field_fn)(struct buf *b, const json_t *v, int64_t now_ms);

struct text_field {
	const char *key;
	text_field_fn fmt;
};

/* The default: text_scalar, plus "(5m ago)" after times in fields whose name ends
 * in "_at"; objects and arrays holding objects are pretty-printed below the key. */
void text_field_default(struct buf *b, const json_t *v, int64_t now_ms);

/* Print obj as "key: value" lines, aligned: first the keys of order (a list ending
 * with {NULL}) that obj has, then the remaining keys in sorted order. */
void text_fields(FILE *f, const json_t *obj, const struct text_field *order, int64_t now_ms);

#endif
