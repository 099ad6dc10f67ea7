#include "runc_exec.h"
#include "cleanup.h"
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int is_self(const char *path)
{
	struct stat a, b;

	if (stat(path, &a) < 0 || stat("/proc/self/exe", &b) < 0)
		return 0;
	return a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

static int usable(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISREG(st.st_mode) && access(path, X_OK) == 0 &&
	       !is_self(path);
}

int runc_find(const char *configured, char *out, size_t len, tardis_error_t *err)
{
	const char *path = getenv("PATH");
	cleanup_free char *copy = NULL;
	char *save = NULL, *dir;

	if (configured && *configured) {
		if (configured[0] != '/')
			return tardis_make_error(err, EINVAL, "runc `%s` is not an absolute path",
						 configured);
		if (is_self(configured))
			return tardis_make_error(err, ELOOP, "runc `%s` is tardis-runc itself",
						 configured);
		if (!usable(configured))
			return tardis_make_error(err, ENOENT, "runc `%s` is not executable",
						 configured);
		snprintf(out, len, "%s", configured);
		return 0;
	}
	copy = strdup(path && *path ? path : "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
	if (!copy)
		return tardis_make_error(err, ENOMEM, "PATH");
	for (dir = strtok_r(copy, ":", &save); dir; dir = strtok_r(NULL, ":", &save)) {
		char cand[4096];

		if (dir[0] != '/')
			continue; /* a relative PATH entry could point anywhere */
		if (snprintf(cand, sizeof(cand), "%s/runc", dir) >= (int)sizeof(cand))
			continue;
		if (usable(cand)) {
			snprintf(out, len, "%s", cand);
			return 0;
		}
	}
	return tardis_make_error(err, ENOENT, "no runc found on PATH (other than tardis-runc)");
}

void runc_exec_original(const char *runc, char **argv)
{
	char *saved = argv[0];

	argv[0] = (char *)runc;
	execv(runc, argv);
	argv[0] = saved;
}

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

static volatile sig_atomic_t forward_to;

static void forward(int sig)
{
	if (forward_to > 0)
		kill(forward_to, sig);
}

int run_wait(char *const argv[], int flags, int timeout_s, char **capture, tardis_error_t *err)
{
	struct sigaction sa = { .sa_handler = forward }, old_term, old_int;
	int out[2] = { -1, -1 };
	size_t cap_len = 0, cap_size = 0;
	char *cap = NULL;
	uint64_t deadline = 0;
	struct timespec ts;
	int status = -1, timed_out = 0;
	cleanup_close int pidfd = -1;
	pid_t pid;

	if (capture)
		*capture = NULL;
	if (capture && pipe2(out, O_CLOEXEC) < 0)
		return tardis_make_error(err, errno, "pipe");
	pid = fork();
	if (pid < 0) {
		int e = errno;

		if (capture) {
			close(out[0]);
			close(out[1]);
		}
		return tardis_make_error(err, e, "fork");
	}
	if (pid == 0) {
		if (flags & RUN_OWN_PGRP)
			setpgid(0, 0);
		if (capture) {
			dup2(out[1], 1);
		} else if (flags & RUN_QUIET) {
			int null = open("/dev/null", O_WRONLY | O_CLOEXEC);

			if (null >= 0)
				dup2(null, 1);
		}
		execv(argv[0], argv);
		_exit(127);
	}
	if (flags & RUN_OWN_PGRP)
		setpgid(pid, pid);
	/* Readable when the child exits: a timed wait wakes at once, not at
	 * the next 5 ms nap (Linux 5.3+; the naps remain the fallback). */
	pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	forward_to = pid;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, &old_term);
	sigaction(SIGINT, &sa, &old_int);
	if (capture)
		close(out[1]);
	if (timeout_s > 0) {
		clock_gettime(CLOCK_MONOTONIC, &ts);
		deadline = (uint64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 + (uint64_t)timeout_s * 1000;
	}
	for (;;) {
		pid_t r;
		int wait_ms = -1;

		if (deadline) {
			uint64_t now;

			clock_gettime(CLOCK_MONOTONIC, &ts);
			now = (uint64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
			if (now >= deadline) {
				timed_out = 1;
				kill((flags & RUN_OWN_PGRP) ? -pid : pid, SIGKILL);
				waitpid(pid, &status, 0);
				break;
			}
			wait_ms = (int)(deadline - now);
		}
		if (capture && out[0] >= 0) {
			struct pollfd p = { .fd = out[0], .events = POLLIN };

			if (poll(&p, 1, wait_ms < 0 || wait_ms > 100 ? 100 : wait_ms) > 0) {
				char buf[4096];
				ssize_t n = read(out[0], buf, sizeof(buf));

				if (n > 0) {
					if (cap_len + n + 1 > cap_size && cap_len + n < (1 << 20)) {
						size_t ns = (cap_len + n + 1) * 2;
						char *c = realloc(cap, ns);

						if (c) {
							cap = c;
							cap_size = ns;
						}
					}
					if (cap && cap_len + n + 1 <= cap_size) {
						memcpy(cap + cap_len, buf, n);
						cap_len += n;
					}
				} else if (n == 0 || (n < 0 && errno != EINTR)) {
					close(out[0]);
					out[0] = -1;
				}
			}
		} else {
			struct timespec nap = { 0, 5 * 1000 * 1000 };

			r = waitpid(pid, &status, deadline ? WNOHANG : 0);
			if (r == pid)
				break;
			if (r < 0 && errno != EINTR) {
				status = -1;
				break;
			}
			if (deadline && pidfd >= 0) {
				struct pollfd p = { .fd = pidfd, .events = POLLIN };

				poll(&p, 1, wait_ms);
			} else if (deadline) {
				nanosleep(&nap, NULL);
			}
			continue;
		}
		r = waitpid(pid, &status, WNOHANG);
		if (r == pid) {
			/* Drain what is left in the pipe. */
			while (out[0] >= 0) {
				char buf[4096];
				ssize_t n = read(out[0], buf, sizeof(buf));

				if (n <= 0)
					break;
				if (cap && cap_len + n + 1 <= cap_size) {
					memcpy(cap + cap_len, buf, n);
					cap_len += n;
				}
			}
			break;
		}
	}
	forward_to = 0;
	sigaction(SIGTERM, &old_term, NULL);
	sigaction(SIGINT, &old_int, NULL);
	if (out[0] >= 0)
		close(out[0]);
	if (capture) {
		if (!cap)
			cap = calloc(1, 1);
		else
			cap[cap_len] = '\0';
		*capture = cap;
	} else {
		free(cap);
	}
	if (timed_out)
		return tardis_make_error(err, ETIMEDOUT, "%s timed out after %d s", argv[0], timeout_s);
	if (status < 0)
		return tardis_make_error(err, errno, "wait for %s", argv[0]);
	return status;
}
