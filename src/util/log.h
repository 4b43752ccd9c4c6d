/* log.h — one logfmt line per call to stderr.
 *
 *   level=info ts=2026-11-28T07:44:24.123Z msg="listening" addr=127.0.0.1:8080
 *
 * The message and every field go through log_*; values are quoted and escaped when
 * they need it. Never pass a secret. Thread-safe (one write(2) per line). */
#ifndef INTERVENE_UTIL_LOG_H
#define INTERVENE_UTIL_LOG_H

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };

/* Set the minimum level printed (default LOG_INFO). Call before threads start. */
void log_set_level(enum log_level lvl);

/* Log msg with extra key=value pairs given as a printf format producing logfmt,
 * e.g. log_msg(LOG_INFO, "listening", "addr=%s", addr). kvfmt may be NULL. */
void log_msg(enum log_level lvl, const char *msg, const char *kvfmt, ...)
	__attribute__((format(printf, 3, 4)));

#define log_info(msg, ...)  log_msg(LOG_INFO, msg, __VA_ARGS__)
#define log_warn(msg, ...)  log_msg(LOG_WARN, msg, __VA_ARGS__)
#define log_error(msg, ...) log_msg(LOG_ERROR, msg, __VA_ARGS__)
#define log_debug(msg, ...) log_msg(LOG_DEBUG, msg, __VA_ARGS__)

#endif
