/* Finding and running the real runc. */
#ifndef TARDIS_RUNC_EXEC_H
#define TARDIS_RUNC_EXEC_H

#include <stddef.h>
#include "error.h"

/* The real runc: `configured` (config / $TARDIS_RUNC) if set, else the
 * first runc on PATH.  Never this program itself. */
int runc_find(const char *configured, char *out, size_t len, tardis_error_t *err);

/* Replaces this process with runc and the original arguments (argv[0]
 * excepted).  Returns only on failure. */
void runc_exec_original(const char *runc, char **argv);

enum {
	RUN_QUIET = 1,       /* child's stdout to /dev/null (ours is containerd's) */
	RUN_OWN_PGRP = 2,    /* own process group, killed as a whole on timeout */
};

/* Runs argv (argv[0] a path), waits at most timeout_s seconds (0: no
 * limit).  Returns the wait status (>= 0), or -1 (timeout: errnum ETIMEDOUT).
 * With capture, the child's stdout is returned in *capture (NUL-terminated,
 * at most 1 MiB). */
int run_wait(char *const argv[], int flags, int timeout_s, char **capture, tardis_error_t *err);

/* A growable argv. */
struct argv_buf {
	char **v;
	int n, cap;
};
int argv_push(struct argv_buf *a, const char *s);
void argv_free(struct argv_buf *a);
/* "a b c" for logging (bounded). */
void argv_format(char *const argv[], char *buf, size_t len);

#endif
