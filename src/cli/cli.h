/* cli.h — the command line: global options, subcommand dispatch, and the local
 * subcommands (SPEC §12). Exit codes: 0 success, 1 failure, 2 usage error. */
#ifndef INTERVENE_CLI_H
#define INTERVENE_CLI_H

#include <stdbool.h>
#include <stddef.h>

#include "config/config.h"
#include "store/store.h"

enum { EXIT_OK = 0, EXIT_FAIL = 1, EXIT_USAGE = 2 };

/* Global options, parsed before the subcommand runs. */
struct cli {
	const char *config_path; /* --config, or NULL */
	const char *prog;
};

/* Run the program; returns the exit code. */
int cli_main(int argc, char **argv);

/* Load the configuration named by the global options, printing errors; NULL on
 * failure. */
struct config *cli_load_config(const struct cli *g);

/* Open the configured store and apply pending migrations; prints the error and
 * returns NULL on failure. *version (may be NULL) gets the schema version. */
struct store *cli_open_store(const struct config *cfg, int *version);

/* If argv[1..] holds --help or -h, print text to stdout and return true. */
bool cli_wants_help(int argc, char **argv, const char *text);

/* "cli:<unix user>" into out. */
void cli_actor(char *out, size_t n);

/* Subcommands: argv[0] is the subcommand name. */
int cli_serve(const struct cli *g, int argc, char **argv);
int cli_migrate(const struct cli *g, int argc, char **argv);
int cli_config(const struct cli *g, int argc, char **argv);
int cli_token(const struct cli *g, int argc, char **argv);
int cli_audit(const struct cli *g, int argc, char **argv);
int cli_version(const struct cli *g, int argc, char **argv);
/* render [TEMPLATE] --context FILE [--strict] [--format text|json] (render.c) */
int cli_render(const struct cli *g, int argc, char **argv);

/* Client subcommands (client_*.c): they talk to a running server over HTTP. */
int cli_incident(const struct cli *g, int argc, char **argv);
int cli_signal(const struct cli *g, int argc, char **argv);
int cli_silence(const struct cli *g, int argc, char **argv);
int cli_events(const struct cli *g, int argc, char **argv);
int cli_outbox(const struct cli *g, int argc, char **argv);
int cli_tracker(const struct cli *g, int argc, char **argv);
int cli_settings(const struct cli *g, int argc, char **argv);
int cli_gates(const struct cli *g, int argc, char **argv);
int cli_watch(const struct cli *g, int argc, char **argv);
/* client_push.c: eval|metrics|canary push FILE */
int cli_eval(const struct cli *g, int argc, char **argv);
int cli_metrics(const struct cli *g, int argc, char **argv);
int cli_canary(const struct cli *g, int argc, char **argv);

#endif
