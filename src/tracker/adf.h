/* adf.h — Markdown (GitHub-flavoured) to Atlassian Document Format, for Jira.
 *
 * Jira Cloud takes issue descriptions and comments as ADF, a JSON tree. The tracker
 * renders its templates to Markdown (what GitHub and GitLab take as is) and converts
 * that text here with cmark-gfm (tables, strikethrough, autolinks and task lists
 * attached to every parser). The result validates against the ADF JSON schema in
 * ../shared/conformance/adf/full.json; adf_check enforces the structural subset of it
 * that this converter emits (DESIGN §5).
 *
 * Mapping, and what ADF cannot say:
 *   headings 1–6, paragraphs; marks strong/em/strike/code and link (`code` only ever
 *   with `link`: emphasis around a code span is dropped for that span); bullet and
 *   ordered lists (`attrs.order` when the list does not start at 1); GFM task items →
 *   `taskList`/`taskItem` with a deterministic UUID-shaped `localId` and state
 *   TODO/DONE (a list mixing task and plain items becomes consecutive lists); fenced
 *   and indented code → `codeBlock` (`attrs.language` = first word of the info string);
 *   tables → `table`/`tableRow`/`tableHeader`|`tableCell`, each cell one paragraph,
 *   column alignment as an `alignment` mark (center, end); block quotes; thematic
 *   breaks → `rule`; hard breaks → `hardBreak`; soft breaks → a space; images → their
 *   alt text linked to the image URL (no media without an upload); HTML blocks and
 *   inline HTML → their literal source as plain text. Links to javascript:, vbscript:,
 *   file: and data: URLs keep their text and lose the link.
 *   Where ADF forbids a node, its content is kept in a weaker form: a heading, rule or
 *   table inside a quote or list item becomes a paragraph (headings bold, rules as
 *   "---", table rows as "a | b" lines); a quote inside a quote or list item is
 *   unwrapped; a task list inside a quote becomes a plain list with "[ ] " / "[x] "
 *   prefixes (cmark-gfm 0.29 leaves such items as that text anyway); blocks inside a
 *   task item other than nested task lists are folded into the item's text with hard
 *   breaks (plain sub-items as "• x" or "N. x"). Every list item starts with a
 *   paragraph (an empty one is inserted when needed), no text node is empty, and
 *   every content array the schema requires to be non-empty is.
 *
 * Threads: call cmark_gfm_core_extensions_ensure_registered() once (main() does it,
 * before any thread starts; it is not thread-safe). After that both functions are
 * reentrant and may run on any thread; they keep no state between calls.
 * Memory: cmark-gfm aborts the process when an allocation fails (its allocator does);
 * jansson allocation failures are reported as ERR_NOMEM. The limits below hold the
 * tree to about 1.2 million JSON values (ADF_MAX_INPUT bytes of alternating or nested
 * lists, or ADF_MAX_TABLE_CELLS cells: some 300 MB and 0.7 s at peak, measured). Link
 * URLs are not bounded: each text run under a link carries its own copy of the URL, and
 * cmark-gfm 0.29 copies a reference definition's URL into every link that uses it, so a
 * text of long URLs used many times costs far more. */
#ifndef INTERVENE_TRACKER_ADF_H
#define INTERVENE_TRACKER_ADF_H

#include <jansson.h>
#include <stddef.h>

#include "util/err.h"

/* Largest Markdown input accepted, in bytes. */
#define ADF_MAX_INPUT (256u * 1024u)
/* Deepest nesting accepted, in levels: each block quote, each list item (one per list
 * level) and each inline span that holds other inlines (emphasis, strong,
 * strikethrough, link, image) is one, counted together along any path down the
 * document; lists, paragraphs, headings and tables add none. So 64 nested list levels
 * convert and 65 do not; 63 with an emphasis inside convert, and with two do not. */
#define ADF_MAX_DEPTH 64u
/* Bound on the cells of all tables together, header cells and the empty cells GFM pads
 * short rows with included: a wide header over many short lines would otherwise
 * multiply a 14 KB text into 5 million cells. Checked on the text before parsing, by a
 * count that follows cmark-gfm 0.29's rules for line ends ("\n", "\r", "\r\n"),
 * delimiter rows and where tables end, and is never below the cells cmark-gfm builds.
 * A table with blank lines (or the start or end of the text) around it is counted
 * exactly: one of 65536 cells converts, one row more does not. Lines that follow a
 * table with no blank line between, or that look like a delimiter row, are counted as
 * rows too, so such a text may be refused with fewer real cells. The fuzz build
 * (tests/fuzz) lowers the bound to look for inputs that get past the count. */
#ifndef ADF_MAX_TABLE_CELLS
#define ADF_MAX_TABLE_CELLS 65536u
#endif

/* Convert len bytes of Markdown at md (need not be NUL-terminated; invalid UTF-8 and
 * NUL bytes become U+FFFD; md may be NULL when len is 0) into an ADF document
 * {"version": 1, "type": "doc", "content": [...]}. Empty or blank input gives an
 * empty content array.
 * On success returns 0 and stores a new reference in *out (the caller owns it and
 * json_decref()s it). On failure *out is NULL and e says why:
 *   ERR_INVALID   md is NULL with len > 0, or out is NULL;
 *   ERR_TOOLARGE  len > ADF_MAX_INPUT, nesting deeper than ADF_MAX_DEPTH ("nested
 *                 deeper than 64 levels"), or tables that could make more than
 *                 ADF_MAX_TABLE_CELLS cells ("could make more than ... table
 *                 cells"), the last two checked before any ADF is built;
 *   ERR_NOMEM     jansson could not allocate;
 *   ERR_INTERNAL  the GFM extensions are not registered, or (a bug) the result fails
 *                 adf_check, which every conversion runs before returning. */
int adf_from_markdown(const char *md, size_t len, json_t **out, struct err *e);

/* Check that doc is an ADF document of the shape this converter emits: only the node
 * types and marks listed above, no unknown keys, attributes of the right type and
 * range, text nodes non-empty, code marks combined only with link and no mark twice,
 * list items starting with a paragraph and holding only paragraph, list and code
 * nodes, block quotes holding only paragraphs, lists and code, task lists starting
 * with a task item and carrying localId/state, table rows and cells non-empty, and no
 * content array empty where the schema requires an item. Any JSON value is accepted
 * as input (NULL too); nothing is modified.
 * Returns 0 when valid; ERR_INVALID with a message naming the JSON path of the first
 * offending node otherwise (also for trees nested deeper than a few hundred levels). */
int adf_check(const json_t *doc, struct err *e);

#endif
