/* fuzz_adf.c — libFuzzer target for the Markdown → ADF converter (src/tracker/adf.h).
 *
 * Any bytes are Markdown: the conversion must not crash, leak or trip the sanitizers;
 * it either succeeds with a document that passes adf_check, or refuses the input as
 * too large or too deep (ERR_TOOLARGE). Anything else aborts, so libFuzzer keeps the
 * input. The schema side (full.json) is checked over a corpus afterwards by
 * tests/fuzz/validate_adf_outputs.py.
 *
 * The table-cell and reference bounds are counted on the text before parsing, by rules
 * that must never come out below what cmark-gfm builds. A copy of the converter built
 * with small bounds (ADF_SMALL_TABLE_CELLS cells, ADF_SMALL_REF_BYTES bytes; meson.build)
 * checks that: whatever it accepts, cmark-gfm must make no more cells, and copy no more
 * URL and title bytes into links than that bound plus what the text itself can hold
 * (NON_REF_BYTES: inline links and autolinks take theirs from their own source).
 *
 * On what the real converter returns: the compact JSON is within ADF_MAX_OUTPUT; the
 * runs of a link share one href string (the distinct href strings hold no more bytes
 * than the URLs of cmark's links); and the output is within OUT_FIXED, plus OUT_PER_BYTE
 * bytes per input byte and OUT_PER_CELL per table cell, plus what link URLs repeated on
 * text runs and copied into text (empty links show their URL) cost, JSON-escaped. The
 * largest ratios measured are about 50 per byte (alternating empty list items,
 * "-\n+\n") and 130 per cell (centred empty cells): an input past them is a new way to
 * amplify.
 *
 *   ./build-fuzz/tests/fuzz/fuzz_adf -max_total_time=60 -dict=tests/fuzz/adf.dict \
 *       CORPUS_DIR tests/fuzz/corpus/adf */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmark-gfm-core-extensions.h>
#include <cmark-gfm-extension_api.h>
#include <cmark-gfm.h>

#include "tracker/adf.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
/* adf_from_markdown of the copy with the small bounds */
int adf_small_from_markdown(const char *md, size_t len, json_t **out, struct err *e);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	cmark_gfm_core_extensions_ensure_registered();
	return 0;
}

#define NON_REF_BYTES(len) (4 * (uint64_t)(len) + 16)
#define OUT_PER_BYTE	   64u
#define OUT_FIXED	   256u /* the document around it, a last list item without its newline */
#define OUT_PER_CELL	   192u
#define JSON_ESCAPE	   6u /* "\u0001" for one byte */

/* What cmark-gfm builds from md, parsed as the converter parses it. */
struct cmark_stats {
	size_t cells;
	uint64_t url_bytes;  /* URLs of links and images */
	uint64_t link_bytes; /* URLs and titles of links and images */
};

static void cmark_stats(const char *md, size_t len, struct cmark_stats *st)
{
	static const char *const extensions[] = {"table", "strikethrough", "autolink", "tasklist"};
	cmark_parser *parser = cmark_parser_new(CMARK_OPT_VALIDATE_UTF8);
	for (size_t i = 0; i < sizeof extensions / sizeof extensions[0]; i++)
		cmark_parser_attach_syntax_extension(parser,
						     cmark_find_syntax_extension(extensions[i]));
	cmark_parser_feed(parser, md, len);
	cmark_node *root = cmark_parser_finish(parser);
	cmark_iter *it = cmark_iter_new(root);
	*st = (struct cmark_stats){0, 0, 0};
	cmark_event_type ev;
	while ((ev = cmark_iter_next(it)) != CMARK_EVENT_DONE) {
		cmark_node *n = cmark_iter_get_node(it);
		if (ev != CMARK_EVENT_ENTER)
			continue;
		if (!strcmp(cmark_node_get_type_string(n), "table_cell"))
			st->cells++;
		if (cmark_node_get_type(n) == CMARK_NODE_LINK ||
		    cmark_node_get_type(n) == CMARK_NODE_IMAGE) {
			const char *u = cmark_node_get_url(n), *t = cmark_node_get_title(n);
			size_t url = u ? strlen(u) : 0, title = t ? strlen(t) : 0;
			st->url_bytes += url;
			st->link_bytes += url + title;
		}
	}
	cmark_iter_free(it);
	cmark_node_free(root);
	cmark_parser_free(parser);
}

static void check_bounds(const char *md, size_t len, const struct cmark_stats *st)
{
	json_t *doc = NULL;
	struct err e;
	err_clear(&e);
	int rc = adf_small_from_markdown(md, len, &doc, &e);
	json_decref(doc);
	if (rc)
		return; /* refused (or failed, which the real converter reports below) */
	if (st->cells > ADF_SMALL_TABLE_CELLS) {
		fprintf(stderr, "fuzz_adf: %zu table cells got past a bound of %u\n", st->cells,
			ADF_SMALL_TABLE_CELLS);
		abort();
	}
	if (st->link_bytes > ADF_SMALL_REF_BYTES + NON_REF_BYTES(len)) {
		fprintf(stderr,
			"fuzz_adf: links hold %llu URL and title bytes, past a reference bound of "
			"%u and %llu bytes of text\n",
			(unsigned long long)st->link_bytes, ADF_SMALL_REF_BYTES,
			(unsigned long long)NON_REF_BYTES(len));
		abort();
	}
}

/* Bytes of the href strings of doc, each distinct string once (the runs of a link come
 * one after another, so comparing with the last one seen is enough), and the bytes of
 * hrefs summed over every text node that carries one. */
struct hrefs {
	const json_t *last;
	uint64_t distinct, per_run;
};

static void walk_hrefs(const json_t *node, struct hrefs *h)
{
	const json_t *marks = json_object_get(node, "marks");
	for (size_t i = 0; i < json_array_size(marks); i++) {
		const json_t *href =
			json_object_get(json_object_get(json_array_get(marks, i), "attrs"), "href");
		if (!href)
			continue;
		if (href != h->last)
			h->distinct += json_string_length(href);
		h->last = href;
		h->per_run += json_string_length(href);
	}
	const json_t *content = json_object_get(node, "content");
	for (size_t i = 0; i < json_array_size(content); i++)
		walk_hrefs(json_array_get(content, i), h);
}

static void check_output(const json_t *doc, size_t out_len, size_t len,
			 const struct cmark_stats *st)
{
	struct hrefs h = {NULL, 0, 0};
	walk_hrefs(doc, &h);
	if (out_len > ADF_MAX_OUTPUT) {
		fprintf(stderr, "fuzz_adf: %zu bytes of output, more than ADF_MAX_OUTPUT\n",
			out_len);
		abort();
	}
	if (h.distinct > st->url_bytes) {
		fprintf(stderr,
			"fuzz_adf: href strings hold %llu bytes, cmark's link URLs only %llu: "
			"some link's runs do not share its target\n",
			(unsigned long long)h.distinct, (unsigned long long)st->url_bytes);
		abort();
	}
	uint64_t ceiling = OUT_FIXED + (uint64_t)OUT_PER_BYTE * len +
			   (uint64_t)OUT_PER_CELL * st->cells +
			   JSON_ESCAPE * (h.per_run + st->link_bytes);
	if (out_len > ceiling) {
		fprintf(stderr,
			"fuzz_adf: %zu bytes of output from %zu bytes and %zu cells, more than "
			"%llu\n",
			out_len, len, st->cells, (unsigned long long)ceiling);
		abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *md = (const char *)data;
	json_t *doc = NULL;
	struct err e;
	err_clear(&e);
	struct cmark_stats st;
	cmark_stats(md, size, &st);
	check_bounds(md, size, &st);
	int rc = adf_from_markdown(md, size, &doc, &e);
	if (rc == ERR_TOOLARGE && !doc)
		return 0;
	if (rc || !doc) {
		fprintf(stderr, "fuzz_adf: conversion failed (%d): %s\n", rc, e.msg);
		abort();
	}
	if (adf_check(doc, &e)) {
		fprintf(stderr, "fuzz_adf: output fails adf_check: %s\n", e.msg);
		abort();
	}
	/* the text must be serialisable (valid UTF-8 everywhere) */
	char *text = json_dumps(doc, JSON_COMPACT);
	if (!text) {
		fprintf(stderr, "fuzz_adf: output does not serialise\n");
		abort();
	}
	check_output(doc, strlen(text), size, &st);
	free(text);
	json_decref(doc);
	return 0;
}
