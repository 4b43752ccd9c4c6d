/* rest.h — the HTTP plumbing the three adapters share (github.c, gitlab.c, jira.c).
 *
 * Internal to src/tracker: nothing outside this directory includes it; the contract of
 * the adapters is tracker.h. One struct rest is one adapter operation: a client made
 * for the provider's base URL with its headers and SPEC §8.1's limits, the last
 * response, and the secrets to keep out of error texts. It lives on the stack of the
 * delivery thread that runs the operation; nothing here keeps state between calls
 * except the timeouts tracker_set_timeouts sets before threads start. */
#ifndef INTERVENE_TRACKER_REST_H
#define INTERVENE_TRACKER_REST_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "tracker/tracker.h"
#include "util/buf.h"
#include "util/http_client.h"

#define TRACKER_CONNECT_TIMEOUT_MS 5000L
#define TRACKER_TOTAL_TIMEOUT_MS   30000L
/* SPEC §8.1: response bodies are capped at 1 MiB. */
#define TRACKER_MAX_RESPONSE ((size_t)1024 * 1024)
/* Jira's summary and GitLab's title take at most 255 characters (GitHub 256): titles
 * are cut to this everywhere, so the same incident reads the same in each tracker. */
#define TRACKER_MAX_TITLE 255

extern const struct tracker_ops tracker_github, tracker_gitlab, tracker_jira;

/* The timeouts in effect (tracker_set_timeouts, else the defaults above). */
void tracker_get_timeouts(long *connect_ms, long *total_ms);

/* Append the provider's error text from resp's body (the JSON error shapes of
 * GitHub, GitLab and Jira, else the first 200 bytes made printable). Nothing when the
 * body is empty. (tracker.c) */
void tracker_response_text(const struct http_response *resp, struct buf *out);

/* Append s as one line of at most max_chars characters: control characters become
 * spaces, and a longer line is cut at a character boundary and ends with "…". */
void tracker_fit_line(const char *s, size_t max_chars, struct buf *out);

struct rest {
	struct http_client *client;
	struct http_response resp; /* of the last rest_call */
	const char *base_url;	   /* borrowed from the config */
	const char *secret[2];	   /* replaced by "****" in r->error; may be NULL */
	char url_password[256];	   /* a password in base_url's user info, redacted too */
};

/* Reset r: no outcome yet (TRACKER_FAILED, nothing sent, no texts). */
void rest_result_init(struct tracker_result *r);

/* Make the client: base_url (the config block's), the headers (copied) and the limits.
 * s->secret must be set before. Returns true, or false with r FAILED and why (a base
 * URL or header libcurl cannot take); nothing is sent either way. Close with
 * rest_close in both cases. */
bool rest_open(struct rest *s, const char *base_url, const struct http_header *headers,
	       size_t n_headers, struct tracker_result *r);

void rest_close(struct rest *s);

/* One request: body (borrowed, may be NULL) sent as compact JSON. Fills r through
 * tracker_classify (what names the call in messages) with the secrets redacted, and
 * returns whether the outcome is TRACKER_OK. The response stays in s->resp. */
bool rest_call(struct rest *s, const char *method, const char *path, const json_t *body,
	       const char *what, struct tracker_result *r);

/* The body of the last response parsed as JSON of the given type (JSON_OBJECT or
 * JSON_ARRAY): a new reference, or NULL with r TRACKER_FAILED saying the answer could
 * not be used (r->sent and http_status kept). */
json_t *rest_json(struct rest *s, json_type type, const char *what, struct tracker_result *r);

/* Make r TRACKER_FAILED with a message (printf-style, secrets redacted). */
void rest_fail(struct rest *s, struct tracker_result *r, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Explain a failed test_connection in r->error, in front of what the call said:
 * DNS, connect, TLS, timeout, 401 (cred_key names the credentials to check), 403
 * (forbidden says which permissions are needed), 404 (not_found names the repository
 * or project). Other failures keep their text. */
void rest_explain_test(struct rest *s, struct tracker_result *r, const char *cred_key,
		       const char *forbidden, const char *not_found);

/* Append s percent-encoded for one path segment (RFC 3986 unreserved characters kept,
 * so "group/project" becomes "group%2Fproject"). */
void rest_path_escape(struct buf *b, const char *s);

/* The priority label of a severity for GitHub ("priority:sevN") and GitLab
 * ("priority::sevN"), or NULL when severity is not 1..4. Static strings. */
const char *rest_priority_label(int severity, bool scoped);

#endif
