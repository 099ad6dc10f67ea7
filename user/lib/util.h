/* Small things every module needs: clocks, growable arrays, owned cJSON. */
#ifndef TARDIS_UTIL_H
#define TARDIS_UTIL_H

#include <dirent.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <cjson/cJSON.h>

struct stat;

/* CLOCK_REALTIME / CLOCK_MONOTONIC in nanoseconds. */
int64_t time_realtime_ns(void);
int64_t time_monotonic_ns(void);

/* mkdir -p: every missing component created with mode. */
int mkdir_p(const char *path, mode_t mode);

/* A directory stream over a duplicate of fd (fd stays open and its own);
 * NULL with errno. */
DIR *fdopendir_dup(int fd);
/* The same directory opened anew ("." of fd): a fresh listing, which
 * sshfs gives only to a new open and NFS revalidates (close-to-open). */
DIR *fdopendir_reopen(int fd);
/* Removes name below parent_fd, a file or a whole tree (no symlink is
 * followed): 0 (also when it is not there), or -1 with errno. */
int remove_tree_at(int parent_fd, const char *name);
/* fstat of what the file's server holds now, not of what a network fs
 * cached: FUSE keeps a file's size for a second and sshfs its own copy
 * for 20 s, so a name renamed over on another node reads at the old size
 * (cut short).  AT_STATX_FORCE_SYNC makes FUSE and NFS ask; local
 * filesystems ignore it.  Call it on a fresh open, before reading. */
int fstat_fresh(int fd, struct stat *st);
/* All of buf written (EINTR retried); 0, or -1 with errno (EIO for a
 * write of 0). */
int write_full(int fd, const void *buf, size_t len);

/* Makes room for `need` elements of `elem` bytes in *arr (capacity *cap,
 * doubled as needed, from 16).  Returns 0, or -1 with errno ENOMEM (*arr
 * is then unchanged and still owned by the caller). */
int grow_array(void *arr, size_t *cap, size_t need, size_t elem);

/* A growable byte buffer, always NUL-terminated when len > 0. */
struct growbuf {
	char *data;
	size_t len, cap;
};
int growbuf_append(struct growbuf *b, const void *p, size_t n);
void growbuf_free(struct growbuf *b);

/* Copies as much of [*p, *p + *len) as fits into buf (cap bytes, *used of
 * them taken), advancing *p, *len and *used; returns 1 when buf is full. */
int buf_fill(void *buf, size_t *used, size_t cap, const void **p, size_t *len);

/* s without its leading and trailing white space; ends it in place. */
char *str_trim(char *s);

static inline void cleanup_jsonp(cJSON **j)
{
	cJSON_Delete(*j);
}
static inline void cleanup_growbufp(struct growbuf *b)
{
	growbuf_free(b);
}
#define cleanup_json __attribute__((cleanup(cleanup_jsonp)))
#define cleanup_growbuf __attribute__((cleanup(cleanup_growbufp)))

/* syncfs(fd) in a thread of its own: the wait for the disk while the
 * caller goes on (fd is its, closed at the end); where no thread can
 * start, synced at once.  NULL (fd closed) only without memory.
 * bg_syncfs_end waits for it and answers as syncfs did (0, or -1 with
 * errno). */
struct bg_syncfs;
struct bg_syncfs *bg_syncfs_begin(int fd);
int bg_syncfs_end(struct bg_syncfs *b);

/* An absolute path without `..` components or control characters. */
int path_is_clean_absolute(const char *p);

#endif
