/* mustache.h — the Mustache template renderer (SPEC §7).
 *
 * Conforms to the official Mustache specification: interpolation, sections, inverted
 * sections, comments, partials, set delimiters, and the optional dynamic names
 * (`{{>*name}}`, `{{<*name}}`) and inheritance (`{{<parent}}`, `{{$block}}`) modules;
 * lambdas are out of scope. The conformance files in ../shared/conformance/mustache/ are
 * the test (tests/unit/test_mustache.c).
 *
 * Data is any jansson value. Choices where the specification leaves room:
 *   - Falsey for sections: a missing name, null, false, "" and []. Everything else
 *     (0, {}, other strings and numbers) is truthy; a truthy non-list is pushed onto
 *     the context stack once, a list renders once per element.
 *   - Interpolated text: strings as they are; integers in decimal; reals with the
 *     fewest significant digits (up to 17) that read back as the same double, so 1.21
 *     gives "1.21"; true/false as "true"/"false"; null and missing names as nothing;
 *     objects and arrays as compact JSON with sorted keys.
 *   - Dotted names may index arrays with a decimal segment: `{{metrics.0.name}}`.
 *   - A tag name is a non-empty run of non-whitespace bytes (padding is allowed:
 *     `{{ name }}`); the sigil must follow the opening delimiter directly. The end tag
 *     of a dynamic parent `{{<*name}}` repeats the asterisk: `{{/ *name}}`.
 *   - Indentation of a standalone partial, parent or block is prepended to each
 *     non-empty line of the included template (not to the lines of interpolated
 *     values, nor to blank lines).
 *
 * Escaping, per struct mustache_opts.escape, applies to `{{name}}` only; `{{{name}}}`
 * and `{{&name}}` always insert the value verbatim, in every mode (so a template author
 * can still mention someone on purpose).
 *
 * Thread rules: none needed — no global state; each call owns what it allocates, and
 * the callbacks run on the calling thread. */
#ifndef INTERVENE_TEMPLATE_MUSTACHE_H
#define INTERVENE_TEMPLATE_MUSTACHE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "util/buf.h"
#include "util/err.h"

/* Sections nested in one template, and templates expanded inside each other (section
 * bodies, partials, parents, block arguments), at most this deep: ERR_INVALID beyond. */
#define MUSTACHE_MAX_DEPTH 100
/* At most this many bytes appended by one render: ERR_TOOLARGE beyond. */
#define MUSTACHE_MAX_OUTPUT ((size_t)16 << 20)
/* At most this many steps (a node visited, a partial name compared) per render:
 * ERR_TOOLARGE beyond. Sections nested in sections multiply their lists' lengths, and
 * a list of empty iterations writes nothing, so the output limit alone does not bound
 * the time a render takes. An issue template over a list of a thousand rows needs a few
 * tens of thousands. */
#define MUSTACHE_MAX_STEPS ((size_t)1 << 22)
/* Custom delimiters (`{{=<% %>=}}`) at most this many bytes each. */
#define MUSTACHE_MAX_DELIMITER 16

enum mustache_escape {
	/* {{x}} escapes & < > " ' as &amp; &lt; &gt; &quot; &#39; (the spec's default). */
	MUSTACHE_ESCAPE_HTML,
	/* No HTML escaping; {{x}} values are neutralised so that they cannot change the
	 * meaning of the Markdown around them. The inserted character is U+200B ZERO WIDTH
	 * SPACE (invisible when rendered, and unlike an entity or a backslash it stays
	 * invisible inside code spans and fenced code):
	 *   - "<!--" becomes "<" U+200B "!--" and "-->" becomes "--" U+200B ">", so a value
	 *     can neither open an HTML comment (hiding the rest of the issue) nor close one
	 *     the template opened. The same holds where a value meets the text before or
	 *     after it: if the two together would spell "<!--" or "-->", U+200B goes
	 *     between them.
	 *   - An '@' that starts a word — at the start of the value, or after any byte that
	 *     is not an ASCII letter, digit or '_' — is followed by U+200B, so "@alice",
	 *     "cc @ops-team" and "(@bob)" mention nobody while "ops@example.com" is left
	 *     alone. Only values are touched: an '@' written in the template is the
	 *     author's.
	 * Other Markdown in values (emphasis, links, headings after a newline) is kept:
	 * values are Markdown. */
	MUSTACHE_ESCAPE_MARKDOWN,
	/* Nothing (for YAML front matter strings, titles). */
	MUSTACHE_ESCAPE_NONE,
};

/* Returns the text of partial `name` (NUL-terminated, owned by the callee and valid until
 * the render returns), or NULL when there is none (renders as empty, per the spec). Called
 * at most once per distinct name per render; parents (`{{<name}}`) use the same namespace. */
typedef const char *(*mustache_partial_fn)(const char *name, void *arg);

/* Called once per tag whose name resolved to a missing value, or to null/""/false/[]/{} for
 * an interpolation (for `intervene render --strict`). name is the tag's name as written
 * (without padding). Only interpolation tags are reported — never sections, inverted
 * sections or dynamic partial names. "Once per tag" means once per tag of the template
 * text in one render, however many times a surrounding section repeats it. */
typedef void (*mustache_missing_fn)(const char *name, void *arg);

struct mustache_opts {
	enum mustache_escape escape;
	mustache_partial_fn partial; /* may be NULL: no partials */
	void *partial_arg;
	mustache_missing_fn missing; /* may be NULL */
	void *missing_arg;
};

/* Render template tmpl (len bytes, UTF-8) against the JSON context data (any JSON value) and
 * append the output to out. Returns 0, or ERR_INVALID with e->msg "line L, column C: ..."
 * for a malformed template (unclosed tag/section, mismatched section end, bad delimiter
 * change, empty or blank-containing tag name, sections nested deeper than
 * MUSTACHE_MAX_DEPTH), in which case out is left as it was before the call. Lines and
 * columns count from 1, columns in characters. A malformed partial or parent gives
 * "line L, column C: partial \"name\": line l, column c: ...", where L and C place the tag
 * of tmpl that led to it. Expanding deeper than MUSTACHE_MAX_DEPTH (a partial that
 * includes itself) → ERR_INVALID, never a stack overflow; more than MUSTACHE_MAX_OUTPUT
 * bytes of output or MUSTACHE_MAX_STEPS steps → ERR_TOOLARGE; out is left as it was in
 * all these cases too. opts may be
 * NULL (HTML escaping, no partials); e may be NULL. Any thread; no global state. */
int mustache_render(const char *tmpl, size_t len, const json_t *data,
		    const struct mustache_opts *opts, struct buf *out, struct err *e);

/* Check that tmpl (len bytes) is a well-formed template, without rendering it (partials
 * are not looked at). Returns 0 or ERR_INVALID with the same messages as mustache_render.
 * For checking an override file when it is loaded. Any thread. */
int mustache_check(const char *tmpl, size_t len, struct err *e);

#endif
