/* github.c — GitHub REST issues (SPEC §8.1, API version 2022-11-28).
 *
 * Issues are created, commented and closed in tracker.github.owner/repo; the issue
 * number is the external id. The priority is a label, priority:sevN. Assignees come
 * only from tracker.github.assignees (the incident's assigned_to → a GitHub login):
 * GitHub silently drops assignees without push access but refuses unknown logins, so
 * nothing unmapped is ever sent. Labels are cut to GitHub's 50 characters (a longer
 * one makes the whole create fail with 422). An issue is found again by its exact
 * label through the list endpoint (the search API is eventually consistent), skipping
 * pull requests, which the issues list also returns. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "tracker/rest.h"
#include "util/json.h"

#define GITHUB_MAX_BODY	 65536u
#define GITHUB_MAX_LABEL 50u
#define GITHUB_ACCEPT	 "application/vnd.github+json"
#define GITHUB_VERSION	 "2022-11-28"

static int github_configured(const struct config *cfg, struct err *e)
{
	static const char *const keys[] = {"token", "owner", "repo", "base_url"};
	const char *vals[] = {cfg->tracker.github.token, cfg->tracker.github.owner,
			      cfg->tracker.github.repo, cfg->tracker.github.base_url};
	for (size_t i = 0; i < 4; i++)
		if (!vals[i] || !*vals[i])
			return err_set(e, ERR_INVALID, "tracker.github.%s is not set", keys[i]);
	return 0;
}

/* A client with GitHub's headers. The Authorization value lives in auth until
 * rest_open has copied it. */
static bool github_open(const struct config *cfg, struct rest *s, struct tracker_result *r)
{
	rest_result_init(r);
	struct buf auth = BUF_INIT;
	buf_printf(&auth, "Bearer %s", cfg->tracker.github.token);
	s->secret[0] = cfg->tracker.github.token;
	s->secret[1] = NULL;
	const struct http_header h[] = {
		{"Authorization", auth.data},
		{"Accept", GITHUB_ACCEPT},
		{"X-GitHub-Api-Version", GITHUB_VERSION},
	};
	bool ok = rest_open(s, cfg->tracker.github.base_url, h, 3, r);
	buf_free(&auth);
	return ok;
}

static void repo_path(const struct config *cfg, struct buf *b)
{
	buf_puts(b, "/repos/");
	rest_path_escape(b, cfg->tracker.github.owner);
	buf_putc(b, '/');
	rest_path_escape(b, cfg->tracker.github.repo);
}

/* An issue number as the external id: digits only (it goes into a URL path). */
static bool valid_number(const char *id)
{
	size_t n = id ? strlen(id) : 0;
	return n > 0 && n < 20 && strspn(id, "0123456789") == n;
}

/* Add label (cut to GitHub's limit) unless empty or already there, ignoring case as
 * GitHub does. */
static void add_label(json_t *labels, const char *label)
{
	struct buf b = BUF_INIT;
	tracker_fit_line(label, GITHUB_MAX_LABEL, &b);
	size_t i;
	json_t *v;
	bool dup = b.len == 0;
	json_array_foreach(labels, i, v) dup = dup || !strcasecmp(json_string_value(v), b.data);
	if (!dup)
		json_array_append_new(labels, jstr(b.data));
	buf_free(&b);
}

/* Take number and html_url from an issue object into r. */
static bool take_issue(const json_t *issue, struct tracker_result *r)
{
	json_t *num = json_object_get(issue, "number");
	const char *url = json_get_str(issue, "html_url");
	if (!json_is_integer(num) || json_integer_value(num) <= 0)
		return false;
	snprintf(r->external_id, sizeof r->external_id, "%" JSON_INTEGER_FORMAT,
		 json_integer_value(num));
	snprintf(r->url, sizeof r->url, "%s", url ? url : "");
	return true;
}

static void github_create_issue(const struct config *cfg, const struct tracker_issue_doc *d,
				struct tracker_result *r)
{
	struct rest s = {0};
	struct buf path = BUF_INIT, title = BUF_INIT, body = BUF_INIT;
	json_t *req = NULL, *resp = NULL;
	if (!github_open(cfg, &s, r))
		goto out;
	json_t *labels = json_array();
	for (size_t i = 0; i < d->n_labels; i++)
		add_label(labels, d->labels[i]);
	const char *prio = rest_priority_label(d->severity, false);
	if (prio)
		add_label(labels, prio);
	tracker_fit_line(d->title, TRACKER_MAX_TITLE, &title);
	tracker_fit_body(d->body, GITHUB_MAX_BODY, d->incident_url, &body);
	req = jpack("{s:o, s:o, s:o}", "title", jstr(buf_cstr(&title)), "body",
		    jstr(buf_cstr(&body)), "labels", labels);
	for (size_t i = 0; d->assigned_to && i < cfg->tracker.github.n_assignees; i++) {
		const struct config_kv *kv = &cfg->tracker.github.assignees[i];
		if (!strcmp(kv->key, d->assigned_to)) {
			json_object_set_new(req, "assignees", jpack("[o]", jstr(kv->value)));
			break;
		}
	}
	repo_path(cfg, &path);
	buf_puts(&path, "/issues");
	if (!rest_call(&s, "POST", path.data, req, "create issue", r))
		goto out;
	resp = rest_json(&s, JSON_OBJECT, "create issue", r);
	if (resp && !take_issue(resp, r))
		rest_fail(&s, r, "create issue: HTTP %ld but the answer has no issue number",
			  r->http_status);
out:
	json_decref(resp);
	json_decref(req);
	buf_free(&body);
	buf_free(&title);
	buf_free(&path);
	rest_close(&s);
}

static void github_comment(const struct config *cfg, const char *external_id, const char *body,
			   const char *incident_url, struct tracker_result *r)
{
	struct rest s = {0};
	struct buf path = BUF_INIT, text = BUF_INIT;
	json_t *req = NULL;
	if (!github_open(cfg, &s, r))
		goto out;
	if (!valid_number(external_id)) {
		rest_fail(&s, r, "comment: \"%s\" is not a GitHub issue number",
			  external_id ? external_id : "");
		goto out;
	}
	tracker_fit_body(body, GITHUB_MAX_BODY, incident_url, &text);
	req = jpack("{s:o}", "body", jstr(buf_cstr(&text)));
	repo_path(cfg, &path);
	buf_printf(&path, "/issues/%s/comments", external_id);
	rest_call(&s, "POST", path.data, req, "comment on issue", r);
out:
	json_decref(req);
	buf_free(&text);
	buf_free(&path);
	rest_close(&s);
}

static void github_close_issue(const struct config *cfg, const char *external_id,
			       struct tracker_result *r)
{
	struct rest s = {0};
	struct buf path = BUF_INIT;
	json_t *req = NULL;
	if (!github_open(cfg, &s, r))
		goto out;
	if (!valid_number(external_id)) {
		rest_fail(&s, r, "close: \"%s\" is not a GitHub issue number",
			  external_id ? external_id : "");
		goto out;
	}
	req = jpack("{s:s, s:s}", "state", "closed", "state_reason", "completed");
	repo_path(cfg, &path);
	buf_printf(&path, "/issues/%s", external_id);
	rest_call(&s, "PATCH", path.data, req, "close issue", r);
out:
	json_decref(req);
	buf_free(&path);
	rest_close(&s);
}

static bool has_label(const json_t *issue, const char *label)
{
	size_t i;
	json_t *v;
	json_array_foreach(json_object_get(issue, "labels"), i, v)
	{
		const char *name =
			json_is_string(v) ? json_string_value(v) : json_get_str(v, "name");
		if (name && !strcmp(name, label))
			return true;
	}
	return false;
}

static void github_find_by_label(const struct config *cfg, int64_t incident_id,
				 struct tracker_result *r)
{
	struct rest s = {0};
	struct buf path = BUF_INIT;
	char label[48];
	json_t *list = NULL;
	if (!github_open(cfg, &s, r))
		goto out;
	snprintf(label, sizeof label, "intervene-%lld", (long long)incident_id);
	repo_path(cfg, &path);
	/* newest first by default: a page of 100 holds every issue one label can have */
	buf_printf(&path, "/issues?labels=%s&state=all&per_page=100", label);
	if (!rest_call(&s, "GET", path.data, NULL, "find issue by label", r))
		goto out;
	list = rest_json(&s, JSON_ARRAY, "find issue by label", r);
	size_t i;
	json_t *it, *first = NULL;
	json_array_foreach(list, i, it)
	{
		if (json_object_get(it, "pull_request") || !has_label(it, label))
			continue;
		json_int_t n = json_integer_value(json_object_get(it, "number"));
		if (n > 0 && (!first || n < json_integer_value(json_object_get(first, "number"))))
			first = it;
	}
	/* the oldest is the one the first create made; any other is a duplicate */
	if (first)
		r->found = take_issue(first, r);
out:
	json_decref(list);
	buf_free(&path);
	rest_close(&s);
}

static void github_test_connection(const struct config *cfg, struct tracker_result *r)
{
	struct rest s = {0};
	struct buf path = BUF_INIT, what = BUF_INIT, repo = BUF_INIT;
	json_t *j = NULL;
	if (!github_open(cfg, &s, r))
		goto out;
	repo_path(cfg, &path);
	buf_printf(&what, "GET %s", path.data);
	buf_printf(&repo, "repository %s/%s", cfg->tracker.github.owner, cfg->tracker.github.repo);
	if (!rest_call(&s, "GET", path.data, NULL, what.data, r)) {
		rest_explain_test(&s, r, "tracker.github.token",
				  "a fine-grained token needs Issues: read and write and Metadata: "
				  "read on the repository; a classic token the repo scope",
				  repo.data);
		goto out;
	}
	j = rest_json(&s, JSON_OBJECT, what.data, r);
	if (j && json_is_false(json_object_get(j, "has_issues")))
		rest_fail(&s, r, "issues are disabled in %s (repository settings, Features)",
			  repo.data + strlen("repository "));
out:
	json_decref(j);
	buf_free(&repo);
	buf_free(&what);
	buf_free(&path);
	rest_close(&s);
}

const struct tracker_ops tracker_github = {
	.name = "github",
	.max_body_chars = GITHUB_MAX_BODY,
	.configured = github_configured,
	.create_issue = github_create_issue,
	.comment = github_comment,
	.close_issue = github_close_issue,
	.find_by_label = github_find_by_label,
	.test_connection = github_test_connection,
};
