#include "util.h"
#include "cleanup.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>

static int64_t clock_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t time_realtime_ns(void)
{
	return clock_ns(CLOCK_REALTIME);
}

int64_t time_monotonic_ns(void)
{
	return clock_ns(CLOCK_MONOTONIC);
}

int grow_array(void *arr, size_t *cap, size_t need, size_t elem)
{
	void **p = arr;
	size_t c = *cap ? *cap : 16;
	void *n;

	if (need <= *cap)
		return 0;
	while (c < need) {
		if (c > SIZE_MAX / 2 / elem) {
			errno = ENOMEM;
			return -1;
		}
		c *= 2;
	}
	n = realloc(*p, c * elem);
	if (!n) {
		errno = ENOMEM;
		return -1;
	}
	*p = n;
	*cap = c;
	return 0;
}

int growbuf_append(struct growbuf *b, const void *p, size_t n)
{
	if (n > SIZE_MAX - b->len - 1) {
		errno = ENOMEM;
		return -1;
	}
	if (grow_array(&b->data, &b->cap, b->len + n + 1, 1) < 0)
		return -1;
	memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
	return 0;
}

void growbuf_free(struct growbuf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

int buf_fill(void *buf, size_t *used, size_t cap, const void **p, size_t *len)
{
	size_t n = cap - *used;

	if (n > *len)
		n = *len;
	memcpy((char *)buf + *used, *p, n);
	*used += n;
	*p = (const char *)*p + n;
	*len -= n;
	return *used == cap;
}

int mkdir_p(const char *path, mode_t mode)
{
	char buf[4096];
	size_t n = strlen(path);

	if (n >= sizeof(buf)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(buf, path, n + 1);
	for (char *p = buf + 1;; p++) {
		if (*p == '/' || *p == '\0') {
			char c = *p;

			*p = '\0';
			if (mkdir(buf, mode) < 0 && errno != EEXIST)
				return -1;
			*p = c;
			if (!c)
				break;
		}
	}
	return 0;
}

/* A DIR of dfd, which it takes; closed on failure (errno kept). */
static DIR *fdopendir_own(int dfd)
{
	DIR *d;

	if (dfd < 0)
		return NULL;
	d = fdopendir(dfd);
	if (!d) {
		int e = errno;

		close(dfd);
		errno = e;
	}
	return d;
}

DIR *fdopendir_dup(int fd)
{
	return fdopendir_own(fcntl(fd, F_DUPFD_CLOEXEC, 0));
}

DIR *fdopendir_reopen(int fd)
{
	return fdopendir_own(openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
}

int fstat_fresh(int fd, struct stat *st)
{
#ifdef STATX_BASIC_STATS
	struct statx sx;

	/* One call where statx answers with the basic fields (a kernel
	 * without statx, or a filesystem that leaves some out: fstat). */
	if (statx(fd, "", AT_EMPTY_PATH | AT_STATX_FORCE_SYNC, STATX_BASIC_STATS, &sx) < 0 ||
	    (sx.stx_mask & STATX_BASIC_STATS) != STATX_BASIC_STATS)
		return fstat(fd, st);
	memset(st, 0, sizeof(*st));
	st->st_dev = makedev(sx.stx_dev_major, sx.stx_dev_minor);
	st->st_ino = sx.stx_ino;
	st->st_mode = sx.stx_mode;
	st->st_nlink = sx.stx_nlink;
	st->st_uid = sx.stx_uid;
	st->st_gid = sx.stx_gid;
	st->st_rdev = makedev(sx.stx_rdev_major, sx.stx_rdev_minor);
	st->st_size = (off_t)sx.stx_size;
	st->st_blksize = (blksize_t)sx.stx_blksize;
	st->st_blocks = (blkcnt_t)sx.stx_blocks;
	st->st_atim = (struct timespec){ sx.stx_atime.tv_sec, sx.stx_atime.tv_nsec };
	st->st_mtim = (struct timespec){ sx.stx_mtime.tv_sec, sx.stx_mtime.tv_nsec };
	st->st_ctim = (struct timespec){ sx.stx_ctime.tv_sec, sx.stx_ctime.tv_nsec };
	return 0;
#else
	/* A C library without statx (musl before 1.2.5: the front). */
	return fstat(fd, st);
#endif
}

int write_full(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len) {
		ssize_t w = write(fd, p, len);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			if (w == 0)
				errno = EIO;
			return -1;
		}
		p += w;
		len -= (size_t)w;
	}
	return 0;
}

char *str_trim(char *s)
{
	char *e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

int path_is_clean_absolute(const char *p)
{
	const char *c;

	if (!p || p[0] != '/' || strlen(p) >= PATH_MAX)
		return 0;
	for (c = p; *c; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			return 0;
	for (c = p; (c = strstr(c, "..")); c++)
		if (c[-1] == '/' && (c[2] == '/' || c[2] == '\0'))
			return 0;
	return 1;
}

static int rm_tree(int parent_fd, const char *name, int depth)
{
	cleanup_dir DIR *d = NULL;
	struct dirent *de;
	int fd;

	if (unlinkat(parent_fd, name, 0) == 0 || errno == ENOENT)
		return 0;
	if (errno != EISDIR && errno != EPERM)
		return -1;
	if (depth > 64)
		return -1;
	fd = openat(parent_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -1;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -1;
	}
	while ((de = readdir(d))) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (rm_tree(dirfd(d), de->d_name, depth + 1) < 0)
			return -1;
	}
	return unlinkat(parent_fd, name, AT_REMOVEDIR) < 0 && errno != ENOENT ? -1 : 0;
}

int remove_tree_at(int parent_fd, const char *name)
{
	return rm_tree(parent_fd, name, 0);
}

struct bg_syncfs {
	pthread_t thread;
	int fd, ret, err, threaded;
};

static void *bg_syncfs_run(void *arg)
{
	struct bg_syncfs *b = arg;

	b->ret = syncfs(b->fd);
	b->err = errno;
	return NULL;
}

struct bg_syncfs *bg_syncfs_begin(int fd)
{
	struct bg_syncfs *b = malloc(sizeof(*b));
	pthread_attr_t attr;

	if (!b) {
		close(fd);
		return NULL;
	}
	b->fd = fd;
	b->threaded = pthread_attr_init(&attr) == 0;
	if (b->threaded) {
		pthread_attr_setstacksize(&attr, 64 << 10);
		b->threaded = pthread_create(&b->thread, &attr, bg_syncfs_run, b) == 0;
		pthread_attr_destroy(&attr);
	}
	if (!b->threaded)
		bg_syncfs_run(b);
	return b;
}

int bg_syncfs_end(struct bg_syncfs *b)
{
	int ret, err;

	if (b->threaded)
		pthread_join(b->thread, NULL);
	ret = b->ret;
	err = b->err;
	close(b->fd);
	free(b);
	errno = err;
	return ret;
}
