#include "api/api.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "util/json.h"

static const char *const verbs[] = {"acknowledge", "mitigate", "resolve", "close", "reopen", NULL};

/* The whole API of this version. Minimum roles follow SPEC §5. */
const struct route api_routes[] = {
	{M_GET, "/healthz", NULL, ROLE_NONE, JOB_READ, api_healthz_prepare, NULL, false, false, false},
	{M_GET, "/readyz", NULL, ROLE_NONE, JOB_READ, NULL, api_readyz_run, false, false, false},
	{M_GET, "/api/version", NULL, ROLE_NONE, JOB_READ, api_version_prepare, NULL, false, false, false},

	{M_POST, "/api/signals", NULL, ROLE_RESPONDER, JOB_WRITE, api_signals_prepare,
	 api_signals_run, false, false, false},

	{M_GET, "/api/incidents", NULL, ROLE_VIEWER, JOB_READ, api_incidents_list_prepare,
	 api_incidents_list_run, false, false, false},
	{M_POST, "/api/incidents", NULL, ROLE_RESPONDER, JOB_WRITE, api_incident_declare_prepare,
	 api_incident_declare_run, false, false, true},
	{M_GET, "/api/incidents/{id}", NULL, ROLE_VIEWER, JOB_READ, NULL, api_incident_get_run,
	 false, false, false},
	{M_PATCH, "/api/incidents/{id}", NULL, ROLE_RESPONDER, JOB_WRITE, api_incident_patch_prepare,
	 api_incident_patch_run, false, false, false},
	{M_POST, "/api/incidents/{id}/{verb}", verbs, ROLE_RESPONDER, JOB_WRITE,
	 api_incident_verb_prepare, api_incident_verb_run, true, false, false},
	{M_POST, "/api/incidents/{id}/assign", NULL, ROLE_RESPONDER, JOB_WRITE,
	 api_incident_assign_prepare, api_incident_assign_run, false, false, false},
	{M_GET, "/api/incidents/{id}/comments", NULL, ROLE_VIEWER, JOB_READ,
	 api_comments_list_prepare, api_comments_list_run, false, false, false},
	{M_POST, "/api/incidents/{id}/comments", NULL, ROLE_RESPONDER, JOB_WRITE,
	 api_comment_add_prepare, api_comment_add_run, false, false, false},
	{M_GET, "/api/incidents/{id}/timeline", NULL, ROLE_VIEWER, JOB_READ, api_timeline_prepare,
	 api_timeline_run, false, false, false},

	{M_GET, "/api/events", NULL, ROLE_VIEWER, JOB_READ, api_events_prepare, api_events_run,
	 false, false, false},

	{M_POST, "/api/silences", NULL, ROLE_RESPONDER, JOB_WRITE, api_silence_create_prepare,
	 api_silence_create_run, false, false, false},
	{M_GET, "/api/silences", NULL, ROLE_VIEWER, JOB_READ, api_silences_list_prepare,
	 api_silences_list_run, false, false, false},
	{M_GET, "/api/silences/preview", NULL, ROLE_VIEWER, JOB_READ, api_silence_preview_prepare,
	 api_silence_preview_run, false, false, false},
	{M_DELETE, "/api/silences/{id}", NULL, ROLE_RESPONDER, JOB_WRITE, NULL,
	 api_silence_end_run, false, false, false},
};

const size_t api_n_routes = sizeof api_routes / sizeof api_routes[0];

int api_fail(struct http_req *r, const struct err *e)
{
	req_reply_err(r, e);
	return e->code ? e->code : ERR_INTERNAL;
}

int api_query_int(struct http_req *r, const char *key, int64_t min, int64_t max, int64_t dflt,
		  int64_t *out)
{
	const char *v = req_query(r, key);
	if (!v) {
		*out = dflt;
		return 0;
	}
	char *end = NULL;
	errno = 0;
	long long n = strtoll(v, &end, 10);
	if (!*v || *end || errno || n < min || n > max) {
		struct err e;
		err_clear(&e);
		err_field(&e, ERR_INVALID, key, "%s must be an integer from %lld to %lld", key,
			  (long long)min, (long long)max);
		req_reply_err(r, &e);
		return 1;
	}
	*out = n;
	return 0;
}

int api_paging(struct http_req *r, int64_t dflt, int64_t max, int64_t *page, int64_t *per_page)
{
	if (api_query_int(r, "page", 1, 1000000000, 1, page))
		return 1;
	return api_query_int(r, "per_page", 1, max, dflt, per_page);
}

char **api_query_list(struct http_req *r, const char *key)
{
	size_t n = 0, cap = 0;
	char **v = NULL;
	for (size_t i = 0; i < r->n_query; i++) {
		if (strcmp(r->query[i].key, key))
			continue;
		char *copy = xstrdup(r->query[i].value), *save = NULL;
		for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
			if (n + 2 > cap) {
				cap = cap ? cap * 2 : 8;
				v = xrealloc(v, cap * sizeof *v);
			}
			v[n++] = xstrdup(t);
		}
		free(copy);
		if (!v) {
			/* present but empty: an empty list, which matches nothing useful */
			cap = 2;
			v = xcalloc(cap, sizeof *v);
		}
	}
	if (v)
		v[n] = NULL;
	return v;
}

void api_strv_free(char **v)
{
	if (!v)
		return;
	for (char **p = v; *p; p++)
		free(*p);
	free(v);
}

json_t *api_list(const char *name, json_t *items, int64_t total, int64_t page, int64_t per_page)
{
	json_t *o = json_object();
	json_object_set_new(o, name, items);
	json_object_set_new(o, "total", json_integer(total));
	json_object_set_new(o, "page", json_integer(page));
	json_object_set_new(o, "per_page", json_integer(per_page));
	return o;
}
