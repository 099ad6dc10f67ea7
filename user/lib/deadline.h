/*
 * Work on a path that may hang (a network filesystem whose server is gone:
 * every access blocks, uninterruptibly) done where the hang cannot hold the
 * caller: in a forked helper process the caller waits for only so long.
 *
 * deadline_run() forks; the child runs fn and hands its return value and up
 * to out_cap bytes of output back through shared memory.  When the child
 * has not finished within timeout_ms the caller stops waiting: the child is
 * sent SIGKILL (which ends it when the filesystem answers again, or at once
 * when it was not blocked) and left behind; whoever reaps orphans reaps it
 * (a containerd shim is a subreaper).  What the child would have changed
 * after the deadline must therefore be safe to happen late or never:
 * temporary names, renames that publish, never a half state.
 *
 * The deadline is for silence, not for the whole work: a helper that
 * calls deadline_alive() after each step that answered (a chunk read, a
 * poll of a lease) starts it anew, so long work on a filesystem that
 * answers is never cut short.
 *
 * The child inherits everything; it must only do its work and return.  It
 * must not log through buffered streams the parent also writes (use out).
 */
#ifndef TARDIS_DEADLINE_H
#define TARDIS_DEADLINE_H

#include <stddef.h>
#include <sys/types.h>
#include "error.h"

/* Returns a value >= 0 (or a negative errno) for the parent; writes at most
 * cap bytes to out and sets *out_len. */
typedef int (*deadline_fn)(void *arg, void *out, size_t cap, size_t *out_len);

/* Runs fn(arg) in a child until it ends or is silent for timeout_ms (<= 0:
 * no deadline).
 * Returns fn's value (copying its output into out/cap, length in *out_len
 * when out_len is not NULL).  On a timeout returns -ETIMEDOUT and sets err
 * "<what> did not answer within N ms (helper <pid> left behind)"; when the
 * child dies without an answer (a crash, a signal) returns -EIO; when it
 * cannot fork, -errno.  *stuck_pid (when not NULL) is the child left
 * behind, else 0. */
int deadline_run(const char *what, int timeout_ms, deadline_fn fn, void *arg, void *out, size_t cap,
		 size_t *out_len, pid_t *stuck_pid, tardis_error_t *err);

/* fd (a lock: a flock is held while any copy of its fd is open) is closed
 * in every helper forked from now on: a helper left behind must not keep
 * its caller's locks.  Up to 8. */
void deadline_close_in_helpers(int fd);

/* In a helper: a step answered (the deadline starts anew).  Elsewhere
 * nothing. */
void deadline_alive(void);

/* 1 in a helper (test crash points take its caller down with it). */
int deadline_in_helper(void);

/* The deadline for network filesystem access in milliseconds: the
 * TARDIS_NETWORKFS_TIMEOUT environment variable (seconds, fractions
 * allowed), else config_seconds (tardis.conf's networkfs_timeout), else
 * (config_seconds 0) the default config_load set, else 10 s. */
int deadline_networkfs_ms(int config_seconds);
/* The default of deadline_networkfs_ms(0) (config_load: networkfs_timeout). */
void deadline_set_networkfs_default(int seconds);

#endif
