#include "tmpdb.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The store INTERVENE_TEST_STORE asks for: 0 for SQLite, else -1 after saying why. */
static int check_choice(void)
{
	const char *v = getenv("INTERVENE_TEST_STORE");
	if (!v || !*v || !strcmp(v, "sqlite"))
		return 0;
	if (!strncmp(v, "postgres://", 11) || !strncmp(v, "postgresql://", 13))
		fprintf(stderr,
			"tmpdb: INTERVENE_TEST_STORE asks for a PostgreSQL server, but the "
			"PostgreSQL backend is not built yet; unset it (or set it to \"sqlite\") "
			"to run these tests on SQLite\n");
	else
		fprintf(stderr,
			"tmpdb: INTERVENE_TEST_STORE=\"%.80s\" is neither \"sqlite\" nor a "
			"postgres:// URL\n",
			v);
	return -1;
}

static int create(const char *tag, bool migrate, char dir[64], char path[128], struct store **store)
{
	*store = NULL;
	if (check_choice())
		return -1;
	snprintf(dir, 64, "/tmp/intervene-%.20s-XXXXXX", tag);
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return -1;
	}
	snprintf(path, 128, "%s/test.db", dir);
	char url[160];
	snprintf(url, sizeof url, "sqlite://%s", path);
	struct err e;
	err_clear(&e);
	int version = 0;
	if (store_new(url, store, &e) || (migrate && store_migrate(*store, &version, &e))) {
		fprintf(stderr, "tmpdb: %s\n", e.msg);
		store_free(*store);
		*store = NULL;
		tmpdb_remove(dir, path);
		return -1;
	}
	return 0;
}

int tmpdb_create(const char *tag, char dir[64], char path[128], struct store **store)
{
	return create(tag, true, dir, path, store);
}

int tmpdb_create_bare(const char *tag, char dir[64], char path[128], struct store **store)
{
	return create(tag, false, dir, path, store);
}

void tmpdb_remove(const char *dir, const char *path)
{
	static const char *const suffixes[] = {"", "-wal", "-shm", "-journal"};
	for (size_t i = 0; i < sizeof suffixes / sizeof suffixes[0]; i++) {
		char p[160];
		snprintf(p, sizeof p, "%s%s", path, suffixes[i]);
		unlink(p);
	}
	rmdir(dir);
}

int tmpdb_setup(void **state)
{
	struct tmpdb_fixture *f = calloc(1, sizeof *f);
	if (!f)
		return -1;
	if (tmpdb_create("unit", f->dir, f->path, &f->store)) {
		free(f);
		return -1;
	}
	struct err e;
	err_clear(&e);
	if (store_connect(f->store, false, &f->conn, &e)) {
		fprintf(stderr, "setup: %s\n", e.msg);
		store_free(f->store);
		tmpdb_remove(f->dir, f->path);
		free(f);
		return -1;
	}
	*state = f;
	return 0;
}

int tmpdb_teardown(void **state)
{
	struct tmpdb_fixture *f = *state;
	store_disconnect(f->conn);
	store_free(f->store);
	tmpdb_remove(f->dir, f->path);
	free(f);
	return 0;
}
