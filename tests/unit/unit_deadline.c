/* deadline.c: work in a helper process the caller waits for only so long. */
#include "unit_main.h"
#include "deadline.h"
#include "mountinfo.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>

static int answer(void *arg, void *out, size_t cap, size_t *len)
{
	const char *s = arg;

	*len = strlen(s) + 1;
	if (*len > cap)
		return -ENOSPC;
	memcpy(out, s, *len);
	return 42;
}

static int hang(void *arg, void *out, size_t cap, size_t *len)
{
	for (;;)
		pause();
	return 0;
}

/* Works for 1 s, saying so every 50 ms. */
static int busy(void *arg, void *out, size_t cap, size_t *len)
{
	struct timespec t = { 0, 50 * 1000 * 1000 };

	for (int i = 0; i < 20; i++) {
		nanosleep(&t, NULL);
		deadline_alive();
	}
	return 7;
}

static int crash(void *arg, void *out, size_t cap, size_t *len)
{
	abort();
}

START_TEST(test_answer)
{
	char out[64];
	size_t len = 0;
	pid_t stuck = -1;
	tardis_error_t err = NULL;

	ck_assert_int_eq(deadline_run("answer", 5000, answer, "from the child", out, sizeof(out), &len,
				      &stuck, &err),
			 42);
	ck_assert_ptr_null(err);
	ck_assert_int_eq(stuck, 0);
	ck_assert_uint_eq(len, 15);
	ck_assert_str_eq(out, "from the child");
	/* No deadline at all. */
	ck_assert_int_eq(deadline_run("answer", 0, answer, "x", out, sizeof(out), NULL, NULL, &err), 42);
	/* The child's own negative errno comes through. */
	ck_assert_int_eq(deadline_run("answer", 5000, answer, "too long for 4", out, 4, NULL, NULL,
				      &err),
			 -ENOSPC);
	ck_assert_ptr_null(err);
}
END_TEST

START_TEST(test_timeout)
{
	pid_t stuck = 0;
	int status;
	tardis_error_t err = NULL;

	ck_assert_int_eq(deadline_run("a hanging stat of /mnt/x", 200, hang, NULL, NULL, 0, NULL, &stuck,
				      &err),
			 -ETIMEDOUT);
	ck_assert_int_gt(stuck, 0);
	UNIT_ASSERT_CONTAINS(tardis_error_msg(err), "a hanging stat of /mnt/x did not answer within 200 ms",
			     "left behind");
	ck_assert_int_eq(tardis_error_errno(err), ETIMEDOUT);
	tardis_error_free(&err);
	/* It was sent SIGKILL: it ends (here at once: pause() is interruptible). */
	ck_assert_int_eq(waitpid(stuck, &status, 0), stuck);
	ck_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
}
END_TEST

START_TEST(test_progress)
{
	tardis_error_t err = NULL;

	/* Longer than the deadline, but never silent for it. */
	ck_assert_int_eq(deadline_run("busy", 300, busy, NULL, NULL, 0, NULL, NULL, &err), 7);
	ck_assert_ptr_null(err);
	deadline_alive(); /* outside a helper: nothing */
}
END_TEST

START_TEST(test_crash)
{
	tardis_error_t err = NULL;

	ck_assert_int_eq(deadline_run("crash", 5000, crash, NULL, NULL, 0, NULL, NULL, &err), -EIO);
	UNIT_ASSERT_CONTAINS(tardis_error_msg(err), "crash: the helper died without an answer");
	tardis_error_free(&err);
}
END_TEST

START_TEST(test_networkfs_ms)
{
	unsetenv("TARDIS_NETWORKFS_TIMEOUT");
	ck_assert_int_eq(deadline_networkfs_ms(0), 10000);
	ck_assert_int_eq(deadline_networkfs_ms(3), 3000);
	setenv("TARDIS_NETWORKFS_TIMEOUT", "0.5", 1);
	ck_assert_int_eq(deadline_networkfs_ms(3), 500);
	setenv("TARDIS_NETWORKFS_TIMEOUT", "soon", 1);
	ck_assert_int_eq(deadline_networkfs_ms(3), 3000);
	unsetenv("TARDIS_NETWORKFS_TIMEOUT");
}
END_TEST

static int fd_open_in_helper(void *arg, void *out, size_t cap, size_t *len)
{
	return fcntl(*(int *)arg, F_GETFD) >= 0;
}

/* A lock's fd registered is closed in the helpers, still open here. */
START_TEST(test_close_in_helpers)
{
	tardis_error_t err = NULL;
	int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(deadline_run("fd", 5000, fd_open_in_helper, &fd, NULL, 0, NULL, NULL, &err), 1);
	deadline_close_in_helpers(fd);
	ck_assert_int_eq(deadline_run("fd", 5000, fd_open_in_helper, &fd, NULL, 0, NULL, NULL, &err), 0);
	ck_assert_int_ge(fcntl(fd, F_GETFD), 0);
	close(fd);
}
END_TEST

/* The mount of a path by its text alone (nothing of it looked at). */
START_TEST(test_mount_of)
{
	char m[4096];

	ck_assert_int_eq(mountinfo_mount_of("/proc/self/status", m, sizeof(m)), 1);
	ck_assert_str_eq(m, "/proc");
	ck_assert_int_eq(mountinfo_mount_of("/proc", m, sizeof(m)), 1);
	ck_assert_str_eq(m, "/proc");
	/* A component's prefix is not the component. */
	ck_assert_int_eq(mountinfo_mount_of("/procfoo/x", m, sizeof(m)), 1);
	ck_assert_str_ne(m, "/proc");
	ck_assert_int_eq(mountinfo_mount_of("/nonexistent/never/looked/at", m, sizeof(m)), 1);
	ck_assert_str_eq(m, "/");
}
END_TEST

UNIT_SUITE(deadline, "deadline", test_answer, test_timeout, test_progress, test_crash, test_networkfs_ms, test_mount_of,
	   test_close_in_helpers)
