/* tmpdb.h — the throwaway store of unit tests.
 *
 * Which store is one setting, the environment variable INTERVENE_TEST_STORE (the
 * integration harness reads the same one):
 *   unset or "sqlite"  a fresh SQLite file, test.db in a mkdtemp directory
 *                      /tmp/intervene-<tag>-XXXXXX, per fixture; removed at the end
 *                      with its -wal, -shm and -journal files;
 *   postgres://…       a PostgreSQL server: the backend is not built yet, so every
 *                      fixture fails at once, saying so (tests that need no store
 *                      still run);
 *   anything else      every fixture fails, naming the variable and its value.
 * Failures print why to stderr; cmocka then reports the fixture's tests as failed. */
#ifndef INTERVENE_TESTS_TMPDB_H
#define INTERVENE_TESTS_TMPDB_H

#include <stdbool.h>
#include <stddef.h>

#include "store/store.h"

/* Create a throwaway store, migrated; dir (64 bytes) and path (128 bytes) receive the
 * SQLite directory and file names, *store the opened store (store_free it). Returns
 * 0, or -1 after printing why to stderr (then nothing is left behind). */
int tmpdb_create(const char *tag, char dir[64], char path[128], struct store **store);

/* Like tmpdb_create, without migrating (tests of the migrations themselves). */
int tmpdb_create_bare(const char *tag, char dir[64], char path[128], struct store **store);

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
