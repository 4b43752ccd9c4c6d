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
 *   ADF puts a link mark on every text run under a link (each change of emphasis starts
 *   a run); the marks of one link's runs share one "href" JSON string (the same json_t),
 *   so a caller that changes an href in place (json_string_set) changes it for the whole
 *   link: json_deep_copy the document first.
 *
 * Threads: call cmark_gfm_core_extensions_ensure_registered() once (main() does it,
 * before any thread starts; it is not thread-safe). After that both functions are
 * reentrant and may run on any thread; they keep no state between calls.
 * Memory and time: cmark-gfm aborts the process when an allocation fails (its allocator
 * does); jansson allocation failures are reported as ERR_NOMEM. With the limits below,
 * no input costs more than about 450 MB at peak and 1 s of CPU (measured on x86-64 with
 * cmark-gfm 0.29.0.gfm.6 and jansson 2.14, -O2). What costs most is a number of nodes
 * and JSON values in proportion to the input: ADF_MAX_INPUT bytes of alternating empty
 * list items ("-\n+\n": 285 MB, 0.53 s), of one-letter emphasis runs under one link
 * (255 MB, 0.51 s), 65 000 links to one 250-byte reference (208 MB, 0.42 s); a table of
 * ADF_MAX_TABLE_CELLS centred cells takes 158 MB and 0.28 s from 2 KB; cmark-gfm alone
 * takes 0.46 s over a one-column table of rows of pipes. Such a table, references at
 * their bound and list items in the rest of the input add up to the peak above (448 MB,
 * 1.0 s, refused by ADF_MAX_OUTPUT once built). What the text could make cmark-gfm or
 * the converter copy over and over is bounded so that it adds little:
 *   - every text run under a link carries the link's URL; the runs share one string, so
 *     a long URL is held once in memory, but the JSON text repeats it for each run. So
 *     the output is bounded (ADF_MAX_OUTPUT): 132 KB of such runs made 2.3 GB of JSON
 *     (2.2 GB and 2.8 s to build) before; now they are refused in 0.3 s and 70 MB;
 *   - cmark-gfm copies a reference definition's URL and title into every link that uses
 *     it: ADF_MAX_REF_BYTES. 80 KB of uses took 270 MB before (960 MB with empty link
 *     texts, which the converter also copies), and are refused before parsing now.
 * The limits on input size, table cells and references are checked on the text before
 * parsing and cost well under a millisecond to refuse; nesting is checked on the parsed
 * tree and the output on the built document, both within the budget above. */
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
/* Bound on the URL and title bytes that reference links can make cmark-gfm copy (each
 * link using a definition gets its own copy): uses × the most one definition can hold,
 * counted on the text before parsing by rules that follow cmark-gfm 0.29 (adf.c) and are
 * never below what it copies. Every "]" counts as a use (each link ends at one). A
 * definition is "[label]:" at the start of a line, after container markers, and holds
 * the bytes after its ":" as far as its URL and title can reach: to the end of the
 * third line, or further to where a title opened in those lines can close, or, with a
 * "<" in them (a URL in <> can go on over lines), to the end of its paragraph. Bytes
 * that cmark-gfm can turn into more count so: invalid UTF-8, NUL and tab 3, "&" 2.
 * A definition line, a blank line and N uses of it count (N + 1) × (URL + 2): 255 uses
 * of a 65534-byte URL convert, 256 do not; a block of definitions at the end of a
 * document costs its longest one. Lines that look like definitions count too. At the
 * bound cmark-gfm copies 16 MiB and the converter holds one string per link (and the
 * URL again as the text of an empty link). The fuzz build (tests/fuzz) lowers it. */
#ifndef ADF_MAX_REF_BYTES
#define ADF_MAX_REF_BYTES (16u * 1024u * 1024u)
#endif
/* Bound on the document returned: its compact JSON (json_dumps(doc, JSON_COMPACT) as
 * jansson writes it; sorting keys does not change the length) is at most this many bytes.
 * Only a link's URL repeated on many text runs comes near it: the most any input without
 * links makes is about 22 MB (13 MB of alternating list items and 8 MB of centred table
 * cells). Measured by serialising the built document, stopping once past the bound
 * (0.15 s at the bound). */
#define ADF_MAX_OUTPUT (32u * 1024u * 1024u)

/* Convert len bytes of Markdown at md (need not be NUL-terminated; invalid UTF-8 and
 * NUL bytes become U+FFFD; md may be NULL when len is 0) into an ADF document
 * {"version": 1, "type": "doc", "content": [...]}. Empty or blank input gives an
 * empty content array.
 * On success returns 0 and stores a new reference in *out (the caller owns it and
 * json_decref()s it). On failure *out is NULL and e says why:
 *   ERR_INVALID   md is NULL with len > 0, or out is NULL;
 *   ERR_TOOLARGE  len > ADF_MAX_INPUT, tables that could make more than
 *                 ADF_MAX_TABLE_CELLS cells ("could make more than ... table cells"),
 *                 reference links that could copy more than ADF_MAX_REF_BYTES ("reference
 *                 links could copy more than ... bytes of link targets"), all three
 *                 checked before parsing; nesting deeper than ADF_MAX_DEPTH ("nested
 *                 deeper than 64 levels"), checked before any ADF is built; or ADF of
 *                 more than ADF_MAX_OUTPUT bytes ("would be more than ... bytes");
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
