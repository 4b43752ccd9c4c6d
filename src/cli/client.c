/* client.c — the engine of the client commands: option tables, requests, errors. */
#include "cli/client.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "cli/textout.h"
#include "config/config.h"
#include "util/json.h"
#include "util/time.h"

/* ---- help ---- */

static const char client_opts_help[] =
	"client options:\n"
	"  --server URL     the server (default: http:// + server.listen of the configuration)\n"
	"  --token TOKEN    API token (default: $INTERVENE_TOKEN; not needed with auth.mode none)\n"
	"  --format FORMAT  text (default) or json: the API's response body, unchanged\n"
	"  --help           this text\n";

static bool positional(const struct copt *o)
{
	return o->name[0] != '-';
}

/* "--summary S" / "ID" / "[--all]" as it appears in a usage line. */
static void usage_line(struct buf *b, const char *prog_cmd, const struct client_cmd *cmd)
{
	buf_printf(b, "usage: intervene %s", prog_cmd);
	for (const struct copt *o = cmd->opts; o->name; o++)
		if (positional(o))
			buf_printf(b, " %s", o->name);
	for (const struct copt *o = cmd->opts; o->name; o++) {
		if (positional(o) || !(o->flags & COPT_REQUIRED))
			continue;
		bool first = true, later = false;
		for (const struct copt *p = cmd->opts; p->name; p++)
			if (o->group && p->group == o->group && p != o &&
			    (p->flags & COPT_REQUIRED))
				(p < o ? (first = false) : (later = true));
		if (!first)
			continue;
		buf_printf(b, " %s%s %s", later ? "(" : "", o->name, o->metavar ? o->metavar : "");
		for (const struct copt *p = o + 1; later && p->name; p++)
			if (p->group == o->group && (p->flags & COPT_REQUIRED))
				buf_printf(b, " | %s %s", p->name, p->metavar ? p->metavar : "");
		if (later)
			buf_putc(b, ')');
	}
	buf_puts(b, " [OPTIONS]\n");
}

static void cmd_help(FILE *f, const char *prog_cmd, const struct client_cmd *cmd)
{
	struct buf b = BUF_INIT;
	usage_line(&b, prog_cmd, cmd);
	buf_printf(&b, "\n%s\n", cmd->desc);
	bool any = false;
	for (const struct copt *o = cmd->opts; o->name; o++) {
		if (!any)
			buf_puts(&b, "\noptions:\n");
		any = true;
		struct buf left = BUF_INIT;
		if (o->alias)
			buf_printf(&left, "%s, ", o->alias);
		buf_printf(&left, "%s%s%s", o->name, o->metavar && !positional(o) ? " " : "",
			   o->metavar && !positional(o) ? o->metavar : "");
		buf_printf(&b, "  %-22s %s%s%s\n", buf_cstr(&left), o->help,
			   o->kind == COPT_LIST ? " (repeatable)" : "",
			   (o->flags & COPT_REQUIRED) && !positional(o) && !o->group ? " (required)"
										     : "");
		buf_free(&left);
	}
	buf_printf(&b, "\n%s", client_opts_help);
	fputs(buf_cstr(&b), f);
	buf_free(&b);
}

static void group_help(FILE *f, const char *group, const char *desc, const struct client_cmd *cmds,
		       size_t n)
{
	fprintf(f, "usage: intervene %s COMMAND [ARGS] [OPTIONS]\n\n%s\n\ncommands:\n", group,
		desc);
	for (size_t i = 0; i < n; i++) {
		struct buf left = BUF_INIT;
		buf_puts(&left, cmds[i].name);
		for (const struct copt *o = cmds[i].opts; o->name; o++)
			if (positional(o))
				buf_printf(&left, " %s", o->name);
		fprintf(f, "  %-20s %s\n", buf_cstr(&left), cmds[i].summary);
		buf_free(&left);
	}
	fprintf(f, "\nRun 'intervene %s COMMAND --help' for a command's options.\n\n%s", group,
		client_opts_help);
}

int client_usage_error(const struct client *c, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "intervene %s: ", c->cmd);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n(see 'intervene %s --help')\n", c->cmd);
	return EXIT_USAGE;
}

/* ---- parsing ---- */

/* A JSON object from text for option `what`; NULL with a usage message printed when it
 * is not valid JSON (duplicate keys included) or not an object. New reference. */
static json_t *parse_object(const struct client *c, const char *what, const char *text)
{
	json_error_t je;
	json_t *v = json_loads(text, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &je);
	if (!v) {
		client_usage_error(c, "%s is not valid JSON: %s (line %d, column %d)", what,
				   je.text, je.line, je.column);
		return NULL;
	}
	if (!json_is_object(v)) {
		json_decref(v);
		client_usage_error(c, "%s must be a JSON object", what);
		return NULL;
	}
	return v;
}

static bool valid_int(const char *s, bool id)
{
	size_t n = strlen(s);
	if (n == 0 || n > 19 || (id && s[0] == '0'))
		return false;
	for (size_t i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	errno = 0;
	long long v = strtoll(s, NULL, 10);
	return !errno && v >= (id ? 1 : 0);
}

static void query_add(struct buf *q, const char *key, const char *value)
{
	buf_putc(q, q->len ? '&' : '?');
	http_query_escape(q, key);
	buf_putc(q, '=');
	http_query_escape(q, value);
}

/* The JSON value an option sends, or NULL after printing a usage error. *time_buf
 * receives a converted --since. */
static json_t *option_value(const struct client *c, const struct copt *o, const char *v,
			    char time_buf[TIME_RFC3339_LEN])
{
	switch (o->kind) {
	case COPT_INT:
	case COPT_ID:
		if (!valid_int(v, o->kind == COPT_ID)) {
			client_usage_error(c, "%s must be a %s integer (got '%s')", o->name,
					   o->kind == COPT_ID ? "positive" : "non-negative", v);
			return NULL;
		}
		return o->dest == TO_BODY ? json_integer(strtoll(v, NULL, 10)) : json_string(v);
	case COPT_OBJECT: return parse_object(c, o->name, v);
	case COPT_CLEARABLE:
		if (!strcmp(v, "-"))
			return json_string("");
		break;
	case COPT_FLAG: return json_string(o->flag_value ? o->flag_value : "1");
	case COPT_SINCE: {
		int64_t ms, d;
		if (time_parse_ms(v, &ms))
			return json_string(v);
		if ((d = config_parse_duration(v)) <= 0) {
			client_usage_error(
				c, "%s must be an RFC 3339 time or a duration like 2h (got '%s')",
				o->name, v);
			return NULL;
		}
		time_format_ms(time_now_ms() - d, time_buf);
		return json_string(time_buf);
	}
	case COPT_STRING:
	case COPT_LIST: break;
	}
	json_t *s = json_string(v);
	if (!s)
		client_usage_error(c, "%s is not valid UTF-8", o->name);
	return s;
}

/* Put option o's value v where it goes. */
static int apply(const struct client *c, const struct client_cmd *cmd, size_t idx, const char *v,
		 struct client_args *a)
{
	const struct copt *o = &cmd->opts[idx];
	if (a->given[idx] && o->kind != COPT_LIST)
		return client_usage_error(c, "%s is given twice", o->name);
	for (const struct copt *p = cmd->opts; o->group && p->name; p++)
		if (p != o && p->group == o->group && a->given[p - cmd->opts])
			return client_usage_error(c, "give either %s or %s, not both", p->name,
						  o->name);
	a->given[idx] = true;
	char tbuf[TIME_RFC3339_LEN];
	json_t *j = option_value(c, o, v, tbuf);
	if (!j)
		return EXIT_USAGE;
	switch (o->dest) {
	case TO_PATH:
		if (a->n_path == CLIENT_MAX_PATH_ARGS)
			abort(); /* a table with more {} than CLIENT_MAX_PATH_ARGS */
		a->path_args[a->n_path++] = v;
		break;
	case TO_QUERY:
		query_add(&a->query, o->key, json_is_string(j) ? json_string_value(j) : v);
		break;
	case TO_BODY:
		if (o->kind == COPT_LIST) {
			json_t *arr = json_object_get(a->body, o->key);
			if (!arr)
				json_object_set_new(a->body, o->key, arr = json_array());
			json_array_append(arr, j);
		} else {
			json_object_set(a->body, o->key, j);
		}
		break;
	case TO_HEADER:
		if (a->n_headers == CLIENT_MAX_HEADERS)
			abort();
		a->headers[a->n_headers++] = (struct http_header){o->key, v};
		break;
	case TO_LOCAL: a->local[idx] = o->kind == COPT_FLAG ? "1" : v; break;
	}
	json_decref(j);
	return EXIT_OK;
}

static const struct copt *find_opt(const struct client_cmd *cmd, const char *name, size_t len)
{
	for (const struct copt *o = cmd->opts; o->name; o++) {
		if (positional(o))
			continue;
		if ((strlen(o->name) == len && !strncmp(o->name, name, len)) ||
		    (o->alias && strlen(o->alias) == len && !strncmp(o->alias, name, len)))
			return o;
	}
	return NULL;
}

static bool is_common(const char *name, size_t len)
{
	static const char *const names[] = {"--server", "--token", "--format", NULL};
	for (const char *const *n = names; *n; n++)
		if (strlen(*n) == len && !strncmp(*n, name, len))
			return true;
	return false;
}

/* Take the value of one of the client options every command takes. */
static int common_option(struct client *c, const char *name, const char *v)
{
	if (!strncmp(name, "--server", 8))
		c->server = v;
	else if (!strncmp(name, "--token", 7))
		c->token = v;
	else if (strcmp(v, "json") && strcmp(v, "text"))
		return client_usage_error(c, "--format must be text or json (got '%s')", v);
	else
		c->json = !strcmp(v, "json");
	return EXIT_OK;
}

static int parse(struct client *c, const struct client_cmd *cmd, int argc, char **argv,
		 struct client_args *a)
{
	size_t n_opts = 0, next_pos = 0;
	while (cmd->opts[n_opts].name)
		n_opts++;
	if (n_opts > CLIENT_MAX_OPTS)
		abort(); /* a table longer than CLIENT_MAX_OPTS */
	bool options_end = false;
	int code = EXIT_OK;
	for (int i = 1; i < argc && !code; i++) {
		const char *arg = argv[i];
		if (!options_end && !strcmp(arg, "--")) {
			options_end = true;
			continue;
		}
		if (options_end || arg[0] != '-' || !arg[1]) {
			while (next_pos < n_opts && !positional(&cmd->opts[next_pos]))
				next_pos++;
			if (next_pos == n_opts)
				return client_usage_error(c, "unexpected argument '%s'", arg);
			code = apply(c, cmd, next_pos++, arg, a);
			continue;
		}
		const char *eq = strchr(arg, '=');
		size_t len = eq && arg[1] == '-' ? (size_t)(eq - arg) : strlen(arg);
		const struct copt *o = find_opt(cmd, arg, len);
		bool common = !o && is_common(arg, len);
		if (!o && !common)
			return client_usage_error(c, "unknown option '%.*s'", (int)len, arg);
		const char *v = NULL;
		if (o && o->kind == COPT_FLAG) {
			if (len < strlen(arg))
				return client_usage_error(c, "%s takes no value", o->name);
		} else if (len < strlen(arg)) {
			v = arg + len + 1;
		} else if (i + 1 < argc) {
			v = argv[++i];
		} else {
			return client_usage_error(c, "%.*s needs a value", (int)len, arg);
		}
		if (common) {
			code = common_option(c, arg, v);
			continue;
		}
		code = apply(c, cmd, (size_t)(o - cmd->opts), v, a);
	}
	for (size_t i = 0; i < n_opts && !code; i++) {
		const struct copt *o = &cmd->opts[i];
		if (!(o->flags & COPT_REQUIRED) || a->given[i])
			continue;
		const struct copt *alt = NULL;
		bool done = false;
		for (size_t j = 0; j < n_opts && o->group; j++) {
			const struct copt *p = &cmd->opts[j];
			done = done || (p->group == o->group && a->given[j]);
			if (p != o && p->group == o->group && (p->flags & COPT_REQUIRED) && !alt)
				alt = p;
		}
		if (done)
			continue;
		if (positional(o))
			return client_usage_error(c, "missing %s", o->name);
		if (alt)
			return client_usage_error(c, "give %s or %s", o->name, alt->name);
		return client_usage_error(c, "%s is required", o->name);
	}
	return code;
}

/* ---- connecting ---- */

/* "http://" + server.listen, with a wildcard host replaced by loopback. */
static char *default_server(const struct cli *g)
{
	struct config *cfg = cli_load_config(g);
	if (!cfg)
		return NULL;
	const char *l = cfg->server.listen;
	struct buf b = BUF_INIT;
	if (!strncmp(l, "0.0.0.0:", 8))
		buf_printf(&b, "http://127.0.0.1%s", l + 7);
	else if (!strncmp(l, "[::]:", 5))
		buf_printf(&b, "http://[::1]%s", l + 4);
	else
		buf_printf(&b, "http://%s", l);
	config_free(cfg);
	return buf_steal(&b);
}

static int connect_client(struct client *c)
{
	struct err e;
	err_clear(&e);
	char *base = c->server ? xstrdup(c->server) : default_server(c->g);
	if (!base)
		return EXIT_FAIL;
	int rc = http_client_new(base, &c->http, &e);
	free(base);
	if (rc)
		return client_usage_error(c, "--server: %s", e.msg);
	const char *token = c->token ? c->token : getenv("INTERVENE_TOKEN");
	if (token && *token) {
		struct buf h = BUF_INIT;
		buf_printf(&h, "Bearer %s", token);
		rc = http_client_add_header(c->http, "Authorization", h.data, &e);
		buf_free(&h);
		if (rc)
			return client_usage_error(c, "the token must not contain CR or LF");
	}
	return EXIT_OK;
}

/* ---- requests ---- */

void client_put_body(const struct http_response *resp)
{
	fwrite(resp->body.data ? resp->body.data : "", 1, resp->body.len, stdout);
	if (!resp->body.len || resp->body.data[resp->body.len - 1] != '\n')
		putchar('\n');
}

/* "intervene: <message> (<code>, HTTP <status>)" and the details, one per line. */
static void report_http_error(const struct client *c, const char *path,
			      const struct http_response *resp, const json_t *body)
{
	const json_t *err = json_object_get(body, "error");
	const char *code = json_get_str(err, "code"), *msg = json_get_str(err, "message");
	struct buf b = BUF_INIT;
	if (code && msg) {
		buf_puts(&b, "intervene: ");
		text_safe(&b, msg, 0);
		buf_puts(&b, " (");
		text_safe(&b, code, 0);
		buf_printf(&b, ", HTTP %ld)\n", resp->status);
		const char *k;
		const json_t *v;
		json_object_foreach((json_t *)json_object_get(err, "details"), k, v)
		{
			struct buf val = BUF_INIT;
			text_scalar(&val, v);
			if (!strcmp(k, "index") && json_is_integer(v) && c->index_base) {
				buf_reset(&val);
				buf_printf(&val, "%lld",
					   (long long)(json_integer_value(v) + c->index_base));
			}
			buf_puts(&b, "  ");
			text_safe(&b, k, 0);
			buf_puts(&b, ": ");
			text_safe(&b, val.data, 200);
			buf_putc(&b, '\n');
			buf_free(&val);
		}
		if (resp->status == 401 && !c->token && !getenv("INTERVENE_TOKEN"))
			buf_puts(&b, "  (no token given: use --token or set INTERVENE_TOKEN)\n");
	} else {
		buf_printf(&b, "intervene: HTTP %ld from %s%s", resp->status,
			   http_client_base(c->http), path);
		if (resp->body.len) {
			buf_puts(&b, ": ");
			text_safe(&b, resp->body.data, 200);
		}
		buf_putc(&b, '\n');
	}
	fputs(b.data, stderr);
	buf_free(&b);
}

void client_report_error(const struct client *c, const char *path, const struct http_response *resp)
{
	json_t *body = resp->body.len
			       ? json_loadb(resp->body.data, resp->body.len, JSON_DECODE_ANY, NULL)
			       : NULL;
	if (c->json && resp->body.len)
		client_put_body(resp);
	report_http_error(c, path, resp, body);
	json_decref(body);
}

int client_request(struct client *c, const char *method, const char *path, const char *body,
		   size_t body_len, const struct http_header *headers, size_t n_headers,
		   struct http_response *resp, json_t **reply)
{
	struct err e;
	err_clear(&e);
	if (reply)
		*reply = NULL;
	int rc = http_client_request(c->http, method, path, body, body_len, headers, n_headers,
				     resp, &e);
	if (rc) {
		struct buf m = BUF_INIT;
		text_safe(&m, e.msg, 0);
		if (rc != ERR_IO) /* ERR_IO: interrupted on purpose, nothing to report */
			fprintf(stderr, "intervene: %s\n", m.data);
		buf_free(&m);
		return rc == ERR_INVALID ? EXIT_USAGE : EXIT_FAIL;
	}
	json_t *j = resp->body.len
			    ? json_loadb(resp->body.data, resp->body.len, JSON_DECODE_ANY, NULL)
			    : json_null();
	if (resp->status < 200 || resp->status > 299) {
		json_decref(j);
		client_report_error(c, path, resp);
		return EXIT_FAIL;
	}
	if (!j && !c->json) {
		fprintf(stderr,
			"intervene: the server at %s answered HTTP %ld with a body that is not JSON\n",
			http_client_base(c->http), resp->status);
		return EXIT_FAIL;
	}
	if (reply)
		*reply = j;
	else
		json_decref(j);
	return EXIT_OK;
}

void client_build_path(struct buf *out, const struct client_cmd *cmd, const struct client_args *a)
{
	size_t k = 0;
	for (const char *p = cmd->path; *p; p++) {
		if (p[0] == '{' && p[1] == '}' && k < a->n_path) {
			http_query_escape(out, a->path_args[k++]);
			p++;
		} else {
			buf_putc(out, *p);
		}
	}
	buf_puts(out, buf_cstr(&a->query));
}

int client_call(struct client *c, const struct client_cmd *cmd, struct client_args *a)
{
	struct buf path = BUF_INIT;
	struct http_response resp = {0};
	json_t *reply = NULL;
	char *body = NULL;
	int code;
	if (cmd->needs_body && !json_object_size(a->body)) {
		code = client_usage_error(c, "nothing to change: give at least one option");
		goto out;
	}
	if (strcmp(cmd->method, "GET") && strcmp(cmd->method, "DELETE"))
		body = json_dumps(a->body, JSON_COMPACT | JSON_SORT_KEYS | JSON_REAL_PRECISION(15));
	client_build_path(&path, cmd, a);
	code = client_request(c, cmd->method, path.data, body, body ? strlen(body) : 0, a->headers,
			      a->n_headers, &resp, &reply);
	if (code)
		goto out;
	if (c->json)
		client_put_body(&resp);
	else if (cmd->print)
		code = cmd->print(c, cmd, reply);
out:
	json_decref(reply);
	free(body);
	http_response_clear(&resp);
	buf_free(&path);
	return code;
}

void client_print_more(const json_t *reply, size_t shown)
{
	long long total = json_get_int(reply, "total", 0), page = json_get_int(reply, "page", 1),
		  per = json_get_int(reply, "per_page", 0);
	long long first = (page - 1) * per;
	if (shown && first + (long long)shown < total)
		printf("(showing %lld-%lld of %lld; next: --page %lld)\n", first + 1,
		       first + (long long)shown, total, page + 1);
}

/* ---- running ---- */

static int run_cmd(const struct cli *g, const struct client_cmd *cmd, const char *full, int argc,
		   char **argv)
{
	struct client c = {.g = g};
	snprintf(c.cmd, sizeof c.cmd, "%s", full);
	if (cli_wants_help(argc, argv, "")) {
		cmd_help(stdout, full, cmd);
		return EXIT_OK;
	}
	struct client_args a = {.body = json_object(), .query = BUF_INIT};
	int code = parse(&c, cmd, argc, argv, &a);
	if (!code)
		code = connect_client(&c);
	if (!code)
		code = cmd->run ? cmd->run(&c, cmd, &a) : client_call(&c, cmd, &a);
	fflush(stdout);
	http_client_free(c.http);
	json_decref(a.body);
	buf_free(&a.query);
	return code;
}

int client_group(const struct cli *g, const char *group, const char *desc,
		 const struct client_cmd *cmds, size_t n, int argc, char **argv)
{
	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") ||
	    !strcmp(argv[1], "help")) {
		group_help(argc < 2 ? stderr : stdout, group, desc, cmds, n);
		return argc < 2 ? EXIT_USAGE : EXIT_OK;
	}
	for (size_t i = 0; i < n; i++) {
		if (strcmp(argv[1], cmds[i].name) &&
		    (!cmds[i].alias || strcmp(argv[1], cmds[i].alias)))
			continue;
		char full[64];
		snprintf(full, sizeof full, "%s %s", group, cmds[i].name);
		return run_cmd(g, &cmds[i], full, argc - 1, argv + 1);
	}
	fprintf(stderr, "intervene %s: unknown command '%s' (see 'intervene %s --help')\n", group,
		argv[1], group);
	return EXIT_USAGE;
}

int client_single(const struct cli *g, const struct client_cmd *cmd, int argc, char **argv)
{
	return run_cmd(g, cmd, cmd->name, argc, argv);
}

int client_read_all(const char *path, struct buf *b)
{
	FILE *f = strcmp(path, "-") ? fopen(path, "rb") : stdin;
	if (!f)
		return -1;
	char chunk[65536];
	size_t n;
	while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
		buf_append(b, chunk, n);
	int bad = ferror(f);
	if (f != stdin)
		fclose(f);
	if (bad) {
		errno = EIO;
		return -1;
	}
	return 0;
}
