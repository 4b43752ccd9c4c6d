/* tracker.h — issue trackers behind one interface, and their registry (SPEC §8.1).
 *
 * A provider is one file (github.c, gitlab.c, jira.c) defining a struct tracker_ops,
 * and one row of tracker_providers[] (tracker.c). Its operations make blocking HTTP
 * calls through util/http_client.h — connect timeout 5 s, total 30 s, TLS verified,
 * `User-Agent: intervene/<version>`, no redirects, response bodies capped at 1 MiB —
 * and run on the outbox's delivery thread of that provider (tracker/delivery.h), never on
 * the loop or a store thread. They read the provider's block of cfg->tracker (the
 * block in effect: the `tracker` runtime setting, else the config file's), and never
 * log or echo a secret.
 *
 * Every operation fills a struct tracker_result: the outcome for the outbox (done,
 * retry later, or dead with the tracker's own error text), what a create made (the
 * issue's id and URL), and whether the request may have reached the tracker (for the
 * `uncertain` state of creates). Bodies are fitted to the provider's limit by the
 * adapter (tracker_fit_body); Jira converts Markdown to ADF (tracker/adf.h) and falls
 * back to plain-text paragraphs with a note when the converter refuses the text, so a
 * ticket is never dead because of its own text. */
#ifndef INTERVENE_TRACKER_TRACKER_H
#define INTERVENE_TRACKER_TRACKER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "util/buf.h"
#include "util/err.h"
#include "util/http_client.h"

/* What one issue is made of (rendered by template/issue.h from the incident). */
struct tracker_issue_doc {
	int64_t incident_id;
	const char *title;	   /* one line */
	const char *body;	   /* Markdown, footer included; the adapter fits it */
	const char *const *labels; /* rendered labels, including intervene and
				     * intervene-<id>; the adapter adds its priority label */
	size_t n_labels;
	int severity;		  /* 1..4 */
	const char *assigned_to;  /* the incident's assignee, or NULL */
	const char *incident_url; /* link back, for notes on cut or plain bodies */
};

enum tracker_outcome {
	TRACKER_OK,	/* done */
	TRACKER_RETRY,	/* try again later: no response, 5xx, 408, 423, 425, 429, or a 403
			 * that says it is a rate limit (x-ratelimit-remaining: 0 or
			 * Retry-After) */
	TRACKER_FAILED, /* will not work by retrying: another 4xx, or a response that cannot
			 * be used; error says why, in the tracker's words when it gave some */
};

struct tracker_result {
	enum tracker_outcome outcome;
	long http_status;	/* of the last response, 0 when none arrived */
	int64_t retry_after_ms; /* the tracker asked to wait this long (Retry-After as
				  * seconds or an HTTP date, or a rate-limit reset); 0 = none */
	bool sent;		/* the request may have reached the tracker */
	int calls;		/* HTTP requests made (tracker_classify counts them): the
				 * outbox paces by calls, not by operations */
	bool found;		/* find_by_label: an issue carries the label */
	char external_id[128];	/* GitHub/GitLab issue number (iid), Jira issue key */
	char url[512];		/* the issue's page */
	char error[512];	/* for people; empty on success */
};

struct tracker_ops {
	const char *name; /* as in tracker.provider and the target "tracker:<name>" */
	/* Body limit in characters (GitHub 65,536, Jira 32,767, GitLab 1,000,000). */
	size_t max_body_chars;
	/* Whether cfg's block for this provider has what calls need (token, repository,
	 * project...): 0, or ERR_INVALID naming the missing key. No network. */
	int (*configured)(const struct config *cfg, struct err *e);
	void (*create_issue)(const struct config *cfg, const struct tracker_issue_doc *d,
			     struct tracker_result *r);
	/* Comment body (Markdown) on issue external_id. */
	void (*comment)(const struct config *cfg, const char *external_id, const char *body,
			const char *incident_url, struct tracker_result *r);
	/* Close issue external_id (Jira: through a transition). */
	void (*close_issue)(const struct config *cfg, const char *external_id,
			    struct tracker_result *r);
	/* The issue labelled intervene-<incident_id>, if any: r->found, external_id, url. */
	void (*find_by_label)(const struct config *cfg, int64_t incident_id,
			      struct tracker_result *r);
	/* Check credentials and the repository/project: r->outcome TRACKER_OK, or the
	 * precise failure in r->error (DNS, connect, TLS, 401, 404 on the repository...). */
	void (*test_connection)(const struct config *cfg, struct tracker_result *r);
};

/* Every provider, NULL-terminated. */
extern const struct tracker_ops *const tracker_providers[];

/* The provider called name ("github"), or NULL. */
const struct tracker_ops *tracker_find(const char *name);

/* ---- helpers for adapters ---- */

/* Classify a call: r->http_status, outcome (see enum tracker_outcome), retry_after_ms
 * from Retry-After (delta-seconds or HTTP date, relative to now_ms) or rate-limit reset
 * headers, and r->error from rc/e (no response) or from the response body's error text
 * (JSON "message"/"errorMessages"/"errors"/"error", else the first 200 bytes).
 * what names the call for messages ("create issue"). r->calls is incremented (r must
 * have been initialised: rest_result_init or zeroed).
 * Also sets r->sent: false when nothing can have reached the tracker (rc is
 * ERR_UPSTREAM with resp->fail DNS, connect or TLS, or the request was refused before
 * being made: ERR_INVALID, ERR_INTERNAL...), true otherwise (any response, a timeout,
 * a broken connection, ERR_IO, ERR_TOOLARGE). A 403 whose error text mentions a
 * "secondary rate limit" without either header is retried after 60 s, as GitHub's
 * documentation says to. A 3xx is TRACKER_FAILED naming its Location (no redirects). */
void tracker_classify(int rc, const struct err *e, const struct http_response *resp, int64_t now_ms,
		      const char *what, struct tracker_result *r);

/* Parse a Retry-After value at now_ms: milliseconds to wait, or -1 when unparsable. */
int64_t tracker_retry_after_ms(const char *value, int64_t now_ms);

/* Override the timeouts of every adapter call (milliseconds; 0 restores the default
 * of SPEC §8.1: connect 5 s, total 30 s). For tests and test harnesses that make a
 * stand-in hang: call it before any delivery thread starts (it is not synchronised). */
void tracker_set_timeouts(long connect_ms, long total_ms);

/* Append md to out cut to at most max_chars characters: at a line boundary, outside
 * any code fence (closing it), never inside a UTF-8 sequence, followed by a note that
 * the text was cut, with incident_url. Unchanged when it fits. Characters are code
 * points; the whole result, note and fence close included, is at most max_chars.
 * A line so long that cutting before it would keep less than half of what fits is cut
 * inside (after its last blank that fits). Fences are recognised at the top level and
 * indented up to three spaces (CommonMark). Ill-formed UTF-8 in md is replaced by
 * U+FFFD first. NULL md is "". */
void tracker_fit_body(const char *md, size_t max_chars, const char *incident_url, struct buf *out);

#endif
