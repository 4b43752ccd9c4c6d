/* fuzz_mustache.c — libFuzzer target for the Mustache renderer (src/template/mustache.h).
 *
 * Input: a template, then optionally a NUL byte and a JSON context. When the JSON does not
 * parse, a fixed context with every kind of value is used instead. Partials: the names
 * "self" (the template itself) and those of the context's "partials" object, if any.
 * Each input is rendered in the three escape modes. Besides crashes, leaks and undefined
 * behaviour, it checks that an error leaves the output untouched, that malformed
 * templates fail the same way in every mode, and that Markdown mode never lets a value
 * spell a comment delimiter when the template text has none.
 *
 *   CC=clang meson setup build-fuzz -Dfuzz=true -Db_lundef=false
 *   ninja -C build-fuzz && ./build-fuzz/tests/fuzz/fuzz_mustache tests/fuzz/corpus/mustache */
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "template/mustache.h"
#include "util/buf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char fallback_ctx[] =
	"{\"s\": \"a <b> & 'c' \\\"d\\\" @e <!-- f --> g\", \"e\": \"\", \"n\": null, \"t\": true,"
	" \"f\": false, \"i\": 42, \"r\": 1.25, \"z\": 0, \"l\": [1, \"two\", {\"s\": \"x\"}, [3]],"
	" \"o\": {\"s\": \"inner\", \"l\": [], \"o\": {\"deep\": \"@deep\"}}, \"name\": \"self\","
	" \"partials\": {\"p\": \"[{{s}}]\", \"q\": \"{{#l}}({{.}}){{/l}}\","
	" \"b\": \"({{$x}}dflt{{/x}})\"}}";

struct fuzz_partials {
	const char *self;
	const json_t *obj;
};

static const char *partial(const char *name, void *arg)
{
	const struct fuzz_partials *p = arg;
	if (!strcmp(name, "self"))
		return p->self;
	return json_string_value(json_object_get(json_object_get(p->obj, "partials"), name));
}

static void missing(const char *name, void *arg)
{
	(void)name;
	(*(size_t *)arg)++;
}

static bool has_comment_delimiter(const char *s, size_t n)
{
	for (size_t i = 0; i + 3 <= n; i++)
		if ((i + 4 <= n && !memcmp(s + i, "<!--", 4)) || !memcmp(s + i, "-->", 3))
			return true;
	return false;
}

/* False when a template's own text cannot take part in "<!--" or "-->" (none of the
 * bytes '<', '!', '-', '>') and it cannot insert a value verbatim (no '&', no "{{{", no
 * delimiter change). Kept simple: such bytes anywhere disable the check. */
static bool may_spell(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (strchr("<!->&=", s[i]) ||
		    (s[i] == '{' && i + 2 < n && s[i + 1] == '{' && s[i + 2] == '{'))
			return true;
	return false;
}

/* The check applies when neither the template nor any partial may spell a delimiter. */
static bool markdown_checkable(const char *tmpl, size_t tlen, const json_t *ctx)
{
	if (may_spell(tmpl, tlen))
		return false;
	const char *k;
	const json_t *v;
	json_object_foreach((json_t *)json_object_get(ctx, "partials"), k, v)
	{
		(void)k;
		if (!json_is_string(v) || may_spell(json_string_value(v), json_string_length(v)))
			return false;
	}
	return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *in = (const char *)data;
	const char *nul = memchr(in, '\0', size);
	size_t tlen = nul ? (size_t)(nul - in) : size;
	char *tmpl = malloc(tlen + 1);
	if (!tmpl)
		return 0;
	memcpy(tmpl, in, tlen);
	tmpl[tlen] = '\0';

	json_t *ctx = NULL;
	if (nul)
		ctx = json_loadb(nul + 1, size - tlen - 1, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES,
				 NULL);
	if (!ctx)
		ctx = json_loads(fallback_ctx, 0, NULL);
	if (!ctx)
		abort();

	struct fuzz_partials fp = {tmpl, ctx};
	size_t nmissing = 0;
	int rcs[3];
	static const enum mustache_escape modes[3] = {
		MUSTACHE_ESCAPE_HTML, MUSTACHE_ESCAPE_MARKDOWN, MUSTACHE_ESCAPE_NONE};
	for (int m = 0; m < 3; m++) {
		struct mustache_opts o = {.escape = modes[m],
					  .partial = partial,
					  .partial_arg = &fp,
					  .missing = missing,
					  .missing_arg = &nmissing};
		struct buf out = BUF_INIT;
		buf_puts(&out, "pre");
		struct err e;
		err_clear(&e);
		rcs[m] = mustache_render(tmpl, tlen, ctx, &o, &out, &e);
		if (rcs[m] && (out.len != 3 || memcmp(out.data, "pre", 4) != 0 || !e.msg[0]))
			abort(); /* an error must leave out as it was, and say why */
		if (!rcs[m] && modes[m] == MUSTACHE_ESCAPE_MARKDOWN &&
		    markdown_checkable(tmpl, tlen, ctx) && has_comment_delimiter(out.data, out.len))
			abort(); /* a value spelled "<!--" or "-->" */
		buf_free(&out);
	}
	/* parse errors and depth errors do not depend on the mode */
	if (rcs[0] != ERR_TOOLARGE && rcs[1] != ERR_TOOLARGE && rcs[2] != ERR_TOOLARGE &&
	    (rcs[0] != rcs[1] || rcs[1] != rcs[2]))
		abort();
	(void)nmissing;
	/* a template that does not parse cannot render */
	struct err e;
	if (mustache_check(tmpl, tlen, &e) == ERR_INVALID && rcs[0] != ERR_INVALID)
		abort();

	json_decref(ctx);
	free(tmpl);
	return 0;
}
