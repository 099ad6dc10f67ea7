#include "deadline.h"
#include "cleanup.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* The page the child answers in: the header, then the output. */
struct answer {
	int done;
	unsigned progress; /* deadline_alive()'s count */
	int value;
	size_t len;
	char out[];
};

/* Helpers left behind, reaped once they end (by the next deadline_run):
 * a long-lived caller (tardisd) keeps no zombies. */
static pid_t stuck[16];

static void reap_stuck(void)
{
	for (size_t i = 0; i < sizeof(stuck) / sizeof(stuck[0]); i++)
		if (stuck[i] > 0 && waitpid(stuck[i], NULL, WNOHANG) != 0)
			stuck[i] = 0;
}

static void remember_stuck(pid_t pid)
{
	for (size_t i = 0; i < sizeof(stuck) / sizeof(stuck[0]); i++)
		if (stuck[i] <= 0) {
			stuck[i] = pid;
			return;
		}
}

/* In a helper: its answer page (deadline_alive). */
static struct answer *in_helper;

/* Lock fds a helper must not keep (deadline_close_in_helpers). */
static int close_fds[8] = { -1, -1, -1, -1, -1, -1, -1, -1 };

void deadline_close_in_helpers(int fd)
{
	for (size_t i = 0; fd >= 0 && i < sizeof(close_fds) / sizeof(close_fds[0]); i++)
		if (close_fds[i] < 0 || close_fds[i] == fd) {
			close_fds[i] = fd;
			return;
		}
}

int deadline_in_helper(void)
{
	return in_helper != NULL;
}

void deadline_alive(void)
{
	if (in_helper)
		__atomic_add_fetch(&in_helper->progress, 1, __ATOMIC_RELAXED);
}

/* The child: stdin and stdout on /dev/null, stderr into the relay pipe --
 * a helper left behind must not hold the caller's stdio (a shim reads
 * runc's output until its end). */
static void child_run(struct answer *a, size_t cap, int relay, deadline_fn fn, void *arg)
{
	int null = open("/dev/null", O_RDWR | O_CLOEXEC);
	size_t len = 0;
	int v;

	for (size_t i = 0; i < sizeof(close_fds) / sizeof(close_fds[0]); i++)
		if (close_fds[i] >= 0 && close_fds[i] != null)
			close(close_fds[i]);
	if (null >= 0) {
		dup2(null, 0);
		dup2(null, 1);
	}
	dup2(relay, 2);
	in_helper = a;
	v = fn(arg, a->out, cap, &len);
	a->value = v;
	a->len = len <= cap ? len : cap;
	__atomic_store_n(&a->done, 1, __ATOMIC_RELEASE);
	_exit(0);
}

/* What the child wrote to its stderr, onto ours; -1 at its end. */
static int relay_copy(int fd)
{
	char buf[4096];
	ssize_t n = read(fd, buf, sizeof(buf));

	if (n > 0) {
		write_full(2, buf, (size_t)n);
		return 0;
	}
	return n < 0 && (errno == EINTR || errno == EAGAIN) ? 0 : -1;
}

/* Waits until pid ends (reaped: 1) or timeout_ms pass without progress
 * (0); timeout_ms <= 0: no deadline.  Relays the child's stderr meanwhile. */
static int wait_child(pid_t pid, int timeout_ms, const struct answer *a, int relay)
{
	cleanup_close int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	int64_t since = time_monotonic_ns();
	unsigned seen = __atomic_load_n(&a->progress, __ATOMIC_RELAXED);

	for (;;) {
		struct pollfd p[2] = { { .fd = pidfd, .events = POLLIN },
				       { .fd = relay, .events = POLLIN } };
		int64_t left = timeout_ms - (time_monotonic_ns() - since) / 1000000;
		unsigned now;

		if (timeout_ms > 0 && left <= 0)
			return 0;
		/* In slices of 250 ms (10 without a pidfd, before 5.3):
		 * progress made meanwhile starts the deadline anew. */
		if (poll(p, 2, pidfd < 0 ? 10 : timeout_ms <= 0 || left > 250 ? 250 : (int)left) > 0 &&
		    (p[1].revents & (POLLIN | POLLHUP)) && relay_copy(relay) < 0)
			relay = -1;
		if (p[0].revents & POLLIN || (pidfd < 0 && waitpid(pid, NULL, WNOHANG) == pid))
			break;
		now = __atomic_load_n(&a->progress, __ATOMIC_RELAXED);
		if (now != seen) {
			seen = now;
			since = time_monotonic_ns();
		}
	}
	while (relay >= 0 && relay_copy(relay) == 0)
		;
	while (pidfd >= 0 && waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
	return 1;
}

static int fail(tardis_error_t *err, int e, const char *what, const char *step)
{
	tardis_make_error(err, e, "%s: %s", what, step);
	return -e;
}

int deadline_run(const char *what, int timeout_ms, deadline_fn fn, void *arg, void *out, size_t cap,
		 size_t *out_len, pid_t *stuck_pid, tardis_error_t *err)
{
	size_t size = sizeof(struct answer) + cap;
	int relay[2];
	struct answer *a;
	pid_t pid;
	int v;

	if (stuck_pid)
		*stuck_pid = 0;
	if (out_len)
		*out_len = 0;
	reap_stuck();
	a = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (a == MAP_FAILED)
		return fail(err, errno, what, "mmap");
	if (pipe2(relay, O_CLOEXEC) < 0) {
		v = errno;
		munmap(a, size);
		return fail(err, v, what, "pipe");
	}
	pid = fork();
	if (pid < 0) {
		v = errno;
		munmap(a, size);
		close(relay[0]);
		close(relay[1]);
		return fail(err, v, what, "fork");
	}
	if (pid == 0) {
		close(relay[0]);
		child_run(a, cap, relay[1], fn, arg);
	}
	close(relay[1]);
	if (!wait_child(pid, timeout_ms, a, relay[0])) {
		kill(pid, SIGKILL);
		remember_stuck(pid);
		close(relay[0]);
		munmap(a, size);
		if (stuck_pid)
			*stuck_pid = pid;
		tardis_make_error(err, ETIMEDOUT, "%s did not answer within %d ms (helper %d left behind)",
				  what, timeout_ms, (int)pid);
		return -ETIMEDOUT;
	}
	close(relay[0]);
	if (!__atomic_load_n(&a->done, __ATOMIC_ACQUIRE)) {
		munmap(a, size);
		return fail(err, EIO, what, "the helper died without an answer");
	}
	v = a->value;
	if (out && a->len)
		memcpy(out, a->out, a->len);
	if (out_len)
		*out_len = a->len;
	munmap(a, size);
	return v;
}

static int networkfs_default = 10;

void deadline_set_networkfs_default(int seconds)
{
	if (seconds > 0)
		networkfs_default = seconds;
}

int deadline_networkfs_ms(int config_seconds)
{
	const char *e = getenv("TARDIS_NETWORKFS_TIMEOUT");

	if (e && *e) {
		char *end;
		double s = strtod(e, &end);

		if (end != e && !*end && s > 0 && s <= 86400)
			return (int)(s * 1000);
	}
	return (config_seconds > 0 ? config_seconds : networkfs_default) * 1000;
}
