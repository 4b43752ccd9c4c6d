/* time.h — wall-clock milliseconds and RFC 3339 text (UTC, milliseconds, 'Z').
 * Pure functions; any thread. */
#ifndef INTERVENE_UTIL_TIME_H
#define INTERVENE_UTIL_TIME_H

#include <stdbool.h>
#include <stdint.h>

/* "2026-11-28T07:44:24.123Z" plus NUL. */
#define TIME_RFC3339_LEN 25

/* The instants RFC 3339 text with a four-digit year can name:
 * 0000-01-01T00:00:00.000Z .. 9999-12-31T23:59:59.999Z. */
#define TIME_MIN_MS (-62167219200000LL)
#define TIME_MAX_MS 253402300799999LL

/* Milliseconds since the Unix epoch (CLOCK_REALTIME). */
int64_t time_now_ms(void);

/* Milliseconds of a monotonic clock, for durations. */
int64_t time_mono_ms(void);

/* The CLOCK_MONOTONIC time ms milliseconds from now, as pthread_cond_timedwait takes
 * it (for a condition variable created with that clock). */
struct timespec;
void time_mono_deadline(int64_t ms, struct timespec *ts);

/* Format ms (UTC) into out (TIME_RFC3339_LEN bytes). */
void time_format_ms(int64_t ms, char out[TIME_RFC3339_LEN]);

/* Parse an RFC 3339 timestamp ("...Z" or "+hh:mm" offset, optional fraction) into ms.
 * Returns false if s is not a valid timestamp or names an instant outside
 * TIME_MIN_MS .. TIME_MAX_MS (an offset can push a year-0 or year-9999 time there). */
bool time_parse_ms(const char *s, int64_t *out);

#endif
