/* tmpdb.h — a throwaway SQLite store for unit tests: a mkdtemp directory under /tmp
 * holding test.db, created and migrated; removed with every WAL/SHM file at the end. */
#ifndef INTERVENE_TESTS_TMPDB_H
#define INTERVENE_TESTS_TMPDB_H

#include <stddef.h>

#include "store/store.h"

/* Create /tmp/intervene-<tag>-XXXXXX/test.db, migrated; dir (64 bytes) and path (128
 * bytes) receive the names, *store the opened store (store_free it). Returns 0, or -1
 * after printing why to stderr (then nothing is left behind). */
int tmpdb_create(const char *tag, char dir[64], char path[128], struct store **store);

/* Remove path and its -wal, -shm and -journal files, then dir. */
void tmpdb_remove(const char *dir, const char *path);

/* A cmocka fixture: a throwaway store and one write connection to it. */
struct tmpdb_fixture {
	char dir[64];
	char path[128];
	struct store *store;
	struct store_conn *conn;
};

/* cmocka setup/teardown: *state becomes a new struct tmpdb_fixture (tag "unit"). */
int tmpdb_setup(void **state);
int tmpdb_teardown(void **state);

#endif
