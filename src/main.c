/* main.c — process-wide initialisation, then the command line. */
#include <cmark-gfm-core-extensions.h>
#include <curl/curl.h>
#include <event2/thread.h>
#include <jansson.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>

#include "cli/cli.h"

int main(int argc, char **argv)
{
	/* bufferevents write with writev without MSG_NOSIGNAL: a closed peer must not kill
	 * us. A write past RLIMIT_FSIZE must fail with EFBIG (the store answers 503)
	 * rather than kill the process with SIGXFSZ. */
	signal(SIGPIPE, SIG_IGN);
	signal(SIGXFSZ, SIG_IGN);
	/* Once, before any thread: jansson's hash seed, libsodium, libcurl, libevent locking. */
	json_object_seed(0);
	if (sodium_init() < 0) {
		fputs("intervene: libsodium failed to initialise\n", stderr);
		return 1;
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		fputs("intervene: libcurl failed to initialise\n", stderr);
		return 1;
	}
	/* cmark-gfm's extension registry is global and filled without a lock: register the
	 * GFM extensions (tables, task lists...) once, before any thread converts Markdown
	 * to ADF (tracker/adf.h). */
	cmark_gfm_core_extensions_ensure_registered();
	if (evthread_use_pthreads() != 0) {
		fputs("intervene: libevent has no pthreads support\n", stderr);
		curl_global_cleanup();
		return 1;
	}
	int code = cli_main(argc, argv);
	curl_global_cleanup();
	return code;
}
