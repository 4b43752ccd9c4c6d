/* gitlab.c — GitLab REST v4 issues (SPEC §8.1).
 *
 * The project is tracker.gitlab.project_id, a numeric id or a namespace path, always
 * URL-encoded in the path (group/project → group%2Fproject). The issue's iid (its
 * number within the project) is the external id. Labels go as one comma-separated
 * string, so a comma inside a rendered label becomes a space (GitLab would split the
 * label in two); the priority is the scoped label priority::sevN, so an issue holds
 * one priority at a time. */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "tracker/rest.h"
#include "util/json.h"

#define GITLAB_MAX_BODY	 1000000u
#define GITLAB_MAX_LABEL 255u

static int gitlab_configured(const struct config *cfg, struct err *e)
{
	static const char *const keys[] = {"token", "project_id", "base_url"};
	const char *vals[] = {cfg->tracker.gitlab.token, cfg->tracker.gitlab.project_id,
			      cfg->tracker.gitlab.base_url};
	for (size_t i = 0; i < 3; i++)
		if (!vals[i] || !*vals[i])
			return err_set(e, ERR_INVALID, "tracker.gitlab.%s is not set", keys[i]);
	return 0;
}

static bool gitlab_open(const struct config *cfg, struct rest *s, struct tracker_result *r)
{
	rest_result_init(r);
	s->secret[0] = cfg->tracker.gitlab.token;
	s->secret[1] = NULL;
	const struct http_header h[] = {{"PRIVATE-TOKEN", cfg->tracker.gitlab.token}};
	return rest_open(s, cfg->tracker.gitlab.base_url, h, 1, r);
}

static void project_path(const struct config *cfg, struct buf *b)
{
	buf_puts(b, "/api/v4/projects/");
	rest_path_escape(b, cfg->tracker.gitlab.project_id);
}

static bool valid_iid(const char *id)
{
	size_t n = id ? strlen(id) : 0;
	return n > 0 && n < 20 && strspn(id, "0123456789") == n;
}

/* Append label to the comma-separated list (commas inside it become spaces), unless
 * it is empty or already there (GitLab label names ignore case). */
static void add_label(struct buf *list, const char *label)
{
	struct buf b = BUF_INIT;
	tracker_fit_line(label, GITLAB_MAX_LABEL, &b);
	for (size_t i = 0; i < b.len; i++)
		if (b.data[i] == ',')
			b.data[i] = ' ';
	if (b.len && strspn(b.data, " ") != b.len) {
		bool dup = false;
		for (const char *p = buf_cstr(list); *p && !dup;) {
			size_t n = strcspn(p, ",");
			dup = n == b.len && !strncasecmp(p, b.data, n);
			p += n + (p[n] == ',');
		}
		if (!dup) {
			if (list->len)
				buf_putc(list, ',');
			buf_append(list, b.data, b.len);
		}
	}
	buf_free(&b);
}

static bool take_issue(const json_t *issue, struct tracker_result *r)
{
	json_t *iid = json_object_get(issue, "iid");
	const char *url = json_get_str(issue, "web_url");
	if (!json_is_integer(iid) || json_integer_value(iid) <= 0)
		return false;
	snprintf(r->external_id, sizeof r->external_id, "%" JSON_INTEGER_FORMAT,
		 json_integer_value(iid));
	snprintf(r->url, sizeof r->url, "%s", url ? url : "");
	return true;
}

static void gitlab_create_issue(const struct config *cfg, const struct tracker_issue_doc *d,
				struct tracker_result *r)
{
	struct rest s = {0};
	struct buf path = BUF_INIT, title = BUF_INIT, body = BUF_INIT, labels = BUF_INIT;
	json_t *req = NULL, *resp = NULL;
	if (!gitlab_open(cfg, &s, r))
		goto out;
	for (size_t i = 0; i < d->n_labels; i++)
		add_label(&labels, d->labels[i]);
	const char *prio = rest_priority_label(d->severity, true);
	if (prio)
		add_label(&labels, prio);
	tracker_fit_line(d->title, TRACKER_MAX_TITLE, &title);
	tracker_fit_body(d->body, GITLAB_MAX_BODY, d->incident_url, &body);
	req = jpack("{s:o, s:o, s:o}", "title", jstr(buf_cstr(&title)), "description",
		    jstr(buf_cstr(&body)), "labels", jstr(buf_cstr(&labels)));
	project_path(cfg, &path);
	buf_puts(&path, "/issues");
	if (!rest_call(&s, "POST", path.data, req, "create issue", r))
		goto out;
	resp = rest_json(&s, JSON_OBJECT, "create issue", r);
	if (resp && !take_issue(resp, r))
		rest_fail(&s, r, "create issue: HTTP %ld but the answer has no issue iid",
			  r->http_status);
out:
	json_decref(resp);
	json_decref(req);
	buf_free(&labels);
	buf_free(&body);
	buf_free(&title);
	buf_free(&path);
	rest_close(&s);
}

static void gitlab_comment(const struct config *cfg, const char *external_id, const char *body,
			   const char *incident_url, struct tracker_result *r)
{
	struct rest s = {0};
	struct buf path = BUF_INIT, text = BUF_INIT;
	json_t *req = NULL;
	if (!gitlab_open(cfg, &s, r))
		goto out;
	if (!valid_iid(external_id)) {
		rest_fail(&s, r, "comment: \"%s\" is not a GitLab issue iid",
			  external_id ? external_id : "");
		goto out;
	}
	tracker_fit_body(body, GITLAB_MAX_BODY, incident_url, &text);
	req = jpack("{s:o}", "body", jstr(buf_cstr(&text)));
	project_path(cfg, &path);
	buf_printf(&path, "/issues/%s/notes", external_id);
	rest_call(&s, "POST", path.data, req, "comment on issue", r);
out:
	json_decref(req);
	buf_free(&text);
	buf_free(&path);
	rest_close(&s);
}

static void gitlab_close_issue(const struct config *cfg, const char *external_id,
			       struct tracker_result *r)
{
	struct rest s = {0};
	struct buf path = BUF_INIT;
	json_t *req = NULL;
	if (!gitlab_open(cfg, &s, r))
		goto out;
	if (!valid_iid(external_id)) {
		rest_fail(&s, r, "close: \"%s\" is not a GitLab issue iid",
			  external_id ? external_id : "");
		goto out;
	}
	req = jpack("{s:s}", "state_event", "close");
	project_path(cfg, &path);
	buf_printf(&path, "/issues/%s", external_id);
	rest_call(&s, "PUT", path.data, req, "close issue", r);
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

static void gitlab_find_by_label(const struct config *cfg, int64_t incident_id,
				 struct tracker_result *r)
{
	struct rest s = {0};
	struct buf path = BUF_INIT;
	char label[48];
	json_t *list = NULL;
	if (!gitlab_open(cfg, &s, r))
		goto out;
	snprintf(label, sizeof label, "intervene-%lld", (long long)incident_id);
	project_path(cfg, &path);
	/* every state by default; a page of 100 holds every issue one label can have */
	buf_printf(&path, "/issues?labels=%s&per_page=100", label);
	if (!rest_call(&s, "GET", path.data, NULL, "find issue by label", r))
		goto out;
	list = rest_json(&s, JSON_ARRAY, "find issue by label", r);
	size_t i;
	json_t *it, *first = NULL;
	json_array_foreach(list, i, it)
	{
		if (!has_label(it, label))
			continue;
		json_int_t n = json_integer_value(json_object_get(it, "iid"));
		if (n > 0 && (!first || n < json_integer_value(json_object_get(first, "iid"))))
			first = it;
	}
	if (first)
		r->found = take_issue(first, r);
out:
	json_decref(list);
	buf_free(&path);
	rest_close(&s);
}

static void gitlab_test_connection(const struct config *cfg, struct tracker_result *r)
{
	struct rest s = {0};
	struct buf path = BUF_INIT, what = BUF_INIT, project = BUF_INIT;
	json_t *j = NULL;
	if (!gitlab_open(cfg, &s, r))
		goto out;
	project_path(cfg, &path);
	buf_printf(&what, "GET %s", path.data);
	buf_printf(&project, "project %s", cfg->tracker.gitlab.project_id);
	if (!rest_call(&s, "GET", path.data, NULL, what.data, r)) {
		rest_explain_test(&s, r, "tracker.gitlab.token",
				  "a personal, project or group access token with the api scope, "
				  "and the Reporter role or higher in the project",
				  project.data);
		goto out;
	}
	j = rest_json(&s, JSON_OBJECT, what.data, r);
	if (j && json_is_false(json_object_get(j, "issues_enabled")))
		rest_fail(&s, r, "issues are disabled in %s (Settings, General, Visibility)",
			  project.data);
out:
	json_decref(j);
	buf_free(&project);
	buf_free(&what);
	buf_free(&path);
	rest_close(&s);
}

const struct tracker_ops tracker_gitlab = {
	.name = "gitlab",
	.max_body_chars = GITLAB_MAX_BODY,
	.configured = gitlab_configured,
	.create_issue = gitlab_create_issue,
	.comment = gitlab_comment,
	.close_issue = gitlab_close_issue,
	.find_by_label = gitlab_find_by_label,
	.test_connection = gitlab_test_connection,
};
