/* fuzz_adf.c — libFuzzer target for the Markdown → ADF converter (src/tracker/adf.h).
 *
 * Any bytes are Markdown: the conversion must not crash, leak or trip the sanitizers;
 * it either succeeds with a document that passes adf_check, or refuses the input as
 * too large or too deep (ERR_TOOLARGE). Anything else aborts, so libFuzzer keeps the
 * input. The schema side (full.json) is checked over a corpus afterwards by
 * tests/fuzz/validate_adf_outputs.py.
 *
 * The table-cell bound is counted on the text before parsing, by rules that must never
 * come out below what cmark-gfm builds. A copy of the converter built with a bound of
 * ADF_SMALL_TABLE_CELLS (meson.build) checks that: whatever it accepts, cmark-gfm must
 * make no more cells of.
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
/* adf_from_markdown of the copy with the small bound */
int adf_small_from_markdown(const char *md, size_t len, json_t **out, struct err *e);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	cmark_gfm_core_extensions_ensure_registered();
	return 0;
}

/* The table cells cmark-gfm builds from md, parsed as the converter parses it. */
static size_t cmark_table_cells(const char *md, size_t len)
{
	static const char *const extensions[] = {"table", "strikethrough", "autolink", "tasklist"};
	cmark_parser *parser = cmark_parser_new(CMARK_OPT_VALIDATE_UTF8);
	for (size_t i = 0; i < sizeof extensions / sizeof extensions[0]; i++)
		cmark_parser_attach_syntax_extension(parser,
						     cmark_find_syntax_extension(extensions[i]));
	cmark_parser_feed(parser, md, len);
	cmark_node *root = cmark_parser_finish(parser);
	cmark_iter *it = cmark_iter_new(root);
	size_t cells = 0;
	cmark_event_type ev;
	while ((ev = cmark_iter_next(it)) != CMARK_EVENT_DONE)
		if (ev == CMARK_EVENT_ENTER &&
		    !strcmp(cmark_node_get_type_string(cmark_iter_get_node(it)), "table_cell"))
			cells++;
	cmark_iter_free(it);
	cmark_node_free(root);
	cmark_parser_free(parser);
	return cells;
}

static void check_table_bound(const char *md, size_t len)
{
	json_t *doc = NULL;
	struct err e;
	err_clear(&e);
	int rc = adf_small_from_markdown(md, len, &doc, &e);
	json_decref(doc);
	if (rc)
		return; /* refused (or failed, which the real converter reports below) */
	size_t cells = cmark_table_cells(md, len);
	if (cells > ADF_SMALL_TABLE_CELLS) {
		fprintf(stderr, "fuzz_adf: %zu table cells got past a bound of %u\n", cells,
			ADF_SMALL_TABLE_CELLS);
		abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t *doc = NULL;
	struct err e;
	err_clear(&e);
	check_table_bound((const char *)data, size);
	int rc = adf_from_markdown((const char *)data, size, &doc, &e);
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
	free(text);
	json_decref(doc);
	return 0;
}
