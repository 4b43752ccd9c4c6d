/* client.h — what the client subcommands (incident, signal, silence, events) share.
 *
 * A command is a row of a table (struct client_cmd): method, path, and its options
 * (struct copt), each saying where its value goes — the path, the query string, the
 * JSON body, a header, or the command itself (TO_LOCAL). One engine parses argv
 * against the table plus the client options (--server, --token, --format, --help),
 * builds the request, sends it, reports errors and prints the reply: the body
 * unchanged with --format json, else through the command's printer. Commands whose
 * work is more than one request (signal --file, events --follow) take over with
 * their own run function.
 *
 * Exit codes are cli.h's: 0 success, 1 failure (HTTP error, server unreachable), 2
 * usage error. Errors go to stderr as "intervene: <message> (<code>, HTTP <status>)".
 * Single-threaded, like the rest of the command line. */
#ifndef INTERVENE_CLI_CLIENT_H
#define INTERVENE_CLI_CLIENT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "cli/cli.h"
#include "util/buf.h"
#include "util/http_client.h"

/* What an option's value is. */
enum copt_kind {
	COPT_STRING,	/* any string */
	COPT_CLEARABLE, /* a string; "-" is sent as "", which clears the field on every route
			* (JSON null would mean "no change" to the lifecycle verbs) */
	COPT_INT,	/* a positive decimal integer, sent as a string in queries */
	COPT_ID,	/* a resource id: 1..19 digits, no leading zero */
	COPT_OBJECT,	/* a JSON object (usage error when it is not one) */
	COPT_LIST,	/* repeatable: a body array of strings, or a repeated query parameter */
	COPT_FLAG,	/* takes no value: sends flag_value (or "1" for TO_LOCAL) */
	COPT_SINCE,	/* an RFC 3339 time, or a duration ("2h") meaning that long ago */
};

/* Where an option's value goes. */
enum copt_dest { TO_PATH, TO_QUERY, TO_BODY, TO_HEADER, TO_LOCAL };

enum {
	COPT_REQUIRED = 1, /* must be given (for a group: one of the group must be) */
};

struct copt {
	const char *name;  /* "--status"; a name without a leading '-' ("ID") is positional */
	const char *alias; /* "-q", or NULL */
	enum copt_kind kind;
	enum copt_dest dest;
	const char *key;	/* query parameter, body field or header name */
	const char *flag_value; /* COPT_FLAG: the value sent */
	unsigned flags;
	int group;	     /* options sharing a non-zero group exclude one another */
	const char *metavar; /* "S", "JSON", ... for the help text (NULL for flags) */
	const char *help;
};

/* Shorthands for the common rows: an option with no flags and no group. */
#define COPT_BODY(name, kind, key, metavar, help)                                                  \
	{                                                                                          \
		name, NULL, kind, TO_BODY, key, NULL, 0, 0, metavar, help                          \
	}
#define COPT_QUERY(name, kind, key, metavar, help)                                                 \
	{                                                                                          \
		name, NULL, kind, TO_QUERY, key, NULL, 0, 0, metavar, help                         \
	}

/* Rows shared by several tables. */
#define COPT_END                                                                                   \
	{                                                                                          \
		NULL, NULL, 0, 0, NULL, NULL, 0, 0, NULL, NULL                                     \
	}
#define COPT_PATH_ID(what)                                                                         \
	{                                                                                          \
		"ID", NULL, COPT_ID, TO_PATH, NULL, NULL, COPT_REQUIRED, 0, NULL, what             \
	}
#define COPT_PAGING                                                                                \
	COPT_QUERY("--page", COPT_INT, "page", "N", "page number, from 1"),                        \
		COPT_QUERY("--per-page", COPT_INT, "per_page", "N", "items per page")

#define CLIENT_MAX_OPTS	     24
#define CLIENT_MAX_PATH_ARGS 2
#define CLIENT_MAX_HEADERS   4

/* argv parsed against a command's table. */
struct client_args {
	json_t *body;	  /* TO_BODY values (an object, never NULL after parsing) */
	struct buf query; /* "" or "?k=v&..." percent-encoded */
	const char *path_args[CLIENT_MAX_PATH_ARGS];
	size_t n_path;
	struct http_header headers[CLIENT_MAX_HEADERS];
	size_t n_headers;
	const char *local[CLIENT_MAX_OPTS]; /* TO_LOCAL values by option index (NULL: absent) */
	bool given[CLIENT_MAX_OPTS];
};

/* A connected client command. */
struct client {
	const struct cli *g;
	char cmd[64];		  /* "incident list", for messages */
	const char *server;	  /* --server, or NULL */
	const char *token;	  /* --token, or NULL */
	bool json;		  /* --format json */
	struct http_client *http; /* owned; made by the engine before run/print */
	long long index_base;	  /* added to details.index in error reports (batches) */
};

struct client_cmd;

/* Text output of a successful reply (reply is the parsed body, never NULL). Returns
 * an exit code. */
typedef int (*client_print_fn)(struct client *c, const struct client_cmd *cmd, const json_t *reply);

/* The whole work of a command, for those that are not one request. Returns an exit
 * code. */
typedef int (*client_run_fn)(struct client *c, const struct client_cmd *cmd, struct client_args *a);

struct client_cmd {
	const char *name;	 /* "list"; for a group-less command, the command itself */
	const char *alias;	 /* another accepted name, or NULL */
	const char *method;	 /* "GET", "POST", "PATCH", "DELETE" */
	const char *path;	 /* "/api/incidents/{}/comments": each {} takes a TO_PATH value */
	const struct copt *opts; /* ends with an entry whose name is NULL */
	const char *summary;	 /* one line for the group's help */
	const char *desc;	 /* the paragraph of the command's help */
	client_print_fn print;
	client_run_fn run; /* NULL: send one request and print the reply */
	const void *data;  /* for print/run (e.g. the word a mutation prints) */
	bool needs_body;   /* refuse to send an empty body (nothing to change) */
};

/* Run a group of commands ("incident", "silence"): argv[0] is the group name, argv[1]
 * the subcommand. desc is the group's help paragraph. Returns an exit code. */
int client_group(const struct cli *g, const char *group, const char *desc,
		 const struct client_cmd *cmds, size_t n, int argc, char **argv);

/* Run a command without subcommands ("signal", "events"): argv[0] is its name. */
int client_single(const struct cli *g, const struct client_cmd *cmd, int argc, char **argv);

/* Send one request. On a 2xx reply returns EXIT_OK with resp holding the raw body and
 * *reply (may be NULL) its parsed JSON (a new reference; JSON null when the body is
 * empty). Otherwise prints the error (with --format json the error body also goes to
 * stdout) and returns EXIT_FAIL, or EXIT_USAGE when the request could not be formed
 * (a header with CR/LF). body may be NULL. */
int client_request(struct client *c, const char *method, const char *path, const char *body,
		   size_t body_len, const struct http_header *headers, size_t n_headers,
		   struct http_response *resp, json_t **reply);

/* The request a command's table describes, then its output: the body verbatim with
 * --format json, else cmd->print. Returns an exit code. */
int client_call(struct client *c, const struct client_cmd *cmd, struct client_args *a);

/* An error reply to a request of path, as every command prints it: with --format json
 * the body on stdout; on stderr "intervene: <message> (<code>, HTTP <status>)" and the
 * details, one per line (or the status and the start of a body that is not the API's). */
void client_report_error(const struct client *c, const char *path,
			 const struct http_response *resp);

/* cmd->path with each {} replaced by the next path argument (percent-encoded), then
 * the query a collected. */
void client_build_path(struct buf *out, const struct client_cmd *cmd, const struct client_args *a);

/* Read all of path ("-" = stdin) into b (appended); 0, or -1 with errno set. */
int client_read_all(const char *path, struct buf *b);

/* Print a usage error for c's command ("intervene <cmd>: <message>" and a pointer to
 * --help) and return EXIT_USAGE. */
int client_usage_error(const struct client *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Write a response body to stdout exactly as received, then a newline. */
void client_put_body(const struct http_response *resp);

/* Print the rows of an `incidents` array (lean incidents) as a table. */
void client_print_incidents(const json_t *items);

/* Print the rows of an `events` array (event log or timeline) as a table. */
void client_print_events(const json_t *events);

/* "(showing 51-100 of 230; next: --page 3)" under a paged list when more pages
 * follow; nothing otherwise. */
void client_print_more(const json_t *reply, size_t shown);

/* `intervene playbook list|offered|dry-run|approve|execute|rollback|cancel|history|show`
 * (client_playbook.c): argv[0] is "playbook". Returns an exit code. */
int cli_playbook(const struct cli *g, int argc, char **argv);

#endif
