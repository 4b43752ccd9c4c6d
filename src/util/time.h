/* time.h — wall-clock milliseconds and RFC 3339 text (UTC, milliseconds, 'Z').
 * Pure functions; any thread. */
#ifndef INTERVENE_UTIL_TIME_H
#define INTERVENE_UTIL_TIME_H

#include <stdbool.h>
#include <stdint.h>

/* "2026-11-28T07:44:24.123Z" plus NUL. */
#define TIME_RFC3339_LEN 25

/* Milliseconds since the Unix epoch (CLOCK_REALTIME). */
int64_t time_now_ms(void);

/* Milliseconds of a monotonic clock, for durations. */
int64_t time_mono_ms(void);

/* Format ms (UTC) into out (TIME_RFC3339_LEN bytes). */
void time_format_ms(int64_t ms, char out[TIME_RFC3339_LEN]);

/* Parse an RFC 3339 timestamp ("...Z" or "+hh:mm" offset, optional fraction) into ms.
 * Returns false if s is not a valid timestamp. */
bool time_parse_ms(const char *s, int64_t *out);

#endif
