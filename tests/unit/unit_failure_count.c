/* failure_count (the node's failed checkpoints and restores) and
 * criu_log_first_error (the reason a failure records). */
#include "unit_main.h"
#include "criu_log.h"
#include "error.h"
#include "failure_count.h"
#include "state.h"

#include <fcntl.h>
#include <sys/stat.h>

START_TEST(test_trigger_labels)
{
	ck_assert_int_eq(failure_trigger_of("checkpoint"), FAILURE_TRIGGER_CHECKPOINT);
	ck_assert_int_eq(failure_trigger_of("stop signal"), FAILURE_TRIGGER_KILL);
	ck_assert_int_eq(failure_trigger_of("delete --force"), FAILURE_TRIGGER_DELETE);
	ck_assert_int_eq(failure_trigger_of("finalize"), FAILURE_TRIGGER_OTHER);
	ck_assert_int_eq(failure_trigger_of(NULL), FAILURE_TRIGGER_OTHER);
	ck_assert_str_eq(failure_trigger_names[FAILURE_TRIGGER_KILL], "kill");
}
END_TEST

START_TEST(test_counts_add_load)
{
	char *dir = unit_tmpdir();
	struct tardis_store s = { .root_fd = -1 };
	tardis_error_t err = NULL;
	struct failure_counts n;
	struct stat st;

	ck_assert_int_eq(store_open(&s, dir, &err), 0);
	ck_assert_int_eq(failure_count_load(&s, &n, &err), 0); /* no file yet: zeros */
	ck_assert_uint_eq(n.checkpoint[FAILURE_TRIGGER_KILL] + n.restore, 0);
	ck_assert_int_eq(failure_count_add(&s, FAILURE_TRIGGER_KILL, &err), 0);
	ck_assert_int_eq(failure_count_add(&s, FAILURE_TRIGGER_KILL, &err), 0);
	ck_assert_int_eq(failure_count_add(&s, FAILURE_TRIGGER_DELETE, &err), 0);
	ck_assert_int_eq(failure_count_add(&s, -1, &err), 0);
	ck_assert_int_eq(failure_count_load(&s, &n, &err), 0);
	ck_assert_uint_eq(n.checkpoint[FAILURE_TRIGGER_KILL], 2);
	ck_assert_uint_eq(n.checkpoint[FAILURE_TRIGGER_DELETE], 1);
	ck_assert_uint_eq(n.checkpoint[FAILURE_TRIGGER_CHECKPOINT], 0);
	ck_assert_uint_eq(n.restore, 1);
	ck_assert_int_eq(fstatat(s.root_fd, FAILURES_FILE, &st, 0), 0);
	ck_assert_int_eq(st.st_mode & 0077, 0); /* the state dir's files are root's */
	store_close(&s);
	free(dir);
}
END_TEST

START_TEST(test_criu_first_error)
{
	char *dir = unit_tmpdir(), path[4200], out[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/dump.log", dir);
	ck_assert_int_eq(criu_log_first_error(path, out, sizeof(out)), 0); /* no log */
	ck_assert_str_eq(out, "");
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs("(00.000100) Version: 4.2.1\n"
	      "(00.000200) Error (criu/util.c:600): Can't setup RLIMIT_NOFILE for self: Operation not permitted\n"
	      "(00.010000) Error (criu/files-ext.c:96): Can't dump file 5 of that type [1] (anon_inode:[io_uring])\n"
	      "(00.020000) Error (criu/cr-dump.c:2099): Dumping FAILED.\n",
	      f);
	fclose(f);
	ck_assert_int_eq(criu_log_first_error(path, out, sizeof(out)), 1);
	ck_assert_str_eq(out, "Error (criu/files-ext.c:96): Can't dump file 5 of that type [1] "
			      "(anon_inode:[io_uring])");
	free(dir);
}
END_TEST

/* runc's own error when CRIU wrote nothing: its last line, logrus's msg
 * unwrapped (runc 1.3 built with runc_nocriu; runc 1.1's "CRIU version
 * check failed" with no --log). */
START_TEST(test_runc_output_error)
{
	char out[128];

	ck_assert_int_eq(runc_output_error(NULL, out, sizeof(out)), 0);
	ck_assert_str_eq(out, "");
	ck_assert_int_eq(runc_output_error("\n \n", out, sizeof(out)), 0);
	ck_assert_int_eq(runc_output_error("this runc binary has not been compiled with checkpoint/restore "
					   "support enabled (runc_nocriu)\n",
					   out, sizeof(out)),
			 1);
	ck_assert_str_eq(out, "this runc binary has not been compiled with checkpoint/restore support "
			      "enabled (runc_nocriu)");
	ck_assert_int_eq(runc_output_error("time=\"2026-11-26T20:01:02Z\" level=warning msg=\"x\"\n"
					   "time=\"2026-11-26T20:01:02Z\" level=error msg=\"CRIU version "
					   "check failed: exec: \\\"criu\\\": not found\"\n",
					   out, sizeof(out)),
			 1);
	ck_assert_str_eq(out, "CRIU version check failed: exec: \\\"criu\\\": not found");
	ck_assert_int_eq(runc_output_error("a much longer line than fits\n", out, 8), 1);
	ck_assert_str_eq(out, "a much ");
}
END_TEST

UNIT_SUITE(failure_count, "core", test_trigger_labels, test_counts_add_load, test_criu_first_error,
	   test_runc_output_error)
