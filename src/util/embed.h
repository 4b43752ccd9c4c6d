/* embed.h — files compiled into the binary by tools/embed.py.
 * Arrays of these end with an entry whose name is NULL. Read-only, any thread. */
#ifndef INTERVENE_UTIL_EMBED_H
#define INTERVENE_UTIL_EMBED_H

struct embedded_file {
	const char *name; /* base name, e.g. "001_init.sql" */
	const char *text; /* NUL-terminated contents */
};

#endif
