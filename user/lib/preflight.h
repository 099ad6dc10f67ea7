/*
 * What `tardisctl check` reads from the node's other programs, as pure
 * parsers of their text (testable without them): runc's `--version` and
 * `features`, and containerd's config.toml.
 */
#ifndef TARDIS_PREFLIGHT_H
#define TARDIS_PREFLIGHT_H

#include <stddef.h>

/* "runc version 1.1.5+ds1\ncommit: ..." -> "1.1.5+ds1" in out.  0, or -1
 * when text is not runc's `--version` (out ""). */
int preflight_runc_version(const char *text, char *out, size_t len);

/* runc's version "1.2.3+x" -> major 1, minor 2; -1 when it has no
 * MAJOR.MINOR. */
int preflight_version_split(const char *version, int *major, int *minor);

/* `runc features` JSON: 1 when its annotation
 * org.opencontainers.runc.checkpoint.enabled is "true", 0 when it is
 * anything else, -1 when runc does not say (no annotation, not JSON). */
int preflight_runc_checkpoint(const char *features_json);

/* What containerd's config.toml says about the runtimes' binaries: every
 * `BinaryName` (CRI runtimes' options; containerd 1.x and 2.x) and the
 * v1 linux runtime's `runtime` key, as text, without a TOML parser. */
struct containerd_scan {
	int binaries;         /* how many such keys with a value */
	char section[512];    /* the [table] of the first naming tardis-runc */
	char tardis[1024];    /* its value; "" when none names tardis-runc */
	char other[1024];     /* the first value that is not tardis-runc */
	/* [timeouts] "io.containerd.timeout.shim.cleanup", s; -1 when not set
	 * (containerd's default: 5 s).  A dead shim's `runc delete --force`,
	 * tardis's checkpoint, is killed after it. */
	double shim_cleanup_s;
};

/* containerd's default io.containerd.timeout.shim.cleanup, s. */
#define CONTAINERD_SHIM_CLEANUP_DEFAULT 5

/* A Go duration ("5s", "2m", "1m30s", "500ms") in seconds; -1 if it is not one. */
double preflight_go_duration(const char *text);

/* 1 when a runtime binary named in toml is tardis-runc (its file name),
 * 0 when none is; out filled either way. */
int preflight_containerd_scan(const char *toml, struct containerd_scan *out);

#endif
