/*
 * A rootfs's baseline: every entry as it was when the container was created
 * from its image, recorded by tardis-runc create on a rootfs that is a
 * snapshotter's fresh copy (containerd's native, btrfs, zfs, devmapper: a
 * mount, but not an overlay, so no upperdir says what the container
 * changed).  At the checkpoint the rootfs is compared with it: entries new
 * or changed (type, mode, owner, size, mtime) go into files.tar, recorded
 * ones gone into deleted.list, and the restore applies them as it does an
 * overlay's (filediff_save_since).
 *
 * The file: one line per entry, parents before children,
 *   MODE UID GID SIZE MTIME_S.MTIME_NS PATH
 * (octal mode, decimal rest; PATH relative, `\n` and `\\` escaped).
 */
#ifndef TARDIS_BASELINE_H
#define TARDIS_BASELINE_H

#include <stddef.h>
#include <sys/stat.h>
#include "error.h"

/* The file's name in a container's state directory. */
#define BASELINE_FILE "rootfs.baseline"

struct baseline;

/* Walks rootfs (never following a symlink, never leaving its filesystem)
 * into name in dirfd, written atomically.  *entries: how many (may be NULL). */
int baseline_record(const char *rootfs, int dirfd, const char *name, size_t *entries,
		    tardis_error_t *err);
/* Parses name in dirfd; -1 with *err (ENOENT: none recorded). */
int baseline_load(int dirfd, const char *name, struct baseline **out, tardis_error_t *err);
/* Parses a baseline's text (tests, fuzzing). */
int baseline_parse(const char *text, size_t len, struct baseline **out, tardis_error_t *err);
void baseline_free(struct baseline *b);
/* 1 when path was recorded exactly as st says (it is then marked seen), 0
 * when it is new or changed (a recorded one is marked seen all the same). */
int baseline_same(struct baseline *b, const char *path, const struct stat *st);
/* fn for every recorded path not seen, the topmost only (a gone directory
 * stands for what was below it), in order. */
int baseline_foreach_gone(struct baseline *b,
			  int (*fn)(void *arg, const char *path, tardis_error_t *err), void *arg,
			  tardis_error_t *err);
/* How many entries it holds. */
size_t baseline_size(const struct baseline *b);

#endif
