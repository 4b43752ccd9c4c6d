/* client_events.c — `intervene events`: the event log, once or followed (SPEC §6, §12).
 *
 * Once: one page of GET /api/events, as a table. --follow reads the Server-Sent Events
 * stream GET /api/sse/events (follow_sse): frames are parsed as they arrive, each
 * event is printed once in id order, and a dropped connection is made again with
 * Last-Event-ID set to the last id seen, so nothing is missed or repeated. The stream
 * carries each event's id, type and data; the full envelope (actor, incident_id,
 * created_at, hashes) is GET /api/events's. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "cli/client.h"
#include "cli/textout.h"
#include "util/json.h"
#include "util/time.h"

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

/* The incident an event's data names, or 0. */
static long long data_incident(const char *type, const json_t *data)
{
	const json_t *v;
	if (!strcmp(type, "incident_created"))
		v = json_object_get(data, "id");
	else if (!strcmp(type, "incident_updated"))
		v = dig(data, "incident.id");
	else
		v = json_object_get(data, "incident_id");
	return json_is_integer(v) ? (long long)json_integer_value(v) : 0;
}

/* One followed event (ev: {id, type, data}) on stdout: a JSON line, or a row of
 * fixed-width columns (a streamed table cannot measure rows it has not seen) with
 * the time it was received. Returns -1 when stdout fails. */
static int emit_event(struct emitter *em, const json_t *ev)
{
	if (em->json) {
		char *s = json_dumps(ev, JSON_CANON_FLAGS);
		printf("%s\n", s ? s : "null");
		free(s);
		return fflush(stdout) ? -1 : 0;
	}
	static const struct table_col cols[] = {
		{"ID", 0}, {"RECEIVED", 0}, {"TYPE", 0}, {"INCIDENT", 0}, {"DATA", 100}};
	static const int widths[] = {8, 24, 18, 8};
	if (!em->header_done) {
		for (size_t k = 0; k < 4; k++)
			printf("%-*s  ", widths[k], cols[k].head);
		printf("%s\n", cols[4].head);
		em->header_done = true;
	}
	const char *type = json_get_str(ev, "type");
	char id[24], now[TIME_RFC3339_LEN], inc[24] = "-";
	snprintf(id, sizeof id, "%lld", (long long)json_get_int(ev, "id", 0));
	time_format_ms(time_now_ms(), now);
	long long iid = data_incident(type, json_object_get(ev, "data"));
	if (iid)
		snprintf(inc, sizeof inc, "%lld", iid);
	struct buf brief = BUF_INIT, line = BUF_INIT;
	event_brief(&brief, ev);
	const char *cells[5] = {id, now, type, inc, brief.data};
	for (size_t k = 0; k < 5; k++) {
		struct buf cell = BUF_INIT;
		text_safe(&cell, cells[k] ? cells[k] : "-", cols[k].max);
		if (k < 4)
			buf_printf(&line, "%-*s  ", widths[k], buf_cstr(&cell));
		else
			buf_puts(&line, buf_cstr(&cell));
		buf_free(&cell);
	}
	printf("%s\n", line.data);
	buf_free(&line);
	buf_free(&brief);
	return fflush(stdout) ? -1 : 0;
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

/* Reconnection delays: doubled after each failed attempt, back to the first after a
 * connection that got as far as `connected`. */
#define BACKOFF_MIN_MS 500L
#define BACKOFF_MAX_MS 10000L

/* The longest line or frame accepted from the stream. */
#define FRAME_MAX HTTP_CLIENT_MAX_RESPONSE

/* A followed stream: the frame being read and where the stream stands. */
struct follow {
	struct client *c;
	struct emitter *em;
	const struct http_response *resp; /* of the connection in progress */
	/* the frame being read (SSE: `field: value` lines, a blank line ends it) */
	struct buf line, event, data, id;
	bool has_data, has_id;
	bool after_cr; /* the last byte was CR: an LF next ends no second line */
	bool checked;  /* the connection's Content-Type was looked at */
	/* the stream */
	bool have_cursor;
	long long cursor;	/* the last event printed, or the id the stream went live after */
	long long asked;	/* the Last-Event-ID this connection sent */
	long long connected_id; /* `connected`'s last_event_id on this connection, -1 before */
	bool connected;		/* this connection got as far as `connected` */
	bool fatal;		/* stop for good, exit 1 (the message is printed) */
};

static void frame_clear(struct follow *f)
{
	buf_reset(&f->event);
	buf_reset(&f->data);
	buf_reset(&f->id);
	f->has_data = f->has_id = false;
}

/* An event frame: printed once, in id order. */
static void on_event(struct follow *f, const char *type)
{
	char *end = NULL;
	errno = 0;
	long long id = strtoll(buf_cstr(&f->id), &end, 10);
	if (!f->id.len || *end || errno || id <= 0 || memchr(f->id.data, '\0', f->id.len)) {
		fprintf(stderr, "intervene: ignored an event whose id is not a number\n");
		return;
	}
	if (f->have_cursor && id <= f->cursor)
		return; /* printed already */
	f->have_cursor = true;
	f->cursor = id;
	struct err e;
	err_clear(&e);
	json_t *data = json_parse_strict(buf_cstr(&f->data), f->data.len, &e);
	json_t *t = json_string(type);
	if (!data || !t) {
		fprintf(stderr, "intervene: event %lld: its %s is not valid; skipped\n", id,
			data ? "type" : "data");
		json_decref(data);
		json_decref(t);
		return;
	}
	json_t *ev = json_object();
	json_object_set_new(ev, "id", json_integer(id));
	json_object_set_new(ev, "type", t);
	json_object_set_new(ev, "data", data);
	if (emit_event(f->em, ev)) {
		if (errno != EPIPE)
			fprintf(stderr, "intervene: cannot write to stdout: %s\n", strerror(errno));
		f->fatal = true;
	}
	json_decref(ev);
}

/* A whole frame. Frames without an id: connected, heartbeat, reset. */
static void dispatch(struct follow *f)
{
	const char *type = f->event.len ? buf_cstr(&f->event) : "message";
	if (!f->has_data) {
		/* nothing to deliver (SSE ignores such frames) */
	} else if (f->has_id) {
		on_event(f, type);
	} else if (!strcmp(type, "connected")) {
		json_t *d = json_parse_strict(buf_cstr(&f->data), f->data.len, NULL);
		const json_t *last = json_object_get(d, "last_event_id");
		f->connected = true;
		if (json_is_integer(last)) {
			f->connected_id = (long long)json_integer_value(last);
			if (!f->have_cursor) {
				/* live from here: a reconnection resumes after this id */
				f->have_cursor = true;
				f->cursor = f->connected_id;
			}
		}
		json_decref(d);
	} else if (!strcmp(type, "reset")) {
		fprintf(stderr,
			"intervene: the stream reset: events after %lld are no longer in the log; "
			"continuing with new events\n",
			f->asked);
		/* the server went live from the id it announced */
		if (f->connected_id >= 0) {
			f->have_cursor = true;
			f->cursor = f->connected_id;
		}
	}
	frame_clear(f);
}

/* One line of the stream (f->line, without its end). */
static void stream_line(struct follow *f)
{
	const char *l = buf_cstr(&f->line);
	size_t n = f->line.len;
	if (!n) {
		dispatch(f);
		return;
	}
	if (l[0] == ':')
		return; /* a comment */
	const char *colon = memchr(l, ':', n);
	size_t fl = colon ? (size_t)(colon - l) : n;
	const char *v = colon ? colon + 1 : l + n;
	if (*v == ' ')
		v++;
	size_t vl = n - (size_t)(v - l);
	if (fl == 5 && !memcmp(l, "event", 5)) {
		buf_reset(&f->event);
		buf_append(&f->event, v, vl);
	} else if (fl == 4 && !memcmp(l, "data", 4)) {
		if (f->has_data)
			buf_putc(&f->data, '\n');
		buf_append(&f->data, v, vl);
		f->has_data = true;
	} else if (fl == 2 && !memcmp(l, "id", 2)) {
		buf_reset(&f->id);
		buf_append(&f->id, v, vl);
		f->has_id = true;
	}
	/* retry and unknown fields: nothing to do */
}

/* http_stream_fn: split the bytes into lines (LF, CRLF or CR). */
static int on_stream_data(void *arg, const char *p, size_t n)
{
	struct follow *f = arg;
	if (!f->checked) {
		f->checked = true;
		if (strncasecmp(f->resp->content_type, "text/event-stream", 17)) {
			struct buf ct = BUF_INIT;
			text_safe(&ct, f->resp->content_type, 60);
			fprintf(stderr,
				"intervene: the server at %s answered with Content-Type '%s', not an "
				"event stream\n",
				http_client_base(f->c->http), ct.data);
			buf_free(&ct);
			f->fatal = true;
			return 1;
		}
	}
	for (size_t i = 0; i < n && !f->fatal; i++) {
		char ch = p[i];
		if (ch == '\n' && f->after_cr) {
			f->after_cr = false;
			continue;
		}
		f->after_cr = ch == '\r';
		if (ch == '\n' || ch == '\r') {
			stream_line(f);
			buf_reset(&f->line);
			continue;
		}
		if (f->line.len + f->data.len >= FRAME_MAX) {
			fprintf(stderr, "intervene: the event stream sent a frame over %zu bytes\n",
				(size_t)FRAME_MAX);
			f->fatal = true;
			break;
		}
		buf_putc(&f->line, ch);
	}
	return f->fatal || stop_requested;
}

/* A refusal that asking again will not change (a bad token, filter or path); 408,
 * 429 and 5xx are worth another try. */
static bool final_status(long status)
{
	return status >= 400 && status <= 499 && status != 408 && status != 429;
}

/* Follow GET /api/sse/events<query> (query: "" or "?types=...&incident_id=..."),
 * printing every event once, in id order, until SIGINT/SIGTERM. With resume, start
 * after event after_id (Last-Event-ID), else with the events from now on. A connection
 * that drops is made again with Last-Event-ID set to the last event seen; only the
 * first connection's failure to reach the server, an HTTP 4xx refusal, or a stream
 * that cannot be read ends it. Returns EXIT_OK when stopped by a signal, else
 * EXIT_FAIL (the reason printed). */
static int follow_sse(struct client *c, long long after_id, bool resume, const char *query,
		      struct emitter *em)
{
	struct sigaction sa = {0}, old_int, old_term;
	sa.sa_handler = on_stop; /* no SA_RESTART: a sleep ends at once */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, &old_int);
	sigaction(SIGTERM, &sa, &old_term);
	http_client_cancel_on(c->http, &stop_requested);
	struct http_response resp = {0};
	struct follow f = {.c = c,
			   .em = em,
			   .resp = &resp,
			   .line = BUF_INIT,
			   .event = BUF_INIT,
			   .data = BUF_INIT,
			   .id = BUF_INIT,
			   .have_cursor = resume,
			   .cursor = after_id};
	struct buf path = BUF_INIT, why = BUF_INIT;
	buf_printf(&path, "/api/sse/events%s", query);
	long backoff = BACKOFF_MIN_MS;
	bool ever_connected = false;
	int code = EXIT_OK;
	while (!stop_requested) {
		struct http_header h[2] = {{"Accept", "text/event-stream"}};
		char last[24];
		size_t nh = 1;
		if (f.have_cursor) {
			snprintf(last, sizeof last, "%lld", f.cursor);
			h[nh++] = (struct http_header){"Last-Event-ID", last};
		}
		frame_clear(&f);
		buf_reset(&f.line);
		f.after_cr = f.checked = f.connected = false;
		f.connected_id = -1;
		f.asked = f.cursor;
		struct err e;
		err_clear(&e);
		int rc = http_client_stream(c->http, path.data, h, nh, on_stream_data, &f, &resp,
					    &e);
		if (stop_requested)
			break;
		if (f.fatal) {
			code = EXIT_FAIL;
			break;
		}
		if (f.connected) {
			ever_connected = true;
			backoff = BACKOFF_MIN_MS;
		}
		buf_reset(&why);
		if (rc == ERR_UPSTREAM && (ever_connected || resp.status)) {
			text_safe(&why, e.msg, 0);
		} else if (rc) {
			/* the server is not there at all, or the request cannot be made */
			text_safe(&why, e.msg, 0);
			fprintf(stderr, "intervene: %s\n", why.data);
			code = rc == ERR_INVALID ? EXIT_USAGE : EXIT_FAIL;
			break;
		} else if (resp.status < 200 || resp.status > 299) {
			if (final_status(resp.status)) {
				client_report_error(c, path.data, &resp);
				code = EXIT_FAIL;
				break;
			}
			buf_printf(&why, "the server answered HTTP %ld", resp.status);
		} else {
			buf_puts(&why, "the server ended the event stream");
		}
		if (f.have_cursor)
			fprintf(stderr,
				"intervene: %s; reconnecting in %.1f s (after event %lld)\n",
				why.data, (double)backoff / 1000, f.cursor);
		else
			fprintf(stderr, "intervene: %s; reconnecting in %.1f s\n", why.data,
				(double)backoff / 1000);
		nap(backoff);
		backoff = backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2;
	}
	http_client_cancel_on(c->http, NULL);
	sigaction(SIGINT, &old_int, NULL);
	sigaction(SIGTERM, &old_term, NULL);
	http_response_clear(&resp);
	buf_free(&f.line);
	buf_free(&f.event);
	buf_free(&f.data);
	buf_free(&f.id);
	buf_free(&path);
	buf_free(&why);
	return code;
}

/* ---- the command ---- */

enum { OPT_AFTER, OPT_TYPES, OPT_INCIDENT, OPT_LIMIT, OPT_FOLLOW };

static const struct copt events_opts[] = {
	[OPT_AFTER] = {"--after-id", NULL, COPT_INT, TO_LOCAL, "after_id", NULL, 0, 0, "N",
		       "only events with a larger id (default: the oldest kept; --follow: "
		       "from now on)"},
	[OPT_TYPES] = COPT_QUERY("--types", COPT_LIST, "types", "T1,T2", "only these event types"),
	[OPT_INCIDENT] = COPT_QUERY("--incident-id", COPT_ID, "incident_id", "N",
				    "only this incident's events"),
	[OPT_LIMIT] = {"--limit", NULL, COPT_INT, TO_LOCAL, "limit", NULL, 0, 0, "N",
		       "events per request, 1..1000 (default 100; not used by --follow)"},
	[OPT_FOLLOW] = {"--follow", "-f", COPT_FLAG, TO_LOCAL, NULL, NULL, 0, 0, NULL,
			"follow the event stream until interrupted (Ctrl-C)"},
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
	struct emitter em = {.json = c->json};
	return follow_sse(c, after ? strtoll(after, NULL, 10) : 0, after != NULL,
			  buf_cstr(&a->query), &em);
}

static const struct client_cmd events_cmd = {
	"events",
	NULL,
	"GET",
	"/api/events",
	events_opts,
	"print the event log",
	"Print the event log in id order: ID, TIME, TYPE, INCIDENT, ACTOR and the gist of\n"
	"the data. With --follow, follow the server's event stream (/api/sse/events) and\n"
	"print each event as it happens (ID, RECEIVED, TYPE, INCIDENT, DATA), from now on or\n"
	"after --after-id, until interrupted; a dropped connection is resumed from the last\n"
	"id printed, so no event is missed or repeated. With --format json each followed\n"
	"event is one JSON line {\"id\",\"type\",\"data\"} (the stream carries the event's\n"
	"data; actor, incident_id and created_at are in the event log).",
	print_events,
	events_run,
	NULL,
	false,
};

int cli_events(const struct cli *g, int argc, char **argv)
{
	return client_single(g, &events_cmd, argc, argv);
}
