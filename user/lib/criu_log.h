/*
 * What went wrong, from CRIU's own log (dump.log, restore.log in runc's
 * --work-path): runc only says "criu failed", CRIU names the cause
 * ("page-xfer: Unable to spice data: No space left on device").
 */
#ifndef TARDIS_CRIU_LOG_H
#define TARDIS_CRIU_LOG_H

#include <stddef.h>

/* The first few distinct messages of CRIU's `Error (file:line): msg`
 * lines, "; "-joined into out (always terminated, "" when none or no log);
 * known-harmless ones (RLIMIT_NOFILE) skipped.  Returns how many. */
int criu_log_errors(const char *log_path, char *out, size_t len);

/* CRIU's first error line, from "Error (" on ("Error (criu/files.c:12):
 * msg"), the harmless RLIMIT_NOFILE one skipped: what a failed checkpoint
 * or restore records as its reason.  1 found, 0 none or no log (out ""). */
int criu_log_first_error(const char *log_path, char *out, size_t len);

/* runc's own error, from its captured output (a runc that failed before
 * CRIU wrote a log: "this runc binary has not been compiled with
 * checkpoint/restore support enabled"): the last non-empty line, a logrus
 * line's msg="..." unwrapped.  1 found, 0 none (out ""). */
int runc_output_error(const char *output, char *out, size_t len);

#endif
