#include "process.h"
#include "cleanup.h"
#include "log.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define CAPTURE_MAX (1 << 20)

int argv_push(struct argv_buf *a, const char *s)
{
	if (a->n + 2 > a->cap) {
		int cap = a->cap ? a->cap * 2 : 32;
		char **v = realloc(a->v, cap * sizeof(*v));

		if (!v)
			return -1;
		a->v = v;
		a->cap = cap;
	}
	a->v[a->n] = strdup(s);
	if (!a->v[a->n])
		return -1;
	a->v[++a->n] = NULL;
	return 0;
}

void argv_free(struct argv_buf *a)
{
	for (int i = 0; i < a->n; i++)
		free(a->v[i]);
	free(a->v);
	a->v = NULL;
	a->n = a->cap = 0;
}

void argv_format(char *const argv[], char *buf, size_t len)
{
	size_t off = 0;

	buf[0] = '\0';
	for (int i = 0; argv[i] && off + 1 < len; i++) {
		int n = snprintf(buf + off, len - off, "%s%s", i ? " " : "", argv[i]);

		if (n < 0)
			break;
		off += n;
	}
}

/* One child being waited for. */
struct run {
	char *const *argv;
	char **envp;      /* the child's environment; NULL: ours */
	int flags;
	pid_t pid;
	int out;          /* read end of the capture pipe, -1 when none or at EOF */
	int pidfd;
	uint64_t deadline; /* CLOCK_MONOTONIC ms, 0: none */
	const struct run_tick *tick; /* NULL: none */
	uint64_t next_tick;          /* CLOCK_MONOTONIC ms */
	int watch;                   /* tick's watch_fd until it fired, else -1 */
	char *cap;
	size_t cap_len, cap_size;
};

static volatile sig_atomic_t forward_to;

static void forward(int sig)
{
	if (forward_to > 0)
		kill(forward_to, sig);
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* In the child: stdio as asked, then exec.  Never returns. */
static void run_child(const struct run *r, int out_w)
{
	if (r->flags & RUN_OWN_PGRP)
		setpgid(0, 0);
	if (r->flags & RUN_STDIN_NULL) {
		int null = open("/dev/null", O_RDONLY | O_CLOEXEC);

		if (null >= 0)
			dup2(null, 0);
	}
	if (out_w >= 0) {
		dup2(out_w, 1);
		if (r->flags & RUN_CAPTURE_STDERR)
			dup2(out_w, 2);
	} else if (r->flags & RUN_QUIET) {
		int null = open("/dev/null", O_WRONLY | O_CLOEXEC);

		if (null >= 0)
			dup2(null, 1);
	}
	if (r->envp && (r->flags & RUN_SEARCH_PATH))
		execvpe(r->argv[0], r->argv, r->envp);
	else if (r->envp)
		execve(r->argv[0], r->argv, r->envp);
	else if (r->flags & RUN_SEARCH_PATH)
		execvp(r->argv[0], r->argv);
	else
		execv(r->argv[0], r->argv);
	/* Captured stderr: the reason travels with the output. */
	if (out_w >= 0 && (r->flags & RUN_CAPTURE_STDERR))
		dprintf(2, "exec %s: %s", r->argv[0], strerror(errno));
	_exit(127);
}

/* Keeps what fits below CAPTURE_MAX; a read that does not fit is dropped. */
static void capture_append(struct run *r, const char *buf, size_t n)
{
	if (r->cap_len + n + 1 > r->cap_size && r->cap_len + n < CAPTURE_MAX) {
		size_t ns = (r->cap_len + n + 1) * 2;
		char *c = realloc(r->cap, ns);

		if (c) {
			r->cap = c;
			r->cap_size = ns;
		}
	}
	if (r->cap && r->cap_len + n + 1 <= r->cap_size) {
		memcpy(r->cap + r->cap_len, buf, n);
		r->cap_len += n;
	}
}

/* Polls fd (and the tick's watch) for at most wait_ms (-1: forever);
 * runs the watch's work when it fired.  1 when fd is readable. */
static int poll_watched(struct run *r, int fd, int wait_ms)
{
	struct pollfd p[2] = { { .fd = fd, .events = POLLIN }, { .fd = r->watch, .events = POLLIN } };

	if (poll(p, r->watch >= 0 ? 2 : 1, wait_ms) <= 0)
		return 0;
	if (r->watch >= 0 && p[1].revents) {
		r->watch = -1;
		r->tick->on_watch(r->tick->arg);
	}
	return p[0].revents != 0;
}

/* Reads what the pipe holds (waiting at most wait_ms, capped at 100 ms). */
static void capture_poll(struct run *r, int wait_ms)
{
	char buf[4096];
	ssize_t n;

	if (!poll_watched(r, r->out, wait_ms < 0 || wait_ms > 100 ? 100 : wait_ms))
		return;
	n = read(r->out, buf, sizeof(buf));
	if (n > 0) {
		capture_append(r, buf, n);
	} else if (n == 0 || (n < 0 && errno != EINTR)) {
		close(r->out);
		r->out = -1;
	}
}

/* The child has exited: what is left in the pipe, without waiting for a
 * grandchild that may still hold its write end. */
static void capture_drain(struct run *r)
{
	if (r->out >= 0)
		fcntl(r->out, F_SETFL, O_NONBLOCK);
	while (r->out >= 0) {
		char buf[4096];
		ssize_t n = read(r->out, buf, sizeof(buf));

		if (n <= 0)
			break;
		if (r->cap && r->cap_len + n + 1 <= r->cap_size) {
			memcpy(r->cap + r->cap_len, buf, n);
			r->cap_len += n;
		}
	}
}

/* The tick when it is due; wait_ms (-1: forever) cut to the next one. */
static int tick_due(struct run *r, int wait_ms)
{
	uint64_t now;
	int to_next;

	if (!r->tick)
		return wait_ms;
	now = now_ms();
	if (now >= r->next_tick) {
		r->tick->fn(r->tick->arg);
		now = now_ms();
		r->next_tick = now + (uint64_t)r->tick->every_ms;
	}
	to_next = (int)(r->next_tick - now);
	return wait_ms < 0 || wait_ms > to_next ? to_next : wait_ms;
}

/* Waits for the child; returns its wait status, -1 on a wait error, or
 * -2 when the deadline passed (the child, or its group, is killed). */
static int run_reap(struct run *r)
{
	int status = -1;

	for (;;) {
		pid_t w;
		int wait_ms = -1;

		if (r->deadline) {
			uint64_t now = now_ms();

			if (now >= r->deadline) {
				kill((r->flags & RUN_OWN_PGRP) ? -r->pid : r->pid, SIGKILL);
				waitpid(r->pid, &status, 0);
				return -2;
			}
			wait_ms = (int)(r->deadline - now);
		}
		wait_ms = tick_due(r, wait_ms);
		if (r->out >= 0) {
			capture_poll(r, wait_ms);
			w = waitpid(r->pid, &status, WNOHANG);
			if (w == r->pid) {
				capture_drain(r);
				return status;
			}
			continue;
		}
		w = waitpid(r->pid, &status, wait_ms >= 0 ? WNOHANG : 0);
		if (w == r->pid)
			return status;
		if (w < 0 && errno != EINTR)
			return -1;
		if (wait_ms >= 0 && r->pidfd >= 0) {
			poll_watched(r, r->pidfd, wait_ms);
		} else if (wait_ms >= 0) {
			struct timespec nap = { 0, 5 * 1000 * 1000 };

			nanosleep(&nap, NULL);
		}
	}
}

/* Our environment with env_add's "NAME=value" entries in place of the
 * same names; built before fork (the child only execs).  The strings stay
 * ours and env_add's: only the array is allocated. */
static char **env_merge(char *const env_add[])
{
	size_t n = 0, k = 0, nadd = 0;
	char **v;

	while (environ && environ[n])
		n++;
	while (env_add[nadd])
		nadd++;
	v = calloc(n + nadd + 1, sizeof(*v));
	if (!v)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		size_t len = strcspn(environ[i], "=");
		int replaced = 0;

		for (size_t j = 0; j < nadd && !replaced; j++)
			replaced = strncmp(env_add[j], environ[i], len) == 0 && env_add[j][len] == '=';
		if (!replaced)
			v[k++] = environ[i];
	}
	for (size_t j = 0; j < nadd; j++)
		v[k++] = env_add[j];
	return v;
}

int run_wait(char *const argv[], int flags, int timeout_s, char **capture, tardis_error_t *err)
{
	return run_wait_env(argv, NULL, flags, timeout_s, capture, err);
}

int run_wait_env(char *const argv[], char *const env_add[], int flags, int timeout_s,
		 char **capture, tardis_error_t *err)
{
	return run_wait_tick_env(argv, env_add, flags, timeout_s, NULL, capture, err);
}

int run_wait_tick_env(char *const argv[], char *const env_add[], int flags, int timeout_s,
		      const struct run_tick *tick, char **capture, tardis_error_t *err)
{
	struct sigaction sa = { .sa_handler = forward }, old_term, old_int;
	struct run r = { .argv = argv, .flags = flags, .out = -1, .pidfd = -1, .tick = tick };
	cleanup_free char **envp = NULL;
	int pipefd[2] = { -1, -1 };
	int status;

	if (capture)
		*capture = NULL;
	if (env_add && !(envp = r.envp = env_merge(env_add)))
		return tardis_make_error(err, ENOMEM, "environment");
	if (capture && pipe2(pipefd, O_CLOEXEC) < 0)
		return tardis_make_error(err, errno, "pipe");
	r.pid = fork();
	if (r.pid < 0) {
		int e = errno;

		if (capture) {
			close(pipefd[0]);
			close(pipefd[1]);
		}
		return tardis_make_error(err, e, "fork");
	}
	if (r.pid == 0)
		run_child(&r, pipefd[1]);
	if (flags & RUN_OWN_PGRP)
		setpgid(r.pid, r.pid);
	/* Readable when the child exits: a timed wait wakes at once, not at
	 * the next 5 ms nap (Linux 5.3+; the naps remain the fallback). */
	r.pidfd = (int)syscall(SYS_pidfd_open, r.pid, 0);
	forward_to = r.pid;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, &old_term);
	sigaction(SIGINT, &sa, &old_int);
	if (capture) {
		close(pipefd[1]);
		r.out = pipefd[0];
	}
	if (timeout_s > 0)
		r.deadline = now_ms() + (uint64_t)timeout_s * 1000;
	if (tick)
		r.next_tick = now_ms() + (uint64_t)tick->first_ms;
	r.watch = tick && tick->on_watch ? tick->watch_fd : -1;
	status = run_reap(&r);
	forward_to = 0;
	sigaction(SIGTERM, &old_term, NULL);
	sigaction(SIGINT, &old_int, NULL);
	if (r.out >= 0)
		close(r.out);
	if (r.pidfd >= 0)
		close(r.pidfd);
	if (capture) {
		if (!r.cap)
			r.cap = calloc(1, 1);
		else
			r.cap[r.cap_len] = '\0';
		*capture = r.cap;
	} else {
		free(r.cap);
	}
	if (status == -2)
		return tardis_make_error(err, ETIMEDOUT, "%s timed out after %d s", argv[0], timeout_s);
	if (status < 0)
		return tardis_make_error(err, errno, "wait for %s", argv[0]);
	return status;
}

int run_wait_logged(char *const argv[], int flags, int timeout_s, char **capture,
		    tardis_error_t *err)
{
	return run_wait_logged_tick_env(argv, NULL, flags, timeout_s, NULL, capture, err);
}

int run_wait_logged_env(char *const argv[], char *const env_add[], int flags, int timeout_s,
			char **capture, tardis_error_t *err)
{
	return run_wait_logged_tick_env(argv, env_add, flags, timeout_s, NULL, capture, err);
}

int run_wait_logged_tick_env(char *const argv[], char *const env_add[], int flags, int timeout_s,
			     const struct run_tick *tick, char **capture, tardis_error_t *err)
{
	char line[2048];
	int64_t t0;
	int st;

	argv_format(argv, line, sizeof(line));
	if (env_add) {
		char env[1024];

		argv_format(env_add, env, sizeof(env));
		log_info("run: %s %s", env, line);
	} else {
		log_info("run: %s", line);
	}
	t0 = time_monotonic_ns();
	st = run_wait_tick_env(argv, env_add, flags, timeout_s, tick, capture, err);
	if (st >= 0 && st != 0)
		log_warn("%s: exit status %d", line, WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
	/* How long the call took, from spawn to reap (make bench: tardis's
	 * own time is the rest). */
	log_debug("run: %.40s...: done in %.3f ms", argv[0], (time_monotonic_ns() - t0) / 1e6);
	return st;
}
