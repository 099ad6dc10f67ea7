/* process: run_wait's exit statuses, capture (stdout, stderr), timeout,
 * the tick while waiting, PATH search, added environment; argv_buf and argv_format. */
#include "unit_main.h"
#include "process.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>
#include <sys/syscall.h>
#include <sys/wait.h>

static int run_sh(const char *script, int flags, int timeout_s, char **cap, tardis_error_t *err)
{
	char *const argv[] = { "/bin/sh", "-c", (char *)script, NULL };

	return run_wait(argv, flags, timeout_s, cap, err);
}

START_TEST(test_exit_status)
{
	tardis_error_t err = NULL;
	int st = run_sh("exit 3", RUN_QUIET, 0, NULL, &err);

	ck_assert(st >= 0 && WIFEXITED(st));
	ck_assert_int_eq(WEXITSTATUS(st), 3);
	st = run_sh("kill -9 $$", RUN_QUIET, 5, NULL, &err);
	ck_assert(st >= 0 && WIFSIGNALED(st));
	ck_assert_int_eq(WTERMSIG(st), 9);
	ck_assert_ptr_null(err);
}
END_TEST

START_TEST(test_capture)
{
	tardis_error_t err = NULL;
	char *cap = NULL;
	int st = run_sh("echo out; echo err >&2", 0, 5, &cap, &err);

	ck_assert_int_eq(st, 0);
	ck_assert_str_eq(cap, "out\n");
	free(cap);
	st = run_sh("echo out; echo err >&2", RUN_CAPTURE_STDERR | RUN_STDIN_NULL, 5, &cap, &err);
	ck_assert_int_eq(st, 0);
	ck_assert_str_eq(cap, "out\nerr\n");
	free(cap);
	/* Nothing written: an empty string, not NULL. */
	st = run_sh("true", 0, 0, &cap, &err);
	ck_assert_int_eq(st, 0);
	ck_assert_str_eq(cap, "");
	free(cap);
}
END_TEST

START_TEST(test_timeout)
{
	tardis_error_t err = NULL;
	char *cap = NULL;
	int st = run_sh("echo before; exec sleep 30", RUN_OWN_PGRP, 1, &cap, &err);

	ck_assert_int_eq(st, -1);
	ck_assert_int_eq(tardis_error_errno(err), ETIMEDOUT);
	ck_assert(strstr(tardis_error_msg(err), "/bin/sh timed out after 1 s") != NULL);
	ck_assert_str_eq(cap, "before\n"); /* what came before the kill is kept */
	free(cap);
	tardis_error_free(&err);
}
END_TEST

/* The tick is called while the child runs: the child ends only once the
 * third tick has created the file it waits for. */
struct tick_state {
	const char *path;
	int n;
};

static void tick_fn(void *arg)
{
	struct tick_state *t = arg;

	if (++t->n == 3)
		close(open(t->path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600));
}

/* Runs script (sh -c) with tick, its output captured or not; asserts its
 * exit status. */
static void run_ticked(const char *script, int captured, const struct run_tick *tick, int status)
{
	char *const argv[] = { "/bin/sh", "-c", (char *)script, NULL };
	tardis_error_t err = NULL;
	char *cap = NULL;
	/* Without capture and without a timeout the wait would otherwise
	 * block in waitpid: the tick must still come. */
	int st = run_wait_tick_env(argv, NULL, captured ? 0 : RUN_QUIET, captured ? 30 : 0, tick,
				   captured ? &cap : NULL, &err);

	ck_assert_msg(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == status, "status %d: %s", st,
		      err ? tardis_error_msg(err) : "");
	if (captured)
		ck_assert_str_eq(cap, "done\n");
	free(cap);
}

START_TEST(test_tick)
{
	char *dir = unit_tmpdir(), *path = NULL, *script = NULL;

	ck_assert(asprintf(&path, "%s/go", dir) > 0);
	ck_assert(asprintf(&script, "while [ ! -e '%s' ]; do sleep 0.01; done; echo done; exit 7",
			   path) > 0);
	for (int captured = 0; captured < 2; captured++) {
		struct tick_state t = { .path = path };
		struct run_tick tick = { .first_ms = 0, .every_ms = 20, .fn = tick_fn, .arg = &t };

		unlink(path);
		run_ticked(script, captured, &tick, 7);
		ck_assert_int_ge(t.n, 3);
	}
	unit_rmrf(dir);
	free(script);
	free(path);
	free(dir);
}
END_TEST

static void watch_fn(void *arg)
{
	struct tick_state *t = arg;

	t->n++;
	close(open(t->path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600));
}

static void idle_fn(void *arg)
{
}

/* The watch: on_watch once, as soon as its fd (a pidfd of another child,
 * gone after 50 ms) fires -- the run ends only because it did, long
 * before the next tick. */
START_TEST(test_watch)
{
	char *dir = unit_tmpdir(), *path = NULL, *script = NULL;

	ck_assert(asprintf(&path, "%s/go", dir) > 0);
	ck_assert(asprintf(&script, "while [ ! -e '%s' ]; do sleep 0.01; done; echo done", path) > 0);
	for (int captured = 0; captured < 2; captured++) {
		struct tick_state t = { .path = path };
		pid_t other = fork();
		int fd;

		if (other == 0) {
			usleep(50 * 1000);
			_exit(0);
		}
		fd = (int)syscall(SYS_pidfd_open, other, 0);
		ck_assert_int_ge(fd, 0);
		struct run_tick tick = { .first_ms = 60 * 1000, .every_ms = 60 * 1000, .fn = idle_fn,
					 .arg = &t, .watch_fd = fd, .on_watch = watch_fn };
		unlink(path);
		run_ticked(script, captured, &tick, 0);
		ck_assert_int_eq(t.n, 1);
		waitpid(other, NULL, 0);
		close(fd);
	}
	unit_rmrf(dir);
	free(script);
	free(path);
	free(dir);
}
END_TEST

START_TEST(test_search_path)
{
	char *const argv[] = { "sh", "-c", "echo found", NULL };
	char *const missing[] = { "tardis-no-such-program", NULL };
	tardis_error_t err = NULL;
	char *cap = NULL;
	int st = run_wait(argv, RUN_SEARCH_PATH, 5, &cap, &err);

	ck_assert_int_eq(st, 0);
	ck_assert_str_eq(cap, "found\n");
	free(cap);
	st = run_wait(missing, RUN_SEARCH_PATH | RUN_CAPTURE_STDERR, 5, &cap, &err);
	ck_assert(st >= 0 && WIFEXITED(st));
	ck_assert_int_eq(WEXITSTATUS(st), 127);
	ck_assert(strstr(cap, "exec tardis-no-such-program: ") == cap);
	free(cap);
}
END_TEST

START_TEST(test_env)
{
	char *const add[] = { "TARDIS_UNIT_ENV=one", "HOME=/replaced", NULL };
	tardis_error_t err = NULL;
	char *cap = NULL;
	char *const argv[] = { "/bin/sh", "-c",
			       "echo $TARDIS_UNIT_ENV $HOME $(env | grep -c ^HOME=) ${PATH:+path}", NULL };
	int st;

	setenv("HOME", "/original", 1);
	st = run_wait_env(argv, add, 0, 5, &cap, &err);
	ck_assert_int_eq(st, 0);
	/* Added, replaced (once, not twice), the rest inherited. */
	ck_assert_str_eq(cap, "one /replaced 1 path\n");
	free(cap);
	st = run_wait_env(argv, NULL, 0, 5, &cap, &err);
	ck_assert_int_eq(st, 0);
	ck_assert_str_eq(cap, "/original 1 path\n");
	free(cap);
	ck_assert_str_eq(getenv("HOME"), "/original"); /* ours untouched */
}
END_TEST

START_TEST(test_argv)
{
	cleanup_argv struct argv_buf a = { 0 };
	char line[16];

	for (int i = 0; i < 100; i++)
		ck_assert_int_eq(argv_push(&a, i % 2 ? "b" : "a"), 0);
	ck_assert_int_eq(a.n, 100);
	ck_assert_ptr_null(a.v[100]);
	argv_format(a.v, line, sizeof(line));
	ck_assert_str_eq(line, "a b a b a b a b");
}
END_TEST

Suite *process_suite(void)
{
	const struct unit_tcase cases[] = {
		{ "run_wait", 20,
		  UNIT_TESTS(test_exit_status, test_capture, test_timeout, test_tick, test_watch,
			     test_search_path, test_env, test_argv) },
		{ NULL, 0, NULL },
	};

	return unit_suite("process", cases);
}
