/* subprocess.h — run one program to completion: argv only (no shell), a chosen
 * environment, its own process group, dies with the thread that started it, a timeout,
 * cancel, and its output captured (stdout and stderr merged) with the tail kept.
 *
 * This is how the playbook executor runs dbt (DESIGN.md §5 "exec (dbt)").
 *
 * Threads: subprocess_run blocks the calling thread until the program has ended and its
 * process group has been sent SIGKILL; on_output runs on that thread. Several threads may
 * run programs at once: each waits for its own pid only, never for "any child", so other
 * children of the process are left alone. Between the server and the program runs a
 * guard, a fork of the server that does nothing else: the program gets SIGKILL when the
 * guard dies (parent-death signal), and the guard, told by its own parent-death signal
 * when the thread that called subprocess_run ends — the server died, or that thread
 * exited —, kills the program's whole process group, grandchildren included (the
 * parent-death signal is not inherited across fork). Call it from a long-lived thread.
 * The guard also kills what is left of the group when the program ends, and exits as
 * the program did. The process must not ignore SIGCHLD (that
 * makes the kernel reap children before their status can be read); blocking it, as
 * thread_block_signals does, is fine.
 *
 * The child starts with: stdin from /dev/null, stdout and stderr on one pipe, no other
 * file descriptor, an empty signal mask, every signal at its default action (SIGPIPE
 * included, which the server ignores), its own process group (pgid == pid), cwd and
 * envp as given. A program that leaves its process group (setsid, setpgid) escapes the
 * final SIGKILL; dbt and its workers do not. */
#ifndef INTERVENE_EXEC_SUBPROCESS_H
#define INTERVENE_EXEC_SUBPROCESS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"
#include "util/err.h"

/* The defaults a zero field of struct subprocess_spec stands for. */
#define SUBPROCESS_DEFAULT_PATH	 "/usr/local/bin:/usr/bin:/bin"
#define SUBPROCESS_DEFAULT_GRACE 5000
#define SUBPROCESS_DEFAULT_LOG	 ((size_t)1 << 20)

/* What to run. Read only; everything it points to must stay valid during the run. */
struct subprocess_spec {
	/* NULL-terminated, passed verbatim. argv[0] is a path when it contains '/' (a
	 * relative one is relative to cwd, as the child sees it), else a name searched in
	 * path_env. */
	const char *const *argv;
	/* The PATH used to find argv[0] when it has no '/' — the server's own, not the
	 * child's. Only absolute entries are searched; the first regular file there that
	 * is executable wins. NULL → SUBPROCESS_DEFAULT_PATH. */
	const char *path_env;
	/* The child's working directory; NULL inherits the server's. */
	const char *cwd;
	/* The child's whole environment, NULL-terminated; NULL means an empty one. */
	const char *const *envp;
	/* Milliseconds from the start until the run is stopped (timed_out); 0 (or less)
	 * = none. */
	int64_t timeout_ms;
	/* On timeout or cancel the process group gets SIGTERM, then SIGKILL this many
	 * milliseconds later if the program has not ended; 0 (or less) →
	 * SUBPROCESS_DEFAULT_GRACE. */
	int64_t kill_grace_ms;
	/* Bytes of output kept in result->log (the tail); 0 → SUBPROCESS_DEFAULT_LOG. At
	 * most about twice this is held in memory, whatever the program writes. */
	size_t log_cap;
	/* When it becomes true the run is stopped (cancelled); checked at least every
	 * 100 ms. May be NULL. */
	const atomic_bool *cancel;
	/* Called on the calling thread with each chunk of output as it arrives (for a
	 * live log); data is valid during the call only. May be NULL. */
	void (*on_output)(void *arg, const char *data, size_t n);
	void *arg;
};

/* How it went. */
struct subprocess_result {
	int exit_code;	     /* the exit status when it exited normally, else -1 */
	int term_signal;     /* the signal that ended it, else 0 */
	bool timed_out;	     /* stopped because timeout_ms passed */
	bool cancelled;	     /* stopped because *cancel became true */
	int64_t pid;	     /* the child's pid (also its process group id); 0 if not started */
	int64_t duration_ms; /* from start to its end (CLOCK_MONOTONIC) */
	/* The last log_cap bytes of output, as written (not necessarily text). When more
	 * was written, it starts with a line "[... N bytes of earlier output dropped ...]\n"
	 * (a UTF-8 sequence cut at the front is dropped whole, and counted in N). */
	struct buf log;
	uint64_t output_bytes; /* everything written */
};

/* Run spec to completion on the calling thread, filling *result (which it first resets;
 * its previous contents are not freed). Returns 0 when the program was started, whatever
 * its exit status (look at result), else:
 *   ERR_INVALID  argv empty or argv[0] empty; cwd missing or not a directory (the
 *                message names it). Checked before fork.
 *   ERR_NOTFOUND "<argv[0]>: command not found" (no executable of that name in
 *                path_env). Checked before fork.
 *   ERR_IO       a pipe, /dev/null or fork failed, or the child could not change to cwd
 *                or exec the program: "cannot run /x/dbt: Permission denied".
 * When it returns an error nothing is left running and result->log is empty. Either
 * way result->log belongs to the caller: subprocess_result_clear. */
int subprocess_run(const struct subprocess_spec *spec, struct subprocess_result *result,
		   struct err *e);

/* Release result->log; r is empty afterwards. NULL is allowed. */
void subprocess_result_clear(struct subprocess_result *r);

#endif
