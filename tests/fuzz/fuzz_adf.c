/* fuzz_adf.c — libFuzzer target for the Markdown → ADF converter (src/tracker/adf.h).
 *
 * Any bytes are Markdown: the conversion must not crash, leak or trip the sanitizers;
 * it either succeeds with a document that passes adf_check, or refuses the input as
 * too large or too deep (ERR_TOOLARGE). Anything else aborts, so libFuzzer keeps the
 * input. The schema side (full.json) is checked over a corpus afterwards by
 * tests/fuzz/validate_adf_outputs.py.
 *
 *   ./build-fuzz/tests/fuzz/fuzz_adf -max_total_time=60 CORPUS_DIR tests/golden/adf */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <cmark-gfm-core-extensions.h>

#include "tracker/adf.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	cmark_gfm_core_extensions_ensure_registered();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t *doc = NULL;
	struct err e;
	err_clear(&e);
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
