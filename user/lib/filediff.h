/*
 * The container's changed files: what a container wrote to its overlay
 * upperdir, saved into a checkpoint image and applied again, undoably, onto a
 * fresh rootfs before a restore.
 *
 * An image holds two files:
 *   files.tar     a pax archive (written and read with libarchive) of the
 *                 added or modified entries, parents first: directories,
 *                 regular files (a sparse file as its data extents and a
 *                 GNU.sparse 1.0 map, so holes take no room), symlinks,
 *                 hard links (a later name of an inode saved earlier in the
 *                 archive), fifos and character/block devices, each with
 *                 owner, mode (setuid/setgid/sticky too), mtime and every
 *                 xattr but overlay's own (trusted.overlay.*: security.
 *                 capability, POSIX ACLs as system.posix_acl_*, user.*).
 *                 Sockets are skipped.  Images of format 1 (plain ustar with
 *                 pax headers, no links or xattrs) read the same way.
 *   deleted.list  one line per deletion, `whiteout <path>` (an overlay
 *                 whiteout: the path was deleted) or `opaque <path>` (an
 *                 opaque directory: what the lower layers held below it is
 *                 hidden; the directory itself is in files.tar); paths are
 *                 relative, `\n` and `\\` are escaped.
 *
 * Applying first performs the deletions, then extracts the tar.  Every path
 * is resolved one component at a time with openat(O_NOFOLLOW|O_DIRECTORY)
 * from the rootfs, so no symlink inside the rootfs is ever followed and no
 * path (absolute, `..`, embedded NUL) can leave it; a hard link's target is
 * resolved the same way.  Each change is preceded
 * by a record appended to, and fdatasync'ed in, the journal in the backup
 * directory; an original that is replaced or removed is first copied there
 * (holes, xattrs and the type of a fifo or device kept; names of one inode
 * are linked into one again when they are restored).
 * filediff_rollback() undoes the journal in reverse order, also after the
 * applying process was killed, and may itself be interrupted and rerun.
 */
#ifndef TARDIS_FILEDIFF_H
#define TARDIS_FILEDIFF_H

#include <stddef.h>
#include <stdint.h>
#include "error.h"

#define FILEDIFF_TAR "files.tar"
#define FILEDIFF_DELETED "deleted.list"
#define FILEDIFF_JOURNAL "journal"
/* Longest relative path saved or applied (bytes, without the NUL). */
#define FILEDIFF_PATH_MAX 4095

struct filediff_stats {
	uint64_t entries;   /* tar entries: all kinds, hard links included */
	uint64_t bytes;     /* bytes of regular file data (holes not counted) */
	uint64_t whiteouts; /* `whiteout` lines */
	uint64_t opaques;   /* `opaque` lines */
	uint64_t hardlinks; /* entries that are a later name of a saved inode */
	uint64_t skipped;   /* sockets, other filesystems */
};

/* Walks an overlayfs upperdir (never following a symlink, never leaving its
 * filesystem) and writes files.tar and deleted.list into out_dirfd (created
 * O_EXCL 0600, removed again on failure; not synced: the caller's seal of
 * the whole directory makes them durable).  Fails on overlay
 * features whose data is not in the upperdir (metacopy, redirect_dir). */
int filediff_save(const char *upperdir, int out_dirfd, struct filediff_stats *st,
		  tardis_error_t *err);
/* The same for a rootfs that is not an overlay, against its baseline
 * (baseline.h): what is new or changed into files.tar, what the baseline
 * had and the rootfs has not into deleted.list (as whiteouts). */
struct baseline;
int filediff_save_since(const char *rootfs, struct baseline *base, int out_dirfd,
			struct filediff_stats *st, tardis_error_t *err);

/* Applies image_dirfd's files onto the mounted rootfs (the merged view,
 * never an upperdir), journaling into backup_dirfd (which must not hold a
 * non-empty journal).  Both files are fully validated before the first
 * change.  On failure the rootfs may be partly changed: call
 * filediff_rollback().  On success call filediff_rollback() to undo, or
 * filediff_commit() to keep the changes -- once the rootfs's filesystem
 * is synced (the applied files are not waited for here: restore.c syncs
 * while runc restores). */
int filediff_apply(int image_dirfd, const char *rootfs, int backup_dirfd, tardis_error_t *err);

/* Undoes every journaled step of an apply, newest first: removes what was
 * created (directories only when empty), restores the originals (content,
 * mode, owner, times, xattrs) and directory metadata, then truncates the
 * journal and drops the backups.  Idempotent; without a journal it does
 * nothing.  A failed step does not stop the others, but keeps the journal. */
int filediff_rollback(const char *rootfs, int backup_dirfd, tardis_error_t *err);

/* Forgets the journal and backups of a successful apply. */
int filediff_commit(int backup_dirfd, tardis_error_t *err);

/* Loads libarchive now (it is loaded at its first use: ~2 ms here, with
 * libxml2 and ICU), e.g. while waiting for CRIU; best effort: a failure
 * is reported by the save or apply that needs it.  _background: in a
 * thread of its own, which a save or apply waits for; only where no
 * process is forked without an exec until then (a fork would copy the
 * loader's lock held). */
void filediff_preload(void);
void filediff_preload_background(void);

/* The parsers, separately callable (and fuzzable).  A buffer is accepted
 * only as a whole: entries are reported as they are parsed, but any
 * malformation anywhere makes the call fail; call once with fn NULL to
 * validate before acting on the entries. */
enum filediff_type {
	FILEDIFF_DIR = 'd',
	FILEDIFF_REG = 'f',
	FILEDIFF_SYMLINK = 'l',
	FILEDIFF_HARDLINK = 'h', /* linkpath: an earlier entry's path */
	FILEDIFF_FIFO = 'p',
	FILEDIFF_CHR = 'c',
	FILEDIFF_BLK = 'b',
};

struct filediff_xattr {
	const char *name; /* e.g. "user.x", "security.capability"; never trusted.overlay.* */
	const void *value;
	size_t size;
};

struct filediff_entry {
	const char *path; /* relative; no empty, `.` or `..` component */
	enum filediff_type type;
	unsigned int mode; /* permission bits (07777) */
	uint32_t uid, gid;
	int64_t mtime_sec;
	uint32_t mtime_nsec;
	uint64_t size;        /* FILEDIFF_REG: the file's length (holes included) */
	const char *linkpath; /* FILEDIFF_SYMLINK: the target, never empty;
			       * FILEDIFF_HARDLINK: the earlier entry's path */
	uint32_t rdev_major, rdev_minor; /* FILEDIFF_CHR, FILEDIFF_BLK */
	const struct filediff_xattr *xattrs;
	size_t nxattrs;
	void *reader; /* for filediff_entry_data */
};

/* FILEDIFF_REG, from within the callback only: the next block of the
 * file's data, *len bytes at *offset (what lies between blocks and after
 * the last one up to size is a hole).  Returns 1 with a block, 0 at the
 * end, -1 on a malformed archive (a block beyond size, out of order). */
int filediff_entry_data(const struct filediff_entry *e, const void **buf, size_t *len,
			uint64_t *offset, tardis_error_t *err);

typedef int (*filediff_entry_fn)(const struct filediff_entry *e, void *arg, tardis_error_t *err);
int filediff_tar_foreach(const void *buf, size_t len, filediff_entry_fn fn, void *arg,
			 tardis_error_t *err);

enum filediff_deletion {
	FILEDIFF_WHITEOUT = 1,
	FILEDIFF_OPAQUE = 2,
};

typedef int (*filediff_deletion_fn)(enum filediff_deletion kind, const char *path, void *arg,
				    tardis_error_t *err);
int filediff_deleted_foreach(const void *buf, size_t len, filediff_deletion_fn fn, void *arg,
			     tardis_error_t *err);

/* Tests only: when > 0, apply and rollback raise SIGKILL at their
 * filediff_test_kill_after-th step (journal record, copy, removal, ...). */
extern int filediff_test_kill_after;

#endif
