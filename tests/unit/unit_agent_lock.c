/* agent_lock: one agent per pin dir (a flock on the directory), the holder
 * file that names it, the name of that file. */
#include "unit_main.h"
#include "agent_lock.h"
#include "proc.h"

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* TARDIS_RUN_DIR and a "pin dir", both fresh; malloc'd pin dir. */
static char *setup(char **run)
{
	char *pin = unit_tmpdir();

	*run = unit_tmpdir();
	setenv("TARDIS_RUN_DIR", *run, 1);
	return pin;
}

START_TEST(test_holder_path)
{
	char out[512];

	setenv("TARDIS_RUN_DIR", "/run/x", 1);
	ck_assert_int_eq(agent_lock_holder_path("/sys/fs/bpf/tardis", out, sizeof(out)), 0);
	ck_assert_str_eq(out, "/run/x/agent-%2Fsys%2Ffs%2Fbpf%2Ftardis.holder");
	/* One name per path: '-' and '/' differ. */
	ck_assert_int_eq(agent_lock_holder_path("/a-b", out, sizeof(out)), 0);
	ck_assert_str_eq(out, "/run/x/agent-%2Fa%2Db.holder");
	{
		char longp[300];

		memset(longp, 'a', sizeof(longp) - 1);
		longp[0] = '/';
		longp[sizeof(longp) - 1] = '\0';
		ck_assert_int_eq(agent_lock_holder_path(longp, out, sizeof(out)), -1);
	}
	unsetenv("TARDIS_RUN_DIR");
}
END_TEST

START_TEST(test_second_refused)
{
	char *run, *pin = setup(&run), path[512];
	struct agent_holder h;
	tardis_error_t err = NULL;
	int fd, fd2;

	ck_assert_int_eq(agent_lock_probe(pin, &h), 0);
	fd = agent_lock_acquire(pin, "/state/one", &h, &err);
	ck_assert_msg(fd >= 0, "%s", tardis_error_msg(err));
	ck_assert_int_eq(agent_lock_holder_path(pin, path, sizeof(path)), 0);
	ck_assert_int_eq(access(path, F_OK), 0);

	/* Another open file description: refused, told who holds it. */
	memset(&h, 0, sizeof(h));
	fd2 = agent_lock_acquire(pin, "/state/two", &h, &err);
	ck_assert_int_eq(fd2, -2);
	ck_assert_int_eq(h.pid, getpid());
	ck_assert_str_eq(h.state_dir, "/state/one");
	memset(&h, 0, sizeof(h));
	ck_assert_int_eq(agent_lock_probe(pin, &h), 1);
	ck_assert_int_eq(h.pid, getpid());
	ck_assert_str_eq(h.state_dir, "/state/one");

	/* Released: the holder file goes, the next one takes it. */
	agent_lock_release(fd, pin);
	ck_assert_int_ne(access(path, F_OK), 0);
	ck_assert_int_eq(agent_lock_probe(pin, &h), 0);
	fd2 = agent_lock_acquire(pin, "/state/two", &h, &err);
	ck_assert_msg(fd2 >= 0, "%s", tardis_error_msg(err));
	ck_assert_int_eq(agent_lock_probe(pin, &h), 1);
	ck_assert_str_eq(h.state_dir, "/state/two");
	agent_lock_release(fd2, pin);
	unsetenv("TARDIS_RUN_DIR");
	free(pin);
	free(run);
}
END_TEST

/* A holder file that names another pid (a dead agent's): no state dir
 * claimed for the live holder. */
START_TEST(test_stale_holder_file)
{
	char *run, *pin = setup(&run), path[512];
	struct agent_holder h;
	tardis_error_t err = NULL;
	FILE *f;
	int fd;

	fd = agent_lock_acquire(pin, "/state/one", &h, &err);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(agent_lock_holder_path(pin, path, sizeof(path)), 0);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fprintf(f, "pid %d\nstate_dir /stale\n", (int)getpid() + 1);
	fclose(f);
	ck_assert_int_eq(agent_lock_probe(pin, &h), 1);
	ck_assert_int_eq(h.pid, getpid());
	ck_assert_str_eq(h.state_dir, "");
	agent_lock_release(fd, pin);
	unsetenv("TARDIS_RUN_DIR");
	free(pin);
	free(run);
}
END_TEST

/* No lock held, a holder file left by an agent that is gone (SIGKILL):
 * its pid dead, or reused by a process that started at another time.
 * probe must not take the file's word for it. */
START_TEST(test_holder_of_gone_agent)
{
	char *run, *pin = setup(&run), path[512];
	struct agent_holder h;
	uint64_t start;
	pid_t child;
	FILE *f;

	ck_assert_int_eq(agent_lock_holder_path(pin, path, sizeof(path)), 0);
	child = fork();
	ck_assert_int_ge(child, 0);
	if (child == 0)
		_exit(0);
	ck_assert_int_eq(proc_start_time(child, &start), 0);
	ck_assert_int_eq(waitpid(child, NULL, 0), child);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fprintf(f, "pid %d\nstart %llu\nstate_dir /gone\n", (int)child, (unsigned long long)start);
	fclose(f);
	ck_assert_int_eq(agent_lock_probe(pin, &h), 0);

	ck_assert_int_eq(proc_start_time(getpid(), &start), 0);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fprintf(f, "pid %d\nstart %llu\nstate_dir /reused\n", (int)getpid(),
		(unsigned long long)start + 1);
	fclose(f);
	ck_assert_int_eq(agent_lock_probe(pin, &h), 0);

	/* The same file naming this live process: taken as the holder
	 * without /proc/locks (an agent keeps its lock while it runs). */
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fprintf(f, "pid %d\nstart %llu\nstate_dir /live\n", (int)getpid(), (unsigned long long)start);
	fclose(f);
	ck_assert_int_eq(agent_lock_probe(pin, &h), 1);
	ck_assert_int_eq(h.pid, getpid());
	ck_assert_str_eq(h.state_dir, "/live");
	unlink(path);
	unsetenv("TARDIS_RUN_DIR");
	free(pin);
	free(run);
}
END_TEST

START_TEST(test_missing_dir)
{
	struct agent_holder h;
	tardis_error_t err = NULL;

	ck_assert_int_eq(agent_lock_probe("/nonexistent/tardis-pins", &h), 0);
	ck_assert_int_eq(agent_lock_acquire("/nonexistent/tardis-pins", "/s", &h, &err), -1);
	ck_assert_ptr_nonnull(strstr(tardis_error_msg(err), "open pin directory"));
	tardis_error_free(&err);
}
END_TEST

UNIT_SUITE(agent_lock, "agent_lock", test_holder_path, test_second_refused, test_stale_holder_file,
	   test_holder_of_gone_agent, test_missing_dir)
