/* config.c — the configuration's entry points (config.h) and its top level.
 *
 * The root table lists the sections in the order they are documented and dumped; each
 * section's keys, defaults and checks live in its own file (sections.h says which).
 * Finding the file, reading it and the public functions are here; the walk over the
 * document is walk.c, one value's conversion value.c, the dump dump.c. */
#include "config/config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config/keys.h"
#include "config/sections.h"
#include "util/buf.h"

#define MAX_FILE_BYTES (4 * 1024 * 1024)

/* ---- the top level ---- */

const struct key cfg_root_keys[] = {
	KSECTION("server", cfg_server_keys, 0, 0),
	KSECTION("storage", cfg_storage_keys, 0, 0),
	KSECTION("auth", cfg_auth_keys, 0, 0),
	KROW(KF_SECTION("watcher", cfg_watcher_keys, 0, 0)),
	KSECTION("policy", cfg_policy_keys, 0, 0),
	KSECTION("tracker", cfg_tracker_keys, 0, 0),
	KROW(KF_SECTION("notify", cfg_notify_keys, 0, 0)),
	KROW(KF_SECTION("actions", cfg_actions_keys, 0, 0)),
	KROW(KF_MAP("budgets", C(budgets), C(n_budgets), &cfg_budget_coll)),
	KROW(KF_SECTION("canary", cfg_canary_keys, 0, 0)),
	KEND,
};

void cfg_check_across(struct ctx *x, const struct config *c)
{
	cfg_check_auth(x, c);
	cfg_check_policy(x, c);
	cfg_check_canary(x, c);
	cfg_check_notify(x, c);
}

static char *cwd_dup(void)
{
	size_t sz = 256;
	for (;;) {
		char *p = xmalloc(sz);
		if (getcwd(p, sz))
			return p;
		free(p);
		if (errno != ERANGE || sz > 65536)
			return xstrdup(".");
		sz *= 2;
	}
}

/* ---- load ---- */

static struct config *new_config(const char *path, const char *dir)
{
	struct config *c = xcalloc(1, sizeof *c);
	c->path = xstrdup(path);
	c->dir = xstrdup(dir);
	cfg_apply_defaults(dir, cfg_root_keys, c, false);
	return c;
}

static int load_text(const char *text, size_t len, const char *name, const char *dir,
		     struct config **out, struct err *e, char **all)
{
	*out = NULL;
	struct config *c = new_config(name, dir);
	int rc = cfg_walk(text, len, c, 0, e, all);
	if (rc) {
		config_free(c);
		return rc;
	}
	*out = c;
	return 0;
}

int config_load_string(const char *text, size_t len, const char *name, const char *dir,
		       struct config **out, struct err *e)
{
	char *cwd = cwd_dup();
	char *abs = dir ? cfg_join_path(cwd, dir) : xstrdup(cwd);
	int rc = load_text(text, len, name ? name : "<string>", abs, out, e, NULL);
	free(abs);
	free(cwd);
	return rc;
}

static int read_file(const char *path, struct buf *b, struct err *e)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return err_set(e, ERR_IO, "cannot read %s: %s", path, strerror(errno));
	char chunk[8192];
	size_t n;
	int rc = 0;
	while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
		buf_append(b, chunk, n);
		if (b->len > MAX_FILE_BYTES) {
			rc = err_set(e, ERR_INVALID, "%s: larger than %d bytes", path,
				     MAX_FILE_BYTES);
			goto out;
		}
	}
	if (ferror(f))
		rc = err_set(e, ERR_IO, "cannot read %s: %s", path, strerror(errno));
out:
	fclose(f);
	return rc;
}

int config_load_verbose(const char *path, struct config **out, struct err *e, char **errors)
{
	struct stat st;
	*out = NULL;
	if (errors)
		*errors = NULL;
	if (!path) {
		const char *envp = getenv("INTERVENE_CONFIG");
		if (envp && *envp)
			path = envp;
		else if (stat("intervene.yaml", &st) == 0)
			path = "intervene.yaml";
	}
	char *cwd = cwd_dup();
	int rc;
	if (!path) {
		*out = new_config("", cwd);
		err_clear(e);
		rc = 0;
		goto out;
	}
	struct buf text = BUF_INIT;
	rc = read_file(path, &text, e);
	if (rc == 0) {
		char *abs = cfg_join_path(cwd, path);
		char *slash = strrchr(abs, '/');
		if (slash == abs)
			slash[1] = '\0';
		else if (slash)
			*slash = '\0';
		rc = load_text(buf_cstr(&text), text.len, path, abs, out, e, errors);
		free(abs);
	} else if (errors) {
		*errors = xstrdup(e ? e->msg : "");
	}
	buf_free(&text);
out:
	free(cwd);
	return rc;
}

int config_load(const char *path, struct config **out, struct err *e)
{
	return config_load_verbose(path, out, e, NULL);
}

struct config *config_defaults(void)
{
	char *cwd = cwd_dup();
	struct config *c = new_config("", cwd);
	free(cwd);
	return c;
}

void config_free(struct config *c)
{
	if (!c)
		return;
	cfg_free_keys(cfg_root_keys, c);
	free(c->path);
	free(c->dir);
	free(c);
}
