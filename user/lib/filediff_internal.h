/*
 * What the filediff modules share, and nothing outside them uses (the
 * fdiff_ prefix keeps these names out of the rest of libtardis):
 *   filediff_path.c     relative paths, resolving them below a root without
 *                       following symlinks, listing directories
 *   filediff_io.c       buffered writing, copying and removing trees
 *   filediff_tar.c      the tar format (the only module that knows it)
 *   filediff_xattr.c    reading and setting a file's xattrs
 *   filediff_deleted.c  the deleted.list format
 *   filediff_save.c     scanning the upperdir into an image
 *   filediff_apply.c    applying an image onto a rootfs, journaled
 *   filediff_undo.c     the journal and backups: rollback and commit
 */
#ifndef TARDIS_FILEDIFF_INTERNAL_H
#define TARDIS_FILEDIFF_INTERNAL_H

#include "filediff.h"

#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>

#define COPY_BUF (128 * 1024)
/* A journal line: keyword, numbers, and an escaped path (2 bytes per byte). */
#define LINE_MAX_LEN (2 * FILEDIFF_PATH_MAX + 128)

/* filediff_test_kill_after, then the "filediff-step" crash point. */
void filediff_test_point(void);

/* ---- filediff_path.c ---- */

/* Checks a relative path: not empty, not absolute, no empty, `.` or `..`
 * component, no NUL, no component longer than NAME_MAX. */
int fdiff_path_check(const char *p, size_t len);
/* Escapes `\` and newline; out holds 2 * strlen(in) + 1 bytes. */
size_t fdiff_escape_path(const char *in, char *out);
/* Unescapes len bytes into out (FILEDIFF_PATH_MAX + 1 bytes); -1 if bad. */
int fdiff_unescape_path(const char *in, size_t len, char *out);
/* "a/b/c" -> "a/b", "c" -> "" (the root); out holds FILEDIFF_PATH_MAX + 1. */
const char *fdiff_parent_path(const char *path, char *out);
int fdiff_join_path(char *out, const char *dir, const char *name);
/* Appends "/name" (or "name" at the root) to path, whose first base bytes
 * are the directory (FILEDIFF_PATH_MAX + 1 bytes); path[base] = '\0' takes
 * it off again.  -1 when it would be too long. */
int fdiff_path_push(char *path, size_t base, const char *name);
/* Opens directory name below dirfd without following a symlink or leaving
 * the filesystem dev.  Returns the fd or -errno: ELOOP for a symlink,
 * ENOTDIR for another non-directory, EXDEV for a mount point. */
int fdiff_open_dir_at(int dirfd, const char *name, dev_t dev);
/* Opens the directory holding path's last component, walking from rootfd
 * one component at a time; *name points at the last component.  Returns
 * the fd or -errno (see fdiff_open_dir_at); *bad names the failing component. */
int fdiff_open_parent(int rootfd, dev_t dev, const char *path, const char **name, char *bad);
/* Sets *err for a failed fdiff_open_parent / fdiff_open_dir_at (-e); returns -1. */
int fdiff_resolve_error(tardis_error_t *err, int e, const char *path, const char *bad);

/* The names in directory fd (without . and ..), sorted; NULL-terminated. */
int fdiff_list_dir(int fd, char ***out, size_t *count);
void fdiff_free_names(char **names);
static inline void cleanup_namesp(char ***names)
{
	fdiff_free_names(*names);
}
#define cleanup_names __attribute__((cleanup(cleanup_namesp)))

/* ---- filediff_io.c ---- */

/* A buffered writer onto fd; name is for error messages. */
struct bufw {
	int fd;
	const char *name;
	size_t n;
	char buf[65536];
};
int fdiff_bufw_flush(struct bufw *w, tardis_error_t *err);
int fdiff_bufw_put(struct bufw *w, const void *data, size_t len, tardis_error_t *err);

/* write() all of p; -1 with errno (EIO for a zero-length write). */
int fdiff_io_all(int fd, const char *p, size_t len);
/* Copies sname below sfd to dname below dfd (which must not exist), with
 * owner, mode, times and xattrs; refuses to cross from filesystem sdev.
 * buf holds COPY_BUF bytes; durable fsyncs every copy. */
int fdiff_copy_tree(int sfd, const char *sname, int dfd, const char *dname, dev_t sdev, int durable,
	      char *buf, tardis_error_t *err);
/* rm -rf name below pfd, without following symlinks or crossing mounts. */
int fdiff_remove_tree(int pfd, const char *name, dev_t dev, tardis_error_t *err);

/* ---- filediff_tar.c: files.tar, the only place that knows the format
 * (libarchive's pax). ---- */

struct fdiff_extent {
	uint64_t offset, length;
};

/* One entry to write: owner, mode, mtime (and rdev) from st. */
struct tar_item {
	const char *path;
	enum filediff_type type;
	const struct stat *st;
	const char *linkpath; /* FILEDIFF_SYMLINK, FILEDIFF_HARDLINK */
	uint64_t size;        /* FILEDIFF_REG: the length, holes included */
	const struct filediff_xattr *xattrs;
	size_t nxattrs;
	/* FILEDIFF_REG with holes: its data extents, in order (none: no
	 * holes; one of length 0 at size: all hole). */
	const struct fdiff_extent *extents;
	size_t nextents;
};

struct archive;
struct archive_entry;
struct tar_writer {
	struct archive *a;
	struct archive_entry *e;
	const char *name;
};
/* Writes into fd (not owned); name is for error messages.  Free with
 * tar_writer_free whether it opened or not. */
int tar_writer_open(struct tar_writer *w, int fd, const char *name, tardis_error_t *err);
void tar_writer_free(struct tar_writer *w);
/* The header of one entry; for a regular file, size bytes of data follow
 * (tar_write_data for the extents, tar_write_zeros for the holes between;
 * a hole at the end needs nothing). */
int tar_write_header(struct tar_writer *w, const struct tar_item *it, tardis_error_t *err);
int tar_write_data(struct tar_writer *w, const void *data, size_t len, tardis_error_t *err);
int tar_write_zeros(struct tar_writer *w, uint64_t len, tardis_error_t *err);
/* The end-of-archive marker; flushes. */
int tar_write_finish(struct tar_writer *w, tardis_error_t *err);

/* ---- filediff_xattr.c ---- */

/* The xattrs of name below dirfd (not following a symlink), but overlay's
 * own, into *out (v[0..n), owned; free with fdiff_xattrs_free); none where
 * the filesystem has no xattrs.  -1 with errno.  names lists them all,
 * overlay's included (fdiff_xattrs_has). */
struct fdiff_xattrs {
	struct filediff_xattr *v;
	size_t n, cap;
	char *names;
	size_t names_len;
};
int fdiff_xattrs_read(int dirfd, const char *name, struct fdiff_xattrs *out);
/* The same of an open file. */
int fdiff_xattrs_read_fd(int fd, struct fdiff_xattrs *out);
/* 1 when the file had an xattr of that name (overlay's too) when read. */
int fdiff_xattrs_has(const struct fdiff_xattrs *x, const char *name);
void fdiff_xattrs_free(struct fdiff_xattrs *x);
/* Sets them on name below dirfd (not following a symlink), after removing
 * the ACLs it has and v has not (inherited from a default ACL); best_effort
 * skips those the filesystem or the file type does not take. */
int fdiff_xattrs_write(int dirfd, const char *name, const struct filediff_xattr *v, size_t n,
		       int best_effort, const char **failed);
/* The same on an open file; the inherited ACLs are looked for only when
 * inherited (its directory has a default ACL). */
int fdiff_xattrs_write_fd(int fd, const struct filediff_xattr *v, size_t n, int inherited,
			  const char **failed);
/* "/proc/self/fd/<dirfd>/<name>" into out (PATH_MAX bytes). */
void fdiff_at_path(char *out, int dirfd, const char *name);

/* ---- filediff_deleted.c ---- */

/* Appends one deleted.list line; esc holds 2 * FILEDIFF_PATH_MAX + 1 bytes. */
int fdiff_deleted_write(struct bufw *w, enum filediff_deletion kind, const char *path, char *esc,
		  tardis_error_t *err);

/* ---- filediff_apply.c / filediff_undo.c ---- */

struct dir_time {
	char *path;
	struct timespec mtime;
};

/* An entry of the image, from the validating pass: what journaling ahead
 * needs to know of it. */
struct planned {
	char *path;
	enum filediff_type type;
	int created; /* its "created" record is journaled ahead */
};

/* The last parent directory one pass of the apply resolved: the entries
 * of a directory come one after another in the tar, and each would walk
 * its path again (an openat and an fstat per component).  Dropped once
 * the apply removes anything (a path may then resolve elsewhere). */
struct parent_cache {
	int fd;          /* -1: empty */
	int acl_default; /* -1: not asked; 0: it has no default ACL, so what is
			  * created in it inherits none; 1: it has one */
	gid_t new_gid;   /* the group what is created in it gets (setgid) */
	char path[FILEDIFF_PATH_MAX + 1];
};

struct apply_ctx {
	int rootfd;
	dev_t dev;
	int bfd;
	int jfd;
	unsigned next_backup;
	void *noted; /* directories whose original metadata is journaled, or ours */
	void *inodes; /* struct backed_inode: originals of more names backed up */
	struct dir_time *dirs;
	size_t ndirs, cap;
	char *buf;
	char line[LINE_MAX_LEN + 64];
	char bad[FILEDIFF_PATH_MAX + 1];
	struct planned *plan; /* the image's entries, in order */
	size_t nplan, plan_cap;
	size_t next;     /* the entry being applied */
	size_t intended; /* entries [next, intended) are journaled ahead */
	struct parent_cache ahead_parent, apply_parent; /* of intend, apply_entry */
	uid_t euid;
	gid_t egid;
	mode_t umask; /* this process's, what a new file's mode lacks */
};

struct apply_ctx *fdiff_apply_ctx_new(const char *rootfs, int backup_dirfd, tardis_error_t *err);
void fdiff_apply_ctx_free(struct apply_ctx *c);

/* Appends "head path\n" to the journal and makes it durable. */
int fdiff_journal_add(struct apply_ctx *c, const char *head, const char *path, tardis_error_t *err);
/* The same, not durable yet: a later fdatasync of c->jfd makes it so, and
 * must come before the change it records. */
int fdiff_journal_put(struct apply_ctx *c, const char *head, const char *path, tardis_error_t *err);
/* Removes the backups (b<n>, b<n>.tmp) from the backup directory. */
int fdiff_clear_backups(int bfd, tardis_error_t *err);

#endif
