/* serve.c — `intervene serve` and `intervene migrate`. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "cli/cli.h"
#include "core/auth.h"
#include "http/server.h"
#include "store/store.h"
#include "util/log.h"

struct bootstrap_state {
	int live;
};

static int count_live(const struct token_row *t, void *arg)
{
	if (!t->revoked_at)
		((struct bootstrap_state *)arg)->live++;
	return 0;
}

/* In tokens mode with no live token, create the admin token. The write lock makes
 * instances that start together create one between them. */
static int bootstrap(struct store *s, const struct config *cfg, struct err *e)
{
	struct store_conn *c = NULL;
	int rc = store_connect(s, false, &c, e);
	if (rc)
		return rc;
	if ((rc = store_begin(c, e)))
		goto out;
	struct bootstrap_state st = {0};
	if ((rc = store_token_list(c, count_live, &st, e)))
		goto rollback;
	if (st.live == 0) {
		const char *env = getenv("INTERVENE_BOOTSTRAP_TOKEN");
		char token[AUTH_TOKEN_LEN + 1] = "";
		if (env && strlen(env) < 16) {
			rc = err_set(e, ERR_INVALID,
				     "INTERVENE_BOOTSTRAP_TOKEN must be at least 16 characters");
			goto rollback;
		}
		rc = auth_token_create(c, cfg, "admin", ROLE_ADMIN, 0, "system:bootstrap",
				       env && *env ? env : NULL, token, e);
		if (rc)
			goto rollback;
		if ((rc = store_commit(c, e)))
			goto rollback;
		if (!env || !*env)
			fprintf(stderr, "admin token: %s\n", token);
		else
			log_info("bootstrap admin token created from INTERVENE_BOOTSTRAP_TOKEN",
				 NULL);
		goto out;
	}
rollback:
	store_rollback(c);
out:
	store_disconnect(c);
	return rc;
}

int cli_serve(const struct cli *g, int argc, char **argv)
{
	if (cli_wants_help(
		    argc, argv,
		    "usage: intervene [--config PATH] serve\n\n"
		    "Run the server on the configured store: the REST API on server.listen.\n"
		    "Creates and migrates the database on first start. In tokens mode with no\n"
		    "tokens, creates an admin token from INTERVENE_BOOTSTRAP_TOKEN, or prints a\n"
		    "random one as 'admin token: <token>' on stderr. SIGTERM stops it cleanly.\n"))
		return EXIT_OK;
	if (argc > 1) {
		fprintf(stderr, "intervene serve: unexpected argument '%s'\n", argv[1]);
		return EXIT_USAGE;
	}
	struct config *cfg = cli_load_config(g);
	if (!cfg)
		return EXIT_FAIL;
	int version = 0, code = EXIT_FAIL;
	struct store *s = cli_open_store(cfg, &version);
	struct err e;
	err_clear(&e);
	if (!s)
		goto out;
	log_info("store ready", "url=\"%s\" schema=%d", cfg->storage.url, version);
	if (cfg->auth.mode == CONFIG_AUTH_TOKENS && bootstrap(s, cfg, &e)) {
		fprintf(stderr, "intervene: bootstrap token: %s\n", e.msg);
		goto out;
	}
	/* The API, the dashboard when server.web is on, and in a test build the
	 * fault-injection routes. */
	size_t n_web = cfg->server.web ? web_n_routes : 0, n_debug = 0;
#ifdef INTERVENE_FAULT_INJECTION
	n_debug = api_debug_n_routes;
	log_warn("this is a test build: /api/debug/faults can make storage fail on purpose", NULL);
#endif
	size_t n_routes = api_n_routes + n_web + n_debug;
	struct route *routes = xcalloc(n_routes, sizeof *routes);
	memcpy(routes, api_routes, api_n_routes * sizeof *routes);
	memcpy(routes + api_n_routes, web_routes, n_web * sizeof *routes);
#ifdef INTERVENE_FAULT_INJECTION
	memcpy(routes + api_n_routes + n_web, api_debug_routes, n_debug * sizeof *routes);
#endif
	int run_rc = server_run(cfg, s, routes, n_routes, &e);
	free(routes);
	if (run_rc) {
		fprintf(stderr, "intervene: %s\n", e.msg);
		goto out;
	}
	code = EXIT_OK;
out:
	store_free(s);
	config_free(cfg);
	return code;
}

int cli_migrate(const struct cli *g, int argc, char **argv)
{
	if (cli_wants_help(argc, argv,
			   "usage: intervene [--config PATH] migrate\n\n"
			   "Create the database if needed and apply every pending migration.\n"
			   "A database newer than this binary is refused.\n"))
		return EXIT_OK;
	if (argc > 1) {
		fprintf(stderr, "intervene migrate: unexpected argument '%s'\n", argv[1]);
		return EXIT_USAGE;
	}
	struct config *cfg = cli_load_config(g);
	if (!cfg)
		return EXIT_FAIL;
	int version = 0;
	struct store *s = cli_open_store(cfg, &version);
	int code = s ? EXIT_OK : EXIT_FAIL;
	if (s)
		printf("schema version %d\n", version);
	store_free(s);
	config_free(cfg);
	return code;
}
