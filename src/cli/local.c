/* local.c — commands that work directly on the configured store: config check,
 * token create|list|revoke, audit verify, version. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "core/auth.h"
#include "core/event.h"
#include "store/store.h"
#include "util/json.h"
#include "util/time.h"

int cli_version(const struct cli *g, int argc, char **argv)
{
	(void)g;
	if (cli_wants_help(argc, argv, "usage: intervene version\n\nPrint the version.\n"))
		return EXIT_OK;
	printf("intervene %s\n", INTERVENE_VERSION);
	return EXIT_OK;
}

int cli_config(const struct cli *g, int argc, char **argv)
{
	static const char help[] =
		"usage: intervene [--config PATH] config check\n\n"
		"Validate the configuration and print the effective configuration (defaults\n"
		"filled in, ${VAR} expanded, secrets masked). Exit 1 with file:line:column\n"
		"errors when it is invalid.\n";
	if (cli_wants_help(argc, argv, help))
		return EXIT_OK;
	if (argc != 2 || strcmp(argv[1], "check")) {
		fputs(help, stderr);
		return EXIT_USAGE;
	}
	struct config *cfg = cli_load_config(g);
	if (!cfg)
		return EXIT_FAIL;
	config_dump(cfg, stdout);
	config_free(cfg);
	return EXIT_OK;
}

/* ---- token ---- */

static const char token_help[] =
	"usage: intervene [--config PATH] token create --name NAME --role ROLE [--expires 90d]\n"
	"       intervene [--config PATH] token list [--format text|json]\n"
	"       intervene [--config PATH] token revoke NAME\n\n"
	"Manage API tokens directly in the configured store (a running server sees\n"
	"changes within a second). create prints the token once on stdout; only a keyed\n"
	"hash is stored. Roles: viewer < responder < approver < admin.\n";

struct list_state {
	bool json;
	json_t *arr;
	int64_t now;
};

static int print_token(const struct token_row *t, void *arg)
{
	struct list_state *s = arg;
	char created[TIME_RFC3339_LEN], expires[TIME_RFC3339_LEN] = "never";
	time_format_ms(t->created_at, created);
	if (t->expires_at)
		time_format_ms(t->expires_at, expires);
	const char *status = t->revoked_at				  ? "revoked"
			     : (t->expires_at && t->expires_at <= s->now) ? "expired"
									  : "active";
	if (s->json) {
		json_array_append_new(s->arr,
				      jpack("{ss ss ss so so ss}", "name", t->name, "role", t->role,
					    "created_at", created, "expires_at",
					    t->expires_at ? json_string(expires) : json_null(),
					    "revoked_at", json_time_or_null(t->revoked_at),
					    "status", status));
	} else {
		printf("%-24s %-10s %-25s %-25s %s\n", t->name, t->role, created, expires, status);
	}
	return 0;
}

static int with_store(const struct cli *g, struct config **cfg, struct store **s,
		      struct store_conn **c)
{
	*cfg = cli_load_config(g);
	if (!*cfg)
		return EXIT_FAIL;
	*s = cli_open_store(*cfg, NULL);
	if (!*s)
		return EXIT_FAIL;
	struct err e;
	err_clear(&e);
	if (store_connect(*s, false, c, &e)) {
		fprintf(stderr, "intervene: %s\n", e.msg);
		return EXIT_FAIL;
	}
	return EXIT_OK;
}

static int token_create(struct store_conn *c, const struct config *cfg, int argc, char **argv)
{
	const char *name = NULL, *role = NULL, *expires = NULL;
	for (int i = 2; i < argc; i++) {
		const char **dst = !strcmp(argv[i], "--name")	   ? &name
				   : !strcmp(argv[i], "--role")	   ? &role
				   : !strcmp(argv[i], "--expires") ? &expires
								   : NULL;
		if (!dst || i + 1 >= argc) {
			fprintf(stderr, "intervene token create: unexpected argument '%s'\n%s",
				argv[i], token_help);
			return EXIT_USAGE;
		}
		*dst = argv[++i];
	}
	if (!name || !role) {
		fprintf(stderr, "intervene token create: --name and --role are required\n");
		return EXIT_USAGE;
	}
	enum role r = auth_parse_role(role);
	if (r == ROLE_NONE) {
		fprintf(stderr,
			"intervene token create: --role must be viewer, responder, approver "
			"or admin\n");
		return EXIT_USAGE;
	}
	int64_t exp = 0;
	if (expires) {
		int64_t ms = config_parse_duration(expires);
		if (ms <= 0) {
			fprintf(stderr,
				"intervene token create: --expires must look like 90d or 12h\n");
			return EXIT_USAGE;
		}
		exp = time_now_ms() + ms;
	}
	char actor[128], token[AUTH_TOKEN_LEN + 1];
	cli_actor(actor, sizeof actor);
	struct err e;
	err_clear(&e);
	int rc = store_begin(c, &e);
	if (!rc)
		rc = auth_token_create(c, cfg, name, r, exp, actor, NULL, token, &e);
	if (!rc)
		rc = store_commit(c, &e);
	if (rc) {
		store_rollback(c);
		fprintf(stderr, "intervene token create: %s\n", e.msg);
		return EXIT_FAIL;
	}
	printf("%s\n", token);
	return EXIT_OK;
}

static int token_revoke(struct store_conn *c, const struct config *cfg, int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "intervene token revoke: give exactly one token name\n");
		return EXIT_USAGE;
	}
	char actor[128];
	cli_actor(actor, sizeof actor);
	struct err e;
	err_clear(&e);
	int rc = store_begin(c, &e);
	if (!rc)
		rc = auth_token_revoke(c, cfg, argv[2], actor, &e);
	if (!rc)
		rc = store_commit(c, &e);
	if (rc) {
		store_rollback(c);
		fprintf(stderr, "intervene token revoke: %s\n", e.msg);
		return EXIT_FAIL;
	}
	printf("revoked %s\n", argv[2]);
	return EXIT_OK;
}

static int token_list(struct store_conn *c, int argc, char **argv)
{
	struct list_state st = {.now = time_now_ms()};
	for (int i = 2; i < argc; i++) {
		if (!strcmp(argv[i], "--format") && i + 1 < argc &&
		    (!strcmp(argv[i + 1], "json") || !strcmp(argv[i + 1], "text"))) {
			st.json = !strcmp(argv[++i], "json");
			continue;
		}
		fprintf(stderr, "intervene token list: unexpected argument '%s'\n", argv[i]);
		return EXIT_USAGE;
	}
	struct err e;
	err_clear(&e);
	if (st.json)
		st.arr = json_array();
	else
		printf("%-24s %-10s %-25s %-25s %s\n", "NAME", "ROLE", "CREATED", "EXPIRES",
		       "STATUS");
	int rc = store_token_list(c, print_token, &st, &e);
	if (rc) {
		json_decref(st.arr);
		fprintf(stderr, "intervene token list: %s\n", e.msg);
		return EXIT_FAIL;
	}
	if (st.json) {
		json_t *o = jpack("{so}", "tokens", st.arr);
		json_dumpf(o, stdout, JSON_INDENT(2) | JSON_SORT_KEYS);
		putchar('\n');
		json_decref(o);
	}
	return EXIT_OK;
}

int cli_token(const struct cli *g, int argc, char **argv)
{
	if (cli_wants_help(argc, argv, token_help))
		return EXIT_OK;
	if (argc < 2 ||
	    (strcmp(argv[1], "create") && strcmp(argv[1], "list") && strcmp(argv[1], "revoke"))) {
		fputs(token_help, stderr);
		return EXIT_USAGE;
	}
	struct config *cfg = NULL;
	struct store *s = NULL;
	struct store_conn *c = NULL;
	int code = with_store(g, &cfg, &s, &c);
	if (code == EXIT_OK) {
		if (!strcmp(argv[1], "create"))
			code = token_create(c, cfg, argc, argv);
		else if (!strcmp(argv[1], "list"))
			code = token_list(c, argc, argv);
		else
			code = token_revoke(c, cfg, argc, argv);
	}
	store_disconnect(c);
	store_free(s);
	config_free(cfg);
	return code;
}

/* ---- audit ---- */

int cli_audit(const struct cli *g, int argc, char **argv)
{
	static const char help[] =
		"usage: intervene [--config PATH] audit verify\n\n"
		"Recompute the event log's hash chain from its first retained event: the start\n"
		"must be where the latest audit_anchor (written when retention pruned old\n"
		"events) says, every event must link to the one before it and match its\n"
		"contents, and the end must be the stored head (so events deleted from the end\n"
		"are noticed). Prints OK and exits 0 when all holds; otherwise names the first\n"
		"bad or missing event and exits 1.\n";
	if (cli_wants_help(argc, argv, help))
		return EXIT_OK;
	if (argc != 2 || strcmp(argv[1], "verify")) {
		fputs(help, stderr);
		return EXIT_USAGE;
	}
	struct config *cfg = cli_load_config(g);
	if (!cfg)
		return EXIT_FAIL;
	int code = EXIT_FAIL;
	struct store *s = NULL;
	struct store_conn *c = NULL;
	struct err e;
	err_clear(&e);
	struct audit_result r;
	if (store_new(cfg->storage.url, &s, &e) || store_check_schema(s, &e) ||
	    store_connect(s, true, &c, &e) || event_audit(c, &r, &e)) {
		fprintf(stderr, "intervene audit verify: %s\n", e.msg);
		goto out;
	}
	if (r.bad_id) {
		printf("FAIL: event %lld: %s (%lld events before it verified)\n",
		       (long long)r.bad_id, r.problem, (long long)r.checked);
		goto out;
	}
	if (r.checked && r.anchor_id)
		printf("OK: %lld events verified (ids %lld..%lld), starting where the audit_anchor "
		       "of event %lld says; the end matches the stored head\n",
		       (long long)r.checked, (long long)r.first_id, (long long)r.last_id,
		       (long long)r.anchor_id);
	else if (r.checked)
		printf("OK: %lld events verified (ids %lld..%lld); the end matches the stored "
		       "head\n",
		       (long long)r.checked, (long long)r.first_id, (long long)r.last_id);
	else
		printf("OK: the event log is empty\n");
	code = EXIT_OK;
out:
	store_disconnect(c);
	store_free(s);
	config_free(cfg);
	return code;
}
