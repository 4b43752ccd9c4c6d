/* test_subprocess.c — running a program to completion (src/exec/subprocess.h).
 *
 * The programs are coreutils and /bin/sh scripts: the tests may use a shell, the module
 * never does. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "exec/subprocess.h"
#include "util/buf.h"
#include "util/err.h"
#include "util/thread.h"
#include "util/time.h"

/* In the sanitizer build, undefined behaviour fails the test instead of only being
 * printed (unused otherwise). */
const char *__ubsan_default_options(void);
const char *__ubsan_default_options(void)
{
	return "halt_on_error=1:print_stacktrace=1";
}

static const char *const no_env[] = {NULL};

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* Run spec, which must start; fails the test with the error otherwise. */
static void run_ok(const struct subprocess_spec *spec, struct subprocess_result *res)
{
	struct err e;
	err_clear(&e);
	int rc = subprocess_run(spec, res, &e);
	if (rc != 0)
		fail_msg("subprocess_run: %d %s", rc, e.msg);
}

/* Run argv with an empty environment and no other option. */
static void run_argv(const char *const *argv, struct subprocess_result *res)
{
	struct subprocess_spec spec = {.argv = argv, .envp = no_env};
	run_ok(&spec, res);
}

/* Whether pid has ended (gone, or a zombie nobody has reaped yet). */
static bool process_ended(long pid)
{
	if (kill((pid_t)pid, 0) != 0 && errno == ESRCH)
		return true;
	char path[64];
	snprintf(path, sizeof path, "/proc/%ld/stat", pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return true;
	char line[512];
	bool zombie = false;
	if (fgets(line, sizeof line, f)) {
		const char *p = strrchr(line, ')');
		zombie = p && (p[2] == 'Z' || p[2] == 'X');
	}
	fclose(f);
	return zombie;
}

/* Wait up to 2 s for pid to end (an orphan is reaped by init in its own time). */
static bool wait_ended(long pid)
{
	for (int i = 0; i < 200; i++) {
		if (process_ended(pid))
			return true;
		sleep_ms(10);
	}
	return false;
}

/* The first line of the log as a pid. */
static long log_pid(const struct subprocess_result *res)
{
	char *end;
	long pid = strtol(buf_cstr(&res->log), &end, 10);
	if (pid <= 0 || *end != '\n')
		fail_msg("expected a pid, got \"%s\"", buf_cstr(&res->log));
	return pid;
}

static void test_exit_codes(void **state)
{
	(void)state;
	struct subprocess_result res;
	const char *const ok[] = {"/bin/true", NULL};
	run_argv(ok, &res);
	assert_int_equal(res.exit_code, 0);
	assert_int_equal(res.term_signal, 0);
	assert_false(res.timed_out);
	assert_false(res.cancelled);
	assert_true(res.pid > 0);
	assert_int_equal(res.log.len, 0);
	assert_int_equal(res.output_bytes, 0);
	subprocess_result_clear(&res);

	const char *const three[] = {"/bin/sh", "-c", "echo out; echo err >&2; exit 3", NULL};
	run_argv(three, &res);
	assert_int_equal(res.exit_code, 3);
	assert_int_equal(res.term_signal, 0);
	/* stdout and stderr share one pipe, in the order written */
	assert_string_equal(buf_cstr(&res.log), "out\nerr\n");
	assert_int_equal(res.output_bytes, 8);
	subprocess_result_clear(&res);
	subprocess_result_clear(&res); /* twice is fine */
	subprocess_result_clear(NULL);
}

static void test_killed_by_signal(void **state)
{
	(void)state;
	struct subprocess_result res;
	const char *const argv[] = {"/bin/sh", "-c", "kill -USR1 $$", NULL};
	run_argv(argv, &res);
	assert_int_equal(res.exit_code, -1);
	assert_int_equal(res.term_signal, SIGUSR1);
	assert_false(res.timed_out);
	subprocess_result_clear(&res);
}

static void test_argv_verbatim(void **state)
{
	(void)state;
	struct subprocess_result res;
	const char *const argv[] = {"/usr/bin/printf",
				    "%s\\n",
				    "two words",
				    "\"double\" 'single'",
				    "$(x) `y` $HOME",
				    "; rm -rf / ; echo *",
				    "",
				    "back\\slash",
				    NULL};
	run_argv(argv, &res);
	assert_int_equal(res.exit_code, 0);
	assert_string_equal(buf_cstr(&res.log), "two words\n\"double\" 'single'\n$(x) `y` $HOME\n"
						"; rm -rf / ; echo *\n\nback\\slash\n");
	subprocess_result_clear(&res);
}

static void test_env_exact(void **state)
{
	(void)state;
	struct subprocess_result res;
	const char *const argv[] = {"/usr/bin/env", NULL};
	const char *const env[] = {"A=1", NULL};
	struct subprocess_spec spec = {.argv = argv, .envp = env};
	run_ok(&spec, &res);
	assert_string_equal(buf_cstr(&res.log), "A=1\n");
	subprocess_result_clear(&res);

	spec.envp = no_env;
	run_ok(&spec, &res);
	assert_int_equal(res.exit_code, 0);
	assert_int_equal(res.output_bytes, 0);
	subprocess_result_clear(&res);

	spec.envp = NULL; /* NULL is an empty environment too, not the server's */
	run_ok(&spec, &res);
	assert_int_equal(res.exit_code, 0);
	assert_int_equal(res.output_bytes, 0);
	subprocess_result_clear(&res);
}

static void test_cwd(void **state)
{
	(void)state;
	char dir[] = "/tmp/subprocess-cwd-XXXXXX";
	assert_non_null(mkdtemp(dir));
	struct subprocess_result res;
	const char *const argv[] = {"/bin/pwd", "-P", NULL};
	struct subprocess_spec spec = {.argv = argv, .envp = no_env, .cwd = dir};
	run_ok(&spec, &res);
	char *real = realpath(dir, NULL);
	assert_non_null(real);
	struct buf want = BUF_INIT;
	buf_printf(&want, "%s\n", real);
	assert_string_equal(buf_cstr(&res.log), buf_cstr(&want));
	buf_free(&want);
	free(real);
	subprocess_result_clear(&res);
	rmdir(dir);
}

static void write_file(const char *path, const char *text, mode_t mode)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	assert_int_equal(chmod(path, mode), 0);
}

static void test_path_search(void **state)
{
	(void)state;
	char d1[] = "/tmp/subprocess-p1-XXXXXX", d2[] = "/tmp/subprocess-p2-XXXXXX";
	assert_non_null(mkdtemp(d1));
	assert_non_null(mkdtemp(d2));
	char f1[128], f2[128], path_env[512];
	snprintf(f1, sizeof f1, "%s/subp-tool", d1);
	snprintf(f2, sizeof f2, "%s/subp-tool", d2);
	/* the first one is not executable: skipped */
	write_file(f1, "#!/bin/sh\necho wrong\n", 0644);
	write_file(f2, "#!/bin/sh\necho \"right $0 $1\"\n", 0755);
	snprintf(path_env, sizeof path_env, "/nonexistent::relative/dir:%s:%s/", d1, d2);

	struct subprocess_result res;
	const char *const argv[] = {"subp-tool", "arg", NULL};
	struct subprocess_spec spec = {.argv = argv, .envp = no_env, .path_env = path_env};
	run_ok(&spec, &res);
	struct buf want = BUF_INIT;
	buf_printf(&want, "right %s arg\n", f2);
	assert_string_equal(buf_cstr(&res.log), buf_cstr(&want));
	buf_free(&want);
	subprocess_result_clear(&res);

	/* the default path finds coreutils */
	const char *const echo[] = {"echo", "hi", NULL};
	spec.argv = echo;
	spec.path_env = NULL;
	run_ok(&spec, &res);
	assert_string_equal(buf_cstr(&res.log), "hi\n");
	subprocess_result_clear(&res);

	/* path_env is searched, not the child's PATH */
	const char *const env[] = {"PATH=/bin:/usr/bin", NULL};
	spec.envp = env;
	spec.path_env = d1;
	struct err e;
	err_clear(&e);
	assert_int_equal(subprocess_run(&spec, &res, &e), ERR_NOTFOUND);
	subprocess_result_clear(&res);

	unlink(f1);
	unlink(f2);
	rmdir(d1);
	rmdir(d2);
}

static void test_not_found(void **state)
{
	(void)state;
	struct subprocess_result res;
	const char *const argv[] = {"subprocess-no-such-command", NULL};
	struct subprocess_spec spec = {.argv = argv, .envp = no_env};
	struct err e;
	err_clear(&e);
	assert_int_equal(subprocess_run(&spec, &res, &e), ERR_NOTFOUND);
	assert_int_equal(e.code, ERR_NOTFOUND);
	assert_string_equal(e.msg, "subprocess-no-such-command: command not found");
	assert_int_equal(res.pid, 0);
	assert_int_equal(res.log.len, 0);
	subprocess_result_clear(&res);
}

static void test_exec_failure(void **state)
{
	(void)state;
	char dir[] = "/tmp/subprocess-x-XXXXXX";
	assert_non_null(mkdtemp(dir));
	char file[128];
	snprintf(file, sizeof file, "%s/not-executable", dir);
	write_file(file, "#!/bin/sh\necho no\n", 0644);

	struct subprocess_result res;
	const char *const argv[] = {file, NULL};
	struct subprocess_spec spec = {.argv = argv, .envp = no_env};
	struct err e;
	err_clear(&e);
	assert_int_equal(subprocess_run(&spec, &res, &e), ERR_IO);
	struct buf want = BUF_INIT;
	buf_printf(&want, "cannot run %s: %s", file, strerror(EACCES));
	assert_string_equal(e.msg, buf_cstr(&want));
	assert_int_equal(res.log.len, 0);
	subprocess_result_clear(&res);

	/* a path that does not exist fails in the child too */
	buf_reset(&want);
	buf_printf(&want, "%s/missing", dir);
	const char *const missing[] = {buf_cstr(&want), NULL};
	spec.argv = missing;
	err_clear(&e);
	assert_int_equal(subprocess_run(&spec, &res, &e), ERR_IO);
	assert_non_null(strstr(e.msg, strerror(ENOENT)));
	subprocess_result_clear(&res);

	buf_free(&want);
	unlink(file);
	rmdir(dir);
}

static void test_invalid(void **state)
{
	(void)state;
	struct subprocess_result res;
	struct err e;
	const char *const none[] = {NULL};
	const char *const empty[] = {"", NULL};
	const char *const pwd[] = {"/bin/pwd", NULL};

	struct subprocess_spec spec = {.argv = NULL, .envp = no_env};
	assert_int_equal(subprocess_run(&spec, &res, NULL), ERR_INVALID);
	spec.argv = none;
	assert_int_equal(subprocess_run(&spec, &res, NULL), ERR_INVALID);
	spec.argv = empty;
	assert_int_equal(subprocess_run(&spec, &res, NULL), ERR_INVALID);

	spec.argv = pwd;
	spec.cwd = "/nonexistent/subprocess-dir";
	err_clear(&e);
	assert_int_equal(subprocess_run(&spec, &res, &e), ERR_INVALID);
	assert_non_null(strstr(e.msg, "/nonexistent/subprocess-dir"));
	assert_int_equal(res.pid, 0);

	spec.cwd = "/bin/sh"; /* a file */
	err_clear(&e);
	assert_int_equal(subprocess_run(&spec, &res, &e), ERR_INVALID);
	assert_non_null(strstr(e.msg, "/bin/sh"));
	assert_non_null(strstr(e.msg, "not a directory"));
	subprocess_result_clear(&res);
}

static void test_stdin_devnull(void **state)
{
	(void)state;
	/* our own stdin is a pipe meanwhile, so that inheriting it would show */
	int saved = dup(0), p[2];
	assert_true(saved >= 0);
	assert_int_equal(pipe(p), 0);
	assert_int_equal(dup2(p[0], 0), 0);
	struct subprocess_result res;
	const char *const argv[] = {"/usr/bin/readlink", "/proc/self/fd/0", NULL};
	run_argv(argv, &res);
	dup2(saved, 0);
	close(saved);
	close(p[0]);
	close(p[1]);
	assert_string_equal(buf_cstr(&res.log), "/dev/null\n");
	subprocess_result_clear(&res);

	/* a program reading stdin sees its end at once */
	const char *const cat[] = {"/bin/cat", NULL};
	run_argv(cat, &res);
	assert_int_equal(res.exit_code, 0);
	assert_int_equal(res.output_bytes, 0);
	subprocess_result_clear(&res);
}

static void test_process_group(void **state)
{
	(void)state;
	struct subprocess_result res;
	/* the shell's pid, then the pgid of a process it starts (field 5 of stat) */
	const char *const argv[] = {"/bin/sh", "-c", "echo $$; cut -d' ' -f5 /proc/self/stat",
				    NULL};
	run_argv(argv, &res);
	char want[64];
	snprintf(want, sizeof want, "%lld\n%lld\n", (long long)res.pid, (long long)res.pid);
	assert_string_equal(buf_cstr(&res.log), want);
	assert_true(res.pid != getpgrp());
	subprocess_result_clear(&res);
}

static void test_timeout(void **state)
{
	(void)state;
	struct subprocess_result res;
	const char *const argv[] = {"/bin/sleep", "10", NULL};
	struct subprocess_spec spec = {.argv = argv, .envp = no_env, .timeout_ms = 300};
	int64_t t0 = time_mono_ms();
	run_ok(&spec, &res);
	int64_t took = time_mono_ms() - t0;
	assert_true(res.timed_out);
	assert_false(res.cancelled);
	assert_int_equal(res.exit_code, -1);
	assert_int_equal(res.term_signal, SIGTERM);
	assert_true(res.duration_ms >= 300);
	assert_true(took >= 300);
	assert_true(took < 3000);
	subprocess_result_clear(&res);
}

/* Cancel from another thread once the program says it is running. */
struct canceller {
	pthread_mutex_t mu;
	pthread_cond_t cond;
	bool ready;
	atomic_bool flag;
	int64_t set_at;
	pthread_t caller;
	bool other_thread; /* on_output ran on a thread other than the caller's */
};

static void cancel_on_output(void *arg, const char *data, size_t n)
{
	struct canceller *c = arg;
	(void)data;
	(void)n;
	if (!pthread_equal(pthread_self(), c->caller))
		c->other_thread = true;
	pthread_mutex_lock(&c->mu);
	c->ready = true;
	pthread_cond_broadcast(&c->cond);
	pthread_mutex_unlock(&c->mu);
}

static void *cancel_thread(void *arg)
{
	struct canceller *c = arg;
	pthread_mutex_lock(&c->mu);
	while (!c->ready)
		pthread_cond_wait(&c->cond, &c->mu);
	pthread_mutex_unlock(&c->mu);
	/* A pause (no condition to wait for), so that the run is waiting for output when
	 * the flag changes: then only its periodic look notices. */
	sleep_ms(300);
	c->set_at = time_mono_ms();
	atomic_store(&c->flag, true);
	return NULL;
}

static void test_cancel(void **state)
{
	(void)state;
	struct canceller c = {.mu = PTHREAD_MUTEX_INITIALIZER,
			      .cond = PTHREAD_COND_INITIALIZER,
			      .caller = pthread_self()};
	atomic_init(&c.flag, false);
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, cancel_thread, &c), 0);

	struct subprocess_result res;
	const char *const argv[] = {"/bin/sh", "-c", "echo ready; exec sleep 10", NULL};
	struct subprocess_spec spec = {.argv = argv,
				       .envp = no_env,
				       .cancel = &c.flag,
				       .on_output = cancel_on_output,
				       .arg = &c};
	run_ok(&spec, &res);
	int64_t after = time_mono_ms() - c.set_at;
	pthread_join(t, NULL);
	assert_true(res.cancelled);
	assert_false(res.timed_out);
	assert_int_equal(res.term_signal, SIGTERM);
	assert_false(c.other_thread);
	/* the flag is looked at every 100 ms at least */
	if (after > 1000)
		fail_msg("cancelled %lld ms after the flag was set", (long long)after);
	subprocess_result_clear(&res);
}

/* A flag already set stops the program at once; huge limits do not overflow. */
static void test_cancelled_before_start(void **state)
{
	(void)state;
	atomic_bool flag;
	atomic_init(&flag, true);
	struct subprocess_result res;
	const char *const argv[] = {"/bin/sleep", "10", NULL};
	struct subprocess_spec spec = {.argv = argv,
				       .envp = no_env,
				       .cancel = &flag,
				       .timeout_ms = INT64_MAX,
				       .kill_grace_ms = INT64_MAX};
	run_ok(&spec, &res);
	assert_true(res.cancelled);
	assert_int_equal(res.term_signal, SIGTERM);
	assert_true(res.duration_ms < 2000);
	subprocess_result_clear(&res);
}

static void test_term_ignored_killed_after_grace(void **state)
{
	(void)state;
	struct subprocess_result res;
	const char *const argv[] = {"/bin/sh", "-c", "trap '' TERM; sleep 30", NULL};
	struct subprocess_spec spec = {
		.argv = argv, .envp = no_env, .timeout_ms = 200, .kill_grace_ms = 300};
	run_ok(&spec, &res);
	assert_true(res.timed_out);
	assert_int_equal(res.term_signal, SIGKILL);
	assert_true(res.duration_ms >= 500);
	assert_true(res.duration_ms < 5000);
	subprocess_result_clear(&res);
}

static void test_output_during_grace(void **state)
{
	(void)state;
	struct subprocess_result res;
	const char *const argv[] = {
		"/bin/sh", "-c", "trap 'echo got TERM; exit 0' TERM; while :; do sleep 0.05; done",
		NULL};
	struct subprocess_spec spec = {
		.argv = argv, .envp = no_env, .timeout_ms = 200, .kill_grace_ms = 10000};
	run_ok(&spec, &res);
	assert_true(res.timed_out);
	assert_int_equal(res.exit_code, 0);
	/* (the shell may first report that its sleep was terminated) */
	size_t n = res.log.len;
	if (n < 9 || strcmp(res.log.data + n - 9, "got TERM\n") != 0)
		fail_msg("expected the trap's output, got \"%s\"", buf_cstr(&res.log));
	assert_true(res.duration_ms < 5000);
	subprocess_result_clear(&res);
}

static void test_grandchild_holding_pipe(void **state)
{
	(void)state;
	struct subprocess_result res;
	/* the shell exits at once; its background sleep keeps the pipe open */
	const char *const argv[] = {"/bin/sh", "-c", "sleep 30 & echo $!", NULL};
	run_ok(&(struct subprocess_spec){.argv = argv, .envp = no_env}, &res);
	assert_int_equal(res.exit_code, 0);
	assert_true(res.duration_ms < 2000);
	long grandchild = log_pid(&res);
	assert_true(wait_ended(grandchild));
	subprocess_result_clear(&res);
}

static void test_grandchild_ignoring_term(void **state)
{
	(void)state;
	struct subprocess_result res;
	const char *const argv[] = {"/bin/sh", "-c",
				    "(trap '' TERM; exec sleep 30) >/dev/null 2>&1 & echo $!; wait",
				    NULL};
	struct subprocess_spec spec = {
		.argv = argv, .envp = no_env, .timeout_ms = 300, .kill_grace_ms = 20000};
	run_ok(&spec, &res);
	assert_true(res.timed_out);
	assert_int_equal(res.term_signal, SIGTERM);
	assert_true(res.duration_ms < 5000);
	long grandchild = log_pid(&res);
	assert_true(wait_ended(grandchild));
	subprocess_result_clear(&res);
}

static void test_flood(void **state)
{
	(void)state;
	struct subprocess_result res;
	const char *const argv[] = {"/usr/bin/head", "-c", "50000000", "/dev/zero", NULL};
	struct subprocess_spec spec = {.argv = argv, .envp = no_env, .log_cap = 4096};
	run_ok(&spec, &res);
	assert_int_equal(res.exit_code, 0);
	assert_int_equal(res.output_bytes, 50000000);
	const char *header = "[... 49995904 bytes of earlier output dropped ...]\n";
	size_t hl = strlen(header);
	assert_int_equal(res.log.len, hl + 4096);
	assert_memory_equal(res.log.data, header, hl);
	for (size_t i = hl; i < res.log.len; i++)
		assert_int_equal(res.log.data[i], 0);
	subprocess_result_clear(&res);
}

/* 200 MB through the default 1 MiB log: linear time, and the memory of the process does
 * not grow with the output. */
static void test_flood_memory(void **state)
{
	(void)state;
	struct rusage before, after;
	getrusage(RUSAGE_SELF, &before);
	struct subprocess_result res;
	const char *const argv[] = {"/usr/bin/head", "-c", "200000000", "/dev/zero", NULL};
	run_ok(&(struct subprocess_spec){.argv = argv, .envp = no_env}, &res);
	getrusage(RUSAGE_SELF, &after);
	assert_int_equal(res.exit_code, 0);
	assert_int_equal(res.output_bytes, 200000000);
	assert_true(res.log.len > SUBPROCESS_DEFAULT_LOG);
	assert_true(res.log.len < SUBPROCESS_DEFAULT_LOG + 100);
	long grown_kb = after.ru_maxrss - before.ru_maxrss;
	if (grown_kb > 64 * 1024)
		fail_msg("the process grew by %ld KiB", grown_kb);
	assert_true(res.duration_ms < 30000);
	subprocess_result_clear(&res);
}

struct collect {
	struct buf all;
	pthread_t caller;
	bool other_thread;
	size_t calls;
};

static void collect_output(void *arg, const char *data, size_t n)
{
	struct collect *c = arg;
	if (!pthread_equal(pthread_self(), c->caller))
		c->other_thread = true;
	c->calls++;
	buf_append(&c->all, data, n);
}

static void test_tail_and_on_output(void **state)
{
	(void)state;
	struct buf want = BUF_INIT;
	for (int i = 1; i <= 100000; i++)
		buf_printf(&want, "%d\n", i);

	struct collect c = {.all = BUF_INIT, .caller = pthread_self()};
	struct subprocess_result res;
	const char *const argv[] = {"/usr/bin/seq", "1", "100000", NULL};
	struct subprocess_spec spec = {.argv = argv,
				       .envp = no_env,
				       .log_cap = 1000,
				       .on_output = collect_output,
				       .arg = &c};
	run_ok(&spec, &res);
	assert_int_equal(res.output_bytes, want.len);
	assert_int_equal(c.all.len, want.len);
	assert_memory_equal(c.all.data, want.data, want.len);
	assert_true(c.calls >= 1);
	assert_false(c.other_thread);

	struct buf log = BUF_INIT;
	buf_printf(&log, "[... %zu bytes of earlier output dropped ...]\n", want.len - 1000);
	buf_append(&log, want.data + want.len - 1000, 1000);
	assert_int_equal(res.log.len, log.len);
	assert_memory_equal(res.log.data, log.data, log.len);
	buf_free(&log);
	subprocess_result_clear(&res);

	/* exactly log_cap bytes: kept whole, no header */
	const char *const fits[] = {"/usr/bin/head", "-c", "1000", "/dev/zero", NULL};
	spec.argv = fits;
	spec.on_output = NULL;
	run_ok(&spec, &res);
	assert_int_equal(res.log.len, 1000);
	subprocess_result_clear(&res);

	buf_free(&c.all);
	buf_free(&want);
}

static void test_tail_utf8(void **state)
{
	(void)state;
	struct subprocess_result res;
	/* "ab" U+00E9 "cd": the last 3 bytes start inside the é, which goes whole */
	const char *const argv[] = {"/usr/bin/printf", "ab\\303\\251cd", NULL};
	struct subprocess_spec spec = {.argv = argv, .envp = no_env, .log_cap = 3};
	run_ok(&spec, &res);
	assert_int_equal(res.output_bytes, 6);
	assert_string_equal(buf_cstr(&res.log), "[... 4 bytes of earlier output dropped ...]\ncd");
	subprocess_result_clear(&res);
}

/* The executor's thread: process signals blocked, SIGPIPE ignored (as in main), and a
 * handler and an ignored signal of our own. The child starts clean. */
static void ignore_handler(int sig)
{
	(void)sig;
}

static void *signal_state_thread(void *arg)
{
	struct subprocess_result *res = arg;
	thread_block_signals();
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	const char *const argv[] = {"grep", "-E", "^Sig(Blk|Ign)", "/proc/self/status", NULL};
	run_ok(&(struct subprocess_spec){.argv = argv, .envp = no_env}, res);
	return NULL;
}

static void test_signal_state(void **state)
{
	(void)state;
	struct sigaction ign = {.sa_handler = SIG_IGN}, handler = {.sa_handler = ignore_handler};
	struct sigaction old_pipe, old_usr2, old_usr1;
	sigaction(SIGPIPE, &ign, &old_pipe);
	sigaction(SIGUSR2, &ign, &old_usr2);
	sigaction(SIGUSR1, &handler, &old_usr1);

	struct subprocess_result res;
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, signal_state_thread, &res), 0);
	pthread_join(t, NULL);

	sigaction(SIGPIPE, &old_pipe, NULL);
	sigaction(SIGUSR2, &old_usr2, NULL);
	sigaction(SIGUSR1, &old_usr1, NULL);
	assert_string_equal(buf_cstr(&res.log),
			    "SigBlk:\t0000000000000000\nSigIgn:\t0000000000000000\n");
	subprocess_result_clear(&res);
}

static void test_fds_not_inherited(void **state)
{
	(void)state;
	int fd = open("/dev/null", O_RDONLY); /* no O_CLOEXEC */
	assert_true(fd >= 0);
	assert_int_equal(dup2(fd, 100), 100);
	int p[2];
	assert_int_equal(pipe(p), 0);

	struct subprocess_result res;
	const char *const argv[] = {"/bin/ls", "-1", "/proc/self/fd", NULL};
	run_argv(argv, &res);
	close(fd);
	close(100);
	close(p[0]);
	close(p[1]);

	/* 0, 1, 2 and the directory ls is reading */
	int lines = 0;
	for (const char *s = buf_cstr(&res.log); *s; s++)
		lines += *s == '\n';
	if (lines > 4 || strstr(buf_cstr(&res.log), "100\n"))
		fail_msg("inherited fds: %s", buf_cstr(&res.log));
	assert_memory_equal(res.log.data, "0\n1\n2\n", 6);
	subprocess_result_clear(&res);
}

/* The helper's on_output: pass the output on through a pipe. */
static void forward_output(void *arg, const char *data, size_t n)
{
	ssize_t w = write(*(int *)arg, data, n);
	(void)w;
}

/* When the process that started the program dies, the program dies with it. */
static void test_parent_death(void **state)
{
	(void)state;
	int p[2];
	assert_int_equal(pipe(p), 0);
	pid_t helper = fork();
	assert_true(helper >= 0);
	if (helper == 0) {
		close(p[0]);
		struct subprocess_result res;
		const char *const argv[] = {"/bin/sh", "-c", "echo $$; exec sleep 30", NULL};
		struct subprocess_spec spec = {
			.argv = argv, .envp = no_env, .on_output = forward_output, .arg = &p[1]};
		subprocess_run(&spec, &res, NULL);
		_exit(0);
	}
	close(p[1]);
	char line[64] = {0};
	size_t len = 0;
	while (len < sizeof line - 1 && !memchr(line, '\n', len)) {
		struct pollfd pfd = {.fd = p[0], .events = POLLIN};
		assert_true(poll(&pfd, 1, 5000) == 1);
		ssize_t n = read(p[0], line + len, sizeof line - 1 - len);
		assert_true(n > 0);
		len += (size_t)n;
	}
	long sleeper = strtol(line, NULL, 10);
	assert_true(sleeper > 0);
	assert_false(process_ended(sleeper));

	kill(helper, SIGKILL);
	int status;
	assert_int_equal(waitpid(helper, &status, 0), helper);
	close(p[0]);
	if (!wait_ended(sleeper)) {
		kill((pid_t)sleeper, SIGKILL);
		fail_msg("the program outlived its parent");
	}
}

/* The server dies (SIGKILL) while the program's child ignores SIGTERM and the
 * parent-death signal does not reach it (not inherited across fork): the guard kills the
 * whole group, the grandchild included. */
static void test_parent_death_takes_grandchildren(void **state)
{
	(void)state;
	int p[2];
	assert_int_equal(pipe(p), 0);
	pid_t helper = fork();
	assert_true(helper >= 0);
	if (helper == 0) {
		close(p[0]);
		struct subprocess_result res;
		const char *const argv[] = {
			"/bin/sh", "-c",
			"(trap '' TERM; echo $(exec sh -c 'echo $PPID'); sleep 30) & wait", NULL};
		struct subprocess_spec spec = {
			.argv = argv, .envp = no_env, .on_output = forward_output, .arg = &p[1]};
		subprocess_run(&spec, &res, NULL);
		_exit(0);
	}
	close(p[1]);
	char line[64] = {0};
	size_t len = 0;
	while (len < sizeof line - 1 && !memchr(line, '\n', len)) {
		struct pollfd pfd = {.fd = p[0], .events = POLLIN};
		assert_true(poll(&pfd, 1, 5000) == 1);
		ssize_t n = read(p[0], line + len, sizeof line - 1 - len);
		assert_true(n > 0);
		len += (size_t)n;
	}
	long grandchild = strtol(line, NULL, 10);
	assert_true(grandchild > 0);
	assert_false(process_ended(grandchild));
	kill(helper, SIGKILL);
	int status;
	assert_int_equal(waitpid(helper, &status, 0), helper);
	close(p[0]);
	if (!wait_ended(grandchild)) {
		kill((pid_t)grandchild, SIGKILL);
		fail_msg("the program's child outlived the server");
	}
}

/* Several threads at once, and a child of our own that none of them may reap. */
struct concurrent {
	int code;
	struct subprocess_result res;
};

static void *concurrent_thread(void *arg)
{
	struct concurrent *c = arg;
	char script[64];
	snprintf(script, sizeof script, "sleep 0.2; exit %d", c->code);
	const char *const argv[] = {"/bin/sh", "-c", script, NULL};
	run_ok(&(struct subprocess_spec){.argv = argv, .envp = no_env}, &c->res);
	return NULL;
}

static void test_concurrent_runs(void **state)
{
	(void)state;
	/* An exited child of this very thread, older than the program: waiting for "any
	 * child" would reap it first. */
	pid_t own = fork();
	assert_true(own >= 0);
	if (own == 0)
		_exit(7);
	siginfo_t si;
	assert_int_equal(waitid(P_PID, (id_t)own, &si, WEXITED | WNOWAIT), 0);
	struct subprocess_result res;
	const char *const five[] = {"/bin/sh", "-c", "exit 5", NULL};
	run_argv(five, &res);
	assert_int_equal(res.exit_code, 5);
	subprocess_result_clear(&res);

	struct concurrent c[4];
	pthread_t t[4];
	for (int i = 0; i < 4; i++) {
		c[i].code = 10 + i;
		assert_int_equal(pthread_create(&t[i], NULL, concurrent_thread, &c[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(c[i].res.exit_code, 10 + i);
		subprocess_result_clear(&c[i].res);
	}
	int status;
	assert_int_equal(waitpid(own, &status, 0), own);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 7);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_exit_codes),
		cmocka_unit_test(test_killed_by_signal),
		cmocka_unit_test(test_argv_verbatim),
		cmocka_unit_test(test_env_exact),
		cmocka_unit_test(test_cwd),
		cmocka_unit_test(test_path_search),
		cmocka_unit_test(test_not_found),
		cmocka_unit_test(test_exec_failure),
		cmocka_unit_test(test_invalid),
		cmocka_unit_test(test_stdin_devnull),
		cmocka_unit_test(test_process_group),
		cmocka_unit_test(test_timeout),
		cmocka_unit_test(test_cancel),
		cmocka_unit_test(test_cancelled_before_start),
		cmocka_unit_test(test_term_ignored_killed_after_grace),
		cmocka_unit_test(test_output_during_grace),
		cmocka_unit_test(test_grandchild_holding_pipe),
		cmocka_unit_test(test_grandchild_ignoring_term),
		cmocka_unit_test(test_flood),
		cmocka_unit_test(test_flood_memory),
		cmocka_unit_test(test_tail_and_on_output),
		cmocka_unit_test(test_tail_utf8),
		cmocka_unit_test(test_signal_state),
		cmocka_unit_test(test_fds_not_inherited),
		cmocka_unit_test(test_parent_death),
		cmocka_unit_test(test_parent_death_takes_grandchildren),
		cmocka_unit_test(test_concurrent_runs),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
