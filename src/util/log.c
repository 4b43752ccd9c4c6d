#include "util/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "util/buf.h"
#include "util/time.h"

/* Written once before threads start, read-only afterwards. */
static enum log_level min_level = LOG_INFO;

void log_set_level(enum log_level lvl)
{
	min_level = lvl;
}

static const char *level_name(enum log_level l)
{
	switch (l) {
	case LOG_DEBUG: return "debug";
	case LOG_INFO: return "info";
	case LOG_WARN: return "warn";
	default: return "error";
	}
}

void log_msg(enum log_level lvl, const char *msg, const char *kvfmt, ...)
{
	if (lvl < min_level)
		return;
	char ts[TIME_RFC3339_LEN];
	time_format_ms(time_now_ms(), ts);
	struct buf b = BUF_INIT;
	buf_printf(&b, "level=%s ts=%s msg=\"", level_name(lvl), ts);
	for (const char *p = msg; *p; p++) {
		if (*p == '"' || *p == '\\')
			buf_putc(&b, '\\');
		if (*p == '\n')
			buf_puts(&b, "\\n");
		else
			buf_putc(&b, *p);
	}
	buf_putc(&b, '"');
	if (kvfmt && *kvfmt) {
		buf_putc(&b, ' ');
		va_list ap;
		va_start(ap, kvfmt);
		buf_vprintf(&b, kvfmt, ap);
		va_end(ap);
	}
	/* A newline inside a field would forge a log line: fold it. */
	for (size_t i = 0; i < b.len; i++)
		if (b.data[i] == '\n' || b.data[i] == '\r')
			b.data[i] = ' ';
	buf_putc(&b, '\n');
	ssize_t w = write(STDERR_FILENO, b.data, b.len);
	(void)w;
	buf_free(&b);
}
