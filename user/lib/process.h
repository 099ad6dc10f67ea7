/* Running a program and waiting for it: the real runc for the shim and the
 * engines, ctr for tardisctl.  No shell anywhere: argv goes to execv. */
#ifndef TARDIS_PROCESS_H
#define TARDIS_PROCESS_H

#include <stddef.h>
#include "error.h"

enum {
	RUN_QUIET = 1,          /* child's stdout to /dev/null (ours is containerd's) */
	RUN_OWN_PGRP = 2,       /* own process group, killed as a whole on timeout */
	RUN_CAPTURE_STDERR = 4, /* with capture: the child's stderr into it too */
	RUN_STDIN_NULL = 8,     /* child's stdin from /dev/null */
	RUN_SEARCH_PATH = 16,   /* argv[0] looked up on PATH (execvp), not a path */
};

/* Runs argv (argv[0] a path unless RUN_SEARCH_PATH), waits at most
 * timeout_s seconds (0: no limit); SIGTERM/SIGINT received meanwhile are
 * forwarded to the child.  Returns the wait status (>= 0), or -1 (timeout:
 * errnum ETIMEDOUT, message "<argv[0]> timed out after <n> s").  With
 * capture, the child's stdout (and stderr with RUN_CAPTURE_STDERR) is
 * returned in *capture (NUL-terminated, at most 1 MiB; the caller frees),
 * also on a timeout.  An exec failure is exit status 127. */
int run_wait(char *const argv[], int flags, int timeout_s, char **capture, tardis_error_t *err);
/* run_wait with env_add ("NAME=value" entries, NULL-terminated; NULL:
 * none) put into the child's environment, in place of the same names. */
int run_wait_env(char *const argv[], char *const env_add[], int flags, int timeout_s,
		 char **capture, tardis_error_t *err);

/* Work done while the child runs: fn(arg) first_ms after the start, then
 * every every_ms (when the wait wakes: fn must not block for long).  With
 * on_watch: on_watch(arg) once, as soon as watch_fd (>= 0: a pidfd, say)
 * polls readable. */
struct run_tick {
	int first_ms, every_ms;
	void (*fn)(void *arg);
	void *arg;
	int watch_fd;
	void (*on_watch)(void *arg);
};
/* run_wait_env with tick (NULL: none). */
int run_wait_tick_env(char *const argv[], char *const env_add[], int flags, int timeout_s,
		      const struct run_tick *tick, char **capture, tardis_error_t *err);

/* run_wait with the command line logged first ("run: ...") and a non-zero
 * exit status logged as a warning. */
int run_wait_logged(char *const argv[], int flags, int timeout_s, char **capture,
		    tardis_error_t *err);
int run_wait_logged_env(char *const argv[], char *const env_add[], int flags, int timeout_s,
			char **capture, tardis_error_t *err);
int run_wait_logged_tick_env(char *const argv[], char *const env_add[], int flags, int timeout_s,
			     const struct run_tick *tick, char **capture, tardis_error_t *err);

/* A growable argv, NULL-terminated in v[n]. */
struct argv_buf {
	char **v;
	int n, cap;
};
int argv_push(struct argv_buf *a, const char *s);
void argv_free(struct argv_buf *a);
/* "a b c" for logging (bounded). */
void argv_format(char *const argv[], char *buf, size_t len);

#define cleanup_argv __attribute__((cleanup(argv_free)))

#endif
