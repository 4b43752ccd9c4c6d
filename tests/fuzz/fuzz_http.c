/* fuzz_http.c — libFuzzer target for the HTTP/1.1 request framing (src/http/parse.h).
 *
 * Any bytes are a request: the head is found and parsed, and whatever follows is fed
 * to the chunked decoder in pieces whose sizes come from the input itself. Nothing
 * may crash, leak or trip the sanitizers; a parsed head must be consistent (its
 * fields inside its own copy, Content-Length and chunked never both), and the decoder
 * must never write past its limit or consume more than it was given.
 *
 *   ./build-fuzz/tests/fuzz/fuzz_http -max_total_time=60 CORPUS_DIR */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c)                                                                                   \
	do {                                                                                       \
		if (!(c)) {                                                                        \
			fprintf(stderr, "fuzz_http: %s\n", #c);                                    \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

static bool inside(const struct http_head *h, const char *p)
{
	return p >= h->raw && p + strlen(p) <= h->raw + h->raw_len;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *in = (const char *)data;
	size_t scanned = 0;
	/* Find the end in two steps, as a connection would when bytes trickle in. */
	long end = http_head_end(in, size / 2, &scanned);
	if (end == 0)
		end = http_head_end(in, size, &scanned);
	CHECK(end <= (long)size && end <= HTTP_HEAD_MAX);
	if (end <= 0)
		return 0;
	struct http_head h;
	struct err e;
	err_clear(&e);
	int status = http_head_parse(in, (size_t)end, &h, &e);
	if (status) {
		CHECK(status >= 400 && status < 600 && h.raw == NULL && e.msg[0]);
		return 0;
	}
	CHECK(inside(&h, h.method) && inside(&h, h.target));
	CHECK(!(h.chunked && h.content_length >= 0));
	for (size_t i = 0; i < h.n_fields; i++)
		CHECK(inside(&h, h.fields[i].name) && inside(&h, h.fields[i].value));
	/* the target as a query component: never longer than its text */
	size_t tlen = strlen(h.target), dlen = 0;
	char *dec = http_decode_component(h.target, tlen, &dlen);
	CHECK(!dec || dlen <= tlen);
	free(dec);
	if (h.chunked) {
		struct http_chunked c = {0};
		struct buf out = BUF_INIT;
		size_t off = (size_t)end, max = 4096;
		unsigned step = size ? data[size - 1] % 7 + 1 : 1;
		while (off < size) {
			size_t n = size - off < step ? size - off : step, used = 0;
			int rc = http_chunked_feed(&c, in + off, n, &used, &out, max, &e);
			CHECK(used <= n && out.len <= max);
			off += used;
			if (rc)
				break;
			CHECK(used == n);
		}
		buf_free(&out);
	}
	http_head_free(&h);
	return 0;
}
