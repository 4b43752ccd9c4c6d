/* web_assets.h — the dashboard's files, compiled in by tools/embed_web.py.
 *
 * One entry per file of src/web/: index.html under that name, every other file under
 * its content-hashed name (e.g. "app.3f2a9c1e0b7d.js"), which the references in the
 * other files already use. The array ends with an entry whose name is NULL.
 * Read-only, any thread. */
#ifndef INTERVENE_API_WEB_ASSETS_H
#define INTERVENE_API_WEB_ASSETS_H

#include <stddef.h>

struct web_asset {
	const char *name;	   /* "index.html" or "NAME.HASH.EXT" */
	const char *type;	   /* Content-Type */
	const unsigned char *data; /* the bytes served */
	size_t len;
	const unsigned char *gz; /* gzip of data, or NULL when not smaller */
	size_t gz_len;
};

extern const struct web_asset web_assets[];

#endif
