/*
 * Which CRIU a node runs, asked once per binary: `criu --version` costs a
 * fork and exec of CRIU (milliseconds) at every checkpoint and restore, so
 * the answer is kept in the state dir's cache/, keyed by the binary's
 * device, inode, size and mtime (a new CRIU installed in place is asked
 * again).  Images record the version that made them (manifest
 * `criu_version`); a restore refuses an image made by a newer CRIU than
 * its own, with the reason, and the container starts fresh.
 */
#ifndef TARDIS_CRIU_VERSION_H
#define TARDIS_CRIU_VERSION_H

#include <stddef.h>
#include "state.h"

/* The version ("4.2.1") of the CRIU `criu` names (a path, or a name looked
 * up on PATH); cached in s when s is not NULL.  0, or -1 (out ""). */
int criu_version_get(struct tardis_store *s, const char *criu, char *out, size_t len);
/* Dotted versions compared number by number ("4.10" > "4.2"): <0, 0, >0;
 * *ok is 0 when either is not a version (then 0 is returned). */
int criu_version_cmp(const char *a, const char *b, int *ok);

#endif
