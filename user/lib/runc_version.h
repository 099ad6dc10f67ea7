/*
 * What the real runc is: its version and whether it can checkpoint, asked
 * of it once (`runc --version`, `runc features`) and cached in the state
 * directory per runc binary (path, device, inode, size, mtime), so a call
 * that needs the answer costs a stat and a small read, not an exec.
 *
 * runc's command line moved: runc >= 1.2 ignores the global --criu (with
 * a warning) and finds CRIU on PATH; runc >= 1.4 rejects --criu.  Only the
 * paths that run runc for a checkpoint or restore ask (runc_call.c), and a
 * pass-through that carries the caller's own --criu (main.c); a plain
 * pass-through never does.
 */
#ifndef TARDIS_RUNC_VERSION_H
#define TARDIS_RUNC_VERSION_H

#include <stddef.h>
#include "error.h"

/* In the state directory's root. */
#define RUNC_INFO_FILE "runc-info.json"
/* Entries kept: one per runc binary a node has used, the oldest dropped. */
#define RUNC_INFO_MAX 8

struct runc_info {
	char version[64]; /* runc --version's, e.g. "1.1.5+ds1" */
	int major, minor; /* -1 when the version has no MAJOR.MINOR */
	int checkpoint;   /* 1 yes, 0 built without it, -1 runc does not say */
};

/* The entry cached in the state directory (state_fd) for runc as the
 * binary is now: 0, or -1 when there is none or the binary changed. */
int runc_info_cached(int state_fd, const char *runc, struct runc_info *out);

/* The cached entry, else runc asked and the answer cached (a failed cache
 * write only logged).  The log says once, when asking, that this runc
 * cannot checkpoint.  -1 with err when runc does not say its version. */
int runc_info_get(int state_fd, const char *runc, struct runc_info *out, tardis_error_t *err);

/* `runc SUB`'s stdout (malloc'd; 10 s at most), or NULL. */
char *runc_output(const char *runc, const char *sub);

/* 1 when info's version is at least major.minor. */
int runc_info_at_least(const struct runc_info *info, int major, int minor);

/* The text of `runc --version` and `runc features` into info (testable
 * without a runc): -1 when version_text is not runc's. */
int runc_info_parse(const char *version_text, const char *features_json, struct runc_info *info);

#endif
