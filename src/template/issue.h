/* issue.h — tracker issues rendered from front-matter Markdown templates (SPEC §7).
 *
 * A template is a Markdown file that starts with a YAML front matter, the convention of
 * GitHub issue templates:
 *
 *     ---
 *     title: "[{{severity}}] Invariant failed: {{details.invariant_name}}"
 *     labels: ["{{severity}}", "invariant"]
 *     assignees: []          (optional)
 *     ---
 *     ... Markdown body ...
 *
 * The front matter is parsed as YAML first and must be a mapping of exactly `title` (a
 * string), `labels` (a list of strings) and optionally `assignees` (a list of strings);
 * then each of those strings is rendered with Mustache without escaping, and CR, LF
 * and other control characters in the result become spaces (the values go to tracker
 * APIs and HTTP headers). The body is rendered in Mustache's Markdown mode (no HTML
 * escaping; `<!--`, `-->` and a leading `@` in values are neutralised).
 *
 * Built-ins `invariant_failure`, `budget_exceeded`, `planner_regression` and
 * `generic_incident` are compiled into the binary (src/template/builtin/NAME.md); a file
 * `<name>.md` in the templates directory (tracker.templates_dir) overrides the
 * built-in of that name or adds a new template. Names are `[a-z0-9_]+`, at most
 * ISSUE_NAME_MAX bytes, so a name can never reach outside the directory.
 *
 * The render context is the incident JSON (as GET /api/incidents/{id} returns it, the
 * inner object), plus `public_url`, `incident_url` (`<public_url>/incidents/<id>`) and
 * a `derived` object of values computed from the details (see issue_context and
 * docs/templates.md). Every rendered issue gets the labels `intervene` and
 * `intervene-<id>`, spelled exactly so, after the template's own labels (which are
 * deduplicated ignoring ASCII case, first occurrence kept, empty ones and any spelling
 * of the two code labels dropped), and a footer linking back to the incident; both are
 * added here so that overrides keep them.
 *
 * No global state: every function may be called from any thread. */
#ifndef INTERVENE_TEMPLATE_ISSUE_H
#define INTERVENE_TEMPLATE_ISSUE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "util/err.h"

#define ISSUE_NAME_MAX 64
/* Larger template files are refused (ERR_TOOLARGE). */
#define ISSUE_TEMPLATE_MAX (256 * 1024)

/* A rendered issue. Every string is malloc'd and owned by the struct; release with
 * issue_doc_clear. Strings are never NULL after a successful render; the arrays are
 * NULL when empty. */
struct issue_doc {
	char *title; /* one line, never empty (falls back to the summary, then "Incident #<id>") */
	char **labels; /* template labels, then "intervene", "intervene-<id>" */
	size_t n_labels;
	char **assignees; /* from the front matter's optional `assignees` */
	size_t n_assignees;
	char *body; /* Markdown, ends with the footer and one '\n' */
};

/* Called once per tag that resolved to a missing value or to null, "", false or an
 * empty list (title, labels and body alike; the same name may come several times).
 * name is the tag as written, e.g. "details.evidence"; valid during the call only. */
typedef void (*issue_missing_fn)(const char *name, void *arg);

/* Whether name is a valid template name: 1..ISSUE_NAME_MAX bytes of [a-z0-9_]. */
bool issue_template_name_valid(const char *name);

/* The template for an incident kind: invariant → "invariant_failure", budget →
 * "budget_exceeded", planner → "planner_regression", anything else (NULL too) →
 * "generic_incident". A static string. */
const char *issue_template_for_kind(const char *kind);

/* The built-in template names, NULL-terminated, in a fixed order. Static. */
const char *const *issue_builtin_names(void);

/* Find template `name`: `<templates_dir>/<name>.md` when templates_dir is neither NULL
 * nor empty and that file exists, else the built-in. On success *text is a malloc'd
 * NUL-terminated copy and *origin (when origin is not NULL) a malloc'd description of
 * where it came from (the file's path, or "builtin:<name>.md"); the caller frees both.
 * Errors: ERR_INVALID (bad name), ERR_NOTFOUND (neither file nor built-in), ERR_IO
 * (the file exists but cannot be read), ERR_TOOLARGE (file over ISSUE_TEMPLATE_MAX). */
int issue_template_load(const char *name, const char *templates_dir, char **text, char **origin,
			struct err *e);

/* Build the render context of an incident: a deep copy of incident plus `public_url`
 * (trailing '/' removed), `incident_url` and `derived` (which replaces any `derived`
 * key of the incident). Each object of `details.metrics` gets its own `derived` object
 * (per-metric values) as well. incident must be an object with an integer `id` >= 1
 * and string `kind` and `key`; public_url may be NULL (then ""). On success *out is a
 * new reference. Errors: ERR_INVALID naming the offending field. */
int issue_context(const json_t *incident, const char *public_url, json_t **out, struct err *e);

/* Render template text (front matter + body) for incident. origin names the template
 * in error messages, which read "<origin>:<line>:<column>: <problem>" with the line and
 * column in the template file. missing may be NULL. On success *out is filled (clear it
 * with issue_doc_clear); on failure *out is left empty.
 * Errors: ERR_INVALID (bad incident, no front matter, YAML that is not the expected
 * mapping, a Mustache syntax error), ERR_TOOLARGE (a rendering over the renderer's
 * output limit), ERR_NOMEM. */
int issue_render_text(const char *text, size_t len, const char *origin, const json_t *incident,
		      const char *public_url, issue_missing_fn missing, void *missing_arg,
		      struct issue_doc *out, struct err *e);

/* issue_template_load + issue_render_text. template_name NULL chooses by the incident's
 * kind (issue_template_for_kind). Errors: those of both. */
int issue_render(const char *template_name, const char *templates_dir, const json_t *incident,
		 const char *public_url, issue_missing_fn missing, void *missing_arg,
		 struct issue_doc *out, struct err *e);

/* Free everything d holds and zero it. NULL and an already cleared doc are fine. */
void issue_doc_clear(struct issue_doc *d);

#endif
