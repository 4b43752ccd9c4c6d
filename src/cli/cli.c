#include "cli/cli.h"

#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/client.h"

static const struct {
	const char *name;
	int (*fn)(const struct cli *g, int argc, char **argv);
	const char *help;
} commands[] = {
	{"serve", cli_serve, "run the server (API, background workers)"},
	{"migrate", cli_migrate, "apply database migrations and exit"},
	{"config", cli_config, "config check: validate and print the effective configuration"},
	{"token", cli_token, "token create|list|revoke: manage API tokens in the store"},
	{"audit", cli_audit, "audit verify: check the event log's hash chain"},
	{"render", cli_render, "render an issue template for an incident JSON file"},
	{"version", cli_version, "print the version"},
	{"incident", cli_incident,
	 "list|show|declare|update|assign|ack|...: incidents on a server"},
	{"signal", cli_signal, "send a signal (from options or a JSON file)"},
	{"silence", cli_silence, "add|list|end|preview: silences on a server"},
	{"events", cli_events, "print (or --follow) the event log of a server"},
	{"outbox", cli_outbox, "list|retry: the delivery ledger of a server"},
	{"tracker", cli_tracker, "test: the tracker connection of a server"},
	{"settings", cli_settings, "get|set: runtime settings of a server (tracker, canaries)"},
	{"playbook", cli_playbook,
	 "list|offered|dry-run|approve|execute|rollback|...: playbook actions on a server"},
	{"gates", cli_gates, "run: evaluate the agents' budgets (exit 0/1/2/3 for CI)"},
	{"watch", cli_watch, "--once: run a watcher cycle on a server now"},
	{"eval", cli_eval, "push FILE: send eval results to a server"},
	{"metrics", cli_metrics, "push FILE: send daily metrics to a server"},
	{"canary", cli_canary, "push FILE: send canary run samples to a server"},
};

static void usage(FILE *f, const char *prog)
{
	fprintf(f,
		"usage: %s [--config PATH] COMMAND [ARGS...]\n\n"
		"Turns failing quality gates into well-run incidents.\n\n"
		"commands:\n",
		prog);
	for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
		fprintf(f, "  %-9s %s\n", commands[i].name, commands[i].help);
	fprintf(f,
		"\nglobal options:\n"
		"  --config PATH  configuration file (else $INTERVENE_CONFIG, else ./intervene.yaml,\n"
		"                 else built-in defaults)\n"
		"  --help         this text; COMMAND --help describes a command\n");
}

struct config *cli_load_config(const struct cli *g)
{
	struct config *cfg = NULL;
	struct err e;
	err_clear(&e);
	char *all = NULL;
	if (config_load_verbose(g->config_path, &cfg, &e, &all)) {
		fprintf(stderr, "%s\n", all ? all : e.msg);
		free(all);
		return NULL;
	}
	free(all);
	return cfg;
}

struct store *cli_open_store(const struct config *cfg, int *version)
{
	struct store *s = NULL;
	struct err e;
	err_clear(&e);
	int v = 0;
	if (store_new(cfg->storage.url, &s, &e) || store_migrate(s, &v, &e)) {
		fprintf(stderr, "intervene: %s\n", e.msg);
		store_free(s);
		return NULL;
	}
	if (version)
		*version = v;
	return s;
}

bool cli_wants_help(int argc, char **argv, const char *text)
{
	for (int i = 1; i < argc; i++)
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			fputs(text, stdout);
			return true;
		}
	return false;
}

void cli_actor(char *out, size_t n)
{
	struct passwd *pw = getpwuid(geteuid());
	snprintf(out, n, "cli:%s", pw && pw->pw_name ? pw->pw_name : "unknown");
}

int cli_main(int argc, char **argv)
{
	struct cli g = {.prog = "intervene"};
	/* Global options may come before or after the subcommand: take them out. */
	char **rest = argv;
	int n = 0;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--config")) {
			if (i + 1 >= argc) {
				fprintf(stderr, "intervene: --config needs a path\n");
				return EXIT_USAGE;
			}
			g.config_path = argv[++i];
		} else if (!strncmp(argv[i], "--config=", 9)) {
			g.config_path = argv[i] + 9;
		} else {
			rest[n++] = argv[i];
		}
	}
	if (n == 0) {
		usage(stderr, g.prog);
		return EXIT_USAGE;
	}
	if (!strcmp(rest[0], "--help") || !strcmp(rest[0], "-h") || !strcmp(rest[0], "help")) {
		usage(stdout, g.prog);
		return EXIT_OK;
	}
	if (!strcmp(rest[0], "--version"))
		return cli_version(&g, n, rest);
	for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
		if (!strcmp(rest[0], commands[i].name))
			return commands[i].fn(&g, n, rest);
	fprintf(stderr, "intervene: unknown command '%s' (see intervene --help)\n", rest[0]);
	return EXIT_USAGE;
}
