/*
 * Tests only: crash_point("name") raises SIGKILL when the environment
 * variable TARDIS_TEST_CRASH_AT names that step, so tests can kill a
 * process at an exact point of a multi-step operation and check what a
 * crash there leaves behind.
 *
 *   TARDIS_TEST_CRASH_AT=name      the first time crash_point("name") runs
 *   TARDIS_TEST_CRASH_AT=name:N    the N-th time (N >= 1)
 *
 * Without the variable (always, in production) it costs a flag test: the
 * variable is read once per process.
 *
 * The points (tests/test_crash.sh kills at each):
 *   checkpoint  ckpt-tmp-created, ckpt-criu-done, ckpt-dump-log-copied,
 *               ckpt-files-saved (shim/tardis-runc.c do_checkpoint);
 *               seal-file-synced (each file), seal-before-manifest,
 *               seal-manifest-written (image_seal); publish-exchanged,
 *               publish-between-renames (image_publish, the fallback);
 *               ckpt-published (published, state not updated yet)
 *   restore     restore-validated (handle_create), filediff-step (each
 *               journaled step of filediff_apply and filediff_rollback),
 *               restore-applied, restore-runc-done (try_restore, before
 *               the journal is committed)
 */
#ifndef TARDIS_CRASHPOINT_H
#define TARDIS_CRASHPOINT_H

#define CRASH_POINT_ENV "TARDIS_TEST_CRASH_AT"

void crash_point(const char *name);

#endif
