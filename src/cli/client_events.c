/* client_events.c — `intervene events`: the event log, once or followed (SPEC §6, §12).
 *
 * --follow polls GET /api/events?after_id= every second (follow_poll). When the SSE
 * stream exists, a follow_sse with the same contract replaces it; the printing side
 * (emit_event) stays. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/client.h"
#include "cli/textout.h"
#include "util/json.h"

/* ---- one event as text ---- */

/* The data fields worth a glance, by event type; anything else prints as compact JSON. */
static const struct {
	const char *type;
	const char *paths[4];
} briefs[] = {
	{"incident_created", {"severity", "key", "summary", NULL}},
	{"incident_updated",
	 {"change_type", "incident.status", "incident.severity", "incident.occurrences"}},
	{"signal_suppressed", {"reason", "kind", "key", "silence_id"}},
	{"sla_breached", {"stage", "due_at", NULL, NULL}},
	{"silence_created", {"id", "matcher.kind", "matcher.key_glob", "reason"}},
	{"silence_ended", {"id", "matcher.kind", "matcher.key_glob", NULL}},
	{"token_created", {"name", "role", NULL, NULL}},
	{"token_revoked", {"name", "role", NULL, NULL}},
};

/* The value at a dotted path ("incident.status"), or NULL. */
static const json_t *dig(const json_t *v, const char *path)
{
	char key[64];
	while (v && *path) {
		size_t n = strcspn(path, ".");
		snprintf(key, sizeof key, "%.*s", (int)n, path);
		v = json_object_get(v, key);
		path += n + (path[n] == '.');
	}
	return v;
}

static void event_brief(struct buf *b, const json_t *ev)
{
	const char *type = json_get_str(ev, "type");
	const json_t *data = json_object_get(ev, "data");
	for (size_t i = 0; type && i < sizeof briefs / sizeof briefs[0]; i++) {
		if (strcmp(type, briefs[i].type))
			continue;
		for (size_t k = 0; k < 4 && briefs[i].paths[k]; k++) {
			const json_t *v = dig(data, briefs[i].paths[k]);
			if (!v || json_is_null(v))
				continue;
			const char *dot = strrchr(briefs[i].paths[k], '.');
			buf_printf(b, "%s%s=", b->len ? " " : "",
				   dot ? dot + 1 : briefs[i].paths[k]);
			text_scalar(b, v);
		}
		return;
	}
	if (data)
		text_scalar(b, data);
}

/* The six cells of an event row: ID TIME TYPE INCIDENT ACTOR DATA (cells[5] is malloc'd). */
static void event_cells(const json_t *ev, char id[24], char inc[24], const char *cells[6])
{
	struct buf data = BUF_INIT;
	event_brief(&data, ev);
	snprintf(id, 24, "%lld", (long long)json_get_int(ev, "id", 0));
	long long iid = json_get_int(ev, "incident_id", 0);
	if (iid)
		snprintf(inc, 24, "%lld", iid);
	else
		snprintf(inc, 24, "-");
	cells[0] = id;
	cells[1] = json_get_str(ev, "created_at");
	cells[2] = json_get_str(ev, "type");
	cells[3] = inc;
	cells[4] = json_get_str(ev, "actor");
	cells[5] = buf_steal(&data);
}

static const struct table_col event_cols[] = {{"ID", 0},       {"TIME", 0},   {"TYPE", 0},
					      {"INCIDENT", 0}, {"ACTOR", 24}, {"DATA", 100}};

static void event_row(struct table *t, const json_t *ev, int64_t now)
{
	(void)now;
	char id[24], inc[24];
	const char *cells[6];
	event_cells(ev, id, inc, cells);
	for (size_t k = 0; k < 6; k++)
		table_add(t, cells[k]);
	free((char *)cells[5]);
}

void client_print_events(const json_t *events)
{
	table_print_items(stdout, events, event_cols, sizeof event_cols / sizeof event_cols[0],
			  "events", event_row);
}

/* ---- following ---- */

struct emitter {
	bool json;
	bool header_done;
};

/* One followed event on stdout: a JSON line (the server's canonical form), or a row
 * of fixed-width columns (a streamed table cannot measure rows it has not seen). */
static void emit_event(struct emitter *em, const json_t *ev)
{
	if (em->json) {
		char *s = json_dumps(ev, JSON_CANON_FLAGS);
		printf("%s\n", s ? s : "null");
		free(s);
		return;
	}
	static const int widths[] = {8, 24, 18, 8, 16};
	if (!em->header_done) {
		for (size_t k = 0; k < 5; k++)
			printf("%-*s  ", widths[k], event_cols[k].head);
		printf("%s\n", event_cols[5].head);
		em->header_done = true;
	}
	char id[24], inc[24];
	const char *cells[6];
	event_cells(ev, id, inc, cells);
	struct buf line = BUF_INIT;
	for (size_t k = 0; k < 6; k++) {
		struct buf cell = BUF_INIT;
		text_safe(&cell, cells[k] ? cells[k] : "-", k == 5 ? event_cols[5].max : 0);
		if (k < 5)
			buf_printf(&line, "%-*s  ", widths[k], cell.data);
		else
			buf_puts(&line, cell.data);
		buf_free(&cell);
	}
	printf("%s\n", line.data);
	buf_free(&line);
	free((char *)cells[5]);
}

static volatile sig_atomic_t stop_requested;

static void on_stop(int sig)
{
	(void)sig;
	stop_requested = 1;
}

/* Sleep ms unless a stop is requested first. */
static void nap(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	while (!stop_requested && nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

/* Follow the log after after_id with the given extra query (filters, "" or "&k=v..."),
 * emitting every event in id order until SIGINT/SIGTERM. Polling: the page size is
 * limit; a full page is followed at once, otherwise after a second. Returns EXIT_OK
 * when stopped, EXIT_FAIL when a request fails. */
static int follow_poll(struct client *c, long long after_id, const char *filters, long long limit,
		       struct emitter *em)
{
	struct sigaction sa = {0}, old_int, old_term;
	sa.sa_handler = on_stop; /* no SA_RESTART: a sleep ends at once */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, &old_int);
	sigaction(SIGTERM, &sa, &old_term);
	http_client_cancel_on(c->http, &stop_requested);
	struct http_response resp = {0};
	struct buf path = BUF_INIT;
	int code = EXIT_OK;
	while (!stop_requested) {
		buf_reset(&path);
		buf_printf(&path, "/api/events?after_id=%lld&limit=%lld%s", after_id, limit,
			   filters);
		json_t *reply = NULL;
		code = client_request(c, "GET", path.data, NULL, 0, NULL, 0, &resp, &reply);
		if (code) {
			json_decref(reply);
			if (stop_requested)
				code = EXIT_OK;
			break;
		}
		const json_t *events = json_object_get(reply, "events");
		size_t i;
		const json_t *ev;
		json_array_foreach(events, i, ev)
		{
			emit_event(em, ev);
			after_id = json_get_int(ev, "id", after_id);
		}
		fflush(stdout);
		bool full = json_array_size(events) >= (size_t)limit;
		json_decref(reply);
		if (!full)
			nap(1000);
	}
	http_client_cancel_on(c->http, NULL);
	sigaction(SIGINT, &old_int, NULL);
	sigaction(SIGTERM, &old_term, NULL);
	http_response_clear(&resp);
	buf_free(&path);
	return code;
}

/* ---- the command ---- */

enum { OPT_AFTER, OPT_TYPES, OPT_INCIDENT, OPT_LIMIT, OPT_FOLLOW };

static const struct copt events_opts[] = {
	[OPT_AFTER] = {"--after-id", NULL, COPT_INT, TO_LOCAL, "after_id", NULL, 0, 0, "N",
		       "only events with a larger id (default 0: from the oldest kept)"},
	[OPT_TYPES] = COPT_QUERY("--types", COPT_LIST, "types", "T1,T2", "only these event types"),
	[OPT_INCIDENT] = COPT_QUERY("--incident-id", COPT_ID, "incident_id", "N",
				    "only this incident's events"),
	[OPT_LIMIT] = {"--limit", NULL, COPT_INT, TO_LOCAL, "limit", NULL, 0, 0, "N",
		       "events per request, 1..1000 (default 100)"},
	[OPT_FOLLOW] = {"--follow", "-f", COPT_FLAG, TO_LOCAL, NULL, NULL, 0, 0, NULL,
			"keep printing new events until interrupted (Ctrl-C)"},
	COPT_END,
};

static int print_events(struct client *c, const struct client_cmd *cmd, const json_t *reply)
{
	(void)c, (void)cmd;
	const json_t *events = json_object_get(reply, "events");
	client_print_events(events);
	long long total = json_get_int(reply, "total", 0);
	size_t n = json_array_size(events);
	if (n && (long long)n < total)
		printf("(%lld more; next: --after-id %lld)\n", total - (long long)n,
		       (long long)json_get_int(json_array_get(events, n - 1), "id", 0));
	return EXIT_OK;
}

static int events_run(struct client *c, const struct client_cmd *cmd, struct client_args *a)
{
	const char *after = a->local[OPT_AFTER], *limit = a->local[OPT_LIMIT];
	if (!a->local[OPT_FOLLOW]) {
		/* one page: the table's query plus the local options */
		struct buf q = BUF_INIT;
		buf_puts(&q, buf_cstr(&a->query));
		buf_printf(&q, "%cafter_id=%s", q.len ? '&' : '?', after ? after : "0");
		if (limit)
			buf_printf(&q, "&limit=%s", limit);
		buf_free(&a->query);
		a->query = q;
		return client_call(c, cmd, a);
	}
	const char *filters = buf_cstr(&a->query);
	struct buf f = BUF_INIT;
	if (*filters)
		buf_printf(&f, "&%s", filters + 1);
	struct emitter em = {.json = c->json};
	int code = follow_poll(c, after ? strtoll(after, NULL, 10) : 0, buf_cstr(&f),
			       limit ? strtoll(limit, NULL, 10) : 1000, &em);
	buf_free(&f);
	return code;
}

static const struct client_cmd events_cmd = {
	"events",
	NULL,
	"GET",
	"/api/events",
	events_opts,
	"print the event log",
	"Print the event log in id order: ID, TIME, TYPE, INCIDENT, ACTOR and the gist of\n"
	"the data. With --follow, keep printing new events (polling every second) until\n"
	"interrupted; with --format json each followed event is one JSON line.",
	print_events,
	events_run,
	NULL,
	false,
};

int cli_events(const struct cli *g, int argc, char **argv)
{
	return client_single(g, &events_cmd, argc, argv);
}
