#include "deadline.h"
#include "util.h"

#include <errno.h>
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

/* In a helper: its answer page (deadline_alive). */
static struct answer *in_helper;

void deadline_alive(void)
{
	if (in_helper)
		__atomic_add_fetch(&in_helper->progress, 1, __ATOMIC_RELAXED);
}

static void child_run(struct answer *a, size_t cap, deadline_fn fn, void *arg)
{
	size_t len = 0;
	int v;

	in_helper = a;
	v = fn(arg, a->out, cap, &len);

	a->value = v;
	a->len = len <= cap ? len : cap;
	__atomic_store_n(&a->done, 1, __ATOMIC_RELEASE);
	_exit(0);
}

/* Waits for pid (pidfd) until it ends (reaped: 1) or timeout_ms pass
 * without progress (0); timeout_ms < 0: no deadline. */
static int wait_child(pid_t pid, int timeout_ms, const struct answer *a)
{
	int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	int64_t since = time_monotonic_ns();
	unsigned seen = __atomic_load_n(&a->progress, __ATOMIC_RELAXED);

	while (timeout_ms > 0) {
		int64_t left = timeout_ms - (time_monotonic_ns() - since) / 1000000;
		int slice = left < 250 ? (int)left : 250;
		unsigned now;

		if (left <= 0) {
			if (pidfd >= 0)
				close(pidfd);
			return 0;
		}
		/* In slices: progress made meanwhile starts the deadline anew. */
		if (pidfd >= 0) {
			struct pollfd p = { .fd = pidfd, .events = POLLIN };

			if (poll(&p, 1, slice) > 0)
				break;
		} else { /* no pidfd (before 5.3): look every 10 ms */
			struct timespec nap = { 0, 10 * 1000 * 1000 };

			if (waitpid(pid, NULL, WNOHANG) == pid)
				return 1;
			nanosleep(&nap, NULL);
		}
		now = __atomic_load_n(&a->progress, __ATOMIC_RELAXED);
		if (now != seen) {
			seen = now;
			since = time_monotonic_ns();
		}
	}
	if (pidfd >= 0)
		close(pidfd);
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
	return 1;
}

int deadline_run(const char *what, int timeout_ms, deadline_fn fn, void *arg, void *out, size_t cap,
		 size_t *out_len, pid_t *stuck_pid, tardis_error_t *err)
{
	size_t size = sizeof(struct answer) + cap;
	struct answer *a;
	pid_t pid;
	int v;

	if (stuck_pid)
		*stuck_pid = 0;
	if (out_len)
		*out_len = 0;
	a = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (a == MAP_FAILED) {
		v = errno;
		tardis_make_error(err, v, "%s: mmap", what);
		return -v;
	}
	pid = fork();
	if (pid < 0) {
		v = errno;
		munmap(a, size);
		tardis_make_error(err, v, "%s: fork", what);
		return -v;
	}
	if (pid == 0)
		child_run(a, cap, fn, arg);
	if (!wait_child(pid, timeout_ms > 0 ? timeout_ms : -1, a)) {
		kill(pid, SIGKILL);
		munmap(a, size);
		if (stuck_pid)
			*stuck_pid = pid;
		tardis_make_error(err, ETIMEDOUT, "%s did not answer within %d ms (helper %d left behind)",
				  what, timeout_ms, (int)pid);
		return -ETIMEDOUT;
	}
	if (!__atomic_load_n(&a->done, __ATOMIC_ACQUIRE)) {
		munmap(a, size);
		tardis_make_error(err, EIO, "%s: the helper died without an answer", what);
		return -EIO;
	}
	v = a->value;
	if (out && a->len)
		memcpy(out, a->out, a->len);
	if (out_len)
		*out_len = a->len;
	munmap(a, size);
	return v;
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
	return (config_seconds > 0 ? config_seconds : 10) * 1000;
}
