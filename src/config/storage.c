/* storage.c — the `storage` section: which database, and how long events are kept.
 *
 * Owns the storage URL syntax: a SQLite path is resolved against the config file's
 * directory here, so the store receives an absolute path. */
#include <stdlib.h>
#include <string.h>

#include "config/keys.h"
#include "config/sections.h"

static int check_storage_url(const char *dir, char **s, struct buf *why)
{
	const char *u = *s;
	if (!strncmp(u, "postgres://", 11) || !strncmp(u, "postgresql://", 13)) {
		if (!strchr(u, '/')[2]) {
			buf_puts(why, "postgres:// URL has no host");
			return -1;
		}
		return 0;
	}
	if (strncmp(u, "sqlite://", 9)) {
		char *shown = cfg_mask_url_password(u);
		buf_puts(why,
			 "expected sqlite://PATH or postgres://USER:PASSWORD@HOST:PORT/DB, got ");
		cfg_put_echo(why, shown);
		free(shown);
		return -1;
	}
	const char *p = u + 9;
	size_t plen = strcspn(p, "?#");
	if (plen == 0) {
		buf_puts(why, "sqlite:// needs a file path, e.g. sqlite://intervene.db");
		return -1;
	}
	/* The store opens the path as a plain file name: a query (?cache=shared, ?mode=ro)
	 * would not be applied but become part of the name of a new database. */
	if (p[plen]) {
		buf_puts(why, "a sqlite:// URL takes a file path only (sqlite://PATH): ?query and "
			      "#fragment are not supported, got ");
		cfg_put_echo(why, p + plen);
		return -1;
	}
	char *abs = cfg_join_path(dir, p);
	struct buf b = BUF_INIT;
	buf_printf(&b, "sqlite://%s", abs);
	free(abs);
	free(*s);
	*s = buf_steal(&b);
	return 0;
}

const struct key cfg_storage_keys[] = {
	KSTR("url", C(storage.url), "sqlite://intervene.db", F_REQUIRED | F_DBURL,
	     check_storage_url),
	KDUR("event_retention", C(storage.event_retention_ms), "30d", SECOND, 3650 * DAY, 0),
	KEND,
};
