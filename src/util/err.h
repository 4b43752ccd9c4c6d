/* err.h — the one error vocabulary of intervene.
 *
 * Functions return 0 on success or a negative enum err_code; when the caller should
 * see text, they also fill a struct err passed by pointer (which may be NULL).
 * http/reply.c is the one place that maps codes to HTTP statuses. Any thread. */
#ifndef INTERVENE_UTIL_ERR_H
#define INTERVENE_UTIL_ERR_H

#include <stdarg.h>

enum err_code {
	ERR_OK = 0,
	ERR_NOMEM = -1,	       /* allocation failed */
	ERR_INVALID = -2,      /* bad input: validation_failed (400) */
	ERR_NOTFOUND = -3,     /* 404 */
	ERR_CONFLICT = -4,     /* 409 */
	ERR_IO = -5,	       /* local I/O, storage: storage_unavailable (503) */
	ERR_UPSTREAM = -6,     /* another machine failed */
	ERR_FORBIDDEN = -7,    /* 403 */
	ERR_UNAUTHORIZED = -8, /* 401 */
	ERR_JSON = -9,	       /* malformed JSON: invalid_json (400) */
	ERR_TOOLARGE = -10,    /* 413 */
	ERR_MEDIA = -11,       /* 415 */
	ERR_METHOD = -12,      /* 405 */
	ERR_RATELIMIT = -13,   /* 429 */
	ERR_INTERNAL = -14,    /* a bug or an impossible state: 500 */
	ERR_BUSY = -15,	       /* storage locked or newer schema: 503 */
	ERR_APPROVAL = -16,    /* a plan needs an approval it lacks: approval_required (403) */
	ERR_FULL = -17,	       /* a limit of the server is reached: unavailable (503) */
};

#define ERR_MSG_MAX   512
#define ERR_FIELD_MAX 128

/* Error detail for the user. field names the offending input field (dotted for
 * nested ones) or is empty; index is the batch index or -1. */
struct err {
	int code;
	char msg[ERR_MSG_MAX];
	char field[ERR_FIELD_MAX];
	long index;
	long long incident_id; /* for conflicts naming an incident, else 0 */
};

/* Reset e to "no error" (code 0, empty texts, index -1). NULL is allowed. */
void err_clear(struct err *e);

/* Set code and a printf-style message; returns code so callers can
 * `return err_set(e, ERR_INVALID, "...")`. NULL e is allowed (nothing stored). */
int err_set(struct err *e, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Like err_set, and also names the field (dotted path). */
int err_field(struct err *e, int code, const char *field, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* A short constant name for a code, e.g. "ERR_NOTFOUND" → "not_found". */
const char *err_code_name(int code);

#endif
