/* jira.c — Jira Cloud REST v3 issues (SPEC §8.1).
 *
 * Basic authentication with tracker.jira.email and api_token. Descriptions and
 * comments are Atlassian Document Format converted from the fitted Markdown
 * (tracker/adf.h); when the converter refuses the text (too many table cells, nested
 * too deep...), the text goes as plain paragraphs under a note that says so and links
 * to the incident, so an issue is never refused for its own text. The severity maps
 * to the standard priority names (sev1 Highest, sev2 High, sev3 Medium, sev4 Low);
 * a project whose create screen has no priority, or other names, answers 400 naming
 * the priority field, and the create is made once more without it. Labels cannot
 * hold spaces in Jira: '-' replaces them. The issue key is the external id. Closing
 * goes through a workflow transition: the one named tracker.jira.close_transition
 * (ignoring ASCII case), else the first whose target status is in the Done category;
 * an issue already in that category counts as closed (a retried close must not fail
 * because the first one worked). Search uses /rest/api/3/search/jql (the old
 * /search answers 410). */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "tracker/adf.h"
#include "tracker/rest.h"
#include "util/json.h"
#include "util/utf8.h"

#define JIRA_MAX_BODY  32767u
#define JIRA_MAX_LABEL 255u

static int jira_configured(const struct config *cfg, struct err *e)
{
	static const char *const keys[] = {"base_url", "email", "api_token", "project_key",
					   "issue_type"};
	const char *vals[] = {cfg->tracker.jira.base_url, cfg->tracker.jira.email,
			      cfg->tracker.jira.api_token, cfg->tracker.jira.project_key,
			      cfg->tracker.jira.issue_type};
	for (size_t i = 0; i < 5; i++)
		if (!vals[i] || !*vals[i])
			return err_set(e, ERR_INVALID, "tracker.jira.%s is not set", keys[i]);
	return 0;
}

/* The operation's client; cred holds the base64 credentials the header is made of
 * (redacted from errors like the token itself) and lives as long as s. */
struct jira {
	struct rest s;
	char cred[1024];
};

static bool jira_open(const struct config *cfg, struct jira *j, struct tracker_result *r)
{
	rest_result_init(r);
	struct buf plain = BUF_INIT, auth = BUF_INIT;
	buf_printf(&plain, "%s:%s", cfg->tracker.jira.email, cfg->tracker.jira.api_token);
	j->s.secret[0] = cfg->tracker.jira.api_token;
	j->s.secret[1] = j->cred;
	j->cred[0] = '\0';
	bool ok = false;
	if (sodium_base64_ENCODED_LEN(plain.len, sodium_base64_VARIANT_ORIGINAL) > sizeof j->cred) {
		j->s.secret[1] = NULL;
		rest_fail(&j->s, r, "tracker.jira.email and api_token are too long");
		goto out;
	}
	sodium_bin2base64(j->cred, sizeof j->cred, (const unsigned char *)plain.data, plain.len,
			  sodium_base64_VARIANT_ORIGINAL);
	buf_printf(&auth, "Basic %s", j->cred);
	const struct http_header h[] = {{"Authorization", auth.data}};
	ok = rest_open(&j->s, cfg->tracker.jira.base_url, h, 1, r);
out:
	sodium_memzero(plain.data, plain.len);
	buf_free(&plain);
	buf_free(&auth);
	return ok;
}

static bool valid_key(const char *key)
{
	size_t n = key ? strlen(key) : 0;
	return n > 0 && n <= 64 &&
	       strspn(key, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-") == n;
}

static void issue_url(const struct config *cfg, const char *key, struct tracker_result *r)
{
	const char *base = cfg->tracker.jira.base_url;
	size_t n = strlen(base);
	while (n > 0 && base[n - 1] == '/')
		n--;
	snprintf(r->url, sizeof r->url, "%.*s/browse/%s", (int)n, base, key);
}

/* ------------------------------------------------------------ ADF ---- */

static json_t *text_node(const char *s, size_t n)
{
	return jpack("{s:s, s:o}", "type", "text", "text", json_stringn_nocheck(s, n));
}

/* Plain paragraphs: blank lines separate them, line ends inside one become hard
 * breaks. md is valid UTF-8 (tracker_fit_body made it so). */
static void plain_paragraphs(const char *md, json_t *content)
{
	json_t *para = NULL;
	for (const char *p = md; *p;) {
		size_t n = strcspn(p, "\n");
		size_t len = n;
		while (len > 0 && (p[len - 1] == '\r' || p[len - 1] == ' ' || p[len - 1] == '\t'))
			len--;
		if (len == 0) {
			para = NULL;
		} else {
			if (!para) {
				para = jpack("{s:s, s:[]}", "type", "paragraph", "content");
				json_array_append_new(content, para);
			}
			json_t *inl = json_object_get(para, "content");
			if (json_array_size(inl))
				json_array_append_new(inl, jpack("{s:s}", "type", "hardBreak"));
			json_array_append_new(inl, text_node(p, len));
		}
		p += n + (p[n] == '\n');
	}
}

/* The document for a description or comment: the Markdown fitted to Jira's limit and
 * converted, or, when the converter refuses it, plain text under a note. */
static json_t *adf_body(const char *md, const char *incident_url)
{
	struct buf fitted = BUF_INIT, note = BUF_INIT, plain = BUF_INIT;
	struct err e;
	err_clear(&e);
	json_t *doc = NULL;
	tracker_fit_body(md, JIRA_MAX_BODY, incident_url, &fitted);
	if (!adf_from_markdown(fitted.data, fitted.len, &doc, &e))
		goto out;
	buf_printf(&note,
		   "This text is shown as plain text: it could not be converted to Jira's "
		   "format (%s).",
		   e.msg);
	bool link = incident_url && *incident_url;
	if (link)
		buf_puts(&note, " The full incident: ");
	size_t note_n = utf8_length(note.data) + (link ? utf8_length(incident_url) : 0);
	tracker_fit_body(md, note_n + 1 < JIRA_MAX_BODY ? JIRA_MAX_BODY - note_n - 1 : 1,
			 incident_url, &plain);
	json_t *head = jpack("[{s:s, s:o}]", "type", "text", "text", jstr(note.data));
	if (link)
		json_array_append_new(head, jpack("{s:s, s:o, s:[{s:s, s:{s:o}}]}", "type", "text",
						  "text", jstr(incident_url), "marks", "type",
						  "link", "attrs", "href", jstr(incident_url)));
	doc = jpack("{s:i, s:s, s:[{s:s, s:o}]}", "version", 1, "type", "doc", "content", "type",
		    "paragraph", "content", head);
	plain_paragraphs(plain.data ? plain.data : "", json_object_get(doc, "content"));
out:
	buf_free(&plain);
	buf_free(&note);
	buf_free(&fitted);
	return doc;
}

/* ---------------------------------------------------------- create ---- */

static const char *priority_name(int severity)
{
	static const char *const names[] = {"Highest", "High", "Medium", "Low"};
	return severity >= 1 && severity <= 4 ? names[severity - 1] : NULL;
}

/* Jira labels: no spaces ('-' instead), at most 255 characters, once each. */
static void add_label(json_t *labels, const char *label)
{
	struct buf b = BUF_INIT;
	tracker_fit_line(label, JIRA_MAX_LABEL, &b);
	for (size_t i = 0; i < b.len; i++)
		if (b.data[i] == ' ')
			b.data[i] = '-';
	size_t i;
	json_t *v;
	bool dup = b.len == 0;
	json_array_foreach(labels, i, v) dup = dup || !strcmp(json_string_value(v), b.data);
	if (!dup)
		json_array_append_new(labels, jstr(b.data));
	buf_free(&b);
}

/* Whether the last answer is a 400 whose errors name the priority field. */
static bool priority_refused(struct rest *s, const struct tracker_result *r)
{
	if (r->http_status != 400)
		return false;
	json_t *j =
		json_loadb(s->resp.body.data ? s->resp.body.data : "", s->resp.body.len, 0, NULL);
	bool yes = json_object_get(json_object_get(j, "errors"), "priority") != NULL;
	json_decref(j);
	return yes;
}

static void jira_create_issue(const struct config *cfg, const struct tracker_issue_doc *d,
			      struct tracker_result *r)
{
	struct jira j = {0};
	struct buf title = BUF_INIT;
	json_t *req = NULL, *resp = NULL;
	if (!jira_open(cfg, &j, r))
		goto out;
	json_t *labels = json_array();
	for (size_t i = 0; i < d->n_labels; i++)
		add_label(labels, d->labels[i]);
	tracker_fit_line(d->title, TRACKER_MAX_TITLE, &title);
	json_t *fields =
		jpack("{s:{s:o}, s:o, s:o, s:{s:o}, s:o}", "project", "key",
		      jstr(cfg->tracker.jira.project_key), "summary", jstr(buf_cstr(&title)),
		      "description", adf_body(d->body, d->incident_url), "issuetype", "name",
		      jstr(cfg->tracker.jira.issue_type), "labels", labels);
	const char *prio = priority_name(d->severity);
	if (prio)
		json_object_set_new(fields, "priority", jpack("{s:s}", "name", prio));
	req = jpack("{s:o}", "fields", fields);
	bool ok = rest_call(&j.s, "POST", "/rest/api/3/issue", req, "create issue", r);
	if (!ok && prio && priority_refused(&j.s, r)) {
		json_object_del(fields, "priority");
		ok = rest_call(&j.s, "POST", "/rest/api/3/issue", req,
			       "create issue (without priority)", r);
	}
	if (!ok)
		goto out;
	resp = rest_json(&j.s, JSON_OBJECT, "create issue", r);
	const char *key = json_get_str(resp, "key");
	if (resp && (!key || !valid_key(key) || strlen(key) >= sizeof r->external_id)) {
		rest_fail(&j.s, r, "create issue: HTTP %ld but the answer has no issue key",
			  r->http_status);
		goto out;
	}
	if (resp) {
		snprintf(r->external_id, sizeof r->external_id, "%s", key);
		issue_url(cfg, key, r);
	}
out:
	json_decref(resp);
	json_decref(req);
	buf_free(&title);
	rest_close(&j.s);
}

/* --------------------------------------------------------- comment ---- */

static void jira_comment(const struct config *cfg, const char *external_id, const char *body,
			 const char *incident_url, struct tracker_result *r)
{
	struct jira j = {0};
	struct buf path = BUF_INIT;
	json_t *req = NULL;
	if (!jira_open(cfg, &j, r))
		goto out;
	if (!valid_key(external_id)) {
		rest_fail(&j.s, r, "comment: \"%s\" is not a Jira issue key",
			  external_id ? external_id : "");
		goto out;
	}
	req = jpack("{s:o}", "body", adf_body(body, incident_url));
	buf_printf(&path, "/rest/api/3/issue/%s/comment", external_id);
	rest_call(&j.s, "POST", path.data, req, "comment on issue", r);
out:
	json_decref(req);
	buf_free(&path);
	rest_close(&j.s);
}

/* ----------------------------------------------------------- close ---- */

static const char *category_of(const json_t *status)
{
	return json_get_str(json_object_get(status, "statusCategory"), "key");
}

static void jira_close_issue(const struct config *cfg, const char *external_id,
			     struct tracker_result *r)
{
	struct jira j = {0};
	struct buf path = BUF_INIT, names = BUF_INIT;
	json_t *list = NULL, *req = NULL, *issue = NULL;
	if (!jira_open(cfg, &j, r))
		goto out;
	if (!valid_key(external_id)) {
		rest_fail(&j.s, r, "close: \"%s\" is not a Jira issue key",
			  external_id ? external_id : "");
		goto out;
	}
	buf_printf(&path, "/rest/api/3/issue/%s/transitions", external_id);
	if (!rest_call(&j.s, "GET", path.data, NULL, "list transitions", r))
		goto out;
	list = rest_json(&j.s, JSON_OBJECT, "list transitions", r);
	if (!list)
		goto out;
	const char *want = cfg->tracker.jira.close_transition;
	size_t i;
	json_t *t, *pick = NULL;
	json_array_foreach(json_object_get(list, "transitions"), i, t)
	{
		const char *name = json_get_str(t, "name");
		const char *cat = category_of(json_object_get(t, "to"));
		if (names.len)
			buf_puts(&names, ", ");
		buf_printf(&names, "%s", name ? name : "?");
		if (pick)
			continue;
		if (want && *want ? name && !strcasecmp(name, want) : cat && !strcmp(cat, "done"))
			pick = t;
	}
	const char *id = json_get_str(pick, "id");
	if (id) {
		req = jpack("{s:{s:o}}", "transition", "id", jstr(id));
		rest_call(&j.s, "POST", path.data, req, "close issue", r);
		goto out;
	}
	/* No such transition: closed already (a close retried after a lost answer), or a
	 * workflow that needs configuring. */
	buf_reset(&path);
	buf_printf(&path, "/rest/api/3/issue/%s?fields=status", external_id);
	if (!rest_call(&j.s, "GET", path.data, NULL, "read issue status", r))
		goto out;
	issue = rest_json(&j.s, JSON_OBJECT, "read issue status", r);
	if (!issue)
		goto out;
	const char *cat = category_of(json_object_get(json_object_get(issue, "fields"), "status"));
	if (cat && !strcmp(cat, "done"))
		goto out; /* TRACKER_OK from the read */
	if (want && *want)
		rest_fail(&j.s, r,
			  "close issue %s: no transition named \"%s\" from its status "
			  "(available: %s); set tracker.jira.close_transition",
			  external_id, want, names.len ? names.data : "none");
	else
		rest_fail(&j.s, r,
			  "close issue %s: no transition into the Done category from its status "
			  "(available: %s); set tracker.jira.close_transition",
			  external_id, names.len ? names.data : "none");
out:
	json_decref(issue);
	json_decref(req);
	json_decref(list);
	buf_free(&names);
	buf_free(&path);
	rest_close(&j.s);
}

/* ------------------------------------------------------------ find ---- */

static bool has_label(const json_t *issue, const char *label)
{
	const json_t *labels = json_object_get(json_object_get(issue, "fields"), "labels");
	if (!labels)
		return true; /* not returned: the JQL matched on it */
	size_t i;
	json_t *v;
	json_array_foreach(labels, i, v) if (json_is_string(v) &&
					     !strcmp(json_string_value(v), label)) return true;
	return false;
}

static long long id_of(const json_t *issue)
{
	const char *id = json_get_str(issue, "id");
	return id ? strtoll(id, NULL, 10) : 0;
}

static void jira_find_by_label(const struct config *cfg, int64_t incident_id,
			       struct tracker_result *r)
{
	struct jira j = {0};
	struct buf jql = BUF_INIT;
	json_t *req = NULL, *resp = NULL;
	if (!jira_open(cfg, &j, r))
		goto out;
	char label[48];
	snprintf(label, sizeof label, "intervene-%lld", (long long)incident_id);
	/* the project key is held to Jira's key alphabet by the config (config/tracker.c) */
	buf_printf(&jql, "project = %s AND labels = \"%s\"", cfg->tracker.jira.project_key, label);
	req = jpack("{s:o, s:[s, s], s:i}", "jql", jstr(jql.data), "fields", "labels", "created",
		    "maxResults", 100);
	if (!rest_call(&j.s, "POST", "/rest/api/3/search/jql", req, "find issue by label", r))
		goto out;
	resp = rest_json(&j.s, JSON_OBJECT, "find issue by label", r);
	size_t i;
	json_t *it, *first = NULL;
	json_array_foreach(json_object_get(resp, "issues"), i, it)
	{
		const char *key = json_get_str(it, "key");
		if (!key || !valid_key(key) || !has_label(it, label))
			continue;
		if (!first || id_of(it) < id_of(first))
			first = it;
	}
	/* the oldest is the one the first create made; any other is a duplicate */
	if (first) {
		const char *key = json_get_str(first, "key");
		snprintf(r->external_id, sizeof r->external_id, "%s", key);
		issue_url(cfg, key, r);
		r->found = true;
	}
out:
	json_decref(resp);
	json_decref(req);
	buf_free(&jql);
	rest_close(&j.s);
}

/* ------------------------------------------------------------ test ---- */

static void jira_test_connection(const struct config *cfg, struct tracker_result *r)
{
	struct jira j = {0};
	struct buf path = BUF_INIT, site = BUF_INIT, project = BUF_INIT;
	json_t *me = NULL;
	static const char forbidden[] = "use an API token of a user who can browse, create, "
					"comment on and transition issues in the project";
	if (!jira_open(cfg, &j, r))
		goto out;
	buf_printf(&site,
		   "the Jira REST API at %s (base_url must be the site, like "
		   "https://your-domain.atlassian.net)",
		   cfg->tracker.jira.base_url);
	if (!rest_call(&j.s, "GET", "/rest/api/3/myself", NULL, "GET /rest/api/3/myself", r)) {
		rest_explain_test(&j.s, r, "tracker.jira.email and tracker.jira.api_token",
				  forbidden, site.data);
		goto out;
	}
	/* an HTML page here means base_url is not a Jira site */
	me = rest_json(&j.s, JSON_OBJECT, "GET /rest/api/3/myself", r);
	if (!me)
		goto out;
	/* the credentials work; the project is what every other call names */
	buf_puts(&path, "/rest/api/3/project/");
	rest_path_escape(&path, cfg->tracker.jira.project_key);
	buf_printf(&project, "project %s", cfg->tracker.jira.project_key);
	struct buf what = BUF_INIT;
	buf_printf(&what, "GET %s", path.data);
	if (!rest_call(&j.s, "GET", path.data, NULL, what.data, r))
		rest_explain_test(&j.s, r, "tracker.jira.email and tracker.jira.api_token",
				  forbidden, project.data);
	buf_free(&what);
out:
	json_decref(me);
	buf_free(&project);
	buf_free(&site);
	buf_free(&path);
	rest_close(&j.s);
}

const struct tracker_ops tracker_jira = {
	.name = "jira",
	.max_body_chars = JIRA_MAX_BODY,
	.configured = jira_configured,
	.create_issue = jira_create_issue,
	.comment = jira_comment,
	.close_issue = jira_close_issue,
	.find_by_label = jira_find_by_label,
	.test_connection = jira_test_connection,
};
