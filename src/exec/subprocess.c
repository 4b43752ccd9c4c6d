/* close_range, dup3, pipe2 and prctl are Linux/GNU interfaces. */
#define _GNU_SOURCE

#include "exec/subprocess.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util/time.h"

/* Bytes read from the pipe at a time: a whole default pipe buffer. */
#define CHUNK 65536

/* How long the parent sleeps between looks at the cancel flag, the deadline and the
 * child: 100 ms while output may still come (poll wakes up early for it), 10 ms once
 * the pipe is closed and only the child's exit is awaited. */
#define POLL_MS	    100
#define POLL_EOF_MS 10

/* Everything the child needs, prepared before fork: between fork and execve the child
 * calls only async-signal-safe functions (another thread may have held the malloc lock
 * when we forked). */
struct plan {
	const char *path; /* the resolved program */
	char *const *argv;
	char *const *envp;
	const char *cwd;
	pid_t parent;
	int devnull, out_w, report_w;
	int max_fd; /* for closing fds when close_range is missing */
	sigset_t empty;
	struct sigaction dfl;
};

/* What the child writes to the report pipe when it cannot get to the program. */
enum stage { STAGE_SETUP, STAGE_CHDIR, STAGE_EXEC, STAGE_PID };
struct report {
	int stage;
	int err;
};

static _Noreturn void child_fail(int fd, int stage, int err)
{
	struct report r = {stage, err};
	ssize_t w = write(fd, &r, sizeof r);
	(void)w;
	_exit(127);
}

static _Noreturn void child(const struct plan *p, pid_t guard)
{
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0)
		child_fail(p->report_w, STAGE_SETUP, errno);
	/* The guard may have died before prctl: then nobody would kill us. */
	if (getppid() != guard)
		_exit(127);
	setpgid(0, 0);
	/* Defaults first, then the empty mask, so that no inherited handler can run here. */
	for (int sig = 1; sig < NSIG; sig++)
		if (sig != SIGKILL && sig != SIGSTOP)
			sigaction(sig, &p->dfl, NULL); /* EINVAL for the libc-reserved ones */
	sigprocmask(SIG_SETMASK, &p->empty, NULL);

	/* Move the three fds above 3 first: any of them may be 0, 1 or 2 when the server
	 * runs with a standard fd closed, and dup2 onto itself would keep O_CLOEXEC. */
	int rep = fcntl(p->report_w, F_DUPFD_CLOEXEC, 4);
	if (rep < 0)
		child_fail(p->report_w, STAGE_SETUP, errno);
	int in = fcntl(p->devnull, F_DUPFD_CLOEXEC, 4);
	int out = fcntl(p->out_w, F_DUPFD_CLOEXEC, 4);
	if (in < 0 || out < 0)
		child_fail(rep, STAGE_SETUP, errno);
	if (dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(out, 2) < 0)
		child_fail(rep, STAGE_SETUP, errno);
	/* The report pipe stays open as fd 3 until execve closes it. */
	if (dup3(rep, 3, O_CLOEXEC) < 0)
		child_fail(rep, STAGE_SETUP, errno);
	if (close_range(4, ~0U, 0) != 0)
		for (int fd = 4; fd <= p->max_fd; fd++)
			close(fd);

	if (p->cwd && chdir(p->cwd) != 0)
		child_fail(3, STAGE_CHDIR, errno);
	execve(p->path, p->argv, p->envp);
	child_fail(3, STAGE_EXEC, errno);
}

static void on_signal(int sig)
{
	(void)sig; /* only to end sigsuspend */
}

/* Pass on how the program ended: the same exit status, or death by the same signal. */
static _Noreturn void mirror(int status)
{
	if (WIFEXITED(status))
		_exit(WEXITSTATUS(status));
	int sig = WIFSIGNALED(status) ? WTERMSIG(status) : SIGKILL;
	struct sigaction dfl = {.sa_handler = SIG_DFL};
	sigaction(sig, &dfl, NULL);
	sigset_t only;
	sigemptyset(&only);
	sigaddset(&only, sig);
	sigprocmask(SIG_UNBLOCK, &only, NULL);
	kill(getpid(), sig);
	_exit(128 + sig);
}

/* The guard: a copy of the server between it and the program, so that the program's
 * whole process group dies with the server — also grandchildren the parent-death
 * signal cannot reach (it is not inherited across fork). The guard gets SIGUSR1 when
 * the thread that forked it ends (the server died, or its executor thread); it then
 * kills the group. When the program ends, the guard kills what is left of its group
 * and exits as the program did. Only async-signal-safe calls and plain system calls:
 * the guard is a fork of a threaded process. */
static _Noreturn void guard(const struct plan *p)
{
	pid_t me = getpid();
	sigset_t block, wait_mask;
	sigemptyset(&block);
	sigaddset(&block, SIGCHLD);
	sigaddset(&block, SIGUSR1);
	sigprocmask(SIG_BLOCK, &block, &wait_mask);
	sigdelset(&wait_mask, SIGCHLD);
	sigdelset(&wait_mask, SIGUSR1);
	struct sigaction sa = {.sa_handler = on_signal};
	sigemptyset(&sa.sa_mask);
	sigaction(SIGCHLD, &sa, NULL);
	sigaction(SIGUSR1, &sa, NULL);
	if (prctl(PR_SET_PDEATHSIG, SIGUSR1) != 0)
		child_fail(p->report_w, STAGE_SETUP, errno);
	if (getppid() != p->parent)
		_exit(127);
	prctl(PR_SET_DUMPABLE, 0); /* no core file when it mirrors a crash */
	pid_t pid = fork();
	if (pid < 0)
		child_fail(p->report_w, STAGE_SETUP, errno);
	if (pid == 0)
		child(p, me);
	setpgid(pid, pid);
	struct report r = {STAGE_PID, (int)pid};
	ssize_t w = write(p->report_w, &r, sizeof r);
	(void)w;
	/* Nothing of the server's stays open here: not its sockets, not the pipes. */
	if (close_range(0, ~0U, 0) != 0)
		for (int fd = 0; fd <= p->max_fd; fd++)
			close(fd);
	for (;;) {
		siginfo_t si;
		memset(&si, 0, sizeof si);
		/* WNOWAIT: while the program is an unreaped zombie, its group id is ours. */
		int ended = waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0 &&
			    si.si_pid == pid;
		if (ended || getppid() != p->parent) {
			kill(-pid, SIGKILL);
			int status = 0;
			while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
				;
			mirror(status);
		}
		sigsuspend(&wait_mask);
	}
}

/* The program to run: argv0 itself when it names a path, else the first executable
 * regular file called argv0 in an absolute directory of path_env. */
static int resolve(const char *argv0, const char *path_env, struct buf *out, struct err *e)
{
	if (strchr(argv0, '/')) {
		buf_puts(out, argv0);
		return 0;
	}
	const char *p = path_env ? path_env : SUBPROCESS_DEFAULT_PATH;
	for (;;) {
		const char *end = strchr(p, ':');
		size_t n = end ? (size_t)(end - p) : strlen(p);
		/* A relative entry would be relative to the server's cwd, not the child's. */
		if (n > 0 && p[0] == '/') {
			buf_reset(out);
			buf_append(out, p, n);
			if (p[n - 1] != '/')
				buf_putc(out, '/');
			buf_puts(out, argv0);
			struct stat st;
			if (stat(out->data, &st) == 0 && S_ISREG(st.st_mode) &&
			    access(out->data, X_OK) == 0)
				return 0;
		}
		if (!end)
			break;
		p = end + 1;
	}
	buf_reset(out);
	return err_set(e, ERR_NOTFOUND, "%s: command not found", argv0);
}

/* Keep the last cap bytes of everything appended to t, holding at most 2 × cap: a trim
 * moves at most cap bytes and follows at least cap new ones, so the work is linear. */
static void tail_add(struct buf *t, size_t cap, const char *data, size_t n)
{
	if (n >= cap) {
		buf_reset(t);
		buf_append(t, data + (n - cap), cap);
		return;
	}
	if (t->len + n > 2 * cap) {
		size_t keep = cap - n;
		memmove(t->data, t->data + (t->len - keep), keep);
		t->len = keep;
	}
	buf_append(t, data, n);
}

/* The run's state in the parent. */
struct run {
	const struct subprocess_spec *spec;
	struct subprocess_result *res;
	size_t cap;
	struct buf tail;
	char *chunk;
	int fd; /* the read end of the output pipe (non-blocking), -1 once at EOF */
};

/* Read one chunk of what the pipe has now: 1 when something was read, 0 when nothing
 * is there yet, -1 at EOF (or on an error, which a pipe does not give). */
static int read_some(struct run *r)
{
	ssize_t n = read(r->fd, r->chunk, CHUNK);
	if (n < 0)
		return errno == EINTR || errno == EAGAIN ? 0 : -1;
	if (n == 0)
		return -1;
	r->res->output_bytes += (uint64_t)n;
	tail_add(&r->tail, r->cap, r->chunk, (size_t)n);
	if (r->spec->on_output)
		r->spec->on_output(r->spec->arg, r->chunk, (size_t)n);
	return 1;
}

/* Whether the child has exited, without reaping it: while it is an unreaped zombie its
 * pid, which is also the process group id, cannot be reused, so killing the group
 * cannot hit a stranger. -1 when it is not our child any more (someone reaped it). */
static int child_exited(pid_t pid)
{
	for (;;) {
		siginfo_t si;
		memset(&si, 0, sizeof si);
		if (waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0)
			return si.si_pid != 0;
		if (errno != EINTR)
			return -1;
	}
}

/* Reap the child: false if someone else did (its status is lost). */
static bool reap(pid_t pid, int *status)
{
	while (waitpid(pid, status, 0) < 0)
		if (errno != EINTR)
			return false;
	return true;
}

/* a + b for b > 0, without overflowing. */
static int64_t add_ms(int64_t a, int64_t b)
{
	return a > INT64_MAX - b ? INT64_MAX : a + b;
}

static void wait_for_end(struct run *r, pid_t pid, pid_t pgid, int64_t start)
{
	const struct subprocess_spec *s = r->spec;
	int64_t grace = s->kill_grace_ms > 0 ? s->kill_grace_ms : SUBPROCESS_DEFAULT_GRACE;
	int64_t deadline = s->timeout_ms > 0 ? add_ms(start, s->timeout_ms) : INT64_MAX;
	int64_t kill_at = INT64_MAX; /* when SIGKILL follows the SIGTERM */
	bool term_sent = false;

	while (child_exited(pid) == 0) {
		int64_t now = time_mono_ms();
		if (!term_sent) {
			if (s->cancel && atomic_load(s->cancel))
				r->res->cancelled = true;
			else if (now >= deadline)
				r->res->timed_out = true;
			if (r->res->cancelled || r->res->timed_out) {
				kill(-pgid, SIGTERM);
				term_sent = true;
				kill_at = add_ms(now, grace);
			}
		} else if (now >= kill_at) {
			kill(-pgid, SIGKILL);
			kill_at = INT64_MAX;
		}
		int64_t wait = r->fd >= 0 ? POLL_MS : POLL_EOF_MS;
		int64_t next = term_sent ? kill_at : deadline;
		if (next - now < wait)
			wait = next - now > 0 ? next - now : 0;
		struct pollfd pfd = {.fd = r->fd, .events = POLLIN};
		if (poll(&pfd, r->fd >= 0 ? 1 : 0, (int)wait) > 0 && read_some(r) < 0)
			r->fd = -1;
	}
	/* The guard exits once the program has ended and the rest of its group has been
	 * killed: nothing left can hold the pipe open, so what it wrote is read without
	 * blocking. */
	while (r->fd >= 0 && read_some(r) > 0)
		;
}

int subprocess_run(const struct subprocess_spec *spec, struct subprocess_result *res, struct err *e)
{
	static const char *const no_env[] = {NULL};
	int rc = 0;
	int out_p[2] = {-1, -1}, rep_p[2] = {-1, -1}, devnull = -1;
	struct buf path = BUF_INIT;
	struct run r = {.spec = spec, .res = res, .tail = BUF_INIT, .fd = -1};

	memset(res, 0, sizeof *res);
	res->exit_code = -1;
	res->log = (struct buf)BUF_INIT;
	r.cap = spec->log_cap ? spec->log_cap : SUBPROCESS_DEFAULT_LOG;

	if (!spec->argv || !spec->argv[0] || !spec->argv[0][0])
		return err_set(e, ERR_INVALID, "no program to run (empty argv)");
	rc = resolve(spec->argv[0], spec->path_env, &path, e);
	if (rc)
		goto out;
	if (spec->cwd) {
		struct stat st;
		if (stat(spec->cwd, &st) != 0) {
			rc = err_set(e, ERR_INVALID, "working directory %s: %s", spec->cwd,
				     strerror(errno));
			goto out;
		}
		if (!S_ISDIR(st.st_mode)) {
			rc = err_set(e, ERR_INVALID, "working directory %s: not a directory",
				     spec->cwd);
			goto out;
		}
	}

	devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (devnull < 0) {
		rc = err_set(e, ERR_IO, "cannot open /dev/null: %s", strerror(errno));
		goto out;
	}
	if (pipe2(out_p, O_CLOEXEC) != 0 || pipe2(rep_p, O_CLOEXEC) != 0 ||
	    fcntl(out_p[0], F_SETFL, O_NONBLOCK) != 0) {
		rc = err_set(e, ERR_IO, "cannot make a pipe: %s", strerror(errno));
		goto out;
	}

	struct plan p = {
		.path = path.data,
		.argv = (char *const *)spec->argv,
		.envp = (char *const *)(spec->envp ? spec->envp : no_env),
		.cwd = spec->cwd,
		.parent = getpid(),
		.devnull = devnull,
		.out_w = out_p[1],
		.report_w = rep_p[1],
		.max_fd = 65535,
	};
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
		p.max_fd = rl.rlim_cur < INT_MAX ? (int)rl.rlim_cur - 1 : INT_MAX - 1;
	sigemptyset(&p.empty);
	p.dfl.sa_handler = SIG_DFL;
	sigemptyset(&p.dfl.sa_mask);

	int64_t start = time_mono_ms();
	pid_t pid = fork();
	if (pid < 0) {
		rc = err_set(e, ERR_IO, "cannot fork: %s", strerror(errno));
		goto out;
	}
	if (pid == 0)
		guard(&p);
	close(out_p[1]);
	close(rep_p[1]);
	close(devnull);
	out_p[1] = rep_p[1] = devnull = -1;

	/* The guard reports the program's pid; then EOF on the report pipe means execve
	 * succeeded (the program's O_CLOEXEC end closed, the guard closed its own). */
	struct report rep = {0};
	pid_t prog = 0;
	ssize_t n;
	for (;;) {
		while ((n = read(rep_p[0], &rep, sizeof rep)) < 0 && errno == EINTR)
			;
		if (n != (ssize_t)sizeof rep || rep.stage != STAGE_PID)
			break;
		prog = rep.err;
	}
	if (n == (ssize_t)sizeof rep || prog <= 0) {
		if (n != (ssize_t)sizeof rep)
			rep = (struct report){STAGE_SETUP, ECHILD};
		int status;
		reap(pid, &status);
		const char *what = rep.stage == STAGE_EXEC    ? "cannot run"
				   : rep.stage == STAGE_CHDIR ? "cannot change directory for"
							      : "cannot start";
		rc = err_set(e, ERR_IO, "%s %s: %s", what, path.data, strerror(rep.err));
		goto out;
	}

	res->pid = prog;
	r.chunk = xmalloc(CHUNK);
	r.fd = out_p[0];
	wait_for_end(&r, pid, prog, start);

	int status = 0;
	bool reaped = reap(pid, &status);
	res->duration_ms = time_mono_ms() - start;
	if (reaped && WIFEXITED(status))
		res->exit_code = WEXITSTATUS(status);
	else if (reaped && WIFSIGNALED(status))
		res->term_signal = WTERMSIG(status);

	size_t keep = r.tail.len < r.cap ? r.tail.len : r.cap;
	if (keep > 0) {
		const char *from = r.tail.data + (r.tail.len - keep);
		uint64_t dropped = res->output_bytes - keep;
		if (dropped > 0) {
			/* Do not start the log in the middle of a UTF-8 sequence. */
			for (int i = 0; i < 3 && keep > 0 && ((unsigned char)*from & 0xC0) == 0x80;
			     i++) {
				from++;
				keep--;
				dropped++;
			}
			buf_printf(&res->log, "[... %llu bytes of earlier output dropped ...]\n",
				   (unsigned long long)dropped);
		}
		buf_append(&res->log, from, keep);
	}

out:
	free(r.chunk);
	buf_free(&r.tail);
	if (rep_p[0] >= 0)
		close(rep_p[0]);
	if (rep_p[1] >= 0)
		close(rep_p[1]);
	if (out_p[0] >= 0)
		close(out_p[0]);
	if (out_p[1] >= 0)
		close(out_p[1]);
	if (devnull >= 0)
		close(devnull);
	buf_free(&path);
	return rc;
}

void subprocess_result_clear(struct subprocess_result *r)
{
	if (!r)
		return;
	buf_free(&r->log);
}
