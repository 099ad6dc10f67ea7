/*
 * The state store: a directory shared by every tardis-runc process and the
 * agent.  Directories are root-owned 0700, files 0600, every path is walked
 * with openat(O_NOFOLLOW) from the root so no symlink is ever followed, and
 * every write is a rename of a fresh temp file.
 */
#ifndef TARDIS_STATE_H
#define TARDIS_STATE_H

#include <dirent.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include "error.h"
#include "util.h" /* mkdir_p, time_monotonic_ns */

#define TARDIS_STATE_DIR_DEFAULT "/var/lib/tardis"
#define TARDIS_ID_MAX 255
/* A container's state, in containers/<ns>/<id>/. */
#define STATE_FILE "state.json"
/* The agent's pid (and its single-instance lock), in the store's root. */
#define TARDISD_PID_FILE "tardisd.pid"

struct store_kept;

struct tardis_store {
	int root_fd;
	char *path;
	struct store_kept *kept; /* NULL unless store_keep_dirs */
};

/* A directory of the store, borrowed from store_keep_dirs's set (owned 0)
 * or opened for this caller (owned 1); store_dir_release closes the latter. */
struct store_dir {
	int fd;
	int owned;
};

/* CLOCK_MONOTONIC ns at the moments a write became visible and durable. */
struct store_write_times {
	uint64_t visible_ns;
	uint64_t durable_ns;
};

/* runc's rule ^[\w+-\.]+$ (the class holds the range '+'..'.'), not . or .. */
int store_id_valid(const char *id);
/* 1 when path lies below the store's directory (the state dir's own image
 * paths: local, never a network filesystem's). */
int store_holds_path(const struct tardis_store *s, const char *path);

int store_open(struct tardis_store *s, const char *path, tardis_error_t *err);
void store_close(struct tardis_store *s);

/* For a long-lived user (the agent): pids/, containers/ and forgotten/ (created now)
 * and the namespace directories below containers/ stay open, so a walk
 * to a container starts at its namespace (four system calls fewer per
 * record).  A namespace directory removed meanwhile (its last container
 * went) is opened again when a walk from it finds nothing. */
int store_keep_dirs(struct tardis_store *s, tardis_error_t *err);

/* pids/, created when asked; -ENOENT (*err empty) when it does not exist. */
int store_pids_dir(struct tardis_store *s, int create, struct store_dir *d, tardis_error_t *err);
void store_dir_release(struct store_dir *d);
/* After nothing was found in a kept pids/: 1 when pids/ itself had been
 * removed (the next store_pids_dir walks from the root: ask again). */
int store_pids_dir_gone(struct tardis_store *s);
/* forgotten/, kept: where the agent moves the registrations it drops
 * (registry_forget, registry_sweep); -1 when not kept. */
int store_forgotten_dir(struct tardis_store *s);
/* Moves path (a file or a directory tree of the store's filesystem) into
 * forgotten/, for the agent to remove while it is idle: 0, or -1 (EXDEV:
 * another filesystem) -- then the caller removes it itself. */
int store_forget_path(struct tardis_store *s, const char *path, tardis_error_t *err);
/* Removes up to max entries of forgotten/ (files or trees: dropped
 * registrations, replaced images), listed through *cursor (NULL at
 * first, and again once the listing ended): the number removed; fewer
 * than max when the listing ended.  Only with store_keep_dirs. */
int store_sweep(struct tardis_store *s, DIR **cursor, int max);
#define cleanup_store_dir __attribute__((cleanup(store_dir_release)))

/* Opens (creating when asked) a directory below dirfd, refusing symlinks,
 * non-directories and directories not owned by us; fixes a loose mode. */
int store_subdir(int dirfd, const char *name, int create, tardis_error_t *err);

/* store_subdir without creating: -ENOENT, and *err left empty, when the
 * directory does not exist (a list of nothing, not an error). */
int store_subdir_existing(int dirfd, const char *name, tardis_error_t *err);

/* A directory below the store's root by relative path ("work/ns/id"),
 * walked component by component with store_subdir (creating when asked):
 * for paths outside containers/ (scratch dirs, the default image dir). */
int store_path_dir(struct tardis_store *s, const char *rel, int create, tardis_error_t *err);

/* containers/<ns>/<id>; returns an O_DIRECTORY fd. */
int store_container_dir(struct tardis_store *s, const char *ns, const char *id, int create,
			tardis_error_t *err);
/* Opens the container dir and takes its lock (flock on the directory);
 * the returned O_DIRECTORY fd holds the lock until closed (with every dup
 * of it).  Retries when the directory was removed meanwhile. */
int store_container_lock(struct tardis_store *s, const char *ns, const char *id, int create,
			 tardis_error_t *err);
/* Removes the container directory (its regular files, then itself).  The
 * caller holds the container's lock (store_container_lock), so no update
 * runs meanwhile and waiters find the directory gone when they get it. */
int store_container_remove(struct tardis_store *s, const char *ns, const char *id,
			   tardis_error_t *err);

/* geteuid() asked once: tardis never changes its ids (a system call per
 * directory of every path walked, on the agent's hot path). */
uid_t store_euid(void);

/* state_io.c -- */
/* Writes name in dirfd atomically: temp file, [fsync], rename, [fsync dir]. */
int store_write_atomic(int dirfd, const char *name, const void *data, size_t len, int durable,
		       struct store_write_times *t, tardis_error_t *err);
/* The first half of a group commit: name written and renamed into place
 * (visible to readers, not yet durable), the file's fd in *fd_out for the
 * fdatasync that makes it durable, with an fsync of dirfd. */
int store_write_visible(int dirfd, const char *name, const void *data, size_t len, int *fd_out,
			tardis_error_t *err);
/* store_write_visible through spare, an empty file made beforehand in
 * dirfd (store_make_spare): written and renamed to name, no inode is
 * allocated on the way -- on ext4 without a journal that allocation walks
 * past every recently deleted inode of the group, the cost of a burst
 * (perf: 45 % of the agent's loop).  Without a usable spare, a temp file.
 * flags: STORE_NOREPLACE (one rename answers whether name exists). */
#define STORE_NOREPLACE 1u /* name must not exist: else EEXIST, nothing replaced */
int store_write_visible_spare(int dirfd, const char *name, const char *spare, const void *data,
			      size_t len, unsigned flags, int *fd_out /* or NULL */,
			      tardis_error_t *err);
/* Creates the empty file spare in dirfd unless it exists. */
int store_make_spare(int dirfd, const char *spare, tardis_error_t *err);
/* Reads a regular file (no symlink) of at most max bytes, NUL-terminated.
 * Returns 0, or -1 with errnum ENOENT when it does not exist. */
int store_read(int dirfd, const char *name, size_t max, char **out, size_t *len,
	       tardis_error_t *err);
/* unlinkat that treats ENOENT as success. */
int store_unlink(int dirfd, const char *name, tardis_error_t *err);

/* CLOCK_MONOTONIC in ns (util.h's time_monotonic_ns, unsigned). */
static inline uint64_t monotonic_ns(void)
{
	return (uint64_t)time_monotonic_ns();
}
/* fsync of a file or directory by path. */
int fsync_path(const char *path);

#endif
